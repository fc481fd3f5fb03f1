/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/tables: what stands between the peer's numbers and the host's file
 * descriptors, per connection: the inode table (node ids), the handle table
 * (fhs) and the lock table (one open file description per POSIX lock owner).
 * Private to src/fs. */
#ifndef NESTBOX_FS_TABLES_H
#define NESTBOX_FS_TABLES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct fs_plock;

/**
 * struct fs_inode - an inode the peer knows by node id
 * @fd:		O_PATH fd of the inode
 * @gen:	generation: the high half of the node id, moves on when the slot is freed
 * @idx:	slot index: the low half of the node id
 * @dev:	host device, with @ino the key it is found again by
 * @ino:	host inode number
 * @type:	S_IFMT bits, fixed for the life of an inode
 * @nlookup:	the peer's references (LOOKUP counts, FORGET drops)
 * @refs:	ours: workers and handles using @fd
 * @used:	slot holds an inode
 * @hashed:	findable by (dev, ino)
 * @hnext:	next slot in the hash chain, -1 at its end
 * @plocks:	POSIX lock owners: one open file description each (lock table)
 */
struct fs_inode {
	int fd;
	uint32_t gen;
	uint32_t idx;
	dev_t dev;
	ino_t ino;
	mode_t type;
	uint64_t nlookup;
	uint32_t refs;
	bool used;
	bool hashed;
	int32_t hnext;
	struct fs_plock *plocks;
};

/* How many lock owners one handle remembers for RELEASE. */
#define FS_HANDLE_OWNERS 8

/**
 * struct fs_handle - an open file or directory the peer knows by fh
 * @fd:		the open file description
 * @gen:	generation: the high half of the fh
 * @idx:	slot index: the low half of the fh
 * @refs:	the peer's (until RELEASE) and each worker's using @fd
 * @used:	slot holds a handle
 * @is_dir:	opened by OPENDIR
 * @inode:	the inode it was opened from; holds a ref on it
 * @dir_mu:	serializes READDIR on this handle (the positions below)
 * @dir_pos:	offset the next entry we would emit has
 * @fd_pos:	where the fd's own position is
 * @owners:	POSIX lock owners that locked through this handle (under the
 *		tables' lock): an OFD lock's owner is its open file, and the kernel
 *		reports its close only with RELEASE, so RELEASE drops their locks
 * @nowners:	entries used in @owners
 */
struct fs_handle {
	int fd;
	uint32_t gen;
	uint32_t idx;
	uint32_t refs;
	bool used;
	bool is_dir;
	struct fs_inode *inode;
	pthread_mutex_t dir_mu;
	uint64_t dir_pos;
	uint64_t fd_pos;
	uint64_t owners[FS_HANDLE_OWNERS];
	unsigned nowners;
};

/**
 * struct fs_plock - one POSIX lock owner's open file description on an inode
 * @next:	next owner on the same inode
 * @owner:	lock owner from the wire
 * @fd:		the description its OFD locks are taken on
 */
struct fs_plock {
	struct fs_plock *next;
	uint64_t owner;
	int fd;
};

/**
 * struct fs_tables - one connection's inode, handle and lock tables
 * @mu:		guards everything below and the inodes' and handles' counts
 * @inodes:	inode slots by index (slot 0 unused, 1 the export's root)
 * @ifree:	free inode slot indexes, a stack
 * @buckets:	hash of (dev, ino) to the first slot of a chain, -1 when empty
 * @handles:	handle slots by index
 * @hfree:	free handle slot indexes, a stack
 * @ninodes:	inode slots made
 * @cap_inodes:	room in @inodes and @ifree
 * @live_inodes: slots holding an inode
 * @nifree:	entries in @ifree
 * @nbuckets:	size of @buckets, a power of two
 * @nhandles:	handle slots made
 * @cap_handles: room in @handles and @hfree
 * @live_handles: slots holding a handle
 * @nhfree:	entries in @hfree
 * @nplocks:	lock descriptions held (each an fd), at most NESTFS_MAX_LOCK_OWNERS
 * @root_dev:	the export root's device (fixed: read without @mu)
 * @root_ino:	the export root's inode number (fixed: read without @mu)
 * @read_only:	the export is read-only: lock descriptions are opened O_RDONLY
 */
struct fs_tables {
	pthread_mutex_t mu;
	struct fs_inode **inodes;
	uint32_t *ifree;
	int32_t *buckets;
	struct fs_handle **handles;
	uint32_t *hfree;
	uint32_t ninodes, cap_inodes, live_inodes, nifree, nbuckets;
	uint32_t nhandles, cap_handles, live_handles, nhfree;
	uint32_t nplocks;
	dev_t root_dev;
	ino_t root_ino;
	bool read_only;
};

/* fs_tables_init() - empty tables with the export's root (dup of @root_fd) as FUSE_ROOT_ID;
 * 0 or -errno (nothing left to free) */
int fs_tables_init(struct fs_tables *t, int root_fd, bool read_only);
/* fs_tables_free() - close every fd the tables hold; no thread may use them any more */
void fs_tables_free(struct fs_tables *t);

/* ---- inodes (inode.c) ---- */

/* fs_inode_add() - register a looked-up O_PATH @fd (consumed) or count one more lookup of
 * the inode it names; *@nodeid for the wire. 0 or -errno */
int fs_inode_add(struct fs_tables *t, int fd, const struct stat *st, uint64_t *nodeid);
/* fs_inode_get() - the inode for a node id from the wire, with a ref; NULL if none */
struct fs_inode *fs_inode_get(struct fs_tables *t, uint64_t nodeid);
/* fs_inode_put() - drop a ref taken by fs_inode_get() (NULL: nothing) */
void fs_inode_put(struct fs_tables *t, struct fs_inode *in);
/* fs_inode_forget() - the peer drops @n lookups; counts beyond what it holds are clamped */
void fs_inode_forget(struct fs_tables *t, uint64_t nodeid, uint64_t n);
/* fs_inode_id() - the node id the peer knows @in by */
uint64_t fs_inode_id(const struct fs_inode *in);
/* fs_inode_is_root() - @in is the export's root */
bool fs_inode_is_root(const struct fs_inode *in);
/* fs_inode_maybe_free() - free @in if neither the peer nor we use it (tables' lock held) */
void fs_inode_maybe_free(struct fs_tables *t, struct fs_inode *in);

/* ---- handles (handle.c) ---- */

/* fs_handle_new() - register an open @fd (consumed) of @in (gains a ref); *@fh for the wire.
 * 0 or -errno */
int fs_handle_new(struct fs_tables *t, int fd, bool is_dir, struct fs_inode *in, uint64_t *fh);
/* fs_handle_get() - the handle for a fh from the wire, with a ref; NULL if none */
struct fs_handle *fs_handle_get(struct fs_tables *t, uint64_t fh);
/* fs_handle_put() - drop a ref taken by fs_handle_get() (NULL: nothing) */
void fs_handle_put(struct fs_tables *t, struct fs_handle *h);
/* fs_handle_release() - the peer's RELEASE: no new uses, its owners' locks go; the fd is
 * closed when the last use ends. 0 or -EBADF */
int fs_handle_release(struct fs_tables *t, uint64_t fh);
/* fs_handle_note_owner() - remember that @owner locked through @h (up to FS_HANDLE_OWNERS) */
void fs_handle_note_owner(struct fs_tables *t, struct fs_handle *h, uint64_t owner);

/* ---- locks (plock.c) ---- */

/* fs_plock_fd() - the open file description standing for POSIX lock @owner on @in (a regular
 * file or directory), opened if @create and it has none; an fd the table owns, or -errno
 * (-ENOENT: none and !@create; -ENOLCK: the connection holds NESTFS_MAX_LOCK_OWNERS) */
int fs_plock_fd(struct fs_tables *t, struct fs_inode *in, uint64_t owner, bool create);
/* fs_plock_drop() - @owner closed the file: its locks on @in go (POSIX close semantics) */
void fs_plock_drop(struct fs_tables *t, struct fs_inode *in, uint64_t owner);
/* fs_plock_open() - a new description of @in for lock calls (not in the table): an fd the
 * caller owns, or -errno */
int fs_plock_open(const struct fs_tables *t, const struct fs_inode *in);
/* fs_plock_unlink() - take @owner's entry off @in (tables' lock held); its fd to close
 * outside the lock, or -1 */
int fs_plock_unlink(struct fs_tables *t, struct fs_inode *in, uint64_t owner);
/* fs_plock_close_all() - close every lock description on @in (tables' lock held, or no
 * thread uses them) */
void fs_plock_close_all(struct fs_tables *t, struct fs_inode *in);

#endif
