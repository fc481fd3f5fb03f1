/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/ctlread: receive buffer and frame dispatch of a control stream (see
 * ctlread.h). @off marks the frames already dispatched: it moves past a
 * frame before its callback runs, so a callback that stops the loop leaves
 * the reader consistent, and the buffer is compacted only when more bytes
 * come in (a payload handed to a callback stays where it is until then). */
#include "box/ctlread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* nb_ctlread_init() - see ctlread.h */
void nb_ctlread_init(struct nb_ctlread *r, const struct nb_ctlread_ops *ops, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->ops = ops;
	r->ctx = ctx;
}

/* Move the undispatched bytes to the front. */
static void compact(struct nb_ctlread *r)
{
	if (!r->off)
		return;
	memmove(r->buf, r->buf + r->off, r->len - r->off);
	r->len -= r->off;
	r->off = 0;
}

/* Room for at least NB_CTLREAD_MIN_ROOM more bytes; 0 or -ENOMEM. */
static int ensure_room(struct nb_ctlread *r)
{
	uint8_t *d;

	compact(r);
	if (r->cap - r->len >= NB_CTLREAD_MIN_ROOM)
		return 0;
	d = realloc(r->buf, r->cap + NB_CTLREAD_STEP);
	if (!d)
		return -ENOMEM;
	r->buf = d;
	r->cap += NB_CTLREAD_STEP;
	return 0;
}

/* Hand one frame to its callback; the callback's value. */
static int deliver(struct nb_ctlread *r, const struct nb_ctl_frame *f)
{
	const struct nb_ctlread_ops *ops = r->ops;
	struct nb_ctl_cur c;
	const char *str;
	uint64_t ns;
	uint32_t v;

	nb_ctl_cur_init(&c, f);
	switch ((enum nb_ctl_type)f->type) {
	case NB_CTL_PHASE:
		if (!ops->phase)
			break;
		if (nb_ctl_get_u32(&c, &v) < 0 || nb_ctl_get_u64(&c, &ns) < 0 || v < 1 ||
		    v > NB_PHASE_MAX)
			return 0; /* an unknown phase says nothing we can use */
		return ops->phase(r->ctx, v, ns);
	case NB_CTL_DATA:
		if (!ops->data)
			break;
		return ops->data(r->ctx, f);
	case NB_CTL_EXIT:
		if (!ops->exit)
			break;
		if (nb_ctl_get_u32(&c, &v) < 0 || nb_ctl_get_str(&c, &str) < 0)
			return 0;
		return ops->exit(r->ctx, f, v, str);
	case NB_CTL_ERROR:
		if (!ops->error)
			break;
		return ops->error(r->ctx, nb_ctl_get_str(&c, &str) == 0 ? str : NULL);
	case NB_CTL_CONFIG:
	case NB_CTL_SPAWN:
	case NB_CTL_WINSIZE:
	case NB_CTL_SIGNAL:
	case NB_CTL_SHUTDOWN:
		break;
	}
	return ops->frame ? ops->frame(r->ctx, f) : 0;
}

/* Dispatch every whole frame in the buffer. */
static int dispatch(struct nb_ctlread *r)
{
	while (r->off < r->len) {
		struct nb_ctl_frame f;
		int n = nb_ctl_parse(r->buf + r->off, r->len - r->off, &f);
		int rc;

		if (n < 0) {
			/* No way to find the next frame's start: drop what we have. */
			r->len = r->off = 0;
			return -EPROTO;
		}
		if (n == 0)
			break;
		r->off += (size_t)n;
		rc = deliver(r, &f);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* nb_ctlread_read() - see ctlread.h */
ssize_t nb_ctlread_read(struct nb_ctlread *r, int fd)
{
	ssize_t n;
	int rc = dispatch(r); /* what a stopped callback left */

	if (rc < 0)
		return rc;
	if (ensure_room(r) < 0)
		return -ENOMEM;
	n = read(fd, r->buf + r->len, r->cap - r->len);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	r->len += (size_t)n;
	rc = dispatch(r);
	return rc < 0 ? rc : n;
}

/* nb_ctlread_feed() - see ctlread.h */
int nb_ctlread_feed(struct nb_ctlread *r, const void *bytes, size_t len)
{
	const uint8_t *p = bytes;
	int rc = dispatch(r); /* what a stopped callback left */

	if (rc < 0)
		return rc;
	while (len) {
		size_t take;

		if (ensure_room(r) < 0)
			return -ENOMEM;
		take = r->cap - r->len < len ? r->cap - r->len : len;
		memcpy(r->buf + r->len, p, take);
		r->len += take;
		p += take;
		len -= take;
		rc = dispatch(r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* nb_ctlread_pending() - see ctlread.h */
size_t nb_ctlread_pending(const struct nb_ctlread *r)
{
	return r->len - r->off;
}

/* nb_ctlread_free() - see ctlread.h */
void nb_ctlread_free(struct nb_ctlread *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = r->off = 0;
}
