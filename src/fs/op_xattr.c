/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs operations: extended attributes (GETXATTR, LISTXATTR, SETXATTR,
 * REMOVEXATTR). Sizes are capped at NESTFS_MAX_XATTR; a size of 0 asks only
 * for the size the answer would have.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs/ops.h"
#include "fs/policy.h"
#include "lib/cleanup.h"

/* Answer a get/list: the size probe (@size 0) or the @n bytes at @buf; @n < 0: -errno. */
static void reply_xattr(struct op *op, uint32_t size, ssize_t n, const void *buf)
{
	if (n < 0)
		return op_reply_rc(op, (int)n);
	if (size == 0) {
		struct fuse_getxattr_out go = { .size = (uint32_t)n };

		return fs_reply_buf(op->c, op->unique, &go, sizeof(go));
	}
	fs_reply_buf(op->c, op->unique, buf, (size_t)n);
}

/* GETXATTR and LISTXATTR. */
static void get_xattr(struct op *op, struct fs_inode *in, bool list)
{
	struct fuse_getxattr_in g;
	const char *name = NULL;
	autofree uint8_t *buf = NULL;
	ssize_t n;

	if (!cur_get(&op->body, &g, sizeof(g)) || (!list && !(name = cur_str(&op->body))))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (g.size > NESTFS_MAX_XATTR)
		g.size = NESTFS_MAX_XATTR;
	if (g.size && !(buf = malloc(g.size)))
		return fs_reply_err(op->c, op->unique, ENOMEM);
	n = list ? pt_listxattr(in, (char *)buf, g.size) : pt_getxattr(in, name, buf, g.size);
	reply_xattr(op, g.size, n, buf);
}

void op_getxattr(struct op *op, struct fs_inode *in)
{
	get_xattr(op, in, false);
}

void op_listxattr(struct op *op, struct fs_inode *in)
{
	get_xattr(op, in, true);
}

void op_setxattr(struct op *op, struct fs_inode *in)
{
	struct fuse_setxattr_in s = { 0 };
	const char *name;
	const void *value;

	if (!cur_get(&op->body, &s, FUSE_COMPAT_SETXATTR_IN_SIZE) ||
	    !(name = cur_str(&op->body)) || s.size > NESTFS_MAX_XATTR ||
	    !(value = cur_take(&op->body, s.size)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (fs_policy_xattr(op->c->srv, name) < 0)
		return fs_reply_err(op->c, op->unique, EPERM);
	op_reply_rc(op, pt_setxattr(in, name, value, s.size, (int)s.flags));
}

void op_removexattr(struct op *op, struct fs_inode *in)
{
	const char *name = cur_str(&op->body);

	if (!name)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (fs_policy_xattr(op->c->srv, name) < 0)
		return fs_reply_err(op->c, op->unique, EPERM);
	op_reply_rc(op, pt_removexattr(in, name));
}
