/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/decompress: a compressed kernel module or a bzImage's payload into
 * memory (libarchive, raw format: one stream, no archive around it). */
#ifndef NESTBOX_BOOT_DECOMPRESS_H
#define NESTBOX_BOOT_DECOMPRESS_H

#include <stddef.h>

#include "lib/err.h"

/**
 * boot_decompress() - decompress one raw stream (no archive format) with libarchive
 * @fd:		read from it, when @mem is NULL
 * @mem, @memlen: else read from this buffer
 * @filter:	ARCHIVE_FILTER_GZIP/XZ/ZSTD/LZ4/BZIP2/LZMA: the one accepted
 * @max:	refuse more than this many bytes decompressed
 * @want:	0, or exactly this many bytes are read (and what follows is ignored)
 * @what:	for messages ("module kernel/fs/fuse/fuse.ko.xz")
 * @out, @len:	output: the data, malloc'd; it must be an ELF file
 * Return: 0, or negative errno
 */
int boot_decompress(int fd, const void *mem, size_t memlen, int filter, size_t max,
		    size_t want, const char *what, char **out, size_t *len, struct nb_err *e);

#endif
