/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the control protocol decoder, as host and guest use it. */
#include <stddef.h>
#include <stdint.h>

#include "control/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct nb_ctl_frame f;
		struct nb_ctl_spawn sp;
		struct nb_ctl_config cfg;
		struct nb_ctl_cur c;
		const char *s;
		uint64_t v64;
		uint32_t v;
		int n = nb_ctl_parse(data + off, size - off, &f);

		if (n <= 0)
			break;
		off += (size_t)n;
		if (nb_ctl_decode_spawn(&f, &sp) == 0)
			nb_ctl_spawn_free(&sp);
		(void)nb_ctl_decode_config(&f, &cfg);
		nb_ctl_cur_init(&c, &f);
		while (nb_ctl_get_u32(&c, &v) == 0 && nb_ctl_get_u64(&c, &v64) == 0 &&
		       nb_ctl_get_str(&c, &s) == 0)
			;
	}
	return 0;
}
