/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the host's control reader (box/ctlread) fed what a guest
 * might send, cut at a point the input chooses; and the output log parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "box/ctlread.h"
#include "box/outlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int f_phase(void *ctx, uint32_t phase, uint64_t ns)
{
	return phase >= 1 && phase <= NB_PHASE_MAX ? 0 : -1;
}

static int f_data(void *ctx, const struct nb_ctl_frame *f)
{
	volatile uint8_t sink = 0;

	for (uint32_t i = 0; i < f->len; i++)
		sink ^= f->payload[i];
	(void)sink;
	return 0;
}

static int f_exit(void *ctx, const struct nb_ctl_frame *f, uint32_t code, const char *msg)
{
	return strlen(msg) < NB_CTL_MAX_PAYLOAD ? 0 : -1;
}

static int f_error(void *ctx, const char *msg)
{
	return msg && strlen(msg) >= NB_CTL_MAX_PAYLOAD ? -1 : 0;
}

static int f_frame(void *ctx, const struct nb_ctl_frame *f)
{
	int *n = ctx;

	/* Stop now and then: the next call must resume cleanly. */
	return ++*n % 7 == 0 ? -2 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct nb_ctlread_ops ops = {
		.phase = f_phase, .data = f_data, .exit = f_exit, .error = f_error,
		.frame = f_frame,
	};
	struct nb_ctlread r;
	size_t cut = size ? data[0] % (size + 1) : 0;
	int n = 0;

	nb_ctlread_init(&r, &ops, &n);
	(void)nb_ctlread_feed(&r, data, cut);
	(void)nb_ctlread_feed(&r, data + cut, size - cut);
	while (nb_ctlread_feed(&r, NULL, 0) == -2)
		;
	nb_ctlread_free(&r);

	for (size_t off = 0; off < size;) {
		struct nb_outlog_rec rec;
		int k = nb_outlog_parse(data + off, size - off, &rec);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
	return 0;
}
