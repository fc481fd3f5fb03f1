/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs operations: directories: names made, linked, renamed and removed,
 * and directory handles (OPENDIR, READDIR[PLUS], RELEASEDIR, FSYNCDIR).
 *
 * A name from the peer is one component, checked before anything else is
 * done with it; "." and ".." are never made, removed or renamed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/ops.h"
#include "fs/policy.h"

/* The start every creation shares: a writable export and a good name; 0 or -errno. */
static int creation_ok(const struct op *op, const char *name)
{
	if (op_ro(op))
		return -EROFS;
	return op_check_name(name, false);
}

/* The body of MKNOD, MKDIR and LINK: a fixed struct of @len bytes into @in,
 * then the new entry's name into *@name, checked as creation_ok() does;
 * 0 or -errno (-EINVAL for a short body). */
static int creation_args(struct op *op, void *in, size_t len, const char **name)
{
	if (!cur_get(&op->body, in, len) || !(*name = cur_str(&op->body)))
		return -EINVAL;
	return creation_ok(op, *name);
}

/* op_mknod() - FUSE_MKNOD: create a file, FIFO or socket; a device node only with allow_devices */
void op_mknod(struct op *op, struct fs_inode *in)
{
	struct fuse_mknod_in m;
	struct pt_ctx ctx;
	struct pt_entry e = { 0 };
	const char *name;
	int rc;

	rc = creation_args(op, &m, sizeof(m), &name);
	if (rc < 0)
		return op_reply_rc(op, rc);
	switch (m.mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		m.rdev = 0;
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (!op->c->srv->o.allow_devices)
			return fs_reply_err(op->c, op->unique, EPERM);
		break;
	default:
		return fs_reply_err(op->c, op->unique, EINVAL);
	}
	ctx = op_ctx(op, m.umask);
	m.mode = (m.mode & S_IFMT) | fs_policy_mode(op->c->srv, m.mode, m.mode & 07777);
	rc = pt_mknod(op->c, in, name, m.mode, m.rdev, &ctx, &e);
	op_reply_entry(op, rc, &e);
}

/* op_mkdir() - FUSE_MKDIR: create a directory, mode through the share's policy, umask applied */
void op_mkdir(struct op *op, struct fs_inode *in)
{
	struct fuse_mkdir_in m;
	struct pt_ctx ctx;
	struct pt_entry e = { 0 };
	const char *name;
	int rc;

	rc = creation_args(op, &m, sizeof(m), &name);
	if (rc < 0)
		return op_reply_rc(op, rc);
	ctx = op_ctx(op, m.umask);
	rc = pt_mkdir(op->c, in, name, fs_policy_mode(op->c->srv, S_IFDIR, m.mode & 07777), &ctx,
		      &e);
	op_reply_entry(op, rc, &e);
}

/* op_symlink() - FUSE_SYMLINK: create a symlink (target non-empty, under PATH_MAX) */
void op_symlink(struct op *op, struct fs_inode *in)
{
	const char *name = cur_str(&op->body), *target = cur_str(&op->body);
	struct pt_ctx ctx = op_ctx(op, 0);
	struct pt_entry e = { 0 };
	int rc;

	if (!name || !target || !*target || strlen(target) >= PATH_MAX)
		return fs_reply_err(op->c, op->unique, EINVAL);
	rc = creation_ok(op, name);
	if (rc < 0)
		return op_reply_rc(op, rc);
	rc = pt_symlink(op->c, in, name, target, &ctx, &e);
	op_reply_entry(op, rc, &e);
}

/* UNLINK and RMDIR. */
static void unlink_name(struct op *op, struct fs_inode *in, bool dir)
{
	const char *name = cur_str(&op->body);
	int rc = op_check_name(name, false);

	if (rc < 0)
		return op_reply_rc(op, rc);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	op_reply_rc(op, pt_unlink(in, name, dir));
}

/* op_unlink() - FUSE_UNLINK: remove a non-directory name */
void op_unlink(struct op *op, struct fs_inode *in)
{
	unlink_name(op, in, false);
}

/* op_rmdir() - FUSE_RMDIR: remove an empty directory */
void op_rmdir(struct op *op, struct fs_inode *in)
{
	unlink_name(op, in, true);
}

/* RENAME and RENAME2 (which adds flags). */
static void rename_name(struct op *op, struct fs_inode *in, bool v2)
{
	struct fuse_rename2_in r = { 0 };
	struct fs_inode *newdir;
	const char *oldname, *newname;
	int rc;

	if (!cur_get(&op->body, &r, v2 ? sizeof(r) : sizeof(struct fuse_rename_in)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	oldname = cur_str(&op->body);
	newname = cur_str(&op->body);
	rc = op_check_name(oldname, false);
	if (rc == 0)
		rc = op_check_name(newname, false);
	if (rc < 0)
		return op_reply_rc(op, rc);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (r.flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return fs_reply_err(op->c, op->unique, EINVAL);
	/* A whiteout is a char device (0:0) left at the old name: a device node. */
	if ((r.flags & RENAME_WHITEOUT) && !op->c->srv->o.allow_devices)
		return fs_reply_err(op->c, op->unique, EPERM);
	newdir = fs_inode_get(&op->c->t, r.newdir);
	if (!newdir)
		return fs_reply_err(op->c, op->unique, ENOENT);
	rc = pt_rename(in, oldname, newdir, newname, r.flags);
	fs_inode_put(&op->c->t, newdir);
	op_reply_rc(op, rc);
}

/* op_rename() - FUSE_RENAME: move a name, within or between directories */
void op_rename(struct op *op, struct fs_inode *in)
{
	rename_name(op, in, false);
}

/* op_rename2() - FUSE_RENAME2: RENAME with renameat2() flags (NOREPLACE, EXCHANGE, WHITEOUT) */
void op_rename2(struct op *op, struct fs_inode *in)
{
	rename_name(op, in, true);
}

/* op_link() - FUSE_LINK: a new hard link to an inode in a directory */
void op_link(struct op *op, struct fs_inode *newparent)
{
	struct fuse_link_in l;
	struct fs_inode *old;
	struct pt_entry e = { 0 };
	const char *name;
	int rc;

	rc = creation_args(op, &l, sizeof(l), &name);
	if (rc < 0)
		return op_reply_rc(op, rc);
	old = fs_inode_get(&op->c->t, l.oldnodeid);
	if (!old)
		return fs_reply_err(op->c, op->unique, ENOENT);
	rc = pt_link(op->c, old, newparent, name, &e);
	fs_inode_put(&op->c->t, old);
	op_reply_entry(op, rc, &e);
}

/* op_opendir() - FUSE_OPENDIR: open a directory for reading; its handle is the reply's fh */
void op_opendir(struct op *op, struct fs_inode *in)
{
	struct fuse_open_in o;
	struct fuse_open_out out = { 0 };
	int rc;

	if (!cur_get(&op->body, &o, sizeof(o)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (in->type != S_IFDIR)
		return fs_reply_err(op->c, op->unique, ENOTDIR);
	rc = pt_open(op->c, in, O_RDONLY | O_DIRECTORY, true, &out.fh);
	if (rc < 0)
		return op_reply_rc(op, rc);
	if (op->c->srv->o.cache == NESTFS_CACHE_ALWAYS)
		out.open_flags = FOPEN_CACHE_DIR;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

/**
 * struct dir_reply - a READDIR[PLUS] reply being filled by pt_readdir()'s callback
 * @op:		the request
 * @dir:	the directory's inode (READDIRPLUS looks entries up in it)
 * @out:	where entries go
 * @size:	room at @out (the peer's size)
 * @used:	bytes filled
 * @plus:	READDIRPLUS: entries carry a lookup
 */
struct dir_reply {
	struct op *op;
	struct fs_inode *dir;
	uint8_t *out;
	size_t size, used;
	bool plus;
};

static enum pt_dir_emit dir_emit(void *arg, const struct pt_dirent *d)
{
	struct dir_reply *dr = arg;
	uint8_t *at = dr->out + dr->used;
	size_t entlen;

	entlen = dr->plus ? FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus){
				    .dirent.namelen = (uint32_t)d->namelen })
			  : FUSE_DIRENT_SIZE(&(struct fuse_dirent){ .namelen = (uint32_t)d->namelen });
	if (dr->used + entlen > dr->size)
		return PT_DIR_FULL;	/* the next READDIR starts here */
	if (dr->plus) {
		struct fuse_direntplus dp;
		bool dots = (d->namelen == 1 && d->name[0] == '.') ||
			    (d->namelen == 2 && d->name[0] == '.' && d->name[1] == '.');

		memset(&dp, 0, sizeof(dp));
		if (!dots) {
			char nm[NAME_MAX + 1];
			struct pt_entry e = { 0 };

			memcpy(nm, d->name, d->namelen);
			nm[d->namelen] = 0;
			if (pt_lookup(dr->op->c, dr->dir, nm, &e) < 0)
				return PT_DIR_SKIPPED;	/* gone since getdents */
			op_fill_entry(dr->op->c, &dp.entry_out, &e);
		} else {
			dp.entry_out.attr.ino = d->ino;
			dp.entry_out.attr.mode = d->type << 12;
		}
		dp.dirent.ino = d->ino;
		dp.dirent.off = d->off;
		dp.dirent.namelen = (uint32_t)d->namelen;
		dp.dirent.type = d->type;
		memset(at, 0, entlen);
		memcpy(at, &dp, sizeof(dp));
		memcpy(at + sizeof(dp), d->name, d->namelen);
	} else {
		struct fuse_dirent de = { .ino = d->ino, .off = d->off,
					  .namelen = (uint32_t)d->namelen, .type = d->type };

		memset(at, 0, entlen);
		memcpy(at, &de, FUSE_NAME_OFFSET);
		memcpy(at + FUSE_NAME_OFFSET, d->name, d->namelen);
	}
	dr->used += entlen;
	return PT_DIR_ADDED;
}

/* READDIR and READDIRPLUS. */
static void read_dir(struct op *op, bool plus)
{
	struct fuse_read_in r;
	struct dir_reply dr = { .op = op, .plus = plus };
	struct fs_handle *h;
	struct fs_reply *rep;
	size_t dlen;
	int rc;

	if (!cur_get(&op->body, &r, sizeof(r)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (r.size > NESTFS_MAX_WRITE)
		r.size = NESTFS_MAX_WRITE;
	h = fs_handle_get(&op->c->t, r.fh);
	if (!h || !h->is_dir) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, EBADF);
	}
	rep = fs_reply_new(op->unique, r.size);
	if (!rep) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, ENOMEM);
	}
	dr.dir = h->inode;
	dr.out = rep->data + sizeof(struct fuse_out_header);
	dr.size = r.size;
	/* Plus entries are far bigger than getdents' own; read fewer. */
	dlen = plus ? r.size / 4 : r.size;
	if (dlen < 512)
		dlen = 512;
	rc = pt_readdir(h, r.offset, dlen, dir_emit, &dr);
	fs_handle_put(&op->c->t, h);
	if (rc < 0) {
		free(rep);
		return op_reply_rc(op, rc);
	}
	rep->len = (uint32_t)(sizeof(struct fuse_out_header) + dr.used);
	((struct fuse_out_header *)(void *)rep->data)->len = rep->len;
	fs_reply_send(op->c, rep);
}

/* op_readdir() - FUSE_READDIR: a directory's next entries (names, inode numbers, types) */
void op_readdir(struct op *op, struct fs_inode *unused)
{
	read_dir(op, false);
}

/* op_readdirplus() - FUSE_READDIRPLUS: READDIR with each entry looked up (attributes too) */
void op_readdirplus(struct op *op, struct fs_inode *unused)
{
	read_dir(op, true);
}

/* op_releasedir() - FUSE_RELEASEDIR: close a directory handle from OPENDIR */
void op_releasedir(struct op *op, struct fs_inode *unused)
{
	struct fuse_release_in r;

	if (!cur_get(&op->body, &r, sizeof(r)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	op_reply_rc(op, pt_release(op->c, r.fh, false));
}

/* op_fsyncdir() - FUSE_FSYNCDIR: fsync a directory handle, as FUSE_FSYNC */
void op_fsyncdir(struct op *op, struct fs_inode *in)
{
	op_fsync(op, in);
}
