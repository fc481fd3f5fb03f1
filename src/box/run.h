/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/run: `nestbox run` as a library call. Owns turning the options and the
 * image's config into a VM spec, starting the nestfs servers and QEMU, and
 * supervising them until the command's exit code is known. */
#ifndef NESTBOX_BOX_RUN_H
#define NESTBOX_BOX_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#include "vm/spec.h"

/**
 * struct nb_run_opts - what the user asked for (NULL/0: the default)
 * @image:	IMAGE argument (NULL with @rootfs)
 * @rootfs:	--rootfs DIR: a directory used as the root
 * @cmd:	CMD ARGS... (NULL-terminated; NULL or empty: the image's)
 * @entrypoint:	--entrypoint (NULL: the image's; "": none)
 * @name:	--name (NULL: a generated one)
 * @rm:		--rm: keep no record
 * @detach:	-d: a supervisor daemon keeps the VM
 * @interactive: -i: relay stdin
 * @tty:	-t: a pty in the guest
 * @console:	--console: the guest's console on stderr
 * @env:	-e and --env-file entries, in order ("K=V"; "K" takes the host's)
 * @workdir:	-w (NULL: the image's, else /)
 * @user:	-u (NULL: the image's, else root)
 * @vm:		what the VM is made of: kernel, volumes, ports, memory, cpus,
 *		accelerator, boot timeout
 * @log_size_mib: --log-size: the cap of output.log and of console.log, each
 *		(0: NB_LOG_SIZE_DEFAULT_MIB, box/outlog.h)
 * @system:	--system: the image's kernel and init, reached over ssh
 * @ssh_port:	--system: the 127.0.0.1 port forwarded to the guest's 22
 */
struct nb_run_opts {
	const char *image;
	const char *rootfs;
	char **cmd;
	const char *entrypoint;
	const char *name;
	bool rm, detach, interactive, tty, console;
	char **env;
	const char *workdir;
	const char *user;
	struct nb_vm_opts vm;
	uint64_t log_size_mib;
	bool system;
	unsigned ssh_port;
};

/**
 * nb_run() - run a command in a fresh VM, in the foreground
 * Return: the exit code (podman's conventions); 125 with @e set when
 * nestbox itself failed
 */
int nb_run(const struct nb_run_opts *o, struct nb_err *e);

struct nb_vm_state;
/**
 * nb_run_detached() - start a VM in the background (its supervisor), as -d
 * does, and wait until its command (with --system: its init) has started
 * @owner:	0, or a process (the caller): the VM is killed when it dies
 * @st:		output: the VM's record
 * Return: 0 once it started; the command's exit code if it ended at once;
 * 125 or negative errno with @e set when it failed
 */
int nb_run_detached(const struct nb_run_opts *o, pid_t owner, struct nb_vm_state *st,
		    struct nb_err *e);

#endif
