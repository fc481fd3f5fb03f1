/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/cache: dropping the cached files nobody used for a while (the
 * initramfs cache of boot.c, the vmlinux cache of bzimage.c). A run marks a
 * cached file it uses by touching it, so that a prune keeps it. */
#ifndef NESTBOX_BOOT_CACHE_H
#define NESTBOX_BOOT_CACHE_H

#include <time.h>

/**
 * boot_prune_cache() - unlink the files in @dir whose names end in one of
 * @suffixes (NULL-terminated) and that were neither read nor written for
 * @max_age seconds; @keep (a full path) always stays
 */
void boot_prune_cache(const char *dir, const char *keep, const char *const *suffixes,
		      time_t max_age);

#endif
