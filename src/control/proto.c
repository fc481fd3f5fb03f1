/* SPDX-License-Identifier: GPL-2.0-or-later */
/* control: frame encoder and length-checked decoder (see proto.h). */
#include "control/proto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"

/* Little-endian u16 at @p. */
static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Little-endian u32 at @p. */
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* nb_ctl_parse() - see proto.h */
int nb_ctl_parse(const uint8_t *buf, size_t len, struct nb_ctl_frame *f)
{
	uint32_t plen;

	if (len < NB_CTL_HDR_LEN)
		return 0;
	plen = rd32(buf);
	if (plen > NB_CTL_MAX_PAYLOAD || buf[4] < NB_CTL_PHASE || buf[4] > NB_CTL_ERROR)
		return -EPROTO;
	if (len - NB_CTL_HDR_LEN < plen)
		return 0;
	f->len = plen;
	f->type = buf[4];
	f->stream = buf[5];
	f->proc = rd16(buf + 6);
	f->payload = buf + NB_CTL_HDR_LEN;
	return (int)(NB_CTL_HDR_LEN + plen);
}

/* nb_ctl_cur_init() - see proto.h */
void nb_ctl_cur_init(struct nb_ctl_cur *c, const struct nb_ctl_frame *f)
{
	c->p = f->payload;
	c->left = f->len;
	c->bad = false;
}

/* The next @n bytes of the payload, or NULL (and @c marked bad) when fewer are
 * left. */
static const uint8_t *take(struct nb_ctl_cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->bad || c->left < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->left -= n;
	return p;
}

/* nb_ctl_get_u16() - see proto.h */
int nb_ctl_get_u16(struct nb_ctl_cur *c, uint16_t *v)
{
	const uint8_t *p = take(c, 2);

	if (!p)
		return -EPROTO;
	*v = rd16(p);
	return 0;
}

/* nb_ctl_get_u32() - see proto.h */
int nb_ctl_get_u32(struct nb_ctl_cur *c, uint32_t *v)
{
	const uint8_t *p = take(c, 4);

	if (!p)
		return -EPROTO;
	*v = rd32(p);
	return 0;
}

/* nb_ctl_get_u64() - see proto.h */
int nb_ctl_get_u64(struct nb_ctl_cur *c, uint64_t *v)
{
	const uint8_t *p = take(c, 8);

	if (!p)
		return -EPROTO;
	*v = (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
	return 0;
}

/* nb_ctl_get_str() - see proto.h */
int nb_ctl_get_str(struct nb_ctl_cur *c, const char **s)
{
	uint32_t n;
	const uint8_t *p;

	if (nb_ctl_get_u32(c, &n) < 0 || n == 0 || !(p = take(c, n)))
		goto bad;
	if (p[n - 1] != 0 || memchr(p, 0, n - 1))
		goto bad;
	*s = (const char *)p;
	return 0;
bad:
	c->bad = true;
	return -EPROTO;
}

/* nb_ctl_decode_config() - see proto.h */
int nb_ctl_decode_config(const struct nb_ctl_frame *f, struct nb_ctl_config *cfg)
{
	struct nb_ctl_cur c;

	memset(cfg, 0, sizeof(*cfg));
	if (f->type != NB_CTL_CONFIG)
		return -EPROTO;
	nb_ctl_cur_init(&c, f);
	nb_ctl_get_str(&c, &cfg->hostname);
	nb_ctl_get_u32(&c, &cfg->net);
	if (nb_ctl_get_u32(&c, &cfg->nshares) < 0 || cfg->nshares > NB_MAX_SHARES)
		return -EPROTO;
	for (uint32_t i = 0; i < cfg->nshares; i++) {
		nb_ctl_get_str(&c, &cfg->shares[i].port);
		nb_ctl_get_str(&c, &cfg->shares[i].target);
		nb_ctl_get_u32(&c, &cfg->shares[i].flags);
	}
	return c.bad || c.left ? -EPROTO : 0;
}

/* A counted string vector: a malloc'd NULL-terminated array of pointers into
 * the payload. clang-analyzer 14 does not model the cleanup attribute: its
 * leak reports in here are false. */
/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
static int get_strv(struct nb_ctl_cur *c, char ***out)
{
	uint32_t n;
	autofree char **v = NULL;

	if (nb_ctl_get_u32(c, &n) < 0 || n > NB_CTL_MAX_STRINGS || n > c->left / 5)
		return -EPROTO;
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const char *s;

		if (nb_ctl_get_str(c, &s) < 0)
			return -EPROTO;
		v[i] = (char *)s;
	}
	*out = steal_pointer(&v);
	return 0;
}
/* NOLINTEND(clang-analyzer-unix.Malloc) */

/* nb_ctl_decode_spawn() - see proto.h */
int nb_ctl_decode_spawn(const struct nb_ctl_frame *f, struct nb_ctl_spawn *sp)
{
	struct nb_ctl_cur c;
	int r;

	memset(sp, 0, sizeof(*sp));
	if (f->type != NB_CTL_SPAWN)
		return -EPROTO;
	nb_ctl_cur_init(&c, f);
	nb_ctl_get_u32(&c, &sp->flags);
	nb_ctl_get_u16(&c, &sp->rows);
	nb_ctl_get_u16(&c, &sp->cols);
	nb_ctl_get_str(&c, &sp->cwd);
	if (nb_ctl_get_str(&c, &sp->user) < 0)
		return -EPROTO;
	r = get_strv(&c, &sp->argv);
	if (r < 0)
		return r;
	r = get_strv(&c, &sp->env);
	if (r < 0 || c.left || !sp->argv[0]) {
		nb_ctl_spawn_free(sp);
		return r < 0 ? r : -EPROTO;
	}
	return 0;
}

/* nb_ctl_spawn_free() - see proto.h */
void nb_ctl_spawn_free(struct nb_ctl_spawn *sp)
{
	free(sp->argv);
	free(sp->env);
	sp->argv = sp->env = NULL;
}

/* Room for @n more bytes in @b; false (and @b->oom set) when it cannot grow. */
static bool reserve(struct nb_ctl_buf *b, size_t n)
{
	size_t cap;
	uint8_t *d;

	if (b->oom)
		return false;
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d) {
		b->oom = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

/* Little-endian u16 @v to @p. */
static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Little-endian u32 @v to @p. */
static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* nb_ctl_put_frame() - see proto.h */
void nb_ctl_put_frame(struct nb_ctl_buf *b, uint8_t type, uint8_t stream, uint16_t proc,
		      const void *payload, size_t len)
{
	uint8_t *h;

	if (len > NB_CTL_MAX_PAYLOAD) {
		b->oom = true;
		return;
	}
	if (!reserve(b, NB_CTL_HDR_LEN + len))
		return;
	h = b->data + b->len;
	wr32(h, (uint32_t)len);
	h[4] = type;
	h[5] = stream;
	wr16(h + 6, proc);
	if (len)
		memcpy(h + NB_CTL_HDR_LEN, payload, len);
	b->len += NB_CTL_HDR_LEN + len;
}

/* A payload under construction: fields appended to a scratch buffer. */
struct pl {
	struct nb_ctl_buf b; /* the payload's bytes so far */
};

/* Append a u16 to the payload. */
static void pl_u16(struct pl *p, uint16_t v)
{
	if (reserve(&p->b, 2)) {
		wr16(p->b.data + p->b.len, v);
		p->b.len += 2;
	}
}

/* Append a u32 to the payload. */
static void pl_u32(struct pl *p, uint32_t v)
{
	if (reserve(&p->b, 4)) {
		wr32(p->b.data + p->b.len, v);
		p->b.len += 4;
	}
}

/* Append a string (u32 length with the NUL, the bytes, the NUL). */
static void pl_str(struct pl *p, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > NB_CTL_MAX_PAYLOAD) {
		p->b.oom = true;
		return;
	}
	pl_u32(p, (uint32_t)n);
	if (reserve(&p->b, n)) {
		memcpy(p->b.data + p->b.len, s, n);
		p->b.len += n;
	}
}

/* Append a NULL-terminated string array: u32 count, then each string. */
static void pl_strv(struct pl *p, char *const *v)
{
	uint32_t n = 0;

	while (v && v[n])
		n++;
	pl_u32(p, n);
	for (uint32_t i = 0; i < n; i++)
		pl_str(p, v[i]);
}

/* Queue the payload as one frame of @type for @proc on @b (or mark @b oom), and
 * free it. */
static void pl_emit(struct nb_ctl_buf *b, struct pl *p, uint8_t type, uint16_t proc)
{
	if (p->b.oom)
		b->oom = true;
	else
		nb_ctl_put_frame(b, type, 0, proc, p->b.data, p->b.len);
	nb_ctl_buf_free(&p->b);
}

/* nb_ctl_put_phase() - see proto.h */
void nb_ctl_put_phase(struct nb_ctl_buf *b, uint32_t phase, uint64_t ns)
{
	struct pl p = { 0 };

	pl_u32(&p, phase);
	pl_u32(&p, (uint32_t)ns);
	pl_u32(&p, (uint32_t)(ns >> 32));
	pl_emit(b, &p, NB_CTL_PHASE, 0);
}

/* nb_ctl_put_u32() - see proto.h */
void nb_ctl_put_u32(struct nb_ctl_buf *b, uint8_t type, uint16_t proc, uint32_t v)
{
	uint8_t d[4];

	wr32(d, v);
	nb_ctl_put_frame(b, type, 0, proc, d, sizeof(d));
}

/* nb_ctl_put_winsize() - see proto.h */
void nb_ctl_put_winsize(struct nb_ctl_buf *b, uint16_t proc, uint16_t rows, uint16_t cols)
{
	uint8_t d[4];

	wr16(d, rows);
	wr16(d + 2, cols);
	nb_ctl_put_frame(b, NB_CTL_WINSIZE, 0, proc, d, sizeof(d));
}

/* nb_ctl_put_exit() - see proto.h */
void nb_ctl_put_exit(struct nb_ctl_buf *b, uint16_t proc, uint32_t code, const char *msg)
{
	struct pl p = { 0 };

	pl_u32(&p, code);
	pl_str(&p, msg ? msg : "");
	pl_emit(b, &p, NB_CTL_EXIT, proc);
}

/* nb_ctl_put_error() - see proto.h */
void nb_ctl_put_error(struct nb_ctl_buf *b, const char *msg)
{
	struct pl p = { 0 };

	pl_str(&p, msg);
	pl_emit(b, &p, NB_CTL_ERROR, 0);
}

/* nb_ctl_put_config() - see proto.h */
void nb_ctl_put_config(struct nb_ctl_buf *b, const struct nb_ctl_config *cfg)
{
	struct pl p = { 0 };

	pl_str(&p, cfg->hostname ? cfg->hostname : "nestbox");
	pl_u32(&p, cfg->net);
	pl_u32(&p, cfg->nshares);
	for (uint32_t i = 0; i < cfg->nshares && i < NB_MAX_SHARES; i++) {
		pl_str(&p, cfg->shares[i].port);
		pl_str(&p, cfg->shares[i].target);
		pl_u32(&p, cfg->shares[i].flags);
	}
	pl_emit(b, &p, NB_CTL_CONFIG, 0);
}

/* nb_ctl_put_spawn() - see proto.h */
void nb_ctl_put_spawn(struct nb_ctl_buf *b, uint16_t proc, const struct nb_ctl_spawn *sp)
{
	struct pl p = { 0 };

	pl_u32(&p, sp->flags);
	pl_u16(&p, sp->rows);
	pl_u16(&p, sp->cols);
	pl_str(&p, sp->cwd ? sp->cwd : "");
	pl_str(&p, sp->user ? sp->user : "");
	pl_strv(&p, sp->argv);
	pl_strv(&p, sp->env);
	pl_emit(b, &p, NB_CTL_SPAWN, proc);
}

/* nb_ctl_buf_consume() - see proto.h */
void nb_ctl_buf_consume(struct nb_ctl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* nb_ctl_buf_flush() - see proto.h */
int nb_ctl_buf_flush(struct nb_ctl_buf *b, int fd, int wait_ms)
{
	while (b->len) {
		ssize_t n = write(fd, b->data, b->len);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = errno;

		if (n > 0) {
			nb_ctl_buf_consume(b, (size_t)n);
			continue;
		}
		if (n < 0 && err == EINTR)
			continue;
		if (n < 0 && err == EAGAIN) {
			if (wait_ms <= 0)
				return -EAGAIN;
			/* The peer may be gone for good: do not wait forever. */
			if (poll(&p, 1, wait_ms) > 0)
				continue;
			err = ETIMEDOUT;
		}
		/* The stream is closed (or stuck): nobody to tell. */
		b->len = 0;
		return n == 0 ? -EPIPE : -err;
	}
	return 0;
}

/* nb_ctl_buf_free() - see proto.h */
void nb_ctl_buf_free(struct nb_ctl_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

/* nb_ctl_phase_name() - see proto.h */
const char *nb_ctl_phase_name(uint32_t phase)
{
	switch (phase) {
	case NB_PHASE_INIT:
		return "init";
	case NB_PHASE_MODULES:
		return "modules";
	case NB_PHASE_ROOT:
		return "root";
	case NB_PHASE_COMMAND:
		return "command";
	default:
		return "unknown";
	}
}
