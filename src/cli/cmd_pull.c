/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox pull REF [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] [--creds USER:PASS] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "image/image.h"
#include "lib/log.h"

/* cmd_pull() - see commands.h */
int cmd_pull(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "tls-verify", required_argument, NULL, 't' },
		{ "creds", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_pull_opts o = { .tls_verify = true, .progress = true };
	struct nb_err e = NB_ERR_INIT;
	char id[80];
	int c;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.platform = optarg;
			break;
		case 't':
			if (strcmp(optarg, "false") == 0)
				o.tls_verify = false;
			else if (strcmp(optarg, "true") != 0) {
				nb_error("--tls-verify: expected true or false, not '%s'", optarg);
				return NB_EXIT_FAILURE;
			}
			break;
		case 'c':
			o.creds = optarg;
			break;
		case 'q':
			o.progress = false;
			break;
		case 'h':
			printf("Usage: nestbox pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] "
			       "[--creds USER:PASS] [-q] REF\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind + 1 != argc) {
		nb_error("pull: expected one image reference; see nestbox pull --help");
		return NB_EXIT_FAILURE;
	}
	if (nb_image_pull(argv[optind], &o, id, sizeof(id), &e) < 0) {
		nb_error("%s", e.msg);
		return NB_EXIT_FAILURE;
	}
	printf("%s\n", strncmp(id, "sha256:", 7) == 0 ? id + 7 : id);
	return 0;
}
