/* SPDX-License-Identifier: GPL-2.0-or-later */
/* image: the store's operations as commands use them. Each writer opens the
 * store with its lock, does its work, and publishes by saving images.json. */
#include "image/diag.h"
#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"
#include "image/oci.h"
#include "image/ociarchive.h"
#include "image/ref.h"
#include "image/registry.h"
#include "image/store.h"
#include "lib/cleanup.h"
#include "lib/log.h"

/* autojson's cleanup: drop the reference *j holds, if any. */
static void json_putp(json_object **j)
{
	if (*j)
		json_object_put(*j);
}
#define autojson __attribute__((cleanup(json_putp)))

/* autostore's cleanup: close the store (and its lock). */
static void store_closep(struct nb_store *s)
{
	nb_store_close(s);
}
#define autostore __attribute__((cleanup(store_closep)))

/* open_db() - open the store (@writer: with the writer lock) and load
 * images.json: the first steps of every operation. Return: 0 or -errno */
static int open_db(struct nb_store *s, bool writer, json_object **db, struct nb_err *e)
{
	int r = nb_store_open(s, writer, e);

	return r < 0 ? r : nb_store_load_db(s, db, e);
}

/* @o's string member @k, "" when absent or not a string. */
static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : "";
}

/* The "images" array of images.json. */
static json_object *images_of(json_object *db)
{
	return json_object_object_get(db, "images");
}

/* all_hex() - whether @s is 3..64 lowercase hex digits */
static bool all_hex(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* has_name() - index of @name in an image's names, or -1 */
static int has_name(json_object *img, const char *name)
{
	json_object *names = json_object_object_get(img, "names");

	for (size_t i = 0; i < json_object_array_length(names); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(names, i)), name) == 0)
			return (int)i;
	return -1;
}

/* named() - index of the image called @want (copied to @name), or -1 */
static int named(json_object *arr, size_t n, const char *want, char *name, size_t nlen)
{
	for (size_t i = 0; i < n; i++)
		if (has_name(json_object_array_get_idx(arr, i), want) >= 0) {
			snprintf(name, nlen, "%s", want);
			return (int)i;
		}
	return -1;
}

/**
 * find() - the image @ref names: a name, repo@digest, or an ID (prefix)
 * @db:		images.json
 * @ref:	what the user typed
 * @name:	output: the normalized name when matched by name ("" otherwise)
 *
 * Return: index in images, -ENOENT, or -EINVAL when an ID prefix is ambiguous
 */
static int find(json_object *db, const char *ref, char *name, size_t nlen, struct nb_err *e)
{
	json_object *arr = images_of(db);
	size_t n = json_object_array_length(arr);
	struct nb_ref r;
	char full[700], repo[600];
	const char *id = ref;
	int hit;

	name[0] = '\0';
	hit = named(arr, n, ref, name, nlen);
	if (hit >= 0)
		return hit;
	if (nb_ref_parse(ref, &r, NULL) == 0) {
		nb_ref_name(&r, full, sizeof(full));
		nb_ref_repo(&r, repo, sizeof(repo));
		hit = named(arr, n, full, name, nlen);
		if (hit >= 0)
			return hit;
		/* Like podman, a short name also finds what was imported or built
		 * locally: "demo" -> localhost/demo:latest. */
		if (r.short_name && !r.digest[0]) {
			struct nb_ref lr;

			snprintf(full, sizeof(full), "localhost/%s", ref);
			if (nb_ref_parse(full, &lr, NULL) == 0) {
				nb_ref_name(&lr, full, sizeof(full));
				hit = named(arr, n, full, name, nlen);
				if (hit >= 0)
					return hit;
			}
		}
		if (r.digest[0]) {
			for (size_t i = 0; i < n; i++) {
				json_object *img = json_object_array_get_idx(arr, i);
				json_object *names = json_object_object_get(img, "names");

				if (strcmp(jstr(img, "digest"), r.digest) != 0 &&
				    strcmp(jstr(img, "index"), r.digest) != 0)
					continue;
				for (size_t k = 0; k < json_object_array_length(names); k++) {
					const char *nm = json_object_get_string(json_object_array_get_idx(names, k));

					if (strncmp(nm, repo, strlen(repo)) == 0 &&
					    (nm[strlen(repo)] == ':' || nm[strlen(repo)] == '@'))
						return (int)i;
				}
			}
		}
	}
	if (strncmp(id, "sha256:", 7) == 0)
		id += 7;
	if (all_hex(id)) {
		for (size_t i = 0; i < n; i++) {
			const char *iid = jstr(json_object_array_get_idx(arr, i), "id");

			if (strncmp(iid, "sha256:", 7) == 0 && strncmp(iid + 7, id, strlen(id)) == 0) {
				if (hit >= 0)
					return nb_err_set(e, EINVAL, "image ID '%s' is ambiguous", ref);
				hit = (int)i;
			}
		}
		if (hit >= 0)
			return hit;
	}
	return nb_err_set(e, ENOENT, "image '%s' not known; pull it first", ref);
}

/* drop_name() - take @name off every image; images left nameless go */
static void drop_name(json_object *db, const char *name)
{
	json_object *arr = images_of(db);

	for (size_t i = json_object_array_length(arr); i > 0; i--) {
		json_object *img = json_object_array_get_idx(arr, i - 1);
		int k = has_name(img, name);

		if (k < 0)
			continue;
		json_object_array_del_idx(json_object_object_get(img, "names"), (size_t)k, 1);
		if (json_object_array_length(json_object_object_get(img, "names")) == 0)
			json_object_array_del_idx(arr, i - 1, 1);
	}
}

/* A JSON array of the @n strings of @v. */
static json_object *strv_json(char *const *v, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/**
 * commit_image() - unpack a stored manifest (or index) and record it under @name
 * @index_digest: the index it was chosen from, or NULL
 * @id:		output: the image ID
 *
 * Return: 0 or negative errno
 */
static int commit_image(struct nb_store *s, json_object *db, const char *manifest,
			const char *index_digest, const char *name, const struct nb_platform *plat,
			const struct nb_unpack_wait *w, char *id, size_t idlen, struct nb_err *e)
{
	autofree char *mdata = NULL;
	autofree char *cdata = NULL;
	autofree char **layers = NULL;
	struct nb_manifest m;
	struct nb_config c;
	size_t mlen, clen;
	char top[65];
	int64_t size;
	json_object *img = NULL, *arr = images_of(db);
	int r;

	r = nb_store_read_blob(s, manifest, NB_OCI_MAX_DOC, &mdata, &mlen, e);
	if (r < 0)
		return r;
	r = nb_manifest_parse(mdata, mlen, &m, e);
	if (r < 0)
		return nb_err_wrap(e, "manifest %s", manifest);
	if (m.kind == NB_DOC_INDEX) {
		const struct nb_desc *d;
		char child[NB_DIGEST_LEN + 1];

		if (index_digest) {
			nb_manifest_free(&m);
			return nb_err_set(e, EINVAL, "index %s: nested index", manifest);
		}
		r = nb_index_select(&m, plat, &d, e);
		if (r < 0) {
			nb_manifest_free(&m);
			return nb_err_wrap(e, "index %s", manifest);
		}
		snprintf(child, sizeof(child), "%s", d->digest);
		nb_manifest_free(&m);
		return commit_image(s, db, child, manifest, name, plat, w, id, idlen, e);
	}
	r = nb_store_read_blob(s, m.config.digest, NB_OCI_MAX_DOC, &cdata, &clen, e);
	if (r < 0)
		goto out_m;
	r = nb_config_parse(cdata, clen, &c, e);
	if (r < 0) {
		nb_err_wrap(e, "config %s", m.config.digest);
		goto out_m;
	}
	if (c.n_diff_ids != m.n_layers) {
		r = nb_err_set(e, EINVAL, "manifest %s: %zu layers but the config lists %zu diff_ids",
			       manifest, m.n_layers, c.n_diff_ids);
		goto out_c;
	}
	layers = calloc(m.n_layers + 1, sizeof(*layers));
	if (!layers) {
		r = nb_err_set(e, ENOMEM, "out of memory");
		goto out_c;
	}
	size = m.config.size;
	for (size_t i = 0; i < m.n_layers; i++) {
		layers[i] = m.layers[i].digest;
		size += m.layers[i].size;
	}
	r = nb_store_unpack(s, layers, c.diff_ids, m.n_layers, top, w, e);
	if (r < 0)
		goto out_c;

	/* record: one entry per image ID, names moved to it */
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (strcmp(jstr(json_object_array_get_idx(arr, i), "id"), m.config.digest) == 0)
			img = json_object_array_get_idx(arr, i);
	if (name && name[0]) {
		if (img && has_name(img, name) >= 0)
			name = NULL;
		else
			drop_name(db, name);
		/* dropping a name may have removed our own record */
		img = NULL;
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			if (strcmp(jstr(json_object_array_get_idx(arr, i), "id"), m.config.digest) == 0)
				img = json_object_array_get_idx(arr, i);
	}
	if (!img) {
		img = json_object_new_object();
		json_object_object_add(img, "id", json_object_new_string(m.config.digest));
		json_object_object_add(img, "names", json_object_new_array());
		json_object_array_add(arr, img);
	}
	json_object_object_add(img, "digest", json_object_new_string(manifest));
	if (index_digest)
		json_object_object_add(img, "index", json_object_new_string(index_digest));
	json_object_object_add(img, "manifests", strv_json((char *[]){ (char *)manifest,
					(char *)(index_digest ? index_digest : manifest) }, 2));
	json_object_object_add(img, "layers", strv_json(layers, m.n_layers));
	json_object_object_add(img, "diff_ids", strv_json(c.diff_ids, c.n_diff_ids));
	json_object_object_add(img, "rootfs", json_object_new_string(top));
	json_object_object_add(img, "size", json_object_new_int64(size));
	json_object_object_add(img, "created", json_object_new_string(c.created));
	json_object_object_add(img, "os", json_object_new_string(c.os));
	json_object_object_add(img, "architecture", json_object_new_string(c.arch));
	if (name && name[0])
		json_object_array_add(json_object_object_get(img, "names"), json_object_new_string(name));
	snprintf(id, idlen, "%s", m.config.digest);
out_c:
	nb_config_free(&c);
out_m:
	nb_manifest_free(&m);
	return r;
}

/**
 * struct fetcher - layers downloading in a thread while the caller unpacks
 * @mu, @cv:	guard and signal everything below
 * @ready:	per layer: stored
 * @finished:	the download thread returned @rc (its error in @err)
 * @cancel:	the unpacker failed: stop downloading
 * @rc:		what nb_registry_blobs() returned, once @finished
 * @err:	its error
 * @reg, @s:	the registry to download from, the store to download into
 * @d, @n:	the layers' descriptors, in order
 * @progress:	draw the progress line
 */
struct fetcher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool *ready;
	bool finished, cancel;
	int rc;
	struct nb_err err;
	struct nb_registry *reg;
	struct nb_store *s;
	const struct nb_desc *d;
	size_t n;
	bool progress;
};

/* nb_blob_events hook: blob @i is stored; wake the unpacker. */
static void fetcher_done(void *ud, size_t i)
{
	struct fetcher *f = ud;

	pthread_mutex_lock(&f->mu);
	if (i < f->n)
		f->ready[i] = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* nb_blob_events hook: whether the unpacker asked the downloads to stop. */
static bool fetcher_cancelled(void *ud)
{
	struct fetcher *f = ud;
	bool c;

	pthread_mutex_lock(&f->mu);
	c = f->cancel;
	pthread_mutex_unlock(&f->mu);
	return c;
}

/* The download thread: every layer, then @finished and @rc for the unpacker. */
static void *fetcher_main(void *arg)
{
	struct fetcher *f = arg;
	struct nb_blob_events ev = { fetcher_done, fetcher_cancelled, f };
	int r = nb_registry_blobs(f->reg, f->s, f->d, f->n, f->progress, &ev, &f->err);

	pthread_mutex_lock(&f->mu);
	f->rc = r;
	f->finished = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* fetcher_ready() - nb_unpack_wait hook: block until layer @i is stored */
static int fetcher_ready(void *ud, size_t i, struct nb_err *e)
{
	struct fetcher *f = ud;
	int r = 0;

	pthread_mutex_lock(&f->mu);
	while (i < f->n && !f->ready[i] && !f->finished)
		pthread_cond_wait(&f->cv, &f->mu);
	if (i >= f->n || !f->ready[i])
		r = f->rc < 0 ? nb_err_set(e, f->err.code, "%s", f->err.msg)
			      : nb_err_set(e, EIO, "layer %zu was not fetched", i);
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* pull_layers() - fetch the layers and unpack them as they arrive, then record the image */
static int pull_layers(struct nb_registry *reg, struct nb_store *s, json_object *db,
		       const struct nb_desc *d, size_t n, const char *manifest, const char *index,
		       const char *name, const struct nb_platform *plat, bool progress, char *id,
		       size_t idlen, struct nb_err *e)
{
	struct fetcher f = { .reg = reg, .s = s, .d = d, .n = n, .progress = progress };
	struct nb_unpack_wait w = { fetcher_ready, &f };
	pthread_t t;
	int r;

	f.ready = calloc(n ? n : 1, sizeof(*f.ready));
	if (!f.ready)
		return nb_err_set(e, ENOMEM, "out of memory");
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.cv, NULL);
	if (pthread_create(&t, NULL, fetcher_main, &f) != 0) {
		free(f.ready);
		return nb_err_set(e, EAGAIN, "pull: cannot start a download thread");
	}
	r = commit_image(s, db, manifest, index, name, plat, &w, id, idlen, e);
	pthread_mutex_lock(&f.mu);
	f.cancel = r < 0;
	pthread_mutex_unlock(&f.mu);
	pthread_join(t, NULL);
	if (r >= 0 && f.rc < 0)
		r = nb_err_set(e, f.err.code, "%s", f.err.msg);
	pthread_cond_destroy(&f.cv);
	pthread_mutex_destroy(&f.mu);
	free(f.ready);
	return r;
}

/* fetch_manifest() - the manifest (or index) @reference names in @reg: its
 * bytes in @data (malloc'd), their digest, and @m parsed from them.
 * Return: 0 or negative errno */
static int fetch_manifest(struct nb_registry *reg, const char *reference, char **data,
			  size_t *len, char digest[NB_DIGEST_LEN + 1], struct nb_manifest *m,
			  struct nb_err *e)
{
	int r = nb_registry_manifest(reg, reference, data, len, digest, e);

	if (r < 0)
		return r;
	r = nb_manifest_parse(*data, *len, m, e);
	return r < 0 ? nb_err_wrap(e, "manifest %s", digest) : 0;
}

/* nb_image_pull() - see image.h */
int nb_image_pull(const char *refstr, const struct nb_pull_opts *o, char *id, size_t idlen,
		  struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	autofree char *data = NULL;
	struct nb_desc *descs = NULL;
	struct nb_registry *reg = NULL;
	struct nb_platform plat;
	struct nb_manifest m = { 0 };
	struct nb_ref ref;
	char name[700], digest[NB_DIGEST_LEN + 1], index[NB_DIGEST_LEN + 1] = "";
	size_t len;
	int r;

	r = nb_ref_parse(refstr, &ref, e);
	if (r < 0)
		return r;
	nb_ref_name(&ref, name, sizeof(name));
	r = nb_platform_parse(o->platform, &plat, e);
	if (r < 0)
		return r;
	r = open_db(&s, true, &db, e);
	if (r < 0)
		return r;
	r = nb_registry_new(&ref, o, &reg, e);
	if (r < 0)
		return r;
	r = fetch_manifest(reg, ref.digest[0] ? ref.digest : ref.tag, &data, &len, digest, &m, e);
	if (r < 0)
		goto out;
	if (m.kind == NB_DOC_INDEX) {
		const struct nb_desc *d;
		char child[NB_DIGEST_LEN + 1];

		r = nb_index_select(&m, &plat, &d, e);
		if (r < 0)
			goto out;
		r = nb_store_put_blob(&s, data, len, index, e);
		if (r < 0)
			goto out;
		snprintf(child, sizeof(child), "%s", d->digest);
		nb_manifest_free(&m);
		free(data);
		data = NULL;
		r = fetch_manifest(reg, child, &data, &len, digest, &m, e);
		if (r < 0)
			goto out;
		if (m.kind != NB_DOC_MANIFEST) {
			r = nb_err_set(e, EINVAL, "manifest %s: an index inside an index", digest);
			goto out;
		}
	}
	r = nb_store_put_blob(&s, data, len, digest, e);
	if (r < 0)
		goto out;
	descs = calloc(m.n_layers + 1, sizeof(*descs));
	if (!descs) {
		r = nb_err_set(e, ENOMEM, "out of memory");
		goto out;
	}
	descs[0] = m.config;
	if (descs[0].size > (int64_t)NB_OCI_MAX_DOC) {
		r = nb_err_set(e, EFBIG, "config %s: too large", m.config.digest);
		goto out;
	}
	memcpy(descs + 1, m.layers, m.n_layers * sizeof(*descs));
	/* the config first (it names the diff_ids), then layers download in a
	 * thread while this one unpacks each as soon as it is stored */
	r = nb_registry_blobs(reg, &s, descs, 1, false, NULL, e);
	if (r < 0)
		goto out;
	r = pull_layers(reg, &s, db, descs + 1, m.n_layers, digest, index[0] ? index : NULL, name,
			&plat, o->progress, id, idlen, e);
	if (r < 0)
		goto out;
	r = nb_store_save_db(&s, db, e);
out:
	free(descs);
	nb_manifest_free(&m);
	nb_registry_free(reg);
	if (r < 0) {
		/* what this pull stored and no image uses goes (partials stay) */
		nb_store_gc(&s, db, false, NULL, NULL);
		return nb_err_wrap(e, "pull %s", name);
	}
	return 0;
}

/* found_name() - the store name of an image found in a layout or archive */
static void found_name(const char *found, const char *source, const char *tag, char *out,
		       size_t len)
{
	struct nb_ref r;
	char base[256], src[PATH_MAX];
	char *dot;

	/* a full reference ("repo:tag", "host/repo") is used as it is */
	if (found && found[0] && (strchr(found, '/') || strchr(found, ':')) &&
	    nb_ref_parse(found, &r, NULL) == 0) {
		nb_ref_name(&r, out, len);
		return;
	}
	snprintf(src, sizeof(src), "%s", source);
	while (strlen(src) > 1 && src[strlen(src) - 1] == '/')
		src[strlen(src) - 1] = '\0';
	snprintf(base, sizeof(base), "%s", basename(src));
	dot = strchr(base, '.');
	if (dot && dot != base)
		*dot = '\0';
	for (char *p = base; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
			   *p == '_' || *p == '.'))
			*p = '-';
	}
	if (!base[0] || base[0] == '-' || base[0] == '.' || base[0] == '_')
		snprintf(base, sizeof(base), "image");
	snprintf(out, len, "localhost/%s:%s", base,
		 tag && tag[0] ? tag : found && found[0] ? found : "latest");
	if (nb_ref_parse(out, &r, NULL) < 0)
		snprintf(out, len, "localhost/%s:latest", base);
}

/* split_oci() - "oci:DIR[:TAG]" into DIR and TAG ("" when none) */
static void split_oci(const char *spec, char *dir, size_t len, char *tag, size_t tlen)
{
	const char *p = strncmp(spec, "oci:", 4) == 0 ? spec + 4 : spec;
	const char *slash = strrchr(p, '/');
	const char *colon = strrchr(slash ? slash : p, ':');

	tag[0] = '\0';
	if (colon && colon[1]) {
		snprintf(dir, len, "%.*s", (int)(colon - p), p);
		snprintf(tag, tlen, "%s", colon + 1);
	} else {
		snprintf(dir, len, "%s", p);
	}
}

/**
 * struct source - where import and load take images from
 * @verb:	"import" or "load", for errors
 * @path:	the layout directory or the archive file
 * @tag:	import: the tag asked for, or NULL
 * @one:	exactly one image must be found (import)
 * @find:	copies the blobs @path holds into the store and says which
 *		images they make (nb_layout_import(), nb_archive_load())
 */
struct source {
	const char *verb;
	const char *path;
	const char *tag;
	bool one;
	int (*find)(struct nb_store *s, const struct source *src, struct nb_found **out,
		    size_t *n, struct nb_err *e);
};

/* layout_find() - struct source's @find for an OCI layout */
static int layout_find(struct nb_store *s, const struct source *src, struct nb_found **out,
		       size_t *n, struct nb_err *e)
{
	return nb_layout_import(s, src->path, src->tag, out, n, e);
}

/* archive_find() - struct source's @find for a docker- or oci-archive */
static int archive_find(struct nb_store *s, const struct source *src, struct nb_found **out,
			size_t *n, struct nb_err *e)
{
	return nb_archive_load(s, src->path, out, n, e);
}

/* publish() - save images.json, then collect what it no longer reaches.
 * Return: 0 or negative errno */
static int publish(struct nb_store *s, json_object *db, struct nb_err *e)
{
	int r = nb_store_save_db(s, db, e);

	return r < 0 ? r : nb_store_gc(s, db, false, NULL, e);
}

/* forget() - after a failed commit: drop what this writer stored that the
 * saved images.json does not reach (blobs, trees) */
static void forget(struct nb_store *s)
{
	autojson json_object *db = NULL;

	if (nb_store_load_db(s, &db, NULL) == 0)
		nb_store_gc(s, db, false, NULL, NULL);
}

/**
 * store_images() - what import and load share: with the writer lock, store
 * what @src holds, commit each image it makes under its name, save
 * images.json, and collect what none of them uses (the source's other files)
 * @names:	output: NULL-terminated, malloc'd names committed (nb_strv_free())
 * @id, @idlen:	output: the last image's ID (may be NULL)
 *
 * Return: 0 or negative errno; on failure nothing new stays in the store
 */
static int store_images(const struct source *src, char ***names, char *id, size_t idlen,
			struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	autofree struct nb_found *f = NULL;
	char **out = NULL;
	struct nb_platform plat;
	size_t n = 0;
	int r;

	*names = NULL;
	nb_platform_parse(NULL, &plat, NULL);
	r = open_db(&s, true, &db, e);
	if (r < 0)
		return r;
	r = src->find(&s, src, &f, &n, e);
	if (r < 0) {
		forget(&s);
		return nb_err_wrap(e, "%s", src->verb);
	}
	if (src->one && n > 1) {
		forget(&s);
		return nb_err_set(e, EINVAL, "%s %s: %zu images in the layout; name one with "
				  "oci:DIR:TAG", src->verb, src->path, n);
	}
	out = calloc(n + 1, sizeof(*out));
	if (!out) {
		forget(&s);
		return nb_err_set(e, ENOMEM, "%s: out of memory", src->verb);
	}
	for (size_t i = 0; i < n; i++) {
		char nm[700], cid[NB_DIGEST_LEN + 1];

		found_name(f[i].name, src->path, src->tag, nm, sizeof(nm));
		r = commit_image(&s, db, f[i].manifest, NULL, nm, &plat, NULL, cid, sizeof(cid), e);
		if (r == 0 && !(out[i] = strdup(nm)))
			r = nb_err_set(e, ENOMEM, "out of memory");
		if (r < 0) {
			nb_strv_free(out);
			forget(&s);
			return nb_err_wrap(e, "%s %s", src->verb, src->path);
		}
		if (id)
			snprintf(id, idlen, "%s", cid);
	}
	r = publish(&s, db, e);
	if (r < 0) {
		nb_strv_free(out);
		return r;
	}
	*names = out;
	return 0;
}

/* nb_image_import() - see image.h */
int nb_image_import(const char *spec, char *id, size_t idlen, char *name, size_t namelen,
		    struct nb_err *e)
{
	char dir[PATH_MAX], tag[256];
	struct source src = { .verb = "import", .path = dir, .one = true, .find = layout_find };
	char **names = NULL;
	int r;

	split_oci(spec, dir, sizeof(dir), tag, sizeof(tag));
	src.tag = tag[0] ? tag : NULL;
	r = store_images(&src, &names, id, idlen, e);
	if (r < 0)
		return r;
	if (name)
		snprintf(name, namelen, "%s", names[0] ? names[0] : "");
	nb_strv_free(names);
	return 0;
}

/* nb_image_load() - see image.h */
int nb_image_load(const char *file, char ***names, struct nb_err *e)
{
	const struct source src = { .verb = "load", .path = file, .find = archive_find };

	return store_images(&src, names, NULL, 0, e);
}

/* nb_image_list() - see image.h */
int nb_image_list(json_object **out, struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	json_object *arr, *res;
	int r = open_db(&s, false, &db, e);

	if (r < 0)
		return r;
	arr = images_of(db);
	res = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *img = json_object_array_get_idx(arr, i), *o = json_object_new_object();
		json_object *v;

		json_object_object_add(o, "Id", json_object_new_string(jstr(img, "id") + 7));
		json_object_object_get_ex(img, "names", &v);
		json_object_object_add(o, "Names", json_object_get(v));
		json_object_object_add(o, "Digest", json_object_new_string(jstr(img, "digest")));
		json_object_object_get_ex(img, "size", &v);
		json_object_object_add(o, "Size", json_object_new_int64(json_object_get_int64(v)));
		json_object_object_add(o, "Created", json_object_new_string(jstr(img, "created")));
		json_object_array_add(res, o);
	}
	*out = res;
	return 0;
}

/* Open the store (shared), load its list, find @ref and read the image's
 * config blob: the first steps of every read-only look at one image. A
 * config that cannot be read is reported as image @label's.
 * Return: 0 with *img pointing into *db, or negative errno */
static int lookup_image(struct nb_store *s, json_object **db, const char *ref, const char *label,
			json_object **img, char **cdata, size_t *clen, struct nb_err *e)
{
	char name[700];
	int r = open_db(s, false, db, e);

	if (r < 0)
		return r;
	r = find(*db, ref, name, sizeof(name), e);
	if (r < 0)
		return r;
	*img = json_object_array_get_idx(images_of(*db), (size_t)r);
	r = nb_store_read_blob(s, jstr(*img, "id"), NB_OCI_MAX_DOC, cdata, clen, e);
	return r < 0 ? nb_err_wrap(e, "image '%s'", label) : 0;
}

/* nb_image_inspect() - see image.h */
int nb_image_inspect(const char *ref, json_object **out, struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	autofree char *cdata = NULL;
	json_object *img, *o, *cfg, *v;
	char path[PATH_MAX];
	size_t clen;
	int r = lookup_image(&s, &db, ref, ref, &img, &cdata, &clen, e);

	if (r < 0)
		return r;
	cfg = json_tokener_parse(cdata);
	o = json_object_new_object();
	json_object_object_add(o, "Id", json_object_new_string(jstr(img, "id") + 7));
	json_object_object_add(o, "Digest", json_object_new_string(jstr(img, "digest")));
	json_object_object_get_ex(img, "names", &v);
	json_object_object_add(o, "RepoTags", json_object_get(v));
	json_object_object_add(o, "Created", json_object_new_string(jstr(img, "created")));
	json_object_object_add(o, "Os", json_object_new_string(jstr(img, "os")));
	json_object_object_add(o, "Architecture", json_object_new_string(jstr(img, "architecture")));
	json_object_object_get_ex(img, "size", &v);
	json_object_object_add(o, "Size", json_object_new_int64(json_object_get_int64(v)));
	json_object_object_get_ex(img, "layers", &v);
	json_object_object_add(o, "Layers", json_object_get(v));
	nb_store_rootfs_path(&s, jstr(img, "rootfs"), path, sizeof(path));
	json_object_object_add(o, "RootFS", json_object_new_string(path));
	if (cfg && json_object_object_get_ex(cfg, "config", &v))
		json_object_object_add(o, "Config", json_object_get(v));
	else
		json_object_object_add(o, "Config", json_object_new_object());
	if (cfg)
		json_object_put(cfg);
	*out = o;
	return 0;
}

/* nb_image_remove() - see image.h */
int nb_image_remove(const char *ref, bool force, json_object **out, struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	json_object *img, *names, *lines;
	char name[700];
	int r = open_db(&s, true, &db, e), idx;

	if (r < 0)
		return r;
	idx = find(db, ref, name, sizeof(name), e);
	if (idx < 0)
		return idx;
	img = json_object_array_get_idx(images_of(db), (size_t)idx);
	names = json_object_object_get(img, "names");
	lines = json_object_new_array();
	if (name[0] && json_object_array_length(names) > 1) {
		char line[800];

		json_object_array_del_idx(names, (size_t)has_name(img, name), 1);
		snprintf(line, sizeof(line), "Untagged: %s", name);
		json_object_array_add(lines, json_object_new_string(line));
	} else {
		char line[800];

		if (!force && nb_store_leased(&s, jstr(img, "rootfs"))) {
			json_object_put(lines);
			return nb_err_set(e, EBUSY, "image '%s' is in use by a running VM; use -f to "
					  "remove it anyway", ref);
		}
		for (size_t i = 0; i < json_object_array_length(names); i++) {
			snprintf(line, sizeof(line), "Untagged: %s",
				 json_object_get_string(json_object_array_get_idx(names, i)));
			json_object_array_add(lines, json_object_new_string(line));
		}
		snprintf(line, sizeof(line), "Deleted: %s", jstr(img, "id") + 7);
		json_object_array_add(lines, json_object_new_string(line));
		json_object_array_del_idx(images_of(db), (size_t)idx, 1);
	}
	r = publish(&s, db, e);
	if (r < 0) {
		json_object_put(lines);
		return r;
	}
	*out = lines;
	return 0;
}

/* nb_image_prune() - see image.h */
int nb_image_prune(uint64_t *freed, struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	int r = open_db(&s, true, &db, e);

	if (r < 0)
		return r;
	*freed = 0;
	return nb_store_gc(&s, db, true, freed, e);
}

/* The leases this process holds, by rootfs path: nb_image_release_rootfs()
 * gets only the path, so the table is process-wide (and locked). */
#define MAX_LEASES 32
static struct {
	char rootfs[PATH_MAX];
	char lease[PATH_MAX];
	int fd;
} leases[MAX_LEASES];
static pthread_mutex_t leases_lock = PTHREAD_MUTEX_INITIALIZER;

/* json_strv() - borrow the strings of a JSON array into @v (their storage
 * stays the array's); @v has room for all of them */
static void json_strv(json_object *arr, char **v)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		v[i] = (char *)json_object_get_string(json_object_array_get_idx(arr, i));
}

/* reverify() - rebuild the tree of image @id, stored by a nestbox that did not
 * hash layers, from its stored blobs (each stream checked against its
 * diff_id). Return: 0 or negative errno */
static int reverify(const char *id, const char *label, struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	char *vec[2 * NB_OCI_MAX_LAYERS] = { 0 }; /* layers, then diff_ids */
	json_object *img = NULL, *arr, *jl, *jd;
	size_t nl, nd;
	char top[65];
	int r = open_db(&s, true, &db, e);

	if (r < 0)
		return r;
	arr = images_of(db);
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (strcmp(jstr(json_object_array_get_idx(arr, i), "id"), id) == 0)
			img = json_object_array_get_idx(arr, i);
	if (!img)
		return nb_err_set(e, ENOENT, "image '%s' was removed meanwhile", label);
	if (nb_store_verified(&s, jstr(img, "rootfs")))
		return 0; /* another nestbox did it while we waited for the lock */
	nb_info("image '%s': checking its layers (stored before they were verified)", label);
	jl = json_object_object_get(img, "layers");
	jd = json_object_object_get(img, "diff_ids");
	nl = json_object_array_length(jl);
	nd = json_object_array_length(jd);
	if (nl != nd || nl > NB_OCI_MAX_LAYERS)
		return nb_err_set(e, EINVAL, "image '%s': damaged record (%zu layers, %zu diff_ids)",
				  label, nl, nd);
	json_strv(jl, vec);
	json_strv(jd, vec + nl);
	for (size_t i = 0; i < 2 * nl; i++)
		if (!vec[i] || !nb_digest_valid(vec[i]))
			return nb_err_set(e, EINVAL, "image '%s': damaged record", label);
	r = nb_store_unpack(&s, vec, vec + nl, nl, top, NULL, e);
	if (r < 0)
		return nb_err_wrap(e, "image '%s'", label);
	if (strcmp(top, jstr(img, "rootfs")) != 0)
		return nb_err_set(e, EINVAL, "image '%s': damaged record (rootfs %.12s is not its "
				  "chain %.12s)", label, jstr(img, "rootfs"), top);
	return 0;
}

/* nb_image_open_rootfs() - see image.h */
int nb_image_open_rootfs(const char *ref, char *rootfs, size_t rootfs_len,
			 struct nb_image_config **cfg, struct nb_err *e)
{
	autostore struct nb_store s = { .dfd = -1, .lockfd = -1 };
	autojson json_object *db = NULL;
	autofree char *cdata = NULL;
	char id[NB_DIGEST_LEN + 1] = "", lease[PATH_MAX];
	const char *want = ref;
	json_object *img;
	struct nb_config c;
	size_t clen;
	int r, fd = -1, slot = -1;

	if (cfg)
		*cfg = NULL;
	if (strncmp(ref, "oci:", 4) == 0) {
		r = nb_image_import(ref, id, sizeof(id), NULL, 0, e);
		if (r < 0)
			return r;
		want = id;
	}
	r = lookup_image(&s, &db, want, ref, &img, &cdata, &clen, e);
	if (r < 0)
		return r;
	r = nb_config_parse(cdata, clen, &c, e);
	if (r < 0)
		return nb_err_wrap(e, "image '%s'", ref);
	if (!nb_store_verified(&s, jstr(img, "rootfs"))) {
		r = reverify(jstr(img, "id"), ref, e);
		if (r < 0) {
			nb_config_free(&c);
			return r;
		}
	}
	pthread_mutex_lock(&leases_lock);
	for (int i = 0; i < MAX_LEASES && slot < 0; i++)
		if (!leases[i].rootfs[0])
			slot = i;
	if (slot < 0) {
		pthread_mutex_unlock(&leases_lock);
		nb_config_free(&c);
		return nb_err_set(e, EMFILE, "image '%s': too many rootfs leases held", ref);
	}
	r = nb_store_lease(&s, jstr(img, "rootfs"), &fd, lease, sizeof(lease), e);
	if (r < 0) {
		pthread_mutex_unlock(&leases_lock);
		nb_config_free(&c);
		return nb_err_wrap(e, "image '%s'", ref);
	}
	nb_store_rootfs_path(&s, jstr(img, "rootfs"), leases[slot].rootfs, sizeof(leases[slot].rootfs));
	snprintf(leases[slot].lease, sizeof(leases[slot].lease), "%s", lease);
	leases[slot].fd = fd;
	snprintf(rootfs, rootfs_len, "%s", leases[slot].rootfs);
	pthread_mutex_unlock(&leases_lock);
	if (cfg) {
		*cfg = c.run;
		c.run = NULL;
	}
	nb_config_free(&c);
	return 0;
}

/* nb_image_release_rootfs() - see image.h */
void nb_image_release_rootfs(const char *rootfs)
{
	pthread_mutex_lock(&leases_lock);
	for (int i = 0; i < MAX_LEASES; i++) {
		if (!leases[i].rootfs[0] || strcmp(leases[i].rootfs, rootfs) != 0)
			continue;
		unlink(leases[i].lease);
		close(leases[i].fd);
		leases[i].rootfs[0] = '\0';
		break;
	}
	pthread_mutex_unlock(&leases_lock);
}
