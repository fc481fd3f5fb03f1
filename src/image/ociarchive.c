/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ociarchive: OCI layouts, oci-archives and docker-archives.
 *
 * A layout's blobs are copied by the digest their descriptors name (a file is
 * only ever opened as blobs/sha256/<64 hex>), each verified as it is copied.
 * An archive is read once, front to back: every regular entry streams into a
 * store blob (hashed on the way); entries named blobs/sha256/<hex> must match
 * their name; small JSON documents are also kept in memory. Then index.json
 * (OCI) or manifest.json (docker) says which blobs make which image; for a
 * docker-archive an OCI manifest is written for it. */
#include "image/diag.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/oci.h"
#include "image/ociarchive.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

#define MAX_ENTRIES 100000
#define MAX_KEEP (4u << 20)

/* Copy the blob @d of the layout open at @dfd into the store, checked against
 * its digest and size on commit; nothing when the store has it. */
static int copy_blob(struct nb_store *s, int dfd, const struct nb_desc *d, struct nb_err *e)
{
	char rel[128], buf[1 << 16];
	autoclose int fd = -1;
	struct nb_blob_writer w;
	ssize_t n;
	int r;

	if (nb_store_has_blob(s, d->digest, d->size))
		return 0;
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", nb_digest_hex(d->digest));
	fd = openat(dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return nb_err_sys(e, errno, "blob %s", d->digest);
	r = nb_blob_begin(s, &w, NULL, e);
	if (r < 0)
		return r;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (w.size + (uint64_t)n > (uint64_t)d->size) {
			nb_blob_abort(s, &w, false);
			return nb_err_set(e, EBADMSG, "blob %s: size mismatch: more than %lld bytes",
					  d->digest, (long long)d->size);
		}
		r = nb_blob_write(&w, buf, (size_t)n, e);
		if (r < 0) {
			nb_blob_abort(s, &w, false);
			return r;
		}
	}
	if (n < 0) {
		r = nb_err_sys(e, errno, "read blob %s", d->digest);
		nb_blob_abort(s, &w, false);
		return r;
	}
	return nb_blob_commit(s, &w, d->digest, d->size, NULL, e);
}

/* import_manifest() - copy a manifest or index and everything below it */
static int import_manifest(struct nb_store *s, int dfd, const struct nb_desc *d, int depth,
			   struct nb_err *e)
{
	autofree char *data = NULL;
	struct nb_manifest m;
	size_t len;
	int r;

	if (depth > 4)
		return nb_err_set(e, ELOOP, "index %s: nested too deep", d->digest);
	if (d->size > (int64_t)NB_OCI_MAX_DOC)
		return nb_err_set(e, EFBIG, "manifest %s: too large", d->digest);
	r = copy_blob(s, dfd, d, e);
	if (r < 0)
		return r;
	r = nb_store_read_blob(s, d->digest, NB_OCI_MAX_DOC, &data, &len, e);
	if (r < 0)
		return r;
	r = nb_manifest_parse(data, len, &m, e);
	if (r < 0)
		return nb_err_wrap(e, "%s", d->digest);
	if (m.kind == NB_DOC_INDEX) {
		for (size_t i = 0; i < m.n_manifests && r >= 0; i++) {
			/* blobs of other platforms may be absent from a layout: that is fine */
			struct nb_err sub = NB_ERR_INIT;
			int q = import_manifest(s, dfd, &m.manifests[i], depth + 1, &sub);

			if (q < 0)
				nb_debug("index %s: manifest %s skipped: %s", d->digest,
					 m.manifests[i].digest, sub.msg);
		}
	} else {
		r = copy_blob(s, dfd, &m.config, e);
		for (size_t i = 0; i < m.n_layers && r >= 0; i++)
			r = copy_blob(s, dfd, &m.layers[i], e);
	}
	nb_manifest_free(&m);
	return r;
}

/* Append an image found (manifest digest, name or "") to *@out; -ENOMEM. */
static int found_add(struct nb_found **out, size_t *n, const char *digest, const char *name)
{
	struct nb_found *nf = realloc(*out, (*n + 1) * sizeof(**out));

	if (!nf)
		return -ENOMEM;
	*out = nf;
	snprintf(nf[*n].manifest, sizeof(nf[*n].manifest), "%s", digest);
	snprintf(nf[*n].name, sizeof(nf[*n].name), "%s", name ? name : "");
	(*n)++;
	return 0;
}

/* tag_matches() - whether a ref.name annotation ("v1" or "host/repo:v1") carries @tag */
static bool tag_matches(const char *ref_name, const char *tag)
{
	size_t n = strlen(ref_name), t = strlen(tag);
	const char *slash = strrchr(ref_name, '/');

	if (strcmp(ref_name, tag) == 0)
		return true;
	return n > t && ref_name[n - t - 1] == ':' && strcmp(ref_name + n - t, tag) == 0 &&
	       (!slash || slash < ref_name + n - t - 1);
}

/* index_images() - the images an index.json names; a nested index counts as one image */
static int index_images(const char *data, size_t len, const char *tag, const char *what,
			struct nb_found **out, size_t *n, struct nb_err *e)
{
	struct nb_manifest idx;
	int r = nb_manifest_parse(data, len, &idx, e);

	if (r < 0)
		return nb_err_wrap(e, "%s: index.json", what);
	if (idx.kind != NB_DOC_INDEX) {
		nb_manifest_free(&idx);
		return nb_err_set(e, EINVAL, "%s: index.json is not an index", what);
	}
	for (size_t i = 0; i < idx.n_manifests; i++) {
		const struct nb_desc *d = &idx.manifests[i];

		if (tag && !tag_matches(d->ref_name, tag))
			continue;
		if (found_add(out, n, d->digest, d->ref_name) < 0) {
			nb_manifest_free(&idx);
			return nb_err_set(e, ENOMEM, "%s: out of memory", what);
		}
	}
	nb_manifest_free(&idx);
	if (!*n)
		return tag ? nb_err_set(e, ENOENT, "%s: no image tagged '%s'", what, tag)
			   : nb_err_set(e, ENOENT, "%s: no image in index.json", what);
	return 0;
}

/* nb_layout_import() - see ociarchive.h */
int nb_layout_import(struct nb_store *s, const char *dir, const char *tag,
		     struct nb_found **out, size_t *n, struct nb_err *e)
{
	autoclose int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	autoclose int ifd = -1;
	autofree char *data = NULL;
	struct stat st;
	int r;

	*out = NULL;
	*n = 0;
	if (dfd < 0)
		return nb_err_sys(e, errno, "OCI layout %s", dir);
	if (faccessat(dfd, "oci-layout", F_OK, 0) < 0)
		return nb_err_set(e, EINVAL, "OCI layout %s: no oci-layout file", dir);
	ifd = openat(dfd, "index.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ifd < 0 || fstat(ifd, &st) < 0)
		return nb_err_sys(e, errno, "OCI layout %s: index.json", dir);
	if (st.st_size > (off_t)NB_OCI_MAX_DOC)
		return nb_err_set(e, EFBIG, "OCI layout %s: index.json too large", dir);
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		return nb_err_set(e, ENOMEM, "OCI layout %s: out of memory", dir);
	r = nb_read_all(ifd, data, (size_t)st.st_size);
	if (r < 0)
		return nb_err_sys(e, -r, "OCI layout %s: read index.json", dir);
	r = index_images(data, (size_t)st.st_size, tag, dir, out, n, e);
	if (r < 0 && tag && r == -ENOENT && *n == 0) {
		/* a layout with exactly one unnamed image answers to any tag */
		struct nb_err sub = NB_ERR_INIT;

		if (index_images(data, (size_t)st.st_size, NULL, dir, out, n, &sub) == 0 && *n == 1 &&
		    !(*out)[0].name[0]) {
			nb_err_clear(e);
			r = 0;
		} else {
			free(*out);
			*out = NULL;
			*n = 0;
		}
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < *n; i++) {
		struct nb_desc d = { .size = (int64_t)NB_OCI_MAX_DOC };
		struct stat bs;
		char rel[128];

		snprintf(d.digest, sizeof(d.digest), "%s", (*out)[i].manifest);
		snprintf(rel, sizeof(rel), "blobs/sha256/%s", nb_digest_hex(d.digest));
		if (fstatat(dfd, rel, &bs, AT_SYMLINK_NOFOLLOW) == 0)
			d.size = bs.st_size;
		r = import_manifest(s, dfd, &d, 0, e);
		if (r < 0) {
			free(*out);
			*out = NULL;
			*n = 0;
			return nb_err_wrap(e, "OCI layout %s", dir);
		}
	}
	return 0;
}

/* an archive entry: what it was stored as */
struct aentry {
	char *name;	/* its archive path, cleaned (clean_path()) */
	char *alias;	/* link target (archive path) for symlinks and hard links */
	char digest[NB_DIGEST_LEN + 1];	/* the blob its content was stored as */
	int64_t size;	/* its content's size */
	char *keep;	/* content of a small document */
	size_t keep_len; /* bytes in @keep */
};

/* The entries of an archive, in archive order. */
struct aentries {
	struct aentry *v;	/* the entries (malloc'd) */
	size_t n, cap;		/* entries used, entries allocated */
};

/* Free the entries and what each holds. */
static void aentries_free(struct aentries *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].name);
		free(a->v[i].alias);
		free(a->v[i].keep);
	}
	free(a->v);
}

/* clean_path() - archive path without "./" and duplicate slashes; NULL if it has ".." */
static char *clean_path(const char *base, const char *p)
{
	char buf[4096];
	size_t o = 0;
	const char *parts[2] = { base, p };

	for (int k = 0; k < 2; k++) {
		const char *q = parts[k];

		if (!q)
			continue;
		while (*q) {
			const char *end = strchrnul(q, '/');
			size_t n = (size_t)(end - q);

			if (n == 2 && q[0] == '.' && q[1] == '.') {
				/* allowed only to go up within what we have built */
				char *slash = o ? memrchr(buf, '/', o) : NULL;

				if (!o)
					return NULL;
				o = slash ? (size_t)(slash - buf) : 0;
			} else if (n && !(n == 1 && q[0] == '.')) {
				if (o + n + 2 > sizeof(buf))
					return NULL;
				if (o)
					buf[o++] = '/';
				memcpy(buf + o, q, n);
				o += n;
			}
			q = *end ? end + 1 : end;
		}
	}
	buf[o] = '\0';
	return strdup(buf);
}

/* The entry called @name, following links (at most 8 deep); NULL if none or a
 * link goes nowhere. */
static struct aentry *lookup(struct aentries *a, const char *name, int depth)
{
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].name, name) != 0)
			continue;
		if (a->v[i].alias && depth < 8)
			return lookup(a, a->v[i].alias, depth + 1);
		return a->v[i].alias ? NULL : &a->v[i];
	}
	return NULL;
}

/* Whether an entry called @name is a document to keep in memory: index.json,
 * manifest.json, oci-layout, repositories, *.json. */
static bool keep_doc(const char *name)
{
	size_t n = strlen(name);

	return strcmp(name, "index.json") == 0 || strcmp(name, "manifest.json") == 0 ||
	       strcmp(name, "oci-layout") == 0 || (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
	       strcmp(name, "repositories") == 0;
}

/* read_entry() - stream a regular entry into a blob; keep it if it is a small document */
static int read_entry(struct nb_store *s, struct archive *ar, struct aentry *ae,
		      const char *file, struct nb_err *e)
{
	struct nb_blob_writer w;
	const void *buf;
	size_t size;
	la_int64_t off;
	const char *want = NULL;
	char tmp[NB_DIGEST_LEN + 1];
	int r, ar_r;
	bool keep = keep_doc(ae->name);

	if (strncmp(ae->name, "blobs/sha256/", 13) == 0) {
		snprintf(tmp, sizeof(tmp), "sha256:%s", ae->name + 13);
		if (!nb_digest_valid(tmp))
			return nb_err_set(e, EINVAL, "%s: entry '%s' is not a sha256 blob name", file,
					  ae->name);
		want = tmp;
		if (nb_store_has_blob(s, want, -1)) {
			snprintf(ae->digest, sizeof(ae->digest), "%s", want);
			if (!keep)
				return 0;
		}
	}
	r = nb_blob_begin(s, &w, NULL, e);
	if (r < 0)
		return r;
	while ((ar_r = archive_read_data_block(ar, &buf, &size, &off)) == ARCHIVE_OK) {
		if ((uint64_t)off != w.size) {
			/* sparse: fill the hole with zeros so the digest matches */
			static const char zero[4096];

			while (w.size < (uint64_t)off && r >= 0) {
				size_t z = (uint64_t)off - w.size < sizeof(zero) ? (size_t)((uint64_t)off - w.size) : sizeof(zero);

				r = nb_blob_write(&w, zero, z, e);
			}
		}
		if (r >= 0)
			r = nb_blob_write(&w, buf, size, e);
		if (r >= 0 && keep && w.size <= MAX_KEEP) {
			char *nk = realloc(ae->keep, w.size + 1);

			if (!nk) {
				r = nb_err_set(e, ENOMEM, "%s: out of memory", file);
			} else {
				ae->keep = nk;
				memcpy(nk + ae->keep_len, buf, size);
				ae->keep_len += size;
				nk[ae->keep_len] = '\0';
			}
		}
		if (r < 0) {
			nb_blob_abort(s, &w, false);
			return r;
		}
	}
	if (ar_r != ARCHIVE_EOF) {
		nb_blob_abort(s, &w, false);
		return nb_err_set(e, EINVAL, "%s: entry '%s': %s", file, ae->name,
				  archive_error_string(ar));
	}
	ae->size = (int64_t)w.size;
	if (ae->digest[0]) {
		nb_blob_abort(s, &w, false); /* already stored; we only wanted the content */
		return 0;
	}
	r = nb_blob_commit(s, &w, want, -1, ae->digest, e);
	if (r < 0)
		return nb_err_wrap(e, "%s: entry '%s'", file, ae->name);
	return 0;
}

/* docker_images() - write an OCI manifest for each image of a docker-archive */
static int docker_images(struct nb_store *s, struct aentries *a, struct aentry *man,
			 const char *file, struct nb_found **out, size_t *n, struct nb_err *e)
{
	json_object *j = json_tokener_parse(man->keep);
	int r = 0;

	if (!j || !json_object_is_type(j, json_type_array)) {
		if (j)
			json_object_put(j);
		return nb_err_set(e, EINVAL, "%s: manifest.json is not a JSON array", file);
	}
	for (size_t i = 0; i < json_object_array_length(j) && r >= 0; i++) {
		json_object *img = json_object_array_get_idx(j, i), *cfg, *layers, *tags;
		json_object *m = json_object_new_object(), *cd, *ls;
		struct aentry *ce;
		char digest[NB_DIGEST_LEN + 1];
		const char *txt;
		size_t tl;

		if (!json_object_object_get_ex(img, "Config", &cfg) ||
		    !json_object_object_get_ex(img, "Layers", &layers) ||
		    !json_object_is_type(layers, json_type_array) ||
		    !(ce = lookup(a, json_object_get_string(cfg), 0))) {
			json_object_put(m);
			r = nb_err_set(e, EINVAL, "%s: manifest.json entry %zu: missing Config or Layers",
				       file, i);
			break;
		}
		json_object_object_add(m, "schemaVersion", json_object_new_int(2));
		json_object_object_add(m, "mediaType", json_object_new_string(NB_MT_OCI_MANIFEST));
		cd = json_object_new_object();
		json_object_object_add(cd, "mediaType", json_object_new_string(NB_MT_OCI_CONFIG));
		json_object_object_add(cd, "digest", json_object_new_string(ce->digest));
		json_object_object_add(cd, "size", json_object_new_int64(ce->size));
		json_object_object_add(m, "config", cd);
		ls = json_object_new_array();
		json_object_object_add(m, "layers", ls);
		for (size_t k = 0; k < json_object_array_length(layers); k++) {
			const char *ln = json_object_get_string(json_object_array_get_idx(layers, k));
			struct aentry *le = ln ? lookup(a, ln, 0) : NULL;
			json_object *ld;

			if (!le) {
				r = nb_err_set(e, EINVAL, "%s: layer '%s' is not in the archive", file,
					       ln ? ln : "?");
				break;
			}
			ld = json_object_new_object();
			json_object_object_add(ld, "mediaType", json_object_new_string(NB_MT_OCI_LAYER));
			json_object_object_add(ld, "digest", json_object_new_string(le->digest));
			json_object_object_add(ld, "size", json_object_new_int64(le->size));
			json_object_array_add(ls, ld);
		}
		if (r >= 0) {
			txt = json_object_to_json_string_length(m, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE, &tl);
			r = nb_store_put_blob(s, txt, tl, digest, e);
		}
		json_object_put(m);
		if (r < 0)
			break;
		if (json_object_object_get_ex(img, "RepoTags", &tags) &&
		    json_object_is_type(tags, json_type_array) && json_object_array_length(tags)) {
			for (size_t k = 0; k < json_object_array_length(tags) && r >= 0; k++)
				if (found_add(out, n, digest,
					      json_object_get_string(json_object_array_get_idx(tags, k))) < 0)
					r = nb_err_set(e, ENOMEM, "%s: out of memory", file);
		} else if (found_add(out, n, digest, "") < 0) {
			r = nb_err_set(e, ENOMEM, "%s: out of memory", file);
		}
	}
	json_object_put(j);
	return r;
}

/* nb_archive_load() - see ociarchive.h */
int nb_archive_load(struct nb_store *s, const char *file, struct nb_found **out, size_t *n,
		    struct nb_err *e)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *ent;
	struct aentries a = { 0 };
	struct aentry *idx, *man;
	int r = 0, ar_r;

	*out = NULL;
	*n = 0;
	if (!ar)
		return nb_err_set(e, ENOMEM, "load: out of memory");
	archive_read_support_filter_all(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_filename(ar, file, 1 << 20) != ARCHIVE_OK) {
		r = nb_err_set(e, EINVAL, "%s: %s", file, archive_error_string(ar));
		goto out;
	}
	while ((ar_r = archive_read_next_header(ar, &ent)) == ARCHIVE_OK || ar_r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(ent);
		mode_t type = archive_entry_filetype(ent);
		struct aentry *ae;

		if (!name || (type != AE_IFREG && type != AE_IFLNK))
			continue;
		if (a.n == a.cap) {
			size_t nc = a.cap ? a.cap * 2 : 64;
			struct aentry *nv;

			if (nc > MAX_ENTRIES) {
				r = nb_err_set(e, E2BIG, "%s: more than %d files", file, MAX_ENTRIES);
				goto out;
			}
			nv = realloc(a.v, nc * sizeof(*nv));
			if (!nv) {
				r = nb_err_set(e, ENOMEM, "%s: out of memory", file);
				goto out;
			}
			a.v = nv;
			a.cap = nc;
		}
		ae = &a.v[a.n];
		memset(ae, 0, sizeof(*ae));
		ae->name = clean_path(NULL, name);
		if (!ae->name) {
			r = nb_err_set(e, EINVAL, "%s: entry '%s': bad path", file, name);
			goto out;
		}
		a.n++;
		if (archive_entry_hardlink(ent)) {
			ae->alias = clean_path(NULL, archive_entry_hardlink(ent));
		} else if (type == AE_IFLNK) {
			char dir[4096];
			const char *slash = strrchr(ae->name, '/');

			snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - ae->name) : 0, ae->name);
			ae->alias = archive_entry_symlink(ent) && archive_entry_symlink(ent)[0] != '/'
					    ? clean_path(dir, archive_entry_symlink(ent)) : NULL;
			if (!ae->alias) {
				free(ae->name);
				a.n--;
				continue;
			}
		} else {
			r = read_entry(s, ar, ae, file, e);
			if (r < 0)
				goto out;
		}
	}
	if (ar_r != ARCHIVE_EOF) {
		r = nb_err_set(e, EINVAL, "%s: %s", file, archive_error_string(ar));
		goto out;
	}
	idx = lookup(&a, "index.json", 0);
	man = lookup(&a, "manifest.json", 0);
	if (idx && idx->keep && lookup(&a, "oci-layout", 0)) {
		r = index_images(idx->keep, idx->keep_len, NULL, file, out, n, e);
		for (size_t i = 0; r >= 0 && i < *n; i++)
			if (!nb_store_has_blob(s, (*out)[i].manifest, -1))
				r = nb_err_set(e, ENOENT, "%s: manifest %s is not in the archive", file,
					       (*out)[i].manifest);
	} else if (man && man->keep) {
		r = docker_images(s, &a, man, file, out, n, e);
	} else {
		r = nb_err_set(e, EINVAL, "%s: neither an oci-archive (index.json, oci-layout) nor a "
			       "docker-archive (manifest.json)", file);
	}
out:
	if (r < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	aentries_free(&a);
	archive_read_free(ar);
	return r;
}
