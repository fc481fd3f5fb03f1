/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the command line's parsers (cli/parse.h) on arbitrary
 * strings. The first byte picks the parser; what comes back accepted must
 * hold up: ports in range with a canonical address, sizes that fit. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[512], out[128];
	unsigned char bin[sizeof(struct in6_addr)];
	struct nb_kernel_sel k;
	struct nb_port p, again;
	uint64_t mib;
	unsigned v;

	if (size < 1 || size > sizeof(s))
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	switch (data[0] % 5) {
	case 0:
		if (nb_parse_port(s, &p, NULL) == 0) {
			if (!p.host || !p.guest || inet_pton(p.family, p.addr, bin) != 1)
				abort();
			/* the canonical form parses back to itself */
			if (p.family == AF_INET6)
				snprintf(out, sizeof(out), "[%s]:%u:%u/%s", p.addr, p.host, p.guest,
					 nb_proto_name(p.proto));
			else
				snprintf(out, sizeof(out), "%s:%u:%u/%s", p.addr, p.host, p.guest,
					 nb_proto_name(p.proto));
			if (nb_parse_port(out, &again, NULL) != 0 || again.family != p.family ||
			    strcmp(again.addr, p.addr) != 0 || again.host != p.host ||
			    again.guest != p.guest || again.proto != p.proto)
				abort();
			nb_port_format(&p, out, sizeof(out));
		}
		break;
	case 1:
		if (nb_parse_size_mib(s, &mib, NULL) == 0 && mib >= (1ull << 44))
			abort();
		break;
	case 2:
		if (nb_parse_duration_ms(s, &v, NULL) == 0 && (v == 0 || v > 86400000))
			abort();
		break;
	case 3:
		if (nb_parse_uint(s, 1, 64, &v, NULL) == 0 && (v < 1 || v > 64))
			abort();
		break;
	default:
		if (nb_parse_kernel(s, &k, NULL) == 0 && k.kind == NB_KERNEL_PATH && !k.path)
			abort();
		break;
	}
	return 0;
}
