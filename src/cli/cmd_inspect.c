/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox inspect IMAGE...: a JSON array with each image's record and config. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>

#include "cli/commands.h"
#include "image/image.h"
#include "lib/log.h"

/* cmd_inspect() - see commands.h */
int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_object *all;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: nestbox inspect IMAGE...\n");
			return 0;
		}
		return NB_EXIT_FAILURE;
	}
	if (optind >= argc) {
		nb_error("inspect: expected an image; see nestbox inspect --help");
		return NB_EXIT_FAILURE;
	}
	all = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		struct nb_err e = NB_ERR_INIT;
		json_object *o;

		if (nb_image_inspect(argv[i], &o, &e) < 0) {
			nb_error("%s", e.msg);
			rc = NB_EXIT_FAILURE;
			continue;
		}
		json_object_array_add(all, o);
	}
	if (json_object_array_length(all))
		printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(all);
	return rc;
}
