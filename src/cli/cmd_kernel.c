/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox kernel list | prepare [--keep-default] [PACKAGE|FILE.deb] | remove NAME:
 * the guest kernels `run` boots (boot/kstore). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/kstore.h"
#include "cli/commands.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define USAGE                                                                       \
	"Usage: nestbox kernel list\n"                                              \
	"       nestbox kernel prepare [--keep-default] [PACKAGE | FILE.deb]\n"     \
	"       nestbox kernel remove NAME\n"

/* kernel_list() - the table of prepared kernels. Return: exit code */
static int kernel_list(int argc, char **argv)
{
	autofree struct nb_kstore_entry *v = NULL;
	struct nb_err e = NB_ERR_INIT;
	size_t n;

	if (argc > 1) {
		nb_error("kernel list: unexpected argument '%s'", argv[1]);
		return NB_EXIT_FAILURE;
	}
	if (nb_kstore_list(&v, &n, &e) < 0) {
		nb_error("%s", e.msg);
		return NB_EXIT_FAILURE;
	}
	printf("%-24s %-8s %s\n", "NAME", "DEFAULT", "BOOT");
	for (size_t i = 0; i < n; i++)
		printf("%-24s %-8s %s\n", v[i].name, v[i].is_default ? "yes" : "",
		       v[i].pvh ? "vmlinux (PVH)" : "bzImage");
	return 0;
}

/* kernel_prepare() - fetch and prepare a Debian kernel. Return: exit code */
static int kernel_prepare(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-default", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_kstore_prep p = { 0 };
	struct nb_err e = NB_ERR_INIT;
	char name[128];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			p.keep_default = true;
			break;
		case 'h':
			printf(USAGE);
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (argc - optind > 1) {
		nb_error("kernel prepare: unexpected argument '%s'", argv[optind + 1]);
		return NB_EXIT_FAILURE;
	}
	p.source = optind < argc ? argv[optind] : NULL;
	if (nb_kstore_prepare(&p, name, sizeof(name), &e) < 0) {
		nb_error("%s", e.msg);
		return NB_EXIT_FAILURE;
	}
	printf("%s\n", name);
	return 0;
}

/* kernel_remove() - remove prepared kernels. Return: exit code */
static int kernel_remove(int argc, char **argv)
{
	if (argc < 2) {
		nb_error("kernel remove: which kernel? (see nestbox kernel list)");
		return NB_EXIT_FAILURE;
	}
	for (int i = 1; i < argc; i++) {
		struct nb_err e = NB_ERR_INIT;
		bool was_default;

		if (nb_kstore_remove(argv[i], &was_default, &e) < 0) {
			nb_error("%s", e.msg);
			return NB_EXIT_FAILURE;
		}
		printf("%s\n", argv[i]);
		if (was_default)
			nb_warn("kernel %s was the default: run `nestbox kernel prepare` for another",
				argv[i]);
	}
	return 0;
}

/* cmd_kernel() - see commands.h */
int cmd_kernel(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? NB_EXIT_FAILURE : 0;
	}
	if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "ls") == 0)
		return kernel_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "prepare") == 0)
		return kernel_prepare(argc - 1, argv + 1);
	if (strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "rm") == 0)
		return kernel_remove(argc - 1, argv + 1);
	nb_error("kernel: unknown subcommand '%s' (list, prepare, remove)", argv[1]);
	return NB_EXIT_FAILURE;
}
