/* SPDX-License-Identifier: GPL-2.0-or-later */
/* oci: decoders for the JSON documents of OCI and Docker schema-2 images —
 * manifests, indexes/manifest lists, image configs — and platform selection.
 * All input is hostile: sizes and counts are capped, types checked. */
#ifndef NESTBOX_IMAGE_OCI_H
#define NESTBOX_IMAGE_OCI_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "image/image.h"
#include "lib/err.h"

#define NB_OCI_MAX_DOC (4u << 20)	/* manifests, indexes and configs */
#define NB_OCI_MAX_LAYERS 256
#define NB_OCI_MAX_MANIFESTS 512

#define NB_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define NB_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define NB_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define NB_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define NB_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define NB_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* struct nb_desc - a content descriptor (and, in an index, its platform) */
struct nb_desc {
	char media_type[128];		/* NB_MT_* or another media type */
	char digest[NB_DIGEST_LEN + 1];	/* "sha256:<64 hex>" of the content */
	int64_t size;			/* the content's size in bytes */
	char os[32];			/* platform.os in an index, else "" */
	char arch[32];			/* platform.architecture in an index, else "" */
	char variant[32];		/* platform.variant ("v8"), "" if none */
	char ref_name[256];		/* io.containerd.image.name or OCI's ref.name, "" if none */
};

enum nb_doc_kind { NB_DOC_MANIFEST, NB_DOC_INDEX };

/* struct nb_manifest - an image manifest (kind MANIFEST) or an index (kind INDEX) */
struct nb_manifest {
	enum nb_doc_kind kind;		/* a manifest or an index */
	struct nb_desc config;		/* a manifest's config blob */
	struct nb_desc *layers;		/* a manifest's layers, base first (malloc'd) */
	size_t n_layers;		/* their count, at most NB_OCI_MAX_LAYERS */
	struct nb_desc *manifests;	/* an index's manifests (malloc'd) */
	size_t n_manifests;		/* their count, at most NB_OCI_MAX_MANIFESTS */
};

/* struct nb_platform - what to select from an index */
struct nb_platform {
	char os[32];		/* "linux" */
	char arch[32];		/* OCI's name: "amd64", "arm64" */
	char variant[32];	/* "v8", "" for any */
};

/**
 * nb_manifest_parse() - decode a manifest or an index
 * @data, @len:	the document
 * @m:		output; free with nb_manifest_free()
 * @e:		error
 *
 * Schema 1 manifests are refused. Return: 0 or -EINVAL
 */
int nb_manifest_parse(const char *data, size_t len, struct nb_manifest *m, struct nb_err *e);

/* nb_manifest_free() - release what nb_manifest_parse() allocated */
void nb_manifest_free(struct nb_manifest *m);

/**
 * nb_platform_parse() - "os/arch[/variant]", or this machine's when @s is NULL
 * Return: 0 or -EINVAL
 */
int nb_platform_parse(const char *s, struct nb_platform *p, struct nb_err *e);

/**
 * nb_index_select() - the manifest of an index matching a platform
 * @idx:	an index
 * @p:		wanted platform (variant "" matches any, preferring none/v8 on arm64)
 * @out:	output: pointer into @idx
 * @e:		error naming what the index offers
 *
 * Return: 0 or -ENOENT
 */
int nb_index_select(const struct nb_manifest *idx, const struct nb_platform *p,
		    const struct nb_desc **out, struct nb_err *e);

/* struct nb_config - the parts of an image config the store needs */
struct nb_config {
	char os[32];			/* the config's os */
	char arch[32];			/* its architecture */
	char created[64];		/* its creation time as written (RFC 3339), "" if none */
	char **diff_ids;		/* rootfs.diff_ids: each layer's uncompressed digest */
	size_t n_diff_ids;		/* their count, one per layer of the manifest */
	struct nb_image_config *run;	/* what run uses: entrypoint, cmd, env, ... */
};

/* nb_config_parse() - decode an image config; free with nb_config_free(). Return: 0 or -EINVAL */
int nb_config_parse(const char *data, size_t len, struct nb_config *c, struct nb_err *e);

/* nb_config_free() - release what nb_config_parse() allocated */
void nb_config_free(struct nb_config *c);

/* nb_chain_ids() - chain IDs of a diff_id list: out[i] ("sha256:..") for layers 0..i */
void nb_chain_ids(char *const *diff_ids, size_t n, char (*out)[NB_DIGEST_LEN + 1]);

#endif
