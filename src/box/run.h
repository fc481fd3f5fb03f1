/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/run: `nestbox run` as a library call. Owns turning the options and the
 * image's config into a VM spec, starting the nestfs servers and QEMU, and
 * supervising them until the command's exit code is known. */
#ifndef NESTBOX_BOX_RUN_H
#define NESTBOX_BOX_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

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
};

/**
 * nb_run() - run a command in a fresh VM, in the foreground
 * Return: the exit code (podman's conventions); 125 with @e set when
 * nestbox itself failed
 */
int nb_run(const struct nb_run_opts *o, struct nb_err *e);

#endif
