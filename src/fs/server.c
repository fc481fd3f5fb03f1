/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: the server and the life of its connections.
 *
 * Theory of operation
 * -------------------
 * A connection is any stream fd. The frames on it are Linux FUSE ABI
 * messages: a request is struct fuse_in_header + body, a reply is struct
 * fuse_out_header + body, and each header's len frames it. The peer (the
 * client pump, usually inside a guest) is untrusted.
 *
 * A connection (conn.h) is its stream, read and written by stream.c; its
 * pool of workers, which read, run and answer requests themselves
 * (pool.c); and its tables (tables.h: inode.c, handle.c, plock.c), which
 * stand between the peer's node ids and fhs and the host's file
 * descriptors. Requests are decoded by dispatch.c into the operations by
 * family (op_*.c), which do their host system calls through the
 * passthrough layer (pt_*.c).
 *
 * This file makes and frees the server and its connections: a connection's
 * keeper thread (pool.c) releases what it held when it ends; the server
 * reaps finished connections as new ones come, and joins the rest when it
 * is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/conn.h"
#include "lib/cleanup.h"

void fs_conn_release(struct fs_conn *c)
{
	fs_tables_free(&c->t);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Free a connection no thread uses any more (after fs_conn_release()). */
static void conn_destroy(struct fs_conn *c)
{
	fs_pool_free(c);
	fs_stream_free(c);
	free(c);
}

/* A connection on @fd (owned from now on; -1: replies are discarded) with its root inode,
 * no thread started; NULL with @e set. */
static struct fs_conn *conn_new(struct nestfs_server *s, int fd, struct nb_err *e)
{
	struct fs_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c) {
		if (fd >= 0)
			close(fd);
		nb_err_set(e, ENOMEM, "nestfs: out of memory");
		return NULL;
	}
	c->srv = s;
	c->fd = fd;
	c->pool.stopfd = c->pool.epfd = c->pool.wakefd = -1;
	rc = fs_stream_init(c);
	if (rc == 0)
		rc = fs_pool_init(c);
	if (rc < 0) {
		nb_err_sys(e, -rc, "nestfs: connection fd %d", fd);
		goto fail;
	}
	rc = fs_tables_init(&c->t, s->root_fd, s->o.read_only);
	if (rc < 0) {
		nb_err_sys(e, -rc, "nestfs: root inode");
		goto fail;
	}
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	conn_destroy(c);
	return NULL;
}

/* Join and free connections whose keeper finished (srv->mu not held). */
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
		pthread_join(c->keeper, NULL);
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
	if (!c)
		return -(e && e->code ? e->code : ENOMEM);
	rc = fs_pool_start(c);
	if (rc < 0) {
		rc = nb_err_set(e, -rc, "nestfs: cannot start threads");
		fs_conn_release(c);
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
	autoclose int fd = -1;
	struct nestfs_server *s;
	struct stat st;

	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		nb_err_sys(e, errno, "nestfs: export %s", dir);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		nb_err_set(e, ENOTDIR, "nestfs: export %s: not a directory", dir);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		nb_err_set(e, ENOMEM, "nestfs: out of memory");
		return NULL;
	}
	s->root_fd = steal_fd(&fd);
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
	fs_pool_signal_setup();
	raise_nofile();
	return s;
}

void nestfs_server_free(struct nestfs_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	for (struct fs_conn *c = s->conns; c; c = c->next)
		fs_conn_stop(c);
	pthread_mutex_unlock(&s->mu);
	while (s->conns) {
		struct fs_conn *c = s->conns;

		s->conns = c->next;
		pthread_join(c->keeper, NULL);
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
	c->pool.stopping = true;	/* nothing may block: SETLKW is knocked at once */
	while (len - off >= sizeof(struct fuse_in_header)) {
		uint32_t flen;
		struct fs_req *r;

		memcpy(&flen, p + off, sizeof(flen));
		if (!fs_frame_len_ok(flen) || flen > len - off)
			break;
		r = fs_req_new(p + off, flen, flen);
		if (!r)
			break;
		off += flen;
		c->out.inflight++;
		fs_dispatch(c, r);
		free(r);
	}
	fs_conn_release(c);
	conn_destroy(c);
}
