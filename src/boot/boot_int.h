/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot internals shared by kernel.c and boot.c: opening a kernel's files,
 * inside an image's root where the kernel came from one. */
#ifndef NESTBOX_BOOT_BOOT_INT_H
#define NESTBOX_BOOT_BOOT_INT_H

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

#endif
