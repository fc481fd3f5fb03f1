/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox exec [-i] [-t] [-e K=V] [-u USER] [-w DIR] NAME CMD...: a command in a running VM. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "box/manage.h"
#include "cli/commands.h"
#include "lib/log.h"
#include "lib/strv.h"

/* cmd_exec() - see commands.h */
int cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_exec_opts o = { 0 };
	struct nb_err e = NB_ERR_INIT;
	autostrv struct nb_strv env = { 0 };
	const char *name;
	int c, code;

	while ((c = getopt_long(argc, argv, "+ite:u:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o.interactive = true;
			break;
		case 't':
			o.tty = true;
			break;
		case 'e':
			if (nb_strv_add(&env, optarg) < 0) {
				nb_error("exec: out of memory");
				return NB_EXIT_FAILURE;
			}
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'w':
			o.workdir = optarg;
			break;
		case 'h':
			printf("Usage: nestbox exec [-i] [-t] [-e K=V] [-u USER] [-w DIR] NAME CMD [ARG...]\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		nb_error("exec: a VM NAME and a command are required");
		return NB_EXIT_FAILURE;
	}
	name = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc) {
		nb_error("exec: a command is required");
		return NB_EXIT_FAILURE;
	}
	o.argv = argv + optind;
	o.env = env.v;
	code = nb_vm_exec(name, &o, &e);
	if (e.code) {
		nb_error("exec: %s", e.msg);
		code = NB_EXIT_FAILURE;
	}
	return code;
}
