/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs passthrough: directories: making, linking, renaming and removing
 * names, and reading entries.
 *
 * Creations run with the thread's fsuid/fsgid switched to the requester's
 * (when we are root), so the host sees the owner the peer asked for; the
 * new name is then looked up as LOOKUP would, and counts one lookup.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs/pt.h"

int pt_mknod(struct fs_conn *c, struct fs_inode *parent, const char *name, mode_t mode,
	     dev_t rdev, const struct pt_ctx *ctx, struct pt_entry *e)
{
	bool sw = pt_creds_enter(c, ctx);
	int rc = mknodat(parent->fd, name, mode, rdev) < 0 ? -errno : 0;

	pt_creds_leave(sw);
	return rc < 0 ? rc : pt_lookup(c, parent, name, e);
}

int pt_mkdir(struct fs_conn *c, struct fs_inode *parent, const char *name, mode_t mode,
	     const struct pt_ctx *ctx, struct pt_entry *e)
{
	bool sw = pt_creds_enter(c, ctx);
	int rc = mkdirat(parent->fd, name, mode) < 0 ? -errno : 0;

	pt_creds_leave(sw);
	return rc < 0 ? rc : pt_lookup(c, parent, name, e);
}

int pt_symlink(struct fs_conn *c, struct fs_inode *parent, const char *name, const char *target,
	       const struct pt_ctx *ctx, struct pt_entry *e)
{
	bool sw = pt_creds_enter(c, ctx);
	int rc = symlinkat(target, parent->fd, name) < 0 ? -errno : 0;

	pt_creds_leave(sw);
	return rc < 0 ? rc : pt_lookup(c, parent, name, e);
}

int pt_unlink(struct fs_inode *parent, const char *name, bool dir)
{
	return unlinkat(parent->fd, name, dir ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
}

int pt_rename(struct fs_inode *parent, const char *name, struct fs_inode *newdir,
	      const char *newname, unsigned flags)
{
	return renameat2(parent->fd, name, newdir->fd, newname, flags) < 0 ? -errno : 0;
}

int pt_link(struct fs_conn *c, struct fs_inode *old, struct fs_inode *newparent,
	    const char *name, struct pt_entry *e)
{
	char path[64];

	if (old->type == S_IFDIR)
		return -EPERM;
	pt_proc_path(path, sizeof(path), old->fd);
	if (linkat(AT_FDCWD, path, newparent->fd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return pt_lookup(c, newparent, name, e);
}

/*
 * The handle keeps two positions: where its fd is (fd_pos) and the offset of
 * the next entry it would give (dir_pos); a READDIR at any other offset
 * seeks first. An entry that does not fit leaves fd_pos past it, so the
 * next READDIR, starting at dir_pos, seeks back.
 */
int pt_readdir(struct fs_handle *h, uint64_t offset, size_t dlen, pt_dir_fn *emit, void *arg)
{
	uint8_t dbuf[32768];
	ssize_t n;
	int rc = 0;

	if (dlen > sizeof(dbuf))
		dlen = sizeof(dbuf);
	pthread_mutex_lock(&h->dir_mu);
	if (offset != h->fd_pos) {
		if (lseek(h->fd, (off_t)offset, SEEK_SET) < 0) {
			rc = -errno;
			goto out;
		}
		h->fd_pos = offset;
	}
	h->dir_pos = offset;
	n = syscall(SYS_getdents64, h->fd, dbuf, dlen);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t pos = 0; pos < (size_t)n;) {
		struct dirent64 de;
		struct pt_dirent d;
		enum pt_dir_emit got;

		memcpy(&de, dbuf + pos, offsetof(struct dirent64, d_name));
		if (de.d_reclen < offsetof(struct dirent64, d_name) || pos + de.d_reclen > (size_t)n)
			break;
		d.name = (const char *)dbuf + pos + offsetof(struct dirent64, d_name);
		d.namelen = strnlen(d.name, de.d_reclen - offsetof(struct dirent64, d_name));
		d.ino = de.d_ino;
		d.off = (uint64_t)de.d_off;
		d.type = de.d_type;
		pos += de.d_reclen;
		h->fd_pos = d.off;
		got = emit(arg, &d);
		if (got == PT_DIR_FULL)
			break;
		if (got == PT_DIR_ADDED)
			h->dir_pos = d.off;
	}
out:
	pthread_mutex_unlock(&h->dir_mu);
	return rc;
}
