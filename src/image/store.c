/* SPDX-License-Identifier: GPL-2.0-or-later */
/* store: blobs, images.json, chain trees, leases and garbage collection.
 *
 * Theory of operation: every writer holds the flock on "lock" for its whole
 * run, so writers never interleave. Everything a writer makes becomes visible
 * by one rename: a blob from tmp/ after its digest checked, a tree from
 * tmp/tree-<chain> once all its layers applied, images.json last. A writer
 * killed at any moment leaves only tmp/ entries, which the next writer clears
 * (partial downloads stay, to be resumed). Readers (run) take no lock: they
 * read images.json (always whole), create a lease file, flock it, and then
 * check the tree is there; the collector renames a tree aside, checks leases
 * again, and only then removes it, so a tree with a lease is never removed. */
#include "image/diag.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/layer.h"
#include "image/oci.h"
#include "image/store.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/paths.h"

/* nb_store_open() - see store.h */
int nb_store_open(struct nb_store *s, bool writer, struct nb_err *e)
{
	static const char *const subdirs[] = { "blobs/sha256", "tmp", "rootfs", "leases",
						       "verified" };
	char data[PATH_MAX - 64];
	char p[PATH_MAX];
	int r;

	s->dfd = s->lockfd = -1;
	r = nb_data_dir(data, sizeof(data), e);
	if (r < 0)
		return r;
	snprintf(s->dir, sizeof(s->dir), "%s/images", data);
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", s->dir, subdirs[i]);
		r = nb_mkdir_p(p, 0700, e);
		if (r < 0)
			return nb_err_wrap(e, "image store");
	}
	s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0)
		return nb_err_sys(e, errno, "open image store %s", s->dir);
	if (!writer)
		return 0;
	s->lockfd = openat(s->dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		r = nb_err_sys(e, errno, "open %s/lock", s->dir);
		nb_store_close(s);
		return r;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		nb_info("waiting for another nestbox writing the image store");
		while (flock(s->lockfd, LOCK_EX) < 0) {
			if (errno == EINTR)
				continue;
			r = nb_err_sys(e, errno, "lock %s/lock", s->dir);
			nb_store_close(s);
			return r;
		}
	}
	/* We are the only writer: what a killed one left in tmp/ is garbage, except
	 * partial downloads, which the next pull resumes. */
	{
		autoclose int tfd = openat(s->dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		autodir DIR *d = NULL;
		struct dirent *de;

		if (tfd >= 0 && (d = fdopendir(tfd)) != NULL) {
			int dfd = steal_fd(&tfd);

			while ((de = readdir(d)) != NULL) {
				size_t n = strlen(de->d_name);

				if (de->d_name[0] == '.' || (n > 5 && strcmp(de->d_name + n - 5, ".part") == 0))
					continue;
				nb_rm_at(dfd, de->d_name, NULL);
			}
		}
	}
	return 0;
}

/* nb_store_close() - see store.h */
void nb_store_close(struct nb_store *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dfd >= 0)
		close(s->dfd);
	s->lockfd = s->dfd = -1;
}

/* nb_store_blob_path() - see store.h */
void nb_store_blob_path(const struct nb_store *s, const char *digest, char *buf, size_t len)
{
	snprintf(buf, len, "%s/blobs/sha256/%s", s->dir, nb_digest_hex(digest));
}

/* nb_store_has_blob() - see store.h */
bool nb_store_has_blob(const struct nb_store *s, const char *digest, int64_t size)
{
	char rel[128];
	struct stat st;

	snprintf(rel, sizeof(rel), "blobs/sha256/%s", nb_digest_hex(digest));
	if (fstatat(s->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	return size < 0 || st.st_size == size;
}

/* nb_blob_begin() - see store.h */
int nb_blob_begin(struct nb_store *s, struct nb_blob_writer *w, const char *resume,
		  struct nb_err *e)
{
	char rel[128];
	char buf[1 << 16];
	ssize_t n;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->h = nb_sha256_new();
	if (!w->h)
		return nb_err_set(e, ENOMEM, "blob: out of memory");
	if (resume) {
		snprintf(w->tmp, sizeof(w->tmp), "%s.part", nb_digest_hex(resume));
		snprintf(rel, sizeof(rel), "tmp/%s", w->tmp);
		w->fd = openat(s->dfd, rel, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (w->fd < 0)
			goto fail;
		while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
			nb_sha256_update(w->h, buf, (size_t)n);
			w->size += (uint64_t)n;
		}
		if (n < 0)
			goto fail;
		return 0;
	}
	for (int tries = 0; tries < 100; tries++) {
		snprintf(w->tmp, sizeof(w->tmp), "blob-%d-%08lx.tmp", getpid(), random());
		snprintf(rel, sizeof(rel), "tmp/%s", w->tmp);
		w->fd = openat(s->dfd, rel, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (w->fd >= 0 || errno != EEXIST)
			break;
	}
	if (w->fd >= 0)
		return 0;
fail:
	{
		int r = nb_err_sys(e, errno, "blob temp file %s/tmp/%s", s->dir, w->tmp);

		nb_sha256_free(w->h);
		w->h = NULL;
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		return r;
	}
}

/* nb_blob_write() - see store.h */
int nb_blob_write(struct nb_blob_writer *w, const void *data, size_t len, struct nb_err *e)
{
	int r = nb_write_all(w->fd, data, len);

	if (r < 0)
		return nb_err_sys(e, -r, "write blob temp file %s", w->tmp);
	nb_sha256_update(w->h, data, len);
	w->size += len;
	return 0;
}

/* nb_blob_reset() - see store.h */
int nb_blob_reset(struct nb_blob_writer *w, struct nb_err *e)
{
	if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
		return nb_err_sys(e, errno, "truncate %s", w->tmp);
	nb_sha256_free(w->h);
	w->h = nb_sha256_new();
	w->size = 0;
	if (!w->h)
		return nb_err_set(e, ENOMEM, "blob: out of memory");
	return 0;
}

/* nb_blob_abort() - see store.h */
void nb_blob_abort(struct nb_store *s, struct nb_blob_writer *w, bool keep)
{
	char rel[128];

	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	nb_sha256_free(w->h);
	w->h = NULL;
	if (!keep && w->tmp[0]) {
		snprintf(rel, sizeof(rel), "tmp/%s", w->tmp);
		unlinkat(s->dfd, rel, 0);
	}
}

/* nb_blob_commit() - see store.h */
int nb_blob_commit(struct nb_store *s, struct nb_blob_writer *w, const char *want,
		   int64_t want_size, char *out, struct nb_err *e)
{
	char got[NB_DIGEST_LEN + 1];
	char from[128], to[128];
	int r;

	nb_sha256_final(w->h, got);
	w->h = NULL;
	if (want_size >= 0 && w->size != (uint64_t)want_size) {
		r = nb_err_set(e, EBADMSG, "blob %s: size mismatch: got %llu bytes, expected %lld",
			       want ? want : got, (unsigned long long)w->size, (long long)want_size);
		nb_blob_abort(s, w, false);
		return r;
	}
	if (want && strcmp(want, got) != 0) {
		r = nb_err_set(e, EBADMSG, "blob %s: digest mismatch (content is %s)", want, got);
		nb_blob_abort(s, w, false);
		return r;
	}
	if (fsync(w->fd) < 0) {
		r = nb_err_sys(e, errno, "fsync blob %s", got);
		nb_blob_abort(s, w, false);
		return r;
	}
	fchmod(w->fd, 0644);
	snprintf(from, sizeof(from), "tmp/%s", w->tmp);
	snprintf(to, sizeof(to), "blobs/sha256/%s", nb_digest_hex(got));
	if (renameat(s->dfd, from, s->dfd, to) < 0) {
		r = nb_err_sys(e, errno, "store blob %s", got);
		nb_blob_abort(s, w, false);
		return r;
	}
	close(w->fd);
	w->fd = -1;
	if (out)
		snprintf(out, NB_DIGEST_LEN + 1, "%s", got);
	return 0;
}

/* nb_store_put_blob() - see store.h */
int nb_store_put_blob(struct nb_store *s, const void *data, size_t len, char *out,
		      struct nb_err *e)
{
	struct nb_blob_writer w;
	int r;

	nb_sha256_buf(data, len, out);
	if (nb_store_has_blob(s, out, (int64_t)len))
		return 0;
	r = nb_blob_begin(s, &w, NULL, e);
	if (r < 0)
		return r;
	r = nb_blob_write(&w, data, len, e);
	if (r < 0) {
		nb_blob_abort(s, &w, false);
		return r;
	}
	return nb_blob_commit(s, &w, out, (int64_t)len, NULL, e);
}

/* nb_store_read_blob() - see store.h */
int nb_store_read_blob(struct nb_store *s, const char *digest, size_t max, char **data,
		       size_t *len, struct nb_err *e)
{
	char rel[128];
	char got[NB_DIGEST_LEN + 1];
	autoclose int fd = -1;
	autofree char *buf = NULL;
	struct stat st;
	int r;

	snprintf(rel, sizeof(rel), "blobs/sha256/%s", nb_digest_hex(digest));
	fd = openat(s->dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return nb_err_sys(e, errno, "blob %s", digest);
	if (fstat(fd, &st) < 0)
		return nb_err_sys(e, errno, "blob %s", digest);
	if ((uint64_t)st.st_size > max)
		return nb_err_set(e, EFBIG, "blob %s: larger than %zu bytes", digest, max);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return nb_err_set(e, ENOMEM, "blob %s: out of memory", digest);
	r = nb_read_all(fd, buf, (size_t)st.st_size);
	if (r < 0)
		return nb_err_sys(e, -r, "read blob %s", digest);
	buf[st.st_size] = '\0';
	nb_sha256_buf(buf, (size_t)st.st_size, got);
	if (strcmp(got, digest) != 0)
		return nb_err_set(e, EBADMSG, "blob %s: corrupt in the store (content is %s)", digest, got);
	*len = (size_t)st.st_size;
	*data = steal_pointer(&buf);
	return 0;
}

/* nb_store_load_db() - see store.h */
int nb_store_load_db(struct nb_store *s, struct json_object **db, struct nb_err *e)
{
	char path[PATH_MAX];
	json_object *j, *arr;

	snprintf(path, sizeof(path), "%s/images.json", s->dir);
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		j = json_object_new_object();
		json_object_object_add(j, "images", json_object_new_array());
		*db = j;
		return 0;
	}
	j = json_object_from_file(path);
	if (!j || !json_object_object_get_ex(j, "images", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		if (j)
			json_object_put(j);
		return nb_err_set(e, EINVAL, "image store %s: images.json is damaged", s->dir);
	}
	*db = j;
	return 0;
}

/* nb_store_save_db() - see store.h */
int nb_store_save_db(struct nb_store *s, struct json_object *db, struct nb_err *e)
{
	char path[PATH_MAX];
	size_t len;
	const char *txt = json_object_to_json_string_length(db, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	/* The trees and blobs images.json names must be durable before it is. */
	syncfs(s->dfd);
	snprintf(path, sizeof(path), "%s/images.json", s->dir);
	return nb_write_file_atomic(path, txt, len, 0644, e);
}

/* nb_store_rootfs_path() - see store.h */
void nb_store_rootfs_path(const struct nb_store *s, const char *chain_hex, char *buf, size_t len)
{
	snprintf(buf, len, "%s/rootfs/%s", s->dir, chain_hex);
}

/* nb_store_verified() - see store.h */
bool nb_store_verified(const struct nb_store *s, const char *chain_hex)
{
	char rel[128];
	struct stat st;

	snprintf(rel, sizeof(rel), "rootfs/%s", chain_hex);
	if (fstatat(s->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return false;
	snprintf(rel, sizeof(rel), "verified/%s", chain_hex);
	return fstatat(s->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* mark_verified() - record that rootfs/<hex> was built from layers whose
 * streams hashed to their diff_ids (only ever after the tree is in place, so a
 * crash in between leaves a tree that is merely rebuilt). Return: 0 or -errno */
static int mark_verified(struct nb_store *s, const char *hex, struct nb_err *e)
{
	char rel[128];
	autoclose int fd = -1;

	snprintf(rel, sizeof(rel), "verified/%s", hex);
	fd = openat(s->dfd, rel, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return nb_err_sys(e, errno, "create %s/%s", s->dir, rel);
	return 0;
}

/* drop_unverified() - move aside a rootfs/<hex> no mark vouches for (made by a
 * nestbox that did not hash layers, or left by a crash before its mark): its
 * content is unknown, so it is rebuilt rather than reused. Return: 0 or -errno */
static int drop_unverified(struct nb_store *s, const char *hex, struct nb_err *e)
{
	char dst[128], aside[160];

	snprintf(dst, sizeof(dst), "rootfs/%s", hex);
	if (faccessat(s->dfd, dst, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (nb_store_leased(s, hex))
		return nb_err_set(e, EBUSY, "rootfs %.12s was unpacked without verifying its layers "
				  "and is in use; stop the VMs running from it, then pull again", hex);
	snprintf(aside, sizeof(aside), "tmp/gc-%s", hex);
	nb_rm_at(s->dfd, aside, NULL);
	if (renameat(s->dfd, dst, s->dfd, aside) < 0)
		return nb_err_sys(e, errno, "move aside unverified tree %s", hex);
	nb_debug("unverified tree %s rebuilt", hex);
	return nb_rm_at(s->dfd, aside, NULL);
}

/**
 * build_tree() - rootfs/<hex> from rootfs/<parent> (or nothing) plus one layer
 * @diff_id:	what the layer's uncompressed stream must hash to
 *
 * The tree is made in tmp/ and renamed into rootfs/ only once the layer's
 * stream matched @diff_id; on any failure nothing is left. Return: 0 or -errno
 */
static int build_tree(struct nb_store *s, const char *parent_hex, const char *hex,
		      const char *layer, const char *diff_id, struct nb_err *e)
{
	char tmp[160], dst[128], blob[128], got[NB_DIGEST_LEN + 1];
	autoclose int tfd = -1;
	autoclose int lfd = -1;
	int r;

	snprintf(tmp, sizeof(tmp), "tmp/tree-%s", hex);
	snprintf(dst, sizeof(dst), "rootfs/%s", hex);
	nb_rm_at(s->dfd, tmp, NULL);
	if (mkdirat(s->dfd, tmp, 0755) < 0)
		return nb_err_sys(e, errno, "create %s/%s", s->dir, tmp);
	tfd = openat(s->dfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0) {
		r = nb_err_sys(e, errno, "open %s/%s", s->dir, tmp);
		goto fail;
	}
	if (parent_hex) {
		char src[128];
		autoclose int pfd = -1;

		snprintf(src, sizeof(src), "rootfs/%s", parent_hex);
		pfd = openat(s->dfd, src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0) {
			r = nb_err_sys(e, errno, "open %s/%s", s->dir, src);
			goto fail;
		}
		r = nb_tree_linkcopy(pfd, tfd, e);
		if (r < 0) {
			nb_err_wrap(e, "copy tree %.12s", parent_hex);
			goto fail;
		}
	}
	snprintf(blob, sizeof(blob), "blobs/sha256/%s", nb_digest_hex(layer));
	lfd = openat(s->dfd, blob, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (lfd < 0) {
		r = nb_err_sys(e, errno, "layer %s", layer);
		goto fail;
	}
	r = nb_layer_apply(tfd, lfd, layer, got, e);
	if (r < 0)
		goto fail;
	if (strcmp(got, diff_id) != 0) {
		r = nb_err_set(e, EBADMSG, "layer %s: content does not match the config's diff_id "
			       "%s (it hashes to %s)", layer, diff_id, got);
		goto fail;
	}
	r = drop_unverified(s, hex, e);
	if (r < 0)
		goto fail;
	if (renameat(s->dfd, tmp, s->dfd, dst) < 0) {
		r = nb_err_sys(e, errno, "store tree %s", hex);
		goto fail;
	}
	return mark_verified(s, hex, e);
fail:
	nb_rm_at(s->dfd, tmp, NULL);
	return r;
}

/* nb_store_unpack() - see store.h */
int nb_store_unpack(struct nb_store *s, char *const *layers, char *const *diff_ids, size_t n,
		    char top[65], const struct nb_unpack_wait *w, struct nb_err *e)
{
	autofree char (*chain)[NB_DIGEST_LEN + 1] = NULL;
	char rel[128];
	int r;

	if (n == 0) {
		char empty[NB_DIGEST_LEN + 1];

		nb_sha256_buf("", 0, empty);
		snprintf(top, 65, "%s", nb_digest_hex(empty));
		snprintf(rel, sizeof(rel), "rootfs/%s", top);
		if (mkdirat(s->dfd, rel, 0755) < 0 && errno != EEXIST)
			return nb_err_sys(e, errno, "create %s/%s", s->dir, rel);
		return mark_verified(s, top, e);
	}
	chain = calloc(n, sizeof(*chain));
	if (!chain)
		return nb_err_set(e, ENOMEM, "unpack: out of memory");
	nb_chain_ids(diff_ids, n, chain);
	/* Find the highest verified tree already there, then build upward from it:
	 * a tree is reused only when its chain ID was built from diff_ids its
	 * layers' streams were seen to hash to. */
	size_t have = 0;

	for (size_t i = n; i > 0; i--) {
		if (nb_store_verified(s, nb_digest_hex(chain[i - 1]))) {
			have = i;
			break;
		}
	}
	for (size_t i = have; i < n; i++) {
		if (w && w->ready) {
			r = w->ready(w->ud, i, e);
			if (r < 0)
				return r;
		}
		nb_debug("unpack layer %zu/%zu %s", i + 1, n, layers[i]);
		r = build_tree(s, i ? nb_digest_hex(chain[i - 1]) : NULL, nb_digest_hex(chain[i]),
			       layers[i], diff_ids[i], e);
		if (r < 0)
			return r;
	}
	snprintf(top, 65, "%s", nb_digest_hex(chain[n - 1]));
	return 0;
}

/* lease_live() - whether a lease file is held by a live process (removes it if not) */
static bool lease_live(int lfd, const char *name)
{
	autoclose int fd = openat(lfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	unlinkat(lfd, name, 0);
	return false;
}

/* nb_store_leased() - see store.h */
bool nb_store_leased(struct nb_store *s, const char *chain_hex)
{
	autoclose int lfd = openat(s->dfd, "leases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	autodir DIR *d = NULL;
	struct dirent *de;
	bool live = false;
	size_t hl = strlen(chain_hex);

	if (lfd < 0)
		return false;
	d = fdopendir(dup(lfd));
	if (!d)
		return true; /* when in doubt, keep */
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, chain_hex, hl) == 0 && de->d_name[hl] == '.' &&
		    lease_live(lfd, de->d_name))
			live = true;
	return live;
}

/* nb_store_lease() - see store.h */
int nb_store_lease(struct nb_store *s, const char *chain_hex, int *fd, char *path, size_t len,
		   struct nb_err *e)
{
	char rel[192];
	autoclose int lf = -1;
	struct stat st;

	for (int tries = 0; tries < 100 && lf < 0; tries++) {
		snprintf(rel, sizeof(rel), "leases/%s.%d.%08lx", chain_hex, getpid(), random());
		lf = openat(s->dfd, rel, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (lf < 0 && errno != EEXIST)
			return nb_err_sys(e, errno, "lease %s/%s", s->dir, rel);
	}
	if (lf < 0 || flock(lf, LOCK_EX) < 0)
		return nb_err_sys(e, errno, "lease %s/%s", s->dir, rel);
	/* Only now is the tree safe from the collector; check it is still there. */
	snprintf(path, len, "rootfs/%s", chain_hex);
	if (fstatat(s->dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
		unlinkat(s->dfd, rel, 0);
		return nb_err_set(e, ENOENT, "rootfs %s is gone (removed meanwhile)", chain_hex);
	}
	snprintf(path, len, "%s/%s", s->dir, rel);
	*fd = steal_fd(&lf);
	return 0;
}

/* Mark @key as used in the set of reached blobs and trees; always 0. */
static int add_reached(json_object *set, const char *key)
{
	json_object_object_add(set, key, json_object_new_boolean(1));
	return 0;
}

/* reached() - blob digests and chain hexes that the images in @db use */
static json_object *reached(json_object *db)
{
	json_object *set = json_object_new_object();
	json_object *arr = json_object_object_get(db, "images");

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *img = json_object_array_get_idx(arr, i);
		json_object *v, *ids;
		size_t n;

		if (json_object_object_get_ex(img, "digest", &v))
			add_reached(set, json_object_get_string(v));
		if (json_object_object_get_ex(img, "id", &v))
			add_reached(set, json_object_get_string(v));
		if (json_object_object_get_ex(img, "manifests", &v))
			for (size_t k = 0; k < json_object_array_length(v); k++)
				add_reached(set, json_object_get_string(json_object_array_get_idx(v, k)));
		if (json_object_object_get_ex(img, "layers", &v))
			for (size_t k = 0; k < json_object_array_length(v); k++)
				add_reached(set, json_object_get_string(json_object_array_get_idx(v, k)));
		if (!json_object_object_get_ex(img, "diff_ids", &ids))
			continue;
		n = json_object_array_length(ids);
		if (n == 0 || n > NB_OCI_MAX_LAYERS)
			continue;
		char *d[NB_OCI_MAX_LAYERS];
		char chain[NB_OCI_MAX_LAYERS][NB_DIGEST_LEN + 1];
		bool ok = true;

		for (size_t k = 0; k < n; k++) {
			d[k] = (char *)json_object_get_string(json_object_array_get_idx(ids, k));
			ok = ok && nb_digest_valid(d[k]);
		}
		if (!ok)
			continue;
		nb_chain_ids(d, n, chain);
		for (size_t k = 0; k < n; k++)
			add_reached(set, nb_digest_hex(chain[k]));
	}
	return set;
}

/* nb_store_gc() - see store.h */
int nb_store_gc(struct nb_store *s, json_object *db, bool partials, uint64_t *freed,
		struct nb_err *e)
{
	json_object *set = reached(db);
	uint64_t dummy = 0;
	char empty[NB_DIGEST_LEN + 1];

	if (!freed)
		freed = &dummy;
	nb_sha256_buf("", 0, empty);
	add_reached(set, nb_digest_hex(empty));

	/* blobs */
	{
		autoclose int bfd = openat(s->dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		autodir DIR *d = bfd >= 0 ? fdopendir(dup(bfd)) : NULL;
		struct dirent *de;
		char key[NB_DIGEST_LEN + 8];

		while (d && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(key, sizeof(key), "sha256:%s", de->d_name);
			if (json_object_object_get_ex(set, key, NULL))
				continue;
			nb_debug("gc: blob %s", key);
			nb_rm_at(bfd, de->d_name, freed);
		}
	}
	/* trees: renamed aside first, so a lease taken meanwhile is seen */
	{
		autoclose int rfd = openat(s->dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		autodir DIR *d = rfd >= 0 ? fdopendir(dup(rfd)) : NULL;
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL) {
			char aside[128];

			if (de->d_name[0] == '.' || json_object_object_get_ex(set, de->d_name, NULL))
				continue;
			if (nb_store_leased(s, de->d_name))
				continue;
			snprintf(aside, sizeof(aside), "../tmp/gc-%s", de->d_name);
			if (renameat(rfd, de->d_name, rfd, aside) < 0)
				continue;
			if (nb_store_leased(s, de->d_name)) {
				renameat(rfd, aside, rfd, de->d_name);
				continue;
			}
			nb_debug("gc: tree %s", de->d_name);
			nb_rm_at(rfd, aside, freed);
		}
	}
	/* verification marks of trees that are gone (a leased tree keeps its mark) */
	{
		autoclose int vfd = openat(s->dfd, "verified", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		autodir DIR *d = vfd >= 0 ? fdopendir(dup(vfd)) : NULL;
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL) {
			char rel[128];

			snprintf(rel, sizeof(rel), "rootfs/%s", de->d_name);
			if (de->d_name[0] == '.' || faccessat(s->dfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			unlinkat(vfd, de->d_name, 0);
		}
	}
	/* temp files; partial downloads only when asked */
	{
		autoclose int tfd = openat(s->dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		autodir DIR *d = tfd >= 0 ? fdopendir(dup(tfd)) : NULL;
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);

			if (de->d_name[0] == '.')
				continue;
			if (!partials && n > 5 && strcmp(de->d_name + n - 5, ".part") == 0)
				continue;
			nb_rm_at(tfd, de->d_name, freed);
		}
	}
	json_object_put(set);
	(void)e;
	return 0;
}
