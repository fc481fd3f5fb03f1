/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/supervise: the detached VM's daemon loop (see supervise.h). */
#include "box/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control/proto.h"
#include "lib/fileio.h"
#include "box/clients.h"
#include "box/ctlread.h"
#include "box/outlog.h"
#include "box/session.h"

#define CON_TAIL    4096

enum { EV_CTL = 1, EV_CON, EV_LISTEN, EV_QEMU, EV_CLIENT, EV_LIFELINE };

struct sup {
	struct nb_supervisor *s;
	int ep;
	struct nb_ctl_buf out;
	struct nb_ctlread rd;
	struct nb_clients cl;
	int console_log, output_log;
	char con[CON_TAIL];
	size_t con_len;
	bool started, cmd_started;
};

/* nb_supervisor_addr() - see supervise.h */
size_t nb_supervisor_addr(const char *id, void *p)
{
	struct sockaddr_un *sun = p;
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "nestbox/%d/%s",
		     (int)getuid(), id);
	return offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n;
}

/* nb_supervisor_listen() - see supervise.h */
int nb_supervisor_listen(const char *id, struct nb_err *e)
{
	struct sockaddr_un sun;
	size_t len = nb_supervisor_addr(id, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return nb_err_sys(e, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sun, (socklen_t)len) < 0 || listen(fd, 16) < 0) {
		int err = errno;

		close(fd);
		return nb_err_sys(e, err, "control socket of VM %s", id);
	}
	return fd;
}

/* nb_supervisor_connect() - see supervise.h */
int nb_supervisor_connect(const char *id, struct nb_err *e)
{
	struct sockaddr_un sun;
	size_t len = nb_supervisor_addr(id, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return nb_err_sys(e, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sun, (socklen_t)len) < 0) {
		int err = errno;

		close(fd);
		return nb_err_sys(e, err, "connect to VM %s", id);
	}
	return fd;
}

static void ep_set(struct sup *u, int fd, uint32_t events, uint64_t cookie)
{
	struct epoll_event ev = { .events = events, .data.u64 = cookie };

	if (epoll_ctl(u->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(u->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void report(struct sup *u, const char *msg)
{
	if (u->s->ready_fd < 0)
		return;
	nb_write_all(u->s->ready_fd, msg, strlen(msg));
	close(u->s->ready_fd);
	u->s->ready_fd = -1;
}

static void con_tail(struct sup *u, char *out, size_t len)
{
	size_t start = u->con_len;
	int seen = 0;

	while (start > 0) {
		if (u->con[start - 1] == '\n' && start != u->con_len && ++seen >= 10)
			break;
		start--;
	}
	snprintf(out, len, "%.*s", (int)(u->con_len - start), u->con + start);
}

static void fail(struct sup *u, const char *why)
{
	char msg[CON_TAIL + 1200], tail[CON_TAIL + 1];

	con_tail(u, tail, sizeof(tail));
	snprintf(msg, sizeof(msg), "err %s%s%s", why, tail[0] ? "; last console lines:\n" : "",
		 tail);
	report(u, msg);
	kill(u->s->qemu_pid, SIGKILL);
}

static void flush_ctl(struct sup *u)
{
	while (u->out.len) {
		ssize_t n = write(u->s->ctl, u->out.data, u->out.len);

		if (n > 0) {
			nb_ctl_buf_consume(&u->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			u->out.len = 0;
		break;
	}
}

static int guest_phase(void *ctx, uint32_t phase, uint64_t ns)
{
	struct sup *u = ctx;

	if (phase == NB_PHASE_INIT)
		u->started = true;
	if (phase == NB_PHASE_COMMAND) {
		u->cmd_started = true;
		snprintf(u->s->st->status, sizeof(u->s->st->status), "running");
		nb_state_write(u->s->st, NULL);
		report(u, "ok");
	}
	return 0;
}

static int guest_data(void *ctx, const struct nb_ctl_frame *f)
{
	struct sup *u = ctx;

	if (f->proc == 0) {
		if (f->len)
			nb_outlog_write(u->output_log, f->stream == NB_STREAM_STDERR ? 2 : 1,
					f->payload, f->len);
		return 0;
	}
	nb_clients_guest(&u->cl, f, 0);
	return 0;
}

static int guest_exit(void *ctx, const struct nb_ctl_frame *f, uint32_t code, const char *str)
{
	struct sup *u = ctx;

	if (f->proc == 0) {
		char msg[1200];

		/* Failed before it ran (not found, not executable): say so. */
		snprintf(msg, sizeof(msg), "exit %u %s", code, str);
		report(u, msg);
	}
	nb_clients_guest(&u->cl, f, code);
	return 0;
}

static int guest_error(void *ctx, const char *str)
{
	struct sup *u = ctx;
	char why[1100];

	if (!str)
		return 0;
	snprintf(why, sizeof(why), "guest: %s", str);
	fail(u, why);
	return 0;
}

static const struct nb_ctlread_ops guest_ops = {
	.phase = guest_phase, .data = guest_data, .exit = guest_exit, .error = guest_error,
};

static void read_guest(struct sup *u)
{
	for (;;) {
		ssize_t n = nb_ctlread_read(&u->rd, u->s->ctl);

		/* A malformed frame costs what was buffered, not the VM. */
		if (n > 0 || n == -EINTR || n == -EPROTO)
			continue;
		if (n == 0)
			epoll_ctl(u->ep, EPOLL_CTL_DEL, u->s->ctl, NULL);
		return;
	}
}

static void read_console(struct sup *u)
{
	char buf[CON_TAIL];
	ssize_t n;

	while ((n = read(u->s->console, buf, sizeof(buf))) > 0) {
		nb_write_all(u->console_log, buf, (size_t)n);
		if ((size_t)n >= CON_TAIL) {
			memcpy(u->con, buf, CON_TAIL);
			u->con_len = CON_TAIL;
			continue;
		}
		if (u->con_len + (size_t)n > CON_TAIL) {
			size_t drop = u->con_len + (size_t)n - CON_TAIL;

			memmove(u->con, u->con + drop, u->con_len - drop);
			u->con_len -= drop;
		}
		memcpy(u->con + u->con_len, buf, (size_t)n);
		u->con_len += (size_t)n;
	}
	if (n == 0)
		epoll_ctl(u->ep, EPOLL_CTL_DEL, u->s->console, NULL);
}

/* nb_supervise() - see supervise.h */
int nb_supervise(struct nb_supervisor *s)
{
	struct sup u = { .s = s };
	char path[PATH_MAX + 32];
	uint64_t deadline = nb_mono_ns() + (uint64_t)s->boot_timeout_ms * 1000000ull;
	bool qemu_gone = false;
	int code;

	nb_ctlread_init(&u.rd, &guest_ops, &u);
	nb_state_path(s->st, "console.log", path, sizeof(path));
	u.console_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	nb_state_path(s->st, "output.log", path, sizeof(path));
	u.output_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	u.ep = epoll_create1(EPOLL_CLOEXEC);
	nb_clients_init(&u.cl, u.ep, EV_CLIENT, s->listen_fd, &u.out, s->qemu_pid);
	fcntl(s->ctl, F_SETFL, fcntl(s->ctl, F_GETFL) | O_NONBLOCK);
	fcntl(s->console, F_SETFL, fcntl(s->console, F_GETFL) | O_NONBLOCK);
	ep_set(&u, s->ctl, EPOLLIN, EV_CTL);
	ep_set(&u, s->console, EPOLLIN, EV_CON);
	ep_set(&u, s->listen_fd, EPOLLIN, EV_LISTEN);
	ep_set(&u, s->qemu_pidfd, EPOLLIN, EV_QEMU);
	if (s->lifeline_fd >= 0)
		ep_set(&u, s->lifeline_fd, EPOLLIN, EV_LIFELINE);
	while (!qemu_gone) {
		struct epoll_event evs[16];
		int timeout = -1, n;

		if (!u.started) {
			uint64_t now = nb_mono_ns();

			if (now >= deadline) {
				char why[128];

				snprintf(why, sizeof(why),
					 "boot timed out after %u s (nestbox-init did not report)",
					 s->boot_timeout_ms / 1000);
				fail(&u, why);
				u.started = true;
				continue;
			}
			timeout = (int)((deadline - now) / 1000000ull) + 1;
		}
		ep_set(&u, s->ctl, EPOLLIN | (u.out.len ? EPOLLOUT : 0), EV_CTL);
		n = epoll_wait(u.ep, evs, 16, timeout);
		for (int i = 0; i < n; i++) {
			uint64_t ck = evs[i].data.u64;

			switch ((int)(ck & 0xff)) {
			case EV_CTL:
				if (evs[i].events & EPOLLOUT)
					flush_ctl(&u);
				if (evs[i].events & (EPOLLIN | EPOLLHUP))
					read_guest(&u);
				break;
			case EV_CON:
				read_console(&u);
				break;
			case EV_LISTEN:
				nb_clients_accept(&u.cl);
				break;
			case EV_CLIENT:
				nb_clients_read(&u.cl, (unsigned)(ck >> 8));
				break;
			case EV_LIFELINE:
				/* Whoever the VM lived for is gone: so is the VM. */
				epoll_ctl(u.ep, EPOLL_CTL_DEL, s->lifeline_fd, NULL);
				kill(s->qemu_pid, SIGKILL);
				break;
			case EV_QEMU:
				read_guest(&u);
				read_console(&u);
				qemu_gone = true;
				break;
			default:
				break;
			}
		}
		flush_ctl(&u);
	}
	while (waitpid(s->qemu_pid, NULL, 0) < 0 && errno == EINTR)
		;
	code = u.cl.code;
	if (!u.cl.exited) {
		if (s->ready_fd >= 0)
			fail(&u, "the VM stopped before the command started");
		code = u.cl.stopping ? 137 : -1;
	}
	snprintf(s->st->status, sizeof(s->st->status), "exited");
	s->st->exit_code = code;
	s->st->finished = (int64_t)time(NULL);
	nb_state_write(s->st, NULL);
	nb_clients_finish(&u.cl, code);
	close(u.console_log);
	close(u.output_log);
	close(u.ep);
	nb_ctl_buf_free(&u.out);
	nb_ctlread_free(&u.rd);
	/* A command that never started (or a VM that died) leaves no state. */
	return u.cmd_started && code != -1 ? 0 : -1;
}
