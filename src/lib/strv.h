/* SPDX-License-Identifier: GPL-2.0-or-later */
/* strv: NULL-terminated string vectors (argv, env), as the image config and the
 * VM spec carry them. */
#ifndef NESTBOX_LIB_STRV_H
#define NESTBOX_LIB_STRV_H

/* nb_strv_free() - free a NULL-terminated array of strings and the array; NULL is fine */
void nb_strv_free(char **v);

#endif
