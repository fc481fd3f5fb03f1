/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox logs [-f] NAME: a VM's command output, stdout and stderr apart. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "box/manage.h"

/* cmd_logs() - see commands.h */
int cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	bool follow = false;
	int c;

	while ((c = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 'h':
			printf("Usage: nestbox logs [-f|--follow] NAME\n");
			return 0;
		default:
			nb_error("logs: usage: nestbox logs [-f] NAME");
			return NB_EXIT_FAILURE;
		}
	}
	if (optind != argc - 1) {
		nb_error("logs: usage: nestbox logs [-f] NAME");
		return NB_EXIT_FAILURE;
	}
	if (nb_vm_logs(argv[optind], STDOUT_FILENO, STDERR_FILENO, follow, &e) < 0) {
		nb_error("logs: %s", e.msg);
		return NB_EXIT_FAILURE;
	}
	return 0;
}
