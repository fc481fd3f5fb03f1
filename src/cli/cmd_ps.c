/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox ps [-a] [--format json]: list running VMs (-a: and exited ones),
 * with podman's columns. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/parse.h"
#include "lib/log.h"
#include "box/state.h"

#define NCOLS 7

/* The table, collected first so each column is as wide as its widest cell. */
struct row {
	char *cell[NCOLS];
};

struct ps_ctx {
	bool all;
	int64_t now;
	struct json_object *arr;
	struct row *rows;
	size_t nrows;
	struct nb_vm_state *vms;
	size_t nvms;
	bool oom;
};

static void add_row(struct ps_ctx *p, const char *const cells[NCOLS])
{
	struct row *r = realloc(p->rows, (p->nrows + 1) * sizeof(*r));

	if (!r) {
		p->oom = true;
		return;
	}
	p->rows = r;
	for (int i = 0; i < NCOLS; i++) {
		r[p->nrows].cell[i] = strdup(cells[i]);
		if (!r[p->nrows].cell[i])
			p->oom = true;
	}
	p->nrows++;
}

/* Print the header and rows, podman-style: columns apart by 2 spaces. */
static void print_table(struct ps_ctx *p)
{
	static const char *const head[NCOLS] = { "CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
						 "STATUS", "PORTS", "NAMES" };
	static const size_t maxw[NCOLS] = { 12, 40, 30, 20, 40, 40, 63 };
	size_t w[NCOLS];

	for (int i = 0; i < NCOLS; i++)
		w[i] = strlen(head[i]);
	for (size_t r = 0; r < p->nrows; r++)
		for (int i = 0; i < NCOLS; i++) {
			size_t n = p->rows[r].cell[i] ? strlen(p->rows[r].cell[i]) : 0;

			if (n > w[i])
				w[i] = n > maxw[i] ? maxw[i] : n;
		}
	for (size_t r = 0; r <= p->nrows; r++) {
		for (int i = 0; i < NCOLS; i++) {
			const char *c = r == 0 ? head[i] : p->rows[r - 1].cell[i];

			if (i == NCOLS - 1)
				printf("%s\n", c ? c : "");
			else
				printf("%-*.*s  ", (int)w[i], (int)w[i], c ? c : "");
		}
	}
}

static void free_rows(struct ps_ctx *p)
{
	for (size_t r = 0; r < p->nrows; r++)
		for (int i = 0; i < NCOLS; i++)
			free(p->rows[r].cell[i]);
	free(p->rows);
}

/* How long ago, as podman (go-units HumanDuration) says it. */
static void human(int64_t secs, char *buf, size_t len)
{
	if (secs < 1)
		snprintf(buf, len, "Less than a second");
	else if (secs == 1)
		snprintf(buf, len, "1 second");
	else if (secs < 60)
		snprintf(buf, len, "%lld seconds", (long long)secs);
	else if (secs < 120)
		snprintf(buf, len, "About a minute");
	else if (secs < 3600)
		snprintf(buf, len, "%lld minutes", (long long)(secs / 60));
	else if (secs < 7200)
		snprintf(buf, len, "About an hour");
	else if (secs < 48 * 3600)
		snprintf(buf, len, "%lld hours", (long long)(secs / 3600));
	else if (secs < 14 * 86400)
		snprintf(buf, len, "%lld days", (long long)(secs / 86400));
	else
		snprintf(buf, len, "%lld weeks", (long long)(secs / (7 * 86400)));
}

/* The published ports as podman's ps shows them: "127.0.0.1:8080->80/tcp, ...". */
static void join_ports(const struct nb_vm_state *st, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < st->nports && used + 2 < len; i++) {
		if (used)
			used += (size_t)snprintf(buf + used, len - used, ", ");
		used += nb_port_format(&st->ports[i], buf + used, len - used);
	}
}

static void ps_one(struct ps_ctx *p, const struct nb_vm_state *st)
{
	bool exited = !st->alive || strcmp(st->status, "exited") == 0;
	char status[96], ago[48], created[64], ports[NB_MAX_PORTS * 64];

	if (!p->all && !st->alive)
		return;
	join_ports(st, ports, sizeof(ports));
	human(p->now - st->created, ago, sizeof(ago));
	snprintf(created, sizeof(created), "%s ago", ago);
	if (exited && st->exit_code < 0) {
		/* Its owner died without recording an end (a killed nestbox run). */
		snprintf(status, sizeof(status), "Exited (unknown)");
	} else if (exited) {
		if (st->finished)
			human(p->now - st->finished, ago, sizeof(ago));
		snprintf(status, sizeof(status), "Exited (%d)%s%s%s", st->exit_code,
			 st->finished ? " " : "", st->finished ? ago : "",
			 st->finished ? " ago" : "");
	} else if (strcmp(st->status, "running") == 0) {
		snprintf(status, sizeof(status), "Up %s", ago);
	} else {
		snprintf(status, sizeof(status), "Created");
	}
	if (p->arr) {
		struct json_object *o = json_object_new_object();
		struct json_object *names = json_object_new_array();

		json_object_array_add(names, json_object_new_string(st->name));
		json_object_object_add(o, "Id", json_object_new_string(st->id));
		json_object_object_add(o, "Names", names);
		json_object_object_add(o, "Image", json_object_new_string(st->image));
		json_object_object_add(o, "Command", json_object_new_string(st->command));
		json_object_object_add(o, "State", json_object_new_string(exited ? "exited"
									  : st->status));
		json_object_object_add(o, "Status", json_object_new_string(status));
		json_object_object_add(o, "Exited", json_object_new_boolean(exited));
		json_object_object_add(o, "ExitCode", json_object_new_int(st->exit_code));
		json_object_object_add(o, "Pid", json_object_new_int(st->alive ? st->pid : 0));
		json_object_object_add(o, "Created", json_object_new_int64(st->created));
		json_object_object_add(o, "ExitedAt", json_object_new_int64(st->finished));
		json_object_object_add(o, "AutoRemove", json_object_new_boolean(st->rm));
		json_object_object_add(o, "Detached", json_object_new_boolean(st->detached));
		json_object_object_add(o, "Ports", json_object_new_string(ports));
		json_object_array_add(p->arr, o);
	} else {
		const char *const cells[NCOLS] = { st->id, st->image, st->command, created,
						   status, ports, st->name };

		add_row(p, cells);
	}
}

/* Collect every record first: podman lists the newest first. */
static int collect(const struct nb_vm_state *st, void *ctx)
{
	struct ps_ctx *p = ctx;
	struct nb_vm_state *v = realloc(p->vms, (p->nvms + 1) * sizeof(*v));

	if (!v) {
		p->oom = true;
		return -1;
	}
	p->vms = v;
	p->vms[p->nvms++] = *st;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct nb_vm_state *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? 1 : -1;
	return strcmp(x->id, y->id);
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
	struct ps_ctx p = { .now = (int64_t)time(NULL) };
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
	if (nb_state_list(collect, &p, &e) < 0 || p.oom) {
		nb_error("ps: %s", p.oom ? "out of memory" : e.msg);
		json_object_put(p.arr);
		free(p.vms);
		return NB_EXIT_FAILURE;
	}
	if (p.nvms)
		qsort(p.vms, p.nvms, sizeof(*p.vms), newest_first);
	for (size_t i = 0; i < p.nvms; i++)
		ps_one(&p, &p.vms[i]);
	free(p.vms);
	if (!p.arr)
		print_table(&p);
	free_rows(&p);
	if (p.arr) {
		puts(json_object_to_json_string_ext(p.arr, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(p.arr);
	}
	return 0;
}
