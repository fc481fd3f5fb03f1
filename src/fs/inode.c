/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: the inode table, and the tables' life as a whole.
 *
 * Node ids on the wire are (generation << 32 | index) into an array of
 * pointers, checked on every use; a freed slot's generation moves on, so a
 * stale or forged id finds nothing. Inodes are O_PATH fds found again by
 * (dev, ino) through a hash, so the peer sees one node id per host inode.
 * A worker using an inode holds a reference, so FORGET from the peer never
 * closes an fd under a running operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs_int.h"
#include "fs/tables.h"
#include "lib/cleanup.h"

static uint32_t hash_key(dev_t dev, ino_t ino, uint32_t nbuckets)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;

	return (uint32_t)(h >> 32) & (nbuckets - 1);
}

/* Double the hash when it gets crowded; called with mu held. */
static int rehash(struct fs_tables *t)
{
	uint32_t nb = t->nbuckets ? t->nbuckets * 2 : 1024;
	int32_t *b = malloc(nb * sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < nb; i++)
		b[i] = -1;
	for (uint32_t i = 0; i < t->ninodes; i++) {
		struct fs_inode *in = t->inodes[i];
		uint32_t h;

		if (!in || !in->hashed)
			continue;
		h = hash_key(in->dev, in->ino, nb);
		in->hnext = b[h];
		b[h] = (int32_t)i;
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

static void unhash(struct fs_tables *t, struct fs_inode *in)
{
	int32_t *pp = &t->buckets[hash_key(in->dev, in->ino, t->nbuckets)];

	while (*pp >= 0) {
		if (*pp == (int32_t)in->idx) {
			*pp = in->hnext;
			break;
		}
		pp = &t->inodes[*pp]->hnext;
	}
	in->hashed = false;
}

void fs_inode_maybe_free(struct fs_tables *t, struct fs_inode *in)
{
	if (!in->used || in->nlookup || in->refs)
		return;
	if (in->hashed)
		unhash(t, in);
	close(in->fd);
	in->fd = -1;
	fs_plock_close_all(t, in);
	in->used = false;
	in->gen++;
	t->live_inodes--;
	t->ifree[t->nifree++] = in->idx;
}

uint64_t fs_inode_id(const struct fs_inode *in)
{
	return (uint64_t)in->gen << 32 | in->idx;
}

bool fs_inode_is_root(const struct fs_inode *in)
{
	return in->idx == FUSE_ROOT_ID;
}

/* Take a free slot (mu held); NULL when the table is full. */
static struct fs_inode *inode_slot(struct fs_tables *t)
{
	struct fs_inode *in;

	if (t->nifree)
		return t->inodes[t->ifree[--t->nifree]];
	if (t->ninodes >= NESTFS_MAX_INODES)
		return NULL;
	if (t->ninodes == t->cap_inodes) {
		uint32_t cap = t->cap_inodes ? t->cap_inodes * 2 : 256;
		struct fs_inode **v = realloc(t->inodes, cap * sizeof(struct fs_inode *));
		uint32_t *f;

		if (!v)
			return NULL;
		t->inodes = v;
		f = realloc(t->ifree, cap * sizeof(*f));
		if (!f)
			return NULL;
		t->ifree = f;
		t->cap_inodes = cap;
	}
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->idx = t->ninodes;
	in->fd = -1;
	in->gen = 1;
	t->inodes[t->ninodes++] = in;
	return in;
}

int fs_inode_add(struct fs_tables *t, int fd, const struct stat *st, uint64_t *nodeid)
{
	autoclose int owned = fd;
	struct fs_inode *in;
	int32_t i;

	pthread_mutex_lock(&t->mu);
	for (i = t->buckets[hash_key(st->st_dev, st->st_ino, t->nbuckets)]; i >= 0;
	     i = t->inodes[i]->hnext) {
		in = t->inodes[i];
		if (in->dev == st->st_dev && in->ino == st->st_ino) {
			if (!fs_inode_is_root(in))
				in->nlookup++;
			*nodeid = fs_inode_id(in);
			pthread_mutex_unlock(&t->mu);
			return 0;	/* known: @owned is closed */
		}
	}
	if (t->live_inodes + 1 > t->nbuckets && t->nbuckets < NESTFS_MAX_INODES)
		(void)rehash(t);
	in = inode_slot(t);
	if (!in) {
		pthread_mutex_unlock(&t->mu);
		return -ENFILE;
	}
	in->fd = steal_fd(&owned);
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->type = st->st_mode & S_IFMT;
	in->nlookup = 1;
	in->refs = 0;
	in->used = true;
	in->hashed = true;
	in->plocks = NULL;
	i = (int32_t)hash_key(in->dev, in->ino, t->nbuckets);
	in->hnext = t->buckets[i];
	t->buckets[i] = (int32_t)in->idx;
	t->live_inodes++;
	*nodeid = fs_inode_id(in);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

int fs_tables_init(struct fs_tables *t, int root_fd, bool read_only)
{
	autoclose int fd = -1;
	struct fs_inode *in;
	struct stat st;

	memset(t, 0, sizeof(*t));
	t->read_only = read_only;
	if (fstat(root_fd, &st) < 0)
		return -errno;
	fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	pthread_mutex_init(&t->mu, NULL);
	/* Slot 0 stays unused: node id 0 means "none" in FUSE. */
	if (rehash(t) < 0 || !inode_slot(t) || !(in = inode_slot(t))) {
		fs_tables_free(t);
		return -ENOMEM;
	}
	in->gen = 0;
	in->fd = steal_fd(&fd);
	in->dev = st.st_dev;
	in->ino = st.st_ino;
	in->type = S_IFDIR;
	in->nlookup = 1;
	in->used = true;
	in->hashed = true;
	in->hnext = -1;
	t->root_dev = st.st_dev;
	t->root_ino = st.st_ino;
	t->buckets[hash_key(in->dev, in->ino, t->nbuckets)] = (int32_t)in->idx;
	t->live_inodes = 1;
	return 0;
}

struct fs_inode *fs_inode_get(struct fs_tables *t, uint64_t nodeid)
{
	uint32_t idx = (uint32_t)nodeid, gen = (uint32_t)(nodeid >> 32);
	struct fs_inode *in = NULL;

	pthread_mutex_lock(&t->mu);
	/* A forgotten inode may linger for an open handle, but its id is dead. */
	if (idx > 0 && idx < t->ninodes && t->inodes[idx]->used && t->inodes[idx]->gen == gen &&
	    t->inodes[idx]->nlookup > 0) {
		in = t->inodes[idx];
		in->refs++;
	}
	pthread_mutex_unlock(&t->mu);
	return in;
}

void fs_inode_put(struct fs_tables *t, struct fs_inode *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&t->mu);
	in->refs--;
	fs_inode_maybe_free(t, in);
	pthread_mutex_unlock(&t->mu);
}

void fs_inode_forget(struct fs_tables *t, uint64_t nodeid, uint64_t n)
{
	uint32_t idx = (uint32_t)nodeid, gen = (uint32_t)(nodeid >> 32);

	if (idx <= FUSE_ROOT_ID)
		return;		/* the root is never forgotten */
	pthread_mutex_lock(&t->mu);
	if (idx < t->ninodes && t->inodes[idx]->used && t->inodes[idx]->gen == gen) {
		struct fs_inode *in = t->inodes[idx];

		in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
		if (!in->nlookup && in->hashed)
			unhash(t, in);
		fs_inode_maybe_free(t, in);
	}
	pthread_mutex_unlock(&t->mu);
}

void fs_tables_free(struct fs_tables *t)
{
	for (uint32_t i = 0; i < t->nhandles; i++) {
		struct fs_handle *h = t->handles[i];

		if (h->used)
			close(h->fd);
		pthread_mutex_destroy(&h->dir_mu);
		free(h);
	}
	for (uint32_t i = 0; i < t->ninodes; i++) {
		struct fs_inode *in = t->inodes[i];

		if (in->used)
			close(in->fd);
		fs_plock_close_all(t, in);
		free(in);
	}
	free(t->handles);
	free(t->hfree);
	free(t->inodes);
	free(t->ifree);
	free(t->buckets);
	pthread_mutex_destroy(&t->mu);
	memset(t, 0, sizeof(*t));
}
