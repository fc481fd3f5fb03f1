/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ociarchive: images from files — an OCI image layout directory, an
 * oci-archive (a tar of one) and a docker-archive (docker/podman save).
 * Blobs go into the store verified; what comes out is a list of manifests. */
#ifndef NESTBOX_IMAGE_OCIARCHIVE_H
#define NESTBOX_IMAGE_OCIARCHIVE_H

#include <stddef.h>

#include "image/digest.h"
#include "image/store.h"
#include "lib/err.h"

/**
 * struct nb_found - one image found in a layout or archive
 * @manifest:	digest of its manifest (or index), stored in the store
 * @name:	its name: a normalized reference, a bare tag from an OCI
 *		ref.name annotation, or "" when it has none
 */
struct nb_found {
	char manifest[NB_DIGEST_LEN + 1];
	char name[512];
};

/**
 * nb_layout_import() - copy the images of an OCI layout into the store
 * @s:		store (writer)
 * @dir:	the layout directory
 * @tag:	keep only the manifest whose ref.name is @tag (NULL: all)
 * @out, @n:	output (malloc'd)
 * @e:		error
 *
 * Return: 0 or negative errno
 */
int nb_layout_import(struct nb_store *s, const char *dir, const char *tag,
		     struct nb_found **out, size_t *n, struct nb_err *e);

/**
 * nb_archive_load() - read a docker-archive or oci-archive into the store
 * @s:		store (writer)
 * @file:	the archive (tar, possibly compressed)
 * @out, @n:	output (malloc'd)
 * @e:		error
 *
 * Return: 0 or negative errno
 */
int nb_archive_load(struct nb_store *s, const char *file, struct nb_found **out, size_t *n,
		    struct nb_err *e);

#endif
