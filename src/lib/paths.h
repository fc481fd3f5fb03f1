/* SPDX-License-Identifier: GPL-2.0-or-later */
/* paths: where nestbox keeps its data (images, kernels) and runtime state.
 * Owns the rules: $NESTBOX_HOME, /var/lib/nestbox, ~/.local/share/nestbox, /run/nestbox. */
#ifndef NESTBOX_LIB_PATHS_H
#define NESTBOX_LIB_PATHS_H

#include <stddef.h>

#include "lib/err.h"

/**
 * nb_data_dir() - the data directory
 * @buf, @len:	output buffer
 * @e:		error
 *
 * $NESTBOX_HOME if set, else /var/lib/nestbox for root, else
 * $XDG_DATA_HOME/nestbox or ~/.local/share/nestbox. Created 0700 when absent;
 * refused when it is a symlink, not a directory, not owned by the effective
 * user, or writable by group or others.
 *
 * Return: 0, or negative errno (it does not fit, $HOME is unknown, or it is
 * not private: the message names it and the fix)
 */
int nb_data_dir(char *buf, size_t len, struct nb_err *e);

/**
 * nb_runtime_dir() - the runtime state directory
 * @buf, @len:	output buffer
 * @e:		error
 *
 * $NESTBOX_RUNTIME_DIR if set, else /run/nestbox for root, else
 * $XDG_RUNTIME_DIR/nestbox, else /tmp/nestbox-UID. Created and checked as
 * nb_data_dir() is (anyone can make /tmp/nestbox-UID first).
 *
 * Return: 0, or negative errno
 */
int nb_runtime_dir(char *buf, size_t len, struct nb_err *e);

/**
 * nb_mkdir_p() - create a directory and its parents
 * @path:	directory
 * @mode:	mode for the ones created
 * @e:		error
 *
 * Return: 0 (also when it exists), or negative errno
 */
int nb_mkdir_p(const char *path, unsigned mode, struct nb_err *e);

#endif
