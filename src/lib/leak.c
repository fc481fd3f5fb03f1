/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LeakSanitizer's user hook: whether to skip the leak check at exit. */
#include "lib/leak.h"

#include <stdbool.h>

/* Set once the process can no longer host the check (nb_leak_check_off()). */
static volatile bool leak_check_off;

/* nb_leak_check_off() - see leak.h */
void nb_leak_check_off(void)
{
	leak_check_off = true;
}

/* gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(NB_ASAN)
int __lsan_is_turned_off(void);

/* __lsan_is_turned_off() - LeakSanitizer asks this (a documented weak hook)
 * before its exit-time check: nonzero skips it. */
int __lsan_is_turned_off(void)
{
	return leak_check_off;
}
#endif
