/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot: kernel lookup, module resolution, initramfs cache, per-run initrd. */
#include "boot/boot.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/cache.h"
#include "boot/cpio.h"
#include "boot/decompress.h"
#include "boot/kernel.h"
#include "config.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/paths.h"

/* The modules nestbox-init needs, by name; dependencies come from modules.dep.
 * The core ones come before the control port and the root; the late ones
 * (rng, network) load in a thread while the root is mounted. */
static const char *const core_modules[] = {
	"virtio_mmio", "virtio_console", "fuse", "overlay", NULL,
};
static const char *const all_modules[] = {
	"virtio_mmio", "virtio_console", "fuse", "overlay", "virtio_rng", "virtio_net", NULL,
};
/* -M q35 (run --system with SMBIOS credentials) puts the virtio devices on
 * PCI: in the archive when the kernel has it as a module, loaded (before the
 * control port opens) only when the command line has no pci=off. */
static const char *const pci_modules[] = {
	"virtio_pci", NULL,
};
/* The guest end of the vhost-vsock transport: in the archive when the kernel
 * has it, loaded only when the command line asks for vsock. */
static const char *const vsock_modules[] = {
	"virtio_mmio", "vmw_vsock_virtio_transport", NULL,
};

/* Bumped when the archive layout or the cache key changes, so old caches
 * are not reused. 3: the key holds the kernel's and the modules' identity;
 * compressed modules are stored decompressed. */
#define INITRAMFS_FORMAT "3"

/* A module larger than this, decompressed, is refused (the largest in a
 * distribution kernel, amdgpu, is ~20 MiB; ours are < 1 MiB). */
#define MODULE_MAX (64u << 20)

/* nb_init_path() - see boot.h */
int nb_init_path(char *buf, size_t len, struct nb_err *e)
{
	const char *env = getenv("NESTBOX_INIT");
	char self[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return access(buf, R_OK) == 0 ? 0 : nb_err_sys(e, errno, "NESTBOX_INIT %s", env);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		const char *rel[] = { "nestbox-init", "src/guest/nestbox-init" };

		self[n] = 0;
		dirname(self);
		for (size_t i = 0; i < 2; i++) {
			snprintf(cand, sizeof(cand), "%s/%s", self, rel[i]);
			if (access(cand, R_OK) == 0) {
				snprintf(buf, len, "%s", cand);
				return 0;
			}
		}
	}
	snprintf(cand, sizeof(cand), "%s/nestbox-init", NESTBOX_LIBEXECDIR);
	if (access(cand, R_OK) == 0) {
		snprintf(buf, len, "%s", cand);
		return 0;
	}
	return nb_err_set(e, ENOENT, "nestbox-init: not found next to nestbox nor in %s",
			  NESTBOX_LIBEXECDIR);
}


/* "kernel/drivers/char/hw_random/virtio-rng.ko" -> "virtio_rng" */
static void mod_name(const char *path, size_t len, char *out, size_t outlen)
{
	const char *base = path, *end = path + len;
	size_t n;

	for (const char *p = path; p < end; p++)
		if (*p == '/')
			base = p + 1;
	n = (size_t)(end - base);
	for (const char *p = base; p < end; p++)
		if (p + 3 <= end && strncmp(p, ".ko", 3) == 0) {
			n = (size_t)(p - base);
			break;
		}
	if (n >= outlen)
		n = outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = base[i] == '-' ? '_' : base[i];
	out[n] = 0;
}

/* What nb_modules_resolve() works on: the two module lists and its result. */
struct resolve {
	char *dep;	/* modules.dep, NUL-terminated */
	char *builtin;	/* modules.builtin, may be NULL */
	char **out;	/* the modules to load, dependencies first (NULL-terminated) */
	size_t n, cap;	/* entries in @out, entries allocated */
};

/* Find the line of modules.dep for @name; returns its start or NULL. */
static char *dep_line(struct resolve *rs, const char *name)
{
	for (char *l = rs->dep; l && *l;) {
		char *colon = strchr(l, ':'), *nl = strchr(l, '\n');
		char m[128];

		if (!colon || (nl && colon > nl))
			goto next;
		mod_name(l, (size_t)(colon - l), m, sizeof(m));
		if (strcmp(m, name) == 0)
			return l;
next:
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* Whether modules.builtin lists @name (normalised, '_' for '-'). */
static bool is_builtin(struct resolve *rs, const char *name)
{
	for (char *l = rs->builtin; l && *l;) {
		char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		char m[128];

		mod_name(l, len, m, sizeof(m));
		if (strcmp(m, name) == 0)
			return true;
		l = nl ? nl + 1 : NULL;
	}
	return false;
}

/* Add @name and, first, what it depends on (modules.dep's closure, in reverse)
 * to @rs->out, once each; a built-in one adds nothing. @depth guards against
 * loops. */
static int add_module(struct resolve *rs, const char *name, int depth, struct nb_err *e)
{
	char norm[128], *line, *colon, *nl, *p;
	size_t plen;

	if (depth > 32)
		return nb_err_set(e, ELOOP, "module %s: dependency loop", name);
	snprintf(norm, sizeof(norm), "%s", name);
	for (p = norm; *p; p++)
		if (*p == '-')
			*p = '_';
	line = dep_line(rs, norm);
	if (!line) {
		if (is_builtin(rs, norm))
			return 0;
		return nb_err_set(e, ENOENT, "module %s: not in modules.dep nor built in", name);
	}
	colon = strchr(line, ':');
	plen = (size_t)(colon - line);
	for (size_t i = 0; i < rs->n; i++)
		if (strlen(rs->out[i]) == plen && strncmp(rs->out[i], line, plen) == 0)
			return 0;
	nl = strchr(colon, '\n');
	/* modules.dep lists the full closure; load in reverse of its order. */
	{
		char deps[4096];
		char *toks[64];
		int nt = 0;
		size_t dl = nl ? (size_t)(nl - colon - 1) : strlen(colon + 1);

		if (dl >= sizeof(deps))
			return nb_err_set(e, E2BIG, "module %s: too many dependencies", name);
		memcpy(deps, colon + 1, dl);
		deps[dl] = 0;
		for (char *s = strtok(deps, " \t"); s && nt < 64; s = strtok(NULL, " \t"))
			toks[nt++] = s;
		for (int i = nt - 1; i >= 0; i--) {
			char m[128];
			int r;

			mod_name(toks[i], strlen(toks[i]), m, sizeof(m));
			r = add_module(rs, m, depth + 1, e);
			if (r < 0)
				return r;
		}
	}
	if (rs->n + 2 > rs->cap) {
		char **v = realloc(rs->out, (rs->cap + 16) * sizeof(*v));

		if (!v)
			return nb_err_set(e, ENOMEM, "module list: out of memory");
		rs->out = v;
		rs->cap += 16;
	}
	rs->out[rs->n] = strndup(line, plen);
	if (!rs->out[rs->n])
		return nb_err_set(e, ENOMEM, "module list: out of memory");
	rs->out[++rs->n] = NULL;
	return 0;
}

/* Read all of @fd (a regular file of at most @cap - 1 bytes), NUL-terminated,
 * into *@out. */
static int slurp_fd(int fd, size_t cap, char **out, const char *what, struct nb_err *e)
{
	autofree char *buf = NULL;
	struct stat st;
	size_t size, got = 0;

	if (fstat(fd, &st) < 0)
		return nb_err_sys(e, errno, "stat %s", what);
	if ((uint64_t)st.st_size >= cap)
		return nb_err_set(e, EFBIG, "read %s: larger than %zu bytes", what, cap - 1);
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (!buf)
		return nb_err_set(e, ENOMEM, "read %s: out of memory", what);
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nb_err_sys(e, errno, "read %s", what);
		if (n == 0)
			break; /* it shrank: take what is there */
		got += (size_t)n;
	}
	buf[got] = 0;
	*out = steal_pointer(&buf);
	return 0;
}

/* Whether every file of the resolved list @mods is in @k's modules tree: a
 * pruned tree (a nested root carries only the .ko files it needs) may name a
 * module in modules.dep without having it, and an optional set then counts
 * as absent instead of failing the boot. */
static bool modules_present(const struct nb_kernel *k, char *const *mods)
{
	for (size_t i = 0; mods && mods[i]; i++) {
		int fd = kernel_open(k, mods[i], NULL);

		if (fd < 0) {
			nb_debug("kernel %s: optional module %s not in %s", k->version, mods[i],
				 k->moddir);
			return false;
		}
		close(fd);
	}
	return true;
}

/* Read @k's modules.dep (required) and modules.builtin (if any) into @rs. */
static int deps_load(const struct nb_kernel *k, struct resolve *rs, struct nb_err *e)
{
	autoclose int dep = kernel_open(k, "modules.dep", e);
	autoclose int bi = -1;
	int r;

	if (dep < 0)
		return dep;
	r = slurp_fd(dep, 16u << 20, &rs->dep, "modules.dep", e);
	if (r < 0)
		return r;
	bi = kernel_open(k, "modules.builtin", NULL);
	if (bi >= 0 && slurp_fd(bi, 8u << 20, &rs->builtin, "modules.builtin", NULL) < 0)
		rs->builtin = NULL;
	return 0;
}

/* The modules for @names, dependencies first, into *@out (malloc'd). */
static int deps_resolve(struct resolve *rs, const char *const *names, char ***out,
			struct nb_err *e)
{
	int r = 0;

	rs->n = 0;
	rs->cap = 1;
	rs->out = calloc(1, sizeof(*rs->out));
	if (!rs->out)
		return nb_err_set(e, ENOMEM, "module list: out of memory");
	for (size_t i = 0; r == 0 && names[i]; i++)
		r = add_module(rs, names[i], 0, e);
	if (r < 0) {
		nb_strv_free(rs->out);
		rs->out = NULL;
		return r;
	}
	*out = rs->out;
	rs->out = NULL;
	return (int)rs->n;
}

/* nb_modules_resolve() - see boot.h */
int nb_modules_resolve(const char *moddir, const char *const *names, char ***out,
		       struct nb_err *e)
{
	autofree struct nb_kernel *k = calloc(1, sizeof(*k));
	struct resolve rs = { 0 };
	int r;

	if (!k)
		return nb_err_set(e, ENOMEM, "out of memory");
	snprintf(k->moddir, sizeof(k->moddir), "%s", moddir);
	r = deps_load(k, &rs, e);
	if (r == 0)
		r = deps_resolve(&rs, names, out, e);
	free(rs.dep);
	free(rs.builtin);
	return r < 0 ? nb_err_wrap(e, "kernel modules in %s", moddir) : r;
}

/* How a module file is compressed, by its name (as modules.dep names it). */
static int module_filter(const char *entry)
{
	size_t n = strlen(entry);

	if (n > 6 && strcmp(entry + n - 6, ".ko.xz") == 0)
		return ARCHIVE_FILTER_XZ;
	if (n > 7 && strcmp(entry + n - 7, ".ko.zst") == 0)
		return ARCHIVE_FILTER_ZSTD;
	if (n > 6 && strcmp(entry + n - 6, ".ko.gz") == 0)
		return ARCHIVE_FILTER_GZIP;
	return ARCHIVE_FILTER_NONE;
}

/* "kernel/fs/fuse/fuse.ko.xz" -> "fuse.ko" */
static void module_base(const char *entry, char *out, size_t len)
{
	const char *base = strrchr(entry, '/');
	const char *ko;

	base = base ? base + 1 : entry;
	snprintf(out, len, "%s", base);
	ko = strstr(out, ".ko");
	if (ko && ko[3] == '.')
		out[ko - out + 3] = 0;
}

/* Add one module as @name, decompressed if its file is compressed. */
static int add_module_file(struct nb_cpio *c, const struct nb_kernel *k, const char *entry,
			   const char *name, struct nb_err *e)
{
	autoclose int fd = kernel_open(k, entry, e);
	autofree char *data = NULL;
	char what[PATH_MAX + 16];
	int filter = module_filter(entry);
	size_t len = 0;
	int r;

	if (fd < 0)
		return fd;
	if (filter == ARCHIVE_FILTER_NONE)
		return nb_cpio_add_fd(c, name, 0644, fd, entry, e);
	snprintf(what, sizeof(what), "module %s", entry);
	r = boot_decompress(fd, NULL, 0, filter, MODULE_MAX, 0, what, &data, &len, e);
	if (r < 0)
		return r;
	return nb_cpio_add(c, name, S_IFREG | 0644, data, len, 0, 0, e);
}

/* Feed what is left of @fd into @ctx; @what names it in messages. */
static int sha256_fd(int fd, EVP_MD_CTX *ctx, const char *what, struct nb_err *e)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	return n < 0 ? nb_err_sys(e, errno, "read %s", what) : 0;
}

/* Feed the file @path into @ctx. */
static int sha256_file(const char *path, EVP_MD_CTX *ctx, struct nb_err *e)
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return nb_err_sys(e, errno, "open %s", path);
	return sha256_fd(fd, ctx, path, e);
}

/* Hash each module of @list (may be NULL): its name, then its content. */
static int sha256_modules(const struct nb_kernel *k, char **list, EVP_MD_CTX *ctx,
			  struct nb_err *e)
{
	for (char **l = list; l && *l; l++) {
		autoclose int fd = kernel_open(k, *l, e);
		int r;

		if (fd < 0)
			return fd;
		EVP_DigestUpdate(ctx, *l, strlen(*l) + 1);
		r = sha256_fd(fd, ctx, *l, e);
		if (r < 0)
			return r;
	}
	return 0;
}
/* The cache key of @k's initramfs (16 hex digits). The archive holds
 * nestbox-init and the modules, so their content is hashed: module list,
 * modules.dep and every module file (~1-2 MB, a few ms), and nestbox-init.
 * The kernel file itself is not in the archive; its identity as the
 * filesystem knows it (device, inode, size, mtime, ctime) and its version
 * are added so that two kernels never share an archive even where their
 * modules coincide. Hashing the kernel's content instead would cost ~100 ms
 * per run for the default 65 MB vmlinux. */
static int initramfs_key(const struct nb_kernel *k, const char *dep, char **mods, char **all,
			 char **vsock, char **pci, const char *init, char hex[17], struct nb_err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct stat st;
	int r = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return nb_err_set(e, ENOMEM, "sha256: cannot start");
	}
	EVP_DigestUpdate(ctx, INITRAMFS_FORMAT, 1);
	EVP_DigestUpdate(ctx, k->version, strlen(k->version) + 1);
	if (stat(k->kernel, &st) < 0) {
		r = nb_err_sys(e, errno, "stat %s", k->kernel);
		goto out;
	}
	{
		uint64_t id[7] = {
			(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
			(uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
			(uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec,
		};

		EVP_DigestUpdate(ctx, id, sizeof(id));
	}
	EVP_DigestUpdate(ctx, dep, strlen(dep) + 1);
	for (char **l = mods; *l; l++)
		EVP_DigestUpdate(ctx, *l, strlen(*l) + 1);
	EVP_DigestUpdate(ctx, "|", 1);
	r = sha256_modules(k, all, ctx, e);
	if (r < 0)
		goto out;
	EVP_DigestUpdate(ctx, "|", 1);
	r = sha256_modules(k, vsock, ctx, e);
	if (r < 0)
		goto out;
	EVP_DigestUpdate(ctx, "|", 1);
	r = sha256_modules(k, pci, ctx, e);
	if (r < 0)
		goto out;
	r = sha256_file(init, ctx, e);
	if (r < 0)
		goto out;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* Add @mods (skipping those in @skip) as nestbox/NN-name.ko, listed in @listname. */
static int add_modules(struct nb_cpio *c, char **mods, char **skip, const char *listname,
		       const struct nb_kernel *k, size_t *seq, struct nb_err *e)
{
	char list[16384] = "", base[256], name[PATH_MAX];
	size_t used = 0;
	int r;

	for (size_t i = 0; mods[i]; i++) {
		bool skipped = false;

		for (size_t j = 0; skip && skip[j]; j++)
			skipped = skipped || strcmp(skip[j], mods[i]) == 0;
		if (skipped)
			continue;
		module_base(mods[i], base, sizeof(base));
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%02zu-%s\n", *seq, base);
		if (used >= sizeof(list))
			return nb_err_set(e, E2BIG, "initramfs: module list too long");
		snprintf(name, sizeof(name), "nestbox/%02zu-%s", (*seq)++, base);
		r = add_module_file(c, k, mods[i], name, e);
		if (r < 0)
			return r;
	}
	return nb_cpio_add(c, listname, S_IFREG | 0644, list, used, 0, 0, e);
}

/* The initramfs into @f: the directories, /dev/console, /init and the three
 * module lists (core, late, and vsock when @vsock) with their modules. */
static int write_archive(FILE *f, const char *init, char **core, char **all, char **vsock,
			 char **pci, const struct nb_kernel *k, struct nb_err *e)
{
	struct nb_cpio c;
	size_t seq = 0;
	int r;

	nb_cpio_init(&c, f);
	if ((r = nb_cpio_add(&c, "dev", S_IFDIR | 0755, NULL, 0, 0, 0, e)) < 0 ||
	    (r = nb_cpio_add(&c, "dev/console", S_IFCHR | 0600, NULL, 0, 5, 1, e)) < 0 ||
	    (r = nb_cpio_add(&c, "proc", S_IFDIR | 0555, NULL, 0, 0, 0, e)) < 0 ||
	    (r = nb_cpio_add(&c, "sys", S_IFDIR | 0555, NULL, 0, 0, 0, e)) < 0 ||
	    (r = nb_cpio_add(&c, "mnt", S_IFDIR | 0755, NULL, 0, 0, 0, e)) < 0 ||
	    (r = nb_cpio_add(&c, "nestbox", S_IFDIR | 0755, NULL, 0, 0, 0, e)) < 0 ||
	    (r = nb_cpio_add_file(&c, "init", 0755, init, e)) < 0 ||
	    (r = add_modules(&c, core, NULL, "nestbox/modules", k, &seq, e)) < 0 ||
	    (r = add_modules(&c, all, core, "nestbox/modules.late", k, &seq, e)) < 0)
		return r;
	/* The vsock list skips what the core list loads already (virtio_mmio
	 * and the virtio core it depends on). */
	if (vsock && (r = add_modules(&c, vsock, core, "nestbox/modules.vsock", k, &seq, e)) < 0)
		return r;
	if (pci && (r = add_modules(&c, pci, core, "nestbox/modules.pci", k, &seq, e)) < 0)
		return r;
	return nb_cpio_finish(&c, e);
}

/* A version as part of a file name: anything odd becomes '_'. */
static void version_name(const char *v, char *out, size_t len)
{
	size_t i;

	for (i = 0; v[i] && i + 1 < len; i++)
		out[i] = isalnum((unsigned char)v[i]) || strchr(".-_+", v[i]) ? v[i] : '_';
	out[i] = 0;
}

/* nb_initramfs_get() - see boot.h */
int nb_initramfs_get(const struct nb_kernel *k, const char *init, char *out, size_t len,
		     struct nb_err *e)
{
	char data[PATH_MAX], dir[PATH_MAX + 32], tmp[PATH_MAX + 200], hex[17], ver[64];
	char **mods = NULL, **all = NULL, **vsock = NULL, **pci = NULL;
	struct resolve rs = { 0 };
	FILE *f;
	int r, fd;

	r = deps_load(k, &rs, e);
	if (r >= 0)
		r = deps_resolve(&rs, core_modules, &mods, e);
	if (r >= 0)
		r = deps_resolve(&rs, all_modules, &all, e);
	if (r < 0) {
		nb_err_wrap(e, "kernel %s: modules in %s", k->version, k->moddir);
		goto out;
	}
	if (!mods || !all) {
		r = nb_err_set(e, EINVAL, "kernel %s: no modules resolved in %s", k->version,
			       k->moddir);
		goto out;
	}
	/* Optional: a kernel without vsock just gets virtio-serial. */
	if (deps_resolve(&rs, vsock_modules, &vsock, NULL) < 0)
		vsock = NULL;
	/* Optional too: a kernel with virtio_pci built in needs no module. */
	if (deps_resolve(&rs, pci_modules, &pci, NULL) < 0)
		pci = NULL;
	if (vsock && !modules_present(k, vsock)) {
		nb_strv_free(vsock);
		vsock = NULL;
	}
	if (pci && !modules_present(k, pci)) {
		nb_strv_free(pci);
		pci = NULL;
	}
	r = initramfs_key(k, rs.dep, mods, all, vsock, pci, init, hex, e);
	if (r < 0)
		goto out;
	r = nb_data_dir(data, sizeof(data), e);
	if (r < 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s/cache/initramfs", data);
	r = nb_mkdir_p(dir, 0755, e);
	if (r < 0)
		goto out;
	version_name(k->version, ver, sizeof(ver));
	if ((size_t)snprintf(out, len, "%s/%s-%s.cpio", dir, ver, hex) >= len) {
		r = nb_err_set(e, ENAMETOOLONG, "initramfs path: too long");
		goto out;
	}
	if (access(out, R_OK) == 0) {
		/* cached; marked as used, so that boot_prune_cache() leaves it alone */
		utimensat(AT_FDCWD, out, NULL, 0);
		nb_debug("initramfs %s (cached)", out);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = nb_err_sys(e, errno, "create %s", tmp);
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		r = nb_err_sys(e, errno, "create %s", tmp);
		goto out;
	}
	r = write_archive(f, init, mods, all, vsock, pci, k, e);
	if (fclose(f) != 0 && r == 0)
		r = nb_err_sys(e, errno, "write %s", tmp);
	if (r == 0 && (chmod(tmp, 0644) < 0 || rename(tmp, out) < 0))
		r = nb_err_sys(e, errno, "rename to %s", out);
	if (r < 0) {
		unlink(tmp);
		nb_err_wrap(e, "initramfs for kernel %s", k->version);
	} else {
		nb_debug("initramfs %s (built)", out);
		/* Each new nestbox-init makes a new archive: drop the ones not used
		 * for an hour (another nestbox sharing the data dir rebuilds its own). */
		boot_prune_cache(dir, out, (const char *const[]){ ".cpio", NULL }, 3600);
	}
out:
	free(rs.dep);
	free(rs.builtin);
	nb_strv_free(mods);
	nb_strv_free(all);
	nb_strv_free(vsock);
	nb_strv_free(pci);
	return r < 0 ? r : 0;
}

/* nb_kernel_has_vsock() - see boot.h */
bool nb_kernel_has_vsock(const struct nb_kernel *k)
{
	struct resolve rs = { 0 };
	char **mods = NULL;
	bool ok;

	ok = deps_load(k, &rs, NULL) == 0 && deps_resolve(&rs, vsock_modules, &mods, NULL) >= 0;
	free(rs.dep);
	free(rs.builtin);
	nb_strv_free(mods);
	return ok;
}

/* nb_initrd_for_run() - see boot.h */
int nb_initrd_for_run(const char *initramfs, const void *spec, size_t spec_len,
		      struct nb_err *e)
{
	autoclose int fd = memfd_create("nestbox-initrd", MFD_CLOEXEC);
	autoclose int src = open(initramfs, O_RDONLY | O_CLOEXEC);
	autofree char *mem = NULL;
	size_t memlen = 0;
	struct nb_cpio c;
	struct stat st;
	off_t off = 0;
	FILE *f;
	int r;

	if (fd < 0)
		return nb_err_sys(e, errno, "memfd for the initrd");
	if (src < 0 || fstat(src, &st) < 0)
		return nb_err_sys(e, errno, "open %s", initramfs);
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, src, &off, (size_t)(st.st_size - off));

		if (n <= 0)
			return nb_err_sys(e, n < 0 ? errno : EIO, "copy %s", initramfs);
	}
	f = open_memstream(&mem, &memlen);
	if (!f)
		return nb_err_sys(e, errno, "spec cpio");
	nb_cpio_init(&c, f);
	r = nb_cpio_add(&c, "nestbox/spec", S_IFREG | 0600, spec, spec_len, 0, 0, e);
	if (r == 0)
		r = nb_cpio_finish(&c, e);
	fclose(f);
	if (r < 0)
		return r;
	if (nb_write_all(fd, mem, memlen) < 0)
		return nb_err_sys(e, errno, "write the initrd");
	return steal_fd(&fd);
}
