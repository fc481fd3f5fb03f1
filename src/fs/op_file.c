/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs operations: files: OPEN and CREATE, I/O on their handles, FLUSH,
 * RELEASE, FSYNC and the ranges (FALLOCATE, LSEEK, COPY_FILE_RANGE).
 *
 * Chains: read-only opens are answered FOPEN_NOFLUSH, so that close() is
 * one RELEASE, not FLUSH + RELEASE, at every hop below.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/ops.h"
#include "fs/policy.h"

/* Open flags the peer may pass through to the host. */
static int open_flags(uint32_t flags)
{
	return (int)(flags & (uint32_t)(O_ACCMODE | O_APPEND | O_TRUNC | O_NONBLOCK | O_DSYNC |
					 O_SYNC | O_DIRECT | O_NOATIME | O_LARGEFILE));
}

/* FOPEN_* for a file opened in this cache mode. */
static uint32_t fopen_flags(const struct fs_conn *c)
{
	switch (c->srv->o.cache) {
	case NESTFS_CACHE_NEVER:
		return FOPEN_DIRECT_IO;
	case NESTFS_CACHE_AUTO:
		return 0;
	case NESTFS_CACHE_ALWAYS:
		return FOPEN_KEEP_CACHE;
	}
	return 0;
}

static bool wants_write(uint32_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

void op_open(struct op *op, struct fs_inode *in)
{
	struct fuse_open_in o;
	struct fuse_open_out out = { 0 };
	int rc;

	if (!cur_get(&op->body, &o, sizeof(o)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (in->type != S_IFREG)
		return fs_reply_err(op->c, op->unique, in->type == S_IFDIR ? EISDIR : EACCES);
	if (op_ro(op) && wants_write(o.flags))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = pt_open(op->c, in, open_flags(o.flags), false, &out.fh);
	if (rc < 0)
		return op_reply_rc(op, rc);
	out.open_flags = fopen_flags(op->c);
	/*
	 * Closing a file opened read-only needs no FLUSH from us (we buffer
	 * nothing), and on a chain each FLUSH is a round trip at every hop
	 * below. The one thing FLUSH carries is POSIX close semantics for read
	 * locks; those still go at RELEASE (fs_handle_release()).
	 */
	if ((o.flags & O_ACCMODE) == O_RDONLY && op->c->minor >= 35)
		out.open_flags |= FOPEN_NOFLUSH;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

void op_create(struct op *op, struct fs_inode *in)
{
	struct fuse_create_in ci;
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	struct pt_ctx ctx;
	struct pt_entry e = { 0 };
	const char *name;
	int rc;

	if (!cur_get(&op->body, &ci, sizeof(ci)) || !(name = cur_str(&op->body)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = op_check_name(name, false);
	if (rc < 0)
		return op_reply_rc(op, rc);
	memset(&out, 0, sizeof(out));
	ctx = op_ctx(op, ci.umask);
	rc = pt_create(op->c, in, name, open_flags(ci.flags) | (int)(ci.flags & O_EXCL),
		       fs_policy_mode(op->c->srv, S_IFREG, ci.mode & 07777), &ctx, &e, &out.o.fh);
	if (rc < 0)
		return op_reply_rc(op, rc);
	op_fill_entry(op->c, &out.e, &e);
	out.o.open_flags = fopen_flags(op->c);
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

/* The handle for @fh if it is an open file (not a directory), with a ref; NULL if none. */
static struct fs_handle *file_handle(struct op *op, uint64_t fh)
{
	struct fs_handle *h = fs_handle_get(&op->c->t, fh);

	if (h && h->is_dir) {
		fs_handle_put(&op->c->t, h);
		return NULL;
	}
	return h;
}

void op_read(struct op *op, struct fs_inode *unused)
{
	struct fuse_read_in r;
	struct fs_handle *h;
	struct fs_reply *rep;
	ssize_t n;

	if (!cur_get(&op->body, &r, sizeof(r)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (r.size > NESTFS_MAX_WRITE)
		r.size = NESTFS_MAX_WRITE;
	h = file_handle(op, r.fh);
	if (!h)
		return fs_reply_err(op->c, op->unique, EBADF);
	rep = fs_reply_new(op->unique, r.size);
	if (!rep) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, ENOMEM);
	}
	n = pt_read(h, rep->data + sizeof(struct fuse_out_header), r.size, (off_t)r.offset);
	fs_handle_put(&op->c->t, h);
	if (n < 0) {
		free(rep);
		return op_reply_rc(op, (int)n);
	}
	if ((size_t)n < r.size) {
		/* A short read holds only what it read while it waits for the writer. */
		struct fs_reply *fit = realloc(rep, sizeof(*rep) + sizeof(struct fuse_out_header) +
						   (size_t)n);

		if (fit)
			rep = fit;
	}
	rep->len = (uint32_t)(sizeof(struct fuse_out_header) + (size_t)n);
	((struct fuse_out_header *)(void *)rep->data)->len = rep->len;
	fs_reply_send(op->c, rep);
}

void op_write(struct op *op, struct fs_inode *unused)
{
	struct fuse_write_in w;
	struct fuse_write_out out = { 0 };
	struct fs_handle *h;
	const void *data;
	ssize_t n;

	if (!cur_get(&op->body, &w, sizeof(w)) || w.size > NESTFS_MAX_WRITE ||
	    !(data = cur_take(&op->body, w.size)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	h = file_handle(op, w.fh);
	if (!h)
		return fs_reply_err(op->c, op->unique, EBADF);
	n = pt_write(h, data, w.size, (off_t)w.offset);
	fs_handle_put(&op->c->t, h);
	if (n < 0)
		return op_reply_rc(op, (int)n);
	out.size = (uint32_t)n;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

void op_release(struct op *op, struct fs_inode *unused)
{
	struct fuse_release_in r;

	if (!cur_get(&op->body, &r, sizeof(r)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	op_reply_rc(op, pt_release(op->c, r.fh, r.release_flags & FUSE_RELEASE_FLOCK_UNLOCK));
}

void op_flush(struct op *op, struct fs_inode *in)
{
	struct fuse_flush_in f;
	struct fs_handle *h;

	if (!cur_get(&op->body, &f, sizeof(f)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	h = fs_handle_get(&op->c->t, f.fh);
	if (!h)
		return fs_reply_err(op->c, op->unique, EBADF);
	fs_handle_put(&op->c->t, h);
	/* close() by this owner: its POSIX locks on the file go. */
	pt_flush(op->c, in, f.lock_owner);
	fs_reply_err(op->c, op->unique, 0);
}

void op_fsync(struct op *op, struct fs_inode *unused)
{
	struct fuse_fsync_in f;
	struct fs_handle *h;
	int rc;

	if (!cur_get(&op->body, &f, sizeof(f)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	h = fs_handle_get(&op->c->t, f.fh);
	if (!h)
		return fs_reply_err(op->c, op->unique, EBADF);
	rc = pt_fsync(h, f.fsync_flags & 1);
	fs_handle_put(&op->c->t, h);
	op_reply_rc(op, rc);
}

void op_fallocate(struct op *op, struct fs_inode *unused)
{
	struct fuse_fallocate_in f;
	struct fs_handle *h;
	int rc;

	if (!cur_get(&op->body, &f, sizeof(f)) || f.offset > (uint64_t)INT64_MAX ||
	    f.length > (uint64_t)INT64_MAX)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	h = file_handle(op, f.fh);
	if (!h)
		return fs_reply_err(op->c, op->unique, EBADF);
	rc = pt_fallocate(h, (int)f.mode, (off_t)f.offset, (off_t)f.length);
	fs_handle_put(&op->c->t, h);
	op_reply_rc(op, rc);
}

void op_lseek(struct op *op, struct fs_inode *unused)
{
	struct fuse_lseek_in l;
	struct fuse_lseek_out out = { 0 };
	struct fs_handle *h;
	off_t r;

	if (!cur_get(&op->body, &l, sizeof(l)) || l.offset > (uint64_t)INT64_MAX)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (l.whence != SEEK_DATA && l.whence != SEEK_HOLE)
		return fs_reply_err(op->c, op->unique, EINVAL);
	h = file_handle(op, l.fh);
	if (!h)
		return fs_reply_err(op->c, op->unique, EBADF);
	r = pt_lseek(h, (off_t)l.offset, (int)l.whence);
	fs_handle_put(&op->c->t, h);
	if (r < 0)
		return op_reply_rc(op, (int)r);
	out.offset = (uint64_t)r;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

void op_copy_file_range(struct op *op, struct fs_inode *unused)
{
	struct fuse_copy_file_range_in cf;
	struct fuse_write_out out = { 0 };
	struct fs_handle *hi, *ho;
	ssize_t n;

	if (!cur_get(&op->body, &cf, sizeof(cf)) || cf.off_in > (uint64_t)INT64_MAX ||
	    cf.off_out > (uint64_t)INT64_MAX || cf.flags)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	hi = file_handle(op, cf.fh_in);
	ho = file_handle(op, cf.fh_out);
	if (!hi || !ho) {
		fs_handle_put(&op->c->t, hi);
		fs_handle_put(&op->c->t, ho);
		return fs_reply_err(op->c, op->unique, EBADF);
	}
	/* The answer is a 32-bit size: copy at most that much per request. */
	n = pt_copy_file_range(hi, (off_t)cf.off_in, ho, (off_t)cf.off_out,
			       cf.len > (1u << 30) ? (1u << 30) : cf.len);
	fs_handle_put(&op->c->t, hi);
	fs_handle_put(&op->c->t, ho);
	if (n < 0)
		return op_reply_rc(op, (int)n);
	out.size = (uint32_t)n;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}
