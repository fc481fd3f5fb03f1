/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/qemu: the QEMU command line for a nestbox VM and the supervised start
 * of QEMU. Owns the microvm device model (virtio-mmio, non-legacy), the
 * virtio-serial ports (control, nestfs shares), the serial console, user
 * networking with host forwards, and the kernel command line. */
#ifndef NESTBOX_VM_QEMU_H
#define NESTBOX_VM_QEMU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"
#include "vm/share.h"
#include "vm/spec.h"


/*
 * The guest kernel's command line, before nestbox.depth and tsc_early_khz.
 * pci=off: microvm has no PCI bus, so do not probe for one.
 * cryptomgr.notests: the crypto self-tests of every algorithm built in took
 *   ~220 ms of a ~1.1 s TCG kernel boot (initcall_debug: crypto_algapi_init);
 *   they check the implementations against test vectors, which a VM that
 *   lives for one command does not need on every start.
 * 8250.nr_uarts=1: microvm has one ISA serial port; probing four costs ~10 ms.
 */
#define NB_KERNEL_ARGS "console=ttyS0 quiet pci=off panic=-1 cryptomgr.notests 8250.nr_uarts=1"
/* The same for -M q35, which has PCI (virtio-pci devices). */
#define NB_KERNEL_ARGS_Q35 "console=ttyS0 quiet panic=-1 cryptomgr.notests 8250.nr_uarts=1"

/* Fixed fd numbers QEMU inherits (the argv names them). */
enum {
	NB_QFD_INITRD = 3,
	NB_QFD_CTL = 4,
	NB_QFD_CONSOLE = 5,
	NB_QFD_SHARE0 = 6,
	NB_QFD_VHOST = NB_QFD_SHARE0 + NB_MAX_SHARES,
};

/**
 * struct nb_vm_config - everything the QEMU command line is made of
 * @qemu:	the QEMU binary
 * @kvm:	-accel kvm (with -cpu host); else tcg
 * @tsc_khz:	the host's TSC frequency: tsc_early_khz for a TCG guest (0: none)
 * @depth:	this host's nesting depth; the guest is told @depth + 1
 * @kernel:	-kernel: a PVH vmlinux or a bzImage, booted alike
 * @initrd_fd:	the initramfs with the run's spec appended (QEMU inherits it)
 * @ctl_fd:	virtio-serial: QEMU's end of the control port
 * @console_fd:	QEMU's end of the serial console
 * @mem_mib:	guest memory
 * @cpus:	virtual CPUs (0: 1)
 * @net:	user-mode networking
 * @shares, @nshares: the nestfs shares (the launch context's table), each
 *		a virtio-serial port unless @vsock_cid is set
 * @ports, @nports: published ports, made into user-net host forwards here
 * @vsock_cid:	non-zero: the vhost-vsock transport (the guest's CID, claimed
 *		on @vhost_fd) instead of virtio-serial ports; @ctl_fd and the
 *		shares' fds are then unused
 * @vsock_ctl_port: the host's AF_VSOCK port the guest connects to for control
 * @vhost_fd:	/dev/vhost-vsock with @vsock_cid claimed
 */
struct nb_vm_config {
	const char *qemu;
	bool kvm;
	uint64_t tsc_khz;
	int depth;
	const char *kernel;
	int initrd_fd, ctl_fd, console_fd;
	uint64_t mem_mib;
	unsigned cpus;
	bool net;
	const struct nb_share *shares;
	unsigned nshares;
	const struct nb_port *ports;
	unsigned nports;
	uint32_t vsock_cid, vsock_ctl_port;
	int vhost_fd;
	bool q35;		 /* -M q35 and virtio-*-pci devices: SMBIOS (run --system) */
	const char *smbios;	 /* a -smbios argument, or NULL */
	const char *append;	 /* more kernel command line, or NULL */
};

/**
 * nb_qemu_argv() - build the argv (NULL-terminated, malloc'd strings)
 * Return: 0, or negative errno
 */
int nb_qemu_argv(const struct nb_vm_config *c, char ***argv, struct nb_err *e);

/**
 * nb_qemu_port_ok() - whether QEMU's user network can forward @p: QEMU 7.2's
 * hostfwd takes an IPv4 host address only
 * Return: 0, or -EAFNOSUPPORT with @e saying so
 */
int nb_qemu_port_ok(const struct nb_port *p, struct nb_err *e);

/**
 * nb_qemu_start() - fork and exec QEMU with the config's fds at NB_QFD_*
 * @pidfd:	output: a pidfd for the child (O_CLOEXEC)
 * @die_with_parent: PR_SET_PDEATHSIG(SIGKILL) in the child
 *
 * Return: the pid, or negative errno
 */
pid_t nb_qemu_start(const struct nb_vm_config *c, bool die_with_parent, int *pidfd,
		    struct nb_err *e);

#endif
