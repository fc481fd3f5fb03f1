/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs passthrough: open files: opening, creating, I/O and closing.
 *
 * An inode's O_PATH fd is reopened through /proc/self/fd/N, only for a
 * regular file or a directory (the decoding side checks the type first), so
 * no open can block on a FIFO or reach a device.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/pt.h"
#include "lib/cleanup.h"

int pt_open(struct fs_conn *c, struct fs_inode *in, int flags, bool dir, uint64_t *fh)
{
	char path[64];
	int fd;

	pt_proc_path(path, sizeof(path), in->fd);
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == EINVAL && (flags & O_DIRECT))	/* not every fs does O_DIRECT */
		fd = open(path, (flags & ~O_DIRECT) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	return fs_handle_new(&c->t, fd, dir, in, fh);
}

/*
 * CREATE of a name that exists after all (made on the host since the peer
 * looked): open it as OPEN would, only if it is a regular file: an open of
 * a FIFO would block the worker until a writer comes, one of a device would
 * run its driver. The type is read on an O_PATH fd first, and the very
 * inode it names is reopened. Returns an fd or -errno.
 */
static int open_existing(struct fs_inode *parent, const char *name, int flags)
{
	autoclose int pfd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char path[64];
	int fd;

	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : S_ISLNK(st.st_mode) ? -ELOOP : -EACCES;
	pt_proc_path(path, sizeof(path), pfd);
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

int pt_create(struct fs_conn *c, struct fs_inode *parent, const char *name, int flags,
	      mode_t mode, const struct pt_ctx *ctx, struct pt_entry *e, uint64_t *fh)
{
	autoclose int fd = -1;
	autoclose int pfd = -1;
	struct fs_inode *child;
	char path[64];
	bool sw;
	int rc;

	/* O_EXCL always: nothing but a new regular file is opened by the create itself. */
	sw = pt_creds_enter(c, ctx);
	fd = openat(parent->fd, name, flags | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		    mode);
	rc = fd < 0 ? -errno : 0;
	if (rc == -EEXIST && !(flags & O_EXCL)) {
		fd = open_existing(parent, name, flags);
		rc = fd < 0 ? fd : 0;
	}
	pt_creds_leave(sw);
	if (rc < 0)
		return rc;
	if (pt_stat_fresh(fd, &e->st) < 0 || !S_ISREG(e->st.st_mode))
		return -EIO;
	/* The O_PATH fd for the inode table: the very inode we created, no race. */
	pt_proc_path(path, sizeof(path), fd);
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	rc = fs_inode_add(&c->t, steal_fd(&pfd), &e->st, &e->nodeid);
	if (rc < 0)
		return rc;
	child = fs_inode_get(&c->t, e->nodeid);
	rc = child ? fs_handle_new(&c->t, steal_fd(&fd), false, child, fh) : -ESTALE;
	fs_inode_put(&c->t, child);
	if (rc < 0)
		fs_inode_forget(&c->t, e->nodeid, 1);
	return rc;
}

ssize_t pt_read(struct fs_handle *h, void *buf, size_t size, off_t off)
{
	ssize_t n;

	do
		n = pread(h->fd, buf, size, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t pt_write(struct fs_handle *h, const void *buf, size_t size, off_t off)
{
	ssize_t n;

	do
		n = pwrite(h->fd, buf, size, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int pt_fsync(struct fs_handle *h, bool datasync)
{
	return (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
}

int pt_fallocate(struct fs_handle *h, int mode, off_t off, off_t len)
{
	return fallocate(h->fd, mode, off, len) < 0 ? -errno : 0;
}

off_t pt_lseek(struct fs_handle *h, off_t off, int whence)
{
	off_t r = lseek(h->fd, off, whence);

	return r < 0 ? -errno : r;
}

ssize_t pt_copy_file_range(struct fs_handle *in, off_t off_in, struct fs_handle *out,
			   off_t off_out, size_t len)
{
	loff_t oi = off_in, oo = off_out;
	ssize_t n = copy_file_range(in->fd, &oi, out->fd, &oo, len, 0);

	return n < 0 ? -errno : n;
}

int pt_release(struct fs_conn *c, uint64_t fh, bool flock_unlock)
{
	if (flock_unlock) {
		struct fs_handle *h = fs_handle_get(&c->t, fh);

		if (h) {
			(void)flock(h->fd, LOCK_UN);
			fs_handle_put(&c->t, h);
		}
	}
	return fs_handle_release(&c->t, fh);
}
