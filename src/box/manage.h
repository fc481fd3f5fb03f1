/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/manage: what ps, exec, logs, stop, rm and wait do to VMs with a
 * record (box/state.h): through their state directory, and the supervisor's
 * control socket for detached ones or signals to the owning `nestbox run`
 * for foreground ones. */
#ifndef NESTBOX_BOX_MANAGE_H
#define NESTBOX_BOX_MANAGE_H

#include <stdbool.h>

#include "lib/err.h"

/**
 * struct nb_exec_opts - exec's options
 * @argv:	the command (NULL-terminated)
 * @env:	"K=V" entries (NULL-terminated, may be NULL)
 * @interactive: -i: relay stdin
 * @tty:	-t: a pty in the guest
 * @user:	-u (NULL: the main command's)
 * @workdir:	-w (NULL: the main command's)
 */
struct nb_exec_opts {
	char **argv;
	char **env;
	bool interactive, tty;
	const char *user, *workdir;
};

/* nb_vm_exec() - run a command in a running VM; returns its exit code (125 + @e on failure) */
int nb_vm_exec(const char *name, const struct nb_exec_opts *o, struct nb_err *e);

/* nb_vm_stop() - SIGTERM the command, after @timeout_s kill the VM; 0 or -errno */
int nb_vm_stop(const char *name, unsigned timeout_s, struct nb_err *e);

/* nb_vm_wait() - wait for the VM's command to exit; its code in @code; 0 or -errno */
int nb_vm_wait(const char *name, int *code, struct nb_err *e);

/* nb_vm_rm() - remove a VM's state; a running one only with @force (killed); 0 or -errno */
int nb_vm_rm(const char *name, bool force, struct nb_err *e);

/**
 * nb_vm_logs() - replay the command's output: stdout records to @out, stderr to @err
 * @follow:	then go on copying new output until the VM's owner is gone
 * Return: 0 (also when an output was closed), or -errno
 */
int nb_vm_logs(const char *name, int out, int err, bool follow, struct nb_err *e);

#endif
