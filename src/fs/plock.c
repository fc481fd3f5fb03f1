/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs server: the lock table.
 *
 * POSIX locks belong to a process, OFD locks to an open file description.
 * One description per (inode, lock owner) gives POSIX semantics with OFD
 * locks: they conflict with each other and with every process on the host
 * as POSIX locks should. The descriptions hang off their inode, under the
 * tables' lock, and go when the owner closes the file (FLUSH), when a
 * handle it locked through is released, or with the inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/fs_int.h"
#include "fs/tables.h"
#include "lib/cleanup.h"

/* The description for @owner on @in (mu held); -1 if none. */
static int plock_find(const struct fs_inode *in, uint64_t owner)
{
	for (const struct fs_plock *p = in->plocks; p; p = p->next)
		if (p->owner == owner)
			return p->fd;
	return -1;
}

int fs_plock_open(const struct fs_tables *t, const struct fs_inode *in)
{
	char path[64];
	int fd = -1;

	if (in->type != S_IFREG && in->type != S_IFDIR)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", in->fd);
	if (!t->read_only && in->type == S_IFREG)
		fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* Owners are chosen by the peer: each costs an fd, so a connection gets a fixed number. */
int fs_plock_fd(struct fs_tables *t, struct fs_inode *in, uint64_t owner, bool create)
{
	autoclose int fd = -1;
	struct fs_plock *p;
	int have;

	pthread_mutex_lock(&t->mu);
	have = plock_find(in, owner);
	pthread_mutex_unlock(&t->mu);
	if (have >= 0)
		return have;
	if (!create)
		return -ENOENT;
	fd = fs_plock_open(t, in);
	if (fd < 0)
		return fd;
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->owner = owner;
	pthread_mutex_lock(&t->mu);
	have = plock_find(in, owner);
	if (have >= 0 || t->nplocks >= NESTFS_MAX_LOCK_OWNERS) {
		/* lost a race with the same owner, or over the cap */
		pthread_mutex_unlock(&t->mu);
		free(p);
		return have >= 0 ? have : -ENOLCK;
	}
	t->nplocks++;
	have = p->fd = steal_fd(&fd);
	p->next = in->plocks;
	in->plocks = p;
	pthread_mutex_unlock(&t->mu);
	return have;
}

int fs_plock_unlink(struct fs_tables *t, struct fs_inode *in, uint64_t owner)
{
	for (struct fs_plock **pp = &in->plocks; *pp; pp = &(*pp)->next) {
		struct fs_plock *p = *pp;

		if (p->owner == owner) {
			int fd = p->fd;

			*pp = p->next;
			free(p);
			t->nplocks--;
			return fd;
		}
	}
	return -1;
}

void fs_plock_drop(struct fs_tables *t, struct fs_inode *in, uint64_t owner)
{
	int fd;

	pthread_mutex_lock(&t->mu);
	fd = fs_plock_unlink(t, in, owner);
	pthread_mutex_unlock(&t->mu);
	/* A worker may still be using the fd for this owner only if the peer
	 * raced its own close with a lock call; closing an OFD releases its
	 * locks, which is what close means. */
	if (fd >= 0)
		close(fd);
}

void fs_plock_close_all(struct fs_tables *t, struct fs_inode *in)
{
	while (in->plocks) {
		struct fs_plock *p = in->plocks;

		in->plocks = p->next;
		close(p->fd);
		free(p);
		t->nplocks--;
	}
}
