/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/parse: command-line values into typed structs (see parse.h). */
#include "cli/parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Decimal digits (at least one, nothing else) into @v, refusing overflow. */
static int digits_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		if (x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -ERANGE;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

/* nb_parse_uint() - see parse.h */
int nb_parse_uint(const char *s, unsigned min, unsigned max, unsigned *v, struct nb_err *e)
{
	uint64_t x;
	int r = digits_u64(s, strlen(s), &x);

	if (r == -EINVAL)
		return nb_err_set(e, EINVAL, "expected a number from %u to %u", min, max);
	if (r < 0 || x < min || x > max)
		return nb_err_set(e, ERANGE, "expected a number from %u to %u", min, max);
	*v = (unsigned)x;
	return 0;
}

/* A port number: digits only, 1-65535. */
static int port_num(const char *s, const char *what, uint16_t *port, struct nb_err *e)
{
	uint64_t v;

	if (digits_u64(s, strlen(s), &v) < 0 || v < 1 || v > 65535)
		return nb_err_set(e, EINVAL, "%s port '%s' is not a number from 1 to 65535", what,
				  s);
	*port = (uint16_t)v;
	return 0;
}

/* nb_parse_port() - see parse.h */
int nb_parse_port(const char *spec, struct nb_port *p, struct nb_err *e)
{
	char buf[128], *addr = NULL, *host, *guest, *slash, *c;
	unsigned char bin[sizeof(struct in6_addr)];

	memset(p, 0, sizeof(*p));
	if ((size_t)snprintf(buf, sizeof(buf), "%s", spec) >= sizeof(buf))
		return nb_err_set(e, EINVAL, "too long");
	slash = strrchr(buf, '/');
	if (slash) {
		*slash++ = 0;
		if (strcmp(slash, "udp") == 0)
			p->proto = NB_PROTO_UDP;
		else if (strcmp(slash, "tcp") != 0)
			return nb_err_set(e, EINVAL, "protocol '%s' is not tcp or udp", slash);
	}
	if (buf[0] == '[') {
		/* [IPv6]:HOST:GUEST: the brackets keep its colons apart */
		addr = buf + 1;
		c = strchr(addr, ']');
		if (!c || c[1] != ':')
			return nb_err_set(e, EINVAL, "expected [ADDR]:HOST:GUEST");
		*c = 0;
		host = c + 2;
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return nb_err_set(e, EINVAL, "'%s' is not an IPv6 address", addr);
		p->family = AF_INET6;
	} else {
		host = buf;
		c = strchr(buf, ':');
		if (c && strchr(c + 1, ':')) {
			addr = buf;
			*c = 0;
			host = c + 1;
		}
		if (addr && strchr(host, ':') && strchr(strchr(host, ':') + 1, ':'))
			return nb_err_set(e, EINVAL,
					  "expected [ADDR:]HOST:GUEST (an IPv6 address goes in "
					  "brackets: [::1]:HOST:GUEST)");
	}
	guest = strchr(host, ':');
	if (!guest)
		return nb_err_set(e, EINVAL, "expected [ADDR:]HOST:GUEST[/tcp|udp]");
	*guest++ = 0;
	if (p->family != AF_INET6) {
		if (!addr || !addr[0])
			addr = "127.0.0.1";
		if (inet_pton(AF_INET, addr, bin) != 1)
			return nb_err_set(e, EINVAL, "'%s' is not an IPv4 or IPv6 address", addr);
		p->family = AF_INET;
	}
	if (port_num(host, "host", &p->host, e) < 0 || port_num(guest, "guest", &p->guest, e) < 0)
		return -EINVAL;
	/* The canonical text of the address, as ps and QEMU get it. */
	if (!inet_ntop(p->family, bin, p->addr, sizeof(p->addr)))
		return nb_err_sys(e, errno, "address %s", addr);
	return 0;
}

/* nb_port_format() - see parse.h */
size_t nb_port_format(const struct nb_port *p, char *buf, size_t len)
{
	bool v6 = p->family == AF_INET6;
	int n = snprintf(buf, len, "%s%s%s:%u->%u/%s", v6 ? "[" : "", p->addr, v6 ? "]" : "",
			 p->host, p->guest, nb_proto_name(p->proto));

	return n < 0 ? 0 : (size_t)n;
}

/* nb_parse_volume() - see parse.h */
int nb_parse_volume(const char *spec, struct nb_volume *v, struct nb_err *e)
{
	char buf[PATH_MAX * 2 + 8], *guest, *mode, *opt, *save = NULL;
	struct stat st;

	memset(v, 0, sizeof(*v));
	if ((size_t)snprintf(buf, sizeof(buf), "%s", spec) >= sizeof(buf))
		return nb_err_set(e, ENAMETOOLONG, "too long");
	guest = strchr(buf, ':');
	if (!guest || guest == buf)
		return nb_err_set(e, EINVAL, "expected HOST:GUEST[:OPTIONS]");
	*guest++ = 0;
	mode = strchr(guest, ':');
	if (mode) {
		*mode++ = 0;
		for (opt = strtok_r(mode, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
			if (!strcmp(opt, "ro") || !strcmp(opt, "rw"))
				v->ro = opt[1] == 'o';
			else if (!strcmp(opt, "suid") || !strcmp(opt, "nosuid"))
				v->suid = opt[0] == 's';
			else if (!strcmp(opt, "dev") || !strcmp(opt, "nodev"))
				v->dev = opt[0] == 'd';
			else
				return nb_err_set(e, EINVAL, "unknown option '%s'", opt);
		}
	}
	if (guest[0] != '/' || strstr(guest, "/..") || strcmp(guest, "/") == 0)
		return nb_err_set(e, EINVAL, "the guest path must be absolute and not /");
	if (strlen(guest) >= sizeof(v->guest))
		return nb_err_set(e, ENAMETOOLONG, "the guest path is too long");
	if (!realpath(buf, v->host))
		return nb_err_sys(e, errno, "%s", buf);
	if (stat(v->host, &st) < 0 || !S_ISDIR(st.st_mode))
		return nb_err_set(e, ENOTDIR, "%s is not a directory", buf);
	snprintf(v->guest, sizeof(v->guest), "%s", guest);
	return 0;
}

/* nb_parse_size_mib() - see parse.h */
int nb_parse_size_mib(const char *s, uint64_t *mib, struct nb_err *e)
{
	static const struct {
		char unit;
		unsigned shift;
	} units[] = { { 'b', 0 }, { 'k', 10 }, { 'm', 20 }, { 'g', 30 }, { 't', 40 } };
	size_t n = strspn(s, "0123456789");
	const char *u = s + n;
	unsigned shift = 20; /* a bare number is MiB */
	uint64_t v;
	int r;

	if (s[0] == '-' || s[0] == '+')
		return nb_err_set(e, EINVAL, "a size takes no sign");
	r = digits_u64(s, n, &v);
	if (r == -EINVAL)
		return nb_err_set(e, EINVAL, "expected a size such as 512M or 2G");
	if (*u) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (tolower((unsigned char)*u) == units[i].unit)
				break;
		if (i == sizeof(units) / sizeof(units[0]) ||
		    (u[1] && strcasecmp(u + 1, "b") != 0 && strcasecmp(u + 1, "ib") != 0) ||
		    (units[i].unit == 'b' && u[1]))
			return nb_err_set(e, EINVAL, "unknown unit '%s' (use B, K, M, G or T)", u);
		shift = units[i].shift;
	}
	/* v << shift must fit 64 bits: no more leading zeros lost than v has */
	if (r == -ERANGE || (v && (unsigned)__builtin_clzll(v) < shift))
		return nb_err_set(e, ERANGE, "too large");
	*mib = (v << shift) >> 20;
	return 0;
}

/* nb_parse_duration_ms() - see parse.h */
int nb_parse_duration_ms(const char *s, unsigned *ms, struct nb_err *e)
{
	const uint64_t day = 86400000;
	size_t n = strspn(s, "0123456789"), f = 0;
	const char *unit = s + n;
	uint64_t whole, frac = 0, scale = 1, mult, total;

	int r = digits_u64(s, n, &whole);

	if (r == -EINVAL)
		return nb_err_set(e, EINVAL, "expected a duration such as 30s, 500ms or 2m");
	if (r < 0)
		return nb_err_set(e, ERANGE, "at most a day");
	if (*unit == '.') {
		f = strspn(unit + 1, "0123456789");
		/* milliseconds of milliseconds are not kept: three digits do */
		for (size_t i = 0; i < f && i < 3; i++) {
			frac = frac * 10 + (uint64_t)(unit[1 + i] - '0');
			scale *= 10;
		}
		unit += 1 + f;
	}
	if (!*unit || strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "m") == 0)
		mult = 60000;
	else
		return nb_err_set(e, EINVAL, "unknown unit '%s' (use ms, s or m)", unit);
	if (whole > day || whole * mult > day)
		return nb_err_set(e, ERANGE, "at most a day");
	total = whole * mult + frac * mult / scale;
	if (total > day)
		return nb_err_set(e, ERANGE, "at most a day");
	if (!total)
		return nb_err_set(e, EINVAL, "must be longer than 0");
	*ms = (unsigned)total;
	return 0;
}

/* nb_parse_kernel() - see parse.h */
int nb_parse_kernel(const char *s, struct nb_kernel_sel *k, struct nb_err *e)
{
	if (!s[0])
		return nb_err_set(e, EINVAL, "expected default, image or a path");
	if (strcmp(s, "default") == 0)
		*k = (struct nb_kernel_sel){ .kind = NB_KERNEL_DEFAULT };
	else if (strcmp(s, "image") == 0)
		*k = (struct nb_kernel_sel){ .kind = NB_KERNEL_IMAGE };
	else
		*k = (struct nb_kernel_sel){ .kind = NB_KERNEL_PATH, .path = s };
	return 0;
}
