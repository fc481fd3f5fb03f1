/* SPDX-License-Identifier: GPL-2.0-or-later */
/* strv: NULL-terminated string vectors (see strv.h). */
#include "lib/strv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* nb_strv_free() - see strv.h */
void nb_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* Take ownership of @s (malloc'd) as the last entry; frees it on failure. */
static int strv_push(struct nb_strv *sv, char *s)
{
	if (!s || sv->oom)
		goto oom;
	if (sv->n + 2 > sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 8;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (!v)
			goto oom;
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
	return 0;
oom:
	free(s);
	sv->oom = true;
	return -ENOMEM;
}

/* nb_strv_add() - see strv.h */
int nb_strv_add(struct nb_strv *sv, const char *s)
{
	return strv_push(sv, sv->oom ? NULL : strdup(s));
}

/* nb_strv_addf() - see strv.h */
int nb_strv_addf(struct nb_strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	if (sv->oom)
		return -ENOMEM;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return strv_push(sv, n < 0 ? NULL : s);
}

/* nb_strv_setenv() - see strv.h */
int nb_strv_setenv(struct nb_strv *sv, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < sv->n; i++) {
		if (strncmp(sv->v[i], kv, klen) == 0 && sv->v[i][klen] == '=') {
			char *d = strdup(kv);

			if (!d) {
				sv->oom = true;
				return -ENOMEM;
			}
			free(sv->v[i]);
			sv->v[i] = d;
			return 0;
		}
	}
	return nb_strv_add(sv, kv);
}

/* nb_strv_steal() - see strv.h */
char **nb_strv_steal(struct nb_strv *sv)
{
	char **v;

	if (sv->oom) {
		nb_strv_clear(sv);
		return NULL;
	}
	v = sv->v ? sv->v : calloc(1, sizeof(*v));
	*sv = (struct nb_strv){ 0 };
	return v;
}

/* nb_strv_clear() - see strv.h */
void nb_strv_clear(struct nb_strv *sv)
{
	nb_strv_free(sv->v);
	*sv = (struct nb_strv){ 0 };
}
