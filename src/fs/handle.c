/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: the handle table.
 *
 * File handles on the wire are (generation << 32 | index) into an array of
 * pointers, checked on every use, as node ids are. A worker using a handle
 * holds a reference, so RELEASE from the peer never closes an fd under a
 * running operation: it makes the fh unfindable at once, and the last user
 * closes the fd.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/fs_int.h"
#include "fs/tables.h"
#include "lib/cleanup.h"

/* Take a free slot (mu held); NULL when the table is full. */
static struct fs_handle *handle_slot(struct fs_tables *t)
{
	struct fs_handle *h;

	if (t->nhfree)
		return t->handles[t->hfree[--t->nhfree]];
	if (t->nhandles >= NESTFS_MAX_HANDLES)
		return NULL;
	if (t->nhandles == t->cap_handles) {
		uint32_t cap = t->cap_handles ? t->cap_handles * 2 : 64;
		struct fs_handle **v = realloc(t->handles, cap * sizeof(struct fs_handle *));
		uint32_t *f;

		if (!v)
			return NULL;
		t->handles = v;
		f = realloc(t->hfree, cap * sizeof(*f));
		if (!f)
			return NULL;
		t->hfree = f;
		t->cap_handles = cap;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	pthread_mutex_init(&h->dir_mu, NULL);
	h->idx = t->nhandles;
	h->gen = 1;
	t->handles[t->nhandles++] = h;
	return h;
}

int fs_handle_new(struct fs_tables *t, int fd, bool is_dir, struct fs_inode *in, uint64_t *fh)
{
	autoclose int owned = fd;
	struct fs_handle *h;

	pthread_mutex_lock(&t->mu);
	h = handle_slot(t);
	if (!h) {
		pthread_mutex_unlock(&t->mu);
		return -ENFILE;
	}
	h->fd = steal_fd(&owned);
	h->is_dir = is_dir;
	h->used = true;
	h->refs = 1;		/* the peer's, dropped by RELEASE */
	h->inode = in;
	in->refs++;
	h->dir_pos = 0;
	h->fd_pos = 0;
	h->nowners = 0;
	t->live_handles++;
	*fh = (uint64_t)h->gen << 32 | h->idx;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

struct fs_handle *fs_handle_get(struct fs_tables *t, uint64_t fh)
{
	uint32_t idx = (uint32_t)fh, gen = (uint32_t)(fh >> 32);
	struct fs_handle *h = NULL;

	pthread_mutex_lock(&t->mu);
	if (idx < t->nhandles && t->handles[idx]->used && t->handles[idx]->gen == gen &&
	    t->handles[idx]->refs > 0) {
		h = t->handles[idx];
		h->refs++;
	}
	pthread_mutex_unlock(&t->mu);
	return h;
}

/* Drop one ref (mu held); the last closes the fd and frees the slot. */
static void handle_unref(struct fs_tables *t, struct fs_handle *h)
{
	if (--h->refs)
		return;
	close(h->fd);
	h->fd = -1;
	h->used = false;
	h->gen++;
	t->live_handles--;
	t->hfree[t->nhfree++] = h->idx;
	h->inode->refs--;
	fs_inode_maybe_free(t, h->inode);
	h->inode = NULL;
}

void fs_handle_put(struct fs_tables *t, struct fs_handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&t->mu);
	handle_unref(t, h);
	pthread_mutex_unlock(&t->mu);
}

void fs_handle_note_owner(struct fs_tables *t, struct fs_handle *h, uint64_t owner)
{
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < h->nowners; i++) {
		if (h->owners[i] == owner) {
			pthread_mutex_unlock(&t->mu);
			return;
		}
	}
	if (h->nowners < FS_HANDLE_OWNERS)
		h->owners[h->nowners++] = owner;
	pthread_mutex_unlock(&t->mu);
}

int fs_handle_release(struct fs_tables *t, uint64_t fh)
{
	uint32_t idx = (uint32_t)fh, gen = (uint32_t)(fh >> 32);
	int rc = -EBADF, fds[FS_HANDLE_OWNERS];
	unsigned nfds = 0;

	pthread_mutex_lock(&t->mu);
	if (idx < t->nhandles && t->handles[idx]->used && t->handles[idx]->gen == gen) {
		struct fs_handle *h = t->handles[idx];

		/* The open file is gone: so are the locks taken through it. */
		for (unsigned i = 0; i < h->nowners; i++) {
			int fd = fs_plock_unlink(t, h->inode, h->owners[i]);

			if (fd >= 0)
				fds[nfds++] = fd;
		}
		h->nowners = 0;
		/* Make it unfindable at once: a second RELEASE finds nothing. */
		h->gen++;
		handle_unref(t, h);
		rc = 0;
	}
	pthread_mutex_unlock(&t->mu);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return rc;
}
