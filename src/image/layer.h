/* SPDX-License-Identifier: GPL-2.0-or-later */
/* layer: applying one layer tarball (plain, gzip, zstd) to a rootfs tree with
 * OCI whiteouts, refusing any entry that would land outside the tree; and the
 * tree helpers the store builds chains with (hard-link copy, removal). */
#ifndef NESTBOX_IMAGE_LAYER_H
#define NESTBOX_IMAGE_LAYER_H

#include <stdint.h>

#include "image/digest.h"
#include "lib/err.h"

/**
 * nb_layer_apply() - unpack a layer onto a tree
 * @rootfd:	directory fd of the tree (the entries' "/")
 * @fd:		the layer blob, read from its current offset
 * @name:	the layer's name for errors ("sha256:ab..")
 * @diff_id:	output (may be NULL): sha256 of the whole uncompressed stream,
 *		hashed while it is applied — the caller compares it with the
 *		config's diff_id before it trusts the tree
 * @e:		error: "layer sha256:..: entry ../x: path leaves the root"
 *
 * Files are always created anew (never written through an existing inode), so
 * a tree that hard-links its parent's files never changes the parent. Owners
 * and device nodes only when running as root.
 *
 * Return: 0 or negative errno
 */
int nb_layer_apply(int rootfd, int fd, const char *name, char diff_id[NB_DIGEST_LEN + 1],
		   struct nb_err *e);

/**
 * nb_tree_linkcopy() - copy a tree, hard-linking every non-directory
 * @srcfd, @dstfd: source and (empty) destination directories
 *
 * Return: 0 or negative errno
 */
int nb_tree_linkcopy(int srcfd, int dstfd, struct nb_err *e);

/**
 * nb_rm_at() - remove @name under @dfd recursively, never following symlinks
 * @freed:	incremented by the size of each file whose last link goes (may be NULL)
 *
 * Return: 0 (also when absent) or negative errno
 */
int nb_rm_at(int dfd, const char *name, uint64_t *freed);

#endif
