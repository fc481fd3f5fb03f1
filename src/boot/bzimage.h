/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/bzimage: a bzImage's compressed vmlinux, found, decompressed and
 * checked for a PVH entry; and the cache of vmlinux files extracted from
 * bzImages (<data dir>/cache/kernels), so that a bzImage boots through PVH. */
#ifndef NESTBOX_BOOT_BZIMAGE_H
#define NESTBOX_BOOT_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/**
 * nb_bzimage_payload() - where a bzImage's compressed vmlinux lies
 * @hdr, @hdrlen: the file's first bytes (at least 0x250)
 * @filesize:	the whole file's size; the payload must lie within it
 * @off, @len:	output: the payload's offset in the file and its length
 *
 * Return: 0, or negative errno (no setup header, boot protocol before 2.08,
 * a payload outside the file or larger than 64 MiB); @e says which
 */
int nb_bzimage_payload(const void *hdr, size_t hdrlen, uint64_t filesize, uint64_t *off,
		       size_t *len, struct nb_err *e);

/**
 * nb_bzimage_vmlinux() - decompress a bzImage's payload into its vmlinux
 * @payload, @len: the payload (nb_bzimage_payload())
 * @out, @outlen: output: the ELF, malloc'd
 *
 * gzip, xz, zstd, lz4, bzip2 and lzma as libarchive has them; at most
 * 256 MiB decompressed. The result must be an x86-64 ELF with a PVH entry.
 * Return: 0, or negative errno; @e says why
 */
int nb_bzimage_vmlinux(const void *payload, size_t len, char **out, size_t *outlen,
		       struct nb_err *e);

/**
 * nb_elf_has_pvh() - whether @elf is an ELF64 x86-64 file with the Xen
 * PHYS32_ENTRY note (what QEMU needs to boot it through PVH)
 */
bool nb_elf_has_pvh(const void *elf, size_t len);

/**
 * bzimage_try_pvh() - the PVH vmlinux to boot in place of the bzImage @kernel
 * @version:	its version (part of the cache key)
 * @in_image:	@kernel is an image's (the resolved host path of what was found
 *		inside it): its last component is opened without following a symlink
 * @out, @len:	output: the extracted (or cached) vmlinux's path
 *
 * Extracts the vmlinux into the cache, or finds it there. Any failure leaves
 * @out unset, with a debug line saying why.
 * Return: true when @out names a vmlinux to boot through PVH
 */
bool bzimage_try_pvh(const char *kernel, const char *version, bool in_image, char *out,
		     size_t len);

#endif
