/* SPDX-License-Identifier: GPL-2.0-or-later */
/* clock: the monotonic clock that timeouts and boot-phase timings use. */
#ifndef NESTBOX_LIB_CLOCK_H
#define NESTBOX_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

/* nb_mono_ns() - CLOCK_MONOTONIC in ns */
static inline uint64_t nb_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
