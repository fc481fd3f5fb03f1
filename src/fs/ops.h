/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/ops: the decoding side of the FUSE operations: a request body read
 * through a bounds-checked cursor, the handlers by family (op_meta.c,
 * op_dir.c, op_file.c, op_xattr.c, op_lock.c) that dispatch.c calls from
 * its table, and the reply encoders they share. No host system call here:
 * those are the passthrough's (pt.h). Private to src/fs. */
#ifndef NESTBOX_FS_OPS_H
#define NESTBOX_FS_OPS_H

#include <errno.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fs/conn.h"
#include "fs/pt.h"

/**
 * struct cur - a bounds-checked view of a request body
 * @p:		next unread byte
 * @left:	bytes left in the frame
 */
struct cur {
	const uint8_t *p;
	size_t left;
};

/* cur_take() - take @n bytes; NULL when the frame is shorter */
static inline const void *cur_take(struct cur *c, size_t n)
{
	const void *p = c->p;

	if (c->left < n)
		return NULL;
	c->p += n;
	c->left -= n;
	return p;
}

/* cur_get() - copy a fixed struct of @n bytes out of the body; false when short */
static inline bool cur_get(struct cur *c, void *out, size_t n)
{
	const void *p = cur_take(c, n);

	if (!p)
		return false;
	memcpy(out, p, n);
	return true;
}

/* cur_str() - a NUL-terminated string inside the frame; NULL if it runs off the end */
static inline const char *cur_str(struct cur *c)
{
	const char *s = (const char *)c->p;
	const void *nul = memchr(c->p, 0, c->left);

	if (!nul)
		return NULL;
	cur_take(c, (size_t)((const uint8_t *)nul - c->p) + 1);
	return s;
}

/**
 * struct op - one request being decoded
 * @c:		its connection
 * @ih:		its header
 * @body:	what follows the header
 * @unique:	the id its reply carries
 */
struct op {
	struct fs_conn *c;
	const struct fuse_in_header *ih;
	struct cur body;
	uint64_t unique;
};

/* A handler: decodes @op's body, runs it and answers it (or accounts that it gets no
 * answer). @in is the request's node, with a ref, for opcodes that name one; else NULL. */
typedef void fs_op_fn(struct op *op, struct fs_inode *in);

/* ---- shared by the families (dispatch.c) ---- */

/* op_check_name() - one path component from the peer: no '/', not empty, not too long,
 * and not "." or ".." unless @dots_ok; 0 or -errno */
int op_check_name(const char *name, bool dots_ok);
/* op_ro() - the export is read-only */
bool op_ro(const struct op *op);
/* op_ctx() - the requester of @op, for creations, with the @umask the request carries
 * (applied only when FUSE_DONT_MASK was granted: else the client's kernel did) */
struct pt_ctx op_ctx(const struct op *op, uint32_t umask);
/* op_timeout() - how long the peer may cache names and attributes, in seconds */
uint64_t op_timeout(const struct fs_conn *c);
/* op_fill_attr() - a host stat as FUSE attributes */
void op_fill_attr(struct fuse_attr *a, const struct stat *st);
/* op_fill_entry() - a looked-up entry as FUSE's entry reply */
void op_fill_entry(const struct fs_conn *c, struct fuse_entry_out *eo, const struct pt_entry *e);
/* op_reply_attr() - answer with attributes */
void op_reply_attr(struct op *op, const struct stat *st);
/* op_reply_entry() - answer with an entry (0) or the error (-errno) that made none */
void op_reply_entry(struct op *op, int rc, const struct pt_entry *e);
/* op_reply_rc() - answer with the outcome of a call: 0 or -errno */
void op_reply_rc(struct op *op, int rc);

/* ---- metadata (op_meta.c) ---- */

fs_op_fn op_init;		/* FUSE_INIT: negotiate */
fs_op_fn op_destroy;		/* FUSE_DESTROY */
fs_op_fn op_lookup;		/* FUSE_LOOKUP */
fs_op_fn op_forget;		/* FUSE_FORGET (no reply) */
fs_op_fn op_batch_forget;	/* FUSE_BATCH_FORGET (no reply) */
fs_op_fn op_interrupt;		/* FUSE_INTERRUPT (no reply) */
fs_op_fn op_notify_reply;	/* FUSE_NOTIFY_REPLY (no reply; we send no notifications) */
fs_op_fn op_getattr;		/* FUSE_GETATTR */
fs_op_fn op_setattr;		/* FUSE_SETATTR */
fs_op_fn op_readlink;		/* FUSE_READLINK */
fs_op_fn op_statfs;		/* FUSE_STATFS */
fs_op_fn op_access;		/* FUSE_ACCESS */

/* ---- directories (op_dir.c) ---- */

fs_op_fn op_mknod;		/* FUSE_MKNOD */
fs_op_fn op_mkdir;		/* FUSE_MKDIR */
fs_op_fn op_symlink;		/* FUSE_SYMLINK */
fs_op_fn op_unlink;		/* FUSE_UNLINK */
fs_op_fn op_rmdir;		/* FUSE_RMDIR */
fs_op_fn op_rename;		/* FUSE_RENAME */
fs_op_fn op_rename2;		/* FUSE_RENAME2 */
fs_op_fn op_link;		/* FUSE_LINK */
fs_op_fn op_opendir;		/* FUSE_OPENDIR */
fs_op_fn op_readdir;		/* FUSE_READDIR */
fs_op_fn op_readdirplus;	/* FUSE_READDIRPLUS */
fs_op_fn op_releasedir;		/* FUSE_RELEASEDIR */
fs_op_fn op_fsyncdir;		/* FUSE_FSYNCDIR */

/* ---- files (op_file.c) ---- */

fs_op_fn op_open;		/* FUSE_OPEN */
fs_op_fn op_create;		/* FUSE_CREATE */
fs_op_fn op_read;		/* FUSE_READ */
fs_op_fn op_write;		/* FUSE_WRITE */
fs_op_fn op_release;		/* FUSE_RELEASE */
fs_op_fn op_flush;		/* FUSE_FLUSH */
fs_op_fn op_fsync;		/* FUSE_FSYNC */
fs_op_fn op_fallocate;		/* FUSE_FALLOCATE */
fs_op_fn op_lseek;		/* FUSE_LSEEK */
fs_op_fn op_copy_file_range;	/* FUSE_COPY_FILE_RANGE */

/* ---- extended attributes (op_xattr.c) ---- */

fs_op_fn op_getxattr;		/* FUSE_GETXATTR */
fs_op_fn op_listxattr;		/* FUSE_LISTXATTR */
fs_op_fn op_setxattr;		/* FUSE_SETXATTR */
fs_op_fn op_removexattr;	/* FUSE_REMOVEXATTR */

/* ---- locks (op_lock.c) ---- */

fs_op_fn op_getlk;		/* FUSE_GETLK */
fs_op_fn op_setlk;		/* FUSE_SETLK */
fs_op_fn op_setlkw;		/* FUSE_SETLKW */

#endif
