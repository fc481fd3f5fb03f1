/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fileio: bounded reads, atomic writes. */
#include "lib/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"

/* nb_root_path() - see fileio.h */
int nb_root_path(const char *root, const char *path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", root ? root : "", path);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* nb_read_file() - see fileio.h */
ssize_t nb_read_file(const char *root, const char *path, char *buf, size_t cap,
		     struct nb_err *e)
{
	char full[PATH_MAX];
	autoclose int fd = -1;
	size_t got = 0;

	if (cap == 0)
		return nb_err_set(e, EINVAL, "read %s: no buffer", path);
	if (nb_root_path(root, path, full, sizeof(full)) < 0)
		return nb_err_set(e, ENAMETOOLONG, "read %s: path too long", path);
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return nb_err_sys(e, errno, "open %s", full);
	while (got < cap - 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nb_err_sys(e, errno, "read %s", full);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/* nb_path_exists() - see fileio.h */
bool nb_path_exists(const char *root, const char *path)
{
	char full[PATH_MAX];
	struct stat st;

	if (nb_root_path(root, path, full, sizeof(full)) < 0)
		return false;
	return lstat(full, &st) == 0;
}

/* nb_strip() - see fileio.h */
char *nb_strip(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
		     s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* nb_write_all() - see fileio.h */
int nb_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* nb_read_all() - see fileio.h */
int nb_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* nb_write_file_atomic() - see fileio.h */
int nb_write_file_atomic(const char *path, const void *data, size_t len,
			 unsigned mode, struct nb_err *e)
{
	char tmp[PATH_MAX];
	autoclose int fd = -1;
	int r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return nb_err_set(e, ENAMETOOLONG, "write %s: path too long", path);
	/* Never through a link someone planted: the temp file is made anew
	 * (a stale one of a dead process with our pid goes first), and rename()
	 * replaces a symlink at @path rather than following it. */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return nb_err_sys(e, errno, "create %s", tmp);
	r = nb_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return nb_err_sys(e, -r, "write %s", path);
	}
	return 0;
}

/* nftw() callback of the recursive remove: rmdir a directory after its entries,
 * unlink the rest; what is gone already is no error. */
static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	int r = type == FTW_DP ? rmdir(path) : unlink(path);

	return r < 0 && errno != ENOENT ? -errno : 0;
}

/* nb_rm_rf() - see fileio.h */
int nb_rm_rf(const char *path)
{
	int r = nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);

	if (r < 0 && errno == ENOENT)
		return 0;
	return r < 0 ? -errno : r;
}
