/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/state: state.json, the supervisor's lock, lookup by name (see state.h). */
#include "box/state.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/paths.h"

/* nb_state_root() - see state.h */
int nb_state_root(char *buf, size_t len, bool create, struct nb_err *e)
{
	char rt[PATH_MAX];
	int r = nb_runtime_dir(rt, sizeof(rt), e);

	if (r < 0)
		return r;
	if ((size_t)snprintf(buf, len, "%s/vms", rt) >= len)
		return nb_err_set(e, ENAMETOOLONG, "runtime directory: too long");
	return create ? nb_mkdir_p(buf, 0700, e) : 0;
}

/* nb_state_remove() - see state.h */
void nb_state_remove(const char *dir)
{
	char parent[PATH_MAX];
	char *slash;

	nb_rm_rf(dir);
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash) {
		*slash = 0;
		rmdir(parent); /* fails while other VMs are there: fine */
	}
}

/* nb_state_path() - see state.h */
void nb_state_path(const struct nb_vm_state *st, const char *file, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", st->dir, file);
}

/* A string member of @o into @out, if it is there and a string. */
static void get_str(struct json_object *o, const char *key, char *out, size_t len)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(out, len, "%s", json_object_get_string(v));
}

/* The published ports as [{"addr", "host", "guest", "proto"}, ...]. */
static struct json_object *ports_json(const struct nb_vm_state *st)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < st->nports; i++) {
		const struct nb_port *p = &st->ports[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "addr", json_object_new_string(p->addr));
		json_object_object_add(o, "host", json_object_new_int(p->host));
		json_object_object_add(o, "guest", json_object_new_int(p->guest));
		json_object_object_add(o, "proto", json_object_new_string(nb_proto_name(p->proto)));
		json_object_array_add(a, o);
	}
	return a;
}

/* Read back what ports_json() wrote; an entry that does not hold up is skipped. */
static void ports_read(struct json_object *o, struct nb_vm_state *st)
{
	struct json_object *a, *v;
	unsigned char bin[sizeof(struct in6_addr)];

	if (!json_object_object_get_ex(o, "ports", &a) || !json_object_is_type(a, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(a) && st->nports < NB_MAX_PORTS; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		struct nb_port p = { 0 };
		int host, guest;
		const char *proto = "";

		get_str(e, "addr", p.addr, sizeof(p.addr));
		host = json_object_object_get_ex(e, "host", &v) ? json_object_get_int(v) : 0;
		guest = json_object_object_get_ex(e, "guest", &v) ? json_object_get_int(v) : 0;
		if (json_object_object_get_ex(e, "proto", &v))
			proto = json_object_get_string(v);
		p.family = inet_pton(AF_INET, p.addr, bin) == 1    ? AF_INET
			   : inet_pton(AF_INET6, p.addr, bin) == 1 ? AF_INET6
								   : 0;
		if (!p.family || host < 1 || host > 65535 || guest < 1 || guest > 65535 || !proto)
			continue;
		p.host = (uint16_t)host;
		p.guest = (uint16_t)guest;
		p.proto = strcmp(proto, "udp") == 0 ? NB_PROTO_UDP : NB_PROTO_TCP;
		st->ports[st->nports++] = p;
	}
}

/* nb_state_write() - see state.h */
int nb_state_write(const struct nb_vm_state *st, struct nb_err *e)
{
	struct json_object *o = json_object_new_object();
	char path[PATH_MAX + 16];
	const char *s;
	int r;

	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "name", json_object_new_string(st->name));
	json_object_object_add(o, "image", json_object_new_string(st->image));
	json_object_object_add(o, "command", json_object_new_string(st->command));
	json_object_object_add(o, "status", json_object_new_string(st->status));
	json_object_object_add(o, "exit_code", json_object_new_int(st->exit_code));
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "created", json_object_new_int64(st->created));
	json_object_object_add(o, "rm", json_object_new_boolean(st->rm));
	json_object_object_add(o, "finished", json_object_new_int64(st->finished));
	json_object_object_add(o, "detached", json_object_new_boolean(st->detached));
	json_object_object_add(o, "ports", ports_json(st));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	nb_state_path(st, "state.json", path, sizeof(path));
	r = nb_write_file_atomic(path, s, strlen(s), 0600, e);
	json_object_put(o);
	return r;
}

/* nb_state_read() - see state.h */
int nb_state_read(const char *dir, struct nb_vm_state *st, struct nb_err *e)
{
	char path[PATH_MAX + 16], buf[16384];
	struct json_object *o, *v;
	autoclose int fd = -1;

	char copy[sizeof(st->dir)];

	/* @dir may be @st->dir itself (a record read again): copy it first. */
	snprintf(copy, sizeof(copy), "%s", dir);
	memset(st, 0, sizeof(*st));
	memcpy(st->dir, copy, sizeof(copy));
	dir = st->dir;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (nb_read_file("", path, buf, sizeof(buf), e) < 0)
		return -(e && e->code ? e->code : EIO);
	o = json_tokener_parse(buf);
	if (!o)
		return nb_err_set(e, EINVAL, "%s: not JSON", path);
	get_str(o, "id", st->id, sizeof(st->id));
	get_str(o, "name", st->name, sizeof(st->name));
	get_str(o, "image", st->image, sizeof(st->image));
	get_str(o, "command", st->command, sizeof(st->command));
	get_str(o, "status", st->status, sizeof(st->status));
	st->exit_code = json_object_object_get_ex(o, "exit_code", &v) ? json_object_get_int(v) : -1;
	st->pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int(v) : 0;
	st->created = json_object_object_get_ex(o, "created", &v) ? json_object_get_int64(v) : 0;
	st->rm = json_object_object_get_ex(o, "rm", &v) && json_object_get_boolean(v);
	st->finished = json_object_object_get_ex(o, "finished", &v) ? json_object_get_int64(v) : 0;
	st->detached = json_object_object_get_ex(o, "detached", &v) && json_object_get_boolean(v);
	ports_read(o, st);
	json_object_put(o);
	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	st->alive = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	if (!st->alive && strcmp(st->status, "exited") != 0) {
		/* The supervisor died without saying how the VM ended. */
		snprintf(st->status, sizeof(st->status), "exited");
		st->exit_code = -1;
	}
	return 0;
}

/* nb_state_list() - see state.h */
int nb_state_list(int (*fn)(const struct nb_vm_state *st, void *ctx), void *ctx,
		  struct nb_err *e)
{
	char root[PATH_MAX], dir[PATH_MAX + 300];
	autodir DIR *d = NULL;
	struct dirent *de;
	int r = nb_state_root(root, sizeof(root), false, e);

	if (r < 0)
		return r;
	d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : nb_err_sys(e, errno, "open %s", root);
	while ((de = readdir(d))) {
		struct nb_vm_state st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", root, de->d_name);
		if (nb_state_read(dir, &st, NULL) < 0)
			continue;
		if (fn(&st, ctx) < 0)
			break;
	}
	return 0;
}

struct find {
	const char *name;
	struct nb_vm_state found;
	int matches;
	bool exact;
};

static int find_one(const struct nb_vm_state *st, void *ctx)
{
	struct find *f = ctx;

	if (strcmp(st->name, f->name) == 0 || strcmp(st->id, f->name) == 0) {
		if (!f->exact)
			f->matches = 0;
		f->exact = true;
		f->found = *st;
		f->matches++;
	} else if (!f->exact && strncmp(st->id, f->name, strlen(f->name)) == 0) {
		f->found = *st;
		f->matches++;
	}
	return 0;
}

/* nb_state_find() - see state.h */
int nb_state_find(const char *name, struct nb_vm_state *st, struct nb_err *e)
{
	struct find f = { .name = name };
	int r;

	if (!*name)
		return nb_err_set(e, EINVAL, "empty VM name");
	r = nb_state_list(find_one, &f, e);
	if (r < 0)
		return r;
	if (f.matches == 0)
		return nb_err_set(e, ENOENT, "no such VM: %s", name);
	if (f.matches > 1)
		return nb_err_set(e, EINVAL, "%s: more than one VM matches", name);
	*st = f.found;
	return 0;
}

static int name_match(const struct nb_vm_state *st, void *ctx)
{
	struct find *f = ctx;

	if (strcmp(st->name, f->name) == 0)
		f->matches++;
	return 0;
}

/* nb_state_name_taken() - see state.h */
bool nb_state_name_taken(const char *name)
{
	struct find f = { .name = name };

	nb_state_list(name_match, &f, NULL);
	return f.matches > 0;
}

struct owner {
	const char *name;
	char id[16];
};

static int owner_of(const struct nb_vm_state *st, void *ctx)
{
	struct owner *w = ctx;

	if (strcmp(st->name, w->name) != 0)
		return 0;
	snprintf(w->id, sizeof(w->id), "%s", st->id);
	return -1;
}

/* nb_state_check_name() - see state.h */
int nb_state_check_name(const char *name, struct nb_err *e)
{
	struct owner w = { .name = name };

	nb_state_list(owner_of, &w, NULL);
	if (!w.id[0])
		return 0;
	return nb_err_set(e, EEXIST,
			  "the name %s is already in use by VM %s: remove it (nestbox rm %s) "
			  "to reuse the name", name, w.id, name);
}

/* Names for VMs started without --name: "adjective_name", like podman's
 * (our own short lists; 48 x 48 pairs, retried on a clash). */
static const char *const adjectives[] = {
	"agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic",
	"crisp", "daring", "eager", "earnest", "fancy", "fierce", "gentle", "glad",
	"golden", "happy", "hardy", "humble", "jolly", "keen", "kind", "lively",
	"lucid", "merry", "mellow", "nimble", "noble", "patient", "plucky", "polite",
	"proud", "quick", "quiet", "rapid", "serene", "sharp", "shiny", "silent",
	"steady", "sunny", "swift", "tender", "upbeat", "vivid", "witty", "zesty",
};
static const char *const nouns[] = {
	"agnesi", "babbage", "bohr", "boole", "cantor", "carson", "curie", "darwin",
	"dijkstra", "euclid", "euler", "faraday", "fermat", "feynman", "franklin", "galois",
	"gauss", "germain", "goodall", "hamilton", "hopper", "hypatia", "johnson", "kepler",
	"knuth", "lamarr", "lovelace", "maxwell", "meitner", "mirzakhani", "newton", "noether",
	"pascal", "payne", "planck", "ramanujan", "ritchie", "sagan", "shannon", "somerville",
	"tesla", "thompson", "torvalds", "turing", "volta", "wiles", "wu", "yalow",
};

static void random_bytes(unsigned char *b, size_t n)
{
	if (getrandom(b, n, 0) != (ssize_t)n) {
		unsigned v = (unsigned)getpid() ^ (unsigned)time(NULL);

		for (size_t i = 0; i < n; i++, v = v * 1103515245u + 12345u)
			b[i] = (unsigned char)(v >> 16);
	}
}

static bool name_free(const char *name)
{
	struct owner w = { .name = name };

	nb_state_list(owner_of, &w, NULL);
	return !w.id[0];
}

static void generate_name(char *out, size_t len)
{
	for (int i = 0; i < 64; i++) {
		unsigned char r[2];

		random_bytes(r, sizeof(r));
		snprintf(out, len, "%s_%s", adjectives[r[0] % (sizeof(adjectives) / sizeof(*adjectives))],
			 nouns[r[1] % (sizeof(nouns) / sizeof(*nouns))]);
		if (i >= 32) /* crowded: podman's fallback is a digit suffix too */
			snprintf(out + strlen(out), len - strlen(out), "%u", r[0] % 100u);
		if (name_free(out))
			return;
	}
}

/* nb_state_create() - see state.h */
int nb_state_create(struct nb_vm_state *st, struct nb_err *e)
{
	char root[PATH_MAX], lockp[PATH_MAX + 16];
	int r;

	for (int attempt = 0;; attempt++) {
		autoclose int rootfd = -1;
		int lockfd;
		unsigned char b[6];

		r = nb_state_root(root, sizeof(root), true, e);
		if (r < 0)
			return r;
		rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0 || flock(rootfd, LOCK_EX) < 0)
			return nb_err_sys(e, errno, "lock %s", root);
		if (st->name[0]) {
			r = nb_state_check_name(st->name, e);
			if (r < 0)
				return r;
		} else {
			generate_name(st->name, sizeof(st->name));
		}
		random_bytes(b, sizeof(b));
		snprintf(st->id, sizeof(st->id), "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
			 b[4], b[5]);
		if ((size_t)snprintf(st->dir, sizeof(st->dir), "%s/%s", root, st->id) >=
		    sizeof(st->dir))
			return nb_err_set(e, ENAMETOOLONG, "state directory: too long");
		if (mkdir(st->dir, 0700) < 0) {
			/* ENOENT: the last rm took vms/ away under us; EEXIST: an id clash. */
			if ((errno == ENOENT || errno == EEXIST) && attempt < 8)
				continue;
			return nb_err_sys(e, errno, "create %s", st->dir);
		}
		nb_state_path(st, "lock", lockp, sizeof(lockp));
		lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
			r = nb_err_sys(e, errno, "lock %s", lockp);
			if (lockfd >= 0)
				close(lockfd);
			nb_state_remove(st->dir);
			return r;
		}
		r = nb_state_write(st, e);
		if (r < 0) {
			close(lockfd);
			nb_state_remove(st->dir);
			return r;
		}
		return lockfd;
	}
}

/* nb_state_lock_free() - see state.h */
bool nb_state_lock_free(const struct nb_vm_state *st)
{
	char path[PATH_MAX + 16];
	autoclose int fd = -1;

	nb_state_path(st, "lock", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0;
}

/* nb_state_wait_unlocked() - see state.h */
bool nb_state_wait_unlocked(const struct nb_vm_state *st, int ms)
{
	char path[PATH_MAX + 16];
	autoclose int fd = -1;

	nb_state_path(st, "lock", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	if (ms < 0) {
		while (flock(fd, LOCK_SH) < 0)
			if (errno != EINTR)
				return false;
		return true;
	}
	for (int i = 0; i <= ms / 10; i++) {
		if (flock(fd, LOCK_SH | LOCK_NB) == 0)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}
