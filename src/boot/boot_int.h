/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot internals shared by kernel.c and boot.c: opening a kernel's files,
 * inside an image's root where the kernel came from one. */
#ifndef NESTBOX_BOOT_BOOT_INT_H
#define NESTBOX_BOOT_BOOT_INT_H

#include <time.h>

#include "boot/boot.h"

/**
 * kernel_openat() - openat2(@rootfd, @path, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS):
 * @path (a leading '/' is dropped) and every symlink in it resolve inside @rootfd
 * Return: the fd (O_CLOEXEC), or negative errno
 */
int kernel_openat(int rootfd, const char *path, int flags);

/**
 * kernel_open() - open a file of @k's modules directory for reading: @entry
 * relative to it (or absolute, as old modules.dep files have it); inside the
 * image's root for an image's kernel. Only regular files; never blocks on a FIFO.
 * Return: the fd (O_CLOEXEC), or negative errno
 */
int kernel_open(const struct nb_kernel *k, const char *entry, struct nb_err *e);

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

/**
 * kernel_try_pvh() - for a bzImage @k: boot the vmlinux it carries through
 * PVH instead, extracted into the cache (or found there). Any failure leaves
 * @k as it is, with a debug line saying why.
 */
void kernel_try_pvh(struct nb_kernel *k);

/**
 * boot_prune_cache() - unlink the files in @dir whose names end in one of
 * @suffixes (NULL-terminated) and that were neither read nor written for
 * @max_age seconds; @keep (a full path) always stays
 */
void boot_prune_cache(const char *dir, const char *keep, const char *const *suffixes,
		      time_t max_age);

#endif
