/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest: nestbox-init, PID 1 of every nestbox VM (static, musl).
 * init.c holds main() and nothing else: the order of things. The parts it
 * calls: the guest's setup (setup.h: modules, mounts, root, network, files)
 * and the control agent (agent.h: spawn, stdio relay, signals, exit). This
 * header is the state of PID 1 and what every part uses to reach the host
 * (host.c: console log, control port queue, fatal errors, power-off).
 *
 * Theory of operation: the kernel unpacks the cached initramfs (this
 * program, /nestbox/modules and the .ko files it lists) and the per-run
 * spec cpio (/nestbox/spec: a CONFIG and a SPAWN frame of the control
 * protocol). init mounts the pseudo filesystems, loads the modules in the
 * listed order, opens the virtio-serial port "nestbox.control", mounts the
 * image's root (nestfs, read-only) under a tmpfs overlay plus the volumes,
 * moves into it, starts the command and relays its stdio over the port
 * until it exits; then it reports the exit status and powers off. */
#ifndef NESTBOX_GUEST_GUEST_H
#define NESTBOX_GUEST_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "control/proto.h"

#define NB_CONTROL_PORT "nestbox.control"

/**
 * struct guest - the state of PID 1
 * @ctl:	the control port, O_NONBLOCK
 * @out:	frames not yet written to @ctl
 * @spec:	the spec file's bytes (CONFIG and SPAWN point into it)
 * @spec_len:	their count
 * @cfg:	the spec's CONFIG: hostname, network, shares
 * @spawn_frame: the spec's SPAWN frame: the main command (exec'd processes
 *		inherit its environment, workdir and user)
 */
struct guest {
	int ctl;
	struct nb_ctl_buf out;
	uint8_t *spec;
	size_t spec_len;
	struct nb_ctl_config cfg;
	struct nb_ctl_frame spawn_frame;
};

/* guest_log() - a line on the console (the serial log the host keeps) */
void guest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* guest_now_ns() - CLOCK_BOOTTIME: nanoseconds since the kernel started */
uint64_t guest_now_ns(void);

/* guest_flush() - write what the port takes of @g->out; @blocking waits until
 * everything is written (or the host is gone for 30 s) */
void guest_flush(struct guest *g, int blocking);

/* guest_fatal() - report a setup failure to the host (and console), power off */
__attribute__((noreturn, format(printf, 2, 3))) void guest_fatal(struct guest *g,
								 const char *fmt, ...);

/* guest_ctl_finish() - flush everything to the host and, on a socket, say
 * EOF and wait (briefly) until the host has taken it all; before power-off */
void guest_ctl_finish(struct guest *g);

/* guest_poweroff() - sync and power the VM off; never returns */
__attribute__((noreturn)) void guest_poweroff(void);

#endif
