/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox load -i FILE: a docker-archive or oci-archive into the store. */
#include <getopt.h>
#include <stdio.h>

#include "cli/commands.h"
#include "image/image.h"
#include "lib/log.h"

/* cmd_load() - see commands.h */
int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	const char *file = NULL;
	char **names = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			file = optarg;
			break;
		case 'h':
			printf("Usage: nestbox load -i FILE\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (!file && optind < argc)
		file = argv[optind++];
	if (!file || optind != argc) {
		nb_error("load: expected -i FILE; see nestbox load --help");
		return NB_EXIT_FAILURE;
	}
	if (nb_image_load(file, &names, &e) < 0) {
		nb_error("%s", e.msg);
		return NB_EXIT_FAILURE;
	}
	for (char **p = names; p && *p; p++)
		printf("Loaded image: %s\n", *p);
	nb_strv_free(names);
	return 0;
}
