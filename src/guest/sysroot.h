/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest/sysroot: run --system — the image's own init as PID 1, nestbox-init's
 * child staying behind as the root storage daemon (see sysroot.c). */
#ifndef NESTBOX_GUEST_SYSROOT_H
#define NESTBOX_GUEST_SYSROOT_H

#include <stdbool.h>

#include "guest/guest.h"

/* guest_spec_is_system() - whether the spec's SPAWN has NB_SPAWN_SYSTEM */
bool guest_spec_is_system(const struct guest *g);

/* guest_system_run() - mount the root in a child that stays as the root
 * storage daemon, then switch_root and exec the image's init; never returns */
__attribute__((noreturn)) void guest_system_run(struct guest *g);

#endif
