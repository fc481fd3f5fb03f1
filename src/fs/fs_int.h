/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/fs_int: what server.c (connections, threads, tables) and ops.c (the FUSE
 * operations) share. Private to src/fs. */
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
#define NESTFS_MAX_INODES	(1u << 20)
#define NESTFS_MAX_HANDLES	(1u << 16)
#define NESTFS_MAX_WORKERS	256u
#define NESTFS_MAX_XATTR	65536u
#define NESTFS_MAX_FORGETS	65536u

/* An inode the peer knows by node id: an O_PATH fd, looked up by (dev, ino). */
struct fs_inode {
	int fd;
	uint32_t gen;
	uint32_t idx;
	dev_t dev;
	ino_t ino;
	mode_t type;		/* S_IFMT bits, fixed for the life of an inode */
	uint64_t nlookup;	/* the peer's references */
	uint32_t refs;		/* ours: workers and handles using @fd */
	bool used;		/* slot holds an inode */
	bool hashed;		/* findable by (dev, ino) */
	int32_t hnext;		/* hash chain */
	struct fs_plock *plocks; /* POSIX lock owners: one open file description each */
};

/* An open file or directory the peer knows by fh. */
struct fs_handle {
	int fd;
	uint32_t gen;
	uint32_t idx;
	uint32_t refs;
	bool used;
	bool is_dir;
	struct fs_inode *inode;	/* holds a ref */
	pthread_mutex_t dir_mu;	/* readdir position */
	uint64_t dir_pos;	/* offset the next entry we would emit has */
	uint64_t fd_pos;	/* where the fd's position is */
};

struct fs_plock {
	struct fs_plock *next;
	uint64_t owner;
	int fd;
};

struct fs_req {
	struct fs_req *next;
	uint32_t len;
	uint8_t data[] __attribute__((aligned(8))); /* fuse_in_header + body */
};

struct fs_reply {
	struct fs_reply *next;
	uint32_t len;
	uint8_t data[] __attribute__((aligned(8))); /* fuse_out_header + body */
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
	int fd;			/* stream, -1 when replies are discarded (fuzzing) */
	int stopfd;		/* eventfd: readable once the connection must stop */
	pthread_t reader;
	bool reader_started;
	bool done;		/* reader finished, only the struct is left */

	pthread_mutex_t qmu;
	pthread_cond_t qcv;	/* work arrived or stopping */
	pthread_cond_t qspace;	/* inflight went down */
	struct fs_req *qhead, *qtail;
	unsigned inflight;
	unsigned nworkers, idle, blocked;
	pthread_t *workers;
	bool stopping;

	pthread_mutex_t omu;
	struct fs_reply *ohead, *otail;
	bool writing;
	bool broken;

	pthread_mutex_t imu;
	struct fs_waiter *waiters;

	/* negotiated by INIT */
	bool initialized;
	uint32_t minor;
	uint32_t flags;

	/* tables */
	pthread_mutex_t tmu;
	struct fs_inode **inodes;
	uint32_t ninodes, cap_inodes, live_inodes;
	uint32_t *ifree;
	uint32_t nifree;
	int32_t *buckets;
	uint32_t nbuckets;
	struct fs_handle **handles;
	uint32_t nhandles, cap_handles, live_handles;
	uint32_t *hfree;
	uint32_t nhfree;
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

int fs_inode_root(struct fs_conn *c);
struct fs_inode *fs_inode_get(struct fs_conn *c, uint64_t nodeid);
void fs_inode_put(struct fs_conn *c, struct fs_inode *in);
int fs_inode_add(struct fs_conn *c, int fd, const struct stat *st, uint64_t *nodeid);
void fs_inode_forget(struct fs_conn *c, uint64_t nodeid, uint64_t n);
uint64_t fs_inode_id(const struct fs_inode *in);

int fs_handle_new(struct fs_conn *c, int fd, bool is_dir, struct fs_inode *in, uint64_t *fh);
struct fs_handle *fs_handle_get(struct fs_conn *c, uint64_t fh);
void fs_handle_put(struct fs_conn *c, struct fs_handle *h);
int fs_handle_release(struct fs_conn *c, uint64_t fh);

int fs_plock_fd(struct fs_conn *c, struct fs_inode *in, uint64_t owner, bool create);
void fs_plock_drop(struct fs_conn *c, struct fs_inode *in, uint64_t owner);

struct fs_waiter;
void fs_block_begin(struct fs_conn *c, struct fs_waiter *w, uint64_t unique);
void fs_block_end(struct fs_conn *c, struct fs_waiter *w);
void fs_interrupt(struct fs_conn *c, uint64_t unique);

/* ops.c */
void fs_dispatch(struct fs_conn *c, struct fs_req *r);

#endif
