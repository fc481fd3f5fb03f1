/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox fs serve|mount: the nestfs server and client on their own. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/commands.h"
#include "fs/client.h"
#include "fs/endpoint.h"
#include "fs/sandbox.h"
#include "fs/server.h"
#include "lib/log.h"

static void usage_fs(FILE *out)
{
	fprintf(out,
		"Usage: nestbox fs serve DIR --listen ENDPOINT [--read-only]\n"
		"                        [--cache never|auto|always] [--threads N] [--allow-devices]\n"
		"                        [--nosuid] [--peer-cid CID] [--no-sandbox]\n"
		"       nestbox fs mount ENDPOINT MOUNTPOINT [--readers N] [-o OPTS] [--read-only]\n"
		"                        [--daemon]\n\n"
		"Serve a directory over nestfs, or mount one. ENDPOINT: unix:PATH, vsock:[CID:]PORT\n"
		"(serve), vsock:CID:PORT (mount), fd:N, or a character device path (mount).\n");
}

static bool parse_count(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || v == 0 || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Block SIGINT/SIGTERM/SIGHUP (before threads start) and return a signalfd for them. */
static int stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	return signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Serve connections on @fd (listening or one stream) until a stop signal on @sfd. */
static int serve_loop(struct nestfs_server *s, int fd, bool listening, const char *ep,
		      uint32_t cid, int sfd)
{
	struct nb_err e = NB_ERR_INIT;
	int rc = 0;

	if (!listening) {
		/* One connected stream: serve it, exit when it ends. */
		if (nestfs_server_add_conn(s, fd, &e) < 0) {
			nb_error("fs serve: %s", e.msg);
			rc = NB_EXIT_FAILURE;
		}
		while (!rc && nestfs_server_conns(s) > 0) {
			struct pollfd p = { sfd, POLLIN, 0 };

			if (poll(&p, 1, 100) > 0)
				break;
		}
		return rc;
	}
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int cfd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		cfd = nestfs_accept(fd, ep, cid, &e);
		if (cfd < 0) {
			if (cfd != -EAGAIN && cfd != -EINTR && cfd != -ECONNABORTED)
				nb_warn("fs serve: %s", e.msg);
			continue;
		}
		if (nestfs_server_add_conn(s, cfd, &e) < 0)
			nb_warn("fs serve: %s", e.msg);
	}
	close(fd);
	return rc;
}

static int fs_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "cache", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "allow-devices", no_argument, NULL, 'd' },
		{ "nosuid", no_argument, NULL, 's' },
		{ "peer-cid", required_argument, NULL, 'P' },
		{ "no-sandbox", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nestfs_server_opts so = { .cache = NESTFS_CACHE_AUTO, .allow_suid = true };
	struct nb_err e = NB_ERR_INIT;
	const char *ep = NULL, *dir;
	struct nestfs_server *s;
	bool listening, sandbox = true;
	uint32_t cid = NESTFS_PEER_CID_ANY;
	unsigned cidarg;
	sigset_t set;
	int c, fd, sfd, rc, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			ep = optarg;
			break;
		case 'r':
			so.read_only = true;
			break;
		case 'c':
			if (!strcmp(optarg, "never"))
				so.cache = NESTFS_CACHE_NEVER;
			else if (!strcmp(optarg, "auto"))
				so.cache = NESTFS_CACHE_AUTO;
			else if (!strcmp(optarg, "always"))
				so.cache = NESTFS_CACHE_ALWAYS;
			else {
				nb_error("fs serve: --cache '%s': expected never, auto or always",
					 optarg);
				return NB_EXIT_FAILURE;
			}
			break;
		case 't':
			if (!parse_count(optarg, 256, &so.threads)) {
				nb_error("fs serve: --threads '%s': expected 1 to 256", optarg);
				return NB_EXIT_FAILURE;
			}
			break;
		case 'd':
			so.allow_devices = true;
			break;
		case 's':
			so.allow_suid = false;
			break;
		case 'P':
			if (!parse_count(optarg, 0xfffffffeu, &cidarg)) {
				nb_error("fs serve: --peer-cid '%s': expected a CID", optarg);
				return NB_EXIT_FAILURE;
			}
			cid = cidarg;
			break;
		case 'S':
			sandbox = false;
			break;
		case 'h':
			usage_fs(stdout);
			return 0;
		default:
			usage_fs(stderr);
			return NB_EXIT_FAILURE;
		}
	}
	if (optind + 1 != argc || !ep) {
		nb_error("fs serve: expected DIR and --listen ENDPOINT");
		usage_fs(stderr);
		return NB_EXIT_FAILURE;
	}
	dir = argv[optind];
	sfd = stop_signals(&set);
	if (sfd < 0) {
		nb_error("fs serve: signalfd: %s", strerror(errno));
		return NB_EXIT_FAILURE;
	}
	/* The endpoint first: a unix socket lives in the host's tree, which the
	 * sandbox no longer sees; the process outside it removes the socket. */
	fd = nestfs_listen(ep, &listening, &e);
	if (fd < 0) {
		nb_error("fs serve: %s", e.msg);
		close(sfd);
		return NB_EXIT_FAILURE;
	}
	rc = sandbox ? nestfs_sandbox_enter(dir, so.read_only, &status, &e) : 0;
	if (rc == 1) {
		if (listening && !strncmp(ep, "unix:", 5))
			unlink(ep + 5);
		return status;
	}
	if (sandbox && rc == 0)
		dir = NESTFS_SANDBOX_EXPORT;
	s = rc < 0 ? NULL : nestfs_server_new(dir, &so, &e);
	if (s && sandbox && nestfs_sandbox_lock(&so, &e) < 0) {
		nestfs_server_free(s);
		s = NULL;
	}
	if (!s) {
		nb_error("fs serve: %s", e.msg);
		if (listening && !strncmp(ep, "unix:", 5))
			unlink(ep + 5);
		close(fd);
		close(sfd);
		return NB_EXIT_FAILURE;
	}
	rc = serve_loop(s, fd, listening, ep, cid, sfd);
	if (!sandbox && listening && !strncmp(ep, "unix:", 5))
		unlink(ep + 5);
	nestfs_server_free(s);
	close(sfd);
	return rc;
}

struct sigwaiter {
	sigset_t set;
	struct nestfs_mount *m;
};

static void *sig_main(void *arg)
{
	struct sigwaiter *w = arg;
	int sig;

	sigwait(&w->set, &sig);
	nestfs_mount_stop(w->m);
	return NULL;
}

static int fs_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "readers", required_argument, NULL, 'R' },
		{ "options", required_argument, NULL, 'o' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "daemon", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nestfs_mount_opts mo = { 0 };
	struct nb_err e = NB_ERR_INIT;
	struct sigwaiter w;
	struct nestfs_mount *m;
	bool daemon = false;
	int c, fd, rc, ready[2] = { -1, -1 };
	pthread_t st;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'R':
			if (!parse_count(optarg, 16, &mo.readers)) {
				nb_error("fs mount: --readers '%s': expected 1 to 16", optarg);
				return NB_EXIT_FAILURE;
			}
			break;
		case 'o':
			mo.extra_opts = optarg;
			break;
		case 'r':
			mo.read_only = true;
			break;
		case 'D':
			daemon = true;
			break;
		case 'h':
			usage_fs(stdout);
			return 0;
		default:
			usage_fs(stderr);
			return NB_EXIT_FAILURE;
		}
	}
	if (optind + 2 != argc) {
		nb_error("fs mount: expected ENDPOINT and MOUNTPOINT");
		usage_fs(stderr);
		return NB_EXIT_FAILURE;
	}
	mo.fsname = argv[optind];
	if (daemon) {
		pid_t pid;
		char msg[NB_ERR_MSG_MAX + 1];
		ssize_t n;

		if (pipe2(ready, O_CLOEXEC) < 0) {
			nb_error("fs mount: pipe: %s", strerror(errno));
			return NB_EXIT_FAILURE;
		}
		pid = fork();
		if (pid < 0) {
			nb_error("fs mount: fork: %s", strerror(errno));
			return NB_EXIT_FAILURE;
		}
		if (pid > 0) {
			close(ready[1]);
			n = read(ready[0], msg, sizeof(msg) - 1);
			close(ready[0]);
			if (n == 1 && msg[0] == 0)
				return 0;
			msg[n > 0 ? n : 0] = 0;
			nb_error("fs mount: %s", n > 0 ? msg : "the daemon failed");
			return NB_EXIT_FAILURE;
		}
		close(ready[0]);
		setsid();
	}
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGINT);
	sigaddset(&w.set, SIGTERM);
	sigaddset(&w.set, SIGHUP);
	sigaddset(&w.set, SIGUSR1);	/* from us: the mount ended on its own */
	pthread_sigmask(SIG_BLOCK, &w.set, NULL);
	fd = nestfs_connect(argv[optind], &e);
	m = fd < 0 ? NULL : nestfs_mount_start(fd, argv[optind + 1], &mo, &e);
	if (!m) {
		if (daemon) {
			(void)!write(ready[1], e.msg, strlen(e.msg));
			_exit(NB_EXIT_FAILURE);
		}
		nb_error("fs mount: %s", e.msg);
		return NB_EXIT_FAILURE;
	}
	w.m = m;
	if (pthread_create(&st, NULL, sig_main, &w) != 0) {
		nestfs_mount_free(m);
		nb_error("fs mount: cannot start a thread");
		return NB_EXIT_FAILURE;
	}
	if (daemon) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		(void)!write(ready[1], "", 1);
		close(ready[1]);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	rc = nestfs_mount_wait(m);
	pthread_kill(st, SIGUSR1);
	pthread_join(st, NULL);
	nestfs_mount_free(m);
	if (rc < 0) {
		nb_error("fs mount: %s: the server went away", argv[optind + 1]);
		return NB_EXIT_FAILURE;
	}
	return 0;
}

int cmd_fs(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage_fs(argc < 2 ? stderr : stdout);
		return argc < 2 ? NB_EXIT_FAILURE : 0;
	}
	if (!strcmp(argv[1], "serve"))
		return fs_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "mount"))
		return fs_mount(argc - 1, argv + 1);
	nb_error("fs: unknown subcommand '%s'; expected serve or mount", argv[1]);
	return NB_EXIT_FAILURE;
}
