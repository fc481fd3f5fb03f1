/* SPDX-License-Identifier: GPL-2.0-or-later */
/* commands: the subcommand table of the nestbox CLI.
 * Each subcommand lives in its own cmd_<name>.c, parses, calls a module, prints. */
#ifndef NESTBOX_CLI_COMMANDS_H
#define NESTBOX_CLI_COMMANDS_H

/**
 * struct nb_command - one subcommand
 * @name:	what the user types
 * @fn:		entry point; argv[0] is the subcommand name; returns the exit code
 * @summary:	one line for "nestbox --help"
 */
struct nb_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/*
 * The subcommands, one per cmd_<name>.c: each takes the arguments after
 * "nestbox" (argv[0] is its name), prints its own errors and returns the
 * process's exit code (125 for nestbox's own failures). Keep sorted.
 */

/* nestbox doctor [--json]: the machine's virtualization facts and what nestbox will use */
int cmd_doctor(int argc, char **argv);
/* nestbox fs: serve a directory over nestfs, or mount one served elsewhere */
int cmd_fs(int argc, char **argv);
/* nestbox images: list the images in the store, one row each */
int cmd_images(int argc, char **argv);
/* nestbox import: store an OCI image layout directory (oci:DIR[:TAG]) as an image */
int cmd_import(int argc, char **argv);
/* nestbox inspect: print an image's record and config as JSON */
int cmd_inspect(int argc, char **argv);
/* nestbox kernel: list, prepare (fetch) and remove guest kernels */
int cmd_kernel(int argc, char **argv);
/* nestbox load: store the images of a docker-archive or oci-archive file */
int cmd_load(int argc, char **argv);
/* nestbox prune: remove what no image name reaches and print the bytes freed */
int cmd_prune(int argc, char **argv);
/* nestbox pull: fetch an image from a registry into the store */
int cmd_pull(int argc, char **argv);
/* nestbox rmi: remove image names (given an ID, the image with all its names) */
int cmd_rmi(int argc, char **argv);
/* nestbox exec: run another command in a running VM, relaying its I/O and exit code */
int cmd_exec(int argc, char **argv);
/* nestbox logs: print a VM's command output (-f: follow it while the VM runs) */
int cmd_logs(int argc, char **argv);
/* nestbox ps: list VMs (-a: also exited ones) */
int cmd_ps(int argc, char **argv);
/* nestbox rm: remove VMs (-f: also running ones, stopping them first) */
int cmd_rm(int argc, char **argv);
/* nestbox run: boot a new VM from an image and run a command in it */
int cmd_run(int argc, char **argv);
/* nestbox ssh NAME [-- CMD]: into a running --system VM; CMD's exit code comes back */
int cmd_ssh(int argc, char **argv);
/* nestbox stop: stop running VMs */
int cmd_stop(int argc, char **argv);
/* nestbox wait: wait for a VM's command to exit and print its exit code */
int cmd_wait(int argc, char **argv);

#endif
