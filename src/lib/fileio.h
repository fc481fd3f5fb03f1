/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fileio: bounded whole-file reads and atomic writes, relative to an
 * injectable root (so /proc, /sys and /dev can be faked in unit tests). */
#ifndef NESTBOX_LIB_FILEIO_H
#define NESTBOX_LIB_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/**
 * nb_root_path() - join an injectable root and an absolute path
 * @root:	"" or NULL for the real root, else a directory standing for "/"
 * @path:	absolute path such as "/proc/cmdline"
 * @buf, @len:	output
 *
 * Return: 0, or -ENAMETOOLONG
 */
int nb_root_path(const char *root, const char *path, char *buf, size_t len);

/**
 * nb_read_file() - read at most @cap - 1 bytes of a file, NUL-terminated
 * @root:	injectable root (see nb_root_path())
 * @path:	absolute path
 * @buf, @cap:	output; always NUL-terminated on success
 * @e:		error (may be NULL)
 *
 * Return: bytes read, or negative errno
 */
ssize_t nb_read_file(const char *root, const char *path, char *buf, size_t cap,
		     struct nb_err *e);

/* nb_path_exists() - whether @path exists under @root (lstat) */
bool nb_path_exists(const char *root, const char *path);

/* nb_strip() - remove trailing whitespace in place; returns @s */
char *nb_strip(char *s);

/**
 * nb_write_file_atomic() - write a file through a temp file, fsync, rename
 * @path:	destination
 * @data, @len:	content
 * @mode:	file mode
 * @e:		error
 *
 * Neither the temp file nor @path is ever written through a symlink.
 *
 * Return: 0, or negative errno (nothing left behind on failure)
 */
int nb_write_file_atomic(const char *path, const void *data, size_t len,
			 unsigned mode, struct nb_err *e);

/**
 * nb_write_all() - write all of a buffer, retrying short writes and EINTR
 *
 * Return: 0, or negative errno
 */
int nb_write_all(int fd, const void *buf, size_t len);

/**
 * nb_read_all() - read exactly @len bytes, retrying short reads and EINTR
 *
 * Return: 0, -EPIPE on early EOF, or negative errno
 */
int nb_read_all(int fd, void *buf, size_t len);

/**
 * nb_rm_rf() - remove a file or a directory tree, not following symlinks
 * @path:	what to remove; absent is not an error
 *
 * Return: 0, or negative errno of the first failure (it goes on past it)
 */
int nb_rm_rf(const char *path);

#endif
