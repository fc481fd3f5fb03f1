/* SPDX-License-Identifier: GPL-2.0-or-later */
/* registry: distribution API client.
 *
 * Theory of operation: the first request (GET /v2/) finds the scheme (https;
 * plain http only for an insecure host, after https failed to handshake) and
 * the auth challenge. A Bearer challenge is answered by asking its realm for a
 * token (with basic credentials when we have some), a Basic one with the
 * credentials themselves; either is then sent on every request. Blobs run as
 * one curl multi transfer each, up to NB_PARALLEL at a time, each streaming
 * into a store blob writer that hashes as it writes; a transfer that fails
 * transiently is retried with a Range request from where it stopped. */
#include "image/diag.h"
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/registry.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define NB_PARALLEL 6
#define NB_RETRIES 5
#define NB_MAX_ERRBODY 4096

/* A client of one registry, for one repository. */
struct nb_registry {
	struct nb_ref ref;	/* the image reference: domain and repository path */
	const char *host;	/* the host to talk to (docker.io's is registry-1.docker.io) */
	char scheme[8];		/* "https", or "http" once an insecure registry refused TLS */
	bool verify;		/* check the TLS certificate */
	bool insecure;		/* --tls-verify=false or registries.conf: no checks, http allowed */
	char user[256];		/* credentials: --creds or an auth.json */
	char pass[256];		/* (wiped when freed) */
	bool have_creds;	/* @user and @pass are set */
	char *auth_header;	/* "Authorization: Bearer ..." or NULL */
	bool use_basic;		/* send @user and @pass as HTTP basic auth */
};

/* A response body collected in memory, at most @max bytes. */
struct buf {
	char *data;		/* the bytes, NUL-terminated (malloc'd) */
	size_t len, cap;	/* bytes in @data, bytes allocated */
	size_t max;		/* more than this fails the transfer */
};

/* libcurl's write callback for a struct buf: append, failing past its @max. */
static size_t buf_write(char *p, size_t sz, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t len = sz * n;

	if (b->len + len > b->max)
		return 0;
	if (b->len + len + 1 > b->cap) {
		size_t nc = (b->len + len + 1) * 2;
		char *nd;

		if (nc > b->max + 1)
			nc = b->max + 1;
		nd = realloc(b->data, nc);
		if (!nd)
			return 0;
		b->data = nd;
		b->cap = nc;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

/* headers we keep from a response */
struct hdrs {
	char www_auth[1024]; /* WWW-Authenticate, "" if none */
};

/* libcurl's header callback: keep the WWW-Authenticate header in a struct hdrs. */
static size_t hdr_cb(char *p, size_t sz, size_t n, void *ud)
{
	struct hdrs *h = ud;
	size_t len = sz * n;

	if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
		size_t off = 17;

		while (off < len && (p[off] == ' ' || p[off] == '\t'))
			off++;
		size_t m = len - off;

		while (m && (p[off + m - 1] == '\r' || p[off + m - 1] == '\n'))
			m--;
		if (m >= sizeof(h->www_auth))
			m = sizeof(h->www_auth) - 1;
		memcpy(h->www_auth, p + off, m);
		h->www_auth[m] = '\0';
	}
	return len;
}

/* nb_challenge_parse() - see registry.h */
int nb_challenge_parse(const char *h, struct nb_challenge *c)
{
	const char *p = h;
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	while (*p && !isspace((unsigned char)*p)) {
		if (n + 1 >= sizeof(c->scheme))
			return -EINVAL;
		c->scheme[n++] = *p++;
	}
	c->scheme[n] = '\0';
	if (!n)
		return -EINVAL;
	while (*p) {
		char key[32], val[512];
		size_t k = 0, v = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		while (*p && *p != '=' && *p != ',' && k + 1 < sizeof(key))
			key[k++] = (char)tolower((unsigned char)*p++);
		key[k] = '\0';
		if (*p != '=')
			return -EINVAL;
		p++;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				if (v + 1 >= sizeof(val))
					return -EINVAL;
				val[v++] = *p++;
			}
			if (*p != '"')
				return -EINVAL;
			p++;
		} else {
			while (*p && *p != ',' && v + 1 < sizeof(val))
				val[v++] = *p++;
		}
		val[v] = '\0';
		if (strcmp(key, "realm") == 0)
			snprintf(c->realm, sizeof(c->realm), "%s", val);
		else if (strcmp(key, "service") == 0)
			snprintf(c->service, sizeof(c->service), "%s", val);
		else if (strcmp(key, "scope") == 0)
			snprintf(c->scope, sizeof(c->scope), "%s", val);
	}
	return 0;
}

/* nb_registry_insecure() - see registry.h */
bool nb_registry_insecure(const char *host)
{
	const char *path = getenv("CONTAINERS_REGISTRIES_CONF");
	autofclose FILE *f = NULL;
	char line[1024], loc[512] = "";
	bool insecure = false, in_v1 = false;

	f = fopen(path && *path ? path : "/etc/containers/registries.conf", "re");
	if (!f)
		return false;
	/* a small reader for the two shapes in use: [[registry]] tables with
	 * location/insecure, and v1's [registries.insecure] registries = [...] */
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *q;

		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#')
			continue;
		if (*s == '[') {
			if (loc[0] && insecure && strcmp(loc, host) == 0)
				return true;
			loc[0] = '\0';
			insecure = false;
			in_v1 = strncmp(s, "[registries.insecure]", 21) == 0;
			continue;
		}
		if (strncmp(s, "location", 8) == 0 && (q = strchr(s, '"')) != NULL) {
			char *end = strchr(q + 1, '"');

			if (end)
				snprintf(loc, sizeof(loc), "%.*s", (int)(end - q - 1), q + 1);
		} else if (strncmp(s, "insecure", 8) == 0 && strstr(s, "true")) {
			insecure = true;
		} else if (in_v1 && strncmp(s, "registries", 10) == 0) {
			char a[300], b[300];

			snprintf(a, sizeof(a), "\"%s\"", host);
			snprintf(b, sizeof(b), "'%s'", host);
			if (strstr(s, a) || strstr(s, b))
				return true;
		}
	}
	return loc[0] && insecure && strcmp(loc, host) == 0;
}

/* b64decode() - decode base64 @in into @out (NUL-terminated). Return: 0 or -EINVAL */
static int b64decode(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in);
	int m;

	if (n % 4 || (n / 4) * 3 + 1 > cap)
		return -EINVAL;
	m = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
	if (m < 0)
		return -EINVAL;
	if (n >= 1 && in[n - 1] == '=')
		m--;
	if (n >= 2 && in[n - 2] == '=')
		m--;
	out[m] = '\0';
	return 0;
}

/* Credentials for this repository (or its registry; docker.io's old key too)
 * from the containers auth.json @path; false when it has none. */
static bool creds_from_auth_file(struct nb_registry *r, const char *path)
{
	json_object *j = json_object_from_file(path), *auths, *ent, *a;
	char key[300], dec[600];
	const char *keys[3];
	bool ok = false;

	if (!j)
		return false;
	snprintf(key, sizeof(key), "%s/%s", r->ref.domain, r->ref.path);
	keys[0] = key;
	keys[1] = r->ref.domain;
	keys[2] = strcmp(r->ref.domain, "docker.io") == 0 ? "https://index.docker.io/v1/" : NULL;
	if (json_object_object_get_ex(j, "auths", &auths))
		for (int i = 0; i < 3 && !ok && keys[i]; i++) {
			char *colon;

			if (!json_object_object_get_ex(auths, keys[i], &ent) ||
			    !json_object_object_get_ex(ent, "auth", &a) ||
			    b64decode(json_object_get_string(a), dec, sizeof(dec)) < 0 ||
			    !(colon = strchr(dec, ':')))
				continue;
			*colon = '\0';
			snprintf(r->user, sizeof(r->user), "%s", dec);
			snprintf(r->pass, sizeof(r->pass), "%s", colon + 1);
			ok = r->have_creds = true;
		}
	json_object_put(j);
	return ok;
}

/* Credentials from --creds USER:PASS, else $REGISTRY_AUTH_FILE,
 * $XDG_RUNTIME_DIR/containers/auth.json or ~/.config/containers/auth.json, the
 * first that has some. */
static void find_creds(struct nb_registry *r, const char *creds)
{
	char path[4096];
	const char *env;

	if (creds) {
		const char *colon = strchr(creds, ':');

		snprintf(r->user, sizeof(r->user), "%.*s",
			 (int)(colon ? (size_t)(colon - creds) : strlen(creds)), creds);
		snprintf(r->pass, sizeof(r->pass), "%s", colon ? colon + 1 : "");
		r->have_creds = true;
		return;
	}
	env = getenv("REGISTRY_AUTH_FILE");
	if (env && *env && creds_from_auth_file(r, env))
		return;
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env) {
		snprintf(path, sizeof(path), "%s/containers/auth.json", env);
		if (creds_from_auth_file(r, path))
			return;
	}
	env = getenv("HOME");
	if (env && *env) {
		snprintf(path, sizeof(path), "%s/.config/containers/auth.json", env);
		creds_from_auth_file(r, path);
	}
}

/* nb_registry_new() - see registry.h */
int nb_registry_new(const struct nb_ref *ref, const struct nb_pull_opts *o,
		    struct nb_registry **out, struct nb_err *e)
{
	struct nb_registry *r = calloc(1, sizeof(*r));

	if (!r)
		return nb_err_set(e, ENOMEM, "registry: out of memory");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r->ref = *ref;
	r->host = nb_ref_registry_host(&r->ref);
	snprintf(r->scheme, sizeof(r->scheme), "%s", "https");
	r->insecure = !o->tls_verify || nb_registry_insecure(r->ref.domain);
	r->verify = !r->insecure;
	find_creds(r, o->creds);
	*out = r;
	return 0;
}

/* nb_registry_free() - see registry.h */
void nb_registry_free(struct nb_registry *r)
{
	if (!r)
		return;
	free(r->auth_header);
	explicit_bzero(r->pass, sizeof(r->pass));
	free(r);
}

/* A libcurl handle for @url with the registry's TLS policy, timeouts, auth and
 * the headers (in @hl) for @accept and @range (either may be NULL). */
static CURL *new_easy(struct nb_registry *r, const char *url, struct curl_slist **hl,
		      const char *accept, const char *range)
{
	CURL *c = curl_easy_init();
	char h[1024];

	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 8L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, r->verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, r->verify ? 2L : 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer (under 1 KiB/s for 60 s) is a transient failure */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "nestbox/0.1");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	*hl = NULL;
	if (accept) {
		snprintf(h, sizeof(h), "Accept: %s", accept);
		*hl = curl_slist_append(*hl, h);
	}
	if (range)
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	if (r->auth_header)
		*hl = curl_slist_append(*hl, r->auth_header);
	else if (r->use_basic) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, r->pass);
	}
	if (*hl)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
	return c;
}

/* get() - one GET into @body; @code gets the HTTP status. Return: CURLcode */
static CURLcode get(struct nb_registry *r, const char *url, const char *accept,
		    struct buf *body, struct hdrs *h, long *code)
{
	struct curl_slist *hl = NULL;
	CURL *c = new_easy(r, url, &hl, accept, NULL);
	CURLcode cc;

	if (!c)
		return CURLE_OUT_OF_MEMORY;
	memset(h, 0, sizeof(*h));
	body->len = 0;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	cc = curl_easy_perform(c);
	*code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	return cc;
}

/* Whether a failed request is worth retrying: a network error, a timeout, 408,
 * 429 or a 5xx. */
static bool transient(CURLcode cc, long code)
{
	/* an if chain, not a switch: CURLcode has ~100 values (-Wswitch-enum) */
	if (cc == CURLE_OK)
		return code == 408 || code == 429 || code >= 500;
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR ||
	       cc == CURLE_SEND_ERROR || cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_GOT_NOTHING ||
	       cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM;
}

/* Sleep before retry @attempt: 100 ms, doubling up to 1.6 s. */
static void backoff(int attempt)
{
	struct timespec ts = { 0, (long)(100000000L << (attempt < 4 ? attempt : 4)) };

	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec = ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
	}
	nanosleep(&ts, NULL);
}

/* authenticate() - answer a challenge. Return: 0 or negative errno */
static int authenticate(struct nb_registry *r, const char *www, struct nb_err *e)
{
	struct nb_challenge ch;
	struct buf body = { .max = 1 << 20 };
	struct hdrs h;
	char url[2048], scope[600];
	long code;
	CURLcode cc;
	json_object *j, *t;
	CURL *esc;
	char *s1, *s2;

	if (nb_challenge_parse(www, &ch) < 0)
		return nb_err_set(e, EPROTO, "registry %s: unreadable WWW-Authenticate '%.100s'",
				  r->ref.domain, www);
	if (strcasecmp(ch.scheme, "Basic") == 0) {
		if (!r->have_creds)
			return nb_err_set(e, EACCES, "registry %s: authentication required "
					  "(use --creds USER:PASS or an auth.json)", r->ref.domain);
		r->use_basic = true;
		return 0;
	}
	if (strcasecmp(ch.scheme, "Bearer") != 0 || !ch.realm[0])
		return nb_err_set(e, EPROTO, "registry %s: unsupported auth scheme '%s'",
				  r->ref.domain, ch.scheme);
	if (strncmp(ch.realm, "https://", 8) != 0 && !(r->insecure && strncmp(ch.realm, "http://", 7) == 0))
		return nb_err_set(e, EPROTO, "registry %s: token realm '%s' is not https",
				  r->ref.domain, ch.realm);
	snprintf(scope, sizeof(scope), "repository:%s:pull", r->ref.path);
	esc = curl_easy_init();
	if (!esc)
		return nb_err_set(e, ENOMEM, "registry: out of memory");
	s1 = curl_easy_escape(esc, ch.service, 0);
	s2 = curl_easy_escape(esc, scope, 0);
	snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", ch.realm,
		 strchr(ch.realm, '?') ? "&" : "?", s1 ? s1 : "", s2 ? s2 : "");
	curl_free(s1);
	curl_free(s2);
	curl_easy_cleanup(esc);
	free(r->auth_header);
	r->auth_header = NULL;
	r->use_basic = r->have_creds; /* the token endpoint takes the credentials */
	cc = get(r, url, "application/json", &body, &h, &code);
	r->use_basic = false;
	if (cc != CURLE_OK || code != 200) {
		free(body.data);
		if (cc != CURLE_OK)
			return nb_err_set(e, EIO, "registry %s: token from %s: %s", r->ref.domain,
					  ch.realm, curl_easy_strerror(cc));
		return nb_err_set(e, code == 401 || code == 403 ? EACCES : EIO,
				  "registry %s: token from %s: HTTP %ld", r->ref.domain, ch.realm, code);
	}
	j = body.data ? json_tokener_parse(body.data) : NULL;
	free(body.data);
	if (!j || (!json_object_object_get_ex(j, "token", &t) &&
		   !json_object_object_get_ex(j, "access_token", &t)) ||
	    !json_object_is_type(t, json_type_string) || json_object_get_string_len(t) > 16000) {
		if (j)
			json_object_put(j);
		return nb_err_set(e, EPROTO, "registry %s: no token in the answer of %s",
				  r->ref.domain, ch.realm);
	}
	if (asprintf(&r->auth_header, "Authorization: Bearer %s", json_object_get_string(t)) < 0)
		r->auth_header = NULL;
	json_object_put(j);
	return r->auth_header ? 0 : nb_err_set(e, ENOMEM, "registry: out of memory");
}

/* request() - GET with retries, scheme fallback and one auth round. Return: 0 or -errno */
static int request(struct nb_registry *r, const char *path, const char *accept, struct buf *body,
		   long *code, struct nb_err *e)
{
	char url[2048];
	struct hdrs h;
	bool authed = false;
	CURLcode cc;

	for (int attempt = 0;; attempt++) {
		snprintf(url, sizeof(url), "%s://%s%s", r->scheme, r->host, path);
		cc = get(r, url, accept, body, &h, code);
		if (cc == CURLE_SSL_CONNECT_ERROR && r->insecure && strcmp(r->scheme, "https") == 0) {
			nb_debug("registry %s: no TLS; using plain HTTP", r->host);
			snprintf(r->scheme, sizeof(r->scheme), "%s", "http");
			continue;
		}
		if (cc == CURLE_OK && *code == 401 && !authed && h.www_auth[0]) {
			int q = authenticate(r, h.www_auth, e);

			if (q < 0)
				return q;
			authed = true;
			continue;
		}
		if (transient(cc, *code) && attempt < NB_RETRIES) {
			nb_debug("registry %s: %s: %s (HTTP %ld); retrying", r->host, path,
				 curl_easy_strerror(cc), *code);
			backoff(attempt);
			continue;
		}
		break;
	}
	if (cc == CURLE_WRITE_ERROR)
		return nb_err_set(e, EFBIG, "registry %s: %s: answer too large", r->ref.domain, path);
	if (cc != CURLE_OK)
		return nb_err_set(e, EIO, "registry %s: %s", r->ref.domain, curl_easy_strerror(cc));
	if (*code == 401 || *code == 403)
		return nb_err_set(e, EACCES, "registry %s: access to %s denied (HTTP %ld)%s",
				  r->ref.domain, r->ref.path, *code,
				  r->have_creds ? "" : "; use --creds USER:PASS or an auth.json");
	return 0;
}

/* nb_registry_manifest() - see registry.h */
int nb_registry_manifest(struct nb_registry *reg, const char *reference, char **data,
			 size_t *len, char digest[NB_DIGEST_LEN + 1], struct nb_err *e)
{
	static const char accept[] = NB_MT_OCI_MANIFEST ", " NB_MT_OCI_INDEX ", "
		NB_MT_DOCKER_MANIFEST ", " NB_MT_DOCKER_LIST;
	struct buf body = { .max = NB_OCI_MAX_DOC };
	char path[1024];
	long code = 0;
	int q;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", reg->ref.path, reference);
	q = request(reg, path, accept, &body, &code, e);
	if (q < 0) {
		free(body.data);
		return q;
	}
	if (code == 404) {
		free(body.data);
		return nb_err_set(e, ENOENT, "manifest %s not found in %s/%s", reference,
				  reg->ref.domain, reg->ref.path);
	}
	if (code != 200) {
		free(body.data);
		return nb_err_set(e, EIO, "manifest %s: HTTP %ld", reference, code);
	}
	nb_sha256_buf(body.data ? body.data : "", body.len, digest);
	if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, digest) != 0) {
		free(body.data);
		return nb_err_set(e, EBADMSG, "manifest %s: digest mismatch (content is %s)", reference,
				  digest);
	}
	if (!body.data) {
		free(body.data);
		return nb_err_set(e, EINVAL, "manifest %s: empty", reference);
	}
	*data = body.data;
	*len = body.len;
	return 0;
}

/* one blob transfer */
struct xfer {
	struct nb_registry *r;		/* the registry it comes from */
	const struct nb_desc *d;	/* the blob: digest and size */
	struct nb_blob_writer w;	/* its partial file in the store */
	CURL *c;			/* the transfer in flight, NULL between attempts */
	struct curl_slist *hl;		/* its request headers */
	int attempts;			/* retries so far (at most NB_RETRIES) */
	bool open;			/* @w is open */
	bool done;			/* stored and verified */
	bool too_big;			/* the server sent more than @d->size */
	uint64_t start;			/* the offset this attempt asked from (Range) */
	struct nb_progress *prog;	/* the shared progress line, or NULL */
	struct nb_err err;		/* why writing the blob failed */
};

/* libcurl's write callback of a blob: into its partial file, unless it is an
 * error body; a whole blob sent for a range request starts the file again. */
static size_t xfer_write(char *p, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = sz * n;
	long code = 0;

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200 && code != 206)
		return len; /* an error body: not part of the blob */
	if (code == 200 && x->w.size > 0 && x->w.size == x->start) {
		/* we asked for a range and got the whole blob */
		if (nb_blob_reset(&x->w, &x->err) < 0)
			return 0;
		x->start = 0;
	}
	if (x->w.size + len > (uint64_t)x->d->size) {
		x->too_big = true;
		return 0;
	}
	if (nb_blob_write(&x->w, p, len, &x->err) < 0)
		return 0;
	if (x->prog)
		nb_progress_add(x->prog, len);
	return len;
}

/* Start (or resume, with a Range from what the partial file holds) a blob's
 * transfer on @m. Return: 0, 1 when the partial file already held the whole
 * blob and it verified, or negative errno */
static int xfer_start(struct xfer *x, CURLM *m, struct nb_store *s, struct nb_err *e)
{
	char url[2048], range[64];
	struct nb_registry *r = x->r;

	if (!x->open) {
		int q = nb_blob_begin(s, &x->w, x->d->digest, e);

		if (q < 0)
			return q;
		x->open = true;
		if (x->w.size > (uint64_t)x->d->size && nb_blob_reset(&x->w, e) < 0)
			return -e->code;
		if (x->prog)
			nb_progress_add(x->prog, x->w.size);
		if (x->w.size == (uint64_t)x->d->size && x->w.size) {
			/* a killed pull got it all but did not store it: just verify */
			q = nb_blob_commit(s, &x->w, x->d->digest, x->d->size, NULL, e);
			x->open = false;
			if (q == 0) {
				x->done = true;
				return 1;
			}
			if (q != -EBADMSG)
				return q;
			nb_err_clear(e);
			q = nb_blob_begin(s, &x->w, NULL, e);
			if (q < 0)
				return q;
			x->open = true;
		}
	}
	x->start = x->w.size;
	snprintf(url, sizeof(url), "%s://%s/v2/%s/blobs/%s", r->scheme, r->host, r->ref.path,
		 x->d->digest);
	snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->w.size);
	x->c = new_easy(r, url, &x->hl, NULL, x->w.size ? range : NULL);
	if (!x->c)
		return nb_err_set(e, ENOMEM, "registry: out of memory");
	curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, xfer_write);
	curl_easy_setopt(x->c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->c, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_multi_add_handle(m, x->c);
	return 0;
}

/* Take @x's transfer off @m and free its handle and headers. */
static void xfer_stop(struct xfer *x, CURLM *m)
{
	if (!x->c)
		return;
	curl_multi_remove_handle(m, x->c);
	curl_easy_cleanup(x->c);
	curl_slist_free_all(x->hl);
	x->c = NULL;
	x->hl = NULL;
}

/* xfer_finish() - a transfer ended: commit, retry, or fail. Return: 0, 1 (restart) or -errno */
static int xfer_finish(struct xfer *x, CURLM *m, struct nb_store *s, CURLcode cc,
		       struct nb_err *e)
{
	long code = 0;

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &code);
	xfer_stop(x, m);
	if (x->err.code)
		return nb_err_set(e, x->err.code, "%s", x->err.msg);
	if (x->too_big) {
		nb_blob_abort(s, &x->w, false);
		x->open = false;
		return nb_err_set(e, EBADMSG, "blob %s: size mismatch: more than the %lld bytes expected",
				  x->d->digest, (long long)x->d->size);
	}
	if (cc == CURLE_OK && (code == 200 || code == 206)) {
		x->open = false;
		x->done = true;
		return nb_blob_commit(s, &x->w, x->d->digest, x->d->size, NULL, e);
	}
	if (code == 416) {
		/* our partial is as long as the blob, or the range was bad: start over */
		if (nb_blob_reset(&x->w, e) < 0)
			return -e->code;
	} else if (!transient(cc, code) || x->attempts >= NB_RETRIES) {
		nb_blob_abort(s, &x->w, true);
		x->open = false;
		if (cc != CURLE_OK)
			return nb_err_set(e, EIO, "blob %s: %s", x->d->digest, curl_easy_strerror(cc));
		return nb_err_set(e, code == 404 ? ENOENT : EIO, "blob %s: HTTP %ld", x->d->digest, code);
	}
	x->attempts++;
	nb_debug("blob %s: %s (HTTP %ld) at byte %llu; resuming", x->d->digest,
		 curl_easy_strerror(cc), code, (unsigned long long)x->w.size);
	backoff(x->attempts - 1);
	return 1;
}

/* nb_registry_blobs() - see registry.h */
int nb_registry_blobs(struct nb_registry *r, struct nb_store *s, const struct nb_desc *d,
		      size_t n, bool progress, const struct nb_blob_events *ev, struct nb_err *e)
{
	struct xfer *x = calloc(n ? n : 1, sizeof(*x));
	CURLM *m = curl_multi_init();
	struct nb_progress prog;
	size_t next = 0, running = 0;
	uint64_t total = 0;
	int ret = 0;
	char what[300];

	if (!x || !m) {
		if (m)
			curl_multi_cleanup(m);
		free(x);
		return nb_err_set(e, ENOMEM, "registry: out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		x[i].r = r;
		x[i].d = &d[i];
		x[i].w.fd = -1;
		x[i].done = nb_store_has_blob(s, d[i].digest, d[i].size);
		if (!x[i].done)
			total += (uint64_t)d[i].size;
		else if (ev && ev->done)
			ev->done(ev->ud, i);
	}
	snprintf(what, sizeof(what), "%s/%s", r->ref.domain, r->ref.path);
	if (progress)
		nb_progress_start(&prog, what, total);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)NB_PARALLEL);
	for (;;) {
		while (running < NB_PARALLEL && next < n) {
			struct xfer *t = &x[next++];

			if (t->done)
				continue;
			t->prog = progress ? &prog : NULL;
			ret = xfer_start(t, m, s, e);
			if (ret < 0)
				goto out;
			if (ret == 1) {
				if (ev && ev->done)
					ev->done(ev->ud, (size_t)(t - x));
				continue; /* nothing left to fetch */
			}
			running++;
		}
		if (!running)
			break;
		int still = 0;

		curl_multi_perform(m, &still);
		CURLMsg *msg;
		int left;

		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct xfer *t = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			ret = xfer_finish(t, m, s, msg->data.result, e);
			if (ret < 0)
				goto out;
			if (ret == 1) {
				ret = xfer_start(t, m, s, e);
				if (ret < 0)
					goto out;
				if (ret == 0)
					continue;
			}
			running--;
			if (ev && ev->done)
				ev->done(ev->ud, (size_t)(t - x));
		}
		if (ev && ev->cancelled && ev->cancelled(ev->ud)) {
			ret = nb_err_set(e, ECANCELED, "blobs: cancelled");
			goto out;
		}
		if (running)
			curl_multi_poll(m, NULL, 0, 200, NULL);
	}
out:
	for (size_t i = 0; i < n; i++) {
		xfer_stop(&x[i], m);
		/* partial downloads are kept for the next pull, unless the registry
		 * sent bad content: then nothing of this pull stays */
		if (x[i].open)
			nb_blob_abort(s, &x[i].w, ret != -EBADMSG);
	}
	curl_multi_cleanup(m);
	free(x);
	if (progress)
		nb_progress_done(&prog);
	return ret < 0 ? ret : 0;
}
