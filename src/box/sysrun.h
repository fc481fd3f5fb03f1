/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/sysrun: `nestbox run --system` and `nestbox ssh`. Owns the life of a
 * system VM as the CLI sees it: started under a supervisor (as -d), tied to
 * the CLI by a lifeline unless detached, waited for until sshd answers
 * (phases on a TTY; a boot timeout names the last phase, the console tail
 * and the units that failed, and leaves nothing), then the command over
 * ssh, then a clean poweroff. */
#ifndef NESTBOX_BOX_SYSRUN_H
#define NESTBOX_BOX_SYSRUN_H

#include "lib/err.h"
#include "box/run.h"

/* The default --boot-timeout of --system: up to sshd, not just up to init. */
#define NB_SYSTEM_BOOT_TIMEOUT_MS 180000u

/**
 * nb_system_run() - run --system: boot, wait for sshd, then CMD over ssh
 * (its exit code), an interactive ssh session (no CMD, on a TTY), or with
 * -d print the VM's name and leave it running
 * Return: the exit code, or 125 with @e set
 */
int nb_system_run(const struct nb_run_opts *o, struct nb_err *e);

/**
 * nb_system_ssh() - nestbox ssh NAME [-- CMD]: into a running --system VM
 * Return: CMD's exit code (ssh's 255 when ssh itself failed), or 125 with @e
 */
int nb_system_ssh(const char *name, char *const *cmd, struct nb_err *e);

#endif
