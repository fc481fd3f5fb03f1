/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: a connection's stream, frames in and replies out.
 *
 * Read side: the worker holding in.mu reads what the stream has (many
 * frames per read when busy) into a buffer and takes one frame off it; a
 * frame too big for the buffer (a 1 MiB WRITE) is read straight into its
 * request. A header whose length is below the header size or above
 * NESTFS_MAX_FRAME ends the connection: the stream can no longer be framed.
 *
 * Write side: replies leave in any order (the peer matches them by unique).
 * They are queued; the first worker to find no writer active becomes the
 * writer and sends everything queued, as one writev of many replies, until
 * the queue is empty ("flat combining"): the stream sees batched writes,
 * and no worker waits for another's write to finish.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/conn.h"
#include "fs/stopwait.h"
#include "lib/log.h"

#define RBUF_SIZE (256u * 1024u)
#define WRITE_BATCH 64

int fs_stream_init(struct fs_conn *c)
{
	pthread_mutex_init(&c->in.mu, NULL);
	pthread_mutex_init(&c->out.mu, NULL);
	pthread_cond_init(&c->out.room, NULL);
	if (c->fd >= 0 && !(c->in.buf = malloc(RBUF_SIZE)))
		return -ENOMEM;
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

void fs_stream_free(struct fs_conn *c)
{
	free_replies(c->out.head);
	c->out.head = c->out.tail = NULL;
	free(c->in.buf);
	c->in.buf = NULL;
	pthread_mutex_destroy(&c->in.mu);
	pthread_mutex_destroy(&c->out.mu);
	pthread_cond_destroy(&c->out.room);
}

/* ---- frames in ---- */

/* Read some bytes: >0, 0 at EOF, -errno (-EPIPE when told to stop). */
static ssize_t read_some(struct fs_conn *c, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(c->fd, buf, len);
		int rc;

		if (n >= 0)
			return n;
		if (errno == EINTR) {
			if (c->pool.stopping)
				return -EPIPE;
			continue;
		}
		if (errno != EAGAIN)
			return -errno;
		rc = nestfs_wait_fd(c->fd, POLLIN, c->pool.stopfd);
		if (rc < 0)
			return rc;
	}
}

bool fs_frame_len_ok(uint32_t len)
{
	return len >= sizeof(struct fuse_in_header) && len <= NESTFS_MAX_FRAME;
}

struct fs_req *fs_req_new(const void *data, uint32_t have, uint32_t len)
{
	struct fs_req *r = malloc(sizeof(*r) + len);

	if (!r)
		return NULL;
	r->next = NULL;
	r->len = len;
	memcpy(r->data, data, have);
	return r;
}

bool fs_frame_buffered(const struct fs_conn *c)
{
	size_t avail = c->in.have - c->in.off;
	uint32_t len;

	if (avail < sizeof(struct fuse_in_header))
		return false;
	memcpy(&len, c->in.buf + c->in.off, sizeof(len));
	return !fs_frame_len_ok(len) || avail >= len;	/* a bad one is "there" too */
}

/*
 * Serves frames already in the buffer first; reads (without blocking) only
 * when it holds no whole frame. At EOF, on error or on a bad frame, in.eof
 * is set and the connection winds down.
 */
struct fs_req *fs_next_request(struct fs_conn *c, bool *again)
{
	struct fs_in *in = &c->in;

	*again = false;
	for (;;) {
		size_t avail = in->have - in->off;
		struct fs_req *r;
		uint32_t len;
		ssize_t n;

		if (in->eof)
			return NULL;
		if (avail >= sizeof(struct fuse_in_header)) {
			memcpy(&len, in->buf + in->off, sizeof(len));
			if (!fs_frame_len_ok(len)) {
				nb_debug("nestfs: connection %d: bad frame length %u", c->fd, len);
				break;
			}
			if (avail >= len) {
				r = fs_req_new(in->buf + in->off, len, len);
				in->off += len;
				if (!r)
					break;
				return r;
			}
			if (len > RBUF_SIZE / 2) {
				/* Big frame (a 1 MiB write): read the rest straight into it. */
				uint32_t part = (uint32_t)avail;

				r = fs_req_new(in->buf + in->off, part, len);
				in->off = in->have = 0;
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
		memmove(in->buf, in->buf + in->off, avail);
		in->have = avail;
		in->off = 0;
		n = read(c->fd, in->buf + in->have, RBUF_SIZE - in->have);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (c->pool.stopping)
				break;
			*again = true;
			return NULL;
		}
		if (n <= 0) {
			if (n < 0)
				nb_debug("nestfs: connection %d: read: %s", c->fd, strerror(errno));
			break;
		}
		in->have += (size_t)n;
	}
	in->eof = true;
	return NULL;
}

/* ---- replies out ---- */

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

/*
 * Workers take requests only while the replies not yet written stay under
 * the caps: a peer that sends but stops reading ends up with its requests
 * waiting in its own socket, not with our memory.
 */
bool fs_out_reserve(struct fs_conn *c)
{
	struct fs_out *out = &c->out;
	bool ok;

	pthread_mutex_lock(&out->mu);
	while (!c->pool.stopping &&
	       (out->inflight >= NESTFS_MAX_INFLIGHT || out->queued >= NESTFS_MAX_QUEUED)) {
		out->waiting++;
		pthread_cond_wait(&out->room, &out->mu);
		out->waiting--;
	}
	ok = !c->pool.stopping;
	if (ok)
		out->inflight++;
	pthread_mutex_unlock(&out->mu);
	return ok;
}

void fs_out_wake(struct fs_conn *c)
{
	pthread_mutex_lock(&c->out.mu);
	pthread_cond_broadcast(&c->out.room);
	pthread_mutex_unlock(&c->out.mu);
}

/* Retire @n answered requests whose replies took @bytes (out.mu held). */
static void out_done(struct fs_out *out, unsigned n, size_t bytes)
{
	out->inflight = out->inflight > n ? out->inflight - n : 0;
	out->queued = out->queued > bytes ? out->queued - bytes : 0;
	if (out->waiting && out->inflight < NESTFS_MAX_INFLIGHT && out->queued < NESTFS_MAX_QUEUED)
		pthread_cond_broadcast(&out->room);
}

void fs_noreply(struct fs_conn *c)
{
	pthread_mutex_lock(&c->out.mu);
	out_done(&c->out, 1, 0);
	pthread_mutex_unlock(&c->out.mu);
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
					if (c->pool.stopping)
						return -EPIPE;
					continue;
				}
				if (err == EAGAIN) {
					int rc = nestfs_wait_fd(c->fd, POLLOUT, c->pool.stopfd);

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

/* How many replies @r holds, and their bytes in *@bytes. */
static unsigned count_replies(const struct fs_reply *r, size_t *bytes)
{
	unsigned n = 0;

	*bytes = 0;
	for (; r; r = r->next) {
		*bytes += r->len;
		n++;
	}
	return n;
}

void fs_reply_send(struct fs_conn *c, struct fs_reply *r)
{
	struct fs_out *out = &c->out;
	struct fs_reply *list;

	if (!r)
		return;
	pthread_mutex_lock(&out->mu);
	if (c->fd < 0 || out->broken) {
		out_done(out, 1, 0);
		pthread_mutex_unlock(&out->mu);
		free(r);
		return;
	}
	out->queued += r->len;
	if (out->tail)
		out->tail->next = r;
	else
		out->head = r;
	out->tail = r;
	if (out->writing) {
		pthread_mutex_unlock(&out->mu);
		return;
	}
	out->writing = true;
	while ((list = out->head)) {
		size_t bytes;
		unsigned n;
		int rc;

		out->head = out->tail = NULL;
		pthread_mutex_unlock(&out->mu);
		n = count_replies(list, &bytes);
		rc = out->broken ? -EPIPE : write_replies(c, list);
		free_replies(list);
		pthread_mutex_lock(&out->mu);
		out_done(out, n, bytes);
		if (rc < 0 && !out->broken) {
			out->broken = true;
			nb_debug("nestfs: connection %d: write: %s", c->fd, strerror(-rc));
			/* A peer we cannot answer is gone: end the connection. */
			pthread_mutex_unlock(&out->mu);
			fs_conn_stop(c);
			pthread_mutex_lock(&out->mu);
		}
	}
	out->writing = false;
	pthread_mutex_unlock(&out->mu);
}

void fs_reply_err(struct fs_conn *c, uint64_t unique, int err)
{
	struct fs_reply *r = fs_reply_new(unique, 0);

	if (!r) {
		fs_noreply(c);
		return;
	}
	((struct fuse_out_header *)(void *)r->data)->error = -err;
	if (err)
		nb_debug("nestfs: %d: request %llu: %s", c->fd, (unsigned long long)unique,
			 strerror(err));
	fs_reply_send(c, r);
}

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
