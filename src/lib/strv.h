/* SPDX-License-Identifier: GPL-2.0-or-later */
/* strv: NULL-terminated string vectors (argv, env), as the image config and the
 * VM spec carry them, and a growing one that owns its strings (struct nb_strv). */
#ifndef NESTBOX_LIB_STRV_H
#define NESTBOX_LIB_STRV_H

#include <stdbool.h>
#include <stddef.h>

/**
 * struct nb_strv - a growing NULL-terminated vector of owned strings
 * @v:		the vector (NULL while empty; else @v[@n] is NULL)
 * @n:		strings in it
 * @cap:	room in @v, the NULL included
 * @oom:	an add failed: every later add fails too, so a caller may add
 *		many and check once
 */
struct nb_strv {
	char **v;
	size_t n, cap;
	bool oom;
};

/* nb_strv_free() - free a NULL-terminated array of strings and the array; NULL is fine */
void nb_strv_free(char **v);

/* nb_strv_add() - append a copy of @s; 0 or -ENOMEM (and @sv->oom set) */
int nb_strv_add(struct nb_strv *sv, const char *s);

/* nb_strv_addf() - append a formatted string; 0 or -ENOMEM (and @sv->oom set) */
int nb_strv_addf(struct nb_strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * nb_strv_setenv() - set "K=V" in an environment vector: replaces an entry
 * for the same K, else appends
 * Return: 0 or -ENOMEM
 */
int nb_strv_setenv(struct nb_strv *sv, const char *kv);

/* nb_strv_steal() - hand out the vector (NULL-terminated; an empty one is
 * { NULL }, not NULL) and leave @sv empty; NULL after an oom */
char **nb_strv_steal(struct nb_strv *sv);

/* nb_strv_clear() - free every string and the vector; @sv is empty again */
void nb_strv_clear(struct nb_strv *sv);

/* A struct nb_strv released when it leaves scope. */
#define autostrv __attribute__((cleanup(nb_strv_clear)))

#endif
