/* SPDX-License-Identifier: GPL-2.0-or-later */
/* err: the one error convention of nestbox (docs/HACKING.md).
 * Owns struct nb_err and the helpers that fill, wrap and print it. */
#ifndef NESTBOX_LIB_ERR_H
#define NESTBOX_LIB_ERR_H

#include <stddef.h>

#define NB_ERR_MSG_MAX 1024

/**
 * struct nb_err - why a fallible function failed
 * @code:	positive errno value (EINVAL, ENOENT, ...), 0 while no error
 * @msg:	human sentence naming the object: "open /dev/kvm: Permission denied"
 *
 * Fallible functions take a struct nb_err * as their last argument and
 * return a negative errno (-code) on failure, >= 0 on success. Callers that
 * add context wrap: nb_err_wrap(e, "pull %s", ref) turns "x: y" into
 * "pull REF: x: y".
 */
struct nb_err {
	int code;
	char msg[NB_ERR_MSG_MAX];
};

#define NB_ERR_INIT { 0, { 0 } }

/**
 * nb_err_set() - record an error
 * @e:		error to fill (may be NULL: then only the return value matters)
 * @code:	positive errno value (its sign is ignored)
 * @fmt:	message naming the object and the reason
 *
 * Return: -code, so that "return nb_err_set(e, EINVAL, ...)" reads naturally
 */
int nb_err_set(struct nb_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * nb_err_sys() - record an error from errno, appending strerror(code)
 * @e:		error to fill (may be NULL)
 * @code:	positive errno value, usually errno
 * @fmt:	what was being done: "open %s"
 *
 * Return: -code
 */
int nb_err_sys(struct nb_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * nb_err_wrap() - prefix an existing error with context
 * @e:		error already set by a callee (may be NULL)
 * @fmt:	context: "boot %s"
 *
 * Return: -e->code (or -EIO if @e holds no code)
 */
int nb_err_wrap(struct nb_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* nb_err_clear() - forget a recorded error */
void nb_err_clear(struct nb_err *e);

#endif
