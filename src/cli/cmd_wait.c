/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox wait NAME: block until a VM's command exits; print its code. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "box/manage.h"

/* cmd_wait() - see commands.h */
int cmd_wait(int argc, char **argv)
{
	struct nb_err e = NB_ERR_INIT;
	int code = -1;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: nestbox wait NAME\n");
		return 0;
	}
	if (argc != 2) {
		nb_error("wait: usage: nestbox wait NAME");
		return NB_EXIT_FAILURE;
	}
	if (nb_vm_wait(argv[1], &code, &e) < 0) {
		nb_error("wait: %s", e.msg);
		return NB_EXIT_FAILURE;
	}
	printf("%d\n", code);
	return 0;
}
