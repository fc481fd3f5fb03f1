/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs passthrough: extended attributes.
 *
 * They work on regular files and directories only, through their
 * /proc/self/fd path: an O_PATH fd takes no f*xattr call, and a path call
 * on anything else could follow a symlink or reach a device.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs/pt.h"

/* @in's /proc path in @path; false when @in takes no xattrs. */
static bool xattr_path(const struct fs_inode *in, char *path, size_t len)
{
	if (in->type != S_IFREG && in->type != S_IFDIR)
		return false;
	pt_proc_path(path, len, in->fd);
	return true;
}

ssize_t pt_getxattr(struct fs_inode *in, const char *name, void *buf, size_t size)
{
	char path[64];
	ssize_t n;

	if (!xattr_path(in, path, sizeof(path)))
		return -ENODATA;
	n = getxattr(path, name, buf, size);
	return n < 0 ? -errno : n;
}

/* A file that takes no xattrs has none: an empty list. */
ssize_t pt_listxattr(struct fs_inode *in, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	if (!xattr_path(in, path, sizeof(path)))
		return 0;
	n = listxattr(path, buf, size);
	return n < 0 ? -errno : n;
}

int pt_setxattr(struct fs_inode *in, const char *name, const void *value, size_t size,
		int flags)
{
	char path[64];

	if (!xattr_path(in, path, sizeof(path)))
		return -EPERM;
	return setxattr(path, name, value, size, flags) < 0 ? -errno : 0;
}

int pt_removexattr(struct fs_inode *in, const char *name)
{
	char path[64];

	if (!xattr_path(in, path, sizeof(path)))
		return -ENODATA;
	return removexattr(path, name) < 0 ? -errno : 0;
}
