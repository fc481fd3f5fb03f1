/* SPDX-License-Identifier: GPL-2.0-or-later */
/* err: fill, wrap and clear struct nb_err. */
#include "lib/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Write "a: b" into @dst, truncating quietly: messages are for people. */
static void join(char *dst, size_t len, const char *a, const char *b)
{
	size_t na = strnlen(a, len - 1), nb;

	memmove(dst, a, na);
	if (na + 2 < len) {
		dst[na++] = ':';
		dst[na++] = ' ';
	}
	nb = strnlen(b, len - 1 - na);
	memmove(dst + na, b, nb);
	dst[na + nb] = '\0';
}

/* A positive errno value from either sign of it; EIO for 0. */
static int abs_code(int code)
{
	if (code < 0)
		code = -code;
	return code ? code : EIO;
}

/* nb_err_set() - see err.h */
int nb_err_set(struct nb_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	code = abs_code(code);
	if (!e)
		return -code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -code;
}

/* nb_err_sys() - see err.h */
int nb_err_sys(struct nb_err *e, int code, const char *fmt, ...)
{
	char what[NB_ERR_MSG_MAX];
	va_list ap;

	code = abs_code(code);
	if (!e)
		return -code;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	e->code = code;
	join(e->msg, sizeof(e->msg), what, strerror(code));
	return -code;
}

/* nb_err_wrap() - see err.h */
int nb_err_wrap(struct nb_err *e, const char *fmt, ...)
{
	char ctx[NB_ERR_MSG_MAX], old[NB_ERR_MSG_MAX];
	va_list ap;

	if (!e)
		return -EIO;
	if (!e->code)
		e->code = EIO;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	if (old[0])
		join(e->msg, sizeof(e->msg), ctx, old);
	else
		snprintf(e->msg, sizeof(e->msg), "%s", ctx);
	return -e->code;
}

/* nb_err_clear() - see err.h */
void nb_err_clear(struct nb_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}
