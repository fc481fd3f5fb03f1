/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ref: image references, normalized as podman does
 * (busybox -> docker.io/library/busybox:latest; @sha256:... digests). */
#ifndef NESTBOX_IMAGE_REF_H
#define NESTBOX_IMAGE_REF_H

#include <stdbool.h>

#include <stddef.h>

#include "image/digest.h"
#include "lib/err.h"

/**
 * struct nb_ref - a parsed, normalized reference
 * @domain:	registry host[:port], "docker.io" for Docker Hub
 * @path:	repository path ("library/busybox")
 * @tag:	tag, "" when only a digest was given
 * @digest:	"sha256:<hex>" or ""
 */
struct nb_ref {
	char domain[256];
	char path[256];
	char tag[129];
	char digest[NB_DIGEST_LEN + 1];
	bool short_name;	/* no registry was given: docker.io was implied */
};

/**
 * nb_ref_parse() - parse and normalize a reference
 * @s:		what the user typed ("busybox", "quay.io/x/y:1", "h:5000/a@sha256:...",
 *		optionally prefixed "docker://")
 * @r:		output
 * @e:		error ("reference 'X': invalid tag")
 *
 * Return: 0 or -EINVAL
 */
int nb_ref_parse(const char *s, struct nb_ref *r, struct nb_err *e);

/* nb_ref_name() - "domain/path:tag", "domain/path@digest" or both, into @buf */
void nb_ref_name(const struct nb_ref *r, char *buf, size_t len);

/* nb_ref_repo() - "domain/path" into @buf */
void nb_ref_repo(const struct nb_ref *r, char *buf, size_t len);

/* nb_ref_registry_host() - the host to talk to: registry-1.docker.io for docker.io */
const char *nb_ref_registry_host(const struct nb_ref *r);

#endif
