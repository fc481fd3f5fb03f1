/* SPDX-License-Identifier: GPL-2.0-or-later */
/* escape: control characters in guest text made visible (see escape.h). */
#include "lib/escape.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* utf8_len() - the length of the well-formed UTF-8 character at @p (at most
 * @n bytes there), its code point in @cp; 0 when it is not one */
static size_t utf8_len(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t k;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		k = 2, c = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		k = 3, c = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		k = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return k;
}

/* nb_escape() - see escape.h */
size_t nb_escape(const char *in, size_t len, char *out, size_t cap, bool newlines)
{
	static const char named[] = { [7] = 'a', [8] = 'b', [9] = 't', [10] = 'n', [11] = 'v',
				      [12] = 'f', [13] = 'r', [27] = 'e' };
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		char esc[8];
		const char *put = esc;
		size_t n, used;
		uint32_t cp = 0;

		n = utf8_len(p + i, len - i, &cp);
		if (n == 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			used = 4, n = 1;
		} else if (cp == '\n' && newlines) {
			esc[0] = '\n';
			used = 1;
		} else if (cp == '\\') {
			esc[0] = esc[1] = '\\';
			used = 2;
		} else if (cp < 0x20 || cp == 0x7f) {
			if (cp < sizeof(named) && named[cp]) {
				esc[0] = '\\';
				esc[1] = named[cp];
				used = 2;
			} else {
				snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
				used = 4;
			}
		} else if (cp >= 0x80 && cp <= 0x9f) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
			used = 6;
		} else {
			put = in + i;
			used = n;
		}
		if (o + used >= cap)
			break;
		memcpy(out + o, put, used);
		o += used;
		i += n;
	}
	out[o] = '\0';
	return o;
}

/* nb_escape_str() - see escape.h */
size_t nb_escape_str(const char *in, char *out, size_t cap)
{
	return nb_escape(in, strlen(in), out, cap, false);
}
