/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs-load: the workloads of bench/fs, in C so that the numbers are the
 * filesystem's and not an interpreter's.
 *   fs-load prep DIR                  make DIR/s/f0..f999, DIR/r (16 MiB), DIR/c/
 *   fs-load OP DIR N [THREADS]        run N operations, print ops per second
 * OP: stat open create read4k write4k readdir seqwrite seqread (seq*: N MiB, prints MiB/s) */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NFILES 1000
#define RSIZE (16 << 20)

static const char *dir, *op;
static long n;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void prep(void)
{
	char p[4096];
	static char buf[1 << 20];
	int fd;

	snprintf(p, sizeof(p), "%s/s", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/c", dir);
	mkdir(p, 0755);
	for (int i = 0; i < NFILES; i++) {
		snprintf(p, sizeof(p), "%s/s/f%d", dir, i);
		fd = open(p, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			die(p);
		close(fd);
	}
	memset(buf, 'r', sizeof(buf));
	snprintf(p, sizeof(p), "%s/r", dir);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		die(p);
	for (int i = 0; i < RSIZE / (int)sizeof(buf); i++)
		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			die("write");
	close(fd);
}

static void *run(void *arg)
{
	long tid = (long)arg, count = (long)(size_t)n;
	char p[4096];
	static char big[1 << 20];
	char small[4096];
	int fd;

	memset(small, 'w', sizeof(small));
	if (!strcmp(op, "stat")) {
		struct stat st;

		for (long i = 0; i < count; i++) {
			snprintf(p, sizeof(p), "%s/s/f%ld", dir, (i * 7 + tid * 13) % NFILES);
			if (stat(p, &st) < 0)
				die(p);
		}
	} else if (!strcmp(op, "open")) {
		for (long i = 0; i < count; i++) {
			snprintf(p, sizeof(p), "%s/s/f%ld", dir, i % NFILES);
			fd = open(p, O_RDONLY);
			if (fd < 0)
				die(p);
			close(fd);
		}
	} else if (!strcmp(op, "create")) {
		for (long i = 0; i < count; i++) {
			snprintf(p, sizeof(p), "%s/c/x%ld-%ld", dir, tid, i);
			fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0)
				die(p);
			close(fd);
			if (unlink(p) < 0)
				die(p);
		}
	} else if (!strcmp(op, "read4k") || !strcmp(op, "write4k")) {
		bool w = op[0] == 'w';

		snprintf(p, sizeof(p), "%s/%s", dir, w ? "w" : "r");
		fd = open(p, w ? O_CREAT | O_WRONLY : O_RDONLY, 0644);
		if (fd < 0)
			die(p);
		for (long i = 0; i < count; i++) {
			off_t off = (off_t)((i * 2654435761u) % (RSIZE / 4096)) * 4096;
			ssize_t r = w ? pwrite(fd, small, 4096, off) : pread(fd, small, 4096, off);

			if (r != 4096)
				die(w ? "pwrite" : "pread");
		}
		close(fd);
	} else if (!strcmp(op, "readdir")) {
		snprintf(p, sizeof(p), "%s/s", dir);
		for (long i = 0; i < count; i++) {
			DIR *d = opendir(p);
			int k = 0;

			if (!d)
				die(p);
			while (readdir(d))
				k++;
			closedir(d);
			if (k != NFILES + 2)
				die("readdir count");
		}
	} else if (!strcmp(op, "seqwrite")) {
		memset(big, 's', sizeof(big));
		snprintf(p, sizeof(p), "%s/seq", dir);
		fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0)
			die(p);
		for (long i = 0; i < count; i++)
			if (write(fd, big, sizeof(big)) != sizeof(big))
				die("write");
		if (fsync(fd) < 0)
			die("fsync");
		close(fd);
	} else if (!strcmp(op, "seqread")) {
		snprintf(p, sizeof(p), "%s/seq", dir);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			die(p);
		for (long i = 0; i < count; i++)
			if (read(fd, big, sizeof(big)) != sizeof(big))
				die("read");
		close(fd);
	} else {
		fprintf(stderr, "fs-load: unknown op %s\n", op);
		exit(2);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long threads = 1;
	pthread_t t[64];
	double t0;

	if (argc < 3) {
		fprintf(stderr, "usage: fs-load prep DIR | fs-load OP DIR N [THREADS]\n");
		return 2;
	}
	op = argv[1];
	dir = argv[2];
	if (!strcmp(op, "prep")) {
		prep();
		return 0;
	}
	n = argc > 3 ? atol(argv[3]) : 1000;
	if (argc > 4)
		threads = atol(argv[4]);
	if (threads < 1 || threads > 64 || n < 1)
		return 2;
	n /= threads;
	t0 = now();
	for (long i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, run, (void *)i))
			die("pthread_create");
	for (long i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("%.1f\n", (double)(n * threads) / (now() - t0));
	return 0;
}
