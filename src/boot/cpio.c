/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cpio: newc writer (see cpio.h). */
#include "boot/cpio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"

/* nb_cpio_init() - see cpio.h */
void nb_cpio_init(struct nb_cpio *c, FILE *f)
{
	c->f = f;
	c->ino = 1;
	c->off = 0;
}

/* Write @n bytes; -EIO on a short write. */
static int put(struct nb_cpio *c, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, c->f) != n)
		return -EIO;
	c->off += n;
	return 0;
}

/* Zeros up to the next multiple of 4 bytes, as newc aligns headers and data. */
static int pad4(struct nb_cpio *c)
{
	static const char zero[4];

	return put(c, zero, (4 - (c->off & 3)) & 3);
}

/* One newc header (110 hex digits) and the entry's name, padded; refuses names
 * over 4 KiB and files over 4 GiB. */
static int header(struct nb_cpio *c, const char *name, mode_t mode, size_t len,
		  unsigned rmajor, unsigned rminor, struct nb_err *e)
{
	size_t nlen = strlen(name) + 1;
	char h[111];

	if (nlen > 4096)
		return nb_err_set(e, ENAMETOOLONG, "cpio entry %s: name too long", name);
	if (len > 0xffffffffu)
		return nb_err_set(e, EFBIG, "cpio entry %s: too large", name);
	snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 c->ino++, (unsigned)mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u,
		 (unsigned)len, 0u, 0u, rmajor, rminor, (unsigned)nlen, 0u);
	if (put(c, h, 110) < 0 || put(c, name, nlen) < 0 || pad4(c) < 0)
		return nb_err_sys(e, EIO, "cpio entry %s", name);
	return 0;
}

/* nb_cpio_add() - see cpio.h */
int nb_cpio_add(struct nb_cpio *c, const char *name, mode_t mode, const void *data, size_t len,
		unsigned rmajor, unsigned rminor, struct nb_err *e)
{
	int r = header(c, name, mode, len, rmajor, rminor, e);

	if (r < 0)
		return r;
	if (put(c, data, len) < 0 || pad4(c) < 0)
		return nb_err_sys(e, EIO, "cpio entry %s", name);
	return 0;
}

/* nb_cpio_add_file() - see cpio.h */
int nb_cpio_add_file(struct nb_cpio *c, const char *name, mode_t mode, const char *src,
		     struct nb_err *e)
{
	autoclose int fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return nb_err_sys(e, errno, "open %s", src);
	return nb_cpio_add_fd(c, name, mode, fd, src, e);
}

/* nb_cpio_add_fd() - see cpio.h */
int nb_cpio_add_fd(struct nb_cpio *c, const char *name, mode_t mode, int fd, const char *src,
		   struct nb_err *e)
{
	char buf[65536];
	struct stat st;
	off_t done = 0;
	int r;

	if (fstat(fd, &st) < 0)
		return nb_err_sys(e, errno, "stat %s", src);
	r = header(c, name, (mode & 07777) | S_IFREG, (size_t)st.st_size, 0, 0, e);
	if (r < 0)
		return r;
	while (done < st.st_size) {
		ssize_t n = pread(fd, buf, sizeof(buf), done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nb_err_sys(e, n < 0 ? errno : EIO, "read %s", src);
		if (n > st.st_size - done)
			n = (ssize_t)(st.st_size - done); /* the file grew: keep the header true */
		if (put(c, buf, (size_t)n) < 0)
			return nb_err_sys(e, EIO, "cpio entry %s", name);
		done += n;
	}
	if (pad4(c) < 0)
		return nb_err_sys(e, EIO, "cpio entry %s", name);
	return 0;
}

/* nb_cpio_finish() - see cpio.h */
int nb_cpio_finish(struct nb_cpio *c, struct nb_err *e)
{
	int r = nb_cpio_add(c, "TRAILER!!!", 0, NULL, 0, 0, 0, e);

	if (r < 0)
		return r;
	if (fflush(c->f) != 0)
		return nb_err_sys(e, errno, "write cpio");
	return 0;
}
