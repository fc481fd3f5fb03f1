/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for box/outlog: records written, parsed and replayed to two fds
 * in order, binary-safe; short tails wait, garbage is an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "box/outlog.h"

static int tmpfile_fd(void)
{
	char path[] = "/tmp/nb-outlog-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

/* Everything in @fd from the start, into @buf; its length. */
static size_t slurp(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap, 0);

	assert_true(n >= 0);
	return (size_t)n;
}

static void test_write_parse(void **state)
{
	int fd = tmpfile_fd();
	uint8_t buf[64];
	struct nb_outlog_rec rec;
	size_t len;
	int n;

	assert_int_equal(nb_outlog_write(fd, 1, "ab", 2), 0);
	assert_int_equal(nb_outlog_write(fd, 2, "\0\xff", 2), 0);
	assert_int_equal(nb_outlog_write(fd, 1, "x", 0), 0); /* nothing to say: no record */
	assert_int_equal(nb_outlog_write(fd, 3, "x", 1), -EINVAL);
	len = slurp(fd, buf, sizeof(buf));
	assert_int_equal(len, 2 * (NB_OUTLOG_HDR_LEN + 2));
	assert_memory_equal(buf, "\1\2\0\0\0ab\2\2\0\0\0\0\xff", len);
	n = nb_outlog_parse(buf, len, &rec);
	assert_int_equal(n, 7);
	assert_int_equal(rec.stream, 1);
	assert_int_equal(rec.len, 2);
	assert_memory_equal(rec.data, "ab", 2);
	/* Every prefix of a record asks for more. */
	for (size_t k = 0; k < 7; k++)
		assert_int_equal(nb_outlog_parse(buf + 7, k, &rec), 0);
	assert_int_equal(nb_outlog_parse(buf + 7, 7, &rec), 7);
	assert_int_equal(rec.stream, 2);
	assert_memory_equal(rec.data, "\0\xff", 2);
	close(fd);
}

static void test_parse_rejects(void **state)
{
	struct nb_outlog_rec rec;
	const uint8_t zero_len[] = { 1, 0, 0, 0, 0 };
	const uint8_t bad_stream[] = { 3, 1, 0, 0, 0, 'x' };
	const uint8_t too_big[] = { 2, 0x01, 0x00, 0x10, 0x00 }; /* 1 MiB + 1 */
	const uint8_t text[] = "hello\n"; /* an old plain-text log */

	assert_int_equal(nb_outlog_parse(zero_len, sizeof(zero_len), &rec), -EPROTO);
	assert_int_equal(nb_outlog_parse(bad_stream, 1, &rec), -EPROTO);
	assert_int_equal(nb_outlog_parse(too_big, sizeof(too_big), &rec), -EPROTO);
	assert_int_equal(nb_outlog_parse(text, sizeof(text) - 1, &rec), -EPROTO);
}

/* Output larger than a record is split, and comes back whole. */
static void test_split_large(void **state)
{
	int fd = tmpfile_fd(), out = tmpfile_fd(), err = tmpfile_fd();
	size_t big = NB_OUTLOG_MAX_RECORD * 2 + 17;
	uint8_t *data = malloc(big), *back = malloc(big + 1);
	struct nb_err e = NB_ERR_INIT;
	off_t pos = 0;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(nb_outlog_write(fd, 2, data, big), 0);
	assert_int_equal(nb_outlog_replay(fd, &pos, out, err, "log", &e), 0);
	assert_int_equal(pos, (off_t)(big + 3 * NB_OUTLOG_HDR_LEN));
	assert_int_equal(slurp(out, back, big + 1), 0);
	assert_int_equal(slurp(err, back, big + 1), big);
	assert_memory_equal(back, data, big);
	free(data);
	free(back);
	close(fd);
	close(out);
	close(err);
}

/* Replay keeps the interleaving (one pipe for both) and waits at a short tail. */
static void test_replay_order_and_tail(void **state)
{
	int fd = tmpfile_fd(), p[2];
	uint8_t buf[256];
	struct nb_err e = NB_ERR_INIT;
	off_t pos = 0, whole;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	nb_outlog_write(fd, 1, "o1 ", 3);
	nb_outlog_write(fd, 2, "e1 ", 3);
	nb_outlog_write(fd, 1, "o2", 2);
	whole = lseek(fd, 0, SEEK_END);
	/* A writer killed mid-record: header and half the bytes. */
	assert_int_equal(write(fd, "\2\4\0\0\0ta", 7), 7);
	assert_int_equal(nb_outlog_replay(fd, &pos, p[1], p[1], "log", &e), 0);
	assert_int_equal(pos, whole);
	n = read(p[0], buf, sizeof(buf));
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "o1 e1 o2", 8);
	/* The rest arrives: a follower picks it up from where it stopped. */
	assert_int_equal(write(fd, "il", 2), 2);
	assert_int_equal(nb_outlog_replay(fd, &pos, p[1], p[1], "log", &e), 0);
	n = read(p[0], buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "tail", 4);
	/* Garbage after it: an error naming where. */
	assert_int_equal(write(fd, "junk", 4), 4);
	assert_int_equal(nb_outlog_replay(fd, &pos, p[1], p[1], "log", &e), -EPROTO);
	assert_non_null(strstr(e.msg, "offset"));
	close(p[0]);
	close(p[1]);
	close(fd);
}

/* A closed reader of the output is not an error of the log. */
static void test_replay_epipe(void **state)
{
	int fd = tmpfile_fd(), p[2];
	struct nb_err e = NB_ERR_INIT;
	off_t pos = 0;

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	nb_outlog_write(fd, 1, "x", 1);
	assert_int_equal(nb_outlog_replay(fd, &pos, p[1], p[1], "log", &e), -EPIPE);
	close(p[1]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_parse),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_split_large),
		cmocka_unit_test(test_replay_order_and_tail),
		cmocka_unit_test(test_replay_epipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
