/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox run [OPTIONS] IMAGE [CMD ARGS...]: parse, call vmm/run, exit with its code. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "vmm/run.h"

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: nestbox run [OPTIONS] IMAGE [CMD ARGS...]\n"
		"       nestbox run [OPTIONS] --rootfs DIR [--] CMD ARGS...\n"
		"       nestbox run --system [OPTIONS] IMAGE [-- CMD ARGS...]\n\n"
		"  --rm                 keep no record of the VM (ps -a, logs) after it exits\n"
		"  --name NAME          name (and hostname) of the VM\n"
		"  -d, --detach         run in the background\n"
		"  -i, --interactive    keep stdin open\n"
		"  -t, --tty            allocate a terminal\n"
		"  -e, --env K=V        set an environment variable\n"
		"      --env-file FILE  read K=V lines\n"
		"  -v, --volume HOST:GUEST[:ro]\n"
		"  -p, --publish [IP:]HOST:GUEST[/tcp|udp]\n"
		"  -m, --memory SIZE    guest memory (default 512M)\n"
		"      --cpus N         virtual CPUs (default 1)\n"
		"  -w, --workdir DIR    working directory of the command\n"
		"  -u, --user UID[:GID] user of the command\n"
		"      --entrypoint CMD\n"
		"      --kernel default|image|PATH\n"
		"                       the guest kernel: nestbox's, the image's own\n"
		"                       (/usr/lib/modules/VERSION/vmlinuz) or a file/dir\n"
		"      --accel auto|kvm|tcg\n"
		"      --boot-timeout DUR\n"
		"      --console        show the guest's console on stderr\n"
		"      --rootfs DIR     use a directory as the root instead of an image\n"
		"      --system         boot the image's own kernel and init (systemd);\n"
		"                       CMD runs over ssh (nestbox-run(1), nestbox-ssh(1))\n");
}

/* Names are hostnames too: podman's rule, [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

struct list {
	char **v;
	size_t n;
};

static int list_add(struct list *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 2) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n++] = (char *)s;
	l->v[l->n] = NULL;
	return 0;
}

/* Keep the env-file's lines alive until the run ends. */
static int read_env_file(const char *path, struct list *env, struct list *keep)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		nb_error("run: --env-file %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *s = line, *d;

		while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
			s[--n] = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		d = strdup(s);
		if (!d || list_add(keep, d) < 0 || list_add(env, d) < 0) {
			free(d);
			break;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

/* cmd_run() - see commands.h */
int cmd_run(int argc, char **argv)
{
	enum { O_RM = 256, O_NAME, O_ENVFILE, O_CPUS, O_ENTRY, O_KERNEL, O_ACCEL, O_BOOTTO,
	       O_CONSOLE, O_ROOTFS, O_SYSTEM };
	static const struct option opts[] = {
		{ "rm", no_argument, NULL, O_RM },
		{ "name", required_argument, NULL, O_NAME },
		{ "detach", no_argument, NULL, 'd' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, O_ENVFILE },
		{ "volume", required_argument, NULL, 'v' },
		{ "publish", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "entrypoint", required_argument, NULL, O_ENTRY },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "accel", required_argument, NULL, O_ACCEL },
		{ "boot-timeout", required_argument, NULL, O_BOOTTO },
		{ "console", no_argument, NULL, O_CONSOLE },
		{ "rootfs", required_argument, NULL, O_ROOTFS },
		{ "system", no_argument, NULL, O_SYSTEM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct nb_run_opts o;
	struct nb_err e = NB_ERR_INIT;
	struct list env = { 0 }, keep = { 0 };
	int c, code = NB_EXIT_FAILURE;
	char *end;

	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "+dite:v:p:m:w:u:h", opts, NULL)) != -1) {
		switch (c) {
		case O_RM:
			o.rm = true;
			break;
		case O_NAME:
			if (!valid_name(optarg)) {
				nb_error("run: --name %s: use 1-63 letters, digits, '_', '.' or '-', "
					 "starting with a letter or digit", optarg);
				goto out;
			}
			o.name = optarg;
			break;
		case 'd':
			o.detach = true;
			break;
		case 'i':
			o.interactive = true;
			break;
		case 't':
			o.tty = true;
			break;
		case 'e':
			if (list_add(&env, optarg) < 0)
				goto out;
			break;
		case O_ENVFILE:
			if (read_env_file(optarg, &env, &keep) < 0)
				goto out;
			break;
		case 'v':
			if (o.nvolumes >= NB_RUN_MAX_VOLUMES) {
				nb_error("run: too many volumes");
				goto out;
			}
			if (nb_parse_volume(optarg, &o.volumes[o.nvolumes++], &e) < 0)
				goto err;
			break;
		case 'p':
			if (o.nports >= NB_RUN_MAX_PORTS) {
				nb_error("run: too many ports");
				goto out;
			}
			if (nb_parse_port(optarg, o.ports[o.nports++], sizeof(o.ports[0]), &e) < 0)
				goto err;
			break;
		case 'm':
			o.mem_mib = nb_parse_size(optarg);
			if (o.mem_mib < 64) {
				nb_error("run: --memory %s: expected a size of at least 64M", optarg);
				goto out;
			}
			break;
		case O_CPUS:
			o.cpus = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o.cpus < 1 || o.cpus > 64) {
				nb_error("run: --cpus %s: expected a number from 1 to 64", optarg);
				goto out;
			}
			break;
		case 'w':
			if (optarg[0] != '/') {
				nb_error("run: --workdir %s: must be an absolute path", optarg);
				goto out;
			}
			o.workdir = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case O_ENTRY:
			o.entrypoint = optarg;
			break;
		case O_KERNEL:
			/* "default", "image" (the image's own) or a path: vmm/run decides */
			o.kernel = optarg;
			break;
		case O_ACCEL:
			if (strcmp(optarg, "auto") == 0)
				o.accel = NB_ACCEL_AUTO;
			else if (strcmp(optarg, "kvm") == 0)
				o.accel = NB_ACCEL_KVM;
			else if (strcmp(optarg, "tcg") == 0)
				o.accel = NB_ACCEL_TCG;
			else {
				nb_error("run: --accel %s: expected auto, kvm or tcg", optarg);
				goto out;
			}
			break;
		case O_BOOTTO:
			o.boot_timeout_ms = nb_parse_duration_ms(optarg);
			if (!o.boot_timeout_ms) {
				nb_error("run: --boot-timeout %s: expected a duration (30s, 500ms, 2m)",
					 optarg);
				goto out;
			}
			break;
		case O_CONSOLE:
			o.console = true;
			break;
		case O_ROOTFS:
			o.rootfs = optarg;
			break;
		case O_SYSTEM:
			o.system = true;
			break;
		case 'h':
			run_usage(stdout);
			code = 0;
			goto out;
		default:
			run_usage(stderr);
			goto out;
		}
	}
	if (!o.rootfs) {
		if (optind >= argc) {
			nb_error("run: an IMAGE (or --rootfs DIR) is required");
			goto out;
		}
		o.image = argv[optind++];
		if (optind < argc && strcmp(argv[optind], "--") == 0)
			optind++;
	}
	o.cmd = argv + optind;
	o.env = env.v;
	code = nb_run(&o, &e);
	if (e.code)
		goto err;
	goto out;
err:
	nb_error("run: %s", e.msg);
	code = NB_EXIT_FAILURE;
out:
	for (size_t i = 0; i < keep.n; i++)
		free(keep.v[i]);
	free(keep.v);
	free(env.v);
	return code;
}
