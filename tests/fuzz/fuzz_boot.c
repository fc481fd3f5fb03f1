/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: what --kernel image reads from an untrusted image: the
 * kernel file's header (nb_kernel_probe), a bzImage's payload fields, its
 * decompression and the PVH note of the vmlinux inside (nb_bzimage_payload,
 * nb_bzimage_vmlinux, nb_elf_has_pvh) and modules.dep (nb_modules_resolve). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/bzimage.h"
#include "lib/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], dep[300];

static void cleanup(void)
{
	nb_rm_rf(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"virtio_mmio", "virtio_console", "fuse", "overlay", "virtio_rng", "virtio_net", NULL,
	};
	int fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	char version[128], **out = NULL, *elf = NULL;
	size_t plen, elen;
	uint64_t off;
	bool pvh;

	if (fd < 0)
		return 0;
	if (nb_write_all(fd, data, size) == 0)
		(void)nb_kernel_probe(fd, &pvh, version, sizeof(version));
	close(fd);
	/* the input as a whole bzImage, and as a payload by itself */
	if (nb_bzimage_payload(data, size, size, &off, &plen, NULL) == 0 &&
	    nb_bzimage_vmlinux(data + off, plen, &elf, &elen, NULL) == 0)
		free(elf);
	elf = NULL;
	if (nb_bzimage_vmlinux(data, size, &elf, &elen, NULL) == 0)
		free(elf);
	(void)nb_elf_has_pvh(data, size);
	/* one scratch modules dir per process, removed at exit; modules.dep
	 * rewritten per input */
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/nestbox-fuzz-boot.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(dep, sizeof(dep), "%s/modules.dep", dir);
		atexit(cleanup);
	}
	fd = open(dep, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return 0;
	if (nb_write_all(fd, data, size) == 0 && nb_modules_resolve(dir, names, &out, NULL) >= 0)
		nb_strv_free(out);
	close(fd);
	return 0;
}
