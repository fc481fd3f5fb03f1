/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/decompress: one compressed stream (a kernel module, a bzImage's
 * payload) into memory, with libarchive's raw format (see decompress.h). */
#include "boot/decompress.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

/* boot_decompress() - see decompress.h. Modules are decompressed here, on the
 * host, rather than by the guest kernel: in-kernel module decompression
 * (CONFIG_MODULE_DECOMPRESS, finit_module's MODULE_INIT_COMPRESSED_FILE)
 * exists only since 5.17 and only for the one algorithm a kernel was built
 * with, and Debian's kernels do not enable it. A bzImage's payload is
 * decompressed here too (see bzimage.c). */
int boot_decompress(int fd, const void *mem, size_t memlen, int filter, size_t max,
		    size_t want, const char *what, char **out, size_t *len, struct nb_err *e)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	autofree char *buf = NULL;
	size_t cap = 0, used = 0;
	int r = 0, ok;

	if (!a)
		return nb_err_set(e, ENOMEM, "%s: out of memory", what);
	switch (filter) {
	case ARCHIVE_FILTER_XZ: ok = archive_read_support_filter_xz(a); break;
	case ARCHIVE_FILTER_ZSTD: ok = archive_read_support_filter_zstd(a); break;
	case ARCHIVE_FILTER_GZIP: ok = archive_read_support_filter_gzip(a); break;
	case ARCHIVE_FILTER_LZ4: ok = archive_read_support_filter_lz4(a); break;
	case ARCHIVE_FILTER_BZIP2: ok = archive_read_support_filter_bzip2(a); break;
	case ARCHIVE_FILTER_LZMA: ok = archive_read_support_filter_lzma(a); break;
	default: ok = ARCHIVE_FATAL; break;
	}
	/* ARCHIVE_WARN: only through an external program; not for us */
	if (ok != ARCHIVE_OK) {
		r = nb_err_set(e, ENOTSUP, "%s: this libarchive cannot decompress it", what);
		goto out;
	}
	archive_read_support_format_raw(a);
	if ((mem ? archive_read_open_memory(a, mem, memlen) : archive_read_open_fd(a, fd, 65536)) !=
		    ARCHIVE_OK ||
	    archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		r = nb_err_set(e, EINVAL, "%s: %s", what, archive_error_string(a));
		goto out;
	}
	/* "raw" takes any bytes: make sure the named compression was found */
	if (archive_filter_code(a, 0) != filter) {
		r = nb_err_set(e, EINVAL, "%s: not compressed as expected", what);
		goto out;
	}
	if (want > max) {
		r = nb_err_set(e, EFBIG, "%s: larger than %zu MiB", what, max >> 20);
		goto out;
	}
	for (;;) {
		la_ssize_t n;

		if (want && used == want)
			break; /* what follows (a size trailer) is no concern of ours */
		if (cap - used < 65536 && !(want && cap == want)) {
			char *nb;

			if (cap >= max) {
				r = nb_err_set(e, EFBIG, "%s: larger than %zu MiB", what, max >> 20);
				goto out;
			}
			cap = want ? want : cap ? cap * 2 : 1u << 20;
			nb = realloc(buf, cap);
			if (!nb) {
				r = nb_err_set(e, ENOMEM, "%s: out of memory", what);
				goto out;
			}
			buf = nb;
		}
		n = archive_read_data(a, buf + used, cap - used);
		if (n < 0) {
			r = nb_err_set(e, EINVAL, "%s: %s", what, archive_error_string(a));
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (want && used != want) {
		r = nb_err_set(e, EINVAL, "%s: %zu bytes decompressed, not %zu", what, used, want);
		goto out;
	}
	if (used < 4 || memcmp(buf, "\177ELF", 4) != 0) {
		r = nb_err_set(e, ENOEXEC, "%s: not an ELF object once decompressed", what);
		goto out;
	}
	*len = used;
	*out = steal_pointer(&buf);
out:
	archive_read_free(a);
	return r;
}
