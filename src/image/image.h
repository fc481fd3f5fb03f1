/* SPDX-License-Identifier: GPL-2.0-or-later */
/* image: the OCI image store as the rest of nestbox sees it — pull, load, import,
 * list, inspect, remove, prune, and a leased rootfs + run config for `run`. */
#ifndef NESTBOX_IMAGE_IMAGE_H
#define NESTBOX_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/strv.h"

struct json_object;

/* the parts of an image's config that run uses */
struct nb_image_config {
	char **entrypoint;	/* NULL-terminated, or NULL */
	char **cmd;		/* NULL-terminated, or NULL */
	char **env;		/* "K=V", NULL-terminated, or NULL */
	char *workdir;		/* or NULL */
	char *user;		/* or NULL */
};

/* Resolve REF (any reference the store knows, or "oci:DIR[:TAG]", which is imported first)
 * to its unpacked root directory, pulling nothing. Takes a lease on the rootfs so rmi/prune
 * leave it alone until nb_image_release_rootfs(). Returns 0 or -errno with *e set
 * ("image 'x' not known; pull it first"). */
int nb_image_open_rootfs(const char *ref, char *rootfs, size_t rootfs_len,
			 struct nb_image_config **cfg, struct nb_err *e);
/* nb_image_release_rootfs() - drop the lease nb_image_open_rootfs() took on @rootfs */
void nb_image_release_rootfs(const char *rootfs);
/* nb_image_config_free() - free an image config and what it holds (NULL is fine) */
void nb_image_config_free(struct nb_image_config *cfg);

/**
 * struct nb_pull_opts - options of nestbox pull
 * @platform:	"os/arch[/variant]" or NULL for this machine's
 * @tls_verify:	false: accept any certificate and fall back to plain HTTP
 * @creds:	"user:pass" or NULL (then auth.json is consulted)
 * @progress:	draw progress bars (only on a TTY in any case)
 */
struct nb_pull_opts {
	const char *platform;
	bool tls_verify;
	const char *creds;
	bool progress;
};

/**
 * nb_image_pull() - fetch REF from its registry into the store and unpack it
 * @ref:	reference as typed
 * @o:		options
 * @id, @idlen:	output: the image ID ("sha256:<config digest hex>")
 * @e:		error
 *
 * Return: 0 or negative errno; on failure no ref is added
 */
int nb_image_pull(const char *ref, const struct nb_pull_opts *o, char *id, size_t idlen,
		  struct nb_err *e);

/**
 * nb_image_load() - load a docker-archive or oci-archive file
 * @file:	the archive
 * @names:	output: NULL-terminated list of the names (or IDs) loaded; free with
 *		nb_strv_free()
 * @e:		error
 *
 * Return: 0 or negative errno
 */
int nb_image_load(const char *file, char ***names, struct nb_err *e);

/**
 * nb_image_import() - import an OCI image layout directory
 * @spec:	"oci:DIR[:TAG]" (a bare DIR also works)
 * @id, @idlen:	output: image ID
 * @name, @namelen: output: the name it is stored under (may be NULL)
 * @e:		error
 *
 * Return: 0 or negative errno
 */
int nb_image_import(const char *spec, char *id, size_t idlen, char *name, size_t namelen,
		    struct nb_err *e);

/* nb_image_list() - the images as a JSON array (Id, Names, Digest, Size, Created); sets *out */
int nb_image_list(struct json_object **out, struct nb_err *e);

/* nb_image_inspect() - one image's record, config and rootfs path as a JSON object */
int nb_image_inspect(const char *ref, struct json_object **out, struct nb_err *e);

/**
 * nb_image_remove() - remove a name (or, given an ID, the image with all its names)
 * @ref:	name or ID (prefix)
 * @force:	also when a running VM holds its rootfs (the tree stays until released)
 * @out:	output: JSON array of lines to print ("Untagged: X", "Deleted: ID")
 * @e:		error
 *
 * Return: 0 or negative errno
 */
int nb_image_remove(const char *ref, bool force, struct json_object **out, struct nb_err *e);

/* nb_image_prune() - remove everything no ref reaches; *freed gets the bytes freed */
int nb_image_prune(uint64_t *freed, struct nb_err *e);


#endif
