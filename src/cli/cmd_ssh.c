/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox ssh NAME [-- CMD ARGS...]: into a running --system VM, over ssh. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "box/sysrun.h"

/* cmd_ssh() - see commands.h */
int cmd_ssh(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	const char *name;
	int c, code;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("Usage: nestbox ssh NAME [-- CMD ARGS...]\n\n"
			       "A shell (on a terminal) or CMD in a running `run --system` VM, as\n"
			       "root over ssh with the VM's own key; CMD's exit code is returned.\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		nb_error("ssh: a VM NAME is required");
		return NB_EXIT_FAILURE;
	}
	name = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	code = nb_system_ssh(name, argv + optind, &e);
	if (e.code) {
		nb_error("ssh: %s", e.msg);
		return NB_EXIT_FAILURE;
	}
	return code;
}
