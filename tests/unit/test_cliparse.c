/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for cli/parse: ports, sizes, durations, counts, volumes, kernels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/parse.h"

static void test_port_forms(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	struct nb_port p;
	char out[96];

	assert_int_equal(nb_parse_port("8080:80", &p, &e), 0);
	assert_int_equal(p.family, AF_INET);
	assert_string_equal(p.addr, "127.0.0.1");
	assert_int_equal(p.host, 8080);
	assert_int_equal(p.guest, 80);
	assert_int_equal(p.proto, NB_PROTO_TCP);
	nb_port_format(&p, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1:8080->80/tcp");

	assert_int_equal(nb_parse_port("0.0.0.0:53:53/udp", &p, &e), 0);
	assert_string_equal(p.addr, "0.0.0.0");
	assert_int_equal(p.proto, NB_PROTO_UDP);
	assert_int_equal(nb_parse_port(":1:2/tcp", &p, &e), 0);
	assert_string_equal(p.addr, "127.0.0.1");

	/* IPv6 in brackets, kept in its canonical form */
	assert_int_equal(nb_parse_port("[0:0::1]:8080:80", &p, &e), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_string_equal(p.addr, "::1");
	nb_port_format(&p, out, sizeof(out));
	assert_string_equal(out, "[::1]:8080->80/tcp");
}

static void test_port_refusals_name_the_part(void **state)
{
	static const struct {
		const char *spec, *word;
	} bad[] = {
		{ "127.0.0.1,restrict=on:8080:80", "'127.0.0.1,restrict=on' is not an IPv4" },
		{ "8080:80:90", "'8080' is not an IPv4 or IPv6 address" },
		{ "80", "expected [ADDR:]HOST:GUEST" },
		{ "1:99999", "guest port '99999'" },
		{ "0:80", "host port '0'" },
		{ "+1:80", "host port '+1'" },
		{ "1: 80", "guest port ' 80'" },
		{ "1:2/sctp", "protocol 'sctp'" },
		{ "::1:8080:80", "brackets" },
		{ "[::1:8080:80", "expected [ADDR]:HOST:GUEST" },
		{ "[127.0.0.1]:1:2", "'127.0.0.1' is not an IPv6 address" },
		{ "1.2.3:1:2", "'1.2.3' is not" },
		{ "", "expected" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nb_err e = NB_ERR_INIT;
		struct nb_port p;

		assert_int_equal(nb_parse_port(bad[i].spec, &p, &e), -EINVAL);
		if (!strstr(e.msg, bad[i].word))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].spec, e.msg, bad[i].word);
	}
}

static void test_sizes_without_sign_or_overflow(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	uint64_t mib;

	assert_int_equal(nb_parse_size_mib("1G", &mib, &e), 0);
	assert_int_equal(mib, 1024);
	assert_int_equal(nb_parse_size_mib("512M", &mib, &e), 0);
	assert_int_equal(mib, 512);
	assert_int_equal(nb_parse_size_mib("256", &mib, &e), 0);
	assert_int_equal(mib, 256);
	assert_int_equal(nb_parse_size_mib("2GiB", &mib, &e), 0);
	assert_int_equal(mib, 2048);
	assert_int_equal(nb_parse_size_mib("2gb", &mib, &e), 0);
	assert_int_equal(mib, 2048);
	assert_int_equal(nb_parse_size_mib("131072k", &mib, &e), 0);
	assert_int_equal(mib, 128);
	assert_int_equal(nb_parse_size_mib("1T", &mib, &e), 0);
	assert_int_equal(mib, 1024 * 1024);
	assert_int_equal(nb_parse_size_mib("1048576b", &mib, &e), 0);
	assert_int_equal(mib, 1);
	/* the largest that fits: 2^64 - 1 bytes is 2^44 - 1 MiB */
	assert_int_equal(nb_parse_size_mib("16777215T", &mib, &e), 0);
	assert_true(mib == (16777215ull << 20));

	assert_int_equal(nb_parse_size_mib("-1", &mib, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "sign"));
	assert_int_equal(nb_parse_size_mib("+1G", &mib, &e), -EINVAL);
	assert_int_equal(nb_parse_size_mib("18014398509481985G", &mib, &e), -ERANGE);
	assert_int_equal(nb_parse_size_mib("16777216T", &mib, &e), -ERANGE);
	assert_int_equal(nb_parse_size_mib("17592186044416", &mib, &e), -ERANGE);
	assert_int_equal(nb_parse_size_mib("99999999999999999999999", &mib, &e), -ERANGE);
	assert_int_equal(nb_parse_size_mib("lots", &mib, &e), -EINVAL);
	assert_int_equal(nb_parse_size_mib("", &mib, &e), -EINVAL);
	assert_int_equal(nb_parse_size_mib(" 1G", &mib, &e), -EINVAL);
	assert_int_equal(nb_parse_size_mib("1X", &mib, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "'X'"));
	assert_int_equal(nb_parse_size_mib("1Gx", &mib, &e), -EINVAL);
	assert_int_equal(nb_parse_size_mib("1bb", &mib, &e), -EINVAL);
}

static void test_durations_and_counts(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	unsigned v;

	assert_int_equal(nb_parse_duration_ms("30s", &v, &e), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(nb_parse_duration_ms("30", &v, &e), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(nb_parse_duration_ms("500ms", &v, &e), 0);
	assert_int_equal(v, 500);
	assert_int_equal(nb_parse_duration_ms("2m", &v, &e), 0);
	assert_int_equal(v, 120000);
	assert_int_equal(nb_parse_duration_ms("1.5s", &v, &e), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(nb_parse_duration_ms("1440m", &v, &e), 0);
	assert_int_equal(v, 86400000);
	assert_int_equal(nb_parse_duration_ms("soon", &v, &e), -EINVAL);
	assert_int_equal(nb_parse_duration_ms("-1s", &v, &e), -EINVAL);
	assert_int_equal(nb_parse_duration_ms("nan", &v, &e), -EINVAL);
	assert_int_equal(nb_parse_duration_ms("0", &v, &e), -EINVAL);
	assert_int_equal(nb_parse_duration_ms("0.0001s", &v, &e), -EINVAL);
	assert_int_equal(nb_parse_duration_ms("1441m", &v, &e), -ERANGE);
	assert_int_equal(nb_parse_duration_ms("99999999999999999999s", &v, &e), -ERANGE);

	assert_int_equal(nb_parse_uint("2", 1, 64, &v, &e), 0);
	assert_int_equal(v, 2);
	assert_int_equal(nb_parse_uint("0", 1, 64, &v, &e), -ERANGE);
	assert_int_equal(nb_parse_uint("65", 1, 64, &v, &e), -ERANGE);
	assert_int_equal(nb_parse_uint("-1", 1, 64, &v, &e), -EINVAL);
	assert_int_equal(nb_parse_uint("2 ", 1, 64, &v, &e), -EINVAL);
	assert_int_equal(nb_parse_uint("18446744073709551617", 1, 64, &v, &e), -ERANGE);
}

static void test_volumes_and_kernels(void **state)
{
	char dir[] = "/tmp/nb-vol-XXXXXX", spec[128], real[PATH_MAX];
	struct nb_err e = NB_ERR_INIT;
	struct nb_kernel_sel k;
	struct nb_volume v;

	assert_non_null(mkdtemp(dir));
	assert_non_null(realpath(dir, real));
	snprintf(spec, sizeof(spec), "%s:/data:ro", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), 0);
	assert_string_equal(v.host, real);
	assert_string_equal(v.guest, "/data");
	assert_true(v.ro);
	assert_false(v.suid);	/* nosuid and nodev unless asked */
	assert_false(v.dev);
	snprintf(spec, sizeof(spec), "%s:/data:suid,dev", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), 0);
	assert_true(v.suid && v.dev && !v.ro);
	snprintf(spec, sizeof(spec), "%s:/data:dev,ro,nodev,nosuid", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), 0);
	assert_true(v.ro && !v.suid && !v.dev);
	snprintf(spec, sizeof(spec), "%s:/data:ro,exec", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "'exec'"));
	snprintf(spec, sizeof(spec), "%s:/data:rx", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), -EINVAL);
	snprintf(spec, sizeof(spec), "%s:/", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), -EINVAL);
	snprintf(spec, sizeof(spec), "%s:/a/../b", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), -EINVAL);
	snprintf(spec, sizeof(spec), "%s/missing:/x", dir);
	assert_int_equal(nb_parse_volume(spec, &v, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "missing"));
	assert_int_equal(nb_parse_volume(":/x", &v, &e), -EINVAL);
	assert_int_equal(rmdir(dir), 0);

	assert_int_equal(nb_parse_kernel("default", &k, &e), 0);
	assert_int_equal(k.kind, NB_KERNEL_DEFAULT);
	assert_null(k.path);
	assert_int_equal(nb_parse_kernel("image", &k, &e), 0);
	assert_int_equal(k.kind, NB_KERNEL_IMAGE);
	assert_int_equal(nb_parse_kernel("./vmlinux", &k, &e), 0);
	assert_int_equal(k.kind, NB_KERNEL_PATH);
	assert_string_equal(k.path, "./vmlinux");
	assert_int_equal(nb_parse_kernel("", &k, &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_forms),
		cmocka_unit_test(test_port_refusals_name_the_part),
		cmocka_unit_test(test_sizes_without_sign_or_overflow),
		cmocka_unit_test(test_durations_and_counts),
		cmocka_unit_test(test_volumes_and_kernels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
