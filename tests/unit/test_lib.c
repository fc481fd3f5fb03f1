/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for lib: errors, paths, file I/O, cleanup helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/paths.h"
#include "lib/strv.h"

static void test_err_set_and_wrap(void **state)
{
	struct nb_err e = NB_ERR_INIT;

	assert_int_equal(nb_err_set(&e, EINVAL, "manifest %s: bad", "sha256:ab"), -EINVAL);
	assert_int_equal(e.code, EINVAL);
	assert_string_equal(e.msg, "manifest sha256:ab: bad");
	assert_int_equal(nb_err_wrap(&e, "pull %s", "busybox"), -EINVAL);
	assert_string_equal(e.msg, "pull busybox: manifest sha256:ab: bad");
	/* A negative code is taken as its absolute value. */
	assert_int_equal(nb_err_set(&e, -ENOENT, "x"), -ENOENT);
	assert_int_equal(e.code, ENOENT);
	nb_err_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.msg, "");
	/* NULL error structs are allowed: only the return value counts. */
	assert_int_equal(nb_err_set(NULL, EIO, "ignored"), -EIO);
}

static void test_err_sys(void **state)
{
	struct nb_err e = NB_ERR_INIT;

	assert_int_equal(nb_err_sys(&e, ENOENT, "open %s", "/nope"), -ENOENT);
	assert_string_equal(e.msg, "open /nope: No such file or directory");
}

static void test_err_truncates(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	char big[3000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	nb_err_set(&e, EIO, "%s", big);
	nb_err_wrap(&e, "ctx");
	assert_int_equal(strlen(e.msg), NB_ERR_MSG_MAX - 1);
	assert_memory_equal(e.msg, "ctx: aaa", 8);
}

static void test_data_dir(void **state)
{
	char base[] = "/tmp/nb-dirs-XXXXXX", buf[256], want[256], real[300];
	struct nb_err e = NB_ERR_INIT;
	struct stat st;

	assert_non_null(mkdtemp(base));
	/* Absent: created 0700. */
	snprintf(want, sizeof(want), "%s/nb", base);
	setenv("NESTBOX_HOME", want, 1);
	assert_int_equal(nb_data_dir(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, want);
	assert_int_equal(lstat(want, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(want, sizeof(want), "%s/rt", base);
	setenv("NESTBOX_RUNTIME_DIR", want, 1);
	assert_int_equal(nb_runtime_dir(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, want);
	/* Writable by others, or a symlink (even to a private dir): refused. */
	assert_int_equal(chmod(want, 0777), 0);
	assert_int_equal(nb_runtime_dir(buf, sizeof(buf), &e), -EPERM);
	assert_non_null(strstr(e.msg, "writable by others"));
	snprintf(real, sizeof(real), "%s/ln", base);
	assert_int_equal(symlink("nb", real), 0);
	setenv("NESTBOX_RUNTIME_DIR", real, 1);
	assert_int_equal(nb_runtime_dir(buf, sizeof(buf), &e), -ELOOP);
	assert_non_null(strstr(e.msg, "is a symlink"));
	unsetenv("NESTBOX_RUNTIME_DIR");
	unsetenv("NESTBOX_HOME");
	/* Too small a buffer is an error, not a truncated path. */
	assert_int_equal(nb_data_dir(buf, 4, NULL), -ENAMETOOLONG);
	assert_int_equal(nb_rm_rf(base), 0);
}

/* An atomic write never writes through a symlink planted where its temp file
 * goes (a state dir another user can reach), nor at the destination. */
static void test_atomic_write_no_follow(void **state)
{
	char dir[] = "/tmp/nb-nofollow-XXXXXX", path[256], tmp[300], victim[300], buf[32];
	struct nb_err e = NB_ERR_INIT;

	assert_non_null(mkdtemp(dir));
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	assert_int_equal(nb_write_file_atomic(victim, "keep", 4, 0600, &e), 0);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(nb_write_file_atomic(path, "new", 3, 0600, &e), 0);
	assert_int_equal(nb_read_file("", victim, buf, sizeof(buf), &e), 4);
	assert_string_equal(buf, "keep");
	assert_int_equal(nb_read_file("", path, buf, sizeof(buf), &e), 3);
	assert_false(nb_path_exists("", tmp));
	assert_int_equal(nb_rm_rf(dir), 0);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/nb-lib-XXXXXX", path[512], buf[8];
	struct nb_err e = NB_ERR_INIT;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(nb_mkdir_p(path, 0755, &e), 0);
	assert_int_equal(nb_mkdir_p(path, 0755, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	snprintf(path, sizeof(path), "%s/a/f", dir);
	assert_int_equal(nb_write_file_atomic(path, "hello world", 11, 0644, &e), 0);
	/* Reads are bounded and NUL-terminated. */
	assert_int_equal(nb_read_file("", path, buf, sizeof(buf), &e), 7);
	assert_string_equal(buf, "hello w");
	assert_true(nb_path_exists(dir, "/a/f"));
	assert_false(nb_path_exists(dir, "/a/g"));
	assert_int_equal(nb_read_file(dir, "/a/g", buf, sizeof(buf), &e), -ENOENT);
	assert_non_null(strstr(e.msg, "/a/g: No such file or directory"));
	/* The atomic write leaves no temp file behind on failure. */
	snprintf(path, sizeof(path), "%s/missing/f", dir);
	assert_true(nb_write_file_atomic(path, "x", 1, 0644, &e) < 0);

	assert_int_equal(nb_rm_rf(dir), 0);
	assert_false(nb_path_exists("", dir));
}

static void test_strip(void **state)
{
	char s[] = "value \t\r\n";

	assert_string_equal(nb_strip(s), "value");
}

static int closed_fd = -1;

static void scope_with_fd(void)
{
	autoclose int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	closed_fd = fd;
}

static void test_cleanup(void **state)
{
	autofree char *p = strdup("x");
	char *q;
	int fd = 5, r;

	scope_with_fd();
	assert_true(closed_fd >= 0);
	assert_int_equal(fcntl(closed_fd, F_GETFD), -1);
	/* cppcheck does not model __attribute__((cleanup)); p is freed by it. */
	q = steal_pointer(&p); // cppcheck-suppress memleak
	assert_null(p);
	assert_string_equal(q, "x");
	free(q);
	r = steal_fd(&fd);
	assert_int_equal(r, 5);
	assert_int_equal(fd, -1);
}

static void test_io_all(void **state)
{
	int p[2];
	char buf[4];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(nb_write_all(p[1], "abc", 3), 0);
	close(p[1]);
	assert_int_equal(nb_read_all(p[0], buf, 3), 0);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(nb_read_all(p[0], buf, 1), -EPIPE);
	close(p[0]);
}

static void test_strv_grows_sets_env_and_steals(void **state)
{
	autostrv struct nb_strv sv = { 0 };
	char **v;

	for (int i = 0; i < 100; i++)
		assert_int_equal(nb_strv_addf(&sv, "arg%d", i), 0);
	assert_int_equal(sv.n, 100);
	assert_string_equal(sv.v[99], "arg99");
	assert_null(sv.v[100]);
	nb_strv_clear(&sv);
	assert_int_equal(nb_strv_setenv(&sv, "A=1"), 0);
	assert_int_equal(nb_strv_setenv(&sv, "AB=2"), 0);
	assert_int_equal(nb_strv_setenv(&sv, "A=3"), 0);
	assert_int_equal(sv.n, 2);
	assert_string_equal(sv.v[0], "A=3");
	assert_string_equal(sv.v[1], "AB=2");
	v = nb_strv_steal(&sv);
	assert_null(sv.v);
	assert_string_equal(v[1], "AB=2");
	assert_null(v[2]);
	nb_strv_free(v);
	/* an empty vector is handed out as { NULL } */
	v = nb_strv_steal(&sv);
	assert_non_null(v);
	assert_null(v[0]);
	nb_strv_free(v);
	/* after a failed add, every add fails and steal gives NULL */
	sv.oom = true;
	assert_int_equal(nb_strv_add(&sv, "x"), -ENOMEM);
	assert_null(nb_strv_steal(&sv));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set_and_wrap),
		cmocka_unit_test(test_err_sys),
		cmocka_unit_test(test_err_truncates),
		cmocka_unit_test(test_data_dir),
		cmocka_unit_test(test_atomic_write_no_follow),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_strip),
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_io_all),
		cmocka_unit_test(test_strv_grows_sets_env_and_steals),
	};

	return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
