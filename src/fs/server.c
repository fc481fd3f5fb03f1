/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: connections and their threads.
 *
 * Theory of operation
 * -------------------
 * A connection is any stream fd. The frames on it are Linux FUSE ABI
 * messages: a request is struct fuse_in_header + body, a reply is struct
 * fuse_out_header + body, and each header's len frames it. The peer (the
 * client pump, usually inside a guest) is untrusted.
 *
 * Each connection has a pool of worker threads (no thread is created per
 * request) that take turns at the stream: idle workers sleep in
 * epoll_wait() on the stream with EPOLLEXCLUSIVE, so data wakes one of
 * them, not the pool. The woken worker takes the read lock, reads what the
 * stream has (many frames per read when busy), takes one frame, and if more
 * whole frames are buffered, wakes one more worker through an eventfd (also
 * EPOLLEXCLUSIVE) before working on its own. A request thus costs one
 * wakeup on the server, like a FUSE daemon reading /dev/fuse, and no
 * hand-off between a reader thread and a worker sits on its path: on a
 * busy host every wakeup costs, and a chain of hops pays each one per hop.
 * A header whose length is below the header size or above
 * NESTFS_MAX_FRAME ends the connection: the stream can no longer be
 * framed. Requests not yet taken wait in the socket, so the peer can have
 * hundreds in flight while the memory we hold stays bounded by the pool.
 *
 * Replies leave in any order (the peer matches them by unique). They are
 * queued on the connection; the first worker to find no writer active
 * becomes the writer and sends everything queued, as one writev of many
 * replies, until the queue is empty ("flat combining"): the stream sees
 * batched writes, and no worker waits for another's write to finish.
 *
 * A worker about to block for an unbounded time (F_OFD_SETLKW, flock)
 * registers as a waiter; if no worker would be left idle, the pool grows
 * (up to NESTFS_MAX_WORKERS), so a blocked lock can never starve the
 * unlock that would release it. FUSE_INTERRUPT for a waiter sends its
 * thread a signal whose handler does nothing, so the call fails with EINTR.
 *
 * The tables (tables.h: inode.c, handle.c, plock.c) stand between the
 * peer's node ids and fhs and the host's file descriptors.
 *
 * Stopping works on any kind of fd (sockets, pipes, virtio-serial char
 * devices) without shutdown(): the keeper sends every worker a signal whose
 * handler does nothing, so epoll_wait, lock waits and blocked writes return
 * EINTR, and the workers see the stop flag.
 * When a worker sees EOF or an error, every worker stops, the blocked
 * ones are knocked out of their calls, and the connection's keeper thread
 * joins them and closes every fd the connection held.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/fs_int.h"
#include "fs/stopwait.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define RBUF_SIZE (256u * 1024u)
#define WRITE_BATCH 64

/* The signal that knocks a worker out of a blocking call (FUSE_INTERRUPT). */
#define FS_INTR_SIGNAL (SIGRTMIN + 3)

static void intr_handler(int sig)
{
	(void)sig;
}

static void conn_stop(struct fs_conn *c);

/* ---- replies ---------------------------------------------------------- */

/* fs_reply_new() - a reply with room for @body bytes after the header; NULL if out of memory */
struct fs_reply *fs_reply_new(uint64_t unique, size_t body)
{
	struct fs_reply *r = malloc(sizeof(*r) + sizeof(struct fuse_out_header) + body);
	struct fuse_out_header oh = { 0 };

	if (!r)
		return NULL;
	r->next = NULL;
	r->len = (uint32_t)(sizeof(oh) + body);
	oh.len = r->len;
	oh.unique = unique;
	memcpy(r->data, &oh, sizeof(oh));
	return r;
}

/* Retire one answered request: the reader may read more. */
static void inflight_done(struct fs_conn *c, unsigned n)
{
	pthread_mutex_lock(&c->qmu);
	c->inflight = c->inflight > n ? c->inflight - n : 0;
	pthread_mutex_unlock(&c->qmu);
}

/* fs_noreply() - account a request that gets no reply (FORGET, INTERRUPT, ...) */
void fs_noreply(struct fs_conn *c)
{
	inflight_done(c, 1);
}

/* Write every reply in the list with as few writev calls as possible; 0 or -errno. */
static int write_replies(struct fs_conn *c, struct fs_reply *list)
{
	struct iovec iov[WRITE_BATCH];
	struct fs_reply *r = list;

	while (r) {
		int n = 0;
		size_t total = 0, done = 0;

		for (; r && n < WRITE_BATCH; r = r->next, n++) {
			iov[n].iov_base = r->data;
			iov[n].iov_len = r->len;
			total += r->len;
		}
		while (done < total) {
			struct iovec save;
			size_t skip = done;
			int first = 0;
			ssize_t w;

			/* Resume after a short write: skip what went, trim the first. */
			while (first < n && skip >= iov[first].iov_len)
				skip -= iov[first++].iov_len;
			if (first >= n)
				break;
			save = iov[first];
			iov[first].iov_base = (uint8_t *)save.iov_base + skip;
			iov[first].iov_len = save.iov_len - skip;
			w = writev(c->fd, iov + first, n - first);
			iov[first] = save;
			if (w < 0) {
				int err = errno;

				if (err == EINTR) {
					if (c->stopping)
						return -EPIPE;
					continue;
				}
				if (err == EAGAIN) {
					int rc = nestfs_wait_fd(c->fd, POLLOUT, c->stopfd);

					if (rc < 0)
						return rc;
					continue;
				}
				return -err;
			}
			done += (size_t)w;
		}
	}
	return 0;
}

static void free_replies(struct fs_reply *r)
{
	while (r) {
		struct fs_reply *next = r->next;

		free(r);
		r = next;
	}
}

static unsigned count_replies(const struct fs_reply *r)
{
	unsigned n = 0;

	for (; r; r = r->next)
		n++;
	return n;
}

/* fs_reply_send() - queue a reply; the first idle caller writes the whole queue */
void fs_reply_send(struct fs_conn *c, struct fs_reply *r)
{
	struct fs_reply *list;

	if (!r)
		return;
	pthread_mutex_lock(&c->omu);
	if (c->fd < 0 || c->broken) {
		pthread_mutex_unlock(&c->omu);
		free(r);
		inflight_done(c, 1);
		return;
	}
	if (c->otail)
		c->otail->next = r;
	else
		c->ohead = r;
	c->otail = r;
	if (c->writing) {
		pthread_mutex_unlock(&c->omu);
		return;
	}
	c->writing = true;
	while ((list = c->ohead)) {
		unsigned n;
		int rc;

		c->ohead = c->otail = NULL;
		pthread_mutex_unlock(&c->omu);
		n = count_replies(list);
		rc = c->broken ? -EPIPE : write_replies(c, list);
		free_replies(list);
		inflight_done(c, n);
		pthread_mutex_lock(&c->omu);
		if (rc < 0 && !c->broken) {
			c->broken = true;
			nb_debug("nestfs: connection %d: write: %s", c->fd, strerror(-rc));
			/* A peer we cannot answer is gone: end the connection. */
			pthread_mutex_unlock(&c->omu);
			conn_stop(c);
			pthread_mutex_lock(&c->omu);
		}
	}
	c->writing = false;
	pthread_mutex_unlock(&c->omu);
}

/* fs_reply_err() - answer with an error (positive errno) and no body */
void fs_reply_err(struct fs_conn *c, uint64_t unique, int err)
{
	struct fs_reply *r = fs_reply_new(unique, 0);

	if (!r) {
		inflight_done(c, 1);
		return;
	}
	((struct fuse_out_header *)(void *)r->data)->error = -err;
	if (err)
		nb_debug("nestfs: %d: request %llu: %s", c->fd, (unsigned long long)unique,
			 strerror(err));
	fs_reply_send(c, r);
}

/* fs_reply_buf() - answer with a copy of @body */
void fs_reply_buf(struct fs_conn *c, uint64_t unique, const void *body, size_t len)
{
	struct fs_reply *r = fs_reply_new(unique, len);

	if (!r) {
		fs_reply_err(c, unique, ENOMEM);
		return;
	}
	if (len)
		memcpy(r->data + sizeof(struct fuse_out_header), body, len);
	fs_reply_send(c, r);
}

/* ---- blocking calls and interrupts ------------------------------------ */

static void *worker_main(void *arg);

/* Spawn one more worker (qmu held); best effort. */
static void worker_spawn(struct fs_conn *c)
{
	pthread_t *v;

	if (c->nworkers >= NESTFS_MAX_WORKERS)
		return;
	v = realloc(c->workers, (c->nworkers + 1) * sizeof(*v));
	if (!v)
		return;
	c->workers = v;
	if (pthread_create(&c->workers[c->nworkers], NULL, worker_main, c) == 0)
		c->nworkers++;
}

/**
 * fs_block_begin() - a worker is about to block on behalf of request @unique
 *
 * Registers it for FUSE_INTERRUPT and makes sure a worker stays free.
 */
void fs_block_begin(struct fs_conn *c, struct fs_waiter *w, uint64_t unique)
{
	w->unique = unique;
	w->thread = pthread_self();
	w->interrupted = false;
	w->active = true;
	pthread_mutex_lock(&c->imu);
	w->next = c->waiters;
	c->waiters = w;
	pthread_mutex_unlock(&c->imu);
	pthread_mutex_lock(&c->qmu);
	c->blocked++;
	/* Someone must stay free to read the stream (and the unlock that frees us). */
	if (c->blocked >= c->nworkers && !c->stopping)
		worker_spawn(c);
	pthread_mutex_unlock(&c->qmu);
}

/* fs_block_end() - the blocking call returned */
void fs_block_end(struct fs_conn *c, struct fs_waiter *w)
{
	struct fs_waiter **pp;

	pthread_mutex_lock(&c->imu);
	for (pp = &c->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	w->active = false;
	pthread_mutex_unlock(&c->imu);
	pthread_mutex_lock(&c->qmu);
	c->blocked--;
	pthread_mutex_unlock(&c->qmu);
}

/* Knock every waiter matching @unique (or all, if @all) out of its call; imu held. */
static void knock(struct fs_conn *c, uint64_t unique, bool all)
{
	for (struct fs_waiter *w = c->waiters; w; w = w->next) {
		if (all || w->unique == unique) {
			w->interrupted = true;
			pthread_kill(w->thread, FS_INTR_SIGNAL);
		}
	}
}

/**
 * fs_interrupt() - FUSE_INTERRUPT for request @unique
 *
 * The waiter checks its flag before blocking, but a signal landing between
 * that check and the system call would be lost, so knock until it has left.
 * The INTERRUPT may also overtake its request (the pump's readers forward
 * independently), so a request not blocked yet gets a few milliseconds to
 * show up. Only blocking calls (lock waits) are worth interrupting: the
 * others finish on their own.
 */
void fs_interrupt(struct fs_conn *c, uint64_t unique)
{
	bool seen = false;

	for (int tries = 0; tries < 2000; tries++) {
		bool found = false;

		pthread_mutex_lock(&c->imu);
		for (struct fs_waiter *w = c->waiters; w; w = w->next)
			found |= w->unique == unique;
		knock(c, unique, false);
		pthread_mutex_unlock(&c->imu);
		seen |= found;
		if ((!found && seen) || (!seen && tries >= 20) || c->stopping)
			return;
		usleep(1000);
	}
}

/* ---- threads ---------------------------------------------------------- */

/* Read some bytes: >0, 0 at EOF, -errno (-EPIPE when told to stop). */
static ssize_t read_some(struct fs_conn *c, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(c->fd, buf, len);
		int rc;

		if (n >= 0)
			return n;
		if (errno == EINTR) {
			if (c->stopping)
				return -EPIPE;
			continue;
		}
		if (errno != EAGAIN)
			return -errno;
		rc = nestfs_wait_fd(c->fd, POLLIN, c->stopfd);
		if (rc < 0)
			return rc;
	}
}

/* A frame header is acceptable: long enough for itself, within the cap. */
static bool frame_len_ok(uint32_t len)
{
	return len >= sizeof(struct fuse_in_header) && len <= NESTFS_MAX_FRAME;
}

static struct fs_req *req_new(const void *data, uint32_t have, uint32_t len)
{
	struct fs_req *r = malloc(sizeof(*r) + len);

	if (!r)
		return NULL;
	r->next = NULL;
	r->len = len;
	memcpy(r->data, data, have);
	return r;
}

/* Is a whole frame waiting in the buffer? (rmu held) */
static bool frame_buffered(const struct fs_conn *c)
{
	size_t avail = c->rhave - c->roff;
	uint32_t len;

	if (avail < sizeof(struct fuse_in_header))
		return false;
	memcpy(&len, c->rbuf + c->roff, sizeof(len));
	return !frame_len_ok(len) || avail >= len;	/* a bad one is "there" too */
}

/**
 * next_request() - take the next frame off the stream (rmu held)
 * @c:		connection
 * @again:	set when there is no whole frame yet and the stream has nothing
 *
 * Serves frames already in the buffer first; reads (without blocking) only
 * when it holds no whole frame. A frame too big for the buffer is read
 * straight into its request. Return: the request; NULL with *again set to
 * wait for data; NULL at EOF, on error or on a bad frame (then c->reof is
 * set and the connection winds down).
 */
static struct fs_req *next_request(struct fs_conn *c, bool *again)
{
	*again = false;
	for (;;) {
		size_t avail = c->rhave - c->roff;
		struct fs_req *r;
		uint32_t len;
		ssize_t n;

		if (c->reof)
			return NULL;
		if (avail >= sizeof(struct fuse_in_header)) {
			memcpy(&len, c->rbuf + c->roff, sizeof(len));
			if (!frame_len_ok(len)) {
				nb_debug("nestfs: connection %d: bad frame length %u", c->fd, len);
				break;
			}
			if (avail >= len) {
				r = req_new(c->rbuf + c->roff, len, len);
				c->roff += len;
				if (!r)
					break;
				return r;
			}
			if (len > RBUF_SIZE / 2) {
				/* Big frame (a 1 MiB write): read the rest straight into it. */
				uint32_t part = (uint32_t)avail;

				r = req_new(c->rbuf + c->roff, part, len);
				c->roff = c->rhave = 0;
				while (r && part < len) {
					n = read_some(c, r->data + part, len - part);
					if (n <= 0) {
						free(r);
						r = NULL;
						break;
					}
					part += (uint32_t)n;
				}
				if (!r)
					break;
				return r;
			}
		}
		/* Need more: move the partial frame to the front and read. */
		memmove(c->rbuf, c->rbuf + c->roff, avail);
		c->rhave = avail;
		c->roff = 0;
		n = read(c->fd, c->rbuf + c->rhave, RBUF_SIZE - c->rhave);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (c->stopping)
				break;
			*again = true;
			return NULL;
		}
		if (n <= 0) {
			if (n < 0)
				nb_debug("nestfs: connection %d: read: %s", c->fd, strerror(errno));
			break;
		}
		c->rhave += (size_t)n;
	}
	c->reof = true;
	return NULL;
}

/*
 * Sleep until the stream or a fellow worker has something: both fds are in
 * the connection's epoll set with EPOLLEXCLUSIVE, so new data wakes one
 * worker, not the pool. Returns false when the connection stops.
 */
static bool wait_work(struct fs_conn *c)
{
	struct epoll_event ev[2];
	int n = epoll_wait(c->epfd, ev, 2, -1);

	if (n < 0 && errno != EINTR)
		return false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == 1) {
			uint64_t v;

			(void)!read(c->wakefd, &v, sizeof(v));
		}
	}
	return !c->stopping;
}

/* The connection is over: the keeper wakes and knocks every worker out of its call. */
static void conn_stop(struct fs_conn *c)
{
	pthread_mutex_lock(&c->qmu);
	c->stopping = true;
	pthread_cond_broadcast(&c->scv);
	pthread_mutex_unlock(&c->qmu);
}

/*
 * Workers take turns at the stream (leader/follower): the one holding rmu
 * takes the next frame and lets go, and the next worker in line takes the
 * one after, while the first works on its own. No hand-off between a reader
 * and a worker sits on the path of a request.
 */
static void *worker_main(void *arg)
{
	struct fs_conn *c = arg;
	sigset_t set;

	/* The keeper's knock must get through whatever the caller blocked. */
	sigemptyset(&set);
	sigaddset(&set, FS_INTR_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		struct fs_req *r;

		bool again, more;

		pthread_mutex_lock(&c->rmu);
		r = next_request(c, &again);
		more = r && frame_buffered(c);
		pthread_mutex_unlock(&c->rmu);
		if (!r) {
			if (again && wait_work(c))
				continue;
			break;
		}
		/* More frames came in the same read: wake one more worker for them. */
		if (more)
			(void)!write(c->wakefd, &(uint64_t){ 1 }, sizeof(uint64_t));
		pthread_mutex_lock(&c->qmu);
		c->inflight++;
		pthread_mutex_unlock(&c->qmu);
		fs_dispatch(c, r);
		free(r);
	}
	pthread_mutex_lock(&c->qmu);
	c->exited++;
	c->stopping = true;
	pthread_cond_broadcast(&c->scv);
	pthread_mutex_unlock(&c->qmu);
	return NULL;
}

/*
 * Knock every worker out of whatever blocking call it is in (a read of the
 * stream, a write to a peer that stopped reading, a lock wait), until all
 * have left: a knock can land just before a call starts, so repeat.
 */
static void workers_knock(struct fs_conn *c)
{
	(void)!write(c->stopfd, &(uint64_t){ 1 }, sizeof(uint64_t));
	for (int tries = 0; tries < 5000; tries++) {
		bool all;

		pthread_mutex_lock(&c->imu);
		knock(c, 0, true);
		pthread_mutex_unlock(&c->imu);
		pthread_mutex_lock(&c->qmu);
		all = c->exited >= c->nworkers;
		for (unsigned i = 0; !all && i < c->nworkers; i++)
			pthread_kill(c->workers[i], FS_INTR_SIGNAL);
		pthread_mutex_unlock(&c->qmu);
		if (all)
			break;
		usleep(1000);
	}
}

/* Join every worker (the pool may still grow while we join: re-read the count). */
static void workers_join(struct fs_conn *c)
{
	for (;;) {
		unsigned n;

		pthread_mutex_lock(&c->qmu);
		n = c->nworkers;
		pthread_mutex_unlock(&c->qmu);
		if (!n)
			break;
		pthread_join(c->workers[n - 1], NULL);
		pthread_mutex_lock(&c->qmu);
		c->nworkers--;
		pthread_mutex_unlock(&c->qmu);
	}
}

static void conn_release(struct fs_conn *c)
{
	free_replies(c->ohead);
	c->ohead = c->otail = NULL;
	fs_tables_free(&c->t);
	free(c->workers);
	c->workers = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* The connection's keeper: waits for the workers to finish, then frees what they held. */
static void *keeper_main(void *arg)
{
	struct fs_conn *c = arg;

	pthread_mutex_lock(&c->qmu);
	while (!c->stopping)
		pthread_cond_wait(&c->scv, &c->qmu);
	pthread_mutex_unlock(&c->qmu);
	workers_knock(c);
	workers_join(c);
	conn_release(c);
	pthread_mutex_lock(&c->srv->mu);
	c->done = true;
	pthread_mutex_unlock(&c->srv->mu);
	return NULL;
}

/* Allocate a connection with its tables and root inode; fd may be -1 (discard replies). */
static struct fs_conn *conn_new(struct nestfs_server *s, int fd, struct nb_err *e)
{
	struct fs_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c) {
		nb_err_set(e, ENOMEM, "nestfs: out of memory");
		return NULL;
	}
	c->srv = s;
	c->fd = fd;
	c->epfd = c->wakefd = -1;
	c->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->stopfd < 0) {
		nb_err_sys(e, errno, "nestfs: eventfd");
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->qmu, NULL);
	pthread_mutex_init(&c->rmu, NULL);
	pthread_cond_init(&c->scv, NULL);
	pthread_mutex_init(&c->omu, NULL);
	pthread_mutex_init(&c->imu, NULL);
	rc = fs_tables_init(&c->t, s->root_fd, s->o.read_only);
	if (rc < 0) {
		nb_err_sys(e, -rc, "nestfs: root inode");
		close(c->stopfd);
		free(c);
		return NULL;
	}
	return c;
}

static void conn_destroy(struct fs_conn *c)
{
	pthread_mutex_destroy(&c->qmu);
	pthread_mutex_destroy(&c->rmu);
	pthread_cond_destroy(&c->scv);
	free(c->rbuf);
	pthread_mutex_destroy(&c->omu);
	pthread_mutex_destroy(&c->imu);
	close(c->stopfd);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->wakefd >= 0)
		close(c->wakefd);
	free(c);
}

/* Join and free connections whose reader finished (srv->mu not held). */
static void reap_done(struct nestfs_server *s)
{
	for (;;) {
		struct fs_conn **pp, *c = NULL;

		pthread_mutex_lock(&s->mu);
		for (pp = &s->conns; *pp; pp = &(*pp)->next) {
			if ((*pp)->done) {
				c = *pp;
				*pp = c->next;
				break;
			}
		}
		pthread_mutex_unlock(&s->mu);
		if (!c)
			return;
		pthread_join(c->reader, NULL);
		conn_destroy(c);
	}
}

int nestfs_server_add_conn(struct nestfs_server *s, int fd, struct nb_err *e)
{
	struct fs_conn *c;
	int flags, rc;

	reap_done(s);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = nb_err_sys(e, errno, "nestfs: connection fd %d", fd);
		close(fd);
		return rc;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	c = conn_new(s, fd, e);
	if (!c) {
		close(fd);
		return -(e && e->code ? e->code : ENOMEM);
	}
	c->rbuf = malloc(RBUF_SIZE);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!c->rbuf || c->epfd < 0 || c->wakefd < 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd,
		      &(struct epoll_event){ EPOLLIN | EPOLLEXCLUSIVE, { .u32 = 0 } }) < 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->wakefd,
		      &(struct epoll_event){ EPOLLIN | EPOLLEXCLUSIVE, { .u32 = 1 } }) < 0) {
		rc = nb_err_sys(e, errno ? errno : ENOMEM, "nestfs: connection fd %d", fd);
		conn_release(c);
		conn_destroy(c);
		return rc;
	}
	pthread_mutex_lock(&c->qmu);
	for (unsigned i = 0; i < s->o.threads; i++)
		worker_spawn(c);
	pthread_mutex_unlock(&c->qmu);
	if (c->nworkers == 0 || pthread_create(&c->reader, NULL, keeper_main, c) != 0) {
		rc = nb_err_set(e, EAGAIN, "nestfs: cannot start threads");
		conn_stop(c);
		workers_knock(c);
		workers_join(c);
		conn_release(c);
		conn_destroy(c);
		return rc;
	}
	pthread_mutex_lock(&s->mu);
	c->next = s->conns;
	s->conns = c;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

unsigned nestfs_server_conns(struct nestfs_server *s)
{
	unsigned n = 0;

	reap_done(s);
	pthread_mutex_lock(&s->mu);
	for (struct fs_conn *c = s->conns; c; c = c->next)
		n += !c->done;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Raise the fd limit: every inode the peer holds is an open O_PATH fd. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct nestfs_server *nestfs_server_new(const char *dir, const struct nestfs_server_opts *o,
					struct nb_err *e)
{
	struct nestfs_server *s;
	struct sigaction sa = { 0 };
	struct stat st;
	int fd;

	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		nb_err_sys(e, errno, "nestfs: export %s", dir);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		nb_err_set(e, ENOTDIR, "nestfs: export %s: not a directory", dir);
		close(fd);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		nb_err_set(e, ENOMEM, "nestfs: out of memory");
		return NULL;
	}
	s->root_fd = fd;
	if (o)
		s->o = *o;
	else
		s->o.cache = NESTFS_CACHE_AUTO;
	if (s->o.threads == 0)
		s->o.threads = 8;
	if (s->o.threads > NESTFS_MAX_WORKERS)
		s->o.threads = NESTFS_MAX_WORKERS;
	s->as_root = geteuid() == 0;
	pthread_mutex_init(&s->mu, NULL);
	sa.sa_handler = intr_handler;	/* no SA_RESTART: the blocked call returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(FS_INTR_SIGNAL, &sa, NULL);
	raise_nofile();
	return s;
}

void nestfs_server_free(struct nestfs_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	for (struct fs_conn *c = s->conns; c; c = c->next)
		conn_stop(c);
	pthread_mutex_unlock(&s->mu);
	while (s->conns) {
		struct fs_conn *c = s->conns;

		s->conns = c->next;
		pthread_join(c->reader, NULL);
		conn_destroy(c);
	}
	pthread_mutex_destroy(&s->mu);
	close(s->root_fd);
	free(s);
}

void nestfs_server_feed(struct nestfs_server *s, const void *data, unsigned long len)
{
	const uint8_t *p = data;
	struct fs_conn *c = conn_new(s, -1, NULL);
	unsigned long off = 0;

	if (!c)
		return;
	c->stopping = true;	/* nothing may block: SETLKW is knocked at once */
	while (len - off >= sizeof(struct fuse_in_header)) {
		uint32_t flen;
		struct fs_req *r;

		memcpy(&flen, p + off, sizeof(flen));
		if (!frame_len_ok(flen) || flen > len - off)
			break;
		r = req_new(p + off, flen, flen);
		if (!r)
			break;
		off += flen;
		c->inflight++;
		fs_dispatch(c, r);
		free(r);
	}
	conn_release(c);
	conn_destroy(c);
}
