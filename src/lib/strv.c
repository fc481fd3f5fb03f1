/* SPDX-License-Identifier: GPL-2.0-or-later */
/* strv: NULL-terminated string vectors. */
#include <stdlib.h>

#include "lib/strv.h"

/* nb_strv_free() - see strv.h */
void nb_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}
