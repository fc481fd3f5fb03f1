/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for run's parts: control frames, cpio, module order, option parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/cpio.h"
#include "control/proto.h"
#include "vm/qemu.h"
#include "vm/share.h"
#include "box/run.h"
#include "box/state.h"
#include "lib/fileio.h"
#include "lib/paths.h"

static void test_frames_round_trip(void **state)
{
	struct nb_ctl_buf b = { 0 };
	char *argv[] = { "sh", "-c", "echo hi", NULL }, *env[] = { "A=1", NULL };
	struct nb_ctl_spawn sp = { .flags = NB_SPAWN_TTY, .rows = 24, .cols = 80,
				   .cwd = "/w", .user = "1000:1000", .argv = argv, .env = env };
	struct nb_ctl_config cfg = { .hostname = "h", .net = 1, .nshares = 1 };
	struct nb_ctl_frame f;
	struct nb_ctl_spawn got;
	struct nb_ctl_config gc;
	struct nb_ctl_cur c;
	uint64_t ns;
	uint32_t v;
	size_t off = 0;
	int n;

	cfg.shares[0] = (struct nb_ctl_share){ "nestbox.fs.0", "/", NB_SHARE_ROOT | NB_SHARE_RO };
	nb_ctl_put_phase(&b, NB_PHASE_ROOT, 0x123456789ull);
	nb_ctl_put_spawn(&b, 7, &sp);
	nb_ctl_put_config(&b, &cfg);
	nb_ctl_put_frame(&b, NB_CTL_DATA, NB_STREAM_STDERR, 7, "\0x", 2);
	assert_false(b.oom);

	n = nb_ctl_parse(b.data, b.len, &f);
	assert_true(n > 0);
	assert_int_equal(f.type, NB_CTL_PHASE);
	nb_ctl_cur_init(&c, &f);
	assert_int_equal(nb_ctl_get_u32(&c, &v), 0);
	assert_int_equal(v, NB_PHASE_ROOT);
	assert_int_equal(nb_ctl_get_u64(&c, &ns), 0);
	assert_true(ns == 0x123456789ull);
	off += (size_t)n;

	n = nb_ctl_parse(b.data + off, b.len - off, &f);
	assert_true(n > 0);
	assert_int_equal(f.proc, 7);
	assert_int_equal(nb_ctl_decode_spawn(&f, &got), 0);
	assert_int_equal(got.flags, NB_SPAWN_TTY);
	assert_int_equal(got.rows, 24);
	assert_string_equal(got.cwd, "/w");
	assert_string_equal(got.user, "1000:1000");
	assert_string_equal(got.argv[2], "echo hi");
	assert_null(got.argv[3]);
	assert_string_equal(got.env[0], "A=1");
	nb_ctl_spawn_free(&got);
	off += (size_t)n;

	n = nb_ctl_parse(b.data + off, b.len - off, &f);
	assert_int_equal(nb_ctl_decode_config(&f, &gc), 0);
	assert_string_equal(gc.hostname, "h");
	assert_int_equal(gc.nshares, 1);
	assert_string_equal(gc.shares[0].port, "nestbox.fs.0");
	off += (size_t)n;

	n = nb_ctl_parse(b.data + off, b.len - off, &f);
	assert_int_equal(f.len, 2);
	assert_int_equal(f.stream, NB_STREAM_STDERR);
	assert_memory_equal(f.payload, "\0x", 2);
	off += (size_t)n;
	assert_int_equal(off, b.len);
	nb_ctl_buf_free(&b);
}

static void test_decoder_refuses_short_and_bad_input(void **state)
{
	struct nb_ctl_buf b = { 0 };
	char *argv[] = { "x", NULL };
	struct nb_ctl_spawn sp = { .cwd = "", .user = "", .argv = argv, .env = NULL };
	struct nb_ctl_frame f;
	struct nb_ctl_spawn got;
	uint8_t hdr[8] = { 0xff, 0xff, 0xff, 0x7f, NB_CTL_DATA, 0, 0, 0 };

	/* Oversized payloads and unknown types are protocol errors. */
	assert_int_equal(nb_ctl_parse(hdr, sizeof(hdr), &f), -EPROTO);
	hdr[0] = hdr[1] = hdr[2] = hdr[3] = 0;
	hdr[4] = 99;
	assert_int_equal(nb_ctl_parse(hdr, sizeof(hdr), &f), -EPROTO);
	/* Incomplete frames ask for more. */
	nb_ctl_put_spawn(&b, 1, &sp);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(nb_ctl_parse(b.data, i, &f), 0);
	/* Every truncation of a SPAWN payload is refused by the decoder. */
	assert_true(nb_ctl_parse(b.data, b.len, &f) > 0);
	for (uint32_t len = 0; len < f.len; len++) {
		struct nb_ctl_frame t = f;

		t.len = len;
		assert_int_equal(nb_ctl_decode_spawn(&t, &got), -EPROTO);
	}
	/* A string whose NUL is missing is refused: argv[0] "x\0" ends 4 bytes
	 * before the frame (the env count follows it). */
	assert_int_equal(b.data[b.len - 5], 0);
	b.data[b.len - 5] = 'z';
	assert_int_equal(nb_ctl_decode_spawn(&f, &got), -EPROTO);
	nb_ctl_buf_free(&b);
}

static void test_ctl_flush_keeps_on_full_drops_on_closed(void **state)
{
	static uint8_t big[256 * 1024];
	struct nb_ctl_buf b = { 0 };
	uint8_t got[64];
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	nb_ctl_put_frame(&b, NB_CTL_DATA, NB_STREAM_STDOUT, 0, "hi", 2);
	assert_int_equal(nb_ctl_buf_flush(&b, sp[0], 0), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(read(sp[1], got, sizeof(got)), NB_CTL_HDR_LEN + 2);
	/* more than the socket holds: what is left is kept for later */
	for (int i = 0; i < 16; i++)
		nb_ctl_put_frame(&b, NB_CTL_DATA, NB_STREAM_STDOUT, 0, big, NB_CTL_DATA_CHUNK);
	assert_int_equal(nb_ctl_buf_flush(&b, sp[0], 0), -EAGAIN);
	assert_true(b.len > 0);
	/* waiting a little for room that never comes gives up and drops it */
	assert_int_equal(nb_ctl_buf_flush(&b, sp[0], 10), -ETIMEDOUT);
	assert_int_equal(b.len, 0);
	/* a closed peer: dropped at once */
	close(sp[1]);
	signal(SIGPIPE, SIG_IGN);
	nb_ctl_put_frame(&b, NB_CTL_DATA, NB_STREAM_STDOUT, 0, "x", 1);
	assert_int_equal(nb_ctl_buf_flush(&b, sp[0], 1000), -EPIPE);
	assert_int_equal(b.len, 0);
	close(sp[0]);
	nb_ctl_buf_free(&b);
}

static void test_cpio_newc_layout(void **state)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	struct nb_cpio c;
	struct nb_err e = NB_ERR_INIT;

	nb_cpio_init(&c, f);
	assert_int_equal(nb_cpio_add(&c, "dir", S_IFDIR | 0755, NULL, 0, 0, 0, &e), 0);
	assert_int_equal(nb_cpio_add(&c, "dir/file", S_IFREG | 0644, "abcde", 5, 0, 0, &e), 0);
	assert_int_equal(nb_cpio_finish(&c, &e), 0);
	fclose(f);
	assert_int_equal(len % 4, 0);
	assert_memory_equal(mem, "070701", 6);
	/* Second header starts 4-aligned after "dir\0" (110 + 4 = 114 -> 116). */
	assert_memory_equal(mem + 116, "070701", 6);
	/* File size field of the second entry: 5. */
	assert_memory_equal(mem + 116 + 6 + 6 * 8, "00000005", 8);
	assert_non_null(memmem(mem, len, "abcde", 5));
	assert_non_null(memmem(mem, len, "TRAILER!!!", 10));
	free(mem);
}

static void test_modules_resolved_deps_first(void **state)
{
	char dir[] = "/tmp/nb-mod-XXXXXX", path[64];
	const char *names[] = { "virtio-net", "overlay", NULL };
	const char *missing[] = { "nosuch", NULL };
	struct nb_err e = NB_ERR_INIT;
	char **out = NULL;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	f = fopen(path, "w");
	fputs("kernel/virtio_ring.ko:\n"
	      "kernel/virtio.ko: kernel/virtio_ring.ko\n"
	      "kernel/drivers/net/virtio_net.ko: kernel/net_failover.ko kernel/failover.ko "
	      "kernel/virtio.ko kernel/virtio_ring.ko\n"
	      "kernel/net_failover.ko: kernel/failover.ko\n"
	      "kernel/failover.ko:\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/modules.builtin", dir);
	f = fopen(path, "w");
	fputs("kernel/fs/overlayfs/overlay.ko\n", f);
	fclose(f);
	assert_int_equal(nb_modules_resolve(dir, names, &out, &e), 5);
	assert_string_equal(out[0], "kernel/virtio_ring.ko");
	assert_string_equal(out[1], "kernel/virtio.ko");
	assert_string_equal(out[2], "kernel/failover.ko");
	assert_string_equal(out[3], "kernel/net_failover.ko");
	assert_string_equal(out[4], "kernel/drivers/net/virtio_net.ko");
	assert_null(out[5]);
	nb_strv_free(out);
	assert_true(nb_modules_resolve(dir, missing, &out, &e) < 0);
	assert_non_null(strstr(e.msg, "nosuch"));
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/modules.builtin", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void write_dep(const char *dir, const char *dep)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/lib/modules/6.1.0-test/modules.dep", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(dep, f);
	fclose(f);
}

static void test_kernel_has_vsock(void **state)
{
	char dir[] = "/tmp/nb-kvs-XXXXXX", path[PATH_MAX];
	struct nb_kernel k = { 0 };

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/lib/modules/6.1.0-test", dir);
	assert_int_equal(nb_mkdir_p(path, 0755, NULL), 0);
	snprintf(k.dir, sizeof(k.dir), "%s", dir);
	snprintf(k.version, sizeof(k.version), "6.1.0-test");
	snprintf(k.moddir, sizeof(k.moddir), "%s", path);
	write_dep(dir, "kernel/virtio_mmio.ko:\n"
		       "kernel/net/vmw_vsock/vsock.ko:\n"
		       "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: "
		       "kernel/net/vmw_vsock/vsock.ko\n"
		       "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: "
		       "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko "
		       "kernel/net/vmw_vsock/vsock.ko\n");
	assert_true(nb_kernel_has_vsock(&k));
	/* A kernel built without it: run stays on virtio-serial. */
	write_dep(dir, "kernel/virtio_mmio.ko:\nkernel/net/vmw_vsock/vsock.ko:\n");
	assert_false(nb_kernel_has_vsock(&k));
	assert_int_equal(nb_rm_rf(dir), 0);
}

static void test_qemu_argv_has_the_contract(void **state)
{
	struct nb_vm_config c = { .qemu = "/usr/bin/qemu-system-x86_64", .tsc_khz = 2000000,
				  .kernel = "/k/vmlinux", .mem_mib = 1024, .cpus = 2,
				  .net = true, .nshares = 1, .depth = 1 };
	const struct nb_port ports[] = {
		{ .family = AF_INET, .addr = "127.0.0.1", .host = 8080, .guest = 80 },
		{ .family = AF_INET, .addr = "0.0.0.0", .host = 53, .guest = 5353,
		  .proto = NB_PROTO_UDP },
	};
	struct nb_err e = NB_ERR_INIT;
	char **argv = NULL, joined[8192] = "";

	const struct nb_share shares[] = { { .port = "nestbox.fs.0", .qemu_fd = 9 } };

	c.shares = shares;
	c.ports = ports;
	c.nports = 2;
	assert_int_equal(nb_qemu_argv(&c, &argv, &e), 0);
	for (char **p = argv; *p; p++) {
		size_t used = strlen(joined);

		snprintf(joined + used, sizeof(joined) - used, "%s ", *p);
	}
	assert_non_null(strstr(joined, "-M microvm"));
	assert_non_null(strstr(joined, "-accel tcg"));
	assert_non_null(strstr(joined, "tsc_early_khz=2000000"));
	assert_non_null(strstr(joined, "nestbox.depth=2"));
	assert_non_null(strstr(joined, "virtio-mmio.force-legacy=false"));
	assert_non_null(strstr(joined, "virtio-rng-device"));
	assert_non_null(strstr(joined, "name=nestbox.control"));
	assert_non_null(strstr(joined, "name=nestbox.fs.0"));
	/* QEMU's hostfwd syntax is made here, from the typed ports */
	assert_non_null(strstr(joined, "user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,"
				       "hostfwd=udp:0.0.0.0:53-:5353 "));
	assert_non_null(strstr(joined, "-m 1024M -smp 2"));
	nb_strv_free(argv);
}

static void test_share_serves_a_directory_over_a_stream(void **state)
{
	char dir[] = "/tmp/nb-share-XXXXXX";
	/* Not nestbox here: a program that exits at once stands in for the server. */
	struct nb_share s = { .host = dir, .guest = "/data", .ro = true, .exe = "/bin/true" };
	struct nb_err e = NB_ERR_INIT;
	struct nb_ctl_share c;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(nb_share_open(&s, 3, NULL, &e), 0);
	/* virtio-serial: QEMU gets a stream end, the guest a port name */
	assert_true(s.qemu_fd >= 0);
	assert_int_equal(s.vsock_port, 0);
	assert_string_equal(s.port, "nestbox.fs.3");
	assert_true(s.srv_pid > 0 && s.srv_pidfd >= 0);	/* a process of its own */
	c = nb_share_ctl(&s);
	assert_string_equal(c.port, "nestbox.fs.3");
	assert_string_equal(c.target, "/data");
	assert_int_equal(c.flags, NB_SHARE_RO);
	nb_share_close(&s);
	assert_int_equal(s.qemu_fd, -1);
	assert_int_equal(s.srv_pid, 0);
	assert_int_equal(s.srv_pidfd, -1);
	nb_share_close(&s);
	/* a directory that is not there is named */
	s = (struct nb_share){ .host = "/nonexistent/nb-share", .guest = "/", .root = true,
			       .exe = "/bin/true" };
	assert_true(nb_share_open(&s, 0, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/nb-share"));
	assert_int_equal(s.qemu_fd, -1);
	assert_int_equal(rmdir(dir), 0);
}

static void test_qemu_argv_vsock(void **state)
{
	struct nb_vm_config c = { .qemu = "/usr/bin/qemu-system-x86_64", .kernel = "/k/vmlinux",
				  .mem_mib = 512, .nshares = 1, .vsock_cid = 1234,
				  .vsock_ctl_port = 5678, .vhost_fd = 9 };
	struct nb_err e = NB_ERR_INIT;
	char **argv = NULL, joined[8192] = "";

	const struct nb_share shares[] = { { .port = "vsock:5679", .qemu_fd = -1 } };

	c.shares = shares;
	assert_int_equal(nb_qemu_argv(&c, &argv, &e), 0);
	for (char **p = argv; *p; p++) {
		size_t used = strlen(joined);

		snprintf(joined + used, sizeof(joined) - used, "%s ", *p);
	}
	snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "|");
	assert_non_null(strstr(joined, "nestbox.control=vsock:5678"));
	assert_non_null(strstr(joined, "vhost-vsock-device,guest-cid=1234,vhostfd=38 "));
	/* no virtio-serial device, no ports: vsock carries all of it */
	assert_null(strstr(joined, "virtio-serial"));
	assert_null(strstr(joined, "virtserialport"));
	nb_strv_free(argv);
}

static void test_state_round_trip_lock_and_lookup(void **state)
{
	char rt[] = "/tmp/nb-state-XXXXXX", root[256], lock[PATH_MAX + 32];
	struct nb_vm_state st = { .exit_code = -1, .pid = 42, .created = 1000 }, got;
	struct nb_err e = NB_ERR_INIT;
	int fd;

	assert_non_null(mkdtemp(rt));
	setenv("NESTBOX_RUNTIME_DIR", rt, 1);
	/* Listing does not create anything. */
	assert_int_equal(nb_state_find("x", &got, &e), -ENOENT);
	assert_int_equal(nb_state_root(root, sizeof(root), true, &e), 0);
	snprintf(st.id, sizeof(st.id), "0123456789ab");
	snprintf(st.name, sizeof(st.name), "web");
	snprintf(st.image, sizeof(st.image), "demo");
	snprintf(st.command, sizeof(st.command), "httpd -f");
	snprintf(st.status, sizeof(st.status), "running");
	snprintf(st.dir, sizeof(st.dir), "%s/%s", root, st.id);
	assert_int_equal(mkdir(st.dir, 0700), 0);
	assert_int_equal(nb_state_write(&st, &e), 0);
	/* No one holds the lock: the VM is not running, whatever the file says. */
	assert_int_equal(nb_state_find("web", &got, &e), 0);
	assert_false(got.alive);
	assert_string_equal(got.status, "exited");
	assert_int_equal(got.exit_code, -1);
	/* With the lock held it is running; found by name, id and id prefix. */
	nb_state_path(&st, "lock", lock, sizeof(lock));
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(nb_state_find("0123", &got, &e), 0);
	assert_true(got.alive);
	assert_string_equal(got.status, "running");
	assert_string_equal(got.command, "httpd -f");
	assert_int_equal(got.pid, 42);
	assert_true(nb_state_name_taken("web"));
	assert_false(nb_state_name_taken("db"));
	close(fd);
	nb_state_remove(st.dir);
	/* The last VM gone, vms/ goes too. */
	assert_int_equal(access(root, F_OK), -1);
	assert_int_equal(rmdir(rt), 0);
	unsetenv("NESTBOX_RUNTIME_DIR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_round_trip),
		cmocka_unit_test(test_decoder_refuses_short_and_bad_input),
		cmocka_unit_test(test_ctl_flush_keeps_on_full_drops_on_closed),
		cmocka_unit_test(test_cpio_newc_layout),
		cmocka_unit_test(test_modules_resolved_deps_first),
		cmocka_unit_test(test_qemu_argv_has_the_contract),
		cmocka_unit_test(test_qemu_argv_vsock),
		cmocka_unit_test(test_share_serves_a_directory_over_a_stream),
		cmocka_unit_test(test_kernel_has_vsock),
		cmocka_unit_test(test_state_round_trip_lock_and_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
