/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: nestfs frame decoding and dispatch against a temp dir.
 * The input is a stream of FUSE request frames, as a hostile client would
 * send; an INIT frame is put in front so that every input reaches the
 * operations. Replies are discarded; what matters is that nothing crashes,
 * leaks, hangs or touches anything outside the exported directory. */
#include <fcntl.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/server.h"
#include "lib/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nestfs_server *srv;
static char tmpdir[] = "/tmp/nestfs-fuzz-XXXXXX";

static void cleanup(void)
{
	nestfs_server_free(srv);
	nb_rm_rf(tmpdir);
}

/* A small tree to find things in: a file, a directory, a symlink. */
static void setup(void)
{
	char *dir = tmpdir;
	struct nestfs_server_opts o = { .cache = NESTFS_CACHE_AUTO, .threads = 1 };
	struct rlimit fsz = { 16 << 20, 16 << 20 };
	int fd;

	if (!mkdtemp(dir))
		abort();
	fd = openat(open(dir, O_PATH), "f", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0) {
		(void)!write(fd, "hello nestfs\n", 13);
		close(fd);
	}
	fd = open(dir, O_PATH);
	mkdirat(fd, "d", 0755);
	symlinkat("f", fd, "l");
	close(fd);
	/* Writes are capped: the fuzzer must not fill the disk. */
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &fsz);
	srv = nestfs_server_new(dir, &o, NULL);
	if (!srv)
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} init = { { sizeof(init), FUSE_INIT, 1, 0, 0, 0, 0, 0, 0 },
		   { 7, 38, 65536, 0xffffffff, 0, { 0 } } };
	uint8_t *buf;

	if (!srv)
		setup();
	buf = malloc(sizeof(init) + size);
	if (!buf)
		return 0;
	memcpy(buf, &init, sizeof(init));
	memcpy(buf + sizeof(init), data, size);
	/* fallocate would really allocate: keep it out (its decoding is 4 fields). */
	for (size_t off = sizeof(init); off + sizeof(struct fuse_in_header) <= sizeof(init) + size;) {
		struct fuse_in_header h;

		memcpy(&h, buf + off, sizeof(h));
		if (h.opcode == FUSE_FALLOCATE) {
			h.opcode = FUSE_GETATTR;
			memcpy(buf + off, &h, sizeof(h));
		}
		if (h.len < sizeof(h))
			break;
		off += h.len;
	}
	nestfs_server_feed(srv, buf, sizeof(init) + size);
	free(buf);
	return 0;
}
