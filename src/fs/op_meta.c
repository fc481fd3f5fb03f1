/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs operations: the session (INIT, DESTROY, INTERRUPT), lookups and
 * their counts, and metadata (attributes, symlink targets, statfs, access).
 *
 * Every request body is read through a cursor that fails when the frame is
 * short, and every string must be NUL-terminated inside the frame. A
 * read-only export refuses every change here, on the host.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fs/ops.h"
#include "fs/policy.h"
#include "lib/log.h"

void op_init(struct op *op, struct fs_inode *unused)
{
	struct fuse_init_in in = { 0 };
	struct fuse_init_out out = { 0 };
	struct fs_conn *c = op->c;
	uint32_t want;
	size_t outlen;

	if (!cur_get(&op->body, &in, offsetof(struct fuse_init_in, flags2)))
		return fs_reply_err(c, op->unique, EINVAL);
	if (c->initialized)
		return fs_reply_err(c, op->unique, EPROTO);
	out.major = FUSE_KERNEL_VERSION;
	out.minor = FUSE_KERNEL_MINOR_VERSION;
	if (in.major > FUSE_KERNEL_VERSION)	/* the kernel re-sends INIT with ours */
		return fs_reply_buf(c, op->unique, &out, FUSE_COMPAT_INIT_OUT_SIZE);
	if (in.major < FUSE_KERNEL_VERSION || in.minor < NESTFS_MIN_MINOR)
		return fs_reply_err(c, op->unique, EPROTO);
	if (in.minor < out.minor)
		out.minor = in.minor;
	want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
	       FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES;
	/* A read-only share takes no host locks: the client's kernel keeps them to itself. */
	if (!c->srv->o.read_only)
		want |= FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS;
	if (c->srv->o.cache != NESTFS_CACHE_NEVER)
		want |= FUSE_AUTO_INVAL_DATA;
	if (c->srv->o.cache == NESTFS_CACHE_ALWAYS)
		want |= FUSE_CACHE_SYMLINKS;
	/* The requester's umask is applied here, on the host, where a default ACL of the
	 * parent can take its place; that needs a worker with a umask of its own. */
	if (pt_own_umask())
		want |= FUSE_DONT_MASK;
	out.flags = in.flags & want;
	out.max_readahead = in.max_readahead;
	out.max_background = 256;
	out.congestion_threshold = 192;
	out.max_write = NESTFS_MAX_WRITE;
	out.time_gran = 1;
	out.max_pages = NESTFS_MAX_PAGES;
	c->minor = out.minor;
	c->flags = out.flags;
	c->initialized = true;
	/* Answer in the size this minor version expects. */
	outlen = out.minor < 5 ? FUSE_COMPAT_INIT_OUT_SIZE
	       : out.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(out);
	fs_reply_buf(c, op->unique, &out, outlen);
}

void op_destroy(struct op *op, struct fs_inode *unused)
{
	fs_reply_err(op->c, op->unique, 0);
}

void op_interrupt(struct op *op, struct fs_inode *unused)
{
	struct fuse_interrupt_in i;

	if (cur_get(&op->body, &i, sizeof(i)))
		fs_interrupt(op->c, i.unique);
	fs_noreply(op->c);
}

void op_notify_reply(struct op *op, struct fs_inode *unused)
{
	fs_noreply(op->c);
}

void op_lookup(struct op *op, struct fs_inode *in)
{
	const char *name = cur_str(&op->body);
	struct pt_entry e = { 0 };
	int rc = op_check_name(name, true);

	if (rc == 0)
		rc = pt_lookup(op->c, in, name, &e);
	if (rc < 0)
		nb_debug("nestfs: lookup '%s' in %#llx (fd %d): %s", name ? name : "(none)",
			 (unsigned long long)fs_inode_id(in), in->fd, strerror(-rc));
	op_reply_entry(op, rc, &e);
}

void op_forget(struct op *op, struct fs_inode *unused)
{
	struct fuse_forget_in f;

	if (cur_get(&op->body, &f, sizeof(f)))
		fs_inode_forget(&op->c->t, op->ih->nodeid, f.nlookup);
	fs_noreply(op->c);
}

void op_batch_forget(struct op *op, struct fs_inode *unused)
{
	struct fuse_batch_forget_in b;
	struct fuse_forget_one one;

	if (cur_get(&op->body, &b, sizeof(b))) {
		for (uint32_t i = 0; i < b.count && i < NESTFS_MAX_FORGETS; i++) {
			if (!cur_get(&op->body, &one, sizeof(one)))
				break;
			fs_inode_forget(&op->c->t, one.nodeid, one.nlookup);
		}
	}
	fs_noreply(op->c);
}

void op_getattr(struct op *op, struct fs_inode *in)
{
	struct fuse_getattr_in g = { 0 };
	struct fs_handle *h = NULL;
	struct stat st;
	int rc;

	(void)cur_get(&op->body, &g, sizeof(g));
	if (g.getattr_flags & FUSE_GETATTR_FH) {
		h = fs_handle_get(&op->c->t, g.fh);
		if (!h)
			return fs_reply_err(op->c, op->unique, EBADF);
	}
	rc = pt_getattr(in, h, &st);
	fs_handle_put(&op->c->t, h);
	if (rc < 0)
		return op_reply_rc(op, rc);
	op_reply_attr(op, &st);
}

/* A FUSE time pair as a timespec for utimensat. */
static struct timespec fuse_ts(uint32_t valid, uint32_t bit, uint32_t now_bit, uint64_t sec,
			       uint32_t nsec)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = UTIME_OMIT };

	if (valid & now_bit) {
		ts.tv_nsec = UTIME_NOW;
	} else if (valid & bit) {
		ts.tv_sec = (time_t)sec;
		ts.tv_nsec = nsec < 1000000000u ? nsec : 999999999;
	}
	return ts;
}

void op_setattr(struct op *op, struct fs_inode *in)
{
	struct fuse_setattr_in s;
	struct pt_setattr sa = { 0 };
	struct fs_handle *h = NULL;
	struct stat st;
	int rc;

	if (!cur_get(&op->body, &s, sizeof(s)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (s.valid & FATTR_FH) {
		h = fs_handle_get(&op->c->t, s.fh);
		if (!h)
			return fs_reply_err(op->c, op->unique, EBADF);
	}
	if (s.valid & FATTR_MODE) {
		sa.valid |= PT_SET_MODE;
		sa.mode = fs_policy_mode(op->c->srv, in->type, s.mode);
	}
	if (s.valid & FATTR_UID) {
		sa.valid |= PT_SET_UID;
		sa.uid = s.uid;
	}
	if (s.valid & FATTR_GID) {
		sa.valid |= PT_SET_GID;
		sa.gid = s.gid;
	}
	if (s.valid & FATTR_SIZE) {
		sa.valid |= PT_SET_SIZE;
		sa.size = (off_t)s.size;
	}
	if (s.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) {
		sa.valid |= PT_SET_TIMES;
		sa.times[0] = fuse_ts(s.valid, FATTR_ATIME, FATTR_ATIME_NOW, s.atime, s.atimensec);
		sa.times[1] = fuse_ts(s.valid, FATTR_MTIME, FATTR_MTIME_NOW, s.mtime, s.mtimensec);
	}
	rc = pt_setattr(in, h, &sa, &st);
	fs_handle_put(&op->c->t, h);
	if (rc < 0)
		return op_reply_rc(op, rc);
	op_reply_attr(op, &st);
}

void op_readlink(struct op *op, struct fs_inode *in)
{
	char buf[PATH_MAX];
	ssize_t n = pt_readlink(in, buf, sizeof(buf));

	if (n < 0)
		return op_reply_rc(op, (int)n);
	fs_reply_buf(op->c, op->unique, buf, (size_t)n);
}

void op_statfs(struct op *op, struct fs_inode *in)
{
	struct fuse_statfs_out out = { 0 };
	struct statfs sf;
	int rc = pt_statfs(in, &sf);

	if (rc < 0)
		return op_reply_rc(op, rc);
	out.st.blocks = sf.f_blocks;
	out.st.bfree = sf.f_bfree;
	out.st.bavail = sf.f_bavail;
	out.st.files = sf.f_files;
	out.st.ffree = sf.f_ffree;
	out.st.bsize = (uint32_t)sf.f_bsize;
	out.st.namelen = (uint32_t)sf.f_namelen;
	out.st.frsize = (uint32_t)sf.f_frsize;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

void op_access(struct op *op, struct fs_inode *in)
{
	struct fuse_access_in a;

	if (!cur_get(&op->body, &a, sizeof(a)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op_ro(op) && (a.mask & W_OK))
		return fs_reply_err(op->c, op->unique, EROFS);
	op_reply_rc(op, pt_access(in, (int)(a.mask & 7)));
}
