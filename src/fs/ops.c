/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: the FUSE operations, one handler per opcode.
 *
 * Every request body is read through a cursor that fails when the frame is
 * short, and every string must be NUL-terminated inside the frame. Every
 * node id and fh goes through the checked tables in server.c. Nothing
 * resolves a path string: a name is one component, looked up with
 * openat(parent, name, O_PATH|O_NOFOLLOW); files are re-opened through
 * /proc/self/fd/N and only when they are regular files or directories.
 * A read-only export refuses every change here, on the host.
 *
 * Chains: when the exported directory is itself a FUSE mount (a guest
 * serving its own nestfs mount one level down), every system call here is
 * a round trip through all the hops below, so the handlers avoid calls
 * that add none of their own information: a lookup takes the attributes
 * its own open just brought (statx AT_STATX_DONT_SYNC) instead of asking
 * again, and read-only opens are answered FOPEN_NOFLUSH so that close()
 * is one RELEASE, not FLUSH + RELEASE, at every hop.
 *
 * Locks: POSIX locks are OFD locks on one open file description per (inode,
 * lock owner), so they conflict with each other and with every process on
 * the host as POSIX locks should; flock() goes to the handle's own fd.
 * Owners lose their locks at FLUSH (close by that owner) and at RELEASE of
 * any handle they locked through (the only close the kernel reports for
 * OFD locks, which is what the next hop up takes).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/conn.h"
#include "lib/log.h"

/* A bounds-checked view of a request body. */
struct cur {
	const uint8_t *p;
	size_t left;
};

/* Take @n bytes; NULL when the frame is shorter. */
static const void *cur_take(struct cur *c, size_t n)
{
	const void *p = c->p;

	if (c->left < n)
		return NULL;
	c->p += n;
	c->left -= n;
	return p;
}

/* Copy a fixed struct out of the body; false when short. */
static bool cur_get(struct cur *c, void *out, size_t n)
{
	const void *p = cur_take(c, n);

	if (!p)
		return false;
	memcpy(out, p, n);
	return true;
}

/* A NUL-terminated string inside the frame; NULL if it runs off the end. */
static const char *cur_str(struct cur *c)
{
	const char *s = (const char *)c->p;
	const void *nul = memchr(c->p, 0, c->left);

	if (!nul)
		return NULL;
	cur_take(c, (size_t)((const uint8_t *)nul - c->p) + 1);
	return s;
}

/* One path component from the peer: no '/', not empty, not too long. */
static int check_name(const char *name, bool dots_ok)
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

static void proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

struct op {
	struct fs_conn *c;
	const struct fuse_in_header *ih;
	struct cur body;
	uint64_t unique;
};

static bool ro(const struct op *op)
{
	return op->c->srv->o.read_only;
}

static void timeout_for(const struct fs_conn *c, uint64_t *sec)
{
	*sec = 0;
	switch (c->srv->o.cache) {
	case NESTFS_CACHE_NEVER:
		*sec = 0;
		break;
	case NESTFS_CACHE_AUTO:
		*sec = 1;
		break;
	case NESTFS_CACHE_ALWAYS:
		*sec = 86400;
		break;
	}
}

static void fill_attr(struct fuse_attr *a, const struct stat *st)
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

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/**
 * stat_fresh() - stat an fd just opened by name, trusting the attributes that open brought
 *
 * On a FUSE backing directory (a second or later hop) the LOOKUP that the
 * open made has just returned the attributes; a plain fstat would ask again
 * whenever they may not be cached, and every hop below would double the
 * requests. AT_STATX_DONT_SYNC takes what the kernel has. Elsewhere it is
 * the same as fstat.
 *
 * Return: 0 or -errno
 */
static int stat_fresh(int fd, struct stat *st)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
		  STATX_BASIC_STATS, &sx) < 0)
		return stat_fd(fd, st);
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	st->st_ino = sx.stx_ino;
	st->st_mode = sx.stx_mode;
	st->st_nlink = sx.stx_nlink;
	st->st_uid = sx.stx_uid;
	st->st_gid = sx.stx_gid;
	st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	st->st_size = (off_t)sx.stx_size;
	st->st_blksize = (blksize_t)sx.stx_blksize;
	st->st_blocks = (blkcnt_t)sx.stx_blocks;
	st->st_atim.tv_sec = sx.stx_atime.tv_sec;
	st->st_atim.tv_nsec = sx.stx_atime.tv_nsec;
	st->st_mtim.tv_sec = sx.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = sx.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = sx.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = sx.stx_ctime.tv_nsec;
	return 0;
}

/* Switch this thread's fsuid/fsgid to the caller's for a creation; returns whether switched. */
static bool creds_enter(const struct op *op)
{
	if (!op->c->srv->as_root)
		return false;
	syscall(SYS_setfsgid, op->ih->gid);
	syscall(SYS_setfsuid, op->ih->uid);
	return true;
}

static void creds_leave(bool switched)
{
	if (!switched)
		return;
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
}

/**
 * lookup_fill() - look @name up in @parent and fill an entry reply
 *
 * Counts one lookup on success. `..` at the export root stays at the root.
 *
 * Return: 0 or -errno
 */
static int lookup_fill(struct fs_conn *c, struct fs_inode *parent, const char *name,
		       struct fuse_entry_out *eo)
{
	struct stat st;
	uint64_t t;
	int fd, rc;

	rc = check_name(name, true);
	if (rc < 0)
		return rc;
	/* "." and the root's "..": the parent itself. */
	if (!strcmp(name, ".") || (!strcmp(name, "..") && fs_inode_is_root(parent)))
		fd = fcntl(parent->fd, F_DUPFD_CLOEXEC, 3);
	else
		fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = stat_fresh(fd, &st);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	memset(eo, 0, sizeof(*eo));
	rc = fs_inode_add(&c->t, fd, &st, &eo->nodeid);
	if (rc < 0)
		return rc;
	timeout_for(c, &t);
	eo->entry_valid = t;
	eo->attr_valid = t;
	fill_attr(&eo->attr, &st);
	return 0;
}

/* ---- handlers --------------------------------------------------------- */

static void op_init(struct op *op)
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
	want = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |
	       FUSE_FLOCK_LOCKS | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO |
	       FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES;
	if (c->srv->o.cache != NESTFS_CACHE_NEVER)
		want |= FUSE_AUTO_INVAL_DATA;
	if (c->srv->o.cache == NESTFS_CACHE_ALWAYS)
		want |= FUSE_CACHE_SYMLINKS;
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

static void op_lookup(struct op *op, struct fs_inode *in)
{
	struct fuse_entry_out eo;
	const char *name = cur_str(&op->body);
	int rc = lookup_fill(op->c, in, name, &eo);

	if (rc < 0) {
		nb_debug("nestfs: lookup '%s' in %#llx (fd %d): %s", name ? name : "(none)",
			 (unsigned long long)fs_inode_id(in), in->fd, strerror(-rc));
		return fs_reply_err(op->c, op->unique, -rc);
	}
	fs_reply_buf(op->c, op->unique, &eo, sizeof(eo));
}

static void op_forget(struct op *op)
{
	struct fuse_forget_in f;

	if (cur_get(&op->body, &f, sizeof(f)))
		fs_inode_forget(&op->c->t, op->ih->nodeid, f.nlookup);
	fs_noreply(op->c);
}

static void op_batch_forget(struct op *op)
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

static void reply_attr(struct op *op, const struct stat *st)
{
	struct fuse_attr_out ao = { 0 };

	timeout_for(op->c, &ao.attr_valid);
	fill_attr(&ao.attr, st);
	fs_reply_buf(op->c, op->unique, &ao, sizeof(ao));
}

static void op_getattr(struct op *op, struct fs_inode *in)
{
	struct fuse_getattr_in g = { 0 };
	struct stat st;
	int rc;

	(void)cur_get(&op->body, &g, sizeof(g));
	if (g.getattr_flags & FUSE_GETATTR_FH) {
		struct fs_handle *h = fs_handle_get(&op->c->t, g.fh);

		if (!h)
			return fs_reply_err(op->c, op->unique, EBADF);
		rc = fstat(h->fd, &st) < 0 ? -errno : 0;
		fs_handle_put(&op->c->t, h);
	} else {
		rc = stat_fd(in->fd, &st);
	}
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	reply_attr(op, &st);
}

/* Convert a FUSE time pair to a timespec for utimensat. */
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

static void op_setattr(struct op *op, struct fs_inode *in)
{
	struct fuse_setattr_in s;
	struct fs_handle *h = NULL;
	char path[64];
	struct stat st;
	int rc = 0;

	if (!cur_get(&op->body, &s, sizeof(s)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (s.valid & FATTR_FH) {
		h = fs_handle_get(&op->c->t, s.fh);
		if (!h)
			return fs_reply_err(op->c, op->unique, EBADF);
	}
	proc_path(path, sizeof(path), in->fd);
	if (s.valid & FATTR_MODE) {
		if (h)
			rc = fchmod(h->fd, s.mode);
		else if (in->type == S_IFLNK)
			rc = -1, errno = EOPNOTSUPP;
		else
			rc = fchmodat(AT_FDCWD, path, s.mode, 0);
		if (rc < 0)
			goto fail;
	}
	if (s.valid & (FATTR_UID | FATTR_GID)) {
		uid_t u = s.valid & FATTR_UID ? s.uid : (uid_t)-1;
		gid_t g = s.valid & FATTR_GID ? s.gid : (gid_t)-1;

		if (fchownat(in->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			goto fail;
	}
	if (s.valid & FATTR_SIZE) {
		if (h) {
			rc = ftruncate(h->fd, (off_t)s.size);
		} else if (in->type != S_IFREG) {
			rc = -1;
			errno = in->type == S_IFDIR ? EISDIR : EINVAL;
		} else {
			int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

			rc = fd < 0 ? -1 : ftruncate(fd, (off_t)s.size);
			if (fd >= 0) {
				int err = errno;

				close(fd);
				errno = err;
			}
		}
		if (rc < 0)
			goto fail;
	}
	if (s.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) {
		struct timespec ts[2] = {
			fuse_ts(s.valid, FATTR_ATIME, FATTR_ATIME_NOW, s.atime, s.atimensec),
			fuse_ts(s.valid, FATTR_MTIME, FATTR_MTIME_NOW, s.mtime, s.mtimensec),
		};

		if (h)
			rc = futimens(h->fd, ts);
		else if (in->type == S_IFLNK)
			rc = -1, errno = EPERM;
		else
			rc = utimensat(AT_FDCWD, path, ts, 0);
		if (rc < 0)
			goto fail;
	}
	fs_handle_put(&op->c->t, h);
	h = NULL;
	rc = stat_fd(in->fd, &st);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	return reply_attr(op, &st);
fail:
	rc = errno;
	fs_handle_put(&op->c->t, h);
	fs_reply_err(op->c, op->unique, rc);
}

static void op_readlink(struct op *op, struct fs_inode *in)
{
	char buf[PATH_MAX];
	ssize_t n;

	if (in->type != S_IFLNK)
		return fs_reply_err(op->c, op->unique, EINVAL);
	n = readlinkat(in->fd, "", buf, sizeof(buf));
	if (n < 0)
		return fs_reply_err(op->c, op->unique, errno);
	fs_reply_buf(op->c, op->unique, buf, (size_t)n);
}

/* After a creation in @parent: look the new @name up and answer with its entry. */
static void reply_entry_of(struct op *op, struct fs_inode *parent, const char *name)
{
	struct fuse_entry_out eo;
	int rc = lookup_fill(op->c, parent, name, &eo);

	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	fs_reply_buf(op->c, op->unique, &eo, sizeof(eo));
}

static void op_mknod(struct op *op, struct fs_inode *in)
{
	struct fuse_mknod_in m;
	const char *name;
	bool sw;
	int rc;

	if (!cur_get(&op->body, &m, sizeof(m)) || !(name = cur_str(&op->body)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = check_name(name, false);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
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
	sw = creds_enter(op);
	rc = mknodat(in->fd, name, m.mode, m.rdev) < 0 ? errno : 0;
	creds_leave(sw);
	if (rc)
		return fs_reply_err(op->c, op->unique, rc);
	reply_entry_of(op, in, name);
}

static void op_mkdir(struct op *op, struct fs_inode *in)
{
	struct fuse_mkdir_in m;
	const char *name;
	bool sw;
	int rc;

	if (!cur_get(&op->body, &m, sizeof(m)) || !(name = cur_str(&op->body)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = check_name(name, false);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	sw = creds_enter(op);
	rc = mkdirat(in->fd, name, m.mode & 07777) < 0 ? errno : 0;
	creds_leave(sw);
	if (rc)
		return fs_reply_err(op->c, op->unique, rc);
	reply_entry_of(op, in, name);
}

static void op_symlink(struct op *op, struct fs_inode *in)
{
	const char *name = cur_str(&op->body), *target = cur_str(&op->body);
	bool sw;
	int rc;

	if (!name || !target || !*target || strlen(target) >= PATH_MAX)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = check_name(name, false);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	sw = creds_enter(op);
	rc = symlinkat(target, in->fd, name) < 0 ? errno : 0;
	creds_leave(sw);
	if (rc)
		return fs_reply_err(op->c, op->unique, rc);
	reply_entry_of(op, in, name);
}

static void op_unlink(struct op *op, struct fs_inode *in, bool dir)
{
	const char *name = cur_str(&op->body);
	int rc = check_name(name, false);

	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = unlinkat(in->fd, name, dir ? AT_REMOVEDIR : 0) < 0 ? errno : 0;
	fs_reply_err(op->c, op->unique, rc);
}

static void op_rename(struct op *op, struct fs_inode *in, bool v2)
{
	struct fuse_rename2_in r = { 0 };
	struct fs_inode *newdir;
	const char *oldname, *newname;
	int rc;

	if (!cur_get(&op->body, &r, v2 ? sizeof(r) : sizeof(struct fuse_rename_in)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	oldname = cur_str(&op->body);
	newname = cur_str(&op->body);
	rc = check_name(oldname, false);
	if (rc == 0)
		rc = check_name(newname, false);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (r.flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return fs_reply_err(op->c, op->unique, EINVAL);
	newdir = fs_inode_get(&op->c->t, r.newdir);
	if (!newdir)
		return fs_reply_err(op->c, op->unique, ENOENT);
	rc = renameat2(in->fd, oldname, newdir->fd, newname, r.flags) < 0 ? errno : 0;
	fs_inode_put(&op->c->t, newdir);
	fs_reply_err(op->c, op->unique, rc);
}

static void op_link(struct op *op, struct fs_inode *newparent)
{
	struct fuse_link_in l;
	struct fs_inode *old;
	const char *name;
	char path[64];
	int rc;

	if (!cur_get(&op->body, &l, sizeof(l)) || !(name = cur_str(&op->body)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = check_name(name, false);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	old = fs_inode_get(&op->c->t, l.oldnodeid);
	if (!old)
		return fs_reply_err(op->c, op->unique, ENOENT);
	if (old->type == S_IFDIR) {
		fs_inode_put(&op->c->t, old);
		return fs_reply_err(op->c, op->unique, EPERM);
	}
	proc_path(path, sizeof(path), old->fd);
	rc = linkat(AT_FDCWD, path, newparent->fd, name, AT_SYMLINK_FOLLOW) < 0 ? errno : 0;
	fs_inode_put(&op->c->t, old);
	if (rc)
		return fs_reply_err(op->c, op->unique, rc);
	reply_entry_of(op, newparent, name);
}

/* Open flags the peer may pass through to the host. */
static int open_flags(uint32_t flags)
{
	return (int)(flags & (uint32_t)(O_ACCMODE | O_APPEND | O_TRUNC | O_NONBLOCK | O_DSYNC |
					 O_SYNC | O_DIRECT | O_NOATIME | O_LARGEFILE));
}

static uint32_t fopen_flags(const struct fs_conn *c, bool dir)
{
	switch (c->srv->o.cache) {
	case NESTFS_CACHE_NEVER:
		return dir ? 0 : FOPEN_DIRECT_IO;
	case NESTFS_CACHE_AUTO:
		return 0;
	case NESTFS_CACHE_ALWAYS:
		return dir ? FOPEN_CACHE_DIR : FOPEN_KEEP_CACHE;
	}
	return 0;
}

static bool wants_write(uint32_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static void op_open(struct op *op, struct fs_inode *in, bool dir)
{
	struct fuse_open_in o;
	struct fuse_open_out out = { 0 };
	char path[64];
	int fd, rc, fl;

	if (!cur_get(&op->body, &o, sizeof(o)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (dir ? in->type != S_IFDIR : in->type != S_IFREG)
		return fs_reply_err(op->c, op->unique, in->type == S_IFDIR ? EISDIR :
				    dir ? ENOTDIR : EACCES);
	if (ro(op) && !dir && wants_write(o.flags))
		return fs_reply_err(op->c, op->unique, EROFS);
	proc_path(path, sizeof(path), in->fd);
	fl = dir ? O_RDONLY | O_DIRECTORY : open_flags(o.flags);
	fd = open(path, fl | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == EINVAL && (fl & O_DIRECT))	/* not every fs does O_DIRECT */
		fd = open(path, (fl & ~O_DIRECT) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fs_reply_err(op->c, op->unique, errno);
	rc = fs_handle_new(&op->c->t, fd, dir, in, &out.fh);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	out.open_flags = fopen_flags(op->c, dir);
	/*
	 * Closing a file opened read-only needs no FLUSH from us (we buffer
	 * nothing), and on a chain each FLUSH is a round trip at every hop
	 * below. The one thing FLUSH carries is POSIX close semantics for read
	 * locks; those still go at RELEASE (fs_handle_release()).
	 */
	if (!dir && (o.flags & O_ACCMODE) == O_RDONLY && op->c->minor >= 35)
		out.open_flags |= FOPEN_NOFLUSH;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

static void op_create(struct op *op, struct fs_inode *in)
{
	struct fuse_create_in ci;
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	const char *name;
	char path[64];
	struct stat st;
	int fd, pfd, rc;
	uint64_t t;
	bool sw;

	if (!cur_get(&op->body, &ci, sizeof(ci)) || !(name = cur_str(&op->body)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	rc = check_name(name, false);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	sw = creds_enter(op);
	fd = openat(in->fd, name, open_flags(ci.flags) | O_CREAT | (int)(ci.flags & O_EXCL) |
		    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, ci.mode & 07777);
	rc = fd < 0 ? errno : 0;
	creds_leave(sw);
	if (rc)
		return fs_reply_err(op->c, op->unique, rc);
	if (stat_fresh(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fs_reply_err(op->c, op->unique, EIO);
	}
	/* The O_PATH fd for the inode table: the very inode we created, no race. */
	proc_path(path, sizeof(path), fd);
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0) {
		rc = errno;
		close(fd);
		return fs_reply_err(op->c, op->unique, rc);
	}
	memset(&out, 0, sizeof(out));
	rc = fs_inode_add(&op->c->t, pfd, &st, &out.e.nodeid);
	if (rc < 0) {
		close(fd);
		return fs_reply_err(op->c, op->unique, -rc);
	}
	timeout_for(op->c, &t);
	out.e.entry_valid = t;
	out.e.attr_valid = t;
	fill_attr(&out.e.attr, &st);
	{
		struct fs_inode *child = fs_inode_get(&op->c->t, out.e.nodeid);

		rc = child ? fs_handle_new(&op->c->t, fd, false, child, &out.o.fh) : -ESTALE;
		fs_inode_put(&op->c->t, child);
	}
	if (rc < 0) {
		fs_inode_forget(&op->c->t, out.e.nodeid, 1);
		return fs_reply_err(op->c, op->unique, -rc);
	}
	out.o.open_flags = fopen_flags(op->c, false);
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

static void op_read(struct op *op)
{
	struct fuse_read_in r;
	struct fs_handle *h;
	struct fs_reply *rep;
	ssize_t n;

	if (!cur_get(&op->body, &r, sizeof(r)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (r.size > NESTFS_MAX_WRITE)
		r.size = NESTFS_MAX_WRITE;
	h = fs_handle_get(&op->c->t, r.fh);
	if (!h || h->is_dir) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, EBADF);
	}
	rep = fs_reply_new(op->unique, r.size);
	if (!rep) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, ENOMEM);
	}
	do
		n = pread(h->fd, rep->data + sizeof(struct fuse_out_header), r.size, (off_t)r.offset);
	while (n < 0 && errno == EINTR);
	fs_handle_put(&op->c->t, h);
	if (n < 0) {
		int err = errno;

		free(rep);
		return fs_reply_err(op->c, op->unique, err);
	}
	rep->len = (uint32_t)(sizeof(struct fuse_out_header) + (size_t)n);
	((struct fuse_out_header *)(void *)rep->data)->len = rep->len;
	fs_reply_send(op->c, rep);
}

static void op_write(struct op *op)
{
	struct fuse_write_in w;
	struct fuse_write_out out = { 0 };
	struct fs_handle *h;
	const void *data;
	ssize_t n;

	if (!cur_get(&op->body, &w, sizeof(w)) || w.size > NESTFS_MAX_WRITE ||
	    !(data = cur_take(&op->body, w.size)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	h = fs_handle_get(&op->c->t, w.fh);
	if (!h || h->is_dir) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, EBADF);
	}
	do
		n = pwrite(h->fd, data, w.size, (off_t)w.offset);
	while (n < 0 && errno == EINTR);
	fs_handle_put(&op->c->t, h);
	if (n < 0)
		return fs_reply_err(op->c, op->unique, errno);
	out.size = (uint32_t)n;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

static void op_statfs(struct op *op, struct fs_inode *in)
{
	struct fuse_statfs_out out = { 0 };
	struct statfs sf;

	if (fstatfs(in->fd, &sf) < 0)
		return fs_reply_err(op->c, op->unique, errno);
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

static void op_release(struct op *op, bool dir)
{
	struct fuse_release_in r;
	struct fs_handle *h;

	if (!cur_get(&op->body, &r, sizeof(r)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (!dir && (r.release_flags & FUSE_RELEASE_FLOCK_UNLOCK)) {
		h = fs_handle_get(&op->c->t, r.fh);
		if (h) {
			(void)flock(h->fd, LOCK_UN);
			fs_handle_put(&op->c->t, h);
		}
	}
	fs_reply_err(op->c, op->unique, -fs_handle_release(&op->c->t, r.fh));
}

static void op_flush(struct op *op, struct fs_inode *in)
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
	fs_plock_drop(&op->c->t, in, f.lock_owner);
	fs_reply_err(op->c, op->unique, 0);
}

static void op_fsync(struct op *op)
{
	struct fuse_fsync_in f;
	struct fs_handle *h;
	int rc;

	if (!cur_get(&op->body, &f, sizeof(f)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	h = fs_handle_get(&op->c->t, f.fh);
	if (!h)
		return fs_reply_err(op->c, op->unique, EBADF);
	rc = ((f.fsync_flags & 1) ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? errno : 0;
	fs_handle_put(&op->c->t, h);
	fs_reply_err(op->c, op->unique, rc);
}

/* The fuse_dirent type from a d_type. */
static void op_readdir(struct op *op, bool plus)
{
	struct fuse_read_in r;
	struct fs_handle *h;
	struct fs_reply *rep;
	uint8_t dbuf[32768];
	size_t used = 0, dlen;
	uint8_t *out;
	ssize_t n;
	int err = 0;

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
	out = rep->data + sizeof(struct fuse_out_header);
	/* Plus entries are far bigger than getdents' own; read fewer. */
	dlen = plus ? r.size / 4 : r.size;
	if (dlen > sizeof(dbuf))
		dlen = sizeof(dbuf);
	if (dlen < 512)
		dlen = 512;
	pthread_mutex_lock(&h->dir_mu);
	if (r.offset != h->fd_pos) {
		if (lseek(h->fd, (off_t)r.offset, SEEK_SET) < 0) {
			err = errno;
			goto out;
		}
		h->fd_pos = r.offset;
	}
	h->dir_pos = r.offset;
	n = syscall(SYS_getdents64, h->fd, dbuf, dlen);
	if (n < 0) {
		err = errno;
		goto out;
	}
	for (size_t pos = 0; pos < (size_t)n;) {
		struct dirent64 de;
		const char *name;
		size_t namelen, entlen;

		memcpy(&de, dbuf + pos, offsetof(struct dirent64, d_name));
		if (de.d_reclen < offsetof(struct dirent64, d_name) || pos + de.d_reclen > (size_t)n)
			break;
		name = (const char *)dbuf + pos + offsetof(struct dirent64, d_name);
		namelen = strnlen(name, de.d_reclen - offsetof(struct dirent64, d_name));
		pos += de.d_reclen;
		h->fd_pos = (uint64_t)de.d_off;
		entlen = plus ? FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus){
					.dirent.namelen = (uint32_t)namelen })
			      : FUSE_DIRENT_SIZE(&(struct fuse_dirent){ .namelen = (uint32_t)namelen });
		if (used + entlen > r.size) {
			/* Does not fit: the next READDIR starts here; fd_pos is past it. */
			break;
		}
		if (plus) {
			struct fuse_direntplus dp;
			bool dots = (namelen == 1 && name[0] == '.') ||
				    (namelen == 2 && name[0] == '.' && name[1] == '.');

			memset(&dp, 0, sizeof(dp));
			if (!dots) {
				struct fs_inode *dir = h->inode;
				char nm[NAME_MAX + 1];

				memcpy(nm, name, namelen);
				nm[namelen] = 0;
				if (lookup_fill(op->c, dir, nm, &dp.entry_out) < 0)
					continue;	/* gone since getdents: skip it */
			} else {
				dp.entry_out.attr.ino = de.d_ino;
				dp.entry_out.attr.mode = (uint32_t)de.d_type << 12;
			}
			dp.dirent.ino = de.d_ino;
			dp.dirent.off = (uint64_t)de.d_off;
			dp.dirent.namelen = (uint32_t)namelen;
			dp.dirent.type = de.d_type;
			memset(out + used, 0, entlen);
			memcpy(out + used, &dp, sizeof(dp));
			memcpy(out + used + sizeof(dp), name, namelen);
		} else {
			struct fuse_dirent d = { .ino = de.d_ino, .off = (uint64_t)de.d_off,
						 .namelen = (uint32_t)namelen, .type = de.d_type };

			memset(out + used, 0, entlen);
			memcpy(out + used, &d, FUSE_NAME_OFFSET);
			memcpy(out + used + FUSE_NAME_OFFSET, name, namelen);
		}
		used += entlen;
		h->dir_pos = (uint64_t)de.d_off;
	}
out:
	pthread_mutex_unlock(&h->dir_mu);
	fs_handle_put(&op->c->t, h);
	if (err) {
		free(rep);
		return fs_reply_err(op->c, op->unique, err);
	}
	rep->len = (uint32_t)(sizeof(struct fuse_out_header) + used);
	((struct fuse_out_header *)(void *)rep->data)->len = rep->len;
	fs_reply_send(op->c, rep);
}

static void op_access(struct op *op, struct fs_inode *in)
{
	struct fuse_access_in a;
	char path[64];

	if (!cur_get(&op->body, &a, sizeof(a)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op) && (a.mask & W_OK))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (in->type == S_IFLNK)
		return fs_reply_err(op->c, op->unique, 0);
	proc_path(path, sizeof(path), in->fd);
	fs_reply_err(op->c, op->unique, faccessat(AT_FDCWD, path, (int)(a.mask & 7), 0) < 0 ?
				     errno : 0);
}

/* xattrs work on regular files and directories, through their /proc path. */
static bool xattr_path(struct fs_inode *in, char *path, size_t len)
{
	if (in->type != S_IFREG && in->type != S_IFDIR)
		return false;
	proc_path(path, len, in->fd);
	return true;
}

/* Answer a get/list xattr: size probe (size 0) or the bytes. */
static void reply_xattr(struct op *op, uint32_t size, ssize_t n, const void *buf)
{
	if (n < 0)
		return fs_reply_err(op->c, op->unique, errno);
	if (size == 0) {
		struct fuse_getxattr_out go = { .size = (uint32_t)n };

		return fs_reply_buf(op->c, op->unique, &go, sizeof(go));
	}
	fs_reply_buf(op->c, op->unique, buf, (size_t)n);
}

static void op_getxattr(struct op *op, struct fs_inode *in, bool list)
{
	struct fuse_getxattr_in g;
	const char *name = NULL;
	char path[64];
	uint8_t *buf = NULL;
	ssize_t n;

	if (!cur_get(&op->body, &g, sizeof(g)) || (!list && !(name = cur_str(&op->body))))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (!xattr_path(in, path, sizeof(path)))
		return fs_reply_err(op->c, op->unique, list ? 0 : ENODATA);
	if (g.size > NESTFS_MAX_XATTR)
		g.size = NESTFS_MAX_XATTR;
	if (g.size && !(buf = malloc(g.size)))
		return fs_reply_err(op->c, op->unique, ENOMEM);
	n = list ? listxattr(path, (char *)buf, g.size) : getxattr(path, name, buf, g.size);
	reply_xattr(op, g.size, n, buf);
	free(buf);
}

static void op_setxattr(struct op *op, struct fs_inode *in)
{
	struct fuse_setxattr_in s = { 0 };
	const char *name;
	const void *value;
	char path[64];

	if (!cur_get(&op->body, &s, FUSE_COMPAT_SETXATTR_IN_SIZE) ||
	    !(name = cur_str(&op->body)) || s.size > NESTFS_MAX_XATTR ||
	    !(value = cur_take(&op->body, s.size)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (!xattr_path(in, path, sizeof(path)))
		return fs_reply_err(op->c, op->unique, EPERM);
	fs_reply_err(op->c, op->unique, setxattr(path, name, value, s.size, (int)s.flags) < 0 ?
				     errno : 0);
}

static void op_removexattr(struct op *op, struct fs_inode *in)
{
	const char *name = cur_str(&op->body);
	char path[64];

	if (!name)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	if (!xattr_path(in, path, sizeof(path)))
		return fs_reply_err(op->c, op->unique, ENODATA);
	fs_reply_err(op->c, op->unique, removexattr(path, name) < 0 ? errno : 0);
}

static void op_fsyncdir(struct op *op)
{
	op_fsync(op);
}

/* ---- locks ------------------------------------------------------------ */

static int lk_to_flock(const struct fuse_file_lock *l, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	if (l->type != F_RDLCK && l->type != F_WRLCK && l->type != F_UNLCK)
		return -EINVAL;
	if (l->start > (uint64_t)INT64_MAX || (l->end < l->start))
		return -EINVAL;
	fl->l_type = (short)l->type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)l->start;
	fl->l_len = l->end >= (uint64_t)INT64_MAX ? 0 : (off_t)(l->end - l->start + 1);
	return 0;
}

static void op_getlk(struct op *op, struct fs_inode *in)
{
	struct fuse_lk_in l;
	struct fuse_lk_out out = { 0 };
	struct flock fl;
	int fd, rc;

	if (!cur_get(&op->body, &l, sizeof(l)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	rc = lk_to_flock(&l.lk, &fl);
	if (rc == 0)
		rc = fd = fs_plock_fd(&op->c->t, in, l.owner, true);
	if (rc >= 0)
		rc = fcntl(fd, F_OFD_GETLK, &fl) < 0 ? -errno : 0;
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	out.lk.type = (uint32_t)fl.l_type;
	if (fl.l_type != F_UNLCK) {
		out.lk.start = (uint64_t)fl.l_start;
		out.lk.end = fl.l_len == 0 ? (uint64_t)INT64_MAX
					   : (uint64_t)(fl.l_start + fl.l_len - 1);
		out.lk.pid = fl.l_pid > 0 ? (uint32_t)fl.l_pid : 0;
	}
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

static void op_setlk(struct op *op, struct fs_inode *in, bool wait)
{
	struct fuse_lk_in l;
	struct fs_waiter w;
	struct flock fl;
	int fd = -1, rc;

	if (!cur_get(&op->body, &l, sizeof(l)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (op->c->fd < 0)
		wait = false;	/* fuzzing: nothing may block */
	if (l.lk_flags & FUSE_LK_FLOCK) {
		struct fs_handle *h = fs_handle_get(&op->c->t, l.fh);
		int how = l.lk.type == F_RDLCK ? LOCK_SH : l.lk.type == F_WRLCK ? LOCK_EX : LOCK_UN;

		if (!h)
			return fs_reply_err(op->c, op->unique, EBADF);
		if (!wait || how == LOCK_UN) {
			rc = flock(h->fd, how | (how == LOCK_UN ? 0 : LOCK_NB)) < 0 ? errno : 0;
		} else {
			fs_block_begin(op->c, &w, op->unique);
			rc = op->c->pool.stopping ? EINTR : 0;
			while (!rc && flock(h->fd, how) < 0) {
				rc = errno;
				if (rc == EINTR && !w.interrupted && !op->c->pool.stopping)
					rc = 0;
			}
			fs_block_end(op->c, &w);
		}
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, rc == EWOULDBLOCK ? EAGAIN : rc);
	}
	rc = lk_to_flock(&l.lk, &fl);
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	rc = fd = fs_plock_fd(&op->c->t, in, l.owner, fl.l_type != F_UNLCK);
	if (rc == -ENOENT && fl.l_type == F_UNLCK)
		return fs_reply_err(op->c, op->unique, 0);	/* held nothing */
	if (rc < 0)
		return fs_reply_err(op->c, op->unique, -rc);
	if (fl.l_type != F_UNLCK) {
		struct fs_handle *h = fs_handle_get(&op->c->t, l.fh);

		if (h) {
			fs_handle_note_owner(&op->c->t, h, l.owner);
			fs_handle_put(&op->c->t, h);
		}
	}
	if (!wait || fl.l_type == F_UNLCK) {
		rc = fcntl(fd, F_OFD_SETLK, &fl) < 0 ? errno : 0;
		return fs_reply_err(op->c, op->unique, rc);
	}
	fs_block_begin(op->c, &w, op->unique);
	rc = op->c->pool.stopping ? EINTR : 0;
	while (!rc && fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
		rc = errno;
		if (rc == EINTR && !w.interrupted && !op->c->pool.stopping)
			rc = 0;
	}
	fs_block_end(op->c, &w);
	fs_reply_err(op->c, op->unique, rc);
}

/* ---- the rest --------------------------------------------------------- */

static void op_fallocate(struct op *op)
{
	struct fuse_fallocate_in f;
	struct fs_handle *h;
	int rc;

	if (!cur_get(&op->body, &f, sizeof(f)) || f.offset > (uint64_t)INT64_MAX ||
	    f.length > (uint64_t)INT64_MAX)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	h = fs_handle_get(&op->c->t, f.fh);
	if (!h || h->is_dir) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, EBADF);
	}
	rc = fallocate(h->fd, (int)f.mode, (off_t)f.offset, (off_t)f.length) < 0 ? errno : 0;
	fs_handle_put(&op->c->t, h);
	fs_reply_err(op->c, op->unique, rc);
}

static void op_lseek(struct op *op)
{
	struct fuse_lseek_in l;
	struct fuse_lseek_out out = { 0 };
	struct fs_handle *h;
	off_t r;

	if (!cur_get(&op->body, &l, sizeof(l)) || l.offset > (uint64_t)INT64_MAX)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (l.whence != SEEK_DATA && l.whence != SEEK_HOLE)
		return fs_reply_err(op->c, op->unique, EINVAL);
	h = fs_handle_get(&op->c->t, l.fh);
	if (!h || h->is_dir) {
		fs_handle_put(&op->c->t, h);
		return fs_reply_err(op->c, op->unique, EBADF);
	}
	r = lseek(h->fd, (off_t)l.offset, (int)l.whence);
	fs_handle_put(&op->c->t, h);
	if (r < 0)
		return fs_reply_err(op->c, op->unique, errno);
	out.offset = (uint64_t)r;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

static void op_copy_file_range(struct op *op)
{
	struct fuse_copy_file_range_in cf;
	struct fuse_write_out out = { 0 };
	struct fs_handle *hi, *ho;
	loff_t oi, oo;
	ssize_t n;

	if (!cur_get(&op->body, &cf, sizeof(cf)) || cf.off_in > (uint64_t)INT64_MAX ||
	    cf.off_out > (uint64_t)INT64_MAX || cf.flags)
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (ro(op))
		return fs_reply_err(op->c, op->unique, EROFS);
	hi = fs_handle_get(&op->c->t, cf.fh_in);
	ho = fs_handle_get(&op->c->t, cf.fh_out);
	if (!hi || !ho || hi->is_dir || ho->is_dir) {
		fs_handle_put(&op->c->t, hi);
		fs_handle_put(&op->c->t, ho);
		return fs_reply_err(op->c, op->unique, EBADF);
	}
	oi = (loff_t)cf.off_in;
	oo = (loff_t)cf.off_out;
	/* The answer is a 32-bit size: copy at most that much per request. */
	n = copy_file_range(hi->fd, &oi, ho->fd, &oo, cf.len > (1u << 30) ? (1u << 30) : cf.len, 0);
	fs_handle_put(&op->c->t, hi);
	fs_handle_put(&op->c->t, ho);
	if (n < 0)
		return fs_reply_err(op->c, op->unique, errno);
	out.size = (uint32_t)n;
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

static void op_interrupt(struct op *op)
{
	struct fuse_interrupt_in i;

	if (cur_get(&op->body, &i, sizeof(i)))
		fs_interrupt(op->c, i.unique);
	fs_noreply(op->c);
}

/* Opcodes that name no inode (or only the root implicitly). */
static bool needs_inode(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_INIT:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
	case FUSE_DESTROY:
	case FUSE_READ:
	case FUSE_WRITE:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_FALLOCATE:
	case FUSE_LSEEK:
	case FUSE_COPY_FILE_RANGE:
	case FUSE_NOTIFY_REPLY:
		return false;
	default:
		return true;
	}
}

/**
 * fs_dispatch() - decode one request frame and answer it
 * @c:	connection
 * @r:	the frame (its length already checked against the header's)
 */
void fs_dispatch(struct fs_conn *c, struct fs_req *r)
{
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

	if (ih.opcode == FUSE_FORGET || ih.opcode == FUSE_BATCH_FORGET ||
	    ih.opcode == FUSE_INTERRUPT || ih.opcode == FUSE_NOTIFY_REPLY) {
		if (!c->initialized || ih.opcode == FUSE_NOTIFY_REPLY)
			return fs_noreply(c);
		if (ih.opcode == FUSE_FORGET)
			return op_forget(&op);
		if (ih.opcode == FUSE_BATCH_FORGET)
			return op_batch_forget(&op);
		return op_interrupt(&op);
	}
	if (ih.opcode == FUSE_INIT)
		return op_init(&op);
	if (!c->initialized)
		return fs_reply_err(c, op.unique, EIO);
	if (needs_inode(ih.opcode)) {
		in = fs_inode_get(&c->t, ih.nodeid);
		if (!in)
			return fs_reply_err(c, op.unique, ESTALE);
	}
	switch (ih.opcode) {
	case FUSE_LOOKUP:
		op_lookup(&op, in);
		break;
	case FUSE_GETATTR:
		op_getattr(&op, in);
		break;
	case FUSE_SETATTR:
		op_setattr(&op, in);
		break;
	case FUSE_READLINK:
		op_readlink(&op, in);
		break;
	case FUSE_SYMLINK:
		op_symlink(&op, in);
		break;
	case FUSE_MKNOD:
		op_mknod(&op, in);
		break;
	case FUSE_MKDIR:
		op_mkdir(&op, in);
		break;
	case FUSE_UNLINK:
		op_unlink(&op, in, false);
		break;
	case FUSE_RMDIR:
		op_unlink(&op, in, true);
		break;
	case FUSE_RENAME:
		op_rename(&op, in, false);
		break;
	case FUSE_RENAME2:
		op_rename(&op, in, true);
		break;
	case FUSE_LINK:
		op_link(&op, in);
		break;
	case FUSE_OPEN:
		op_open(&op, in, false);
		break;
	case FUSE_OPENDIR:
		op_open(&op, in, true);
		break;
	case FUSE_CREATE:
		op_create(&op, in);
		break;
	case FUSE_READ:
		op_read(&op);
		break;
	case FUSE_WRITE:
		op_write(&op);
		break;
	case FUSE_STATFS:
		op_statfs(&op, in);
		break;
	case FUSE_RELEASE:
		op_release(&op, false);
		break;
	case FUSE_RELEASEDIR:
		op_release(&op, true);
		break;
	case FUSE_FLUSH:
		op_flush(&op, in);
		break;
	case FUSE_FSYNC:
		op_fsync(&op);
		break;
	case FUSE_FSYNCDIR:
		op_fsyncdir(&op);
		break;
	case FUSE_READDIR:
		op_readdir(&op, false);
		break;
	case FUSE_READDIRPLUS:
		op_readdir(&op, true);
		break;
	case FUSE_ACCESS:
		op_access(&op, in);
		break;
	case FUSE_GETXATTR:
		op_getxattr(&op, in, false);
		break;
	case FUSE_LISTXATTR:
		op_getxattr(&op, in, true);
		break;
	case FUSE_SETXATTR:
		op_setxattr(&op, in);
		break;
	case FUSE_REMOVEXATTR:
		op_removexattr(&op, in);
		break;
	case FUSE_GETLK:
		op_getlk(&op, in);
		break;
	case FUSE_SETLK:
		op_setlk(&op, in, false);
		break;
	case FUSE_SETLKW:
		op_setlk(&op, in, true);
		break;
	case FUSE_FALLOCATE:
		op_fallocate(&op);
		break;
	case FUSE_LSEEK:
		op_lseek(&op);
		break;
	case FUSE_COPY_FILE_RANGE:
		op_copy_file_range(&op);
		break;
	case FUSE_DESTROY:
		fs_reply_err(c, op.unique, 0);
		break;
	default:
		fs_reply_err(c, op.unique, ENOSYS);
		break;
	}
	fs_inode_put(&c->t, in);
}
