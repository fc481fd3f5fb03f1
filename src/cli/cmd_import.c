/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox import oci:DIR[:TAG]: an OCI image layout into the store. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "image/image.h"
#include "lib/log.h"

/* cmd_import() - see commands.h */
int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	char id[80], name[700];
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: nestbox import oci:DIR[:TAG]\n");
			return 0;
		}
		return NB_EXIT_FAILURE;
	}
	if (optind + 1 != argc) {
		nb_error("import: expected oci:DIR[:TAG]; see nestbox import --help");
		return NB_EXIT_FAILURE;
	}
	if (nb_image_import(argv[optind], id, sizeof(id), name, sizeof(name), &e) < 0) {
		nb_error("%s", e.msg);
		return NB_EXIT_FAILURE;
	}
	nb_info("imported %s", name);
	printf("%s\n", strncmp(id, "sha256:", 7) == 0 ? id + 7 : id);
	return 0;
}
