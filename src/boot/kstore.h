/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kstore: the kernels directory ($NESTBOX_KERNELS, else <data dir>/kernels),
 * what `nestbox kernel` manages. Owns its layout:
 *   <version>/vmlinux, vmlinuz, config, version, lib/modules/<version>/
 *   default -> <version>   the kernel `run` boots unless told otherwise
 *   .lock                  flock held by whoever prepares or removes
 *   .prep.XXXXXX/          a kernel being prepared (renamed into place whole)
 * and how a Debian kernel package becomes such a directory. */
#ifndef NESTBOX_BOOT_KSTORE_H
#define NESTBOX_BOOT_KSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

/* nb_kstore_dir() - the kernels directory (not created). Return: 0 or -errno */
int nb_kstore_dir(char *buf, size_t len, struct nb_err *e);

/**
 * struct nb_kstore_entry - one prepared kernel
 * @name:	its directory's name (for Debian's kernels, the version)
 * @is_default:	"default" points at it
 * @pvh:	it has an uncompressed vmlinux (boots through PVH)
 */
struct nb_kstore_entry {
	char name[128];
	bool is_default;
	bool pvh;
};

/**
 * nb_kstore_list() - the prepared kernels, sorted by name
 * @out:	output, malloc'd (NULL when there are none)
 * @n:		output: how many
 *
 * A kernels directory that does not exist holds none. Return: 0 or -errno
 */
int nb_kstore_list(struct nb_kstore_entry **out, size_t *n, struct nb_err *e);

/**
 * struct nb_kstore_prep - what to prepare
 * @source:	NULL: Debian's current kernel (the package linux-image-amd64
 *		depends on); a package name ("linux-image-6.1.0-57-amd64"); or
 *		the path of a .deb holding such a package
 * @keep_default: do not point "default" at what was prepared (unless there
 *		is no default yet)
 */
struct nb_kstore_prep {
	const char *source;
	bool keep_default;
};

/**
 * nb_kstore_prepare() - make a Debian kernel package a bootable kernel directory
 * @p:		what
 * @name:	output: the kernel's name (its version)
 * @len:	size of @name
 * @e:		error naming the package and the step that failed
 *
 * Resolves the package with apt-cache, takes its .deb from apt's cache when
 * one is there with the digest apt's lists give, else fetches it with
 * apt-get download; unpacks it with dpkg-deb; runs depmod on its modules;
 * extracts the uncompressed vmlinux from its bzImage (PVH boot). A kernel
 * already prepared is not fetched again. Offline with no @source, the
 * default kernel, if any, stays as it is.
 *
 * Return: 0, or negative errno; nothing is left half-made
 */
int nb_kstore_prepare(const struct nb_kstore_prep *p, char *name, size_t len, struct nb_err *e);

/**
 * nb_kstore_remove() - remove a prepared kernel
 * @name:	its name, as nb_kstore_list() gives it
 * @was_default: output: "default" pointed at it (and is gone too)
 *
 * Return: 0, -ENOENT when there is no such kernel, or negative errno
 */
int nb_kstore_remove(const char *name, bool *was_default, struct nb_err *e);

#endif
