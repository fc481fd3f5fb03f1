/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: from a request frame to its handler.
 *
 * One table indexed by opcode says, for every opcode we serve, its handler
 * and what must hold before it runs: whether it may come before INIT,
 * whether it gets a reply at all, whether it names a node. The node id of
 * those that name one goes through the checked inode table here, so a
 * handler starts with a live inode (holding a ref) or never runs. Opcodes
 * outside the table get ENOSYS.
 *
 * Also here: the encoders every family shares (attributes, entries).
 */
#include <errno.h>
#include <string.h>

#include "fs/ops.h"
#include "lib/log.h"

/* The handler names a node: resolve ih.nodeid first (ESTALE when none). */
#define OPF_INODE	(1u << 0)
/* The peer expects no reply; before INIT it is dropped. */
#define OPF_NOREPLY	(1u << 1)
/* May come before INIT (INIT itself). */
#define OPF_PREINIT	(1u << 2)

/**
 * struct fs_opdesc - how one opcode is served
 * @fn:		its handler (NULL: not served, ENOSYS)
 * @flags:	OPF_* bits
 */
struct fs_opdesc {
	fs_op_fn *fn;
	unsigned flags;
};

static const struct fs_opdesc fs_ops[] = {
	/* metadata */
	[FUSE_INIT] = { op_init, OPF_PREINIT },
	[FUSE_DESTROY] = { op_destroy, 0 },
	[FUSE_LOOKUP] = { op_lookup, OPF_INODE },
	[FUSE_FORGET] = { op_forget, OPF_NOREPLY },
	[FUSE_BATCH_FORGET] = { op_batch_forget, OPF_NOREPLY },
	[FUSE_INTERRUPT] = { op_interrupt, OPF_NOREPLY },
	[FUSE_NOTIFY_REPLY] = { op_notify_reply, OPF_NOREPLY },
	[FUSE_GETATTR] = { op_getattr, OPF_INODE },
	[FUSE_SETATTR] = { op_setattr, OPF_INODE },
	[FUSE_READLINK] = { op_readlink, OPF_INODE },
	[FUSE_STATFS] = { op_statfs, OPF_INODE },
	[FUSE_ACCESS] = { op_access, OPF_INODE },
	/* directories */
	[FUSE_MKNOD] = { op_mknod, OPF_INODE },
	[FUSE_MKDIR] = { op_mkdir, OPF_INODE },
	[FUSE_SYMLINK] = { op_symlink, OPF_INODE },
	[FUSE_UNLINK] = { op_unlink, OPF_INODE },
	[FUSE_RMDIR] = { op_rmdir, OPF_INODE },
	[FUSE_RENAME] = { op_rename, OPF_INODE },
	[FUSE_RENAME2] = { op_rename2, OPF_INODE },
	[FUSE_LINK] = { op_link, OPF_INODE },
	[FUSE_OPENDIR] = { op_opendir, OPF_INODE },
	[FUSE_READDIR] = { op_readdir, 0 },
	[FUSE_READDIRPLUS] = { op_readdirplus, 0 },
	[FUSE_RELEASEDIR] = { op_releasedir, 0 },
	[FUSE_FSYNCDIR] = { op_fsyncdir, 0 },
	/* files */
	[FUSE_OPEN] = { op_open, OPF_INODE },
	[FUSE_CREATE] = { op_create, OPF_INODE },
	[FUSE_READ] = { op_read, 0 },
	[FUSE_WRITE] = { op_write, 0 },
	[FUSE_RELEASE] = { op_release, 0 },
	[FUSE_FLUSH] = { op_flush, OPF_INODE },
	[FUSE_FSYNC] = { op_fsync, 0 },
	[FUSE_FALLOCATE] = { op_fallocate, 0 },
	[FUSE_LSEEK] = { op_lseek, 0 },
	[FUSE_COPY_FILE_RANGE] = { op_copy_file_range, 0 },
	/* extended attributes */
	[FUSE_GETXATTR] = { op_getxattr, OPF_INODE },
	[FUSE_LISTXATTR] = { op_listxattr, OPF_INODE },
	[FUSE_SETXATTR] = { op_setxattr, OPF_INODE },
	[FUSE_REMOVEXATTR] = { op_removexattr, OPF_INODE },
	/* locks */
	[FUSE_GETLK] = { op_getlk, OPF_INODE },
	[FUSE_SETLK] = { op_setlk, OPF_INODE },
	[FUSE_SETLKW] = { op_setlkw, OPF_INODE },
};

void fs_dispatch(struct fs_conn *c, struct fs_req *r)
{
	const struct fs_opdesc *d = NULL;
	struct fuse_in_header ih;
	struct fs_inode *in = NULL;
	struct op op;

	memcpy(&ih, r->data, sizeof(ih));
	nb_debug("nestfs: %d: request %llu: op %u node %#llx len %u", c->fd,
		 (unsigned long long)ih.unique, ih.opcode, (unsigned long long)ih.nodeid, ih.len);
	op.c = c;
	op.ih = &ih;
	op.unique = ih.unique;
	op.body.p = r->data + sizeof(ih);
	op.body.left = r->len - sizeof(ih);
	if (ih.opcode < sizeof(fs_ops) / sizeof(fs_ops[0]) && fs_ops[ih.opcode].fn)
		d = &fs_ops[ih.opcode];
	if (d && (d->flags & OPF_NOREPLY) && !c->initialized)
		return fs_noreply(c);
	if (!c->initialized && !(d && (d->flags & OPF_PREINIT)))
		return fs_reply_err(c, op.unique, EIO);
	if (!d)
		return fs_reply_err(c, op.unique, ENOSYS);
	if (d->flags & OPF_INODE) {
		in = fs_inode_get(&c->t, ih.nodeid);
		if (!in)
			return fs_reply_err(c, op.unique, ESTALE);
	}
	d->fn(&op, in);
	fs_inode_put(&c->t, in);
}

/* ---- what the families share ---- */

int op_check_name(const char *name, bool dots_ok)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strlen(name);
	if (n == 0 || strchr(name, '/'))
		return -EINVAL;
	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	if (!dots_ok && (!strcmp(name, ".") || !strcmp(name, "..")))
		return -EINVAL;
	return 0;
}

bool op_ro(const struct op *op)
{
	return op->c->srv->o.read_only;
}

struct pt_ctx op_ctx(const struct op *op, uint32_t umask)
{
	return (struct pt_ctx){ .uid = op->ih->uid, .gid = op->ih->gid,
				.umask = op->c->flags & FUSE_DONT_MASK ? (mode_t)umask : 0 };
}

uint64_t op_timeout(const struct fs_conn *c)
{
	switch (c->srv->o.cache) {
	case NESTFS_CACHE_NEVER:
		return 0;
	case NESTFS_CACHE_AUTO:
		return 1;
	case NESTFS_CACHE_ALWAYS:
		return 86400;
	}
	return 0;
}

void op_fill_attr(struct fuse_attr *a, const struct stat *st)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = (uint32_t)st->st_rdev;
	a->blksize = (uint32_t)st->st_blksize;
}

void op_fill_entry(const struct fs_conn *c, struct fuse_entry_out *eo, const struct pt_entry *e)
{
	uint64_t t = op_timeout(c);

	memset(eo, 0, sizeof(*eo));
	eo->nodeid = e->nodeid;
	eo->entry_valid = t;
	eo->attr_valid = t;
	op_fill_attr(&eo->attr, &e->st);
}

void op_reply_attr(struct op *op, const struct stat *st)
{
	struct fuse_attr_out ao = { 0 };

	ao.attr_valid = op_timeout(op->c);
	op_fill_attr(&ao.attr, st);
	fs_reply_buf(op->c, op->unique, &ao, sizeof(ao));
}

void op_reply_entry(struct op *op, int rc, const struct pt_entry *e)
{
	struct fuse_entry_out eo;

	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	op_fill_entry(op->c, &eo, e);
	fs_reply_buf(op->c, op->unique, &eo, sizeof(eo));
}

void op_reply_rc(struct op *op, int rc)
{
	fs_reply_err(op->c, op->unique, -rc);
}
