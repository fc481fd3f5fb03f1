/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot/kernel: which kernel a VM boots (see kernel.h).
 *
 * Theory of operation: a kernel is the file QEMU loads (an uncompressed ELF
 * vmlinux booted through its PVH entry, or a compressed bzImage booted through
 * the Linux boot protocol), its version (uname -r) and its modules directory.
 * Three sources:
 *   - nestbox's own kernels (<data dir>/kernels/default and --kernel DIR): a
 *     directory with version, vmlinux and/or vmlinuz, lib/modules/<version>;
 *     vmlinux is preferred, PVH skips the decompressor (~2.6 s under TCG);
 *   - --kernel FILE: a vmlinux or bzImage; the version from a version file
 *     beside it or from the bzImage header, the modules beside it or the
 *     host's /lib/modules/<version> (so /boot/vmlinuz-<version> works);
 *   - --kernel image: the one kernel the image ships, by the bootc
 *     convention /usr/lib/modules/<version>/vmlinuz (also /lib/modules/... and
 *     /boot/vmlinuz-<version> with its modules in /usr/lib/modules or
 *     /lib/modules). An image is not trusted: every path in it is opened with
 *     openat2(RESOLVE_IN_ROOT), so its symlinks resolve inside the image and
 *     never reach a host file.
 * A bzImage from any of them is booted through PVH where it can be: its
 * vmlinux extracted on the host into the cache (bzimage.c).
 */
#include "boot/kernel.h"
#include "boot/kstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "boot/bzimage.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/paths.h"

/* kernel_openat() - see kernel.h */
int kernel_openat(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		/* openat2 refuses O_NOCTTY next to O_PATH */
		.flags = (uint64_t)(flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY)),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* kernel_open() - see kernel.h */
int kernel_open(const struct nb_kernel *k, const char *entry, struct nb_err *e)
{
	char path[PATH_MAX * 2 + 2];
	struct stat st;
	autoclose int fd = -1;

	if (k->root[0]) {
		autoclose int rootfd = open(k->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (rootfd < 0)
			return nb_err_sys(e, errno, "open %s", k->root);
		if (entry[0] == '/')
			snprintf(path, sizeof(path), "%s", entry);
		else
			snprintf(path, sizeof(path), "%s/%s", k->modrel, entry);
		fd = kernel_openat(rootfd, path, O_RDONLY | O_NONBLOCK);
		if (fd < 0)
			return nb_err_sys(e, -fd, "open %s in %s", path, k->root);
	} else {
		if (entry[0] == '/')
			snprintf(path, sizeof(path), "%s", entry);
		else
			snprintf(path, sizeof(path), "%s/%s", k->moddir, entry);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return nb_err_sys(e, errno, "open %s", path);
	}
	/* O_NONBLOCK: a FIFO planted where a file should be must not hang us */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return nb_err_set(e, EINVAL, "%s: not a regular file", path);
	fcntl(fd, F_SETFL, 0);
	return steal_fd(&fd);
}

/* A version as a directory or file name may carry it: no '/', no control
 * characters or spaces, not "." or "..", shorter than @cap. */
static bool version_ok(const char *v, size_t cap)
{
	size_t n = strlen(v);

	if (n == 0 || n >= cap || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == '/' || v[i] == 0x7f)
			return false;
	return true;
}

/* nb_kernel_probe() - see kernel.h */
int nb_kernel_probe(int fd, bool *pvh, char *version, size_t len)
{
	unsigned char hdr[0x8000];
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);

	if (version && len)
		version[0] = 0;
	if (n >= 4 && memcmp(hdr, "\177ELF", 4) == 0) {
		*pvh = true;
		return 0;
	}
	if (n < 0x210 || memcmp(hdr + 0x202, "HdrS", 4) != 0)
		return -ENOEXEC;
	*pvh = false;
	/* boot protocol: kernel_version at 0x20e points (minus 0x200) at
	 * "6.1.0-56-amd64 (debian-kernel@...) #1 SMP ..." */
	if (version && len) {
		size_t off = (size_t)(hdr[0x20e] | hdr[0x20f] << 8) + 0x200, i = 0;

		if (off > 0x200)
			while (off + i < (size_t)n && i + 1 < len && hdr[off + i] > ' ' &&
			       hdr[off + i] < 0x7f) {
				version[i] = (char)hdr[off + i];
				i++;
			}
		version[i] = 0;
	}
	return 0;
}

/* Open a kernel file on the host and fill @k's file, format and (from a
 * bzImage) version. */
static int probe_host_file(const char *which, const char *path, struct nb_kernel *k,
			   char *hdrver, size_t hvlen, struct nb_err *e)
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return nb_err_sys(e, errno, "kernel %s: %s", which, path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return nb_err_set(e, EINVAL, "kernel %s: %s is not a regular file", which, path);
	if (nb_kernel_probe(fd, &k->pvh, hdrver, hvlen) < 0)
		return nb_err_set(e, ENOEXEC, "kernel %s: %s is neither an ELF vmlinux nor a bzImage",
				  which, path);
	if ((size_t)snprintf(k->kernel, sizeof(k->kernel), "%s", path) >= sizeof(k->kernel))
		return nb_err_set(e, ENAMETOOLONG, "kernel %s: path too long", which);
	return 0;
}

/* Whether @path is a directory (following symlinks). */
static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A bzImage boots through PVH where bzimage.c can extract its vmlinux; any
 * failure leaves @k as it is. */
static void try_pvh(struct nb_kernel *k)
{
	if (!k->pvh && bzimage_try_pvh(k->kernel, k->version, k->root[0] != 0, k->kernel,
				       sizeof(k->kernel)))
		k->pvh = true;
}

/* nb_kernel_find() - see kernel.h */
int nb_kernel_find(const char *which, struct nb_kernel *k, struct nb_err *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], file[PATH_MAX + 16] = "", hdrver[128];
	const char *name = which ? which : "default";
	struct stat st;
	int r;

	memset(k, 0, sizeof(*k));
	if (!which || strcmp(which, "default") == 0) {
		r = nb_kstore_dir(dir, sizeof(dir), e);
		if (r < 0)
			return r;
		size_t dl = strlen(dir);

		if (dl + 9 >= sizeof(dir))
			return nb_err_set(e, ENAMETOOLONG, "kernel directory: too long");
		snprintf(dir + dl, sizeof(dir) - dl, "/default");
	} else if (stat(which, &st) == 0 && S_ISREG(st.st_mode)) {
		char tmp[PATH_MAX];

		if (!realpath(which, file))
			return nb_err_sys(e, errno, "kernel %s", which);
		snprintf(tmp, sizeof(tmp), "%s", file);
		snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	} else {
		if ((size_t)snprintf(dir, sizeof(dir), "%s", which) >= sizeof(dir))
			return nb_err_set(e, ENAMETOOLONG, "kernel %s: path too long", which);
	}
	if (!realpath(dir, k->dir)) {
		if (errno == ENOENT && (!which || strcmp(which, "default") == 0))
			return nb_err_set(e, ENOENT, "no default kernel in %.*s: fetch Debian's with "
					  "`nestbox kernel prepare`", (int)(strlen(dir) - 8), dir);
		return nb_err_sys(e, errno, "kernel %s (%s)", name, dir);
	}
	if (!file[0]) {
		/* a kernel directory: the vmlinux (PVH, fast) if there is one */
		snprintf(file, sizeof(file), "%s/vmlinux", k->dir);
		if (access(file, F_OK) < 0)
			snprintf(file, sizeof(file), "%s/vmlinuz", k->dir);
		if (access(file, F_OK) < 0)
			return nb_err_set(e, ENOENT, "kernel %s: no vmlinux nor vmlinuz in %s", name,
					  k->dir);
	}
	r = probe_host_file(name, file, k, hdrver, sizeof(hdrver), e);
	if (r < 0)
		return r;
	/* The version: the bzImage says it; a vmlinux needs the file beside it. */
	snprintf(path, sizeof(path), "%s/version", k->dir);
	if (hdrver[0] && version_ok(hdrver, sizeof(k->version))) {
		snprintf(k->version, sizeof(k->version), "%s", hdrver);
	} else {
		if (nb_read_file("", path, k->version, sizeof(k->version), e) < 0)
			return nb_err_wrap(e, "kernel %s: its version", name);
		nb_strip(k->version);
		if (!version_ok(k->version, sizeof(k->version)))
			return nb_err_set(e, EINVAL, "kernel %s: %s: not a kernel version", name,
					  path);
	}
	/* Its modules: beside it, else the host's (for /boot/vmlinuz-<version>). */
	if ((size_t)snprintf(k->moddir, sizeof(k->moddir), "%s/lib/modules/%s", k->dir,
			     k->version) >= sizeof(k->moddir) ||
	    !is_dir(k->moddir)) {
		snprintf(k->moddir, sizeof(k->moddir), "/lib/modules/%s", k->version);
		if (!is_dir(k->moddir))
			return nb_err_set(e, ENOENT,
					  "kernel %s: no modules for %s in %s/lib/modules nor "
					  "/lib/modules",
					  name, k->version, k->dir);
	}
	nb_debug("kernel %s: %s (%s, %s), modules in %s", name, k->kernel, k->version,
		 k->pvh ? "PVH vmlinux" : "bzImage", k->moddir);
	try_pvh(k);
	return 0;
}

/* One kernel an image ships. */
struct cand {
	char version[128];	/* its version: the lib/modules directory's name */
	char kernel[PATH_MAX + 16];	/* inside the image's root */
	char modrel[PATH_MAX];	/* inside the image's root */
};

#define MAX_CANDS 8

struct scan {
	int rootfd;	/* the image's root, where every path resolves */
	struct cand c[MAX_CANDS]; /* the kernels found */
	unsigned n;	/* found, may exceed MAX_CANDS */
};

/* Whether @path (inside the image) is a regular file / a directory. */
static bool in_root_is(int rootfd, const char *path, mode_t type)
{
	autoclose int fd = kernel_openat(rootfd, path, O_PATH);
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

/* Note a kernel found in the image, once per version; @s->n counts on past
 * MAX_CANDS, so the caller still sees how many there were. */
static void scan_add(struct scan *s, const char *ver, const char *kernel, const char *modrel)
{
	for (unsigned i = 0; i < s->n && i < MAX_CANDS; i++)
		if (strcmp(s->c[i].version, ver) == 0)
			return; /* /lib -> usr/lib, or the same kernel in /boot too */
	if (s->n < MAX_CANDS) {
		struct cand *c = &s->c[s->n];

		snprintf(c->version, sizeof(c->version), "%s", ver);
		snprintf(c->kernel, sizeof(c->kernel), "%s", kernel);
		snprintf(c->modrel, sizeof(c->modrel), "%s", modrel);
	}
	s->n++;
}

/* Call @fn for each entry name of @dir inside the image (not . and ..). */
static void scan_dir(struct scan *s, const char *dir,
		     void (*fn)(struct scan *s, const char *dir, const char *name))
{
	int fd = kernel_openat(s->rootfd, dir, O_RDONLY | O_DIRECTORY);
	autodir DIR *d = NULL;
	struct dirent *de;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fn(s, dir, de->d_name);
}

/* <dir>/<version>/vmlinuz */
static void scan_moddir(struct scan *s, const char *dir, const char *ver)
{
	char kernel[PATH_MAX + 16], modrel[PATH_MAX];

	if (!version_ok(ver, sizeof(s->c[0].version)))
		return;
	snprintf(modrel, sizeof(modrel), "%s/%s", dir, ver);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", modrel);
	if (in_root_is(s->rootfd, kernel, S_IFREG))
		scan_add(s, ver, kernel, modrel);
}

/* /boot/vmlinuz-<version>, counted only with its modules (not, say, a
 * rescue copy without any). */
static void scan_boot(struct scan *s, const char *dir, const char *name)
{
	static const char *const mods[] = { "usr/lib/modules", "lib/modules" };
	char kernel[PATH_MAX], modrel[PATH_MAX];
	const char *ver = name + 8;

	if (strncmp(name, "vmlinuz-", 8) != 0 || !version_ok(ver, sizeof(s->c[0].version)))
		return;
	snprintf(kernel, sizeof(kernel), "%s/%s", dir, name);
	if (!in_root_is(s->rootfd, kernel, S_IFREG))
		return;
	for (size_t i = 0; i < 2; i++) {
		snprintf(modrel, sizeof(modrel), "%s/%s", mods[i], ver);
		if (in_root_is(s->rootfd, modrel, S_IFDIR)) {
			scan_add(s, ver, kernel, modrel);
			return;
		}
	}
}

/* The host path of an fd opened inside the image (resolved, no symlinks). */
static int fd_path(int fd, char *buf, size_t len, struct nb_err *e)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, len - 1);
	if (n < 0)
		return nb_err_sys(e, errno, "readlink %s", proc);
	if ((size_t)n >= len - 1)
		return nb_err_set(e, ENAMETOOLONG, "%s: path too long", proc);
	buf[n] = 0;
	return 0;
}

/* nb_kernel_find_image() - see kernel.h */
int nb_kernel_find_image(const char *root, const char *image, struct nb_kernel *k,
			 struct nb_err *e)
{
	struct scan s = { .rootfd = -1 };
	char hdrver[128], names[256] = "", depfile[PATH_MAX + 16];
	autoclose int rootfd = -1, kfd = -1, mfd = -1;
	struct stat st;
	struct cand *c;

	memset(k, 0, sizeof(*k));
	if (!realpath(root, k->root))
		return nb_err_sys(e, errno, "image %s: its root %s", image, root);
	snprintf(k->dir, sizeof(k->dir), "%s", k->root);
	s.rootfd = rootfd = open(k->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return nb_err_sys(e, errno, "image %s: its root %s", image, k->root);
	scan_dir(&s, "usr/lib/modules", scan_moddir);
	scan_dir(&s, "lib/modules", scan_moddir);
	scan_dir(&s, "boot", scan_boot);
	if (s.n != 1) {
		if (s.n == 0)
			return nb_err_set(e, ENOENT,
					  "image %s: no kernel in it (no /usr/lib/modules/*/vmlinuz, "
					  "/lib/modules/*/vmlinuz nor /boot/vmlinuz-*); use "
					  "--kernel default",
					  image);
		for (unsigned i = 0; i < s.n && i < MAX_CANDS; i++) {
			size_t used = strlen(names);

			snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
				 s.c[i].version);
		}
		return nb_err_set(e, EMLINK,
				  "image %s: ships %u kernels (%s%s); --kernel image needs exactly one",
				  image, s.n, names, s.n > MAX_CANDS ? ", ..." : "");
	}
	c = &s.c[0];
	kfd = kernel_openat(s.rootfd, c->kernel, O_RDONLY | O_NONBLOCK);
	if (kfd < 0 || fstat(kfd, &st) < 0 || !S_ISREG(st.st_mode))
		return nb_err_sys(e, kfd < 0 ? -kfd : EINVAL, "image %s: /%s", image, c->kernel);
	mfd = kernel_openat(s.rootfd, c->modrel, O_PATH | O_DIRECTORY);
	if (mfd < 0)
		return nb_err_sys(e, -mfd, "image %s: /%s", image, c->modrel);
	snprintf(depfile, sizeof(depfile), "%s/modules.dep", c->modrel);
	if (!in_root_is(s.rootfd, depfile, S_IFREG))
		return nb_err_set(e, ENOENT, "image %s: kernel %s has no /%s (run depmod)", image,
				  c->version, depfile);
	if (nb_kernel_probe(kfd, &k->pvh, hdrver, sizeof(hdrver)) < 0)
		return nb_err_set(e, ENOEXEC, "image %s: /%s is neither a bzImage nor an ELF vmlinux",
				  image, c->kernel);
	/* Its modules are found by `uname -r`: a kernel in another version's
	 * directory would boot and then load none of them. */
	if (hdrver[0] && strcmp(hdrver, c->version) != 0)
		return nb_err_set(e, EINVAL, "image %s: /%s is kernel %s, not %s", image, c->kernel,
				  hdrver, c->version);
	snprintf(k->version, sizeof(k->version), "%s", c->version);
	snprintf(k->modrel, sizeof(k->modrel), "%s", c->modrel);
	if (fd_path(kfd, k->kernel, sizeof(k->kernel), e) < 0 ||
	    fd_path(mfd, k->moddir, sizeof(k->moddir), e) < 0)
		return nb_err_wrap(e, "image %s", image);
	nb_debug("kernel image %s: %s (%s, %s), modules in %s", image, k->kernel, k->version,
		 k->pvh ? "PVH vmlinux" : "bzImage", k->moddir);
	try_pvh(k);
	return 0;
}
