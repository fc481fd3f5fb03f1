/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kstore: prepared kernels (see kstore.h).
 *
 * Theory of operation: a kernel is Debian's linux-image package, made
 * bootable. Debian's own tools do what they are the authority for — apt-cache
 * resolves the package and gives the digest its signed lists carry, apt-get
 * fetches it, dpkg-deb unpacks it, depmod indexes its modules — each run as a
 * child with its output captured, so a failure is one line naming the step.
 * What is nestbox's own is done here: choosing the files, extracting the
 * uncompressed vmlinux from the bzImage (the boot module's decompressor, so
 * no script is needed), and publishing the directory by one rename under a
 * lock, so that concurrent prepares (make check in several checkouts) and
 * runs never see half a kernel. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot/bzimage.h"
#include "boot/kstore.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/paths.h"

#define APT_ARCHIVES "/var/cache/apt/archives"
#define TOOL_OUT_MAX (256 << 10)

/* nb_kstore_dir() - see kstore.h */
int nb_kstore_dir(char *buf, size_t len, struct nb_err *e)
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

/* name_ok() - whether @s can name a kernel directory: 1..100 of [A-Za-z0-9.+_-],
 * not starting with '.' (a version, never a path) */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 100 || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(".+_-", *s)))
			return false;
	return true;
}

/* last_line() - the last non-empty line of @s (modified in place) */
static const char *last_line(char *s)
{
	char *end = s + strlen(s), *p;

	while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
		*--end = '\0';
	p = strrchr(s, '\n');
	return p ? p + 1 : s;
}

/* read_fd() - read @fd from its start into @buf (NUL-terminated, the rest dropped) */
static void read_fd(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while (got + 1 < cap && ((n = read(fd, buf + got, cap - 1 - got)) > 0 ||
				 (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	buf[got] = '\0';
}

/**
 * run_tool() - run a Debian tool and wait for it
 * @argv:	the command; found in $PATH, /usr/sbin or /sbin
 * @cwd:	its working directory, or NULL for ours
 * @out, @cap:	its stdout (NUL-terminated, at most @cap - 1 bytes kept), or
 *		NULL to drop it
 * @e:		on failure: "TOOL: the last line it wrote to stderr"
 *
 * Its stderr is captured, never shown: only the failing line reaches the user.
 * Return: 0 when it exited 0, else negative errno
 */
static int run_tool(char *const argv[], const char *cwd, char *out, size_t cap,
		    struct nb_err *e)
{
	autoclose int ofd = memfd_create("nestbox-tool-out", MFD_CLOEXEC);
	autoclose int efd = memfd_create("nestbox-tool-err", MFD_CLOEXEC);
	char err[4096];
	pid_t pid;
	int status;

	if (ofd < 0 || efd < 0)
		return nb_err_sys(e, errno, "%s", argv[0]);
	pid = fork();
	if (pid < 0)
		return nb_err_sys(e, errno, "%s", argv[0]);
	if (pid == 0) {
		const char *path = getenv("PATH");
		char newpath[4096];
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		snprintf(newpath, sizeof(newpath), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
		setenv("PATH", newpath, 1);
		setenv("LC_ALL", "C", 1); /* the output parsed here is the untranslated one */
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0 ||
		    (cwd && chdir(cwd) < 0))
			_exit(126);
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			int err_no = errno;

			kill(pid, SIGKILL);
			return nb_err_sys(e, err_no, "wait for %s", argv[0]);
		}
	}
	if (out)
		read_fd(ofd, out, cap);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	read_fd(efd, err, sizeof(err));
	if (WIFSIGNALED(status))
		return nb_err_set(e, EIO, "%s: killed by signal %d", argv[0], WTERMSIG(status));
	return nb_err_set(e, EIO, "%s: %s", argv[0],
			  err[0] ? last_line(err) : "failed without saying why");
}

/* field() - the value of "NAME: value" lines in @text (first match), or false */
static bool field(const char *text, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *v = p + nl + 1, *end;

		if (strncmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		while (*v == ' ')
			v++;
		end = strchrnul(v, '\n');
		snprintf(buf, len, "%.*s", (int)(end - v), v);
		return true;
	}
	return false;
}

/* debian_arch() - Debian's name for this machine's kernels' flavour */
static const char *debian_arch(void)
{
	struct utsname u;

	if (uname(&u) < 0)
		return NULL;
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	return NULL;
}

/**
 * resolve() - the versioned package Debian's kernel meta package depends on
 * @meta:	"linux-image-amd64"
 * @pkg:	output: "linux-image-6.1.0-57-amd64"
 *
 * Return: 0, or -ENOENT (no package lists, even after apt-get update)
 */
static int resolve(const char *meta, char *pkg, size_t len, struct nb_err *e)
{
	char *const cmd[] = { "apt-cache", "depends", (char *)meta, NULL };
	char *const update[] = { "apt-get", "update", "-qq", NULL };
	autofree char *out = malloc(TOOL_OUT_MAX);
	size_t pl = strlen("linux-image-");

	if (!out)
		return nb_err_set(e, ENOMEM, "out of memory");
	for (int tries = 0; tries < 2; tries++) {
		if (tries == 1 && run_tool(update, NULL, NULL, 0, NULL) < 0)
			break;
		if (run_tool(cmd, NULL, out, TOOL_OUT_MAX, NULL) < 0)
			continue;
		for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
			while (*line == ' ')
				line++;
			if (strncmp(line, "Depends: ", 9) != 0)
				continue;
			line += 9;
			if (strncmp(line, "linux-image-", pl) == 0 && line[pl] >= '0' &&
			    line[pl] <= '9' && name_ok(line + pl)) {
				snprintf(pkg, len, "%s", line);
				return 0;
			}
		}
	}
	return nb_err_set(e, ENOENT, "cannot resolve %s: no apt package lists (apt-get update "
			  "failed or is offline)", meta);
}

/* sha256_file() - "<hex>" of a file's content. Return: 0 or -errno */
static int sha256_file(const char *path, char hex[65])
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char buf[64 << 10];
	EVP_MD_CTX *ctx;
	ssize_t n;

	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			EVP_DigestUpdate(ctx, buf, (size_t)n);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (n < 0)
		return -EIO;
	for (unsigned i = 0; i < 32 && i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/**
 * fetch() - the .deb of @pkg in @dir (as @deb): from apt's cache when a copy
 * there has the digest apt's lists give, else downloaded with apt-get
 * Return: 0 or negative errno
 */
static int fetch(const char *pkg, const char *dir, char *deb, size_t len, struct nb_err *e)
{
	char *const show[] = { "apt-cache", "show", "--no-all-versions", (char *)pkg, NULL };
	autofree char *out = malloc(TOOL_OUT_MAX);
	char file[PATH_MAX], want[65] = "", got[65], cached[PATH_MAX + 32];
	const char *base;
	autodir DIR *d = NULL;
	struct dirent *de;
	int r;

	if (!out)
		return nb_err_set(e, ENOMEM, "out of memory");
	r = run_tool(show, NULL, out, TOOL_OUT_MAX, e);
	if (r < 0)
		return nb_err_wrap(e, "package %s", pkg);
	if (field(out, "Filename", file, sizeof(file)) && field(out, "SHA256", want, sizeof(want))) {
		base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
		snprintf(cached, sizeof(cached), "%s/%s", APT_ARCHIVES, base);
		if (strlen(want) == 64 && sha256_file(cached, got) == 0 && strcmp(got, want) == 0) {
			char *const cp[] = { "cp", "--reflink=auto", cached, (char *)dir, NULL };

			nb_debug("kernel: %s from apt's cache %s", pkg, cached);
			r = run_tool(cp, NULL, NULL, 0, e);
			if (r < 0)
				return nb_err_wrap(e, "package %s", pkg);
		}
	}
	d = opendir(dir);
	while (d && (de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".deb"))
			break;
	if (!d || !de) {
		char *const dl[] = { "apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root",
				     (char *)pkg, NULL };
		char *const dl_user[] = { "apt-get", "download", "-qq", (char *)pkg, NULL };

		nb_info("kernel: fetching %s", pkg);
		r = run_tool(geteuid() == 0 ? dl : dl_user, dir, NULL, 0, e);
		if (r < 0)
			return nb_err_wrap(e, "fetch %s", pkg);
		if (d)
			closedir(d);
		d = opendir(dir);
		while (d && (de = readdir(d)) != NULL)
			if (strstr(de->d_name, ".deb"))
				break;
		if (!d || !de)
			return nb_err_set(e, ENOENT, "fetch %s: apt-get downloaded no .deb", pkg);
	}
	if ((size_t)snprintf(deb, len, "%s/%s", dir, de->d_name) >= len)
		return nb_err_set(e, ENAMETOOLONG, "fetch %s: path too long", pkg);
	/* apt-get checked what it downloaded against the same lists */
	if (want[0] && (sha256_file(deb, got) < 0 || strcmp(got, want) != 0))
		return nb_err_set(e, EBADMSG, "fetch %s: %s does not have the digest apt lists",
				  pkg, deb);
	return 0;
}

/* write_vmlinux() - the uncompressed vmlinux of bzImage @vmlinuz, as @path
 * (an ELF with a PVH entry, or an error). Return: 0 or negative errno */
static int write_vmlinux(const char *vmlinuz, const char *path, struct nb_err *e)
{
	autoclose int fd = open(vmlinuz, O_RDONLY | O_CLOEXEC);
	autoclose int out = -1;
	autofree unsigned char *payload = NULL;
	autofree char *elf = NULL;
	unsigned char hdr[0x250];
	uint64_t off = 0;
	size_t plen = 0, n = 0;
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return nb_err_sys(e, errno, "open %s", vmlinuz);
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return nb_err_set(e, ENOEXEC, "%s: shorter than a setup header", vmlinuz);
	r = nb_bzimage_payload(hdr, sizeof(hdr), (uint64_t)st.st_size, &off, &plen, e);
	if (r < 0 || plen == 0)
		return r < 0 ? nb_err_wrap(e, "%s", vmlinuz) : nb_err_set(e, EINVAL, "%s: empty", vmlinuz);
	payload = malloc(plen);
	if (!payload)
		return nb_err_set(e, ENOMEM, "out of memory");
	if (pread(fd, payload, plen, (off_t)off) != (ssize_t)plen)
		return nb_err_set(e, EIO, "%s: short read of its payload", vmlinuz);
	r = nb_bzimage_vmlinux(payload, plen, &elf, &n, e);
	if (r < 0)
		return nb_err_wrap(e, "%s", vmlinuz);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return nb_err_sys(e, errno, "create %s", path);
	r = nb_write_all(out, elf, n);
	if (r < 0)
		return nb_err_sys(e, -r, "write %s", path);
	return 0;
}

/* rm_tree() - cleanup for a temp directory's path: remove it, if set */
static void rm_tree(char (*p)[PATH_MAX])
{
	if ((*p)[0])
		nb_rm_rf(*p);
}
#define autormtree __attribute__((cleanup(rm_tree)))

/* move() - rename @from to @to, both under @dir. Return: 0 or -errno */
static int move(const char *dir, const char *from, const char *to, struct nb_err *e)
{
	char a[PATH_MAX + 256], b[PATH_MAX + 256];

	snprintf(a, sizeof(a), "%s/%s", dir, from);
	snprintf(b, sizeof(b), "%s/%s", dir, to);
	if (rename(a, b) < 0)
		return nb_err_sys(e, errno, "package: %s", from);
	return 0;
}

/**
 * unpack() - make @tmp/<ver> a kernel directory from the package @deb
 * @tmp:	a fresh directory of ours
 * @ver:	the kernel's version: the package holds boot/vmlinuz-<ver>
 *
 * Return: 0 or negative errno
 */
static int unpack(const char *deb, const char *tmp, const char *ver, struct nb_err *e)
{
	char root[PATH_MAX + 512], out[PATH_MAX + 128], rel[512], path[PATH_MAX + 256];
	char *const x[] = { "dpkg-deb", "-x", (char *)deb, root, NULL };
	char *const dep[] = { "depmod", "-b", out, (char *)ver, NULL };
	int r;

	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(out, sizeof(out), "%s/%s", tmp, ver);
	r = run_tool(x, NULL, NULL, 0, e);
	if (r < 0)
		return r;
	r = nb_mkdir_p(out, 0755, e);
	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "%s/lib/modules", ver);
	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	r = nb_mkdir_p(path, 0755, e);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "root/boot/vmlinuz-%s", ver);
	snprintf(rel, sizeof(rel), "%s/vmlinuz", ver);
	r = move(tmp, path, rel, e);
	if (r < 0)
		return nb_err_wrap(e, "%s holds no boot/vmlinuz-%s", deb, ver);
	snprintf(path, sizeof(path), "root/boot/config-%s", ver);
	snprintf(rel, sizeof(rel), "%s/config", ver);
	move(tmp, path, rel, NULL); /* only for people reading it */
	/* modules: /lib/modules, or /usr/lib/modules once Debian merges /usr */
	snprintf(rel, sizeof(rel), "%s/lib/modules/%s", ver, ver);
	snprintf(path, sizeof(path), "root/lib/modules/%s", ver);
	if (move(tmp, path, rel, NULL) < 0) {
		snprintf(path, sizeof(path), "root/usr/lib/modules/%s", ver);
		r = move(tmp, path, rel, e);
		if (r < 0)
			return nb_err_wrap(e, "%s holds no modules for %s", deb, ver);
	}
	r = run_tool(dep, NULL, NULL, 0, e);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/vmlinux", out);
	snprintf(root, sizeof(root), "%s/vmlinuz", out);
	r = write_vmlinux(root, path, e);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/version", out);
	snprintf(rel, sizeof(rel), "%s\n", ver);
	return nb_write_file_atomic(path, rel, strlen(rel), 0644, e);
}

/* deb_package() - the Package field of a .deb. Return: 0 or negative errno */
static int deb_package(const char *deb, char *pkg, size_t len, struct nb_err *e)
{
	char *const f[] = { "dpkg-deb", "-f", (char *)deb, "Package", NULL };
	char out[256] = "";
	int r = run_tool(f, NULL, out, sizeof(out), e);

	if (r < 0)
		return r;
	snprintf(pkg, len, "%s", nb_strip(out));
	return 0;
}

/* lock_dir() - create @kdir and take its prepare/remove lock. Return: the fd or -errno */
static int lock_dir(const char *kdir, struct nb_err *e)
{
	char path[PATH_MAX + 8];
	autoclose int fd = -1;
	int r = nb_mkdir_p(kdir, 0755, e);

	if (r < 0)
		return nb_err_wrap(e, "kernels directory");
	snprintf(path, sizeof(path), "%s/.lock", kdir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return nb_err_sys(e, errno, "open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		nb_info("waiting for another nestbox preparing a kernel");
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return nb_err_sys(e, errno, "lock %s", path);
	}
	return steal_fd(&fd);
}

/* set_default() - point "default" at @name, atomically. Return: 0 or -errno */
static int set_default(const char *kdir, const char *name, struct nb_err *e)
{
	char tmp[PATH_MAX + 32], dst[PATH_MAX + 16];

	snprintf(tmp, sizeof(tmp), "%s/.default.tmp", kdir);
	snprintf(dst, sizeof(dst), "%s/default", kdir);
	unlink(tmp);
	if (symlink(name, tmp) < 0 || rename(tmp, dst) < 0) {
		int err = errno;

		unlink(tmp);
		return nb_err_sys(e, err, "make %s the default kernel", name);
	}
	return 0;
}

/* default_name() - what "default" points at ("" when nothing) */
static void default_name(const char *kdir, char *buf, size_t len)
{
	char link[PATH_MAX + 16];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/default", kdir);
	n = readlink(link, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* prepared() - whether @kdir/@name is a complete kernel directory */
static bool prepared(const char *kdir, const char *name)
{
	char path[PATH_MAX + 256];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/version", kdir, name) >= sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

/* nb_kstore_prepare() - see kstore.h */
int nb_kstore_prepare(const struct nb_kstore_prep *p, char *name, size_t len, struct nb_err *e)
{
	char kdir[PATH_MAX - 1024], pkg[256] = "", meta[64], deb[PATH_MAX + 256], cur[256];
	char src[PATH_MAX + 256], dst[PATH_MAX];
	autormtree char tmp[PATH_MAX] = "";
	autoclose int lock = -1;
	const char *arch = debian_arch(), *ver;
	bool is_deb = p->source && strchr(p->source, '/');
	int r;

	r = nb_kstore_dir(kdir, sizeof(kdir), e);
	if (r < 0)
		return r;
	lock = lock_dir(kdir, e);
	if (lock < 0)
		return lock;
	default_name(kdir, cur, sizeof(cur));
	if (is_deb) {
		if (!realpath(p->source, deb))
			return nb_err_sys(e, errno, "kernel package %s", p->source);
		r = deb_package(deb, pkg, sizeof(pkg), e);
		if (r < 0)
			return nb_err_wrap(e, "kernel package %s", p->source);
	} else if (p->source) {
		snprintf(pkg, sizeof(pkg), "%s", p->source);
	} else {
		if (!arch)
			return nb_err_set(e, ENOTSUP, "no Debian kernel for this machine: nestbox boots "
					  "x86-64 guests");
		snprintf(meta, sizeof(meta), "linux-image-%s", arch);
		r = resolve(meta, pkg, sizeof(pkg), e);
		if (r < 0 && cur[0] && prepared(kdir, cur)) {
			nb_warn("%s; keeping the default kernel %s", e->msg, cur);
			snprintf(name, len, "%s", cur);
			return 0;
		}
		if (r < 0)
			return r;
	}
	if (strncmp(pkg, "linux-image-", 12) != 0 || !name_ok(pkg + 12) ||
	    pkg[12] < '0' || pkg[12] > '9')
		return nb_err_set(e, EINVAL, "%s: not a versioned Debian kernel package "
				  "(linux-image-VERSION)", pkg);
	ver = pkg + 12;
	if (!prepared(kdir, ver)) {
		snprintf(tmp, sizeof(tmp), "%s/.prep.XXXXXX", kdir);
		if (!mkdtemp(tmp)) {
			r = nb_err_sys(e, errno, "create %s", tmp);
			tmp[0] = '\0';
			return r;
		}
		if (!is_deb) {
			r = fetch(pkg, tmp, deb, sizeof(deb), e);
			if (r < 0)
				return r;
		}
		r = unpack(deb, tmp, ver, e);
		if (r < 0)
			return nb_err_wrap(e, "prepare %s", pkg);
		snprintf(src, sizeof(src), "%s/%s", tmp, ver);
		snprintf(dst, sizeof(dst), "%s/%s", kdir, ver);
		nb_rm_rf(dst); /* an incomplete one, made by hand or by an old script */
		if (rename(src, dst) < 0)
			return nb_err_sys(e, errno, "prepare %s: store it as %s", pkg, dst);
	}
	if (!p->keep_default || !cur[0]) {
		r = set_default(kdir, ver, e);
		if (r < 0)
			return r;
	}
	snprintf(name, len, "%s", ver);
	return 0;
}

/* entry_cmp() - qsort order of kernels: by name */
static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nb_kstore_entry *)a)->name,
		      ((const struct nb_kstore_entry *)b)->name);
}

/* nb_kstore_list() - see kstore.h */
int nb_kstore_list(struct nb_kstore_entry **out, size_t *n, struct nb_err *e)
{
	char kdir[PATH_MAX - 1024], cur[256], path[PATH_MAX];
	autofree struct nb_kstore_entry *v = NULL;
	autodir DIR *d = NULL;
	struct dirent *de;
	size_t cap = 0, cnt = 0;
	struct stat st;
	int r = nb_kstore_dir(kdir, sizeof(kdir), e);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	d = opendir(kdir);
	if (!d)
		return errno == ENOENT ? 0 : nb_err_sys(e, errno, "kernels directory %s", kdir);
	default_name(kdir, cur, sizeof(cur));
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", kdir, de->d_name);
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(v->name) ||
		    lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(path, sizeof(path), "%s/%s/vmlinuz", kdir, de->d_name);
		bool z = access(path, F_OK) == 0;

		snprintf(path, sizeof(path), "%s/%s/vmlinux", kdir, de->d_name);
		bool x = access(path, F_OK) == 0;

		if (!z && !x)
			continue;
		if (cnt == cap) {
			size_t nc = cap ? 2 * cap : 8;
			struct nb_kstore_entry *nv = realloc(v, nc * sizeof(*v));

			if (!nv)
				return nb_err_set(e, ENOMEM, "out of memory");
			v = nv;
			cap = nc;
		}
		memset(&v[cnt], 0, sizeof(v[cnt]));
		snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", de->d_name);
		v[cnt].is_default = strcmp(cur, de->d_name) == 0;
		v[cnt].pvh = x;
		cnt++;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), entry_cmp);
	*n = cnt;
	*out = steal_pointer(&v);
	return 0;
}

/* nb_kstore_remove() - see kstore.h */
int nb_kstore_remove(const char *name, bool *was_default, struct nb_err *e)
{
	char kdir[PATH_MAX - 1024], cur[256], path[PATH_MAX];
	autoclose int lock = -1;
	struct stat st;
	int r = nb_kstore_dir(kdir, sizeof(kdir), e);

	*was_default = false;
	if (r < 0)
		return r;
	if (!name_ok(name))
		return nb_err_set(e, EINVAL, "kernel '%s': not a kernel name (see nestbox kernel list)",
				  name);
	lock = lock_dir(kdir, e);
	if (lock < 0)
		return lock;
	snprintf(path, sizeof(path), "%s/%s", kdir, name);
	default_name(kdir, cur, sizeof(cur));
	if (strcmp(name, "default") == 0 && cur[0])
		return nb_err_set(e, EINVAL, "kernel 'default' is %s: remove it by that name", cur);
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return nb_err_set(e, ENOENT, "kernel '%s' is not prepared (see nestbox kernel list)",
				  name);
	if (strcmp(cur, name) == 0) {
		snprintf(path, sizeof(path), "%s/default", kdir);
		if (unlink(path) < 0)
			return nb_err_sys(e, errno, "remove %s", path);
		*was_default = true;
		snprintf(path, sizeof(path), "%s/%s", kdir, name);
	}
	r = nb_rm_rf(path);
	if (r < 0)
		return nb_err_sys(e, -r, "remove %s", path);
	return 0;
}
