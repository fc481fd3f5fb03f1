/* SPDX-License-Identifier: GPL-2.0-or-later */
/* registry: a client of the OCI distribution API over libcurl — anonymous,
 * bearer-token and basic auth, manifests, and blobs fetched in parallel,
 * verified while streaming, retried and resumed. */
#ifndef NESTBOX_IMAGE_REGISTRY_H
#define NESTBOX_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "image/image.h"
#include "image/oci.h"
#include "image/ref.h"
#include "image/store.h"
#include "lib/err.h"

struct nb_registry;

/**
 * nb_registry_new() - a client for the registry of @ref
 * @ref:	parsed reference
 * @o:		pull options (TLS, credentials)
 * @out:	output
 * @e:		error
 *
 * Plain HTTP is used only when TLS verification is off for the host
 * (--tls-verify=false, or insecure = true in registries.conf).
 * Return: 0 or negative errno
 */
int nb_registry_new(const struct nb_ref *ref, const struct nb_pull_opts *o,
		    struct nb_registry **out, struct nb_err *e);

/* nb_registry_free() - release a client (NULL is fine) */
void nb_registry_free(struct nb_registry *r);

/**
 * nb_registry_manifest() - fetch a manifest or index by tag or digest
 * @reference:	tag or "sha256:..." (then the content must match it)
 * @data, @len:	output body (malloc'd, NUL-terminated)
 * @digest:	output: the body's digest
 *
 * Return: 0 or negative errno
 */
int nb_registry_manifest(struct nb_registry *r, const char *reference, char **data,
			 size_t *len, char digest[NB_DIGEST_LEN + 1], struct nb_err *e);

/**
 * struct nb_blob_events - what a caller unpacking meanwhile (another thread) hears
 * @done:	blob @i is stored (or was already)
 * @cancelled:	whether to stop early (the caller failed)
 * @ud:		passed to both
 */
struct nb_blob_events {
	void (*done)(void *ud, size_t i);
	bool (*cancelled)(void *ud);
	void *ud;
};

/**
 * nb_registry_blobs() - fetch blobs not yet stored, in parallel, into the store
 * @s:		store (writer)
 * @d, @n:	descriptors (digest and size are checked)
 * @progress:	draw a progress line on a TTY
 * @ev:		events (may be NULL)
 *
 * Return: 0 or negative errno; a blob is stored only once verified
 */
int nb_registry_blobs(struct nb_registry *r, struct nb_store *s, const struct nb_desc *d,
		      size_t n, bool progress, const struct nb_blob_events *ev, struct nb_err *e);

/**
 * struct nb_challenge - a parsed WWW-Authenticate header
 */
struct nb_challenge {
	char scheme[16];	/* "Bearer" or "Basic" */
	char realm[512];	/* the token endpoint (Bearer) */
	char service[256];	/* service= for the token request, "" if none */
	char scope[512];	/* scope= for the token request, "" if none */
};

/* nb_challenge_parse() - parse "Bearer realm=\"..\",service=\"..\"". Return: 0 or -EINVAL */
int nb_challenge_parse(const char *h, struct nb_challenge *c);

/* nb_registry_insecure() - whether registries.conf marks @host insecure */
bool nb_registry_insecure(const char *host);

#endif
