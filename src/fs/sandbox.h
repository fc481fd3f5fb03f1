/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/sandbox: the confinement of a nestfs server process, as virtiofsd's:
 * its own pid, mount, network, IPC and UTS namespaces, a root holding only
 * the exported directory, the capabilities its operations need, and a
 * seccomp allow-list. Owns entering it (nestfs_sandbox_enter) and locking
 * it (nestfs_sandbox_lock); `nestbox fs serve` uses both. */
#ifndef NESTBOX_FS_SANDBOX_H
#define NESTBOX_FS_SANDBOX_H

#include <stdbool.h>

#include "fs/server.h"
#include "lib/err.h"

/* Where the exported directory is, inside the sandbox. */
#define NESTFS_SANDBOX_EXPORT "/export"

/**
 * nestfs_sandbox_enter() - move into a sandbox whose root holds only @dir
 * @dir:	the directory to export (a host path)
 * @read_only:	bind it read-only, so not even a subverted server writes
 * @status:	set in the outer process: the exit status to exit with
 * @e:		error
 *
 * Unshares pid, mount, network, IPC and UTS namespaces (and, run as
 * non-root, a user namespace that maps only our own ids) and forks. The
 * child is the new pid namespace's init; its root becomes a small
 * read-only tmpfs with @dir bound at NESTFS_SANDBOX_EXPORT and a /proc of
 * its own, the host's tree detached; it dies with its parent. The parent
 * (the outer process) stays outside: it passes SIGINT, SIGTERM and SIGHUP
 * on (they must be blocked before the call), waits, and returns 1 with
 * @status set to the child's exit status (128 + signal if killed). Must be
 * called single-threaded.
 *
 * Return: 0 in the sandboxed child, 1 in the outer process, or -errno
 * (in the child too if the sandbox could not be made: it then exits 125)
 */
int nestfs_sandbox_enter(const char *dir, bool read_only, int *status, struct nb_err *e);

/**
 * nestfs_sandbox_lock() - drop what the server of @o does not need: every
 * capability but those its operations use (CAP_CHOWN, CAP_DAC_OVERRIDE,
 * CAP_FOWNER, CAP_FSETID, CAP_SETUID and CAP_SETGID for the fsuid switch,
 * CAP_MKNOD only with devices, CAP_SETFCAP only with suid; only
 * CAP_DAC_OVERRIDE read-only), the bounding and ambient sets, new
 * privileges (no_new_privs), then install the seccomp allow-list (any
 * other system call kills the process). Before any thread starts.
 * @o:	the server's options
 * @e:	error
 *
 * Return: 0, or -errno
 */
int nestfs_sandbox_lock(const struct nestfs_server_opts *o, struct nb_err *e);

#endif
