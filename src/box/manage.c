/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/manage: exec, stop, wait, rm, logs (see manage.h). */
#include "box/manage.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/proto.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "box/ctlread.h"
#include "box/outlog.h"
#include "box/clients.h"
#include "box/loop.h"
#include "lib/clock.h"
#include "box/state.h"

/* A record by name: 1 when its owner runs, 0 when not, or -errno. */
static int find_owner(const char *name, struct nb_vm_state *st, struct nb_err *e)
{
	int r = nb_state_find(name, st, e);

	return r < 0 ? r : st->alive;
}

/* A record whose owner runs, or -ESRCH saying it does not. */
static int find_running(const char *name, struct nb_vm_state *st, struct nb_err *e)
{
	int r = nb_state_find(name, st, e);

	if (r < 0)
		return r;
	if (!st->alive)
		return nb_err_set(e, ESRCH, "VM %s is not running", name);
	return 0;
}

/* nb_vm_exec() - see manage.h */
int nb_vm_exec(const char *name, const struct nb_exec_opts *o, struct nb_err *e)
{
	struct nb_loop s;
	struct nb_ctl_spawn sp = { 0 };
	struct nb_ctl_buf b = { 0 };
	struct nb_vm_state st;
	autoclose int fd = -1;
	int code;

	if (find_running(name, &st, e) < 0)
		return NB_EXIT_FAILURE;
	fd = nb_supervisor_connect(st.id, e);
	if (fd < 0)
		return NB_EXIT_FAILURE;
	sp.flags = (o->tty ? NB_SPAWN_TTY : 0) | (o->interactive ? NB_SPAWN_STDIN : 0);
	if (o->tty) {
		struct winsize ws;

		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
			sp.rows = ws.ws_row;
			sp.cols = ws.ws_col;
		}
	}
	/* Empty: the guest uses the main command's workdir and user. */
	sp.cwd = o->workdir ? o->workdir : "";
	sp.user = o->user ? o->user : "";
	sp.argv = o->argv;
	sp.env = o->env ? o->env : (char *[]){ NULL };
	nb_ctl_put_spawn(&b, 0, &sp);
	if (b.oom) {
		nb_ctl_buf_free(&b);
		nb_err_set(e, E2BIG, "exec: the command or environment is too large");
		return NB_EXIT_FAILURE;
	}
	/* The same loop as a VM's, over the VM's control socket. */
	nb_loop_init(&s, fd);
	s.relay = true;
	s.signals = true;
	s.tty = o->tty;
	s.stdin_open = o->interactive;
	s.in_fd = STDIN_FILENO;
	s.out_fd = STDOUT_FILENO;
	s.err_fd = STDERR_FILENO;
	s.initial = &b;
	code = nb_loop_run(&s, e);
	nb_ctl_buf_free(&b);
	return code;
}

static int drain_exit(void *ctx, const struct nb_ctl_frame *f, uint32_t v, const char *msg)
{
	int *code = ctx;

	if (f->proc == 0 && code)
		*code = (int)v;
	return 0;
}

/* Read frames from @fd until EOF or @ms pass; EXIT of process 0 -> *code. */
static int drain(int fd, int ms, int *code)
{
	static const struct nb_ctlread_ops ops = { .exit = drain_exit };
	uint64_t end = nb_mono_ns() + (uint64_t)ms * 1000000ull;
	struct nb_ctlread r;
	int ret = 0;

	nb_ctlread_init(&r, &ops, code);
	for (;;) {
		uint64_t now = nb_mono_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (now >= end) {
			ret = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, (int)((end - now) / 1000000ull) + 1) <= 0)
			continue;
		n = nb_ctlread_read(&r, fd);
		/* A malformed frame costs what was buffered; EOF or an error ends it. */
		if (n > 0 || n == -EINTR || n == -EAGAIN || n == -EPROTO)
			continue;
		break;
	}
	nb_ctlread_free(&r);
	return ret;
}

/* Wait until the owner has let go of the lock (it has finished); kill it
 * when it does not within @ms. */
static void wait_unlocked(const struct nb_vm_state *st, int ms)
{
	if (!nb_state_wait_unlocked(st, ms) && st->pid > 0) {
		kill(st->pid, SIGKILL);
		nb_state_wait_unlocked(st, 5000);
	}
}

/* A foreground VM's owner is its nestbox run: SIGTERM makes it kill its VM
 * and record 143 (as stop does to a detached VM's command); SIGKILL after
 * @timeout_s, or at once for 0, leaves the record's status unknown. */
static int stop_foreground(const struct nb_vm_state *st, unsigned timeout_s)
{
	if (st->pid <= 0)
		return 0;
	if (timeout_s) {
		kill(st->pid, SIGTERM);
		if (nb_state_wait_unlocked(st, (int)timeout_s * 1000))
			return 0;
	}
	kill(st->pid, SIGKILL);
	nb_state_wait_unlocked(st, 10000);
	return 0;
}

/* nb_vm_stop() - see manage.h */
int nb_vm_stop(const char *name, unsigned timeout_s, struct nb_err *e)
{
	struct nb_ctl_buf b = { 0 };
	struct nb_vm_state st;
	autoclose int fd = -1;
	int r = find_owner(name, &st, e);

	if (r <= 0)
		return r;
	if (!st.detached)
		return stop_foreground(&st, timeout_s);
	fd = nb_supervisor_connect(st.id, e);
	if (fd < 0)
		return fd;
	if (timeout_s) {
		nb_ctl_put_u32(&b, NB_CTL_SIGNAL, 0, SIGTERM);
		if (send(fd, b.data, b.len, MSG_NOSIGNAL) < 0)
			(void)0;
		nb_ctl_buf_free(&b);
		if (drain(fd, (int)timeout_s * 1000, NULL) == 0) {
			wait_unlocked(&st, 10000);
			return 0;
		}
	}
	nb_ctl_put_frame(&b, NB_CTL_SHUTDOWN, 0, 0, NULL, 0);
	if (send(fd, b.data, b.len, MSG_NOSIGNAL) < 0)
		(void)0;
	nb_ctl_buf_free(&b);
	drain(fd, 10000, NULL);
	wait_unlocked(&st, 10000);
	return 0;
}

/* nb_vm_wait() - see manage.h */
int nb_vm_wait(const char *name, int *code, struct nb_err *e)
{
	struct nb_vm_state st;
	autoclose int fd = -1;
	int r = find_owner(name, &st, e);

	if (r < 0)
		return r;
	*code = st.exit_code;
	if (!r)
		return 0;
	if (!st.detached) {
		/* Its nestbox run records the code, then lets go of the lock. */
		nb_state_wait_unlocked(&st, -1);
		if (nb_state_read(st.dir, &st, NULL) == 0)
			*code = st.exit_code;
		return 0;
	}
	fd = nb_supervisor_connect(st.id, e);
	if (fd < 0)
		return fd;
	while (drain(fd, 3600 * 1000, code) == -ETIMEDOUT)
		;
	if (nb_state_read(st.dir, &st, NULL) == 0 && strcmp(st.status, "exited") == 0 &&
	    st.exit_code != -1)
		*code = st.exit_code;
	return 0;
}

/* nb_vm_rm() - see manage.h */
int nb_vm_rm(const char *name, bool force, struct nb_err *e)
{
	struct nb_vm_state st;
	int r = nb_state_find(name, &st, e);

	if (r < 0)
		return r;
	if (st.alive) {
		if (!force)
			return nb_err_set(e, EBUSY, "VM %s is running: stop it first, or rm -f", name);
		r = nb_vm_stop(st.id, 0, e);
		if (r < 0)
			return r;
	}
	nb_state_remove(st.dir);
	return 0;
}

/* nb_vm_logs() - see manage.h */
int nb_vm_logs(const char *name, int out, int err, bool follow, struct nb_err *e)
{
	char path[PATH_MAX + 32];
	struct nb_vm_state st;
	autoclose int fd = -1;
	off_t pos = 0;
	int r = nb_state_find(name, &st, e);

	if (r < 0)
		return r;
	nb_state_path(&st, "output.log", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return nb_err_sys(e, errno, "open %s", path);
	for (;;) {
		/* Whether it ran before this pass: then the pass saw all it wrote. */
		bool done = !follow || nb_state_lock_free(&st);

		if (fd < 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			r = nb_outlog_replay(fd, &pos, out, err, path, e);
			if (r == -EPIPE)
				return 0;
			if (r < 0)
				return r;
		}
		if (done)
			return 0;
		poll(NULL, 0, 100);
	}
}
