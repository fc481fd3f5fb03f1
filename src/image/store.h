/* SPDX-License-Identifier: GPL-2.0-or-later */
/* store: the on-disk image store under DATA_DIR/images —
 *   blobs/sha256/<hex>   content, written to tmp/, fsynced, verified, renamed
 *   images.json          the images and their names (replaced atomically)
 *   rootfs/<chain hex>   one merged tree per chain ID, shared by every image on it
 *   verified/<chain hex> present once rootfs/<chain hex> was built from layers whose
 *                        uncompressed streams hashed to the diff_ids the chain ID is
 *                        made of; a tree without it is never reused, only rebuilt
 *   leases/<chain>.<pid>.<n>  flock'd by whoever runs from a rootfs
 *   tmp/                 partial downloads (resumable) and trees being built
 *   lock                 flock held by every writer (pull, load, import, rmi, prune) */
#ifndef NESTBOX_IMAGE_STORE_H
#define NESTBOX_IMAGE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "image/digest.h"
#include "lib/err.h"

struct json_object;

/* struct nb_store - an open store; @lockfd >= 0 while we hold the writer lock */
struct nb_store {
	char dir[PATH_MAX];	/* DATA_DIR/images */
	int dfd;		/* that directory, open (O_DIRECTORY) */
	int lockfd;		/* its lock file, held (flock) by a writer; -1 for a reader */
};

/**
 * nb_store_open() - open (creating) the store
 * @s:		output
 * @writer:	take the writer lock (waits for other writers), then clear what a
 *		killed writer left behind
 * @e:		error
 *
 * Return: 0 or negative errno
 */
int nb_store_open(struct nb_store *s, bool writer, struct nb_err *e);

/* nb_store_close() - release the lock and fds */
void nb_store_close(struct nb_store *s);

/* nb_store_blob_path() - absolute path of a blob (whether it exists or not) */
void nb_store_blob_path(const struct nb_store *s, const char *digest, char *buf, size_t len);

/* nb_store_has_blob() - whether the blob is stored (and has @size bytes, unless @size < 0) */
bool nb_store_has_blob(const struct nb_store *s, const char *digest, int64_t size);

/**
 * struct nb_blob_writer - a blob being written: temp file + running sha256
 * @fd:		the temp file
 * @tmp:	its name under tmp/
 * @h:		hash of what was written so far
 * @size:	bytes written so far
 */
struct nb_blob_writer {
	int fd;
	char tmp[96];
	struct nb_sha256 *h;
	uint64_t size;
};

/**
 * nb_blob_begin() - start writing a blob
 * @s:		store (writer)
 * @w:		output
 * @resume:	digest of the blob when a partial download of it may be resumed
 *		(tmp/<hex>.part: its bytes are hashed again and w->size says how many);
 *		NULL for a fresh anonymous temp file
 * @e:		error
 *
 * Return: 0 or negative errno
 */
int nb_blob_begin(struct nb_store *s, struct nb_blob_writer *w, const char *resume,
		  struct nb_err *e);

/* nb_blob_write() - append and hash. Return: 0 or negative errno */
int nb_blob_write(struct nb_blob_writer *w, const void *data, size_t len, struct nb_err *e);

/* nb_blob_reset() - drop what was written (the server ignored a Range). Return: 0 or -errno */
int nb_blob_reset(struct nb_blob_writer *w, struct nb_err *e);

/**
 * nb_blob_commit() - verify, fsync and rename into blobs/
 * @want:	expected digest, or NULL to accept any (the result goes to @out)
 * @want_size:	expected size, or -1
 * @out:	output digest (may be NULL)
 *
 * On mismatch the temp file is removed and nothing is stored.
 * Return: 0, -EBADMSG on mismatch, or negative errno
 */
int nb_blob_commit(struct nb_store *s, struct nb_blob_writer *w, const char *want,
		   int64_t want_size, char *out, struct nb_err *e);

/* nb_blob_abort() - close; keep the partial file for a later resume, or remove it */
void nb_blob_abort(struct nb_store *s, struct nb_blob_writer *w, bool keep);

/* nb_store_put_blob() - store a buffer as a blob; @out gets its digest. Return: 0 or -errno */
int nb_store_put_blob(struct nb_store *s, const void *data, size_t len, char *out,
		      struct nb_err *e);

/**
 * nb_store_read_blob() - read a small blob and check its digest
 * @max:	refuse blobs larger than this
 * @data:	output, NUL-terminated, malloc'd
 * @len:	output length
 *
 * Return: 0 or negative errno (-ENOENT when absent, -EBADMSG when corrupt)
 */
int nb_store_read_blob(struct nb_store *s, const char *digest, size_t max, char **data,
		       size_t *len, struct nb_err *e);

/* nb_store_load_db() - images.json ({"images": [...]}, empty when absent) */
int nb_store_load_db(struct nb_store *s, struct json_object **db, struct nb_err *e);

/* nb_store_save_db() - replace images.json atomically (after a syncfs of the store) */
int nb_store_save_db(struct nb_store *s, struct json_object *db, struct nb_err *e);

/**
 * struct nb_unpack_wait - lets unpacking start while later layers still download
 * @ready:	called before layer @i is applied; returns 0 once its blob is stored,
 *		or a negative errno (error set) when it never will be
 * @ud:		passed to @ready
 */
struct nb_unpack_wait {
	int (*ready)(void *ud, size_t i, struct nb_err *e);
	void *ud;
};

/**
 * nb_store_unpack() - make sure rootfs/<chain> exists for every prefix of a layer list
 * @layers:	layer blob digests, bottom first (the blobs must be stored)
 * @diff_ids:	the config's diff_ids, same count
 * @n:		number of layers
 * @top:	output: hex of the top chain ID (the image's rootfs); for n == 0 the
 *		digest of the empty string
 * @w:		wait for each layer's blob first (NULL: they are all stored)
 * @e:		error naming the layer and entry that failed
 *
 * Every layer applied is hashed and must match its diff_id, or nothing is stored
 * ("layer sha256:..: content does not match the config's diff_id ..."); an
 * existing tree is reused only when nb_store_verified() says so.
 *
 * Return: 0, -EBADMSG on a mismatch, or negative errno; a tree is only visible
 * once complete and verified
 */
int nb_store_unpack(struct nb_store *s, char *const *layers, char *const *diff_ids, size_t n,
		    char top[65], const struct nb_unpack_wait *w, struct nb_err *e);

/* nb_store_verified() - whether rootfs/<chain hex> exists and was built from verified layers */
bool nb_store_verified(const struct nb_store *s, const char *chain_hex);

/* nb_store_rootfs_path() - absolute path of rootfs/<chain hex> */
void nb_store_rootfs_path(const struct nb_store *s, const char *chain_hex, char *buf,
			  size_t len);

/**
 * nb_store_gc() - remove blobs, trees and temp files that no image in @db reaches
 * @partials:	also remove partial downloads
 * @freed:	output: bytes freed (may be NULL)
 *
 * Trees held by a live lease stay. Return: 0 or negative errno
 */
int nb_store_gc(struct nb_store *s, struct json_object *db, bool partials, uint64_t *freed,
		struct nb_err *e);

/**
 * nb_store_lease() - hold rootfs/<chain hex> until nb_store_unlease()
 * @s:		store (no writer lock needed)
 * @chain_hex:	the tree
 * @fd:		output: the flock'd lease file (closing it ends the lease)
 * @path, @len:	output: the lease file's path
 *
 * Return: 0, -ENOENT if the tree is gone, or negative errno
 */
int nb_store_lease(struct nb_store *s, const char *chain_hex, int *fd, char *path, size_t len,
		   struct nb_err *e);

/* nb_store_leased() - whether a live lease holds the tree (dead holders' leases are removed) */
bool nb_store_leased(struct nb_store *s, const char *chain_hex);

#endif
