/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox run [OPTIONS] IMAGE [CMD ARGS...]: parse, call box/run, exit with its code. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/parse.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/strv.h"
#include "vm/qemu.h"
#include "box/run.h"

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: nestbox run [OPTIONS] IMAGE [CMD ARGS...]\n"
		"       nestbox run [OPTIONS] --rootfs DIR [--] CMD ARGS...\n\n"
		"  --rm                 keep no record of the VM (ps -a, logs) after it exits\n"
		"  --name NAME          name (and hostname) of the VM\n"
		"  -d, --detach         run in the background\n"
		"  -i, --interactive    keep stdin open\n"
		"  -t, --tty            allocate a terminal\n"
		"  -e, --env K=V        set an environment variable\n"
		"      --env-file FILE  read K=V lines\n"
		"  -v, --volume HOST:GUEST[:ro]  (at most 31)\n"
		"  -p, --publish [IP:]HOST:GUEST[/tcp|udp]  (IPv4 IP; at most 32)\n"
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
		"      --rootfs DIR     use a directory as the root instead of an image\n");
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

/* Append the env-file's K=V lines to @env; blank and '#' lines are skipped. */
static int read_env_file(const char *path, struct nb_strv *env)
{
	autofclose FILE *f = fopen(path, "re");
	autofree char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		nb_error("run: --env-file %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *s = line;

		while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
			s[--n] = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s && *s != '#' && nb_strv_add(env, s) < 0) {
			nb_error("run: --env-file %s: out of memory", path);
			return -1;
		}
	}
	return 0;
}

/* "run: OPTION VALUE: REASON", the one line a bad value gets. */
static void bad_value(const char *opt, const char *value, const struct nb_err *e)
{
	nb_error("run: %s %s: %s", opt, value, e->msg);
}

/* Room for one more element in a growing array of @size-byte elements. */
static void *grow(void *arr, unsigned n, size_t size)
{
	return realloc(arr, (n + 1) * size);
}

/* cmd_run() - see commands.h */
int cmd_run(int argc, char **argv)
{
	enum { O_RM = 256, O_NAME, O_ENVFILE, O_CPUS, O_ENTRY, O_KERNEL, O_ACCEL, O_BOOTTO,
	       O_CONSOLE, O_ROOTFS };
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_run_opts o = { 0 };
	autofree struct nb_volume *volumes = NULL;
	autofree struct nb_port *ports = NULL;
	struct nb_err e = NB_ERR_INIT;
	autostrv struct nb_strv env = { 0 };
	int c, code = NB_EXIT_FAILURE;
	void *more;

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
			if (nb_strv_add(&env, optarg) < 0)
				goto oom;
			break;
		case O_ENVFILE:
			if (read_env_file(optarg, &env) < 0)
				goto out;
			break;
		case 'v':
			if (o.vm.nvolumes >= NB_MAX_VOLUMES) {
				nb_error("run: --volume %s: at most %d volumes", optarg,
					 NB_MAX_VOLUMES);
				goto out;
			}
			more = grow(volumes, o.vm.nvolumes, sizeof(*volumes));
			if (!more)
				goto oom;
			volumes = more;
			if (nb_parse_volume(optarg, &volumes[o.vm.nvolumes], &e) < 0) {
				bad_value("--volume", optarg, &e);
				goto out;
			}
			o.vm.nvolumes++;
			break;
		case 'p':
			if (o.vm.nports >= NB_MAX_PORTS) {
				nb_error("run: --publish %s: at most %d ports", optarg, NB_MAX_PORTS);
				goto out;
			}
			more = grow(ports, o.vm.nports, sizeof(*ports));
			if (!more)
				goto oom;
			ports = more;
			if (nb_parse_port(optarg, &ports[o.vm.nports], &e) < 0 ||
			    nb_qemu_port_ok(&ports[o.vm.nports], &e) < 0) {
				bad_value("--publish", optarg, &e);
				goto out;
			}
			o.vm.nports++;
			break;
		case 'm':
			if (nb_parse_size_mib(optarg, &o.vm.mem_mib, &e) < 0) {
				bad_value("--memory", optarg, &e);
				goto out;
			}
			if (o.vm.mem_mib < 64) {
				nb_error("run: --memory %s: at least 64M", optarg);
				goto out;
			}
			break;
		case O_CPUS:
			if (nb_parse_uint(optarg, 1, 64, &o.vm.cpus, &e) < 0) {
				bad_value("--cpus", optarg, &e);
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
			if (nb_parse_kernel(optarg, &o.vm.kernel, &e) < 0) {
				bad_value("--kernel", optarg, &e);
				goto out;
			}
			break;
		case O_ACCEL:
			if (strcmp(optarg, "auto") == 0)
				o.vm.accel = NB_ACCEL_AUTO;
			else if (strcmp(optarg, "kvm") == 0)
				o.vm.accel = NB_ACCEL_KVM;
			else if (strcmp(optarg, "tcg") == 0)
				o.vm.accel = NB_ACCEL_TCG;
			else {
				nb_error("run: --accel %s: expected auto, kvm or tcg", optarg);
				goto out;
			}
			break;
		case O_BOOTTO:
			if (nb_parse_duration_ms(optarg, &o.vm.boot_timeout_ms, &e) < 0) {
				bad_value("--boot-timeout", optarg, &e);
				goto out;
			}
			break;
		case O_CONSOLE:
			o.console = true;
			break;
		case O_ROOTFS:
			o.rootfs = optarg;
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
	o.vm.volumes = volumes;
	o.vm.ports = ports;
	code = nb_run(&o, &e);
	if (e.code) {
		nb_error("run: %s", e.msg);
		code = NB_EXIT_FAILURE;
	}
	goto out;
oom:
	nb_error("run: out of memory");
out:
	return code;
}
