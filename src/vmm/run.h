/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmm/run: `nestbox run` as a library call. Owns turning the options and the
 * image's config into a VM spec, starting the nestfs servers and QEMU, and
 * supervising them until the command's exit code is known. */
#ifndef NESTBOX_VMM_RUN_H
#define NESTBOX_VMM_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#define NB_RUN_MAX_VOLUMES 30
#define NB_RUN_MAX_PORTS   32

enum nb_accel_choice { NB_ACCEL_AUTO, NB_ACCEL_KVM, NB_ACCEL_TCG };

struct nb_volume {
	char host[PATH_MAX];
	char guest[PATH_MAX];
	bool ro;
};

/**
 * struct nb_run_opts - what the user asked for (NULL/0: the default)
 * @image:	IMAGE argument (NULL with @rootfs)
 * @rootfs:	--rootfs DIR: a directory used as the root
 * @cmd:	CMD ARGS... (NULL-terminated; NULL or empty: the image's)
 * @entrypoint:	--entrypoint (NULL: the image's; "": none)
 * @env:	-e and --env-file entries, in order ("K=V"; "K" takes the host's)
 * @ports:	"tcp:IP:HOST-:GUEST" QEMU host forwards
 */
struct nb_run_opts {
	const char *image;
	const char *rootfs;
	char **cmd;
	const char *entrypoint;
	const char *name;
	bool rm, detach, interactive, tty, console;
	char **env;
	unsigned nvolumes;
	struct nb_volume volumes[NB_RUN_MAX_VOLUMES];
	unsigned nports;
	char ports[NB_RUN_MAX_PORTS][96];
	uint64_t mem_mib;
	unsigned cpus;
	const char *workdir;
	const char *user;
	const char *kernel;
	enum nb_accel_choice accel;
	unsigned boot_timeout_ms;
	bool system;	   /* --system: the image's kernel and init, reached over ssh */
	unsigned ssh_port; /* --system: the 127.0.0.1 port forwarded to the guest's 22 */
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

/**
 * nb_parse_port() - "[IP:]HOST:GUEST[/tcp|udp]" into a QEMU hostfwd rule
 * Return: 0, or -EINVAL with @e naming the bad part
 */
int nb_parse_port(const char *spec, char *out, size_t len, struct nb_err *e);

/**
 * nb_parse_volume() - "HOST:GUEST[:ro|:rw]"; HOST must be an existing directory
 * Return: 0, or negative errno
 */
int nb_parse_volume(const char *spec, struct nb_volume *v, struct nb_err *e);

/* nb_parse_size() - "512M", "1G", "1024" (MiB) into MiB; 0 on error */
uint64_t nb_parse_size(const char *s);

/* nb_parse_duration_ms() - "30", "30s", "500ms", "2m" into ms; 0 on error */
unsigned nb_parse_duration_ms(const char *s);

#endif
