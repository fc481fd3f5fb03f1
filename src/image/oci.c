/* SPDX-License-Identifier: GPL-2.0-or-later */
/* oci: JSON decoding of manifests, indexes and configs with json-c.
 * Every field is type-checked; unknown fields are ignored as the spec asks. */
#include "image/diag.h"
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "image/oci.h"
#include "lib/cleanup.h"

/* autojson's cleanup: drop the reference *j holds, if any. */
static void json_putp(json_object **j)
{
	if (*j)
		json_object_put(*j);
}
#define autojson __attribute__((cleanup(json_putp)))

/* Parse a whole document (at most NB_OCI_MAX_DOC bytes, nothing but whitespace
 * after it) that must be a JSON object; NULL with @e naming @what otherwise. */
static json_object *parse_doc(const char *data, size_t len, const char *what, struct nb_err *e)
{
	json_tokener *tok;
	json_object *j;

	if (len > NB_OCI_MAX_DOC) {
		nb_err_set(e, EFBIG, "%s: larger than %u bytes", what, NB_OCI_MAX_DOC);
		return NULL;
	}
	tok = json_tokener_new_ex(64);
	if (!tok) {
		nb_err_set(e, ENOMEM, "%s: out of memory", what);
		return NULL;
	}
	j = json_tokener_parse_ex(tok, data, (int)len);
	if (!j || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		/* trailing whitespace is fine; anything else is not */
		size_t end = json_tokener_get_parse_end(tok);
		int bad = !j || json_tokener_get_error(tok) != json_tokener_success;

		for (size_t i = end; !bad && i < len; i++)
			if (data[i] != ' ' && data[i] != '\n' && data[i] != '\r' && data[i] != '\t')
				bad = 1;
		if (bad) {
			json_tokener_free(tok);
			if (j)
				json_object_put(j);
			nb_err_set(e, EINVAL, "%s: not valid JSON", what);
			return NULL;
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		nb_err_set(e, EINVAL, "%s: not a JSON object", what);
		return NULL;
	}
	return j;
}

/* @o's string member @key, or NULL when absent or not a string (@o may be
 * NULL). */
static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* @o's member @key when it has JSON type @t, else NULL (@o may be NULL). */
static json_object *get_type(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/* Copy @src (NULL: "") into @dst, truncated to fit. */
static void copy_str(char *dst, size_t len, const char *src)
{
	size_t n = src ? strnlen(src, len - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* One descriptor: a sha256 digest and a size are required; media type, platform
 * and name annotation are kept when present. */
static int parse_desc(json_object *o, struct nb_desc *d, const char *what, struct nb_err *e)
{
	json_object *size, *plat, *ann;
	const char *dg;

	memset(d, 0, sizeof(*d));
	if (!json_object_is_type(o, json_type_object))
		return nb_err_set(e, EINVAL, "%s: descriptor is not an object", what);
	dg = get_str(o, "digest");
	if (!dg || !nb_digest_valid(dg))
		return nb_err_set(e, EINVAL, "%s: descriptor without a valid sha256 digest", what);
	snprintf(d->digest, sizeof(d->digest), "%s", dg);
	size = get_type(o, "size", json_type_int);
	if (!size || json_object_get_int64(size) < 0)
		return nb_err_set(e, EINVAL, "%s: descriptor %s without a valid size", what, dg);
	d->size = json_object_get_int64(size);
	copy_str(d->media_type, sizeof(d->media_type), get_str(o, "mediaType"));
	plat = get_type(o, "platform", json_type_object);
	copy_str(d->os, sizeof(d->os), get_str(plat, "os"));
	copy_str(d->arch, sizeof(d->arch), get_str(plat, "architecture"));
	copy_str(d->variant, sizeof(d->variant), get_str(plat, "variant"));
	ann = get_type(o, "annotations", json_type_object);
	/* docker save (25+) names images fully in containerd's annotation */
	if (get_str(ann, "io.containerd.image.name"))
		copy_str(d->ref_name, sizeof(d->ref_name), get_str(ann, "io.containerd.image.name"));
	else
		copy_str(d->ref_name, sizeof(d->ref_name),
			 get_str(ann, "org.opencontainers.image.ref.name"));
	return 0;
}

/* The descriptor array @arr into a calloc'd *@out of *@n entries, refusing more
 * than @cap. */
static int parse_descs(json_object *arr, size_t cap, struct nb_desc **out, size_t *n,
		       const char *what, struct nb_err *e)
{
	size_t len = json_object_array_length(arr);

	if (len > cap)
		return nb_err_set(e, E2BIG, "%s: %zu entries, more than %zu", what, len, cap);
	*out = calloc(len ? len : 1, sizeof(**out));
	if (!*out)
		return nb_err_set(e, ENOMEM, "%s: out of memory", what);
	for (size_t i = 0; i < len; i++) {
		int r = parse_desc(json_object_array_get_idx(arr, i), &(*out)[i], what, e);

		if (r < 0)
			return r;
	}
	*n = len;
	return 0;
}

/* nb_manifest_parse() - see oci.h */
int nb_manifest_parse(const char *data, size_t len, struct nb_manifest *m, struct nb_err *e)
{
	autojson json_object *j = NULL;
	json_object *sv, *arr, *cfg;
	const char *mt;

	memset(m, 0, sizeof(*m));
	j = parse_doc(data, len, "manifest", e);
	if (!j)
		return -e->code;
	sv = get_type(j, "schemaVersion", json_type_int);
	if (!sv || json_object_get_int(sv) != 2)
		return nb_err_set(e, EINVAL, "manifest: schemaVersion is not 2 (schema 1 is not supported)");
	mt = get_str(j, "mediaType");
	arr = get_type(j, "manifests", json_type_array);
	if (arr || (mt && (strcmp(mt, NB_MT_OCI_INDEX) == 0 || strcmp(mt, NB_MT_DOCKER_LIST) == 0))) {
		if (!arr)
			return nb_err_set(e, EINVAL, "index: no manifests array");
		m->kind = NB_DOC_INDEX;
		return parse_descs(arr, NB_OCI_MAX_MANIFESTS, &m->manifests, &m->n_manifests,
				   "index", e);
	}
	m->kind = NB_DOC_MANIFEST;
	cfg = get_type(j, "config", json_type_object);
	if (!cfg)
		return nb_err_set(e, EINVAL, "manifest: no config descriptor");
	if (parse_desc(cfg, &m->config, "manifest config", e) < 0)
		return -e->code;
	arr = get_type(j, "layers", json_type_array);
	if (!arr)
		return nb_err_set(e, EINVAL, "manifest: no layers array");
	return parse_descs(arr, NB_OCI_MAX_LAYERS, &m->layers, &m->n_layers, "manifest layers", e);
}

/* nb_manifest_free() - see oci.h */
void nb_manifest_free(struct nb_manifest *m)
{
	free(m->layers);
	free(m->manifests);
	m->layers = m->manifests = NULL;
	m->n_layers = m->n_manifests = 0;
}

/* nb_platform_parse() - see oci.h */
int nb_platform_parse(const char *s, struct nb_platform *p, struct nb_err *e)
{
	char buf[96];
	char *a, *v;

	memset(p, 0, sizeof(*p));
	if (!s) {
		struct utsname u;

		snprintf(p->os, sizeof(p->os), "%s", "linux");
		uname(&u);
		if (strcmp(u.machine, "x86_64") == 0)
			snprintf(p->arch, sizeof(p->arch), "%s", "amd64");
		else if (strcmp(u.machine, "aarch64") == 0)
			snprintf(p->arch, sizeof(p->arch), "%s", "arm64");
		else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
			snprintf(p->arch, sizeof(p->arch), "%s", "386");
		else
			copy_str(p->arch, sizeof(p->arch), u.machine);
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		return nb_err_set(e, EINVAL, "platform '%.40s...': too long", s);
	snprintf(buf, sizeof(buf), "%s", s);
	a = strchr(buf, '/');
	if (!a || a == buf || !a[1])
		return nb_err_set(e, EINVAL, "platform '%s': expected OS/ARCH[/VARIANT]", s);
	*a++ = '\0';
	v = strchr(a, '/');
	if (v) {
		*v++ = '\0';
		if (!*v || strchr(v, '/'))
			return nb_err_set(e, EINVAL, "platform '%s': expected OS/ARCH[/VARIANT]", s);
	}
	if (strlen(buf) >= sizeof(p->os) || strlen(a) >= sizeof(p->arch) ||
	    (v && strlen(v) >= sizeof(p->variant)))
		return nb_err_set(e, EINVAL, "platform '%s': too long", s);
	snprintf(p->os, sizeof(p->os), "%s", buf);
	snprintf(p->arch, sizeof(p->arch), "%s", a);
	if (v)
		snprintf(p->variant, sizeof(p->variant), "%s", v);
	return 0;
}

/* nb_index_select() - see oci.h */
int nb_index_select(const struct nb_manifest *idx, const struct nb_platform *p,
		    const struct nb_desc **out, struct nb_err *e)
{
	char have[512] = "";
	size_t used = 0;

	*out = NULL;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct nb_desc *d = &idx->manifests[i];

		if (strcmp(d->os, p->os) != 0 || strcmp(d->arch, p->arch) != 0)
			continue;
		if (p->variant[0] && strcmp(d->variant, p->variant) != 0)
			continue;
		/* without a wanted variant, an exact "" (or arm64's v8) beats others */
		if (!*out || (!p->variant[0] && (!d->variant[0] || strcmp(d->variant, "v8") == 0)))
			*out = d;
	}
	if (*out)
		return 0;
	for (size_t i = 0; i < idx->n_manifests && used < sizeof(have) - 1; i++) {
		const struct nb_desc *d = &idx->manifests[i];
		int n = snprintf(have + used, sizeof(have) - used, "%s%s/%s%s%s", i ? ", " : "",
				 d->os[0] ? d->os : "?", d->arch[0] ? d->arch : "?",
				 d->variant[0] ? "/" : "", d->variant);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (used >= sizeof(have))
		used = sizeof(have) - 1;
	have[used] = '\0';
	return nb_err_set(e, ENOENT, "no manifest for %s/%s%s%s in the index (it has: %s)", p->os,
			  p->arch, p->variant[0] ? "/" : "", p->variant, have[0] ? have : "nothing");
}

/* strv_from_json() - a NULL-terminated copy of a JSON string array (NULL if absent) */
static int strv_from_json(json_object *arr, char ***out)
{
	size_t n;
	char **v;

	*out = NULL;
	if (!arr || !json_object_is_type(arr, json_type_array))
		return 0;
	n = json_object_array_length(arr);
	if (n > 4096)
		return -E2BIG;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(s, json_type_string) ||
		    !(v[i] = strdup(json_object_get_string(s)))) {
			nb_strv_free(v);
			return -EINVAL;
		}
	}
	*out = v;
	return 0;
}


/* nb_config_parse() - see oci.h */
int nb_config_parse(const char *data, size_t len, struct nb_config *c, struct nb_err *e)
{
	autojson json_object *j = NULL;
	json_object *rootfs, *ids, *cfg;
	const char *s;
	struct nb_image_config *r;

	memset(c, 0, sizeof(*c));
	j = parse_doc(data, len, "image config", e);
	if (!j)
		return -e->code;
	copy_str(c->os, sizeof(c->os), get_str(j, "os"));
	copy_str(c->arch, sizeof(c->arch), get_str(j, "architecture"));
	copy_str(c->created, sizeof(c->created), get_str(j, "created"));
	rootfs = get_type(j, "rootfs", json_type_object);
	ids = get_type(rootfs, "diff_ids", json_type_array);
	if (!ids)
		return nb_err_set(e, EINVAL, "image config: no rootfs.diff_ids");
	if (json_object_array_length(ids) > NB_OCI_MAX_LAYERS)
		return nb_err_set(e, E2BIG, "image config: more than %d layers", NB_OCI_MAX_LAYERS);
	if (strv_from_json(ids, &c->diff_ids) < 0)
		return nb_err_set(e, EINVAL, "image config: rootfs.diff_ids is not a string array");
	for (char **p = c->diff_ids; p && *p; p++, c->n_diff_ids++)
		if (!nb_digest_valid(*p)) {
			int q = nb_err_set(e, EINVAL, "image config: diff_id '%.80s' is not a sha256 digest", *p);

			nb_config_free(c);
			return q;
		}
	r = calloc(1, sizeof(*r));
	if (!r) {
		nb_config_free(c);
		return nb_err_set(e, ENOMEM, "image config: out of memory");
	}
	c->run = r;
	cfg = get_type(j, "config", json_type_object);
	if (strv_from_json(get_type(cfg, "Entrypoint", json_type_array), &r->entrypoint) < 0 ||
	    strv_from_json(get_type(cfg, "Cmd", json_type_array), &r->cmd) < 0 ||
	    strv_from_json(get_type(cfg, "Env", json_type_array), &r->env) < 0) {
		nb_config_free(c);
		return nb_err_set(e, EINVAL, "image config: Entrypoint, Cmd or Env is not a string array");
	}
	s = get_str(cfg, "WorkingDir");
	if (s && *s)
		r->workdir = strdup(s);
	s = get_str(cfg, "User");
	if (s && *s)
		r->user = strdup(s);
	return 0;
}

/* nb_image_config_free() - see image.h */
void nb_image_config_free(struct nb_image_config *cfg)
{
	if (!cfg)
		return;
	nb_strv_free(cfg->entrypoint);
	nb_strv_free(cfg->cmd);
	nb_strv_free(cfg->env);
	free(cfg->workdir);
	free(cfg->user);
	free(cfg);
}

/* nb_config_free() - see oci.h */
void nb_config_free(struct nb_config *c)
{
	nb_strv_free(c->diff_ids);
	nb_image_config_free(c->run);
	c->diff_ids = NULL;
	c->run = NULL;
	c->n_diff_ids = 0;
}

/* nb_chain_ids() - see oci.h */
void nb_chain_ids(char *const *diff_ids, size_t n, char (*out)[NB_DIGEST_LEN + 1])
{
	for (size_t i = 0; i < n; i++) {
		char buf[2 * NB_DIGEST_LEN + 2];

		if (i == 0) {
			snprintf(out[0], NB_DIGEST_LEN + 1, "%s", diff_ids[0]);
			continue;
		}
		snprintf(buf, sizeof(buf), "%s %s", out[i - 1], diff_ids[i]);
		nb_sha256_buf(buf, strlen(buf), out[i]);
	}
}
