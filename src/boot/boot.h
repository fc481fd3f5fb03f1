/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot: what a nestbox VM boots. Owns the kernel lookup ($NESTBOX_KERNELS or
 * <data dir>/kernels, "default" symlink; a kernel file; the kernel an image
 * ships), the module set the guest needs (resolved from that kernel's
 * modules.dep, decompressed when the kernel ships .ko.xz/.ko.zst/.ko.gz), the
 * initramfs cache (per kernel identity, modules and sha256 of nestbox-init)
 * and the per-run initrd (cached initramfs + a small spec cpio, in a memfd). */
#ifndef NESTBOX_BOOT_BOOT_H
#define NESTBOX_BOOT_BOOT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/strv.h"

/**
 * struct nb_kernel - a guest kernel
 * @dir:	where it came from: its directory, or the image's root
 * @version:	"6.1.0-56-amd64", what `uname -r` says in the guest
 * @kernel:	the file QEMU loads with -kernel
 * @pvh:	true: an uncompressed ELF vmlinux, booted through its PVH entry
 *		(fast: no decompressor); false: a bzImage (Linux boot protocol)
 * @moddir:	its lib/modules/<version>, as a host path
 * @root:	"" for nestbox's kernels and --kernel PATH; for --kernel image,
 *		the image's root: its modules are then opened inside it
 *		(RESOLVE_IN_ROOT), so neither a symlink nor a modules.dep entry
 *		of an image reaches a host file
 * @modrel:	with @root: the modules directory inside it ("usr/lib/modules/V")
 */
struct nb_kernel {
	char dir[PATH_MAX];
	char version[128];
	char kernel[PATH_MAX];
	bool pvh;
	char moddir[PATH_MAX];
	char root[PATH_MAX];
	char modrel[PATH_MAX];
};

/**
 * nb_kernel_find() - resolve --kernel default|PATH
 * @which:	NULL or "default" (the prepared default kernel), a kernel
 *		directory (version, vmlinux and/or vmlinuz, lib/modules/<version>),
 *		or a kernel file: a vmlinux or bzImage (its version from a version
 *		file beside it or from the bzImage header; its modules beside it in
 *		lib/modules/<version>, else the host's /lib/modules/<version>)
 * @k:		output
 * @e:		error naming the kernel and what is missing
 *
 * Return: 0, or negative errno
 */
int nb_kernel_find(const char *which, struct nb_kernel *k, struct nb_err *e);

/**
 * nb_kernel_find_image() - resolve --kernel image: the one kernel an image ships
 * @root:	the image's root directory
 * @image:	the image's name, for messages
 * @k:		output
 * @e:		error naming the image and the reason
 *
 * Looks for /usr/lib/modules/<version>/vmlinuz, /lib/modules/<version>/vmlinuz
 * and /boot/vmlinuz-<version> (with its modules in /usr/lib/modules/<version>
 * or /lib/modules/<version>), every path resolved inside @root.
 * Return: 0; -ENOENT when there is none (or no modules.dep), -EMLINK when there
 * are several versions, -ENOEXEC when it is no kernel, or another negative errno
 */
int nb_kernel_find_image(const char *root, const char *image, struct nb_kernel *k,
			 struct nb_err *e);

/**
 * nb_kernel_probe() - what kind of kernel file @fd holds
 * @pvh:	output: true for an ELF vmlinux, false for a bzImage
 * @version, @len: output (may be NULL): a bzImage's version from its header,
 *		"" when it has none (or for a vmlinux)
 *
 * Return: 0, or -ENOEXEC when it is neither
 */
int nb_kernel_probe(int fd, bool *pvh, char *version, size_t len);

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
 * nb_init_path() - find nestbox-init: $NESTBOX_INIT, next to the nestbox
 * binary (or in its build tree), else the installed libexec copy
 * Return: 0, or -ENOENT
 */
int nb_init_path(char *buf, size_t len, struct nb_err *e);

/**
 * nb_initramfs_get() - the cached initramfs for @k and @init, built if absent
 * @out:	path of the cached file
 *
 * The archive holds /init, /dev/console, /nestbox/modules (the load order)
 * and the modules. Built into a temp file and renamed, so concurrent runs
 * never see half an archive.
 * Return: 0, or negative errno
 */
int nb_initramfs_get(const struct nb_kernel *k, const char *init, char *out, size_t len,
		     struct nb_err *e);

/**
 * nb_initrd_for_run() - a memfd holding the cached initramfs followed by a
 * cpio with /nestbox/spec = @spec (the kernel unpacks both)
 * Return: the fd (O_CLOEXEC), or negative errno
 */
int nb_initrd_for_run(const char *initramfs, const void *spec, size_t spec_len,
		      struct nb_err *e);

/**
 * nb_modules_resolve() - the modules to load for @names, dependencies
 * first, as paths relative to the modules dir; built-in ones are skipped
 * @moddir:	lib/modules/<version>
 * @names:	NULL-terminated module names ("virtio_console", "virtio-rng")
 * @out:	NULL-terminated, malloc'd array of malloc'd strings
 *
 * Return: the count, or negative errno (a module neither in modules.dep
 * nor in modules.builtin)
 */
int nb_modules_resolve(const char *moddir, const char *const *names, char ***out,
		       struct nb_err *e);


/**
 * nb_kernel_has_vsock() - whether @k's modules (or built-ins) hold the guest
 * end of vhost-vsock (vmw_vsock_virtio_transport); the initramfs carries
 * them as nestbox/modules.vsock then
 */
bool nb_kernel_has_vsock(const struct nb_kernel *k);

#endif
