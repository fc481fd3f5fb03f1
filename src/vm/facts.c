/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/facts: virt's probes as run wants them: the same answers, without
 * the costs doctor can afford on every call (100 ms measuring the TSC,
 * spawning QEMU for its version). The TSC frequency is cached per boot of
 * the host (keyed by /proc/sys/kernel/random/boot_id) in the data dir. */
#include "vm/facts.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/paths.h"

/* QEMU found as doctor finds it, without running it for its version. */
static bool fast_qemu(void *ctx, char *path, size_t pathlen, char *version, size_t versionlen)
{
	version[0] = 0;
	return virt_find_qemu(path, pathlen);
}

static uint64_t cached_tsc(void *ctx)
{
	char data[PATH_MAX], path[PATH_MAX + 64], boot[64] = "", buf[64];
	uint64_t khz;

	if (nb_read_file("", "/proc/sys/kernel/random/boot_id", boot, sizeof(boot), NULL) < 0 ||
	    nb_data_dir(data, sizeof(data), NULL) < 0)
		return virt_host_ops.tsc_measure(virt_host_ops.ctx);
	nb_strip(boot);
	snprintf(path, sizeof(path), "%s/cache/tsc-%s", data, boot);
	if (nb_read_file("", path, buf, sizeof(buf), NULL) > 0) {
		khz = strtoull(buf, NULL, 10);
		if (khz)
			return khz;
	}
	khz = virt_host_ops.tsc_measure(virt_host_ops.ctx);
	if (khz) {
		snprintf(buf, sizeof(buf), "%" PRIu64 "\n", khz);
		snprintf(data + strlen(data), sizeof(data) - strlen(data), "/cache");
		if (nb_mkdir_p(data, 0755, NULL) == 0)
			nb_write_file_atomic(path, buf, strlen(buf), 0644, NULL);
	}
	return khz;
}

/* nb_run_virt_ops() - see facts.h */
void nb_run_virt_ops(struct virt_ops *ops)
{
	*ops = virt_host_ops;
	ops->qemu = fast_qemu;
	ops->tsc_measure = cached_tsc;
}
