/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/kernel: which kernel a VM boots: $NESTBOX_KERNELS or <data dir>/kernels
 * ("default" symlink), a kernel directory or file, or the kernel an image
 * ships; and opening its modules' files (inside the image's root for an
 * image's kernel). A bzImage is handed to bzimage.c to be booted through PVH. */
#ifndef NESTBOX_BOOT_KERNEL_H
#define NESTBOX_BOOT_KERNEL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

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

#endif
