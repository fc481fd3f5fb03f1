/* SPDX-License-Identifier: GPL-2.0-or-later */
/* escape: guest-supplied text made safe to print in nestbox's own messages.
 * A guest's exit or error string, or its console, could otherwise move the
 * cursor, retitle the terminal, or print a line that looks like nestbox's.
 * (The command's own stdout and stderr are never escaped: they stay byte-exact.) */
#ifndef NESTBOX_LIB_ESCAPE_H
#define NESTBOX_LIB_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

/**
 * nb_escape() - @in with every control character made visible
 * @in, @len:	the text, any bytes (a NUL is a byte like another)
 * @out, @cap:	output, always NUL-terminated when @cap > 0; cut before an
 *		escape or character that would not fit whole
 * @newlines:	leave '\n' as it is (a multi-line console tail); else "\n"
 *
 * C0 controls and DEL become \a \b \t \n \v \f \r \e or \xNN, a backslash
 * "\\", C1 controls (U+0080..U+009F) "\u00NN", and bytes that are not
 * well-formed UTF-8 "\xNN"; other UTF-8 text is kept.
 *
 * Return: the length of @out
 */
size_t nb_escape(const char *in, size_t len, char *out, size_t cap, bool newlines);

/* nb_escape_str() - nb_escape() of a NUL-terminated string, one line */
size_t nb_escape_str(const char *in, char *out, size_t cap);

#endif
