/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/fs_int: what server.c (connections, threads), ops.c (the FUSE
 * operations) and the tables share. Private to src/fs. */
#ifndef NESTBOX_FS_FS_INT_H
#define NESTBOX_FS_FS_INT_H

#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/server.h"
#include "fs/tables.h"

/* Limits on everything a peer can make us hold or compute. */
#define NESTFS_MAX_WRITE	(1u << 20)	/* max_write and max read size */
#define NESTFS_MAX_PAGES	256u
#define NESTFS_MAX_FRAME	(NESTFS_MAX_WRITE + 4096u)
#define NESTFS_MIN_MINOR	12u	/* older clients get EPROTO */
#define NESTFS_MAX_INFLIGHT	1024u	/* requests read but not yet answered */
#define NESTFS_MAX_INODES	(1u << 20)
#define NESTFS_MAX_HANDLES	(1u << 16)
#define NESTFS_MAX_WORKERS	256u
#define NESTFS_MAX_XATTR	65536u
#define NESTFS_MAX_FORGETS	65536u

struct fs_req {
	struct fs_req *next;
	uint32_t len;
	uint32_t pad;		/* data 8-aligned: headers are read in place */
	uint8_t data[];		/* fuse_in_header + body */
};

struct fs_reply {
	struct fs_reply *next;
	uint32_t len;
	uint32_t pad;		/* data 8-aligned: headers are written in place */
	uint8_t data[];		/* fuse_out_header + body */
};

/* A worker blocked in a call the peer may interrupt (SETLKW). */
struct fs_waiter {
	struct fs_waiter *next;
	uint64_t unique;
	pthread_t thread;
	bool interrupted;
	bool active;
};

struct fs_conn {
	struct nestfs_server *srv;
	struct fs_conn *next;
	pthread_t reader;	/* the keeper: joins the workers, frees the connection */
	pthread_t *workers;
	uint8_t *rbuf;		/* the stream's read side (under rmu) */
	size_t rhave, roff;
	struct fs_reply *ohead, *otail;	/* replies waiting for the writer (under omu) */
	struct fs_waiter *waiters;	/* under imu */

	struct fs_tables t;	/* inodes, handles, locks */

	pthread_mutex_t rmu;	/* held by the worker taking a frame */
	pthread_mutex_t qmu;	/* the pool */
	pthread_cond_t scv;	/* stopping became true */
	pthread_mutex_t omu;
	pthread_mutex_t imu;

	int fd;			/* stream, -1 when replies are discarded (fuzzing) */
	int stopfd;		/* eventfd: readable once the connection must stop */
	int epfd;		/* epoll: the stream and wakefd, EPOLLEXCLUSIVE */
	int wakefd;		/* eventfd: a worker left whole frames in the buffer */
	unsigned inflight;	/* requests taken and not yet answered (under qmu) */
	unsigned nworkers, blocked, exited;

	/* negotiated by INIT */
	uint32_t minor;
	uint32_t flags;
	bool initialized;

	bool done;		/* workers finished, only the struct is left */
	bool reof;		/* the stream ended (under rmu) */
	bool stopping;
	bool writing;		/* a worker is writing replies (under omu) */
	bool broken;		/* writing failed: drop replies */
};

struct nestfs_server {
	int root_fd;			/* O_PATH of the export */
	struct nestfs_server_opts o;
	bool as_root;			/* switch fsuid/fsgid for creations */
	pthread_mutex_t mu;
	struct fs_conn *conns;
};

/* server.c */
void fs_reply_send(struct fs_conn *c, struct fs_reply *r);
struct fs_reply *fs_reply_new(uint64_t unique, size_t body);
void fs_reply_err(struct fs_conn *c, uint64_t unique, int err);
void fs_reply_buf(struct fs_conn *c, uint64_t unique, const void *body, size_t len);
void fs_noreply(struct fs_conn *c);

struct fs_waiter;
void fs_block_begin(struct fs_conn *c, struct fs_waiter *w, uint64_t unique);
void fs_block_end(struct fs_conn *c, struct fs_waiter *w);
void fs_interrupt(struct fs_conn *c, uint64_t unique);

/* ops.c */
void fs_dispatch(struct fs_conn *c, struct fs_req *r);

#endif
