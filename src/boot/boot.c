/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot: kernel lookup, module resolution, initramfs cache, per-run initrd. */
#include "boot/boot.h"

#include <errno.h>
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

#include "boot/cpio.h"
#include "config.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
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
/* The guest end of the vhost-vsock transport: in the archive when the kernel
 * has it, loaded only when the command line asks for vsock. */
static const char *const vsock_modules[] = {
	"virtio_mmio", "vmw_vsock_virtio_transport", NULL,
};

/* Bumped when the archive layout changes, so old caches are not reused. */
#define INITRAMFS_FORMAT "2"

static int kernels_dir(char *buf, size_t len, struct nb_err *e)
{
	const char *env = getenv("NESTBOX_KERNELS");
	char data[PATH_MAX];
	int r;

	if (env && *env) {
		if ((size_t)snprintf(buf, len, "%s", env) >= len)
			return nb_err_set(e, ENAMETOOLONG, "NESTBOX_KERNELS: too long");
		return 0;
	}
	r = nb_data_dir(data, sizeof(data), e);
	if (r < 0)
		return r;
	if ((size_t)snprintf(buf, len, "%s/kernels", data) >= len)
		return nb_err_set(e, ENAMETOOLONG, "kernels directory: too long");
	return 0;
}

/* nb_kernel_find() - see boot.h */
int nb_kernel_find(const char *which, struct nb_kernel *k, struct nb_err *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	struct stat st;
	int r;

	memset(k, 0, sizeof(*k));
	if (!which || strcmp(which, "default") == 0) {
		r = kernels_dir(dir, sizeof(dir), e);
		if (r < 0)
			return r;
		size_t dl = strlen(dir);

		if (dl + 9 >= sizeof(dir))
			return nb_err_set(e, ENAMETOOLONG, "kernel directory: too long");
		snprintf(dir + dl, sizeof(dir) - dl, "/default");
	} else if (stat(which, &st) == 0 && S_ISREG(st.st_mode)) {
		char tmp[PATH_MAX];

		snprintf(tmp, sizeof(tmp), "%s", which);
		snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	} else {
		snprintf(dir, sizeof(dir), "%s", which);
	}
	if (!realpath(dir, k->dir))
		return nb_err_sys(e, errno, "kernel %s (%s)", which ? which : "default", dir);
	snprintf(path, sizeof(path), "%s/version", k->dir);
	if (nb_read_file("", path, k->version, sizeof(k->version), e) < 0)
		return nb_err_wrap(e, "kernel %s", which ? which : "default");
	nb_strip(k->version);
	snprintf(k->vmlinux, sizeof(k->vmlinux), "%s/vmlinux", k->dir);
	if (access(k->vmlinux, R_OK) < 0)
		return nb_err_sys(e, errno, "kernel %s: %s", which ? which : "default",
				  k->vmlinux);
	return 0;
}

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

struct resolve {
	char *dep;	/* modules.dep, NUL-terminated */
	char *builtin;	/* modules.builtin, may be NULL */
	char **out;
	size_t n, cap;
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

static char *slurp(const char *path, size_t cap)
{
	autofree char *buf = malloc(cap);

	if (!buf || nb_read_file("", path, buf, cap, NULL) < 0)
		return NULL;
	return steal_pointer(&buf);
}

/* nb_modules_resolve() - see boot.h */
int nb_modules_resolve(const char *moddir, const char *const *names, char ***out,
		       struct nb_err *e)
{
	struct resolve rs = { 0 };
	char path[PATH_MAX];
	int r = 0;

	snprintf(path, sizeof(path), "%s/modules.dep", moddir);
	rs.dep = slurp(path, 8 << 20);
	if (!rs.dep)
		return nb_err_sys(e, errno ? errno : EIO, "read %s", path);
	snprintf(path, sizeof(path), "%s/modules.builtin", moddir);
	rs.builtin = slurp(path, 4 << 20);
	rs.out = calloc(1, sizeof(*rs.out));
	rs.cap = 1;
	if (!rs.out)
		r = nb_err_set(e, ENOMEM, "module list: out of memory");
	for (size_t i = 0; r == 0 && names[i]; i++)
		r = add_module(&rs, names[i], 0, e);
	free(rs.dep);
	free(rs.builtin);
	if (r < 0) {
		nb_strv_free(rs.out);
		return nb_err_wrap(e, "kernel modules in %s", moddir);
	}
	*out = rs.out;
	return (int)rs.n;
}

static int sha256_file(const char *path, EVP_MD_CTX *ctx, struct nb_err *e)
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		return nb_err_sys(e, errno, "open %s", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	return n < 0 ? nb_err_sys(e, errno, "read %s", path) : 0;
}

/* Add @mods (skipping those in @skip) as nestbox/NN-name.ko, listed in @listname. */
static int add_modules(struct nb_cpio *c, char **mods, char **skip, const char *listname,
		       const char *moddir, size_t *seq, struct nb_err *e)
{
	char list[16384] = "", name[PATH_MAX], src[PATH_MAX * 2];
	size_t used = 0;
	int r;

	for (size_t i = 0; mods[i]; i++) {
		const char *base = strrchr(mods[i], '/');
		bool skipped = false;

		for (size_t j = 0; skip && skip[j]; j++)
			skipped = skipped || strcmp(skip[j], mods[i]) == 0;
		if (skipped)
			continue;
		base = base ? base + 1 : mods[i];
		snprintf(name, sizeof(name), "%02zu-%s", *seq, base);
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\n", name);
		if (used >= sizeof(list))
			return nb_err_set(e, E2BIG, "initramfs: module list too long");
		snprintf(src, sizeof(src), "%s/%s", moddir, mods[i]);
		snprintf(name, sizeof(name), "nestbox/%02zu-%s", (*seq)++, base);
		r = nb_cpio_add_file(c, name, 0644, src, e);
		if (r < 0)
			return r;
	}
	return nb_cpio_add(c, listname, S_IFREG | 0644, list, used, 0, 0, e);
}

static int write_archive(FILE *f, const char *init, char **core, char **all, char **vsock,
			 const char *moddir, struct nb_err *e)
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
	    (r = add_modules(&c, core, NULL, "nestbox/modules", moddir, &seq, e)) < 0 ||
	    (r = add_modules(&c, all, core, "nestbox/modules.late", moddir, &seq, e)) < 0)
		return r;
	/* The vsock list skips what the core list loads already (virtio_mmio
	 * and the virtio core it depends on). */
	if (vsock && (r = add_modules(&c, vsock, core, "nestbox/modules.vsock", moddir, &seq,
				      e)) < 0)
		return r;
	return nb_cpio_finish(&c, e);
}

/* Each new nestbox-init makes a new archive: drop the ones not used for an
 * hour (another nestbox sharing the data dir just rebuilds its own). */
static void prune_cache(const char *dir, const char *keep)
{
	autodir DIR *d = opendir(dir);
	struct dirent *de;
	time_t now = time(NULL);

	while (d && (de = readdir(d))) {
		char p[PATH_MAX + 300];
		struct stat st;
		size_t n = strlen(de->d_name);

		if (n < 5 || strcmp(de->d_name + n - 5, ".cpio") != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (strcmp(p, keep) != 0 && stat(p, &st) == 0 && now - st.st_atime > 3600 &&
		    now - st.st_mtime > 3600)
			unlink(p);
	}
}

/* nb_initramfs_get() - see boot.h */
int nb_initramfs_get(const struct nb_kernel *k, const char *init, char *out, size_t len,
		     struct nb_err *e)
{
	char moddir[PATH_MAX + 160], data[PATH_MAX], dir[PATH_MAX + 32], tmp[PATH_MAX + 200];
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[17];
	char **mods = NULL, **all = NULL, **vsock = NULL;
	EVP_MD_CTX *ctx;
	unsigned mdlen = 0;
	FILE *f;
	int r, fd;

	snprintf(moddir, sizeof(moddir), "%s/lib/modules/%s", k->dir, k->version);
	r = nb_modules_resolve(moddir, core_modules, &mods, e);
	if (r < 0)
		return r;
	r = nb_modules_resolve(moddir, all_modules, &all, e);
	if (r < 0) {
		nb_strv_free(mods);
		return r;
	}
	if (!mods || !all) {
		nb_strv_free(mods);
		nb_strv_free(all);
		return nb_err_set(e, EINVAL, "kernel modules in %s: none resolved", moddir);
	}
	/* Optional: a kernel without vsock just gets virtio-serial. */
	if (nb_modules_resolve(moddir, vsock_modules, &vsock, NULL) < 0)
		vsock = NULL;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		nb_strv_free(mods);
		nb_strv_free(all);
		return nb_err_set(e, ENOMEM, "sha256: cannot start");
	}
	EVP_DigestUpdate(ctx, INITRAMFS_FORMAT, 1);
	for (size_t i = 0; mods[i]; i++)
		EVP_DigestUpdate(ctx, mods[i], strlen(mods[i]) + 1);
	EVP_DigestUpdate(ctx, "|", 1);
	for (size_t i = 0; all[i]; i++)
		EVP_DigestUpdate(ctx, all[i], strlen(all[i]) + 1);
	EVP_DigestUpdate(ctx, "|", 1);
	for (size_t i = 0; vsock && vsock[i]; i++)
		EVP_DigestUpdate(ctx, vsock[i], strlen(vsock[i]) + 1);
	r = sha256_file(init, ctx, e);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		goto out;
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	r = nb_data_dir(data, sizeof(data), e);
	if (r < 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s/cache/initramfs", data);
	r = nb_mkdir_p(dir, 0755, e);
	if (r < 0)
		goto out;
	if ((size_t)snprintf(out, len, "%s/%s-%s.cpio", dir, k->version, hex) >= len) {
		r = nb_err_set(e, ENAMETOOLONG, "initramfs path: too long");
		goto out;
	}
	if (access(out, R_OK) == 0) {
		/* cached; marked as used, so that prune_cache() leaves it alone */
		utimensat(AT_FDCWD, out, NULL, 0);
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
	r = write_archive(f, init, mods, all, vsock, moddir, e);
	if (fclose(f) != 0 && r == 0)
		r = nb_err_sys(e, errno, "write %s", tmp);
	if (r == 0 && (chmod(tmp, 0644) < 0 || rename(tmp, out) < 0))
		r = nb_err_sys(e, errno, "rename to %s", out);
	if (r < 0) {
		unlink(tmp);
		nb_err_wrap(e, "initramfs for kernel %s", k->version);
	} else {
		prune_cache(dir, out);
	}
out:
	nb_strv_free(mods);
	nb_strv_free(all);
	nb_strv_free(vsock);
	return r;
}

/* nb_kernel_has_vsock() - see boot.h */
bool nb_kernel_has_vsock(const struct nb_kernel *k)
{
	char moddir[PATH_MAX + 160], **mods = NULL;

	snprintf(moddir, sizeof(moddir), "%s/lib/modules/%s", k->dir, k->version);
	if (nb_modules_resolve(moddir, vsock_modules, &mods, NULL) < 0)
		return false;
	nb_strv_free(mods);
	return true;
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
