/* SPDX-License-Identifier: GPL-2.0-or-later */
/* paths: data and runtime directories.
 *
 * Both are private to their user: created 0700 when absent, and refused when
 * they exist but are a symlink, not a directory, someone else's, or writable
 * by others — /tmp/nestbox-UID in particular can be made by any local user
 * before nestbox runs, and whoever owns a state directory owns the VMs'
 * control sockets, logs and records in it. Checked by lstat() on the final
 * component; its parents are the user's to keep (XDG dirs, $HOME). */
#include "lib/paths.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* @a then @b into @buf; -ENAMETOOLONG (naming the path) when it does not fit. */
static int put(char *buf, size_t len, struct nb_err *e, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s", a, b);

	if (n < 0 || (size_t)n >= len)
		return nb_err_set(e, ENAMETOOLONG, "path %s%s: too long", a, b);
	return 0;
}

/* $HOME, else the home directory passwd gives this user; NULL without one. */
static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && *h)
		return h;
	pw = getpwuid(getuid());
	return pw ? pw->pw_dir : NULL;
}

/**
 * own_dir() - make sure @path is a private directory of ours, creating it 0700
 * @what:	"data directory" or "runtime directory", for errors
 * @var:	the variable that moves it elsewhere, for errors
 *
 * Return: 0, or negative errno with a message saying what is wrong and the fix
 */
static int own_dir(const char *what, const char *var, const char *path, struct nb_err *e)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return nb_err_sys(e, errno, "%s %s", what, path);
		r = nb_mkdir_p(path, 0700, e);
		if (r < 0)
			return nb_err_wrap(e, "%s", what);
		if (lstat(path, &st) < 0)
			return nb_err_sys(e, errno, "%s %s", what, path);
	}
	if (S_ISLNK(st.st_mode))
		return nb_err_set(e, ELOOP, "%s %s is a symlink, which nestbox does not follow: "
				  "remove it or set %s", what, path, var);
	if (!S_ISDIR(st.st_mode))
		return nb_err_set(e, ENOTDIR, "%s %s is not a directory: remove it or set %s",
				  what, path, var);
	if (st.st_uid != geteuid())
		return nb_err_set(e, EPERM, "%s %s belongs to uid %u, not to you (uid %u): "
				  "remove it or set %s", what, path, (unsigned)st.st_uid,
				  (unsigned)geteuid(), var);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return nb_err_set(e, EPERM, "%s %s is writable by others (mode %04o): "
				  "chmod 700 it or set %s", what, path, (unsigned)(st.st_mode & 07777),
				  var);
	return 0;
}

/* data_path() - where the data directory is (see nb_data_dir()) */
static int data_path(char *buf, size_t len, struct nb_err *e)
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

/* nb_data_dir() - see paths.h */
int nb_data_dir(char *buf, size_t len, struct nb_err *e)
{
	int r = data_path(buf, len, e);

	return r < 0 ? r : own_dir("data directory", "NESTBOX_HOME", buf, e);
}

/* runtime_path() - where the runtime directory is (see nb_runtime_dir()) */
static int runtime_path(char *buf, size_t len, struct nb_err *e)
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

/* nb_runtime_dir() - see paths.h */
int nb_runtime_dir(char *buf, size_t len, struct nb_err *e)
{
	int r = runtime_path(buf, len, e);

	return r < 0 ? r : own_dir("runtime directory", "NESTBOX_RUNTIME_DIR", buf, e);
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
