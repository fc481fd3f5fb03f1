/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/cache: housekeeping of boot's caches (initramfs files, extracted
 * vmlinux files), see cache.h. */
#include "boot/cache.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"

/* boot_prune_cache() - see cache.h */
void boot_prune_cache(const char *dir, const char *keep, const char *const *suffixes,
		      time_t max_age)
{
	autodir DIR *d = opendir(dir);
	struct dirent *de;
	time_t now = time(NULL);

	while (d && (de = readdir(d))) {
		char p[PATH_MAX + 300];
		struct stat st;
		size_t n = strlen(de->d_name);
		bool match = false;

		for (const char *const *x = suffixes; *x && !match; x++) {
			size_t xn = strlen(*x);

			match = n >= xn && strcmp(de->d_name + n - xn, *x) == 0;
		}
		if (!match)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (strcmp(p, keep) != 0 && stat(p, &st) == 0 && now - st.st_atime > max_age &&
		    now - st.st_mtime > max_age)
			unlink(p);
	}
}
