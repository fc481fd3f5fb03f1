/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox logs NAME: the output of a detached VM's command. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "vmm/manage.h"

/* cmd_logs() - see commands.h */
int cmd_logs(int argc, char **argv)
{
	struct nb_err e = NB_ERR_INIT;

	if (argc == 2 && (argv[1][0] != '-' || argv[1][1] == 0)) {
		if (nb_vm_logs(argv[1], STDOUT_FILENO, &e) < 0) {
			nb_error("logs: %s", e.msg);
			return NB_EXIT_FAILURE;
		}
		return 0;
	}
	if (argc == 2 && (argv[1][1] == 'h' || argv[1][2] == 'h')) {
		printf("Usage: nestbox logs NAME\n");
		return 0;
	}
	nb_error("logs: usage: nestbox logs NAME");
	return NB_EXIT_FAILURE;
}
