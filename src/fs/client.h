/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/client: the nestfs pump, /dev/fuse <-> a stream, with no state but routing.
 * Owns the FUSE mount it makes. Also built into the static guest PID 1 (no libfuse, no glibc-only API). */
#ifndef NESTBOX_FS_CLIENT_H
#define NESTBOX_FS_CLIENT_H

#include <stdbool.h>

#include "lib/err.h"

/**
 * struct nestfs_mount_opts - how to mount
 * @readers:	threads reading /dev/fuse (clones via FUSE_DEV_IOC_CLONE); 0: a default
 * @fsname:	source shown in /proc/mounts (NULL: "nestfs")
 * @extra_opts:	more mount options, comma separated (NULL: none)
 * @read_only:	mount read-only (MS_RDONLY)
 */
struct nestfs_mount_opts {
	unsigned readers;
	const char *fsname;
	const char *extra_opts;
	bool read_only;
};

struct nestfs_mount;

/**
 * nestfs_mount_fd() - mount at @mountpoint fed by @stream_fd and pump; blocks
 * @stream_fd:	connected stream to a nestfs server; owned from now on
 * @mountpoint:	directory
 * @o:		options (NULL: defaults)
 * @e:		error
 *
 * Pumps until unmounted or until the stream ends; then the mount fails with
 * ENOTCONN and is lazily unmounted if possible.
 *
 * Return: 0 when unmounted, -ENOTCONN when the stream ended, other -errno
 */
int nestfs_mount_fd(int stream_fd, const char *mountpoint, const struct nestfs_mount_opts *o,
		    struct nb_err *e);

/**
 * nestfs_mount_start() - like nestfs_mount_fd() but returns once INIT is answered
 *
 * Return: the running mount (pumping in background threads), or NULL with @e set
 */
struct nestfs_mount *nestfs_mount_start(int stream_fd, const char *mountpoint,
					const struct nestfs_mount_opts *o, struct nb_err *e);

/* nestfs_mount_wait() - until unmounted (0) or the stream is gone (-ENOTCONN) */
int nestfs_mount_wait(struct nestfs_mount *m);

/* nestfs_mount_stop() - ask a running mount to stop: abort the connection, detach the mount */
void nestfs_mount_stop(struct nestfs_mount *m);

/* nestfs_mount_free() - stop if still running, join the threads, free */
void nestfs_mount_free(struct nestfs_mount *m);

#endif
