/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox: the CLI entry point. Global options, then dispatch from a table. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "config.h"
#include "lib/log.h"

static const struct nb_command commands[] = {
	{ "doctor", cmd_doctor, "show the machine, what nestbox will use on it, and why" },
	{ "fs", cmd_fs, "serve a directory over nestfs, or mount one" },
	{ "images", cmd_images, "list the images in the store" },
	{ "import", cmd_import, "import an OCI image layout (oci:DIR[:TAG])" },
	{ "inspect", cmd_inspect, "show an image's record and config as JSON" },
	{ "kernel", cmd_kernel, "list, prepare (fetch) and remove guest kernels" },
	{ "load", cmd_load, "load a docker-archive or oci-archive file" },
	{ "prune", cmd_prune, "remove what no image name reaches" },
	{ "pull", cmd_pull, "pull an image from a registry" },
	{ "rmi", cmd_rmi, "remove images" },
	{ "exec", cmd_exec, "run another command in a running VM" },
	{ "logs", cmd_logs, "show the output of a VM's command (-f: follow)" },
	{ "ps", cmd_ps, "list VMs (-a: also exited ones)" },
	{ "rm", cmd_rm, "remove a VM (-f: also a running one)" },
	{ "run", cmd_run, "run a command in a new VM made from an image" },
	{ "ssh", cmd_ssh, "run a shell or a command in a --system VM over ssh" },
	{ "stop", cmd_stop, "stop a running VM" },
	{ "wait", cmd_wait, "wait for a VM's command to exit, print its code" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: nestbox [--debug|--quiet] COMMAND [ARGS...]\n\n"
		     "Run container images as ephemeral virtual machines.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nSee nestbox(1) and nestbox-COMMAND(1).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "debug", no_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum nb_log_level level = NB_LOG_WARN;
	const char *env = getenv("NESTBOX_DEBUG");
	int c;

	if (env && *env && strcmp(env, "0") != 0)
		level = NB_LOG_DEBUG;
	/* '+': stop at the first non-option, which is the subcommand. */
	while ((c = getopt_long(argc, argv, "+Dqh", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			level = NB_LOG_DEBUG;
			break;
		case 'q':
			level = NB_LOG_ERROR;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("nestbox %s\n", NESTBOX_VERSION);
			return 0;
		default:
			usage(stderr);
			return NB_EXIT_FAILURE;
		}
	}
	nb_log_setup("nestbox", level);
	/* nestbox writes to sockets whose far end may vanish at any moment (a
	 * VM's QEMU, a nestfs peer, a detached supervisor); each write checks for
	 * EPIPE, so the signal would only kill us mid-cleanup. */
	signal(SIGPIPE, SIG_IGN);
	if (optind >= argc) {
		usage(stderr);
		return NB_EXIT_FAILURE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		int sub = optind;

		if (strcmp(argv[sub], commands[i].name) != 0)
			continue;
		/* optind = 0 makes glibc's getopt start afresh for the subcommand. */
		optind = 0;
		return commands[i].fn(argc - sub, argv + sub);
	}
	nb_error("unknown command '%s'; see nestbox --help", argv[optind]);
	return NB_EXIT_FAILURE;
}
