/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for image: references, auth challenges, platform selection,
 * chain IDs, blobs and leases in a scratch store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/diag.h"
#include "image/image.h"
#include "image/oci.h"
#include "image/ref.h"
#include "image/registry.h"
#include "image/store.h"
#include "lib/fileio.h"
#include "lib/paths.h"

static void check_ref(const char *in, const char *want)
{
	struct nb_ref r;
	struct nb_err e = NB_ERR_INIT;
	char name[700];

	assert_int_equal(nb_ref_parse(in, &r, &e), 0);
	nb_ref_name(&r, name, sizeof(name));
	assert_string_equal(name, want);
}

static void test_ref_normalize(void **state)
{
	const char *h = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char in[200], want[200];
	struct nb_ref r;
	struct nb_err e = NB_ERR_INIT;

	check_ref("busybox", "docker.io/library/busybox:latest");
	check_ref("docker.io/busybox:1.36", "docker.io/library/busybox:1.36");
	check_ref("index.docker.io/user/app", "docker.io/user/app:latest");
	check_ref("docker://quay.io/a/b:c", "quay.io/a/b:c");
	check_ref("localhost/x", "localhost/x:latest");
	check_ref("127.0.0.1:5000/a/b/c:v1.2", "127.0.0.1:5000/a/b/c:v1.2");
	snprintf(in, sizeof(in), "busybox@%s", h);
	snprintf(want, sizeof(want), "docker.io/library/busybox@%s", h);
	check_ref(in, want);
	assert_int_equal(nb_ref_parse("busybox", &r, &e), 0);
	assert_string_equal(nb_ref_registry_host(&r), "registry-1.docker.io");
	/* Only a name without a registry may also be found as localhost/NAME. */
	assert_true(r.short_name);
	assert_int_equal(nb_ref_parse("library/busybox:1", &r, &e), 0);
	assert_true(r.short_name);
	assert_int_equal(nb_ref_parse("docker.io/busybox", &r, &e), 0);
	assert_false(r.short_name);
	assert_int_equal(nb_ref_parse("localhost/demo", &r, &e), 0);
	assert_false(r.short_name);
	assert_int_equal(nb_ref_parse("Busybox", &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "Busybox"));
	assert_int_equal(nb_ref_parse("a:b:c", &r, &e), -EINVAL);
	assert_int_equal(nb_ref_parse("x@sha256:12", &r, &e), -EINVAL);
	assert_int_equal(nb_ref_parse("", &r, &e), -EINVAL);
	assert_int_equal(nb_ref_parse("a//b", &r, &e), -EINVAL);
}

static void test_challenge(void **state)
{
	struct nb_challenge c;

	assert_int_equal(nb_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
					    "service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"", &c), 0);
	assert_string_equal(c.scheme, "Bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/busybox:pull");
	assert_int_equal(nb_challenge_parse("Basic realm=\"x\"", &c), 0);
	assert_string_equal(c.scheme, "Basic");
	assert_int_equal(nb_challenge_parse("Bearer realm=\"unterminated", &c), -EINVAL);
	assert_int_equal(nb_challenge_parse("", &c), -EINVAL);
}

static void test_index_select(void **state)
{
	const char *doc = "{\"schemaVersion\":2,\"manifests\":["
		"{\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":1,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
		"{\"digest\":\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"size\":1,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
	struct nb_manifest m;
	struct nb_platform p;
	const struct nb_desc *d;
	struct nb_err e = NB_ERR_INIT;

	assert_int_equal(nb_manifest_parse(doc, strlen(doc), &m, &e), 0);
	assert_int_equal(m.kind, NB_DOC_INDEX);
	assert_int_equal(nb_platform_parse("linux/amd64", &p, &e), 0);
	assert_int_equal(nb_index_select(&m, &p, &d, &e), 0);
	assert_int_equal(d->digest[7], 'b');
	assert_int_equal(nb_platform_parse("linux/arm/v7", &p, &e), 0);
	assert_int_equal(nb_index_select(&m, &p, &d, &e), 0);
	assert_int_equal(d->digest[7], 'a');
	assert_int_equal(nb_platform_parse("linux/s390x", &p, &e), 0);
	assert_int_equal(nb_index_select(&m, &p, &d, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "linux/arm/v7, linux/amd64"));
	nb_manifest_free(&m);
	assert_int_equal(nb_platform_parse("linux", &p, &e), -EINVAL);
	/* schema 1 and junk are refused */
	assert_int_equal(nb_manifest_parse("{\"schemaVersion\":1}", 19, &m, &e), -EINVAL);
	assert_int_equal(nb_manifest_parse("[]", 2, &m, &e), -EINVAL);
	assert_int_equal(nb_manifest_parse("{} x", 4, &m, &e), -EINVAL);
}

static void test_chain_ids(void **state)
{
	char *ids[2] = {
		"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	};
	char chain[2][NB_DIGEST_LEN + 1], want[NB_DIGEST_LEN + 1], buf[200];

	nb_chain_ids(ids, 2, chain);
	assert_string_equal(chain[0], ids[0]);
	snprintf(buf, sizeof(buf), "%s %s", ids[0], ids[1]);
	nb_sha256_buf(buf, strlen(buf), want);
	assert_string_equal(chain[1], want);
}

static char *scratch_home(void)
{
	char tmpl[] = "/tmp/nestbox-unit-image.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	setenv("NESTBOX_HOME", d, 1);
	return strdup(d);
}

static void test_blobs_verified(void **state)
{
	char *home = scratch_home();
	struct nb_store s;
	struct nb_err e = NB_ERR_INIT;
	struct nb_blob_writer w;
	char d[NB_DIGEST_LEN + 1], *data = NULL;
	size_t len;

	assert_int_equal(nb_store_open(&s, true, &e), 0);
	assert_int_equal(nb_store_put_blob(&s, "hello", 5, d, &e), 0);
	assert_true(nb_store_has_blob(&s, d, 5));
	assert_int_equal(nb_store_read_blob(&s, d, 100, &data, &len, &e), 0);
	assert_int_equal(len, 5);
	free(data);
	/* a wrong digest or size stores nothing */
	assert_int_equal(nb_blob_begin(&s, &w, NULL, &e), 0);
	assert_int_equal(nb_blob_write(&w, "hellO", 5, &e), 0);
	assert_int_equal(nb_blob_commit(&s, &w, d, 5, NULL, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "digest mismatch"));
	assert_int_equal(nb_blob_begin(&s, &w, NULL, &e), 0);
	assert_int_equal(nb_blob_write(&w, "hello", 5, &e), 0);
	assert_int_equal(nb_blob_commit(&s, &w, d, 6, NULL, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "size mismatch"));
	nb_store_close(&s);
	nb_rm_rf(home);
	free(home);
}

static void test_leases(void **state)
{
	char *home = scratch_home();
	struct nb_store s;
	struct nb_err e = NB_ERR_INIT;
	char path[4096], lease[4096];
	int fd, pipefd[2];
	pid_t pid;

	assert_int_equal(nb_store_open(&s, false, &e), 0);
	snprintf(path, sizeof(path), "%s/images/rootfs/abc", home);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_false(nb_store_leased(&s, "abc"));
	assert_int_equal(nb_store_lease(&s, "abc", &fd, lease, sizeof(lease), &e), 0);
	assert_true(nb_store_leased(&s, "abc"));
	assert_false(nb_store_leased(&s, "ab"));
	close(fd);
	unlink(lease);
	assert_false(nb_store_leased(&s, "abc"));
	/* a holder killed without releasing leaves a stale lease that is ignored */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		struct nb_err ce = NB_ERR_INIT;
		int cfd;

		if (nb_store_lease(&s, "abc", &cfd, lease, sizeof(lease), &ce) < 0)
			_exit(1);
		(void)!write(pipefd[1], "x", 1);
		pause();
		_exit(0);
	}
	char c;

	assert_int_equal(read(pipefd[0], &c, 1), 1);
	assert_true(nb_store_leased(&s, "abc"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_false(nb_store_leased(&s, "abc"));
	/* a vanished tree cannot be leased */
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(nb_store_lease(&s, "abc", &fd, lease, sizeof(lease), &e), -ENOENT);
	close(pipefd[0]);
	close(pipefd[1]);
	nb_store_close(&s);
	nb_rm_rf(home);
	free(home);
}

static void test_open_rootfs_unknown(void **state)
{
	char *home = scratch_home();
	char root[4096];
	struct nb_image_config *cfg = NULL;
	struct nb_err e = NB_ERR_INIT;

	assert_int_equal(nb_image_open_rootfs("nothere", root, sizeof(root), &cfg, &e), -ENOENT);
	assert_string_equal(e.msg, "image 'nothere' not known; pull it first");
	assert_null(cfg);
	nb_rm_rf(home);
	free(home);
}

/* write_blob() - store @data under @dir/blobs/sha256; @out gets "sha256:..." */
static void write_blob(const char *dir, const void *data, size_t len, char *out)
{
	char path[4096];
	FILE *f;

	nb_sha256_buf(data, len, out);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, out + 7);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* make_layout() - an OCI layout with one plain-tar layer holding /hello, tag v1 */
static void make_layout(const char *dir)
{
	static char tarbuf[1 << 16];
	char path[4200], layer[NB_DIGEST_LEN + 1], cfg_d[NB_DIGEST_LEN + 1];
	char man_d[NB_DIGEST_LEN + 1], cfg[1024], man[1024], idx[1024];
	struct archive *a = archive_write_new();
	struct archive_entry *ent = archive_entry_new();
	size_t used = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	assert_int_equal(nb_mkdir_p(path, 0755, NULL), 0);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_memory(a, tarbuf, sizeof(tarbuf), &used), ARCHIVE_OK);
	archive_entry_set_pathname(ent, "hello");
	archive_entry_set_filetype(ent, AE_IFREG);
	archive_entry_set_perm(ent, 0644);
	archive_entry_set_size(ent, 6);
	archive_write_header(a, ent);
	archive_write_data(a, "hello\n", 6);
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(ent);
	write_blob(dir, tarbuf, used, layer);
	snprintf(cfg, sizeof(cfg), "{\"architecture\":\"amd64\",\"os\":\"linux\","
		 "\"config\":{\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"echo hi\"],"
		 "\"Env\":[\"A=1\",\"B=2\"],\"WorkingDir\":\"/srv\",\"User\":\"1000:1000\"},"
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", layer);
	write_blob(dir, cfg, strlen(cfg), cfg_d);
	snprintf(man, sizeof(man), "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\","
		 "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\","
		 "\"digest\":\"%s\",\"size\":%zu}]}", NB_MT_OCI_CONFIG, cfg_d, strlen(cfg),
		 NB_MT_OCI_LAYER, layer, used);
	write_blob(dir, man, strlen(man), man_d);
	snprintf(idx, sizeof(idx), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
		 "\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
		 "{\"org.opencontainers.image.ref.name\":\"v1\"}}]}", NB_MT_OCI_MANIFEST, man_d,
		 strlen(man));
	snprintf(path, sizeof(path), "%s/index.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(idx, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"imageLayoutVersion\":\"1.0.0\"}", f);
	fclose(f);
}

/* The contract run codes against: oci:DIR:TAG is imported, the tree is leased
 * (rmi refuses, rmi -f leaves the tree, prune after release removes it). */
static void test_open_rootfs_contract(void **state)
{
	char *home = scratch_home();
	char layout[4096], spec[4200], root[4096], hello[4200];
	struct nb_image_config *cfg = NULL;
	struct nb_err e = NB_ERR_INIT;
	json_object *lines = NULL;
	uint64_t freed = 0;
	struct stat st;

	snprintf(layout, sizeof(layout), "%s/layout", home);
	make_layout(layout);
	snprintf(spec, sizeof(spec), "oci:%s:v1", layout);
	assert_int_equal(nb_image_open_rootfs(spec, root, sizeof(root), &cfg, &e), 0);
	assert_non_null(cfg);
	assert_string_equal(cfg->entrypoint[0], "/bin/sh");
	assert_string_equal(cfg->entrypoint[1], "-c");
	assert_null(cfg->entrypoint[2]);
	assert_string_equal(cfg->cmd[0], "echo hi");
	assert_string_equal(cfg->env[1], "B=2");
	assert_string_equal(cfg->workdir, "/srv");
	assert_string_equal(cfg->user, "1000:1000");
	nb_image_config_free(cfg);
	snprintf(hello, sizeof(hello), "%s/hello", root);
	assert_int_equal(stat(hello, &st), 0);
	assert_int_equal(st.st_size, 6);

	assert_int_equal(nb_image_remove("localhost/layout:v1", false, &lines, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "in use"));
	assert_int_equal(nb_image_remove("localhost/layout:v1", true, &lines, &e), 0);
	json_object_put(lines);
	assert_int_equal(stat(hello, &st), 0); /* still held */
	assert_int_equal(nb_image_prune(&freed, &e), 0);
	assert_int_equal(stat(hello, &st), 0);
	nb_image_release_rootfs(root);
	assert_int_equal(nb_image_prune(&freed, &e), 0);
	assert_int_equal(stat(root, &st), -1);
	assert_true(freed > 0);
	nb_rm_rf(home);
	free(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_normalize),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_index_select),
		cmocka_unit_test(test_chain_ids),
		cmocka_unit_test(test_blobs_verified),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_open_rootfs_unknown),
		cmocka_unit_test(test_open_rootfs_contract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
