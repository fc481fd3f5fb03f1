/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/pt: the passthrough: every host system call the FUSE operations make,
 * on the fds of the tables' inodes and handles, by family (pt_meta.c,
 * pt_dir.c, pt_file.c, pt_xattr.c, pt_lock.c). Takes decoded, checked
 * arguments; knows nothing of the wire. Returns 0 (or a count) or -errno.
 * Private to src/fs. */
#ifndef NESTBOX_FS_PT_H
#define NESTBOX_FS_PT_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>

#include "fs/conn.h"
#include "fs/tables.h"

/**
 * struct pt_ctx - who asks, for the owner and mode of what a request creates
 * @uid:	the requester's fsuid
 * @gid:	the requester's fsgid
 * @umask:	the requester's umask, applied by the host kernel to the new mode (so a
 *		default ACL of the parent takes its place, as it would locally)
 */
struct pt_ctx {
	uid_t uid;
	gid_t gid;
	mode_t umask;
};

/**
 * struct pt_entry - an inode just looked up (or created): counts one lookup
 * @nodeid:	its node id
 * @st:		its attributes
 */
struct pt_entry {
	uint64_t nodeid;
	struct stat st;
};

/* What pt_setattr() changes. */
enum {
	PT_SET_MODE = 1 << 0,
	PT_SET_UID = 1 << 1,
	PT_SET_GID = 1 << 2,
	PT_SET_SIZE = 1 << 3,
	PT_SET_TIMES = 1 << 4,
};

/**
 * struct pt_setattr - a SETATTR, decoded
 * @valid:	PT_SET_* bits
 * @mode:	new permission bits
 * @uid:	new owner
 * @gid:	new group
 * @size:	new size
 * @times:	atime and mtime for utimensat (UTIME_OMIT / UTIME_NOW allowed)
 */
struct pt_setattr {
	unsigned valid;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	off_t size;
	struct timespec times[2];
};

/* What a pt_readdir() callback says of an entry. */
enum pt_dir_emit { PT_DIR_ADDED, PT_DIR_SKIPPED, PT_DIR_FULL };

/**
 * struct pt_dirent - one directory entry as getdents gave it
 * @name:	its name, not NUL-terminated
 * @namelen:	length of @name
 * @ino:	inode number
 * @off:	offset of the entry after it
 * @type:	d_type
 */
struct pt_dirent {
	const char *name;
	size_t namelen;
	uint64_t ino;
	uint64_t off;
	unsigned type;
};

/* A pt_readdir() callback: add @d to the reply being built in @arg. */
typedef enum pt_dir_emit pt_dir_fn(void *arg, const struct pt_dirent *d);

/* ---- metadata and lookups (pt_meta.c) ---- */

/* pt_proc_path() - /proc/self/fd/@fd in @buf: how an O_PATH fd is reopened or named */
void pt_proc_path(char *buf, size_t len, int fd);
/* pt_stat_fresh() - stat an fd just opened by name, trusting what that open brought */
int pt_stat_fresh(int fd, struct stat *st);
/* pt_thread_init() - give the calling worker a umask of its own (unshare(CLONE_FS)); 0 or
 * -errno (then creations keep the process's umask) */
int pt_thread_init(void);
/* pt_own_umask() - the calling thread has a umask of its own: a creation can take the
 * requester's */
bool pt_own_umask(void);
/* pt_creds_enter() - switch this thread's fsuid/fsgid and umask to @ctx's; returns whether
 * it switched the ids */
bool pt_creds_enter(const struct fs_conn *c, const struct pt_ctx *ctx);
/* pt_creds_leave() - undo pt_creds_enter() */
void pt_creds_leave(bool switched);
/* pt_lookup() - look @name (one checked component, "." and ".." allowed) up in @parent */
int pt_lookup(struct fs_conn *c, struct fs_inode *parent, const char *name, struct pt_entry *e);
/* pt_getattr() - attributes of @in, or of @h's open file when @h is given */
int pt_getattr(struct fs_inode *in, struct fs_handle *h, struct stat *st);
/* pt_setattr() - change what @sa says of @in (through @h when given); new attributes in @st */
int pt_setattr(struct fs_inode *in, struct fs_handle *h, const struct pt_setattr *sa,
	       struct stat *st);
/* pt_readlink() - the target of symlink @in into @buf; its length or -errno */
ssize_t pt_readlink(struct fs_inode *in, char *buf, size_t len);
/* pt_statfs() - the statistics of the filesystem holding @in */
int pt_statfs(struct fs_inode *in, struct statfs *sf);
/* pt_access() - may the server's credentials access @in for @mask (R_OK|W_OK|X_OK) */
int pt_access(struct fs_inode *in, int mask);

/* ---- directories (pt_dir.c) ---- */

/* pt_mknod() - make @name in @parent (a regular file, FIFO, socket or device) as @ctx */
int pt_mknod(struct fs_conn *c, struct fs_inode *parent, const char *name, mode_t mode,
	     dev_t rdev, const struct pt_ctx *ctx, struct pt_entry *e);
/* pt_mkdir() - make directory @name in @parent as @ctx */
int pt_mkdir(struct fs_conn *c, struct fs_inode *parent, const char *name, mode_t mode,
	     const struct pt_ctx *ctx, struct pt_entry *e);
/* pt_symlink() - make symlink @name in @parent pointing at @target as @ctx */
int pt_symlink(struct fs_conn *c, struct fs_inode *parent, const char *name, const char *target,
	       const struct pt_ctx *ctx, struct pt_entry *e);
/* pt_unlink() - remove @name from @parent (a directory if @dir) */
int pt_unlink(struct fs_inode *parent, const char *name, bool dir);
/* pt_rename() - renameat2(@parent/@name, @newdir/@newname, @flags) */
int pt_rename(struct fs_inode *parent, const char *name, struct fs_inode *newdir,
	      const char *newname, unsigned flags);
/* pt_link() - a new name @name in @newparent for @old (not a directory) */
int pt_link(struct fs_conn *c, struct fs_inode *old, struct fs_inode *newparent,
	    const char *name, struct pt_entry *e);
/* pt_readdir() - entries of directory handle @h from @offset, up to @dlen bytes of getdents,
 * each given to @emit until it says PT_DIR_FULL */
int pt_readdir(struct fs_handle *h, uint64_t offset, size_t dlen, pt_dir_fn *emit, void *arg);

/* ---- files (pt_file.c) ---- */

/* pt_open() - open @in (a regular file, or a directory if @dir) with @flags; a handle in *@fh */
int pt_open(struct fs_conn *c, struct fs_inode *in, int flags, bool dir, uint64_t *fh);
/* pt_create() - create and open regular file @name in @parent as @ctx: its entry and handle */
int pt_create(struct fs_conn *c, struct fs_inode *parent, const char *name, int flags,
	      mode_t mode, const struct pt_ctx *ctx, struct pt_entry *e, uint64_t *fh);
/* pt_read() - pread from @h; bytes read or -errno */
ssize_t pt_read(struct fs_handle *h, void *buf, size_t size, off_t off);
/* pt_write() - pwrite to @h; bytes written or -errno */
ssize_t pt_write(struct fs_handle *h, const void *buf, size_t size, off_t off);
/* pt_fsync() - fsync (fdatasync if @datasync) @h */
int pt_fsync(struct fs_handle *h, bool datasync);
/* pt_fallocate() - fallocate on @h */
int pt_fallocate(struct fs_handle *h, int mode, off_t off, off_t len);
/* pt_lseek() - SEEK_DATA / SEEK_HOLE on @h; the offset or -errno */
off_t pt_lseek(struct fs_handle *h, off_t off, int whence);
/* pt_copy_file_range() - copy between two handles; bytes copied or -errno */
ssize_t pt_copy_file_range(struct fs_handle *in, off_t off_in, struct fs_handle *out,
			   off_t off_out, size_t len);
/* pt_release() - the peer closed @fh (dropping its flock first if @flock_unlock) */
int pt_release(struct fs_conn *c, uint64_t fh, bool flock_unlock);

/* ---- extended attributes (pt_xattr.c) ---- */

/* pt_getxattr() - value of @name on @in into @buf (@size 0: its size); length or -errno */
ssize_t pt_getxattr(struct fs_inode *in, const char *name, void *buf, size_t size);
/* pt_listxattr() - names on @in into @buf (@size 0: their size); length or -errno */
ssize_t pt_listxattr(struct fs_inode *in, char *buf, size_t size);
/* pt_setxattr() - set @name on @in */
int pt_setxattr(struct fs_inode *in, const char *name, const void *value, size_t size,
		int flags);
/* pt_removexattr() - remove @name from @in */
int pt_removexattr(struct fs_inode *in, const char *name);

/* ---- locks (pt_lock.c) ---- */

/* pt_getlk() - F_OFD_GETLK for POSIX lock @owner on @in; @fl is updated */
int pt_getlk(struct fs_conn *c, struct fs_inode *in, uint64_t owner, struct flock *fl);
/* pt_setlk() - take or drop POSIX lock @owner's @fl on @in, through handle @fh; if @wait,
 * block (interruptible by FUSE_INTERRUPT of @unique) */
int pt_setlk(struct fs_conn *c, struct fs_inode *in, uint64_t fh, uint64_t owner,
	     const struct flock *fl, bool wait, uint64_t unique);
/* pt_flock() - flock(@how) on handle @fh; if @wait, block (interruptible as above) */
int pt_flock(struct fs_conn *c, uint64_t fh, int how, bool wait, uint64_t unique);
/* pt_flush() - @owner closed a file of @in: its POSIX locks on it go */
void pt_flush(struct fs_conn *c, struct fs_inode *in, uint64_t owner);

#endif
