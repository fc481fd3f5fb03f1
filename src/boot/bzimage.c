/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/bzimage: boot a bzImage through PVH by extracting its vmlinux on the host.
 *
 * Theory of operation: a bzImage is the real-mode setup code followed by the
 * protected-mode code, which carries the compressed vmlinux.bin (an ELF,
 * `objcopy -S vmlinux`) at payload_offset/payload_length of the setup header
 * (boot protocol >= 2.08). Under TCG the bzImage's own decompressor costs
 * ~3 s of emulated CPU; decompressing on the host costs a fraction of that,
 * once: the ELF is cached in <data dir>/cache/kernels, keyed by the bzImage's
 * identity. A kernel built with CONFIG_PVH=y (Debian's, most distributions')
 * has the Xen PHYS32_ENTRY note, and QEMU boots that ELF as it boots the
 * default kernel's vmlinux. Whatever goes wrong (a kernel without PVH, an
 * unknown compression, a damaged or hostile header) only means the bzImage is
 * booted as it is; an image's kernel is untrusted input, so every header
 * field is checked against the file.
 */
#include "boot/bzimage.h"

#include <archive.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot/cache.h"
#include "boot/decompress.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/paths.h"

/* Caps: Debian's payload is 8 MB, its vmlinux 66 MB. */
#define PAYLOAD_MAX (64u << 20)
#define VMLINUX_MAX (256u << 20)
/* XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit PVH entry point */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
/* Bumped when the cached file's content or key changes. */
#define VMLINUX_CACHE_FORMAT "1"

/* Little-endian u32 at @p. */
static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Little-endian u16 at @p. */
static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Little-endian u64 at @p. */
static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* nb_bzimage_payload() - see bzimage.h */
int nb_bzimage_payload(const void *hdr, size_t hdrlen, uint64_t filesize, uint64_t *off,
		       size_t *len, struct nb_err *e)
{
	const unsigned char *h = hdr;
	uint64_t setup, po, pl;
	unsigned sects;

	if (hdrlen < 0x250 || filesize < hdrlen || memcmp(h + 0x202, "HdrS", 4) != 0)
		return nb_err_set(e, ENOEXEC, "no setup header");
	if (le16(h + 0x206) < 0x208)
		return nb_err_set(e, ENOTSUP, "boot protocol %u.%02u, before 2.08",
				  h[0x207], h[0x206]);
	sects = h[0x1f1] ? h[0x1f1] : 4;
	setup = ((uint64_t)sects + 1) * 512;
	po = le32(h + 0x248);
	pl = le32(h + 0x24c);
	if (pl < 16 || setup + po > filesize || pl > filesize - setup - po)
		return nb_err_set(e, EINVAL, "payload (%" PRIu64 " bytes at %" PRIu64 "+%" PRIu64
				  ") outside the file", pl, setup, po);
	if (pl > PAYLOAD_MAX)
		return nb_err_set(e, EFBIG, "payload larger than %u MiB", PAYLOAD_MAX >> 20);
	*off = setup + po;
	*len = (size_t)pl;
	return 0;
}

/* The compression of a payload, by its magic; ARCHIVE_FILTER_NONE if unknown. */
static int payload_filter(const unsigned char *p, size_t len, const char **name)
{
	static const struct {
		const char *magic;
		size_t n;
		int filter;
		const char *name;
	} m[] = {
		{ "\x1f\x8b", 2, ARCHIVE_FILTER_GZIP, "gzip" },
		{ "\xfd" "7zXZ\0", 6, ARCHIVE_FILTER_XZ, "xz" },
		{ "\x28\xb5\x2f\xfd", 4, ARCHIVE_FILTER_ZSTD, "zstd" },
		{ "\x02\x21\x4c\x18", 4, ARCHIVE_FILTER_LZ4, "lz4" },
		{ "BZh", 3, ARCHIVE_FILTER_BZIP2, "bzip2" },
		{ "\x5d\0\0", 3, ARCHIVE_FILTER_LZMA, "lzma" },
		{ "\x89LZO", 4, ARCHIVE_FILTER_NONE, "lzo" },
	};

	*name = "unknown";
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (len >= m[i].n && memcmp(p, m[i].magic, m[i].n) == 0) {
			*name = m[i].name;
			return m[i].filter;
		}
	return ARCHIVE_FILTER_NONE;
}

/* nb_elf_has_pvh() - see bzimage.h */
bool nb_elf_has_pvh(const void *elf, size_t len)
{
	const unsigned char *b = elf;
	uint64_t phoff;
	unsigned phnum;

	if (len < 64 || memcmp(b, "\177ELF", 4) != 0 || b[EI_CLASS] != ELFCLASS64 ||
	    b[EI_DATA] != ELFDATA2LSB || le16(b + 0x12) != EM_X86_64 || le16(b + 0x36) != 56)
		return false;
	phoff = le64(b + 0x20);
	phnum = le16(b + 0x38);
	if (phoff > len || (uint64_t)phnum * 56 > len - phoff)
		return false;
	for (unsigned i = 0; i < phnum; i++) {
		const unsigned char *ph = b + phoff + (uint64_t)i * 56;
		uint64_t o = le64(ph + 8), sz = le64(ph + 32), p;

		if (le32(ph) != PT_NOTE || o > len || sz > len - o)
			continue;
		/* notes: namesz, descsz, type, name and desc each padded to 4 */
		for (p = 0; sz - p >= 12;) {
			const unsigned char *n = b + o + p;
			uint64_t namesz = le32(n), descsz = le32(n + 4), type = le32(n + 8);
			uint64_t step = 12 + ((namesz + 3) & ~3ull) + ((descsz + 3) & ~3ull);

			if (step > sz - p)
				break;
			if (namesz == 4 && memcmp(n + 12, "Xen", 4) == 0 &&
			    type == XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4)
				return true;
			p += step;
		}
	}
	return false;
}

/* nb_bzimage_vmlinux() - see bzimage.h */
int nb_bzimage_vmlinux(const void *payload, size_t len, char **out, size_t *outlen,
		       struct nb_err *e)
{
	const unsigned char *p = payload;
	autofree char *elf = NULL;
	const char *name;
	size_t want, n = 0;
	int filter, r;

	if (len < 16 || len > PAYLOAD_MAX)
		return nb_err_set(e, EINVAL, "payload of %zu bytes", len);
	filter = payload_filter(p, len, &name);
	if (filter == ARCHIVE_FILTER_NONE)
		return nb_err_set(e, ENOTSUP, "%s compression", name);
	/* Every kernel compressor ends with the decompressed size (gzip's own
	 * ISIZE, size_append for the others): read exactly that much. */
	want = le32(p + len - 4);
	if (want < 64 || want > VMLINUX_MAX)
		return nb_err_set(e, EFBIG, "decompressed size %zu, not within 64 B .. %u MiB",
				  want, VMLINUX_MAX >> 20);
	/* size_append's 4 bytes are no part of the stream (gzip's ISIZE is):
	 * xz, for one, takes them for the start of another stream */
	r = boot_decompress(-1, payload, filter == ARCHIVE_FILTER_GZIP ? len : len - 4, filter,
			    VMLINUX_MAX, want, name, &elf, &n, e);
	if (r < 0)
		return r;
	if (!nb_elf_has_pvh(elf, n))
		return nb_err_set(e, ENOEXEC, "its vmlinux is no x86-64 ELF with a PVH entry note");
	*out = steal_pointer(&elf);
	*outlen = n;
	return 0;
}

/* Read @len bytes at @off of @fd. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

/* The cache file of the bzImage @st (version @ver): its identity as the
 * filesystem knows it, as for the initramfs (hashing 8 MB each run would cost
 * more than the check saves). */
static int cache_path(const struct stat *st, const char *ver, char *out, size_t len,
		      char *dir, size_t dirlen, struct nb_err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char data[PATH_MAX], hex[17], name[64];
	uint64_t id[7] = {
		(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
		(uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec,
		(uint64_t)st->st_ctim.tv_sec, (uint64_t)st->st_ctim.tv_nsec,
	};
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;
	int r;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return nb_err_set(e, ENOMEM, "sha256: cannot start");
	}
	EVP_DigestUpdate(ctx, VMLINUX_CACHE_FORMAT, 1);
	EVP_DigestUpdate(ctx, ver, strlen(ver) + 1);
	EVP_DigestUpdate(ctx, id, sizeof(id));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	for (i = 0; ver[i] && i + 1 < sizeof(name); i++)
		name[i] = (ver[i] >= 'a' && ver[i] <= 'z') || (ver[i] >= 'A' && ver[i] <= 'Z') ||
				  (ver[i] >= '0' && ver[i] <= '9') || strchr(".-_+", ver[i])
			  ? ver[i]
			  : '_';
	name[i] = 0;
	r = nb_data_dir(data, sizeof(data), e);
	if (r < 0)
		return r;
	if ((size_t)snprintf(dir, dirlen, "%s/cache/kernels", data) >= dirlen ||
	    (size_t)snprintf(out, len, "%s/%s-%s.vmlinux", dir, name, hex) >= len)
		return nb_err_set(e, ENAMETOOLONG, "kernel cache path: too long");
	return 0;
}

/* Extract @fd's vmlinux into @path (temp file + rename). */
static int extract_to(int fd, const struct stat *st, const char *dir, const char *path,
		      struct nb_err *e)
{
	unsigned char hdr[0x250];
	autofree unsigned char *payload = NULL;
	autofree char *elf = NULL;
	char tmp[PATH_MAX + 64];
	size_t plen = 0, n = 0;
	uint64_t off = 0;
	int r, tfd;

	if (read_at(fd, hdr, sizeof(hdr), 0) < 0)
		return nb_err_set(e, ENOEXEC, "shorter than a setup header");
	r = nb_bzimage_payload(hdr, sizeof(hdr), (uint64_t)st->st_size, &off, &plen, e);
	if (r < 0)
		return r;
	if (plen == 0) /* it says >= 16; for the analyzer */
		return nb_err_set(e, EINVAL, "empty payload");
	payload = malloc(plen);
	if (!payload)
		return nb_err_set(e, ENOMEM, "out of memory");
	r = read_at(fd, payload, plen, off);
	if (r < 0)
		return nb_err_sys(e, -r, "read its payload");
	r = nb_bzimage_vmlinux(payload, plen, &elf, &n, e);
	if (r < 0)
		return r;
	r = nb_mkdir_p(dir, 0755, e);
	if (r < 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
	tfd = mkostemp(tmp, O_CLOEXEC);
	if (tfd < 0)
		return nb_err_sys(e, errno, "create %s", tmp);
	if (nb_write_all(tfd, elf, n) < 0 || fchmod(tfd, 0644) < 0)
		r = nb_err_sys(e, errno, "write %s", tmp);
	if (close(tfd) < 0 && r == 0)
		r = nb_err_sys(e, errno, "write %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = nb_err_sys(e, errno, "rename to %s", path);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Whether extracting failed for a reason of the file itself, which the next
 * run would meet again (not, say, a full disk). */
static bool for_good(int r)
{
	return r == -ENOEXEC || r == -ENOTSUP || r == -EFBIG || r == -EINVAL;
}

/* bzimage_try_pvh() - see bzimage.h */
bool bzimage_try_pvh(const char *kernel, const char *version, bool in_image, char *out,
		     size_t len)
{
	char path[PATH_MAX + 128], dir[PATH_MAX + 32], no[PATH_MAX + 128];
	struct nb_err e = NB_ERR_INIT;
	autoclose int fd = -1;
	struct stat st;
	int r;

	/* an image's: the resolved host path of what was found inside it */
	fd = open(kernel,
		  O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (in_image ? O_NOFOLLOW : 0));
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		nb_debug("kernel: booting bzImage %s: cannot open it again", kernel);
		return false;
	}
	if (cache_path(&st, version, path, sizeof(path), dir, sizeof(dir), &e) < 0) {
		nb_debug("kernel: booting bzImage %s: %s", kernel, e.msg);
		return false;
	}
	if (strlen(path) >= len) {
		nb_debug("kernel: booting bzImage %s: cache path too long", kernel);
		return false;
	}
	/* "<key>.nopvh": this bzImage cannot be booted through PVH; a kernel
	 * without CONFIG_PVH is not decompressed again on every run */
	snprintf(no, sizeof(no), "%.*s.nopvh", (int)(strlen(path) - 8), path);
	if (access(no, F_OK) == 0) {
		utimensat(AT_FDCWD, no, NULL, 0);
		nb_debug("kernel: booting bzImage %s: no PVH vmlinux in it (cached)", kernel);
		return false;
	}
	if (access(path, R_OK) == 0) {
		utimensat(AT_FDCWD, path, NULL, 0); /* used: boot_prune_cache() keeps it */
		nb_debug("kernel: bzImage %s -> PVH vmlinux %s (cached)", kernel, path);
	} else if ((r = extract_to(fd, &st, dir, path, &e)) < 0) {
		nb_debug("kernel: booting bzImage %s: %s", kernel, e.msg);
		if (for_good(r) && nb_mkdir_p(dir, 0755, NULL) == 0) {
			int nfd = open(no, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

			if (nfd >= 0)
				close(nfd);
		}
		return false;
	} else {
		nb_debug("kernel: bzImage %s -> PVH vmlinux %s (extracted)", kernel, path);
		/* cached vmlinux files (~66 MB each) and .nopvh marks unused for a day */
		boot_prune_cache(dir, path, (const char *const[]){ ".vmlinux", ".nopvh", NULL },
				 86400);
	}
	snprintf(out, len, "%s", path);
	return true;
}
