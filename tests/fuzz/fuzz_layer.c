/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: layer tarballs (tar headers, gzip/zstd framing, whiteouts,
 * links) applied to a scratch tree. Afterwards nothing may exist beside the
 * tree: any entry that escaped would land in the fence directory. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/layer.h"
#include "lib/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];

static void cleanup(void)
{
	nb_rm_rf(base);
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char root[128];
	int rfd, mfd;

	if (!base[0]) {
		/* base/fence/tree: the tree is two levels below base, so "../x" or
		 * "../../x" escapes show up in fence or base */
		snprintf(base, sizeof(base), "/tmp/nestbox-fuzz-layer.%d", getpid());
		mkdir(base, 0700);
		atexit(cleanup);
	}
	nb_rm_rf(base);
	mkdir(base, 0700);
	snprintf(root, sizeof(root), "%s/fence", base);
	mkdir(root, 0700);
	snprintf(root, sizeof(root), "%s/fence/tree", base);
	mkdir(root, 0700);
	rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mfd = memfd_create("layer", MFD_CLOEXEC);
	if (rfd < 0 || mfd < 0 || write(mfd, data, size) != (ssize_t)size)
		abort();
	lseek(mfd, 0, SEEK_SET);
	nb_layer_apply(rfd, mfd, "sha256:fuzz", NULL, NULL);
	close(mfd);
	close(rfd);
	snprintf(root, sizeof(root), "%s/fence", base);
	if (entries(base) != 1 || entries(root) != 1)
		abort(); /* something was written outside the tree */
	return 0;
}
