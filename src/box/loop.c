/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/loop: the one supervision loop (see loop.h). */
#include "box/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "box/clients.h"
#include "box/ctlread.h"
#include "box/outlog.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

enum { EV_CTL = 1, EV_CON, EV_IN, EV_SIG, EV_QEMU, EV_LISTEN, EV_CLIENT };

#define CON_TAIL       8192
#define CON_TAIL_LINES 12

/* The loop's own state beside the caller's struct nb_loop. */
struct loop {
	struct nb_loop *s;
	int ep, sfd;
	struct nb_ctl_buf out;
	struct nb_ctlread rd;
	struct nb_clients cl;
	char con[CON_TAIL];
	size_t con_len;
	bool qemu_gone, ctl_eof, in_eof, in_unpollable;
	char msg[1024];
	bool failed;
};

/* nb_loop_init() - see loop.h */
void nb_loop_init(struct nb_loop *s, int ctl)
{
	memset(s, 0, sizeof(*s));
	s->t0_ns = nb_mono_ns();
	s->qemu_pidfd = s->console = s->console_log = s->output_log = -1;
	s->in_fd = s->out_fd = s->err_fd = s->listen_fd = s->ready_fd = -1;
	s->ctl = ctl;
	s->code = NB_EXIT_FAILURE;
}

static void set_events(struct loop *l, int fd, int kind, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind };

	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Tell `run -d` (once) how the start went. */
static void report(struct loop *l, const char *msg)
{
	if (l->s->ready_fd < 0)
		return;
	nb_write_all(l->s->ready_fd, msg, strlen(msg));
	close(l->s->ready_fd);
	l->s->ready_fd = -1;
}

/* The last CON_TAIL_LINES lines of the console, for error messages. */
static void console_tail(struct loop *l, char *out, size_t len)
{
	size_t start = l->con_len;
	int seen = 0;

	while (start > 0) {
		if (l->con[start - 1] == '\n' && start != l->con_len && ++seen >= CON_TAIL_LINES)
			break;
		start--;
	}
	snprintf(out, len, "%.*s", (int)(l->con_len - start), l->con + start);
}

/* @msg with the console's tail, as a failed VM is reported. */
static void with_tail(struct loop *l, const char *prefix, char *out, size_t len)
{
	char tail[CON_TAIL + 1];

	console_tail(l, tail, sizeof(tail));
	snprintf(out, len, "%s%s%s%s", prefix, l->msg, tail[0] ? "; last console lines:\n" : "",
		 tail);
}

static void fail(struct loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The VM failed: the first reason is kept, `run -d` is told at once, and
 * QEMU is killed (the loop ends when it is gone, or at once). */
static void fail(struct loop *l, const char *fmt, ...)
{
	va_list ap;

	if (l->failed || l->s->exited)
		return;
	va_start(ap, fmt);
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	va_end(ap);
	l->failed = true;
	if (l->s->ready_fd >= 0) {
		char m[CON_TAIL + sizeof(l->msg) + 64];

		with_tail(l, "err ", m, sizeof(m));
		report(l, m);
	}
	if (l->s->qemu_pid > 0 && !l->qemu_gone)
		kill(l->s->qemu_pid, SIGKILL);
}

/* Keep the last CON_TAIL bytes of the console. */
static void con_keep(struct loop *l, const char *buf, size_t n)
{
	if (n >= CON_TAIL) {
		memcpy(l->con, buf + n - CON_TAIL, CON_TAIL);
		l->con_len = CON_TAIL;
		return;
	}
	if (l->con_len + n > CON_TAIL) {
		size_t drop = l->con_len + n - CON_TAIL;

		memmove(l->con, l->con + drop, l->con_len - drop);
		l->con_len -= drop;
	}
	memcpy(l->con + l->con_len, buf, n);
	l->con_len += n;
}

static void read_console(struct loop *l)
{
	char buf[CON_TAIL];
	ssize_t n;

	if (l->s->console < 0)
		return;
	while ((n = read(l->s->console, buf, sizeof(buf))) > 0) {
		con_keep(l, buf, (size_t)n);
		if (l->s->console_log >= 0)
			nb_write_all(l->s->console_log, buf, (size_t)n);
		if (l->s->show_console)
			nb_write_all(STDERR_FILENO, buf, (size_t)n);
	}
	if (n == 0)
		epoll_ctl(l->ep, EPOLL_CTL_DEL, l->s->console, NULL);
}

static int on_phase(void *ctx, uint32_t phase, uint64_t ns)
{
	struct loop *l = ctx;
	struct nb_loop *s = l->s;

	s->phase_ns[phase] = ns;
	s->phase_host_ns[phase] = nb_mono_ns();
	nb_debug("phase %s: guest %.1f ms, host %.1f ms", nb_ctl_phase_name(phase),
		 (double)ns / 1e6, (double)(s->phase_host_ns[phase] - s->t0_ns) / 1e6);
	if (phase == NB_PHASE_COMMAND) {
		if (s->st) {
			snprintf(s->st->status, sizeof(s->st->status), "running");
			nb_state_write(s->st, NULL);
		}
		report(l, "ok");
	}
	return 0;
}

static int on_data(void *ctx, const struct nb_ctl_frame *f)
{
	struct loop *l = ctx;
	struct nb_loop *s = l->s;
	int stream = f->stream == NB_STREAM_STDERR ? 2 : 1;

	if (f->proc != 0) {
		if (s->listen_fd >= 0)
			nb_clients_guest(&l->cl, f, 0);
		return 0;
	}
	if (!f->len)
		return 0;
	if (s->output_log >= 0 && nb_outlog_write(s->output_log, stream, f->payload, f->len) < 0)
		nb_debug("write output log: %s", strerror(errno));
	if (s->relay && nb_write_all(stream == 2 ? s->err_fd : s->out_fd, f->payload, f->len) < 0 &&
	    errno != EPIPE)
		nb_debug("write output: %s", strerror(errno));
	return 0;
}

static int on_cmd_exit(void *ctx, const struct nb_ctl_frame *f, uint32_t code, const char *msg)
{
	struct loop *l = ctx;
	struct nb_loop *s = l->s;

	if (s->listen_fd >= 0)
		nb_clients_guest(&l->cl, f, code);
	if (f->proc != 0)
		return 0;
	if (s->ready_fd >= 0) {
		char m[1200];

		/* Failed before it ran (not found, not executable): say so. */
		snprintf(m, sizeof(m), "exit %u %s", code, msg);
		report(l, m);
	} else if (*msg) {
		nb_error("%s", msg);
	}
	s->exited = true;
	s->code = (int)(code & 0xff);
	nb_debug("command exited: %u; host %.1f ms", code,
		 (double)(nb_mono_ns() - s->t0_ns) / 1e6);
	return 0;
}

static int on_error(void *ctx, const char *msg)
{
	struct loop *l = ctx;

	if (msg)
		fail(l, "guest: %s", msg);
	else
		fail(l, "guest: setup failed");
	return 0;
}

static const struct nb_ctlread_ops guest_ops = {
	.phase = on_phase, .data = on_data, .exit = on_cmd_exit, .error = on_error,
};

static void read_ctl(struct loop *l)
{
	for (;;) {
		ssize_t n = nb_ctlread_read(&l->rd, l->s->ctl);

		/* -d: a malformed frame costs what was buffered, not the VM. */
		if (n > 0 || n == -EINTR || (n == -EPROTO && l->s->until_poweroff))
			continue;
		if (n == 0) {
			l->ctl_eof = true;
			epoll_ctl(l->ep, EPOLL_CTL_DEL, l->s->ctl, NULL);
		} else if (n == -EPROTO) {
			fail(l, "control channel: malformed frame from the guest");
		} else if (n == -ENOMEM) {
			fail(l, "control channel: out of memory");
		}
		return;
	}
}

static void flush_ctl(struct loop *l)
{
	/* A stream that fails is QEMU gone; the pidfd will say so. */
	nb_ctl_buf_flush(&l->out, l->s->ctl, 0);
}

static void send_winsize(struct loop *l)
{
	struct winsize ws;

	if (ioctl(l->s->in_fd, TIOCGWINSZ, &ws) == 0)
		nb_ctl_put_winsize(&l->out, 0, ws.ws_row, ws.ws_col);
}

static void read_stdin(struct loop *l)
{
	uint8_t buf[NB_CTL_DATA_CHUNK];
	ssize_t n = read(l->s->in_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		l->in_eof = true;
		epoll_ctl(l->ep, EPOLL_CTL_DEL, l->s->in_fd, NULL);
		nb_ctl_put_frame(&l->out, NB_CTL_DATA, NB_STREAM_STDIN, 0, NULL, 0);
		return;
	}
	nb_ctl_put_frame(&l->out, NB_CTL_DATA, NB_STREAM_STDIN, 0, buf, (size_t)n);
}

static void handle_signals(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGWINCH:
			if (l->s->tty)
				send_winsize(l);
			break;
		case SIGINT:
		case SIGTERM:
		case SIGHUP:
			/* The CLI is told to stop: the VM goes with it. */
			if (l->s->qemu_pid > 0 && !l->qemu_gone)
				kill(l->s->qemu_pid, SIGKILL);
			if (!l->s->exited && !l->failed) {
				l->s->code = 128 + (int)si.ssi_signo;
				l->s->exited = true;
			}
			break;
		default:
			break;
		}
	}
}

/* QEMU reaped: waited for @wait_ms first (<= 0: killed at once). */
static void reap_qemu(struct loop *l, int wait_ms)
{
	struct pollfd p = { .fd = l->s->qemu_pidfd, .events = POLLIN };

	if (l->s->qemu_pid <= 0 || l->qemu_gone)
		return;
	if (wait_ms <= 0 || poll(&p, 1, wait_ms) <= 0)
		kill(l->s->qemu_pid, SIGKILL);
	while (waitpid(l->s->qemu_pid, NULL, 0) < 0 && errno == EINTR)
		;
	l->qemu_gone = true;
}

/* Queue @s->initial (exec's SPAWN) as the first frames to the guest. */
static void queue_initial(struct loop *l)
{
	const struct nb_ctl_buf *in = l->s->initial;
	struct nb_ctl_buf *b = &l->out;

	if (!in || !in->len)
		return;
	if (b->cap < in->len) {
		uint8_t *d = realloc(b->data, in->len);

		if (!d)
			return;
		b->data = d;
		b->cap = in->len;
	}
	memcpy(b->data, in->data, in->len);
	b->len = in->len;
}

/* Register every fd the loop waits on; false when the loop cannot start. */
static bool setup(struct loop *l, sigset_t *mask)
{
	struct nb_loop *s = l->s;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_IN };

	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0)
		return false;
	if (s->signals) {
		sigemptyset(mask);
		sigaddset(mask, SIGINT);
		sigaddset(mask, SIGTERM);
		sigaddset(mask, SIGHUP);
		sigaddset(mask, SIGWINCH);
		sigprocmask(SIG_BLOCK, mask, NULL);
		l->sfd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (l->sfd >= 0)
			set_events(l, l->sfd, EV_SIG, EPOLLIN);
	}
	fcntl(s->ctl, F_SETFL, fcntl(s->ctl, F_GETFL) | O_NONBLOCK);
	set_events(l, s->ctl, EV_CTL, EPOLLIN);
	if (s->console >= 0) {
		fcntl(s->console, F_SETFL, fcntl(s->console, F_GETFL) | O_NONBLOCK);
		set_events(l, s->console, EV_CON, EPOLLIN);
	}
	if (s->listen_fd >= 0) {
		nb_clients_init(&l->cl, l->ep, EV_CLIENT, s->listen_fd, &l->out, s->qemu_pid);
		set_events(l, s->listen_fd, EV_LISTEN, EPOLLIN);
	}
	if (s->qemu_pidfd >= 0)
		set_events(l, s->qemu_pidfd, EV_QEMU, EPOLLIN);
	else
		s->phase_ns[NB_PHASE_INIT] = 1; /* exec: the VM is up */
	/* A regular file or /dev/null cannot be polled: read it in the loop. */
	if (s->stdin_open && epoll_ctl(l->ep, EPOLL_CTL_ADD, s->in_fd, &ev) < 0)
		l->in_unpollable = true;
	queue_initial(l);
	return true;
}

/* Whether the loop goes on: -d until QEMU is gone, else until the
 * command's end or a failure. */
static bool going(const struct loop *l)
{
	if (l->s->until_poweroff)
		return !l->qemu_gone;
	return !l->s->exited && !l->failed;
}

/* One round: the boot deadline, what to wait for, and what woke us. */
static void step(struct loop *l, uint64_t deadline)
{
	struct nb_loop *s = l->s;
	struct epoll_event evs[16];
	int timeout = -1, n;

	if (!s->phase_ns[NB_PHASE_INIT] && !l->failed) {
		uint64_t now = nb_mono_ns();

		if (now >= deadline) {
			fail(l, "boot timed out after %u s (nestbox-init did not report)",
			     s->boot_timeout_ms / 1000);
			return;
		}
		timeout = (int)((deadline - now) / 1000000ull) + 1;
	}
	if (l->out.len)
		set_events(l, s->ctl, EV_CTL, EPOLLIN | EPOLLOUT);
	else if (!l->ctl_eof)
		set_events(l, s->ctl, EV_CTL, EPOLLIN);
	/* Stop reading stdin while the guest is far behind. */
	if (s->stdin_open && !l->in_eof && !l->in_unpollable)
		set_events(l, s->in_fd, EV_IN, l->out.len > (4u << 20) ? 0 : EPOLLIN);
	if (s->stdin_open && !l->in_eof && l->in_unpollable && l->out.len <= (4u << 20)) {
		read_stdin(l);
		timeout = 0;
	}
	n = epoll_wait(l->ep, evs, 16, timeout);
	for (int i = 0; i < n; i++) {
		switch ((int)(evs[i].data.u64 & 0xff)) {
		case EV_CTL:
			if (evs[i].events & EPOLLOUT)
				flush_ctl(l);
			if (evs[i].events & (EPOLLIN | EPOLLHUP))
				read_ctl(l);
			break;
		case EV_CON:
			read_console(l);
			break;
		case EV_IN:
			read_stdin(l);
			break;
		case EV_SIG:
			handle_signals(l);
			break;
		case EV_LISTEN:
			nb_clients_accept(&l->cl);
			break;
		case EV_CLIENT:
			nb_clients_read(&l->cl, (unsigned)(evs[i].data.u64 >> 8));
			break;
		case EV_QEMU:
			/* Drain what the guest said before it went away. */
			read_ctl(l);
			read_console(l);
			if (s->until_poweroff) {
				epoll_ctl(l->ep, EPOLL_CTL_DEL, s->qemu_pidfd, NULL);
				l->qemu_gone = true; /* reaped after the loop */
				break;
			}
			reap_qemu(l, 0);
			fail(l, "the VM stopped before the command finished");
			break;
		default:
			break;
		}
	}
	flush_ctl(l);
	if (l->ctl_eof && !s->exited && !s->until_poweroff)
		fail(l, s->qemu_pid > 0 ? "the VM stopped before the command finished"
					: "the VM went away before the command finished");
}

/* nb_loop_run() - see loop.h */
int nb_loop_run(struct nb_loop *s, struct nb_err *e)
{
	struct loop l = { .s = s, .ep = -1, .sfd = -1 };
	uint64_t deadline = nb_mono_ns() + (uint64_t)s->boot_timeout_ms * 1000000ull;
	struct termios saved;
	bool raw = false;
	sigset_t mask;

	s->exited = false;
	s->code = NB_EXIT_FAILURE;
	nb_ctlread_init(&l.rd, &guest_ops, &l);
	if (!setup(&l, &mask)) {
		nb_err_sys(e, errno, "epoll");
		reap_qemu(&l, 0);
		return NB_EXIT_FAILURE;
	}
	if (s->tty && isatty(s->in_fd) && tcgetattr(s->in_fd, &saved) == 0) {
		struct termios t = saved;

		cfmakeraw(&t);
		raw = tcsetattr(s->in_fd, TCSANOW, &t) == 0;
	}
	while (going(&l))
		step(&l, deadline);
	if (raw)
		tcsetattr(s->in_fd, TCSANOW, &saved);
	/* The guest synced before it reported: nothing is left to wait for. */
	reap_qemu(&l, 0);
	if (s->qemu_pid > 0 && s->until_poweroff)
		while (waitpid(s->qemu_pid, NULL, 0) < 0 && errno == EINTR)
			;
	read_console(&l);
	if (s->listen_fd >= 0) {
		if (s->until_poweroff && !s->exited) {
			if (!l.failed)
				fail(&l, "the VM stopped before the command started");
			s->code = l.cl.stopping ? 137 : -1;
		} else if (s->until_poweroff) {
			s->code = l.cl.code;
		}
		if (s->st) {
			/* Before the waiters hear it: ps agrees with wait. */
			snprintf(s->st->status, sizeof(s->st->status), "exited");
			s->st->exit_code = s->code;
			s->st->finished = (int64_t)time(NULL);
			nb_state_write(s->st, NULL);
		}
		nb_clients_finish(&l.cl, s->code);
	}
	if (l.failed && !s->until_poweroff) {
		char m[CON_TAIL + sizeof(l.msg) + 64];

		with_tail(&l, "", m, sizeof(m));
		nb_err_set(e, EIO, "%s", m);
		s->code = NB_EXIT_FAILURE;
	}
	if (l.sfd >= 0)
		close(l.sfd);
	if (s->signals)
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
	close(l.ep);
	nb_ctl_buf_free(&l.out);
	nb_ctlread_free(&l.rd);
	return s->code;
}
