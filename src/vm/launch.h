/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/launch: one VM started from an explicit launch context. Owns the steps
 * from what a run asks for to a running QEMU: the machine's facts and the
 * accelerator, the kernel and its initramfs with the run's spec appended,
 * the transport (vhost-vsock or virtio-serial), the table of nestfs shares
 * (vm/share.h), the control and console streams, and QEMU itself.
 *
 * Theory of operation: the caller fills the inputs of struct nb_launch and
 * calls nb_launch_start(); on success QEMU runs, QEMU's ends of every stream
 * are closed here, and the caller supervises @qemu_pid through @ctl and
 * @console until QEMU is gone (box/loop). nb_launch_close() then stops the
 * vsock thread before the shares' servers (it hands connections to them)
 * and releases everything. A new kind of VM (another machine type, more
 * devices, another kernel choice) is a new input here and a new field of
 * struct nb_vm_config, which vm/qemu turns into argv. */
#ifndef NESTBOX_VM_LAUNCH_H
#define NESTBOX_VM_LAUNCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "boot/boot.h"
#include "control/proto.h"
#include "lib/err.h"
#include "virt/virt.h"
#include "vm/qemu.h"
#include "vm/share.h"
#include "vm/spec.h"
#include "vm/vsock.h"

/**
 * struct nb_launch - one VM's start (the inputs are not owned)
 * @rootfs:	the root directory the guest mounts as its lower layer (resolved)
 * @image:	the image's name, for messages and --kernel image
 * @opts:	kernel, volumes, ports, memory, cpus, accelerator, boot timeout
 * @hostname:	the guest's hostname
 * @spawn:	the main command as the guest's SPAWN carries it
 * @t0_ns:	CLOCK_MONOTONIC when the run started (for --debug timings)
 * @q35:	-M q35 with virtio-pci devices instead of microvm: SMBIOS tables
 *		(run --system's credentials)
 * @smbios:	a -smbios argument (NULL: none)
 * @append:	more words for the kernel command line (NULL: none)
 *
 * @boot_timeout_ms: how long nestbox-init may take to report: @opts' or
 *		virt's default for the accelerator and depth
 * @facts, @dec: the machine and virt's decision for it
 * @k:		the kernel found for @kernel
 * @initramfs:	the cached initramfs for @k
 * @vsock:	the vhost-vsock transport (@vsock.cid 0: virtio-serial)
 * @shares, @nshares: share 0 is the root, then the volumes in order
 * @vm:		QEMU's config, made from all of the above
 * @qemu_start_ns: CLOCK_MONOTONIC when QEMU was started
 * @qemu_pid:	QEMU (0 until started)
 * @qemu_pidfd:	a pidfd for it (-1 until started)
 * @ctl:	the host's end of the control stream (-1 until started)
 * @console:	the host's end of the serial console (-1 until started)
 * @fs_stop:	an eventfd that ends @fs_watch (-1 until started)
 * @fs_watch:	the thread that waits on every share's server: one that dies
 *		(other than by exiting 0) is reported and takes QEMU down, so
 *		the run fails (125) instead of hanging on a dead mount
 * @fs_watching: whether @fs_watch runs
 */
struct nb_launch {
	const char *rootfs;
	const char *image;
	struct nb_vm_opts opts;
	const char *hostname;
	const struct nb_ctl_spawn *spawn;
	uint64_t t0_ns;
	bool q35;
	const char *smbios;
	const char *append;

	unsigned boot_timeout_ms;

	struct virt_facts facts;
	struct virt_decision dec;
	struct nb_kernel k;
	char initramfs[PATH_MAX];
	struct nb_vsock vsock;
	struct nb_share shares[NB_MAX_SHARES];
	unsigned nshares;
	struct nb_vm_config vm;
	uint64_t qemu_start_ns;
	pthread_t fs_watch;
	pid_t qemu_pid;
	int qemu_pidfd;
	int ctl;
	int console;
	int fs_stop;
	bool fs_watching;
};

/* nb_launch_init() - a context with no input and every fd closed */
void nb_launch_init(struct nb_launch *l);

/**
 * nb_launch_start() - from the inputs of @l to a running QEMU
 *
 * Return: 0 (QEMU runs: supervise it, then nb_launch_close()), or negative
 * errno with @e naming what failed (nothing runs; nb_launch_close() still
 * releases what was set up)
 */
int nb_launch_start(struct nb_launch *l, struct nb_err *e);

/* nb_launch_close() - stop the vsock thread, the shares, close every fd;
 * QEMU must be reaped by then (the supervision loop does it) */
void nb_launch_close(struct nb_launch *l);

#endif
