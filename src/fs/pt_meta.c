/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs passthrough: lookups and metadata.
 *
 * Nothing here resolves a path string: a name is one component, looked up
 * with openat(parent, name, O_PATH|O_NOFOLLOW); an O_PATH fd is reopened
 * or named through /proc/self/fd/N, and only when it is a regular file or
 * a directory where a reopen could touch a device or a FIFO.
 *
 * Chains: when the exported directory is itself a FUSE mount (a guest
 * serving its own nestfs mount one level down), every system call here is
 * a round trip through all the hops below, so the calls avoid what adds no
 * information of its own: a lookup takes the attributes its own open just
 * brought (statx AT_STATX_DONT_SYNC) instead of asking again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs/pt.h"
#include "lib/cleanup.h"

void pt_proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/*
 * On a FUSE backing directory (a second or later hop) the LOOKUP that the
 * open made has just returned the attributes; a plain fstat would ask again
 * whenever they may not be cached, and every hop below would double the
 * requests. AT_STATX_DONT_SYNC takes what the kernel has. Elsewhere it is
 * the same as fstat.
 */
int pt_stat_fresh(int fd, struct stat *st)
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

/* Set once a worker has unshared its fs attributes: its umask is its own. */
static __thread bool own_umask;

/*
 * The umask is a property of the fs attributes a process's threads share;
 * a worker unshares them once, so that it can take each requester's umask
 * without touching its fellows' or the process's.
 */
int pt_thread_init(void)
{
	if (unshare(CLONE_FS) < 0)
		return -errno;
	own_umask = true;
	return 0;
}

bool pt_own_umask(void)
{
	return own_umask;
}

bool pt_creds_enter(const struct fs_conn *c, const struct pt_ctx *ctx)
{
	if (own_umask)
		umask(ctx->umask & 0777);
	if (!c->srv->as_root)
		return false;
	syscall(SYS_setfsgid, ctx->gid);
	syscall(SYS_setfsuid, ctx->uid);
	return true;
}

void pt_creds_leave(bool switched)
{
	if (!switched)
		return;
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
}

/*
 * Is directory @fd inside the export: does walking up from it reach the
 * export's root before the host's? A directory the peer holds may have been
 * moved out of the export on the host since; its ".." is then outside.
 */
static bool inside_export(const struct fs_conn *c, int fd)
{
	autoclose int cur = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	for (unsigned depth = 0; cur >= 0 && depth < PATH_MAX / 2; depth++) {
		struct stat st, up;
		int next;

		if (fstat(cur, &st) < 0)
			return false;
		if (st.st_dev == c->t.root_dev && st.st_ino == c->t.root_ino)
			return true;
		next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			return false;
		if (fstat(next, &up) < 0 || (up.st_dev == st.st_dev && up.st_ino == st.st_ino)) {
			close(next);
			return false;	/* the host's root: the export was never met */
		}
		close(cur);
		cur = next;
	}
	return false;
}

/* "." and the root's ".." are the parent itself, and any other ".." must lie inside the
 * export (ENOENT if not): a lookup never leaves the export. */
int pt_lookup(struct fs_conn *c, struct fs_inode *parent, const char *name, struct pt_entry *e)
{
	autoclose int fd = -1;
	bool dotdot = !strcmp(name, "..");
	int rc;

	if (!strcmp(name, ".") || (dotdot && fs_inode_is_root(parent)))
		fd = fcntl(parent->fd, F_DUPFD_CLOEXEC, 3);
	else
		fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (dotdot && !fs_inode_is_root(parent) && !inside_export(c, fd))
		return -ENOENT;
	rc = pt_stat_fresh(fd, &e->st);
	if (rc < 0)
		return rc;
	return fs_inode_add(&c->t, steal_fd(&fd), &e->st, &e->nodeid);
}

int pt_getattr(struct fs_inode *in, struct fs_handle *h, struct stat *st)
{
	if (h)
		return fstat(h->fd, st) < 0 ? -errno : 0;
	return stat_fd(in->fd, st);
}

/* Truncate @in (a regular file) with no handle: through a write-only reopen. */
static int truncate_inode(const struct fs_inode *in, off_t size)
{
	autoclose int fd = -1;
	char path[64];

	if (in->type != S_IFREG)
		return in->type == S_IFDIR ? -EISDIR : -EINVAL;
	pt_proc_path(path, sizeof(path), in->fd);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	return ftruncate(fd, size) < 0 ? -errno : 0;
}

int pt_setattr(struct fs_inode *in, struct fs_handle *h, const struct pt_setattr *sa,
	       struct stat *st)
{
	char path[64];
	int rc;

	pt_proc_path(path, sizeof(path), in->fd);
	if (sa->valid & PT_SET_MODE) {
		if (h)
			rc = fchmod(h->fd, sa->mode);
		else if (in->type == S_IFLNK)
			rc = -1, errno = EOPNOTSUPP;
		else
			rc = fchmodat(AT_FDCWD, path, sa->mode, 0);
		if (rc < 0)
			return -errno;
	}
	if (sa->valid & (PT_SET_UID | PT_SET_GID)) {
		uid_t u = sa->valid & PT_SET_UID ? sa->uid : (uid_t)-1;
		gid_t g = sa->valid & PT_SET_GID ? sa->gid : (gid_t)-1;

		if (fchownat(in->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (sa->valid & PT_SET_SIZE) {
		if (h)
			rc = ftruncate(h->fd, sa->size) < 0 ? -errno : 0;
		else
			rc = truncate_inode(in, sa->size);
		if (rc < 0)
			return rc;
	}
	if (sa->valid & PT_SET_TIMES) {
		if (h)
			rc = futimens(h->fd, sa->times);
		else if (in->type == S_IFLNK)	/* the link itself: no /proc reopen follows it */
			rc = utimensat(in->fd, "", sa->times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		else
			rc = utimensat(AT_FDCWD, path, sa->times, 0);
		if (rc < 0)
			return -errno;
	}
	return stat_fd(in->fd, st);
}

ssize_t pt_readlink(struct fs_inode *in, char *buf, size_t len)
{
	ssize_t n;

	if (in->type != S_IFLNK)
		return -EINVAL;
	n = readlinkat(in->fd, "", buf, len);
	return n < 0 ? -errno : n;
}

int pt_statfs(struct fs_inode *in, struct statfs *sf)
{
	return fstatfs(in->fd, sf) < 0 ? -errno : 0;
}

int pt_access(struct fs_inode *in, int mask)
{
	char path[64];

	if (in->type == S_IFLNK)
		return 0;
	pt_proc_path(path, sizeof(path), in->fd);
	return faccessat(AT_FDCWD, path, mask, 0) < 0 ? -errno : 0;
}
