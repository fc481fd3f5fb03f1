/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for box/state's records: create under a name or a generated
 * one, name conflicts, the owner's lock telling running from stale. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "box/state.h"

static char rt[PATH_MAX];

static int setup(void **state)
{
	snprintf(rt, sizeof(rt), "/tmp/nb-records-XXXXXX");
	assert_non_null(mkdtemp(rt));
	setenv("NESTBOX_RUNTIME_DIR", rt, 1);
	return 0;
}

static int teardown(void **state)
{
	nb_rm_rf(rt);
	return 0;
}

static int new_record(struct nb_vm_state *st, const char *name, struct nb_err *e)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", name);
	snprintf(st->status, sizeof(st->status), "running");
	st->exit_code = -1;
	st->pid = getpid();
	return nb_state_create(st, e);
}

static void test_create_conflict_and_stale(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	struct nb_vm_state a, b, got;
	int fd = new_record(&a, "web", &e);

	assert_true(fd >= 0);
	assert_int_equal(strlen(a.id), 12);
	/* Running: the lock is held, whatever happens to state.json. */
	assert_int_equal(nb_state_find("web", &got, &e), 0);
	assert_true(got.alive);
	assert_string_equal(got.status, "running");
	assert_false(nb_state_lock_free(&got));
	/* The name is taken, with the owner's id in the message. */
	assert_int_equal(new_record(&b, "web", &e), -EEXIST);
	assert_non_null(strstr(e.msg, "already in use"));
	assert_non_null(strstr(e.msg, a.id));
	assert_int_equal(nb_state_check_name("web", NULL), -EEXIST);
	assert_int_equal(nb_state_check_name("other", NULL), 0);
	/* The owner dies without recording the end: exited, code unknown. */
	close(fd);
	assert_int_equal(nb_state_find(a.id, &got, &e), 0);
	assert_false(got.alive);
	assert_string_equal(got.status, "exited");
	assert_int_equal(got.exit_code, -1);
	assert_true(nb_state_lock_free(&got));
	assert_true(nb_state_wait_unlocked(&got, 0));
	/* Read again into itself (wait does): the directory survives. */
	assert_int_equal(nb_state_read(got.dir, &got, &e), 0);
	assert_string_equal(got.id, a.id);
	/* Still taken until removed. */
	assert_int_equal(nb_state_check_name("web", NULL), -EEXIST);
	nb_state_remove(got.dir);
	assert_int_equal(nb_state_check_name("web", NULL), 0);
	/* The last record gone: vms/ too. */
	assert_int_equal(access(got.dir, F_OK), -1);
	{
		char vms[PATH_MAX + 8];

		snprintf(vms, sizeof(vms), "%s/vms", rt);
		assert_int_equal(access(vms, F_OK), -1);
	}
}

static void test_generated_names_differ(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	struct nb_vm_state st[12];
	int fds[12];
	regex_t re;

	assert_int_equal(regcomp(&re, "^[a-z]+_[a-z]+[0-9]*$", REG_EXTENDED | REG_NOSUB), 0);
	for (int i = 0; i < 12; i++) {
		fds[i] = new_record(&st[i], "", &e);
		assert_true(fds[i] >= 0);
		assert_int_equal(regexec(&re, st[i].name, 0, NULL, 0), 0);
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(st[i].name, st[j].name);
			assert_string_not_equal(st[i].id, st[j].id);
		}
	}
	regfree(&re);
	for (int i = 0; i < 12; i++) {
		close(fds[i]);
		nb_state_remove(st[i].dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_conflict_and_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generated_names_differ, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
