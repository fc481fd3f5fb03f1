/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: a connection's pool of workers.
 *
 * Each connection has a pool of worker threads (no thread is created per
 * request) that take turns at the stream (leader/follower): idle workers
 * sleep in epoll_wait() on the stream with EPOLLEXCLUSIVE, so data wakes
 * one of them, not the pool. The woken worker takes the read lock, takes
 * one frame (stream.c), and if more whole frames are buffered, wakes one
 * more worker through an eventfd (also EPOLLEXCLUSIVE) before working on
 * its own; it then decodes, runs and answers the request itself, and may
 * write the reply queue itself. A request thus costs one wakeup on the
 * server, like a FUSE daemon reading /dev/fuse, and no hand-off between a
 * reader thread and a worker sits on its path: on a busy host every wakeup
 * costs, and a chain of hops pays each one per hop. Requests not yet taken
 * wait in the socket, so the peer can have hundreds in flight while the
 * memory we hold stays bounded by the pool.
 *
 * A worker about to block for an unbounded time (F_OFD_SETLKW, flock)
 * registers as a waiter; if no worker would be left idle, the pool grows
 * (up to NESTFS_MAX_WORKERS), so a blocked lock can never starve the
 * unlock that would release it. FUSE_INTERRUPT for a waiter sends its
 * thread a signal whose handler does nothing, so the call fails with EINTR.
 *
 * Stopping works on any kind of fd (sockets, pipes, virtio-serial char
 * devices) without shutdown(): the keeper sends every worker that signal,
 * so epoll_wait, lock waits and blocked writes return EINTR, and the
 * workers see the stop flag. When a worker sees EOF or an error, every
 * worker stops, the blocked ones are knocked out of their calls, and the
 * connection's keeper thread joins them and closes every fd the connection
 * held.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fs/conn.h"
#include "fs/pt.h"
#include "lib/log.h"

/* The signal that knocks a worker out of a blocking call. */
#define FS_INTR_SIGNAL (SIGRTMIN + 3)

static void intr_handler(int sig)
{
	(void)sig;
}

void fs_pool_signal_setup(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = intr_handler;	/* no SA_RESTART: the blocked call returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(FS_INTR_SIGNAL, &sa, NULL);
}

int fs_pool_init(struct fs_conn *c)
{
	struct fs_pool *p = &c->pool;

	p->epfd = p->wakefd = -1;
	p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->stopfd < 0)
		return -errno;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->stopped, NULL);
	if (c->fd < 0)
		return 0;	/* fed synchronously: no thread waits */
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->epfd < 0 || p->wakefd < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, c->fd,
		      &(struct epoll_event){ EPOLLIN | EPOLLEXCLUSIVE, { .u32 = 0 } }) < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd,
		      &(struct epoll_event){ EPOLLIN | EPOLLEXCLUSIVE, { .u32 = 1 } }) < 0)
		return -errno;
	return 0;
}

void fs_pool_free(struct fs_conn *c)
{
	struct fs_pool *p = &c->pool;

	free(p->threads);
	p->threads = NULL;
	if (p->stopfd < 0)
		return;		/* init failed before anything else */
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->stopped);
	close(p->stopfd);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->wakefd >= 0)
		close(p->wakefd);
}

void fs_conn_stop(struct fs_conn *c)
{
	pthread_mutex_lock(&c->pool.mu);
	c->pool.stopping = true;
	pthread_cond_broadcast(&c->pool.stopped);
	pthread_mutex_unlock(&c->pool.mu);
	fs_out_wake(c);
}

static void *worker_main(void *arg);

/* Spawn one more worker (pool.mu held); best effort. */
static void worker_spawn(struct fs_conn *c)
{
	struct fs_pool *p = &c->pool;
	pthread_t *v;

	if (p->nworkers >= NESTFS_MAX_WORKERS)
		return;
	v = realloc(p->threads, (p->nworkers + 1) * sizeof(*v));
	if (!v)
		return;
	p->threads = v;
	if (pthread_create(&p->threads[p->nworkers], NULL, worker_main, c) == 0)
		p->nworkers++;
}

/* ---- blocking calls and interrupts ---- */

void fs_block_begin(struct fs_conn *c, struct fs_waiter *w, uint64_t unique)
{
	struct fs_pool *p = &c->pool;

	w->unique = unique;
	w->thread = pthread_self();
	w->interrupted = false;
	w->active = true;
	pthread_mutex_lock(&p->mu);
	w->next = p->waiters;
	p->waiters = w;
	p->blocked++;
	/* Someone must stay free to read the stream (and the unlock that frees us). */
	if (p->blocked >= p->nworkers && !p->stopping)
		worker_spawn(c);
	pthread_mutex_unlock(&p->mu);
}

void fs_block_end(struct fs_conn *c, struct fs_waiter *w)
{
	struct fs_pool *p = &c->pool;

	pthread_mutex_lock(&p->mu);
	for (struct fs_waiter **pp = &p->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	w->active = false;
	p->blocked--;
	pthread_mutex_unlock(&p->mu);
}

/* Knock every waiter matching @unique (or all, if @all) out of its call; pool.mu held. */
static void knock(struct fs_conn *c, uint64_t unique, bool all)
{
	for (struct fs_waiter *w = c->pool.waiters; w; w = w->next) {
		if (all || w->unique == unique) {
			w->interrupted = true;
			pthread_kill(w->thread, FS_INTR_SIGNAL);
		}
	}
}

/*
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

		pthread_mutex_lock(&c->pool.mu);
		for (struct fs_waiter *w = c->pool.waiters; w; w = w->next)
			found |= w->unique == unique;
		knock(c, unique, false);
		pthread_mutex_unlock(&c->pool.mu);
		seen |= found;
		if ((!found && seen) || (!seen && tries >= 20) || c->pool.stopping)
			return;
		usleep(1000);
	}
}

/* ---- workers ---- */

/*
 * Sleep until the stream or a fellow worker has something: both fds are in
 * the connection's epoll set with EPOLLEXCLUSIVE, so new data wakes one
 * worker, not the pool. Returns false when the connection stops.
 */
static bool wait_work(struct fs_conn *c)
{
	struct epoll_event ev[2];
	int n = epoll_wait(c->pool.epfd, ev, 2, -1);

	if (n < 0 && errno != EINTR)
		return false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == 1) {
			uint64_t v;

			(void)!read(c->pool.wakefd, &v, sizeof(v));
		}
	}
	return !c->pool.stopping;
}

/*
 * Workers take turns at the stream: the one holding in.mu takes the next
 * frame and lets go, and the next worker in line takes the one after, while
 * the first works on its own.
 */
static void *worker_main(void *arg)
{
	struct fs_conn *c = arg;
	struct fs_pool *p = &c->pool;
	sigset_t set;

	/* The keeper's knock must get through whatever the caller blocked. */
	sigemptyset(&set);
	sigaddset(&set, FS_INTR_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (pt_thread_init() < 0)
		nb_debug("nestfs: worker: unshare(CLONE_FS): %s: creations keep the process's umask",
			 strerror(errno));
	for (;;) {
		struct fs_req *r;
		bool again, more;

		/* Room for one more answer first: else the frame stays in the socket. */
		if (!fs_out_reserve(c))
			break;
		pthread_mutex_lock(&c->in.mu);
		r = fs_next_request(c, &again);
		more = r && fs_frame_buffered(c);
		pthread_mutex_unlock(&c->in.mu);
		if (!r) {
			fs_noreply(c);	/* the reservation: no request came */
			if (again && wait_work(c))
				continue;
			break;
		}
		/* More frames came in the same read: wake one more worker for them. */
		if (more)
			(void)!write(p->wakefd, &(uint64_t){ 1 }, sizeof(uint64_t));
		fs_dispatch(c, r);
		free(r);
	}
	pthread_mutex_lock(&p->mu);
	p->exited++;
	p->stopping = true;
	pthread_cond_broadcast(&p->stopped);
	pthread_mutex_unlock(&p->mu);
	fs_out_wake(c);
	return NULL;
}

/*
 * Knock every worker out of whatever blocking call it is in (a read of the
 * stream, a write to a peer that stopped reading, a lock wait), until all
 * have left: a knock can land just before a call starts, so repeat.
 */
static void workers_knock(struct fs_conn *c)
{
	struct fs_pool *p = &c->pool;

	(void)!write(p->stopfd, &(uint64_t){ 1 }, sizeof(uint64_t));
	for (int tries = 0; tries < 5000; tries++) {
		bool all;

		pthread_mutex_lock(&p->mu);
		knock(c, 0, true);
		all = p->exited >= p->nworkers;
		for (unsigned i = 0; !all && i < p->nworkers; i++)
			pthread_kill(p->threads[i], FS_INTR_SIGNAL);
		pthread_mutex_unlock(&p->mu);
		if (all)
			break;
		usleep(1000);
	}
}

/* Join every worker (the pool may still grow while we join: re-read the count). */
static void workers_join(struct fs_conn *c)
{
	struct fs_pool *p = &c->pool;

	for (;;) {
		unsigned n;

		pthread_mutex_lock(&p->mu);
		n = p->nworkers;
		pthread_mutex_unlock(&p->mu);
		if (!n)
			break;
		pthread_join(p->threads[n - 1], NULL);
		pthread_mutex_lock(&p->mu);
		p->nworkers--;
		pthread_mutex_unlock(&p->mu);
	}
}

/* The connection's keeper: waits for the workers to finish, then frees what they held. */
static void *keeper_main(void *arg)
{
	struct fs_conn *c = arg;
	struct fs_pool *p = &c->pool;

	pthread_mutex_lock(&p->mu);
	while (!p->stopping)
		pthread_cond_wait(&p->stopped, &p->mu);
	pthread_mutex_unlock(&p->mu);
	workers_knock(c);
	workers_join(c);
	fs_conn_release(c);
	pthread_mutex_lock(&c->srv->mu);
	c->done = true;
	pthread_mutex_unlock(&c->srv->mu);
	return NULL;
}

int fs_pool_start(struct fs_conn *c)
{
	struct fs_pool *p = &c->pool;

	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < c->srv->o.threads; i++)
		worker_spawn(c);
	pthread_mutex_unlock(&p->mu);
	if (p->nworkers == 0 || pthread_create(&c->keeper, NULL, keeper_main, c) != 0) {
		fs_conn_stop(c);
		workers_knock(c);
		workers_join(c);
		return -EAGAIN;
	}
	return 0;
}
