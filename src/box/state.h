/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/state: the records of containers (VMs that `run` started without
 * --rm, in the foreground or with -d). Owns the layout
 * <runtime dir>/vms/<id>/{state.json,lock,console.log,output.log}, ids and
 * names (given or generated, unique among the records): the process that
 * owns the VM (the -d supervisor, or the foreground `nestbox run`) holds an
 * exclusive flock on "lock" while it lives, so a VM whose lock can be taken
 * is not running, whatever state.json says. output.log: see box/outlog.h. */
#ifndef NESTBOX_BOX_STATE_H
#define NESTBOX_BOX_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"
#include "vm/spec.h"

/**
 * struct nb_vm_state - what state.json holds
 * @id:		12 hex digits, the directory's name
 * @name:	--name, or a generated adjective_name
 * @image:	the image reference, or the --rootfs directory
 * @command:	the command line as ps shows it
 * @status:	"starting", "running", "exited"
 * @exit_code:	valid when exited (-1: unknown, the owner died without saying)
 * @pid:	the owner: the supervisor, or the foreground CLI
 * @created, @finished: Unix times (finished 0: not yet, or unknown)
 * @rm:		run with --rm (-d only: the record goes when the VM does)
 * @detached:	run with -d (a supervisor with a control socket)
 * @ports, @nports: published ports (-p), as parsed
 * @alive:	not in the file: whether the owner holds the lock
 * @dir:	not in the file: the record's directory
 */
struct nb_vm_state {
	char id[16];
	char name[128];
	char image[PATH_MAX];
	char command[1024];
	char status[16];
	int exit_code;
	pid_t pid;
	int64_t created;
	int64_t finished;
	unsigned nports;
	bool rm;
	bool detached;
	bool alive;
	struct nb_port ports[NB_MAX_PORTS];
	char dir[PATH_MAX];
};

/* nb_state_root() - <runtime dir>/vms, created if @create; 0 or -errno */
int nb_state_root(char *buf, size_t len, bool create, struct nb_err *e);

/* nb_state_remove() - remove a VM's directory, and vms/ once it is empty */
void nb_state_remove(const char *dir);

/* nb_state_write() - write st->dir/state.json atomically; 0 or -errno */
int nb_state_write(const struct nb_vm_state *st, struct nb_err *e);

/* nb_state_read() - read @dir/state.json and probe the lock; 0 or -errno */
int nb_state_read(const char *dir, struct nb_vm_state *st, struct nb_err *e);

/**
 * nb_state_find() - a VM by name or id (or unique id prefix)
 * Return: 0, -ENOENT ("no such VM"), or -EINVAL (ambiguous)
 */
int nb_state_find(const char *name, struct nb_vm_state *st, struct nb_err *e);

/**
 * nb_state_list() - all VMs, calling @fn for each; stops when it returns < 0
 * Return: 0, or -errno
 */
int nb_state_list(int (*fn)(const struct nb_vm_state *st, void *ctx), void *ctx,
		  struct nb_err *e);

/* nb_state_name_taken() - whether a VM called @name exists */
bool nb_state_name_taken(const char *name);

/**
 * nb_state_check_name() - @name is free, or an error saying which VM has it
 * Return: 0, or -EEXIST with @e set (podman's wording: "already in use")
 */
int nb_state_check_name(const char *name, struct nb_err *e);

/**
 * nb_state_create() - a new record: a fresh id, its directory and lock
 * @st:		filled by the caller except id and dir; an empty @st->name gets
 *		a generated one (adjective_name, as podman does)
 *
 * Under a lock on the vms directory, so two runs cannot take one name.
 * Return: the fd holding the record's exclusive lock (close it to let go),
 * or -errno: -EEXIST when the name is in use; nothing is left on failure
 */
int nb_state_create(struct nb_vm_state *st, struct nb_err *e);

/* nb_state_lock_free() - whether nobody holds @st's lock now (its owner is gone) */
bool nb_state_lock_free(const struct nb_vm_state *st);

/**
 * nb_state_wait_unlocked() - block until @st's owner lets go of its lock
 * @ms:		at most this long (< 0: no limit)
 * Return: true once it is free, false on timeout
 */
bool nb_state_wait_unlocked(const struct nb_vm_state *st, int ms);

/* nb_state_path() - @st->dir/@file into @buf */
void nb_state_path(const struct nb_vm_state *st, const char *file, char *buf, size_t len);

#endif
