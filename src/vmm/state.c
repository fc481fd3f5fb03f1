/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmm/state: state.json, the supervisor's lock, lookup by name (see state.h). */
#include "vmm/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
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
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	nb_state_path(st, "state.json", path, sizeof(path));
	r = nb_write_file_atomic(path, s, strlen(s), 0600, e);
	json_object_put(o);
	return r;
}

static void get_str(struct json_object *o, const char *key, char *out, size_t len)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(out, len, "%s", json_object_get_string(v));
}

/* nb_state_read() - see state.h */
int nb_state_read(const char *dir, struct nb_vm_state *st, struct nb_err *e)
{
	char path[PATH_MAX + 16], buf[8192];
	struct json_object *o, *v;
	autoclose int fd = -1;

	memset(st, 0, sizeof(*st));
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
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
