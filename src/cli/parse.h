/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/parse: the command line's values into typed structs (vm/spec.h) and
 * numbers. Owns the accepted syntax of -p, -v, --memory, --kernel,
 * --boot-timeout and plain counts; every parser refuses what it does not
 * fully understand (a sign, an overflow, trailing bytes) with a message
 * that names the bad part and the reason, for the caller to prefix with the
 * option. Nothing here formats for QEMU: that is vm/qemu's. */
#ifndef NESTBOX_CLI_PARSE_H
#define NESTBOX_CLI_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "vm/spec.h"

/**
 * nb_parse_port() - "[ADDR:]HOST:GUEST[/tcp|udp]" into @p
 * @spec:	ADDR an IPv4 literal or an IPv6 one in brackets ("[::1]"),
 *		127.0.0.1 when left out or empty; HOST and GUEST 1-65535
 * @p:		output
 *
 * Return: 0, or -EINVAL with @e naming the bad part
 */
int nb_parse_port(const char *spec, struct nb_port *p, struct nb_err *e);

/**
 * nb_port_format() - @p as podman's ps shows it: "127.0.0.1:8080->80/tcp",
 * "[::1]:8080->80/udp"
 * Return: the length it needed (as snprintf); @buf is always terminated
 */
size_t nb_port_format(const struct nb_port *p, char *buf, size_t len);

/**
 * nb_parse_volume() - "HOST:GUEST[:ro|:rw]" into @v; HOST must be an
 * existing directory (resolved with realpath), GUEST absolute and not "/"
 * Return: 0, or negative errno with @e set
 */
int nb_parse_volume(const char *spec, struct nb_volume *v, struct nb_err *e);

/**
 * nb_parse_size_mib() - a size into MiB: digits and an optional unit, B, K,
 * M, G or T (with B or iB after it: "2GiB"); a bare number is MiB
 * @mib:	output, rounded down to whole MiB
 *
 * Return: 0, or -EINVAL (a sign, no digits, an unknown unit) or -ERANGE
 * (more bytes than 64 bits hold) with @e set
 */
int nb_parse_size_mib(const char *s, uint64_t *mib, struct nb_err *e);

/**
 * nb_parse_duration_ms() - "30", "30s", "1.5s", "500ms", "2m" into ms
 * @ms:		output, more than 0 and at most a day
 * Return: 0, or -EINVAL / -ERANGE with @e set
 */
int nb_parse_duration_ms(const char *s, unsigned *ms, struct nb_err *e);

/**
 * nb_parse_uint() - decimal digits only (no sign, no space) from @min to @max
 * Return: 0, or -EINVAL / -ERANGE with @e set
 */
int nb_parse_uint(const char *s, unsigned min, unsigned max, unsigned *v, struct nb_err *e);

/**
 * nb_parse_kernel() - "default", "image" or a path into @k (@k->path
 * points into @s)
 * Return: 0, or -EINVAL for an empty string
 */
int nb_parse_kernel(const char *s, struct nb_kernel_sel *k, struct nb_err *e);

#endif
