/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox stop [-t SECS] NAME...: SIGTERM the command, kill the VM after SECS. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "box/manage.h"

/* cmd_stop() - see commands.h */
int cmd_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	unsigned secs = 10;
	int c, code = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "+t:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			secs = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !*optarg) {
				nb_error("stop: -t %s: expected seconds", optarg);
				return NB_EXIT_FAILURE;
			}
			break;
		case 'h':
			printf("Usage: nestbox stop [-t SECS] NAME...\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		nb_error("stop: a VM NAME is required");
		return NB_EXIT_FAILURE;
	}
	for (; optind < argc; optind++) {
		if (nb_vm_stop(argv[optind], secs, &e) < 0) {
			nb_error("stop: %s", e.msg);
			code = NB_EXIT_FAILURE;
		} else {
			printf("%s\n", argv[optind]);
		}
	}
	return code;
}
