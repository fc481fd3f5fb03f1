/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox rm [-f] NAME...: remove VM records (-f: also running VMs). */
#include <getopt.h>
#include <stdio.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "box/manage.h"

/* cmd_rm() - see commands.h */
int cmd_rm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	bool force = false;
	int c, code = 0;

	while ((c = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			printf("Usage: nestbox rm [-f] NAME...\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		nb_error("rm: a VM NAME is required");
		return NB_EXIT_FAILURE;
	}
	for (; optind < argc; optind++) {
		if (nb_vm_rm(argv[optind], force, &e) < 0) {
			nb_error("rm: %s", e.msg);
			code = NB_EXIT_FAILURE;
		} else {
			printf("%s\n", argv[optind]);
		}
	}
	return code;
}
