/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for box/ctlread: frames cut from any split of the byte stream,
 * decoded callbacks, raw frames, malformed input, stopping from a callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/proto.h"
#include "box/ctlread.h"

struct seen {
	int phases, datas, exits, errors, raws;
	uint32_t last_phase, code;
	uint64_t ns;
	char out[256];
	size_t out_len;
	char msg[64];
	bool error_null;
	int stop_after; /* stop (return -ECANCELED) at this many frames; 0: never */
	int frames;
};

static int count(struct seen *s)
{
	s->frames++;
	return s->stop_after && s->frames >= s->stop_after ? -ECANCELED : 0;
}

static int t_phase(void *ctx, uint32_t phase, uint64_t ns)
{
	struct seen *s = ctx;

	s->phases++;
	s->last_phase = phase;
	s->ns = ns;
	return count(s);
}

static int t_data(void *ctx, const struct nb_ctl_frame *f)
{
	struct seen *s = ctx;

	s->datas++;
	if (f->stream == NB_STREAM_STDOUT && s->out_len + f->len <= sizeof(s->out)) {
		memcpy(s->out + s->out_len, f->payload, f->len);
		s->out_len += f->len;
	}
	return count(s);
}

static int t_exit(void *ctx, const struct nb_ctl_frame *f, uint32_t code, const char *msg)
{
	struct seen *s = ctx;

	s->exits++;
	s->code = code;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	return count(s);
}

static int t_error(void *ctx, const char *msg)
{
	struct seen *s = ctx;

	s->errors++;
	s->error_null = !msg;
	if (msg)
		snprintf(s->msg, sizeof(s->msg), "%s", msg);
	return count(s);
}

static int t_raw(void *ctx, const struct nb_ctl_frame *f)
{
	struct seen *s = ctx;

	s->raws++;
	return count(s);
}

static const struct nb_ctlread_ops all_ops = {
	.phase = t_phase, .data = t_data, .exit = t_exit, .error = t_error, .frame = t_raw,
};

static void sample(struct nb_ctl_buf *b)
{
	nb_ctl_put_phase(b, NB_PHASE_INIT, 1234);
	nb_ctl_put_frame(b, NB_CTL_DATA, NB_STREAM_STDOUT, 0, "he\0l", 4);
	nb_ctl_put_frame(b, NB_CTL_DATA, NB_STREAM_STDERR, 0, "err", 3);
	nb_ctl_put_frame(b, NB_CTL_DATA, NB_STREAM_STDOUT, 0, "lo", 2);
	nb_ctl_put_phase(b, 99, 1);  /* unknown phase: dropped */
	nb_ctl_put_winsize(b, 0, 24, 80); /* no decoded callback: raw */
	nb_ctl_put_exit(b, 0, 42, "bye");
	assert_false(b->oom);
}

static void check_sample(const struct seen *s)
{
	assert_int_equal(s->phases, 1);
	assert_int_equal(s->last_phase, NB_PHASE_INIT);
	assert_true(s->ns == 1234);
	assert_int_equal(s->datas, 3);
	assert_int_equal(s->out_len, 6);
	assert_memory_equal(s->out, "he\0llo", 6);
	assert_int_equal(s->raws, 1);
	assert_int_equal(s->exits, 1);
	assert_int_equal(s->code, 42);
	assert_string_equal(s->msg, "bye");
}

/* Every split of the stream into two feeds gives the same frames. */
static void test_any_split(void **state)
{
	struct nb_ctl_buf b = { 0 };

	sample(&b);
	for (size_t cut = 0; cut <= b.len; cut++) {
		struct seen s = { 0 };
		struct nb_ctlread r;

		nb_ctlread_init(&r, &all_ops, &s);
		assert_int_equal(nb_ctlread_feed(&r, b.data, cut), 0);
		assert_int_equal(nb_ctlread_feed(&r, b.data + cut, b.len - cut), 0);
		assert_int_equal(nb_ctlread_pending(&r), 0);
		check_sample(&s);
		nb_ctlread_free(&r);
	}
	/* One byte at a time. */
	{
		struct seen s = { 0 };
		struct nb_ctlread r;

		nb_ctlread_init(&r, &all_ops, &s);
		for (size_t i = 0; i < b.len; i++)
			assert_int_equal(nb_ctlread_feed(&r, b.data + i, 1), 0);
		check_sample(&s);
		nb_ctlread_free(&r);
	}
	nb_ctl_buf_free(&b);
}

/* Through a real fd, with frames larger than one read. */
static void test_read_from_fd(void **state)
{
	struct nb_ctl_buf b = { 0 };
	static uint8_t big[NB_CTL_MAX_PAYLOAD];
	struct seen s = { 0 };
	struct nb_ctlread r;
	int p[2];
	ssize_t n;

	memset(big, 'x', sizeof(big));
	nb_ctl_put_frame(&b, NB_CTL_DATA, NB_STREAM_STDERR, 0, big, sizeof(big));
	nb_ctl_put_exit(&b, 0, 7, "");
	assert_int_equal(pipe(p), 0);
	nb_ctlread_init(&r, &all_ops, &s);
	/* A pipe holds 64 KiB: write and read in turns. */
	for (size_t off = 0; off < b.len;) {
		size_t chunk = b.len - off < 60000 ? b.len - off : 60000;

		assert_int_equal(write(p[1], b.data + off, chunk), (ssize_t)chunk);
		off += chunk;
		n = nb_ctlread_read(&r, p[0]);
		assert_int_equal(n, (ssize_t)chunk);
		assert_true(r.cap <= NB_CTLREAD_MAX_BUF);
	}
	assert_int_equal(s.datas, 1);
	assert_int_equal(s.exits, 1);
	assert_int_equal(s.code, 7);
	close(p[1]);
	assert_int_equal(nb_ctlread_read(&r, p[0]), 0); /* EOF */
	close(p[0]);
	nb_ctlread_free(&r);
	nb_ctl_buf_free(&b);
}

/* A bad header is -EPROTO and drops the buffer; later frames still work. */
static void test_malformed(void **state)
{
	uint8_t bad[8] = { 0xff, 0xff, 0xff, 0xff, NB_CTL_DATA, 1, 0, 0 };
	uint8_t badtype[8] = { 0, 0, 0, 0, 200, 0, 0, 0 };
	struct nb_ctl_buf b = { 0 };
	struct seen s = { 0 };
	struct nb_ctlread r;

	nb_ctlread_init(&r, &all_ops, &s);
	assert_int_equal(nb_ctlread_feed(&r, bad, sizeof(bad)), -EPROTO);
	assert_int_equal(nb_ctlread_pending(&r), 0);
	assert_int_equal(nb_ctlread_feed(&r, badtype, sizeof(badtype)), -EPROTO);
	/* An ERROR whose string does not decode reaches @error as NULL. */
	nb_ctl_put_frame(&b, NB_CTL_ERROR, 0, 0, "\5\0\0\0ab", 6);
	/* An EXIT too short to decode is dropped. */
	nb_ctl_put_frame(&b, NB_CTL_EXIT, 0, 0, "\1", 1);
	nb_ctl_put_error(&b, "no root");
	assert_int_equal(nb_ctlread_feed(&r, b.data, b.len), 0);
	assert_int_equal(s.errors, 2);
	assert_int_equal(s.exits, 0);
	assert_string_equal(s.msg, "no root");
	nb_ctlread_free(&r);
	nb_ctl_buf_free(&b);
}

/* A callback that stops: the rest waits, nothing is delivered twice. */
static void test_stop_and_resume(void **state)
{
	struct nb_ctl_buf b = { 0 };
	struct seen s = { .stop_after = 2 };
	struct nb_ctlread r;

	sample(&b);
	nb_ctlread_init(&r, &all_ops, &s);
	assert_int_equal(nb_ctlread_feed(&r, b.data, b.len), -ECANCELED);
	assert_int_equal(s.frames, 2);
	s.stop_after = 3;
	/* The next call resumes where it stopped, bytes or none. */
	assert_int_equal(nb_ctlread_feed(&r, NULL, 0), -ECANCELED);
	assert_int_equal(s.frames, 3);
	s.stop_after = 0;
	nb_ctl_buf_free(&b);
	nb_ctl_put_phase(&b, NB_PHASE_ROOT, 5);
	assert_int_equal(nb_ctlread_feed(&r, b.data, b.len), 0);
	assert_int_equal(s.phases, 2);
	assert_int_equal(s.datas, 3);
	assert_int_equal(s.exits, 1);
	assert_int_equal(s.out_len, 6);
	nb_ctlread_free(&r);
	nb_ctl_buf_free(&b);
}

/* With only @frame, every frame arrives raw. */
static void test_raw_only(void **state)
{
	static const struct nb_ctlread_ops raw_ops = { .frame = t_raw };
	struct nb_ctl_buf b = { 0 };
	struct seen s = { 0 };
	struct nb_ctlread r;

	sample(&b);
	nb_ctlread_init(&r, &raw_ops, &s);
	assert_int_equal(nb_ctlread_feed(&r, b.data, b.len), 0);
	assert_int_equal(s.raws, 7);
	nb_ctlread_free(&r);
	nb_ctl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_any_split),
		cmocka_unit_test(test_read_from_fd),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_stop_and_resume),
		cmocka_unit_test(test_raw_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
