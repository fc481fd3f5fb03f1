/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/conn: one served connection: its stream's read side (frames in) and
 * write side (replies out, stream.c), its pool of workers with the waits
 * the peer may interrupt (pool.c), and its tables. Private to src/fs. */
#ifndef NESTBOX_FS_CONN_H
#define NESTBOX_FS_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/fs_int.h"
#include "fs/tables.h"

/**
 * struct fs_req - one request frame taken off the stream
 * @next:	unused by the stream; for lists
 * @len:	frame length, as its header says and as was read
 * @pad:	keeps @data 8-aligned: headers are read in place
 * @data:	fuse_in_header + body
 */
struct fs_req {
	struct fs_req *next;
	uint32_t len;
	uint32_t pad;
	uint8_t data[];
};

/**
 * struct fs_reply - one reply frame waiting for the writer
 * @next:	next queued reply
 * @len:	frame length (the header's len is kept equal)
 * @pad:	keeps @data 8-aligned: headers are written in place
 * @data:	fuse_out_header + body
 */
struct fs_reply {
	struct fs_reply *next;
	uint32_t len;
	uint32_t pad;
	uint8_t data[];
};

/**
 * struct fs_waiter - a worker blocked in a call the peer may interrupt (SETLKW, flock)
 * @next:	next waiter of the connection
 * @unique:	the request it blocks for, as FUSE_INTERRUPT names it
 * @thread:	the worker, to signal
 * @interrupted: FUSE_INTERRUPT (or the connection's end) came for it
 * @active:	registered (between fs_block_begin() and fs_block_end())
 */
struct fs_waiter {
	struct fs_waiter *next;
	uint64_t unique;
	pthread_t thread;
	bool interrupted;
	bool active;
};

/**
 * struct fs_in - the stream's read side
 * @mu:		held by the worker taking a frame
 * @buf:	what was read and not yet taken (RBUF_SIZE bytes)
 * @have:	bytes in @buf
 * @off:	where the next frame starts in @buf
 * @eof:	the stream ended, failed or lost its framing: no more frames
 */
struct fs_in {
	pthread_mutex_t mu;
	uint8_t *buf;
	size_t have, off;
	bool eof;
};

/**
 * struct fs_out - the stream's write side (flat combining: one writer at a time)
 * @mu:		guards everything below
 * @room:	signalled when @inflight or @queued fall below their caps
 * @head:	first reply waiting for the writer
 * @tail:	last one
 * @inflight:	requests taken and not yet answered (their replies not yet written),
 *		at most NESTFS_MAX_INFLIGHT
 * @queued:	bytes of replies queued or being written; no request is taken while it
 *		is NESTFS_MAX_QUEUED or more, so a peer that stops reading stalls itself
 * @waiting:	workers waiting on @room
 * @writing:	a worker is writing the queue
 * @broken:	writing failed: replies are dropped
 */
struct fs_out {
	pthread_mutex_t mu;
	pthread_cond_t room;
	struct fs_reply *head, *tail;
	unsigned inflight;
	size_t queued;
	unsigned waiting;
	bool writing;
	bool broken;
};

/**
 * struct fs_pool - the workers serving one connection
 * @mu:		guards everything below but the fds
 * @stopped:	signalled when @stopping becomes true
 * @threads:	the workers (@nworkers of them)
 * @nworkers:	workers started and not yet joined
 * @blocked:	workers inside fs_block_begin() .. fs_block_end()
 * @exited:	workers that left their loop
 * @waiters:	registered waiters, for FUSE_INTERRUPT and the stop
 * @stopping:	the connection is ending: workers leave, waits return
 * @stopfd:	eventfd, readable once the connection must stop
 * @epfd:	epoll set of the stream and @wakefd, both EPOLLEXCLUSIVE
 * @wakefd:	eventfd: a worker left whole frames in the buffer
 */
struct fs_pool {
	pthread_mutex_t mu;
	pthread_cond_t stopped;
	pthread_t *threads;
	unsigned nworkers, blocked, exited;
	struct fs_waiter *waiters;
	bool stopping;
	int stopfd;
	int epfd;
	int wakefd;
};

/**
 * struct fs_conn - one connection
 * @srv:	the server it belongs to
 * @next:	next connection of the server (under the server's lock)
 * @keeper:	joins the workers when the connection ends, then frees what it held
 * @fd:		the stream; -1 when replies are discarded (fuzzing)
 * @in:		read side
 * @out:	write side
 * @pool:	workers
 * @t:		inodes, handles, locks
 * @minor:	FUSE minor version negotiated by INIT
 * @flags:	INIT flags granted
 * @initialized: INIT was answered
 * @done:	workers finished, only the struct is left (under the server's lock)
 */
struct fs_conn {
	struct nestfs_server *srv;
	struct fs_conn *next;
	pthread_t keeper;
	int fd;
	struct fs_in in;
	struct fs_out out;
	struct fs_pool pool;
	struct fs_tables t;
	uint32_t minor;
	uint32_t flags;
	bool initialized;
	bool done;
};

/* ---- stream.c: frames in, replies out ---- */

/* fs_stream_init() - set up both sides of @c's stream; 0 or -errno */
int fs_stream_init(struct fs_conn *c);
/* fs_stream_free() - free what both sides hold (queued replies are dropped) */
void fs_stream_free(struct fs_conn *c);
/* fs_frame_len_ok() - a frame header's length is acceptable: room for itself, within the cap */
bool fs_frame_len_ok(uint32_t len);
/* fs_req_new() - a request of @len bytes starting with @have bytes from @data; NULL: no memory */
struct fs_req *fs_req_new(const void *data, uint32_t have, uint32_t len);
/* fs_next_request() - take the next frame (in.mu held); NULL with *@again: wait for data;
 * NULL otherwise: the stream is over (in.eof) */
struct fs_req *fs_next_request(struct fs_conn *c, bool *again);
/* fs_frame_buffered() - a whole (or bad) frame waits in the buffer (in.mu held) */
bool fs_frame_buffered(const struct fs_conn *c);

/* fs_out_reserve() - wait for room to take one more request (within the caps on requests
 * in flight and queued reply bytes) and count it in flight; false once the connection stops */
bool fs_out_reserve(struct fs_conn *c);
/* fs_out_wake() - wake the workers waiting for room (the connection stops) */
void fs_out_wake(struct fs_conn *c);
/* fs_reply_new() - a reply with room for @body bytes after the header; NULL if out of memory */
struct fs_reply *fs_reply_new(uint64_t unique, size_t body);
/* fs_reply_send() - queue @r (consumed; NULL: nothing); the first idle caller writes the queue */
void fs_reply_send(struct fs_conn *c, struct fs_reply *r);
/* fs_reply_err() - answer @unique with an error (positive errno, 0: success) and no body */
void fs_reply_err(struct fs_conn *c, uint64_t unique, int err);
/* fs_reply_buf() - answer @unique with a copy of @body */
void fs_reply_buf(struct fs_conn *c, uint64_t unique, const void *body, size_t len);
/* fs_noreply() - account a request that gets no reply (FORGET, INTERRUPT, ...) */
void fs_noreply(struct fs_conn *c);

/* ---- pool.c: workers, waits, the end of a connection ---- */

/* fs_pool_init() - set up @c's pool (no thread yet); 0 or -errno */
int fs_pool_init(struct fs_conn *c);
/* fs_pool_start() - start the workers and the keeper; 0 or -errno (then nothing runs) */
int fs_pool_start(struct fs_conn *c);
/* fs_pool_free() - free what the pool holds once no thread runs */
void fs_pool_free(struct fs_conn *c);
/* fs_pool_signal_setup() - install the no-op handler of the knock signal (once per process) */
void fs_pool_signal_setup(void);
/* fs_conn_stop() - the connection is over: the keeper wakes and knocks every worker out */
void fs_conn_stop(struct fs_conn *c);
/* fs_block_begin() - the caller is about to block for request @unique: register @w for
 * FUSE_INTERRUPT and make sure a worker stays free */
void fs_block_begin(struct fs_conn *c, struct fs_waiter *w, uint64_t unique);
/* fs_block_end() - the blocking call registered by fs_block_begin() returned */
void fs_block_end(struct fs_conn *c, struct fs_waiter *w);
/* fs_interrupt() - FUSE_INTERRUPT for request @unique: knock its waiter out of its call */
void fs_interrupt(struct fs_conn *c, uint64_t unique);

/* ---- server.c ---- */

/* fs_conn_release() - close everything @c's tables and stream hold (no worker runs any more) */
void fs_conn_release(struct fs_conn *c);

/* ---- dispatch.c ---- */

/* fs_dispatch() - decode one request frame (length checked) and answer it */
void fs_dispatch(struct fs_conn *c, struct fs_req *r);

#endif
