/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox ps [-a] [--format json]: list detached VMs. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "vmm/state.h"

struct ps_ctx {
	bool all;
	struct json_object *arr;
};

static int ps_one(const struct nb_vm_state *st, void *ctx)
{
	struct ps_ctx *p = ctx;
	char status[64];

	if (!p->all && !st->alive)
		return 0;
	if (strcmp(st->status, "exited") == 0)
		snprintf(status, sizeof(status), "Exited (%d)", st->exit_code);
	else
		snprintf(status, sizeof(status), "%s", st->alive ? "Up" : "Exited");
	if (p->arr) {
		struct json_object *o = json_object_new_object();
		struct json_object *names = json_object_new_array();

		json_object_array_add(names, json_object_new_string(st->name));
		json_object_object_add(o, "Id", json_object_new_string(st->id));
		json_object_object_add(o, "Names", names);
		json_object_object_add(o, "Image", json_object_new_string(st->image));
		json_object_object_add(o, "Command", json_object_new_string(st->command));
		json_object_object_add(o, "State", json_object_new_string(st->alive ? st->status
										 : "exited"));
		json_object_object_add(o, "Status", json_object_new_string(status));
		json_object_object_add(o, "ExitCode", json_object_new_int(st->exit_code));
		json_object_object_add(o, "Pid", json_object_new_int(st->alive ? st->pid : 0));
		json_object_object_add(o, "Created", json_object_new_int64(st->created));
		json_object_array_add(p->arr, o);
	} else {
		printf("%-12.12s  %-20.20s  %-24.24s  %-24.24s  %s\n", st->id, st->image,
		       st->command, status, st->name);
	}
	return 0;
}

/* cmd_ps() - see commands.h */
int cmd_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ps_ctx p = { 0 };
	struct nb_err e = NB_ERR_INIT;
	int c;

	while ((c = getopt_long(argc, argv, "+ah", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			p.all = true;
			break;
		case 'f':
			if (strcmp(optarg, "json") != 0) {
				nb_error("ps: --format %s: only json is supported", optarg);
				return NB_EXIT_FAILURE;
			}
			p.arr = json_object_new_array();
			break;
		case 'h':
			printf("Usage: nestbox ps [-a] [--format json]\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		nb_error("ps: unexpected argument '%s'", argv[optind]);
		json_object_put(p.arr);
		return NB_EXIT_FAILURE;
	}
	if (!p.arr)
		printf("%-12s  %-20s  %-24s  %-24s  %s\n", "VM ID", "IMAGE", "COMMAND", "STATUS",
		       "NAMES");
	if (nb_state_list(ps_one, &p, &e) < 0) {
		nb_error("ps: %s", e.msg);
		json_object_put(p.arr);
		return NB_EXIT_FAILURE;
	}
	if (p.arr) {
		puts(json_object_to_json_string_ext(p.arr, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(p.arr);
	}
	return 0;
}
