/* SPDX-License-Identifier: GPL-2.0-or-later */
/* layer: safe layer application.
 *
 * Theory of operation: an entry's name is cleaned lexically first — an
 * absolute name or a ".." component is refused outright. Its parent directory
 * is then reached one component at a time from the tree's root fd with
 * openat(O_PATH|O_NOFOLLOW), never through a path string: a symlink met on the
 * way (planted by an earlier entry or layer) is read and followed by hand, an
 * absolute target restarting at the tree's root (as the image itself sees
 * it), and a target that climbs above the root is refused. The last component
 * is never followed: it is removed and created anew, so neither a symlink nor
 * a hard link shared with a parent tree is ever written through. Hard link
 * targets are resolved the same way, so they cannot name a file outside. */
#include "image/diag.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/layer.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define MAX_DEPTH 256
#define MAX_LINKS 40

/* pathset: an open-addressing hash set of the paths this layer created */
struct pathset {
	char **slot;	/* @cap slots (a power of two), NULL or a strdup'd path */
	size_t cap, n;	/* slots, paths held (at most half of @cap) */
};

/* FNV-1a of @s. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* Whether @p is in the set. */
static bool pathset_has(const struct pathset *ps, const char *p)
{
	if (!ps->cap)
		return false;
	for (size_t i = hash_str(p) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
		if (!ps->slot[i])
			return false;
		if (strcmp(ps->slot[i], p) == 0)
			return true;
	}
}

/* Add a copy of @p (once), doubling the table while it is half full; -ENOMEM. */
static int pathset_add(struct pathset *ps, const char *p)
{
	if ((ps->n + 1) * 2 > ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 1024;
		char **ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < ps->cap; i++) {
			if (!ps->slot[i])
				continue;
			size_t j = hash_str(ps->slot[i]) & (ncap - 1);

			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = ps->slot[i];
		}
		free(ps->slot);
		ps->slot = ns;
		ps->cap = ncap;
	}
	size_t i = hash_str(p) & (ps->cap - 1);

	for (; ps->slot[i]; i = (i + 1) & (ps->cap - 1))
		if (strcmp(ps->slot[i], p) == 0)
			return 0;
	ps->slot[i] = strdup(p);
	if (!ps->slot[i])
		return -ENOMEM;
	ps->n++;
	return 0;
}

/* Free the paths and the table; the set is empty again. */
static void pathset_free(struct pathset *ps)
{
	for (size_t i = 0; i < ps->cap; i++)
		free(ps->slot[i]);
	free(ps->slot);
	memset(ps, 0, sizeof(*ps));
}

/* struct dirtime - a directory whose times are set once the layer is done */
struct dirtime {
	char *path;		/* the directory, relative to the tree (malloc'd) */
	struct timespec ts[2];	/* its atime and mtime from the layer */
};

/**
 * struct applier - state of one layer application
 * @rootfd:	the tree
 * @layer:	layer name for errors
 * @entry:	current entry name for errors
 * @e:		error
 * @root:	running as root (owners, devices)
 * @created:	paths this layer made (an opaque marker spares them)
 * @cache_dir, @cache_fd: the last parent directory reached, reused by the next
 *		regular file in the same directory
 * @dirs, @n_dirs, @cap_dirs: directory times to set at the end
 */
struct applier {
	int rootfd;
	const char *layer;
	const char *entry;
	struct nb_err *e;
	bool root;
	struct pathset created;
	char cache_dir[4096];
	int cache_fd;
	struct dirtime *dirs;
	size_t n_dirs, cap_dirs;
};

/* Fail the current entry with @code: "layer L: entry 'E': @why". */
static int refuse(struct applier *a, int code, const char *why)
{
	return nb_err_set(a->e, code, "layer %s: entry '%s': %s", a->layer, a->entry, why);
}

/**
 * clean_name() - lexically clean an entry name into @out ("a/b/c", "" for the root)
 * Return: 0, or negative errno (error set) for absolute names and ".." components
 */
static int clean_name(struct applier *a, const char *name, char *out, size_t len)
{
	size_t o = 0;
	const char *p = name;

	out[0] = '\0';
	if (name[0] == '/')
		return refuse(a, EPERM, "absolute path refused");
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return refuse(a, EPERM, "'..' component refused: path leaves the root");
		if (n && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > len)
				return refuse(a, ENAMETOOLONG, "name too long");
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = *end ? end + 1 : end;
	}
	out[o] = '\0';
	return 0;
}

/**
 * walk() - reach directory @dir (clean, relative) inside the tree
 * @create:	create missing components (mode 0755)
 * @out:	output: an O_PATH fd of the directory
 *
 * Return: 0 or negative errno (error set; -ENOENT without @create when absent)
 */
static int walk(struct applier *a, const char *dir, bool create, int *out)
{
	int stack[MAX_DEPTH];
	int depth = 0, links = 0, r = 0;
	char *rest = strdup(dir);
	char *p;

	*out = -1;
	if (!rest)
		return refuse(a, ENOMEM, "out of memory");
	stack[0] = a->rootfd;
	p = rest;
	while (*p) {
		char *end = strchrnul(p, '/');
		bool more = *end != '\0';
		int cur = stack[depth], fd;
		struct stat st;

		*end = '\0';
		if (!*p || strcmp(p, ".") == 0)
			goto next;
		if (strcmp(p, "..") == 0) {
			/* only symlink targets get here: names were cleaned */
			if (depth == 0) {
				r = refuse(a, EPERM, "a symlink on its path leads out of the root");
				goto out;
			}
			close(stack[depth--]);
			goto next;
		}
		fd = openat(cur, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST) {
				r = nb_err_sys(a->e, errno, "layer %s: entry '%s': create parent '%s'",
					       a->layer, a->entry, p);
				goto out;
			}
			fd = openat(cur, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			r = -errno;
			if (r != -ENOENT || create)
				nb_err_sys(a->e, errno, "layer %s: entry '%s': parent '%s'", a->layer,
					   a->entry, p);
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			r = nb_err_sys(a->e, errno, "layer %s: entry '%s': stat '%s'", a->layer,
				       a->entry, p);
			close(fd);
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth + 1 >= MAX_DEPTH) {
				close(fd);
				r = refuse(a, ENAMETOOLONG, "too deep");
				goto out;
			}
			stack[++depth] = fd;
			goto next;
		}
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			char *nrest;

			close(fd);
			if (n < 0 || ++links > MAX_LINKS) {
				r = refuse(a, ELOOP, "too many symlinks on its path");
				goto out;
			}
			target[n] = '\0';
			if (target[0] == '/')
				while (depth > 0)
					close(stack[depth--]);
			if (asprintf(&nrest, "%s/%s", target, more ? end + 1 : "") < 0) {
				r = refuse(a, ENOMEM, "out of memory");
				goto out;
			}
			free(rest);
			rest = nrest;
			p = rest;
			continue;
		}
		close(fd);
		r = refuse(a, ENOTDIR, "a component of its path is not a directory");
		goto out;
next:
		p = more ? end + 1 : end;
	}
	*out = depth ? stack[depth] : openat(a->rootfd, ".", O_PATH | O_CLOEXEC);
	if (depth)
		depth--;
	if (*out < 0)
		r = nb_err_sys(a->e, errno, "layer %s: open root", a->layer);
out:
	while (depth > 0)
		close(stack[depth--]);
	free(rest);
	return r;
}

/* parent_of() - reach the parent of a clean path (cached for runs of files) */
static int parent_of(struct applier *a, const char *path, bool create, int *out,
		     const char **leaf)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) : 0;
	int r;

	*leaf = slash ? slash + 1 : path;
	memcpy(dir, path, dl);
	dir[dl] = '\0';
	if (a->cache_fd >= 0 && strcmp(dir, a->cache_dir) == 0) {
		*out = a->cache_fd;
		return 0;
	}
	if (a->cache_fd >= 0)
		close(a->cache_fd);
	a->cache_fd = -1;
	r = walk(a, dir, create, out);
	if (r < 0)
		return r;
	a->cache_fd = *out;
	snprintf(a->cache_dir, sizeof(a->cache_dir), "%s", dir);
	return 0;
}

/* Drop the cached parent directory fd (its path no longer applies). */
static void forget_cache(struct applier *a)
{
	if (a->cache_fd >= 0)
		close(a->cache_fd);
	a->cache_fd = -1;
}

/* nb_rm_at() - see layer.h */
int nb_rm_at(int dfd, const char *name, uint64_t *freed)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		autodir DIR *d = NULL;
		struct dirent *de;
		int r = 0;

		if (fd < 0)
			return -errno;
		if ((st.st_mode & 0700) != 0700)
			fchmod(fd, st.st_mode | 0700);
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			return -errno;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			int q = nb_rm_at(dirfd(d), de->d_name, freed);

			if (q < 0 && !r)
				r = q;
		}
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && !r)
			r = -errno;
		return r;
	}
	if (unlinkat(dfd, name, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (freed && st.st_nlink <= 1)
		*freed += (uint64_t)st.st_blocks * 512;
	return 0;
}

/* Copy @src's extended attributes to @dst, best effort (what does not fit 8 KiB
 * is skipped). */
static void copy_xattrs(int src, int dst)
{
	char names[8192], val[8192];
	ssize_t n = flistxattr(src, names, sizeof(names));

	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t v = fgetxattr(src, names + i, val, sizeof(val));

		if (v >= 0)
			fsetxattr(dst, names + i, val, (size_t)v, 0);
	}
}

/* nb_tree_linkcopy() - see layer.h */
int nb_tree_linkcopy(int srcfd, int dstfd, struct nb_err *e)
{
	autodir DIR *d = NULL;
	struct dirent *de;
	bool root = geteuid() == 0;
	int fd = dup(srcfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return nb_err_sys(e, errno, "read tree");
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(srcfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return nb_err_sys(e, errno, "stat %s", de->d_name);
		if (!S_ISDIR(st.st_mode)) {
			if (linkat(srcfd, de->d_name, dstfd, de->d_name, 0) < 0)
				return nb_err_sys(e, errno, "link %s", de->d_name);
			continue;
		}
		if (mkdirat(dstfd, de->d_name, 0700) < 0)
			return nb_err_sys(e, errno, "mkdir %s", de->d_name);
		autoclose int s = openat(srcfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		autoclose int t = openat(dstfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (s < 0 || t < 0)
			return nb_err_sys(e, errno, "open %s", de->d_name);
		int r = nb_tree_linkcopy(s, t, e);

		if (r < 0)
			return nb_err_wrap(e, "%s", de->d_name);
		if (root)
			(void)!fchown(t, st.st_uid, st.st_gid);
		copy_xattrs(s, t);
		fchmod(t, root ? st.st_mode & 07777 : (st.st_mode & 07777) | 0700);
		struct timespec ts[2] = { st.st_atim, st.st_mtim };

		futimens(t, ts);
	}
	{
		/* the top directory's own metadata */
		struct stat st;

		if (fstat(srcfd, &st) == 0) {
			if (root)
				(void)!fchown(dstfd, st.st_uid, st.st_gid);
			fchmod(dstfd, root ? st.st_mode & 07777 : (st.st_mode & 07777) | 0700);
		}
	}
	return 0;
}

/* Set the entry's extended attributes on @fd; a refused one is logged (debug)
 * and skipped. */
static void set_xattrs(struct applier *a, struct archive_entry *ent, int fd)
{
	const char *name;
	const void *val;
	size_t size;

	archive_entry_xattr_reset(ent);
	while (archive_entry_xattr_next(ent, &name, &val, &size) == ARCHIVE_OK)
		if (fsetxattr(fd, name, val, size, 0) < 0)
			nb_debug("layer %s: entry '%s': xattr %s: %m", a->layer, a->entry, name);
}

/* set_meta() - owner, mode, xattrs and times of a file or directory opened as @fd */
static void set_meta(struct applier *a, struct archive_entry *ent, int fd, bool dir)
{
	mode_t mode = archive_entry_perm(ent) & 07777;

	if (a->root && fchown(fd, archive_entry_uid(ent), archive_entry_gid(ent)) < 0)
		nb_debug("layer %s: entry '%s': chown: %m", a->layer, a->entry);
	set_xattrs(a, ent, fd);
	if (!a->root && dir)
		mode |= 0700; /* we must be able to add and remove entries later */
	fchmod(fd, mode);
}

/* The entry's atime (its mtime where it has none) and mtime. */
static void entry_times(struct archive_entry *ent, struct timespec ts[2])
{
	ts[0].tv_sec = archive_entry_atime_is_set(ent) ? archive_entry_atime(ent) : archive_entry_mtime(ent);
	ts[0].tv_nsec = archive_entry_atime_is_set(ent) ? archive_entry_atime_nsec(ent) : archive_entry_mtime_nsec(ent);
	ts[1].tv_sec = archive_entry_mtime(ent);
	ts[1].tv_nsec = archive_entry_mtime_nsec(ent);
}

/* replace() - make room for a new @leaf in @pfd; a directory stays when @keep_dir */
static int replace(struct applier *a, int pfd, const char *leaf, bool keep_dir, bool *is_dir)
{
	struct stat st;
	int r;

	*is_dir = false;
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (keep_dir && S_ISDIR(st.st_mode)) {
		*is_dir = true;
		return 0;
	}
	r = nb_rm_at(pfd, leaf, NULL);
	if (r < 0)
		return nb_err_sys(a->e, -r, "layer %s: entry '%s': replace", a->layer, a->entry);
	return 0;
}

/* Write the entry's data into @fd at its offsets (holes stay sparse), then
 * extend it to the entry's size. */
static int write_data(struct applier *a, struct archive *ar, struct archive_entry *ent, int fd)
{
	const void *buf;
	size_t size;
	la_int64_t off, end = 0;
	int r;

	while ((r = archive_read_data_block(ar, &buf, &size, &off)) == ARCHIVE_OK) {
		const char *p = buf;

		while (size) {
			ssize_t n = pwrite(fd, p, size, off);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return nb_err_sys(a->e, errno, "layer %s: entry '%s': write", a->layer,
						  a->entry);
			}
			p += n;
			size -= (size_t)n;
			off += n;
		}
		if (off > end)
			end = off;
	}
	if (r != ARCHIVE_EOF)
		return nb_err_set(a->e, EIO, "layer %s: entry '%s': %s", a->layer, a->entry,
				  archive_error_string(ar));
	if (archive_entry_size(ent) > end && ftruncate(fd, archive_entry_size(ent)) < 0)
		return nb_err_sys(a->e, errno, "layer %s: entry '%s': truncate", a->layer, a->entry);
	return 0;
}

/* opaque() - empty directory @dir of what lower layers put there */
static int opaque(struct applier *a, const char *dir)
{
	int pfd = -1, r;
	autoclose int fd = -1;
	autodir DIR *d = NULL;
	struct dirent *de;
	char child[4096];

	r = walk(a, dir, true, &pfd);
	if (r < 0)
		return r;
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	if (fd < 0 || !(d = fdopendir(dup(fd))))
		return nb_err_sys(a->e, errno, "layer %s: entry '%s': open", a->layer, a->entry);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(child, sizeof(child), "%s%s%.255s", dir, *dir ? "/" : "", de->d_name) >= (int)sizeof(child))
			return refuse(a, ENAMETOOLONG, "name too long");
		if (pathset_has(&a->created, child))
			continue;
		r = nb_rm_at(fd, de->d_name, NULL);
		if (r < 0)
			return nb_err_sys(a->e, -r, "layer %s: entry '%s': remove '%s'", a->layer,
					  a->entry, child);
	}
	return 0;
}

/* Apply one archive entry: a whiteout or opaque marker removes, a hard link
 * links, anything else replaces what the path held, with its metadata. */
static int apply_entry(struct applier *a, struct archive *ar, struct archive_entry *ent)
{
	char path[4096];
	const char *leaf, *hl;
	int pfd = -1, r;
	bool is_dir;
	mode_t type = archive_entry_filetype(ent);
	struct timespec ts[2];

	a->entry = archive_entry_pathname(ent);
	if (!a->entry)
		return nb_err_set(a->e, EINVAL, "layer %s: entry without a name", a->layer);
	r = clean_name(a, a->entry, path, sizeof(path));
	if (r < 0)
		return r;
	if (!path[0])
		return 0; /* the root itself: its metadata belongs to nobody's layer */
	hl = archive_entry_hardlink(ent);
	if (type != AE_IFREG || hl)
		forget_cache(a);

	/* whiteouts */
	{
		const char *base = strrchr(path, '/');

		base = base ? base + 1 : path;
		if (strncmp(base, ".wh.", 4) == 0) {
			char dir[4096];

			snprintf(dir, sizeof(dir), "%.*s", (int)(base - path ? base - path - 1 : 0), path);
			if (strcmp(base, ".wh..wh..opq") == 0)
				return opaque(a, dir);
			if (!base[4] || strcmp(base + 4, ".") == 0 || strcmp(base + 4, "..") == 0)
				return refuse(a, EINVAL, "invalid whiteout");
			r = walk(a, dir, false, &pfd);
			if (r == -ENOENT)
				return 0;
			if (r < 0)
				return r;
			r = nb_rm_at(pfd, base + 4, NULL);
			close(pfd);
			if (r < 0)
				return nb_err_sys(a->e, -r, "layer %s: entry '%s': whiteout", a->layer,
						  a->entry);
			return 0;
		}
	}

	r = parent_of(a, path, true, &pfd, &leaf);
	if (r < 0)
		return r;
	if (pathset_add(&a->created, path) < 0)
		return refuse(a, ENOMEM, "out of memory");
	entry_times(ent, ts);

	if (hl) {
		char target[4096];
		const char *tleaf;
		int tfd = -1;
		struct applier b = *a;
		struct stat st;

		b.cache_fd = -1;
		r = clean_name(a, hl, target, sizeof(target));
		if (r < 0)
			return r;
		if (!target[0])
			return refuse(a, EPERM, "hard link to the root refused");
		r = parent_of(&b, target, false, &tfd, &tleaf);
		if (r < 0)
			return r;
		if (fstatat(tfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) {
			forget_cache(&b);
			return refuse(a, ENOENT, "hard link target missing or a directory");
		}
		r = replace(a, pfd, leaf, false, &is_dir);
		if (r == 0 && linkat(tfd, tleaf, pfd, leaf, 0) < 0)
			r = nb_err_sys(a->e, errno, "layer %s: entry '%s': link", a->layer, a->entry);
		forget_cache(&b);
		return r;
	}

	switch (type) {
	case AE_IFREG: {
		autoclose int fd = -1;

		r = replace(a, pfd, leaf, false, &is_dir);
		if (r < 0)
			return r;
		fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return nb_err_sys(a->e, errno, "layer %s: entry '%s': create", a->layer, a->entry);
		r = write_data(a, ar, ent, fd);
		if (r < 0)
			return r;
		set_meta(a, ent, fd, false);
		futimens(fd, ts);
		return 0;
	}
	case AE_IFDIR: {
		autoclose int fd = -1;

		r = replace(a, pfd, leaf, true, &is_dir);
		if (r < 0)
			return r;
		if (!is_dir && mkdirat(pfd, leaf, 0700) < 0)
			return nb_err_sys(a->e, errno, "layer %s: entry '%s': mkdir", a->layer, a->entry);
		fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return nb_err_sys(a->e, errno, "layer %s: entry '%s': open", a->layer, a->entry);
		set_meta(a, ent, fd, true);
		if (a->n_dirs == a->cap_dirs) {
			size_t nc = a->cap_dirs ? a->cap_dirs * 2 : 256;
			struct dirtime *nd = realloc(a->dirs, nc * sizeof(*nd));

			if (!nd)
				return refuse(a, ENOMEM, "out of memory");
			a->dirs = nd;
			a->cap_dirs = nc;
		}
		a->dirs[a->n_dirs].path = strdup(path);
		if (!a->dirs[a->n_dirs].path)
			return refuse(a, ENOMEM, "out of memory");
		memcpy(a->dirs[a->n_dirs++].ts, ts, sizeof(ts));
		return 0;
	}
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(ent);

		if (!t)
			return refuse(a, EINVAL, "symlink without a target");
		r = replace(a, pfd, leaf, false, &is_dir);
		if (r < 0)
			return r;
		if (symlinkat(t, pfd, leaf) < 0)
			return nb_err_sys(a->e, errno, "layer %s: entry '%s': symlink", a->layer, a->entry);
		if (a->root)
			(void)!fchownat(pfd, leaf, archive_entry_uid(ent), archive_entry_gid(ent),
				 AT_SYMLINK_NOFOLLOW);
		utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO: {
		mode_t m = archive_entry_perm(ent) & 07777;

		if (type != AE_IFIFO && !a->root) {
			nb_debug("layer %s: entry '%s': device node skipped (not root)", a->layer, a->entry);
			return 0;
		}
		r = replace(a, pfd, leaf, false, &is_dir);
		if (r < 0)
			return r;
		if (mknodat(pfd, leaf, type | m, archive_entry_rdev(ent)) < 0)
			return nb_err_sys(a->e, errno, "layer %s: entry '%s': mknod", a->layer, a->entry);
		if (a->root)
			(void)!fchownat(pfd, leaf, archive_entry_uid(ent), archive_entry_gid(ent),
				 AT_SYMLINK_NOFOLLOW);
		(void)!fchmodat(pfd, leaf, m, 0);
		utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	default:
		nb_debug("layer %s: entry '%s': file type %o skipped", a->layer, a->entry, type);
		return 0;
	}
}

/**
 * struct stream - a layer's uncompressed bytes, hashed on their way to the tar reader
 * @raw:	libarchive reading the blob through every filter with the "raw" format
 * @h:		sha256 of every byte handed on so far (the diff_id once all are read)
 * @eof:	@raw has no more bytes
 */
struct stream {
	struct archive *raw;
	struct nb_sha256 *h;
	bool eof;
};

/* stream_read() - libarchive read callback for the tar reader: the next block
 * of @raw, hashed. Return: its size, 0 at the end, -1 on error (set on @ar) */
static la_ssize_t stream_read(struct archive *ar, void *ud, const void **buf)
{
	struct stream *st = ud;
	size_t size = 0;
	la_int64_t off;
	int r;

	while (!st->eof && size == 0) {
		r = archive_read_data_block(st->raw, buf, &size, &off);
		if (r == ARCHIVE_EOF) {
			st->eof = true;
			size = 0;
		} else if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			archive_set_error(ar, EIO, "%s", archive_error_string(st->raw));
			return -1;
		}
	}
	if (size)
		nb_sha256_update(st->h, *buf, size);
	return (la_ssize_t)size;
}

/* archive_freep() - cleanup for a libarchive reader */
static void archive_freep(struct archive **ar)
{
	if (*ar)
		archive_read_free(*ar);
}
#define autoarchive __attribute__((cleanup(archive_freep)))

/* sha256_freep() - cleanup for an unfinished hash */
static void sha256_freep(struct nb_sha256 **h)
{
	nb_sha256_free(*h);
}
#define autosha256 __attribute__((cleanup(sha256_freep)))

/* open_stream() - start decompressing the blob at @fd into @st. Return: 0 or -errno */
static int open_stream(struct stream *st, int fd, const char *name, struct nb_err *e)
{
	struct archive_entry *ent;
	int r;

	archive_read_support_filter_gzip(st->raw);
	archive_read_support_filter_zstd(st->raw);
	archive_read_support_filter_xz(st->raw);
	archive_read_support_filter_bzip2(st->raw);
	archive_read_support_format_raw(st->raw);
	archive_read_support_format_empty(st->raw); /* "raw" refuses zero bytes */
	if (archive_read_open_fd(st->raw, fd, 1 << 20) != ARCHIVE_OK)
		return nb_err_set(e, EINVAL, "layer %s: unreadable: %s", name,
				  archive_error_string(st->raw));
	r = archive_read_next_header(st->raw, &ent);
	if (r == ARCHIVE_EOF)
		st->eof = true;
	else if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return nb_err_set(e, EINVAL, "layer %s: unreadable: %s", name,
				  archive_error_string(st->raw));
	return 0;
}

/* nb_layer_apply() - see layer.h */
int nb_layer_apply(int rootfd, int fd, const char *name, char diff_id[NB_DIGEST_LEN + 1],
		   struct nb_err *e)
{
	struct applier a = {
		.rootfd = rootfd, .layer = name, .e = e, .root = geteuid() == 0, .cache_fd = -1,
	};
	autoarchive struct archive *raw = archive_read_new();
	autoarchive struct archive *ar = archive_read_new();
	autosha256 struct nb_sha256 *h = nb_sha256_new();
	struct stream st = { .raw = raw, .h = h };
	struct archive_entry *ent;
	const void *rest;
	int r = 0, ar_r;

	if (!ar || !raw || !h)
		return nb_err_set(e, ENOMEM, "layer %s: out of memory", name);
	r = open_stream(&st, fd, name, e);
	if (r < 0)
		return r;
	/* The tar reader sees only the uncompressed stream, so every byte it
	 * parses is one the hash saw. */
	archive_read_support_format_tar(ar);
	archive_read_support_format_empty(ar);
	if (archive_read_open(ar, &st, NULL, stream_read, NULL) != ARCHIVE_OK) {
		r = nb_err_set(e, EINVAL, "layer %s: not a tar archive: %s", name,
			       archive_error_string(ar));
		goto out;
	}
	while ((ar_r = archive_read_next_header(ar, &ent)) == ARCHIVE_OK || ar_r == ARCHIVE_WARN) {
		r = apply_entry(&a, ar, ent);
		if (r < 0)
			goto out;
	}
	if (ar_r != ARCHIVE_EOF) {
		r = nb_err_set(e, EINVAL, "layer %s: damaged after entry '%s': %s", name,
			       a.entry ? a.entry : "(none)", archive_error_string(ar));
		goto out;
	}
	/* The diff_id covers the whole stream: what follows the end-of-archive
	 * blocks (padding, or anything else) is hashed too. */
	while ((ar_r = (int)stream_read(ar, &st, &rest)) > 0)
		;
	if (ar_r < 0) {
		r = nb_err_set(e, EINVAL, "layer %s: damaged after its last entry: %s", name,
			       archive_error_string(ar));
		goto out;
	}
	/* Directory times last, deepest first, now that nothing is added to them. */
	forget_cache(&a);
	for (size_t i = a.n_dirs; i > 0; i--) {
		const char *leaf;
		int pfd = -1;

		a.entry = a.dirs[i - 1].path;
		if (parent_of(&a, a.dirs[i - 1].path, false, &pfd, &leaf) == 0)
			utimensat(pfd, leaf, a.dirs[i - 1].ts, AT_SYMLINK_NOFOLLOW);
	}
	if (diff_id)
		nb_sha256_final(steal_pointer(&h), diff_id);
	nb_err_clear(e);
out:
	forget_cache(&a);
	for (size_t i = 0; i < a.n_dirs; i++)
		free(a.dirs[i].path);
	free(a.dirs);
	pathset_free(&a.created);
	return r;
}
