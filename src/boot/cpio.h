/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cpio: a writer for the "newc" cpio format the kernel unpacks as initramfs.
 * Owns struct nb_cpio; writes to a FILE, 4-byte aligned, ends with TRAILER!!!. */
#ifndef NESTBOX_BOOT_CPIO_H
#define NESTBOX_BOOT_CPIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "lib/err.h"

/**
 * struct nb_cpio - an archive being written
 * @f:		destination
 * @ino:	next inode number
 * @off:	bytes written so far (for alignment)
 */
struct nb_cpio {
	FILE *f;
	uint32_t ino;
	uint64_t off;
};

/* nb_cpio_init() - start an archive on @f */
void nb_cpio_init(struct nb_cpio *c, FILE *f);

/**
 * nb_cpio_add() - append an entry
 * @name:	path inside the archive, no leading '/'
 * @mode:	type and permission bits (S_IFREG, S_IFDIR, S_IFCHR, S_IFLNK)
 * @data, @len:	file content or symlink target (NULL/0 for others)
 * @rmajor, @rminor: device number for S_IFCHR
 *
 * Return: 0, or negative errno (names over 4095 bytes: -ENAMETOOLONG)
 */
int nb_cpio_add(struct nb_cpio *c, const char *name, mode_t mode, const void *data, size_t len,
		unsigned rmajor, unsigned rminor, struct nb_err *e);

/* nb_cpio_add_file() - append a regular file copied from @src; 0 or -errno */
int nb_cpio_add_file(struct nb_cpio *c, const char *name, mode_t mode, const char *src,
		     struct nb_err *e);

/* nb_cpio_add_fd() - append a regular file read from @fd (from offset 0;
 * @src names it in errors); 0 or -errno */
int nb_cpio_add_fd(struct nb_cpio *c, const char *name, mode_t mode, int fd, const char *src,
		   struct nb_err *e);

/* nb_cpio_finish() - write the trailer and flush; 0 or -errno */
int nb_cpio_finish(struct nb_cpio *c, struct nb_err *e);

#endif
