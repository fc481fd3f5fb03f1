/* SPDX-License-Identifier: GPL-2.0-or-later */
/* diag: compiler diagnostics tuned for the image module.
 * Names from registries and archives are capped into fixed buffers on purpose;
 * where a cut would change meaning the length is checked by hand. GCC's
 * -Wformat-truncation cannot see those checks (clang has no such warning). */
#ifndef NESTBOX_IMAGE_DIAG_H
#define NESTBOX_IMAGE_DIAG_H

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#endif
