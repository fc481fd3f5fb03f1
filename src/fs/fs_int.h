/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/fs_int: the limits on what a peer can make the server hold, and the
 * server itself. Private to src/fs. */
#ifndef NESTBOX_FS_FS_INT_H
#define NESTBOX_FS_FS_INT_H

#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/server.h"

/* Limits on everything a peer can make us hold or compute. */
#define NESTFS_MAX_WRITE	(1u << 20)	/* max_write and max read size */
#define NESTFS_MAX_PAGES	256u
#define NESTFS_MAX_FRAME	(NESTFS_MAX_WRITE + 4096u)
#define NESTFS_MIN_MINOR	12u	/* older clients get EPROTO */
#define NESTFS_MAX_INFLIGHT	1024u	/* requests read but not yet answered */
#define NESTFS_MAX_QUEUED	(16u << 20)	/* reply bytes not yet written */
#define NESTFS_MAX_INODES	(1u << 20)
#define NESTFS_MAX_HANDLES	(1u << 16)
#define NESTFS_MAX_LOCK_OWNERS	1024u	/* lock descriptions (one fd each) per connection */
#define NESTFS_MAX_WORKERS	256u
#define NESTFS_MAX_XATTR	65536u
#define NESTFS_MAX_FORGETS	65536u

struct fs_conn;

/**
 * struct nestfs_server - one exported directory and the connections serving it
 * @root_fd:	O_PATH fd of the export
 * @o:		options, defaults filled in
 * @as_root:	we run as root: creations switch fsuid/fsgid to the requester's
 * @mu:		guards @conns and each connection's done flag
 * @conns:	connections, finished ones until reaped
 */
struct nestfs_server {
	int root_fd;
	struct nestfs_server_opts o;
	bool as_root;
	pthread_mutex_t mu;
	struct fs_conn *conns;
};

#endif
