/* SPDX-License-Identifier: GPL-2.0-or-later */
/* paths: data and runtime directories. */
#include "lib/paths.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int put(char *buf, size_t len, struct nb_err *e, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s", a, b);

	if (n < 0 || (size_t)n >= len)
		return nb_err_set(e, ENAMETOOLONG, "path %s%s: too long", a, b);
	return 0;
}

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && *h)
		return h;
	pw = getpwuid(getuid());
	return pw ? pw->pw_dir : NULL;
}

/* nb_data_dir() - see paths.h */
int nb_data_dir(char *buf, size_t len, struct nb_err *e)
{
	const char *v = getenv("NESTBOX_HOME");
	const char *home;

	if (v && *v)
		return put(buf, len, e, v, "");
	if (geteuid() == 0)
		return put(buf, len, e, "/var/lib/nestbox", "");
	v = getenv("XDG_DATA_HOME");
	if (v && *v)
		return put(buf, len, e, v, "/nestbox");
	home = home_dir();
	if (!home)
		return nb_err_set(e, ENOENT, "data directory: no $HOME and no NESTBOX_HOME");
	return put(buf, len, e, home, "/.local/share/nestbox");
}

/* nb_runtime_dir() - see paths.h */
int nb_runtime_dir(char *buf, size_t len, struct nb_err *e)
{
	const char *v = getenv("NESTBOX_RUNTIME_DIR");
	char tmp[64];

	if (v && *v)
		return put(buf, len, e, v, "");
	if (geteuid() == 0)
		return put(buf, len, e, "/run/nestbox", "");
	v = getenv("XDG_RUNTIME_DIR");
	if (v && *v)
		return put(buf, len, e, v, "/nestbox");
	snprintf(tmp, sizeof(tmp), "/tmp/nestbox-%u", (unsigned)getuid());
	return put(buf, len, e, tmp, "");
}

/* nb_mkdir_p() - see paths.h */
int nb_mkdir_p(const char *path, unsigned mode, struct nb_err *e)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return nb_err_set(e, ENAMETOOLONG, "mkdir %s: bad length", path);
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return nb_err_sys(e, errno, "mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return nb_err_sys(e, errno, "mkdir %s", p);
	return 0;
}
