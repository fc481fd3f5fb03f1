/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox prune: remove blobs, trees and temp files that no image name reaches. */
#include <getopt.h>
#include <stdio.h>

#include "cli/commands.h"
#include "image/image.h"
#include "lib/log.h"

/* cmd_prune() - see commands.h */
int cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	uint64_t freed = 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: nestbox prune\n");
			return 0;
		}
		return NB_EXIT_FAILURE;
	}
	if (optind != argc) {
		nb_error("prune: unexpected argument '%s'", argv[optind]);
		return NB_EXIT_FAILURE;
	}
	if (nb_image_prune(&freed, &e) < 0) {
		nb_error("%s", e.msg);
		return NB_EXIT_FAILURE;
	}
	printf("Freed %llu bytes\n", (unsigned long long)freed);
	return 0;
}
