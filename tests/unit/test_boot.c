/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for boot: which kernel an image ships (in fake image trees), what
 * a kernel file is, and the initramfs cache key and module decompression. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/bzimage.h"
#include "lib/fileio.h"

/* A temp dir per test, removed at the end. */
struct tree {
	char dir[64];
};

static void tree_new(struct tree *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/nb-test-boot.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
}

static void tree_free(struct tree *t)
{
	assert_int_equal(nb_rm_rf(t->dir), 0);
}

/* Write @len bytes at @rel under @t, creating its directories. */
static void put(struct tree *t, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	for (const char *p = strchr(rel, '/'); p; p = strchr(p + 1, '/')) {
		snprintf(path, sizeof(path), "%s/%.*s", t->dir, (int)(p - rel), rel);
		mkdir(path, 0755);
	}
	snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(nb_write_all(fd, data, len), 0);
	close(fd);
}

static void put_str(struct tree *t, const char *rel, const char *s)
{
	put(t, rel, s, strlen(s));
}

/* A fake bzImage: the boot protocol header with its version string. */
static void put_bzimage_sized(struct tree *t, const char *rel, const char *version,
			      size_t size)
{
	static unsigned char img[0x2000];

	assert_true(size >= 0x500 && size <= sizeof(img));
	memset(img, 0, sizeof(img));

	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x0f;
	img[0x207] = 0x02;
	img[0x20e] = 0x00; /* kernel_version: 0x200 + 0x200 = 0x400 */
	img[0x20f] = 0x02;
	snprintf((char *)img + 0x400, 0x100, "%s (nestbox@test) #1 SMP", version);
	put(t, rel, img, size);
}

static void put_bzimage(struct tree *t, const char *rel, const char *version)
{
	put_bzimage_sized(t, rel, version, 0x1000);
}

static void sym(struct tree *t, const char *target, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void test_probe_tells_vmlinux_from_bzimage(void **state)
{
	struct tree t = { "" };
	char path[PATH_MAX], ver[64];
	bool pvh = false;
	int fd;

	tree_new(&t);
	put_bzimage(&t, "bz", "6.1.0-9-amd64");
	put_str(&t, "elf", "\177ELF\2\1\1 a vmlinux");
	put_str(&t, "junk", "#!/bin/sh\necho not a kernel\n");
	snprintf(path, sizeof(path), "%s/bz", t.dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(nb_kernel_probe(fd, &pvh, ver, sizeof(ver)), 0);
	assert_false(pvh);
	assert_string_equal(ver, "6.1.0-9-amd64");
	close(fd);
	snprintf(path, sizeof(path), "%s/elf", t.dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(nb_kernel_probe(fd, &pvh, ver, sizeof(ver)), 0);
	assert_true(pvh);
	assert_string_equal(ver, "");
	close(fd);
	snprintf(path, sizeof(path), "%s/junk", t.dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(nb_kernel_probe(fd, &pvh, ver, sizeof(ver)), -ENOEXEC);
	close(fd);
	tree_free(&t);
}

static void test_image_kernel_found_by_bootc_convention(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	struct nb_kernel k;
	struct tree t = { "" };
	char want[PATH_MAX + 64];

	tree_new(&t);
	/* merged /usr: /lib is a symlink, the same kernel seen twice is one */
	put_bzimage(&t, "usr/lib/modules/6.1.0-9-amd64/vmlinuz", "6.1.0-9-amd64");
	put_str(&t, "usr/lib/modules/6.1.0-9-amd64/modules.dep", "kernel/fuse.ko:\n");
	sym(&t, "usr/lib", "lib");
	/* a /boot copy of the same version, and a rescue kernel without modules */
	put_bzimage(&t, "boot/vmlinuz-6.1.0-9-amd64", "6.1.0-9-amd64");
	put_bzimage(&t, "boot/vmlinuz-0-rescue-abc", "6.1.0-9-amd64");
	assert_int_equal(nb_kernel_find_image(t.dir, "img", &k, &e), 0);
	assert_string_equal(k.version, "6.1.0-9-amd64");
	assert_false(k.pvh);
	snprintf(want, sizeof(want), "%s/usr/lib/modules/6.1.0-9-amd64/vmlinuz", t.dir);
	assert_string_equal(k.kernel, want);
	snprintf(want, sizeof(want), "%s/usr/lib/modules/6.1.0-9-amd64", t.dir);
	assert_string_equal(k.moddir, want);
	assert_string_equal(k.modrel, "usr/lib/modules/6.1.0-9-amd64");
	tree_free(&t);

	/* /boot/vmlinuz-V with its modules in /lib/modules/V */
	tree_new(&t);
	put_bzimage(&t, "boot/vmlinuz-5.10.0-1", "5.10.0-1");
	put_str(&t, "lib/modules/5.10.0-1/modules.dep", "");
	assert_int_equal(nb_kernel_find_image(t.dir, "img", &k, &e), 0);
	assert_string_equal(k.version, "5.10.0-1");
	snprintf(want, sizeof(want), "%s/boot/vmlinuz-5.10.0-1", t.dir);
	assert_string_equal(k.kernel, want);
	assert_string_equal(k.modrel, "lib/modules/5.10.0-1");
	tree_free(&t);
}

static void test_image_kernel_errors(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	struct nb_kernel k;
	struct tree t = { "" };
	char outside[PATH_MAX + 32];

	/* none: modules without a vmlinuz are no kernel */
	tree_new(&t);
	put_str(&t, "usr/lib/modules/6.1.0-9-amd64/modules.dep", "");
	assert_int_equal(nb_kernel_find_image(t.dir, "docker.io/x/y", &k, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "docker.io/x/y"));
	assert_non_null(strstr(e.msg, "no kernel"));

	/* a symlink out of the image resolves inside it: still none */
	put_bzimage(&t, "outside/vmlinuz", "6.1.0-9-amd64");
	snprintf(outside, sizeof(outside), "%s/outside/vmlinuz", t.dir);
	sym(&t, outside, "usr/lib/modules/6.1.0-9-amd64/vmlinuz");
	e = (struct nb_err)NB_ERR_INIT;
	assert_int_equal(nb_kernel_find_image(t.dir, "img", &k, &e), -ENOENT);
	tree_free(&t);

	/* two versions */
	tree_new(&t);
	put_bzimage(&t, "usr/lib/modules/6.1.0-9-amd64/vmlinuz", "6.1.0-9-amd64");
	put_bzimage(&t, "usr/lib/modules/6.2.0-1-amd64/vmlinuz", "6.2.0-1-amd64");
	e = (struct nb_err)NB_ERR_INIT;
	assert_int_equal(nb_kernel_find_image(t.dir, "img", &k, &e), -EMLINK);
	assert_non_null(strstr(e.msg, "6.1.0-9-amd64"));
	assert_non_null(strstr(e.msg, "6.2.0-1-amd64"));
	assert_non_null(strstr(e.msg, "exactly one"));
	tree_free(&t);

	/* no modules.dep */
	tree_new(&t);
	put_bzimage(&t, "usr/lib/modules/6.1.0-9-amd64/vmlinuz", "6.1.0-9-amd64");
	e = (struct nb_err)NB_ERR_INIT;
	assert_int_equal(nb_kernel_find_image(t.dir, "img", &k, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "depmod"));
	/* a kernel in another version's directory */
	put_str(&t, "usr/lib/modules/6.1.0-9-amd64/modules.dep", "");
	put_bzimage(&t, "usr/lib/modules/6.1.0-9-amd64/vmlinuz", "6.9.9");
	e = (struct nb_err)NB_ERR_INIT;
	assert_int_equal(nb_kernel_find_image(t.dir, "img", &k, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "6.9.9"));
	/* not a kernel */
	put_str(&t, "usr/lib/modules/6.1.0-9-amd64/vmlinuz", "hello");
	e = (struct nb_err)NB_ERR_INIT;
	assert_int_equal(nb_kernel_find_image(t.dir, "img", &k, &e), -ENOEXEC);
	tree_free(&t);
}

static void test_kernel_path_file_or_dir(void **state)
{
	struct nb_err e = NB_ERR_INIT;
	struct nb_kernel k;
	struct tree t = { "" };
	char path[PATH_MAX + 32];

	tree_new(&t);
	put_bzimage(&t, "k/vmlinuz", "6.1.0-9-amd64");
	put_str(&t, "k/lib/modules/6.1.0-9-amd64/modules.dep", "");
	/* a directory with only a bzImage: the version from its header */
	snprintf(path, sizeof(path), "%s/k", t.dir);
	assert_int_equal(nb_kernel_find(path, &k, &e), 0);
	assert_false(k.pvh);
	assert_string_equal(k.version, "6.1.0-9-amd64");
	/* a vmlinux beside it wins (PVH is faster); its version from the file */
	put_str(&t, "k/vmlinux", "\177ELF\2\1\1 a vmlinux");
	put_str(&t, "k/version", "6.1.0-9-amd64\n");
	assert_int_equal(nb_kernel_find(path, &k, &e), 0);
	assert_true(k.pvh);
	assert_non_null(strstr(k.kernel, "/k/vmlinux"));
	/* the bzImage file itself */
	snprintf(path, sizeof(path), "%s/k/vmlinuz", t.dir);
	assert_int_equal(nb_kernel_find(path, &k, &e), 0);
	assert_false(k.pvh);
	assert_non_null(strstr(k.kernel, "/k/vmlinuz"));
	assert_non_null(strstr(k.moddir, "/k/lib/modules/6.1.0-9-amd64"));
	/* a file that is no kernel */
	snprintf(path, sizeof(path), "%s/k/version", t.dir);
	e = (struct nb_err)NB_ERR_INIT;
	assert_int_equal(nb_kernel_find(path, &k, &e), -ENOEXEC);
	assert_non_null(strstr(e.msg, "neither"));
	tree_free(&t);
}

/* Run a tool (xz, zstd) and expect it to succeed. */
static void run_tool(const char *const argv[])
{
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Whether @needle (of @len bytes) occurs in the file @path. */
static bool file_has(const char *path, const void *needle, size_t len)
{
	static char buf[1 << 20];
	ssize_t n = nb_read_file("", path, buf, sizeof(buf), NULL);

	return n > 0 && memmem(buf, (size_t)n, needle, len) != NULL;
}

static void test_initramfs_key_and_decompressed_modules(void **state)
{
	static const char fuse[] = "\177ELF fake fuse module";
	static const char ovl[] = "\177ELF fake overlay module";
	struct nb_err e = NB_ERR_INIT;
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], cmd[PATH_MAX * 2], init[PATH_MAX];
	struct nb_kernel k;
	struct tree t = { "" };

	tree_new(&t);
	snprintf(cmd, sizeof(cmd), "%s/home", t.dir);
	setenv("NESTBOX_HOME", cmd, 1);
	put_str(&t, "init", "#!/bin/true\n");
	snprintf(init, sizeof(init), "%s/init", t.dir);
	put_bzimage(&t, "img/usr/lib/modules/6.1.0-9-amd64/vmlinuz", "6.1.0-9-amd64");
	put_str(&t, "img/usr/lib/modules/6.1.0-9-amd64/modules.dep",
		"kernel/fs/fuse/fuse.ko.xz:\nkernel/fs/overlayfs/overlay.ko.zst:\n"
		"kernel/virtio_console.ko:\n");
	put_str(&t, "img/usr/lib/modules/6.1.0-9-amd64/modules.builtin",
		"kernel/virtio_mmio.ko\nkernel/virtio-rng.ko\nkernel/virtio_net.ko\n");
	put(&t, "img/usr/lib/modules/6.1.0-9-amd64/kernel/fs/fuse/fuse.ko", fuse, sizeof(fuse));
	put(&t, "img/usr/lib/modules/6.1.0-9-amd64/kernel/fs/overlayfs/overlay.ko", ovl,
	    sizeof(ovl));
	put_str(&t, "img/usr/lib/modules/6.1.0-9-amd64/kernel/virtio_console.ko", "\177ELF vc");
	snprintf(cmd, sizeof(cmd), "%s/img/usr/lib/modules/6.1.0-9-amd64/kernel/fs/fuse/fuse.ko",
		 t.dir);
	run_tool((const char *const[]){ "xz", "-q", cmd, NULL });
	snprintf(cmd, sizeof(cmd),
		 "%s/img/usr/lib/modules/6.1.0-9-amd64/kernel/fs/overlayfs/overlay.ko", t.dir);
	run_tool((const char *const[]){ "zstd", "-q", "--rm", cmd, NULL });
	snprintf(cmd, sizeof(cmd), "%s/img", t.dir);
	assert_int_equal(nb_kernel_find_image(cmd, "img", &k, &e), 0);
	assert_int_equal(nb_initramfs_get(&k, init, a, sizeof(a), &e), 0);
	assert_non_null(strstr(a, "/cache/initramfs/6.1.0-9-amd64-"));
	/* stored decompressed, under the plain .ko name */
	assert_true(file_has(a, fuse, sizeof(fuse)));
	assert_true(file_has(a, ovl, sizeof(ovl)));
	assert_true(file_has(a, "nestbox/01-fuse.ko", 18));
	assert_false(file_has(a, "fuse.ko.xz", 10));
	/* the same kernel again: the same archive */
	assert_int_equal(nb_initramfs_get(&k, init, b, sizeof(b), &e), 0);
	assert_string_equal(a, b);
	/* another kernel file of the same version: another archive */
	put_bzimage_sized(&t, "img/usr/lib/modules/6.1.0-9-amd64/vmlinuz", "6.1.0-9-amd64",
			  0x1800);
	assert_int_equal(nb_kernel_find_image(cmd, "img", &k, &e), 0);
	assert_int_equal(nb_initramfs_get(&k, init, c, sizeof(c), &e), 0);
	assert_string_not_equal(a, c);
	/* the same kernel with another module build (same names, same size,
	 * same modules.dep): another archive, holding the new module */
	put_str(&t, "img/usr/lib/modules/6.1.0-9-amd64/kernel/virtio_console.ko", "\177ELF VC");
	assert_int_equal(nb_initramfs_get(&k, init, b, sizeof(b), &e), 0);
	assert_string_not_equal(b, c);
	assert_true(file_has(b, "\177ELF VC", 7));
	/* a module named .xz that is not xz is refused, and no archive is left */
	put_str(&t, "img/usr/lib/modules/6.1.0-9-amd64/kernel/fs/fuse/fuse.ko.xz", "\177ELF");
	e = (struct nb_err)NB_ERR_INIT;
	assert_true(nb_initramfs_get(&k, init, c, sizeof(c), &e) < 0);
	assert_non_null(strstr(e.msg, "fuse.ko.xz"));
	assert_int_equal(access(c, F_OK), -1);
	unsetenv("NESTBOX_HOME");
	tree_free(&t);
}

/* A pruned modules tree (a nested root copies only the .ko files it needs)
 * whose modules.dep names an optional module, virtio_pci, without all of its
 * files: the archive is built without it; with the files, it holds it. */
static void test_initramfs_skips_optional_module_not_on_disk(void **state)
{
	static const char *const dir = "img/usr/lib/modules/6.1.0-9-amd64";
	struct nb_err e = NB_ERR_INIT;
	char a[PATH_MAX], b[PATH_MAX], path[PATH_MAX], init[PATH_MAX];
	struct nb_kernel k;
	struct tree t = { "" };

	tree_new(&t);
	snprintf(path, sizeof(path), "%s/home", t.dir);
	setenv("NESTBOX_HOME", path, 1);
	put_str(&t, "init", "#!/bin/true\n");
	snprintf(init, sizeof(init), "%s/init", t.dir);
	snprintf(path, sizeof(path), "%s/vmlinuz", dir);
	put_bzimage(&t, path, "6.1.0-9-amd64");
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	put_str(&t, path,
		"kernel/fuse.ko:\nkernel/overlay.ko:\nkernel/virtio_console.ko:\n"
		"kernel/virtio_pci.ko: kernel/virtio_pci_modern_dev.ko\n"
		"kernel/virtio_pci_modern_dev.ko:\n");
	snprintf(path, sizeof(path), "%s/modules.builtin", dir);
	put_str(&t, path, "kernel/virtio_mmio.ko\nkernel/virtio-rng.ko\nkernel/virtio_net.ko\n");
	for (int i = 0; i < 4; i++) {
		static const char *const names[] = { "fuse", "overlay", "virtio_console",
						     "virtio_pci" };

		snprintf(path, sizeof(path), "%s/kernel/%s.ko", dir, names[i]);
		put_str(&t, path, "\177ELF module");
	}
	snprintf(path, sizeof(path), "%s/img", t.dir);
	assert_int_equal(nb_kernel_find_image(path, "img", &k, &e), 0);
	assert_int_equal(nb_initramfs_get(&k, init, a, sizeof(a), &e), 0);
	assert_true(file_has(a, "fuse.ko", 7));
	assert_false(file_has(a, "virtio_pci", 10));
	/* the missing dependency arrives: another archive, with both */
	snprintf(path, sizeof(path), "%s/kernel/virtio_pci_modern_dev.ko", dir);
	put_str(&t, path, "\177ELF module");
	assert_int_equal(nb_initramfs_get(&k, init, b, sizeof(b), &e), 0);
	assert_string_not_equal(a, b);
	assert_true(file_has(b, "virtio_pci_modern_dev.ko", 24));
	assert_true(file_has(b, "virtio_pci.ko", 13));
	unsetenv("NESTBOX_HOME");
	tree_free(&t);
}

/* A tiny x86-64 ELF vmlinux: one PT_NOTE holding Xen notes; with @pvh, the
 * PHYS32_ENTRY one (type 18), else only another (type 17). Returns its size. */
static size_t make_elf(unsigned char *b, size_t cap, bool pvh)
{
	static const unsigned char note[] = {
		4, 0, 0, 0, 4, 0, 0, 0, 17, 0, 0, 0, 'X', 'e', 'n', 0, 1, 2, 3, 4,
		4, 0, 0, 0, 8, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0, 0, 0, 0, 1, 0, 0, 0, 0,
	};
	size_t len = 64 + 56 + sizeof(note);

	assert_true(cap >= len + 256);
	memset(b, 0, cap);
	memcpy(b, (const unsigned char[]){ 0x7f, 'E', 'L', 'F', 2, 1, 1 }, 7);
	b[0x10] = 2;	/* ET_EXEC */
	b[0x12] = 62;	/* EM_X86_64 */
	b[0x20] = 64;	/* e_phoff */
	b[0x34] = 64;	/* e_ehsize */
	b[0x36] = 56;	/* e_phentsize */
	b[0x38] = 1;	/* e_phnum */
	b[64] = 4;	/* PT_NOTE */
	b[64 + 8] = 64 + 56;	/* p_offset */
	b[64 + 32] = (unsigned char)(pvh ? sizeof(note) : 20);	/* p_filesz */
	memcpy(b + 64 + 56, note, sizeof(note));
	memset(b + len, 0x90, 256);	/* "code" */
	return len + 256;
}

/* A bzImage (protocol 2.15, 7 setup sectors) around @payload, at @rel. */
static void put_bzimage_payload(struct tree *t, const char *rel, const void *payload,
				size_t plen)
{
	static unsigned char img[0x1010 + (64u << 10)];

	assert_true(plen <= sizeof(img) - 0x1010);
	memset(img, 0, 0x1010);
	img[0x1f1] = 7;	/* protected-mode code at 8 * 512 = 0x1000 */
	memcpy(img + 0x202, (const unsigned char[]){ 'H', 'd', 'r', 'S' }, 4);
	img[0x206] = 0x0f;
	img[0x207] = 0x02;
	img[0x20f] = 0x02; /* kernel_version at 0x400 */
	snprintf((char *)img + 0x400, 0x100, "6.1.0-9-amd64 (nestbox@test) #1 SMP");
	img[0x248] = 0x10; /* payload_offset: 0x1010 in the file */
	img[0x24c] = (unsigned char)plen;
	img[0x24d] = (unsigned char)(plen >> 8);
	img[0x24e] = (unsigned char)(plen >> 16);
	memcpy(img + 0x1010, payload, plen);
	put(t, rel, img, 0x1010 + plen);
}

/* @elf compressed by @tool (gzip, xz, zstd, as the kernel's build does it:
 * size_append's 4 bytes after all but gzip) into @out; returns its length. */
static size_t compress_elf(struct tree *t, const char *tool, const void *elf, size_t len,
			   unsigned char *out, size_t cap)
{
	char path[PATH_MAX], zpath[PATH_MAX + 8];
	ssize_t n;

	put(t, "payload", elf, len);
	snprintf(path, sizeof(path), "%s/payload", t->dir);
	snprintf(zpath, sizeof(zpath), "%s.%s", path,
		 strcmp(tool, "gzip") == 0 ? "gz" : strcmp(tool, "xz") == 0 ? "xz" : "zst");
	unlink(zpath);
	if (strcmp(tool, "xz") == 0)
		run_tool((const char *const[]){ "xz", "-q", "--check=crc32", path, NULL });
	else
		run_tool((const char *const[]){ tool, "-q", path, NULL });
	n = nb_read_file("", zpath, (char *)out, cap, NULL);
	assert_true(n > 0 && (size_t)n + 4 < cap);
	unlink(zpath);
	unlink(path);
	if (strcmp(tool, "gzip") != 0) {
		uint32_t sz = (uint32_t)len;

		memcpy(out + n, &sz, 4);
		n += 4;
	}
	return (size_t)n;
}

static void test_bzimage_extracted_to_pvh_vmlinux(void **state)
{
	static unsigned char elf[1024], z[8192], got[2048];
	static const char *const tools[] = { "gzip", "xz", "zstd" };
	struct nb_err e = NB_ERR_INIT;
	char path[PATH_MAX + 32], first[PATH_MAX];
	struct nb_kernel k;
	struct tree t = { "" };
	size_t elen = make_elf(elf, sizeof(elf), true), zlen;

	tree_new(&t);
	snprintf(path, sizeof(path), "%s/home", t.dir);
	setenv("NESTBOX_HOME", path, 1);
	assert_true(nb_elf_has_pvh(elf, elen));
	put_str(&t, "k/lib/modules/6.1.0-9-amd64/modules.dep", "");
	snprintf(path, sizeof(path), "%s/k/vmlinuz", t.dir);
	for (size_t i = 0; i < 3; i++) {
		zlen = compress_elf(&t, tools[i], elf, elen, z, sizeof(z));
		put_bzimage_payload(&t, "k/vmlinuz", z, zlen);
		assert_int_equal(nb_kernel_find(path, &k, &e), 0);
		assert_true(k.pvh);
		assert_non_null(strstr(k.kernel, "/home/cache/kernels/6.1.0-9-amd64-"));
		assert_int_equal(nb_read_file("", k.kernel, (char *)got, sizeof(got), NULL),
				 (ssize_t)elen);
		assert_memory_equal(got, elf, elen);
		assert_string_equal(k.version, "6.1.0-9-amd64");
		assert_non_null(strstr(k.moddir, "/k/lib/modules/6.1.0-9-amd64"));
		/* again: the cached file */
		snprintf(first, sizeof(first), "%s", k.kernel);
		assert_int_equal(nb_kernel_find(path, &k, &e), 0);
		assert_string_equal(k.kernel, first);
	}
	unsetenv("NESTBOX_HOME");
	tree_free(&t);
}

/* How many files in @dir end with @suffix. */
static int count_suffix(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);

		n += l > sl && strcmp(de->d_name + l - sl, suffix) == 0;
	}
	closedir(d);
	return n;
}

/* Whatever is wrong with the payload, the bzImage boots as it is. */
static void test_bzimage_fallbacks(void **state)
{
	static unsigned char elf[1024], z[8192], hdr[0x250];
	struct nb_err e = NB_ERR_INIT;
	char path[PATH_MAX + 32], *out = NULL;
	struct nb_kernel k;
	struct tree t = { "" };
	size_t elen = make_elf(elf, sizeof(elf), false), zlen, plen, n;
	uint64_t off;

	tree_new(&t);
	snprintf(path, sizeof(path), "%s/home", t.dir);
	setenv("NESTBOX_HOME", path, 1);
	put_str(&t, "k/lib/modules/6.1.0-9-amd64/modules.dep", "");
	snprintf(path, sizeof(path), "%s/k/vmlinuz", t.dir);
	/* an ELF without the PVH note */
	assert_false(nb_elf_has_pvh(elf, elen));
	zlen = compress_elf(&t, "gzip", elf, elen, z, sizeof(z));
	put_bzimage_payload(&t, "k/vmlinuz", z, zlen);
	assert_int_equal(nb_kernel_find(path, &k, &e), 0);
	assert_false(k.pvh);
	assert_string_equal(k.kernel, path);
	assert_int_equal(nb_kernel_find(path, &k, &e), 0); /* marked: the same */
	assert_false(k.pvh);
	assert_int_equal(nb_bzimage_vmlinux(z, zlen, &out, &n, &e), -ENOEXEC);
	assert_null(out);
	/* a truncated stream, a lying size trailer, no known compression */
	assert_int_equal(nb_bzimage_vmlinux(z, zlen / 2, &out, &n, &e) < 0, 1);
	z[zlen - 1] = 0x7f; /* ISIZE: ~2 GB */
	assert_int_equal(nb_bzimage_vmlinux(z, zlen, &out, &n, &e), -EFBIG);
	z[zlen - 1] = 0;
	z[zlen - 4] = (unsigned char)(z[zlen - 4] + 1); /* one byte more than there is */
	assert_true(nb_bzimage_vmlinux(z, zlen, &out, &n, &e) < 0);
	memset(z, 'A', 64);
	assert_int_equal(nb_bzimage_vmlinux(z, 64, &out, &n, &e), -ENOTSUP);
	assert_null(out);
	/* ELF parsing: truncated headers and notes */
	make_elf(elf, sizeof(elf), true);
	for (size_t cut = 0; cut < 64 + 56 + 44; cut += 7)
		assert_false(nb_elf_has_pvh(elf, cut));
	assert_true(nb_elf_has_pvh(elf, elen));
	elf[64 + 32] = 0xff; /* p_filesz past the end */
	elf[64 + 33] = 0xff;
	assert_false(nb_elf_has_pvh(elf, 64 + 56 + 44));
	/* header fields outside the file */
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr + 0x202, "HdrS", 4);
	hdr[0x206] = 0x0f;
	hdr[0x207] = 0x02;
	hdr[0x1f1] = 7;
	hdr[0x248] = 0x10;
	hdr[0x24c] = 0x40;
	assert_int_equal(nb_bzimage_payload(hdr, sizeof(hdr), 0x1050, &off, &plen, &e), 0);
	assert_int_equal(off, 0x1010);
	assert_int_equal(plen, 0x40);
	assert_int_equal(nb_bzimage_payload(hdr, sizeof(hdr), 0x104f, &off, &plen, &e), -EINVAL);
	hdr[0x24f] = 0xff; /* payload_length ~4 GB */
	assert_int_equal(nb_bzimage_payload(hdr, sizeof(hdr), UINT64_MAX, &off, &plen, &e),
			 -EFBIG);
	assert_int_equal(nb_bzimage_payload(hdr, sizeof(hdr), 0x2000, &off, &plen, &e), -EINVAL);
	hdr[0x24f] = 0;
	hdr[0x24b] = 0xff; /* payload_offset ~4 GB */
	assert_int_equal(nb_bzimage_payload(hdr, sizeof(hdr), 0x2000, &off, &plen, &e), -EINVAL);
	hdr[0x24b] = 0;
	hdr[0x206] = 0x07; /* protocol 2.07: no payload fields */
	assert_int_equal(nb_bzimage_payload(hdr, sizeof(hdr), 0x1050, &off, &plen, &e), -ENOTSUP);
	assert_int_equal(nb_bzimage_payload(hdr, 0x24f, 0x1050, &off, &plen, &e), -ENOEXEC);
	/* a bzImage cut short (its payload runs past the end), or with none:
	 * booted as it is, no crash */
	make_elf(elf, sizeof(elf), true);
	zlen = compress_elf(&t, "gzip", elf, elen, z, sizeof(z));
	put_bzimage_payload(&t, "k/vmlinuz", z, zlen);
	assert_int_equal(truncate(path, (off_t)(0x1010 + zlen / 2)), 0);
	assert_int_equal(nb_kernel_find(path, &k, &e), 0);
	assert_false(k.pvh);
	put_bzimage_payload(&t, "k/vmlinuz", z, 0);
	assert_int_equal(nb_kernel_find(path, &k, &e), 0);
	assert_false(k.pvh);
	/* no vmlinux was cached; each of those bzImages is marked as one to
	 * boot as it is, so that the next run does not try again */
	snprintf(path, sizeof(path), "%s/home/cache/kernels", t.dir);
	assert_int_equal(count_suffix(path, ".vmlinux"), 0);
	assert_int_equal(count_suffix(path, ".nopvh"), 3);
	unsetenv("NESTBOX_HOME");
	tree_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_tells_vmlinux_from_bzimage),
		cmocka_unit_test(test_image_kernel_found_by_bootc_convention),
		cmocka_unit_test(test_image_kernel_errors),
		cmocka_unit_test(test_kernel_path_file_or_dir),
		cmocka_unit_test(test_initramfs_key_and_decompressed_modules),
		cmocka_unit_test(test_initramfs_skips_optional_module_not_on_disk),
		cmocka_unit_test(test_bzimage_extracted_to_pvh_vmlinux),
		cmocka_unit_test(test_bzimage_fallbacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
