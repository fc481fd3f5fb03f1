/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs passthrough: locks.
 *
 * POSIX locks are OFD locks on one open file description per (inode, lock
 * owner) (the lock table, plock.c), so they conflict with each other and
 * with every process on the host as POSIX locks should; flock() goes to the
 * handle's own fd. Owners lose their locks at FLUSH (close by that owner)
 * and at RELEASE of any handle they locked through (the only close the
 * kernel reports for OFD locks, which is what the next hop up takes).
 *
 * A wait (SETLKW, blocking flock) registers with the pool first, so that
 * FUSE_INTERRUPT and the connection's end can knock it out of its call and
 * the pool keeps a worker free for the unlock that would end it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

#include "fs/pt.h"
#include "lib/cleanup.h"

/* An owner with no description holds no lock: a temporary one answers for it, so a
 * GETLK costs no fd that outlives it. */
int pt_getlk(struct fs_conn *c, struct fs_inode *in, uint64_t owner, struct flock *fl)
{
	autoclose int tmp = -1;
	int fd = fs_plock_fd(&c->t, in, owner, false);

	if (fd == -ENOENT) {
		tmp = fs_plock_open(&c->t, in);
		if (tmp < 0)
			return tmp;
		return fcntl(tmp, F_OFD_GETLK, fl) < 0 ? -errno : 0;
	}
	if (fd < 0)
		return fd;
	return fcntl(fd, F_OFD_GETLK, fl) < 0 ? -errno : 0;
}

/* A blocking call: one of the two below. */
struct wait_call {
	int fd;
	int how;		/* flock: LOCK_SH or LOCK_EX */
	struct flock *fl;	/* OFD lock, or NULL for flock */
};

/* Run @wc until it succeeds, fails for good or is interrupted, registered as a waiter. */
static int wait_call(struct fs_conn *c, uint64_t unique, struct wait_call *wc)
{
	struct fs_waiter w;
	int rc;

	fs_block_begin(c, &w, unique);
	rc = c->pool.stopping ? -EINTR : 0;
	while (!rc && (wc->fl ? fcntl(wc->fd, F_OFD_SETLKW, wc->fl) : flock(wc->fd, wc->how)) < 0) {
		rc = -errno;
		if (rc == -EINTR && !w.interrupted && !c->pool.stopping)
			rc = 0;
	}
	fs_block_end(c, &w);
	return rc;
}

int pt_setlk(struct fs_conn *c, struct fs_inode *in, uint64_t fh, uint64_t owner,
	     const struct flock *fl, bool wait, uint64_t unique)
{
	struct flock l = *fl;
	int fd;

	fd = fs_plock_fd(&c->t, in, owner, l.l_type != F_UNLCK);
	if (fd == -ENOENT && l.l_type == F_UNLCK)
		return 0;	/* held nothing */
	if (fd < 0)
		return fd;
	if (l.l_type != F_UNLCK) {
		struct fs_handle *h = fs_handle_get(&c->t, fh);

		if (h) {
			fs_handle_note_owner(&c->t, h, owner);
			fs_handle_put(&c->t, h);
		}
	}
	if (!wait || l.l_type == F_UNLCK)
		return fcntl(fd, F_OFD_SETLK, &l) < 0 ? -errno : 0;
	return wait_call(c, unique, &(struct wait_call){ .fd = fd, .fl = &l });
}

int pt_flock(struct fs_conn *c, uint64_t fh, int how, bool wait, uint64_t unique)
{
	struct fs_handle *h = fs_handle_get(&c->t, fh);
	int rc;

	if (!h)
		return -EBADF;
	if (!wait || how == LOCK_UN)
		rc = flock(h->fd, how | (how == LOCK_UN ? 0 : LOCK_NB)) < 0 ? -errno : 0;
	else
		rc = wait_call(c, unique, &(struct wait_call){ .fd = h->fd, .how = how });
	fs_handle_put(&c->t, h);
	return rc == -EWOULDBLOCK ? -EAGAIN : rc;
}

void pt_flush(struct fs_conn *c, struct fs_inode *in, uint64_t owner)
{
	fs_plock_drop(&c->t, in, owner);
}
