/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmm/state: the runtime state of detached VMs. Owns the layout
 * <runtime dir>/vms/<id>/{state.json,lock,ctl.sock,console.log,output.log}:
 * the supervisor holds an exclusive flock on "lock" while it lives, so a
 * VM whose lock can be taken is not running, whatever state.json says. */
#ifndef NESTBOX_VMM_STATE_H
#define NESTBOX_VMM_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

/**
 * struct nb_vm_state - what state.json holds
 * @status:	"starting", "running", "exited"
 * @exit_code:	valid when exited (-1: unknown)
 * @alive:	not in the file: whether the supervisor holds the lock
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
	bool rm;
	bool alive;
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

/* nb_state_path() - @st->dir/@file into @buf */
void nb_state_path(const struct nb_vm_state *st, const char *file, char *buf, size_t len);

#endif
