/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox rmi [-f] IMAGE...: untag, and delete what no name keeps. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>

#include "cli/commands.h"
#include "image/image.h"
#include "lib/log.h"

/* cmd_rmi() - see commands.h */
int cmd_rmi(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			printf("Usage: nestbox rmi [-f] IMAGE...\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		nb_error("rmi: expected an image; see nestbox rmi --help");
		return NB_EXIT_FAILURE;
	}
	for (int i = optind; i < argc; i++) {
		struct nb_err e = NB_ERR_INIT;
		json_object *lines;

		if (nb_image_remove(argv[i], force, &lines, &e) < 0) {
			nb_error("%s", e.msg);
			rc = NB_EXIT_FAILURE;
			continue;
		}
		for (size_t k = 0; k < json_object_array_length(lines); k++)
			printf("%s\n", json_object_get_string(json_object_array_get_idx(lines, k)));
		json_object_put(lines);
	}
	return rc;
}
