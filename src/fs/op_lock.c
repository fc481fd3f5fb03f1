/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs operations: locks: GETLK, SETLK and SETLKW, for POSIX record locks
 * (by lock owner) and for flock() (FUSE_LK_FLOCK, by handle). A FUSE lock
 * range is [start, end] with end = INT64_MAX or more meaning "to the end".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>

#include "fs/ops.h"

/* A FUSE lock range as a struct flock; 0 or -EINVAL. */
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

/* A kind of lock INIT did not grant (none on a read-only share: no host locks), asked
 * for anyway: @flock for flock(), else POSIX record locks. */
static bool lock_refused(const struct op *op, bool flock)
{
	return !(op->c->flags & (flock ? FUSE_FLOCK_LOCKS : FUSE_POSIX_LOCKS));
}

void op_getlk(struct op *op, struct fs_inode *in)
{
	struct fuse_lk_in l;
	struct fuse_lk_out out = { 0 };
	struct flock fl;
	int rc;

	if (!cur_get(&op->body, &l, sizeof(l)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (lock_refused(op, false))
		return fs_reply_err(op->c, op->unique, ENOSYS);
	rc = lk_to_flock(&l.lk, &fl);
	if (rc == 0)
		rc = pt_getlk(op->c, in, l.owner, &fl);
	if (rc < 0)
		return op_reply_rc(op, rc);
	out.lk.type = (uint32_t)fl.l_type;
	if (fl.l_type != F_UNLCK) {
		out.lk.start = (uint64_t)fl.l_start;
		out.lk.end = fl.l_len == 0 ? (uint64_t)INT64_MAX
					   : (uint64_t)(fl.l_start + fl.l_len - 1);
		out.lk.pid = fl.l_pid > 0 ? (uint32_t)fl.l_pid : 0;
	}
	fs_reply_buf(op->c, op->unique, &out, sizeof(out));
}

/* SETLK and SETLKW. */
static void set_lock(struct op *op, struct fs_inode *in, bool wait)
{
	struct fuse_lk_in l;
	struct flock fl;
	int rc;

	if (!cur_get(&op->body, &l, sizeof(l)))
		return fs_reply_err(op->c, op->unique, EINVAL);
	if (lock_refused(op, l.lk_flags & FUSE_LK_FLOCK))
		return fs_reply_err(op->c, op->unique, ENOSYS);
	if (op->c->fd < 0)
		wait = false;	/* fuzzing: nothing may block */
	if (l.lk_flags & FUSE_LK_FLOCK) {
		int how = l.lk.type == F_RDLCK ? LOCK_SH : l.lk.type == F_WRLCK ? LOCK_EX : LOCK_UN;

		return op_reply_rc(op, pt_flock(op->c, l.fh, how, wait, op->unique));
	}
	rc = lk_to_flock(&l.lk, &fl);
	if (rc == 0)
		rc = pt_setlk(op->c, in, l.fh, l.owner, &fl, wait, op->unique);
	op_reply_rc(op, rc);
}

void op_setlk(struct op *op, struct fs_inode *in)
{
	set_lock(op, in, false);
}

void op_setlkw(struct op *op, struct fs_inode *in)
{
	set_lock(op, in, true);
}
