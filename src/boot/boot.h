/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot: what a nestbox VM boots. The kernel lookup is kernel.h's (included
 * here: struct nb_kernel is what this header takes); boot.c owns the module
 * set the guest needs (resolved from that kernel's
 * modules.dep, decompressed when the kernel ships .ko.xz/.ko.zst/.ko.gz), the
 * initramfs cache (per kernel identity, modules and sha256 of nestbox-init)
 * and the per-run initrd (cached initramfs + a small spec cpio, in a memfd). */
#ifndef NESTBOX_BOOT_BOOT_H
#define NESTBOX_BOOT_BOOT_H

#include <stdbool.h>
#include <stddef.h>

#include "boot/kernel.h"
#include "lib/err.h"
#include "lib/strv.h"

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
