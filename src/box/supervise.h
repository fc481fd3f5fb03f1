/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/supervise: the daemon behind `nestbox run -d`. Owns the loop that keeps
 * a detached VM: its console and output logs, its state.json, and the
 * control socket through which exec, stop and wait reach it. Clients speak
 * the control protocol as if they were the host side of the guest: a SPAWN
 * starts an exec session (the supervisor rewrites process ids), a SIGNAL
 * for process 0 reaches the main command, SHUTDOWN kills the VM, and every
 * client that started nothing gets the main command's EXIT (wait). */
#ifndef NESTBOX_BOX_SUPERVISE_H
#define NESTBOX_BOX_SUPERVISE_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"
#include "box/state.h"

/**
 * struct nb_supervisor - one detached VM
 * @ready_fd:	pipe to the `run -d` CLI: "ok", "err MSG" or "exit N MSG"; -1 after
 * @listen_fd:	the control socket (abstract, see nb_supervisor_addr())
 * @lifeline_fd: -1, or a pidfd: when that process exits, QEMU is killed
 */
struct nb_supervisor {
	pid_t qemu_pid;
	int qemu_pidfd;
	int ctl;
	int console;
	int ready_fd;
	int listen_fd;
	unsigned boot_timeout_ms;
	struct nb_vm_state *st;
	int lifeline_fd;
};

/**
 * nb_supervisor_addr() - the abstract unix socket address of VM @id
 * Return: the address length for bind()/connect()
 */
size_t nb_supervisor_addr(const char *id, void *sun);

/* nb_supervisor_listen() - bind and listen for VM @id; fd or -errno */
int nb_supervisor_listen(const char *id, struct nb_err *e);

/* nb_supervisor_connect() - connect to VM @id's supervisor; fd or -errno */
int nb_supervisor_connect(const char *id, struct nb_err *e);

/* nb_supervise() - run until QEMU is gone; state.json says how it ended.
 * Return: 0, or -1 if the VM failed before its command started */
int nb_supervise(struct nb_supervisor *s);

#endif
