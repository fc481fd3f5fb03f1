/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for fs: endpoints, and the server spoken to over a socketpair
 * (INIT negotiation, lookups, the checks on names and ids, read-only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/endpoint.h"
#include "fs/server.h"
#include "lib/fileio.h"

static void test_endpoint_errors(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	bool listening;

	assert_int_equal(nestfs_listen("bogus", &listening, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "bogus"));
	assert_int_equal(nestfs_listen("vsock:port", &listening, &e), -EINVAL);
	assert_int_equal(nestfs_listen("fd:12x", &listening, &e), -EINVAL);
	assert_int_equal(nestfs_listen("unix:", &listening, &e), -EINVAL);
	assert_int_equal(nestfs_connect("vsock:3", &e), -EINVAL);
	assert_int_equal(nestfs_connect("vsock:3:x", &e), -EINVAL);
	assert_int_equal(nestfs_connect("/etc/hostname", &e), -EINVAL);
	assert_int_equal(nestfs_connect("relative", &e), -EINVAL);
	assert_int_equal(nestfs_connect("fd:99999", &e), -EBADF);
	assert_int_equal(nestfs_listen("vsock:2:x", &listening, &e), -EINVAL);
	assert_int_equal(nestfs_listen("vsock::5", &listening, &e), -EINVAL);
}

/* A unix peer of our own uid is let in; a socketpair of another family is not a peer. */
static void test_endpoint_peer_checks(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(nestfs_peer_ok(sp[0], "unix:/x", NESTFS_PEER_CID_ANY, &e), 0);
	close(sp[0]);
	close(sp[1]);
	assert_int_equal(nestfs_peer_ok(0x7fff, "unix:/x", NESTFS_PEER_CID_ANY, &e), -EBADF);
}

static void test_endpoint_unix_roundtrip(void **state)
{
	char dir[] = "/tmp/nestfs-unit-XXXXXX", ep[128];
	struct nb_err e = NB_ERR_INIT;
	bool listening = false;
	struct stat st;
	int l, c, a;

	assert_non_null(mkdtemp(dir));
	snprintf(ep, sizeof(ep), "unix:%s/s", dir);
	l = nestfs_listen(ep, &listening, &e);
	assert_true(l >= 0);
	assert_true(listening);
	assert_int_equal(stat(ep + 5, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	c = nestfs_connect(ep, &e);
	assert_true(c >= 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(c);
	close(l);
	nb_rm_rf(dir);
}

struct fixture {
	char dir[64];
	struct nestfs_server *s;
	int fd;
	uint64_t unique;
};

static void make_tree(struct fixture *f)
{
	char p[128];
	int fd;

	snprintf(f->dir, sizeof(f->dir), "/tmp/nestfs-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(p, sizeof(p), "%s/f", f->dir);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
}

static void start(struct fixture *f, bool ro)
{
	struct nestfs_server_opts o = { .read_only = ro, .cache = NESTFS_CACHE_AUTO, .threads = 2 };
	struct nb_err e = NB_ERR_INIT;
	int sv[2];

	make_tree(f);
	f->s = nestfs_server_new(f->dir, &o, &e);
	assert_non_null(f->s);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(nestfs_server_add_conn(f->s, sv[0], &e), 0);
	f->fd = sv[1];
	f->unique = 10;
}

static void stop(struct fixture *f)
{
	close(f->fd);
	nestfs_server_free(f->s);
	nb_rm_rf(f->dir);
}

/* Send one request; return the reply's error (positive) and body. */
static int call(struct fixture *f, uint32_t op, uint64_t node, const void *body, size_t len,
		void *out, size_t *outlen)
{
	struct fuse_in_header ih = { 0 };
	struct fuse_out_header oh;
	static uint8_t buf[1 << 16];

	ih.len = (uint32_t)(sizeof(ih) + len);
	ih.opcode = op;
	ih.unique = f->unique += 2;
	ih.nodeid = node;
	memcpy(buf, &ih, sizeof(ih));
	if (len)
		memcpy(buf + sizeof(ih), body, len);
	assert_int_equal(nb_write_all(f->fd, buf, ih.len), 0);
	assert_int_equal(nb_read_all(f->fd, &oh, sizeof(oh)), 0);
	assert_int_equal(oh.unique, ih.unique);
	assert_true(oh.len >= sizeof(oh) && oh.len - sizeof(oh) <= sizeof(buf));
	assert_int_equal(nb_read_all(f->fd, buf, oh.len - sizeof(oh)), 0);
	if (out) {
		memcpy(out, buf, oh.len - sizeof(oh) < *outlen ? oh.len - sizeof(oh) : *outlen);
		*outlen = oh.len - sizeof(oh);
	}
	return -oh.error;
}

static size_t init(struct fixture *f, uint32_t minor, struct fuse_init_out *out)
{
	struct fuse_init_in in = { .major = 7, .minor = minor, .max_readahead = 65536,
				   .flags = 0xffffffff };
	size_t n = sizeof(*out);

	memset(out, 0, sizeof(*out));
	assert_int_equal(call(f, FUSE_INIT, 0, &in, sizeof(in), out, &n), 0);
	return n;
}

static uint64_t lookup(struct fixture *f, uint64_t parent, const char *name, int *err)
{
	struct fuse_entry_out eo = { 0 };
	size_t n = sizeof(eo);

	*err = call(f, FUSE_LOOKUP, parent, name, strlen(name) + 1, &eo, &n);
	return eo.nodeid;
}

static void test_init_negotiation(void **state)
{
	struct fixture f = { 0 };
	struct fuse_init_out out;
	struct fuse_getattr_in g = { 0 };

	start(&f, false);
	/* Before INIT: EIO. */
	assert_int_equal(call(&f, FUSE_GETATTR, 1, &g, sizeof(g), NULL, NULL), EIO);
	assert_int_equal(init(&f, 38, &out), sizeof(out));
	assert_int_equal(out.major, 7);
	assert_int_equal(out.minor, 38);
	assert_int_equal(out.max_write, 1u << 20);
	assert_int_equal(out.max_pages, 256);
	assert_true(out.flags & FUSE_ASYNC_READ);
	assert_true(out.flags & FUSE_PARALLEL_DIROPS);
	assert_true(out.flags & FUSE_DO_READDIRPLUS);
	assert_true(out.flags & FUSE_POSIX_LOCKS);
	/* A second INIT on the same connection is refused. */
	{
		struct fuse_init_in in = { 7, 38, 0, 0, 0, { 0 } };

		assert_int_equal(call(&f, FUSE_INIT, 0, &in, sizeof(in), NULL, NULL), EPROTO);
	}
	stop(&f);

	/* An older client gets the reply size of its minor; a newer one ours. */
	start(&f, false);
	assert_int_equal(init(&f, 22, &out), FUSE_COMPAT_22_INIT_OUT_SIZE);
	assert_int_equal(out.minor, 22);
	stop(&f);
	start(&f, false);
	assert_int_equal(init(&f, 44, &out), sizeof(out));
	assert_int_equal(out.minor, FUSE_KERNEL_MINOR_VERSION);
	stop(&f);
	start(&f, false);
	{
		struct fuse_init_in in = { 7, 11, 0, 0, 0, { 0 } };

		assert_int_equal(call(&f, FUSE_INIT, 0, &in, sizeof(in), NULL, NULL), EPROTO);
	}
	stop(&f);
}

static void test_names_and_ids(void **state)
{
	struct fixture f = { 0 };
	struct fuse_init_out out;
	struct fuse_getattr_in g = { 0 };
	char longname[300];
	uint64_t node;
	int err;

	start(&f, false);
	init(&f, 38, &out);
	node = lookup(&f, 1, "f", &err);
	assert_int_equal(err, 0);
	assert_true(node > 1);
	assert_int_equal(lookup(&f, 1, "..", &err), 1);	/* root's .. is the root */
	assert_int_equal(err, 0);
	lookup(&f, 1, "a/b", &err);
	assert_int_equal(err, EINVAL);
	lookup(&f, 1, "", &err);
	assert_int_equal(err, EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	lookup(&f, 1, longname, &err);
	assert_int_equal(err, ENAMETOOLONG);
	lookup(&f, 1, "missing", &err);
	assert_int_equal(err, ENOENT);
	/* A name without its NUL runs off the frame. */
	assert_int_equal(call(&f, FUSE_LOOKUP, 1, "f", 1, NULL, NULL), EINVAL);
	/* Forged and stale ids. */
	assert_int_equal(call(&f, FUSE_GETATTR, node ^ (1ull << 40), &g, sizeof(g), NULL, NULL),
			 ESTALE);
	assert_int_equal(call(&f, FUSE_GETATTR, node + 100, &g, sizeof(g), NULL, NULL), ESTALE);
	assert_int_equal(call(&f, FUSE_GETATTR, 0, &g, sizeof(g), NULL, NULL), ESTALE);
	assert_int_equal(call(&f, FUSE_GETATTR, node, &g, sizeof(g), NULL, NULL), 0);
	assert_int_equal(call(&f, 4242, 1, NULL, 0, NULL, NULL), ENOSYS);
	stop(&f);
}

static void test_read_only(void **state)
{
	struct fixture f = { 0 };
	struct fuse_init_out out;
	struct fuse_mkdir_in m = { 0755, 0 };
	uint8_t body[sizeof(m) + 2];
	struct fuse_open_in o = { O_RDWR, 0 };
	uint64_t node;
	int err;

	start(&f, true);
	init(&f, 38, &out);
	memcpy(body, &m, sizeof(m));
	memcpy(body + sizeof(m), "d", 2);
	assert_int_equal(call(&f, FUSE_MKDIR, 1, body, sizeof(body), NULL, NULL), EROFS);
	node = lookup(&f, 1, "f", &err);
	assert_int_equal(call(&f, FUSE_OPEN, node, &o, sizeof(o), NULL, NULL), EROFS);
	assert_int_equal(call(&f, FUSE_UNLINK, 1, "f", 2, NULL, NULL), EROFS);
	stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_errors),
		cmocka_unit_test(test_endpoint_unix_roundtrip),
		cmocka_unit_test(test_endpoint_peer_checks),
		cmocka_unit_test(test_init_negotiation),
		cmocka_unit_test(test_names_and_ids),
		cmocka_unit_test(test_read_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
