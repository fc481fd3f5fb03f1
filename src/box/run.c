/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/run: options + image config -> a record, the launch, the supervision. */
#include "box/run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "box/clients.h"
#include "box/loop.h"
#include "box/state.h"
#include "control/proto.h"
#include "image/image.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/strv.h"
#include "vm/launch.h"

/* What the image's config says about the command (all may be NULL). */
struct image_cfg {
	char **entrypoint, **cmd, **env;
	const char *workdir, *user;
};

/* The command's argv (--entrypoint and CMD over the image's) and its
 * environment (the image's, then -e and --env-file in order). */
static int build_spawn(const struct nb_run_opts *o, const struct image_cfg *ic,
		       struct nb_strv *argv, struct nb_strv *env, struct nb_err *e)
{
	char **cmd = o->cmd && o->cmd[0] ? o->cmd : NULL;

	if (o->entrypoint) {
		if (o->entrypoint[0] && nb_strv_add(argv, o->entrypoint) < 0)
			return -ENOMEM;
	} else {
		for (char **p = ic->entrypoint; p && *p; p++)
			if (nb_strv_add(argv, *p) < 0)
				return -ENOMEM;
		if (!cmd)
			cmd = ic->cmd;
	}
	for (char **p = cmd; p && *p; p++)
		if (nb_strv_add(argv, *p) < 0)
			return -ENOMEM;
	if (!argv->n)
		return nb_err_set(e, EINVAL, "no command: the image has none and none was given");
	for (char **p = ic->env; p && *p; p++)
		if (nb_strv_setenv(env, *p) < 0)
			return -ENOMEM;
	for (char **p = o->env; p && *p; p++) {
		if (strchr(*p, '=')) {
			if (nb_strv_setenv(env, *p) < 0)
				return -ENOMEM;
		} else {
			const char *v = getenv(*p);
			autofree char *kv = NULL;

			if (!v)
				continue; /* podman: an unset host variable is skipped */
			if (asprintf(&kv, "%s=%s", *p, v) < 0) {
				kv = NULL;
				return -ENOMEM;
			}
			if (nb_strv_setenv(env, kv) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static void make_id(char *id, size_t len)
{
	unsigned char r[6] = { 0 };

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		snprintf(id, len, "%012x", (unsigned)getpid());
	else
		snprintf(id, len, "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

/**
 * struct rec - the record of a run that keeps one (-d, or the foreground
 * without --rm) and what its loop needs of it
 * @st:		the record (state.json)
 * @output_log:	its output.log (the command's output, for `nestbox logs`)
 * @console_log: its console.log
 * @listen_fd:	the VM's control socket: exec, stop and wait reach it there
 * @ready_fd:	-d: the pipe to the waiting `run -d` (-1 once told); -1 in
 *		the foreground
 * @cmd_started: output: the command got as far as starting
 */
struct rec {
	struct nb_vm_state *st;
	int output_log, console_log, listen_fd, ready_fd;
	bool cmd_started;
};

/* A record's logs and control socket; -errno with @e set. */
static int rec_open(struct rec *r, struct nb_err *e)
{
	char path[PATH_MAX + 32];

	nb_state_path(r->st, "output.log", path, sizeof(path));
	r->output_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (r->output_log < 0)
		return nb_err_sys(e, errno, "create %s", path);
	nb_state_path(r->st, "console.log", path, sizeof(path));
	r->console_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (r->console_log < 0)
		return nb_err_sys(e, errno, "create %s", path);
	r->listen_fd = nb_supervisor_listen(r->st->id, e);
	return r->listen_fd < 0 ? r->listen_fd : 0;
}

/* Close what rec_open() opened (the ready pipe stays: its owner says the end). */
static void rec_close(struct rec *r)
{
	if (r->output_log >= 0)
		close(r->output_log);
	if (r->console_log >= 0)
		close(r->console_log);
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	r->output_log = r->console_log = r->listen_fd = -1;
}

/* The record's end: exited with @code (-1: unknown). */
static void rec_finish(struct rec *r, int code)
{
	snprintf(r->st->status, sizeof(r->st->status), "exited");
	r->st->exit_code = code;
	r->st->finished = (int64_t)time(NULL);
	nb_state_write(r->st, NULL);
}

/* A leased image root (or a --rootfs directory) and the image's config,
 * released when it leaves scope. */
struct root {
	char dir[PATH_MAX];
	bool leased;
	struct nb_image_config *cfg;
};

static void root_release(struct root *r)
{
	if (r->leased)
		nb_image_release_rootfs(r->dir);
	if (r->cfg)
		nb_image_config_free(r->cfg);
	r->leased = false;
	r->cfg = NULL;
}

/* The root: --rootfs resolved, or the image's tree leased from the store. */
static int open_root(const struct nb_run_opts *o, struct root *r, struct image_cfg *ic,
		     struct nb_err *e)
{
	int ret;

	if (o->rootfs)
		return realpath(o->rootfs, r->dir) ? 0 : nb_err_sys(e, errno, "rootfs %s", o->rootfs);
	ret = nb_image_open_rootfs(o->image, r->dir, sizeof(r->dir), &r->cfg, e);
	if (ret < 0)
		return ret;
	r->leased = true;
	if (r->cfg)
		*ic = (struct image_cfg){ .entrypoint = r->cfg->entrypoint, .cmd = r->cfg->cmd,
					  .env = r->cfg->env, .workdir = r->cfg->workdir,
					  .user = r->cfg->user };
	return 0;
}

/* The main command's SPAWN: @argv and @env over the image's workdir and user. */
static struct nb_ctl_spawn spawn_of(const struct nb_run_opts *o, const struct image_cfg *ic,
				    char **argv, char **env)
{
	static char *none[] = { NULL };
	struct nb_ctl_spawn sp = {
		/* Detached, nobody feeds stdin: the command gets /dev/null. */
		.flags = (o->tty ? NB_SPAWN_TTY : 0) |
			 (o->interactive && !o->detach ? NB_SPAWN_STDIN : 0),
		.cwd = o->workdir ? o->workdir : ic->workdir && ic->workdir[0] ? ic->workdir : "/",
		.user = o->user ? o->user : ic->user ? ic->user : "",
		.argv = argv,
		.env = env ? env : none,
	};
	struct winsize ws;

	if (o->tty && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
		sp.rows = ws.ws_row;
		sp.cols = ws.ws_col;
	}
	return sp;
}

/* The loop over @l's VM: in the foreground, stdio relayed and signals taken;
 * -d (the daemon), output only logged, the CLI told through the ready pipe
 * and the record kept until the VM powers off. */
static void loop_for(const struct nb_run_opts *o, struct rec *r, const struct nb_launch *l,
		     struct nb_loop *lp)
{
	nb_loop_init(lp, l->ctl);
	lp->qemu_pid = l->qemu_pid;
	lp->qemu_pidfd = l->qemu_pidfd;
	lp->console = l->console;
	lp->boot_timeout_ms = l->boot_timeout_ms;
	lp->t0_ns = l->t0_ns;
	lp->qemu_start_ns = l->qemu_start_ns;
	if (r) {
		lp->console_log = r->console_log;
		lp->output_log = r->output_log;
		lp->listen_fd = r->listen_fd;
	}
	if (o->detach && r) {
		lp->until_poweroff = true;
		lp->ready_fd = r->ready_fd;
		lp->st = r->st;
		return;
	}
	lp->relay = true;
	lp->signals = true;
	lp->show_console = o->console;
	lp->tty = o->tty;
	lp->stdin_open = o->interactive;
	lp->in_fd = STDIN_FILENO;
	lp->out_fd = STDOUT_FILENO;
	lp->err_fd = STDERR_FILENO;
}

/* Boot the VM (vm/launch) and supervise it (box/loop): in the foreground
 * (@r its record, or NULL with --rm) or, with @r->ready_fd, as the daemon
 * of a detached VM. Signals are blocked by the caller. Returns the exit
 * code (-d: the command's, -1 when unknown). */
static int launch_and_supervise(const struct nb_run_opts *o, struct rec *r, struct nb_err *e)
{
	__attribute__((cleanup(root_release))) struct root root = { .dir = "" };
	__attribute__((cleanup(nb_launch_close))) struct nb_launch l;
	autostrv struct nb_strv argv = { 0 }, env = { 0 };
	struct nb_ctl_spawn sp;
	struct image_cfg ic = { 0 };
	struct nb_loop lp;
	int code;
	char id[16];

	nb_launch_init(&l);
	l.t0_ns = nb_mono_ns();
	if (open_root(o, &root, &ic, e) < 0)
		return NB_EXIT_FAILURE;
	if (build_spawn(o, &ic, &argv, &env, e) < 0) {
		if (!e->code)
			nb_err_set(e, ENOMEM, "out of memory");
		return NB_EXIT_FAILURE;
	}
	sp = spawn_of(o, &ic, argv.v, env.v);
	if (r)
		snprintf(id, sizeof(id), "%s", r->st->id);
	else
		make_id(id, sizeof(id));

	l.rootfs = root.dir;
	l.image = o->image ? o->image : o->rootfs;
	l.opts = o->vm;
	l.hostname = o->name ? o->name : id;
	l.spawn = &sp;
	if (nb_launch_start(&l, e) < 0)
		return NB_EXIT_FAILURE;
	loop_for(o, r, &l, &lp);
	code = nb_loop_run(&lp, e);
	if (r) {
		r->ready_fd = lp.ready_fd;
		r->cmd_started = lp.phase_ns[NB_PHASE_COMMAND] != 0;
	}
	/* QEMU is reaped; leaving scope stops the relay, the servers, the lease. */
	return e->code ? NB_EXIT_FAILURE : code;
}

/* launch_and_supervise() with SIGINT, SIGTERM, SIGHUP and SIGWINCH blocked:
 * the loop takes them from a signalfd, and they are blocked before any
 * thread (nestfs servers, the vsock relay) exists, so none of those
 * catches them. */
static int run_vm(const struct nb_run_opts *o, struct rec *r, struct nb_err *e)
{
	sigset_t mask, old;
	int code;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	code = launch_and_supervise(o, r, e);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return code;
}

/* The command line as one string, for ps. */
static void join_cmd(const struct nb_run_opts *o, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	if (o->entrypoint && o->entrypoint[0])
		used += (size_t)snprintf(buf, len, "%s", o->entrypoint);
	for (char **p = o->cmd; p && *p && used < len; p++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "", *p);
}

/* A new record for this run (-d, or the foreground without --rm), its lock
 * held: the lock fd, or -errno (-EEXIST: the name is taken). */
static int new_record(const struct nb_run_opts *o, bool detached, struct nb_vm_state *st,
		      struct nb_err *e)
{
	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	snprintf(st->name, sizeof(st->name), "%s", o->name ? o->name : "");
	snprintf(st->image, sizeof(st->image), "%s", o->image ? o->image : o->rootfs);
	join_cmd(o, st->command, sizeof(st->command));
	for (unsigned i = 0; i < o->vm.nports && i < NB_MAX_PORTS; i++)
		st->ports[st->nports++] = o->vm.ports[i];
	snprintf(st->status, sizeof(st->status), detached ? "starting" : "running");
	st->created = (int64_t)time(NULL);
	st->rm = o->rm;
	st->detached = detached;
	st->pid = getpid();
	return nb_state_create(st, e);
}

/* The foreground without --rm: a record that outlives the run, as podman
 * keeps a container. The lock is held until the exit code is written, so a
 * CLI killed on the way leaves a record ps shows as exited, code unknown. */
static int run_foreground(const struct nb_run_opts *o, struct nb_err *e)
{
	struct nb_vm_state st;
	struct rec r = { .st = &st, .output_log = -1, .console_log = -1, .listen_fd = -1,
			 .ready_fd = -1 };
	autoclose int lockfd = new_record(o, false, &st, e);
	int code;

	if (lockfd < 0)
		return NB_EXIT_FAILURE;
	/* exec, stop and wait reach it as they reach a detached VM. */
	code = rec_open(&r, e) < 0 ? NB_EXIT_FAILURE : run_vm(o, &r, e);
	rec_close(&r);
	if (e->code && !r.cmd_started) {
		/* nestbox failed before the command ran (bad input, no boot):
		 * nothing is left, as with -d. A VM that died under a running
		 * command stays, exited with 125. */
		nb_state_remove(st.dir);
	} else {
		rec_finish(&r, code);
	}
	return code;
}

/* -d: state dir and lock, then a daemon (double fork, setsid) that runs the
 * VM; this side waits for its word that the command started. */
static int run_detached(const struct nb_run_opts *o, struct nb_err *e)
{
	struct nb_vm_state st;
	char msg[8192];
	int ready[2], lockfd, r = 0;
	size_t got = 0;
	pid_t pid;

	lockfd = new_record(o, true, &st, e);
	if (lockfd < 0)
		return lockfd;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		r = nb_err_sys(e, errno, "pipe");
		close(lockfd);
		nb_state_remove(st.dir);
		return r;
	}
	pid = fork();
	if (pid == 0) {
		struct rec rc = { .st = &st, .output_log = -1, .console_log = -1, .listen_fd = -1,
				  .ready_fd = ready[1] };
		struct nb_err se = NB_ERR_INIT;
		int nul, code;

		close(ready[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		st.pid = getpid();
		nb_state_write(&st, NULL);
		code = rec_open(&rc, &se) < 0 ? NB_EXIT_FAILURE : run_vm(o, &rc, &se);
		rec_close(&rc);
		if (rc.ready_fd >= 0) {
			char m[sizeof(se.msg) + 8];

			snprintf(m, sizeof(m), "err %s", se.code ? se.msg : "the VM failed");
			nb_write_all(rc.ready_fd, m, strlen(m));
		}
		/* A command that never started (or a VM that died) leaves no state. */
		if (st.rm || se.code || !rc.cmd_started || code == -1)
			nb_state_remove(st.dir);
		_exit(0);
	}
	close(ready[1]);
	close(lockfd);
	if (pid < 0) {
		close(ready[0]);
		nb_state_remove(st.dir);
		return r < 0 ? r : nb_err_sys(e, errno, "fork");
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	for (;;) {
		ssize_t n = read(ready[0], msg + got, sizeof(msg) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(ready[0]);
	msg[got] = 0;
	if (strcmp(msg, "ok") == 0) {
		printf("%s\n", st.id);
		return 0;
	}
	if (strncmp(msg, "exit ", 5) == 0) {
		char *end;
		long code = strtol(msg + 5, &end, 10);

		if (*end == ' ' && end[1])
			nb_error("%s", end + 1);
		if (code != 0 || !end[0] || !end[1])
			return (int)code;
		printf("%s\n", st.id);
		return 0;
	}
	return nb_err_set(e, EIO, "%s", strncmp(msg, "err ", 4) == 0 ? msg + 4
					  : "the VM's supervisor died while starting");
}

/* nb_run() - see run.h */
int nb_run(const struct nb_run_opts *o, struct nb_err *e)
{
	if (o->detach)
		return run_detached(o, e);
	if (!o->rm)
		return run_foreground(o, e);
	/* --rm in the foreground leaves no record, but takes no name in use. */
	if (o->name && nb_state_check_name(o->name, e) < 0)
		return NB_EXIT_FAILURE;
	return run_vm(o, NULL, e);
}
