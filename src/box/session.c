/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/session: the foreground event loop (see session.h).
 *
 * One epoll loop; cookies say which fd woke it. The control socket is
 * non-blocking with an output queue, so the host never blocks on the guest;
 * the guest may block on the host (it stops reading the port while our
 * stdout is slow), which is the back-pressure we want. */
#include "box/session.h"

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

#include "lib/fileio.h"
#include "lib/log.h"
#include "box/clients.h"
#include "box/ctlread.h"
#include "box/outlog.h"

enum { EV_CTL = 1, EV_CON, EV_IN, EV_SIG, EV_QEMU, EV_LISTEN, EV_CLIENT };

#define CON_TAIL 8192

struct loop {
	struct nb_session *s;
	int ep, sfd;
	struct nb_ctl_buf out;
	struct nb_ctlread rd;
	struct nb_clients cl;
	char con[CON_TAIL];
	size_t con_len;
	bool exited, qemu_gone, ctl_eof, in_eof, in_unpollable;
	int code;
	char msg[1024];
	bool failed;
};

static void set_events(struct loop *l, int fd, int kind, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind };

	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void flush_ctl(struct loop *l)
{
	while (l->out.len) {
		ssize_t n = write(l->s->ctl, l->out.data, l->out.len);

		if (n > 0) {
			nb_ctl_buf_consume(&l->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			l->out.len = 0; /* QEMU is gone; the pidfd will say so */
		break;
	}
}

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

	while ((n = read(l->s->console, buf, sizeof(buf))) > 0) {
		con_keep(l, buf, (size_t)n);
		if (l->s->console_log >= 0)
			nb_write_all(l->s->console_log, buf, (size_t)n);
		if (l->s->show_console)
			nb_write_all(STDERR_FILENO, buf, (size_t)n);
	}
	if (n == 0) {
		epoll_ctl(l->ep, EPOLL_CTL_DEL, l->s->console, NULL);
	}
}

/* The last @lines lines of the console, for error messages. */
static void console_tail(struct loop *l, char *out, size_t len, int lines)
{
	size_t start = l->con_len;
	int seen = 0;

	while (start > 0) {
		if (l->con[start - 1] == '\n' && start != l->con_len && ++seen >= lines)
			break;
		start--;
	}
	snprintf(out, len, "%.*s", (int)(l->con_len - start), l->con + start);
}

static void fail(struct loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct loop *l, const char *fmt, ...)
{
	va_list ap;

	if (l->failed || l->exited)
		return;
	va_start(ap, fmt);
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	va_end(ap);
	l->failed = true;
	l->code = 125;
}

static int on_phase(void *ctx, uint32_t phase, uint64_t ns)
{
	struct loop *l = ctx;
	struct nb_session *s = l->s;

	s->phase_ns[phase] = ns;
	s->phase_host_ns[phase] = nb_mono_ns();
	nb_debug("phase %s: guest %.1f ms, host %.1f ms", nb_ctl_phase_name(phase),
		 (double)ns / 1e6, (double)(s->phase_host_ns[phase] - s->t0_ns) / 1e6);
	return 0;
}

static int on_data(void *ctx, const struct nb_ctl_frame *f)
{
	struct loop *l = ctx;
	struct nb_session *s = l->s;

	if (f->proc != 0) {
		if (s->serve)
			nb_clients_guest(&l->cl, f, 0);
		return 0;
	}
	if (!f->len)
		return 0;
	if (s->log_output &&
	    nb_outlog_write(s->output_log, f->stream == NB_STREAM_STDERR ? 2 : 1, f->payload,
			    f->len) < 0)
		nb_debug("write output log: %s", strerror(errno));
	if (nb_write_all(f->stream == NB_STREAM_STDERR ? s->err_fd : s->out_fd, f->payload,
			 f->len) < 0 && errno != EPIPE)
		nb_debug("write output: %s", strerror(errno));
	return 0;
}

static int on_cmd_exit(void *ctx, const struct nb_ctl_frame *f, uint32_t code, const char *msg)
{
	struct loop *l = ctx;

	if (l->s->serve)
		nb_clients_guest(&l->cl, f, code);
	if (f->proc != 0)
		return 0;
	if (*msg)
		nb_error("%s", msg);
	l->exited = true;
	l->code = (int)(code & 0xff);
	nb_debug("command exited: %u; host %.1f ms", code,
		 (double)(nb_mono_ns() - l->s->t0_ns) / 1e6);
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

		if (n > 0 || n == -EINTR)
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
			if (l->s->qemu_pid > 0)
				kill(l->s->qemu_pid, SIGKILL);
			if (!l->exited && !l->failed) {
				l->code = 128 + (int)si.ssi_signo;
				l->exited = true;
			}
			break;
		default:
			break;
		}
	}
}

static void reap_qemu(struct loop *l, int wait_ms)
{
	struct pollfd p = { .fd = l->s->qemu_pidfd, .events = POLLIN };

	if (l->s->qemu_pid <= 0)
		return;
	if (!l->qemu_gone && wait_ms > 0 && poll(&p, 1, wait_ms) <= 0)
		kill(l->s->qemu_pid, SIGKILL);
	if (!l->qemu_gone && wait_ms <= 0)
		kill(l->s->qemu_pid, SIGKILL);
	while (waitpid(l->s->qemu_pid, NULL, 0) < 0 && errno == EINTR)
		;
	l->qemu_gone = true;
}

/* nb_session_run() - see session.h */
int nb_session_run(struct nb_session *s, struct nb_err *e)
{
	struct loop l = { .s = s, .code = 125 };
	struct termios saved;
	bool raw = false;
	sigset_t mask;
	uint64_t deadline = nb_mono_ns() + (uint64_t)s->boot_timeout_ms * 1000000ull;
	struct epoll_event ev;

	nb_ctlread_init(&l.rd, &guest_ops, &l);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	l.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	fcntl(s->ctl, F_SETFL, fcntl(s->ctl, F_GETFL) | O_NONBLOCK);
	if (s->console >= 0)
		fcntl(s->console, F_SETFL, fcntl(s->console, F_GETFL) | O_NONBLOCK);
	set_events(&l, s->ctl, EV_CTL, EPOLLIN);
	if (s->console >= 0)
		set_events(&l, s->console, EV_CON, EPOLLIN);
	set_events(&l, l.sfd, EV_SIG, EPOLLIN);
	if (s->serve) {
		nb_clients_init(&l.cl, l.ep, EV_CLIENT, s->listen_fd, &l.out, s->qemu_pid);
		set_events(&l, s->listen_fd, EV_LISTEN, EPOLLIN);
	}
	if (s->qemu_pidfd >= 0) {
		set_events(&l, s->qemu_pidfd, EV_QEMU, EPOLLIN);
	} else {
		s->phase_ns[NB_PHASE_INIT] = 1; /* exec: the VM is up */
	}
	if (s->initial && s->initial->len) {
		struct nb_ctl_buf *b = &l.out;

		if (b->cap < s->initial->len) {
			uint8_t *d = realloc(b->data, s->initial->len);

			if (d) {
				b->data = d;
				b->cap = s->initial->len;
			}
		}
		if (b->cap >= s->initial->len) {
			memcpy(b->data, s->initial->data, s->initial->len);
			b->len = s->initial->len;
		}
	}
	if (s->tty && isatty(s->in_fd) && tcgetattr(s->in_fd, &saved) == 0) {
		struct termios t = saved;

		cfmakeraw(&t);
		raw = tcsetattr(s->in_fd, TCSANOW, &t) == 0;
	}
	if (s->stdin_open) {
		ev.events = EPOLLIN;
		ev.data.u64 = EV_IN;
		/* A regular file or /dev/null cannot be polled: read it in the loop. */
		if (epoll_ctl(l.ep, EPOLL_CTL_ADD, s->in_fd, &ev) < 0)
			l.in_unpollable = true;
	}
	while (!l.exited && !l.failed) {
		struct epoll_event evs[8];
		int timeout = -1, n;

		if (!s->phase_ns[NB_PHASE_INIT]) {
			uint64_t now = nb_mono_ns();

			if (now >= deadline) {
				fail(&l, "boot timed out after %u s (nestbox-init did not report)",
				     s->boot_timeout_ms / 1000);
				break;
			}
			timeout = (int)((deadline - now) / 1000000ull) + 1;
		}
		if (l.out.len)
			set_events(&l, s->ctl, EV_CTL, EPOLLIN | EPOLLOUT);
		else if (!l.ctl_eof)
			set_events(&l, s->ctl, EV_CTL, EPOLLIN);
		/* Stop reading stdin while the guest is far behind. */
		if (s->stdin_open && !l.in_eof && !l.in_unpollable)
			set_events(&l, s->in_fd, EV_IN, l.out.len > (4u << 20) ? 0 : EPOLLIN);
		if (s->stdin_open && !l.in_eof && l.in_unpollable && l.out.len <= (4u << 20)) {
			read_stdin(&l);
			timeout = 0;
		}
		n = epoll_wait(l.ep, evs, 8, timeout);
		for (int i = 0; i < n; i++) {
			switch ((int)(evs[i].data.u64 & 0xff)) {
			case EV_CTL:
				if (evs[i].events & EPOLLOUT)
					flush_ctl(&l);
				if (evs[i].events & (EPOLLIN | EPOLLHUP))
					read_ctl(&l);
				break;
			case EV_CON:
				read_console(&l);
				break;
			case EV_IN:
				read_stdin(&l);
				break;
			case EV_SIG:
				handle_signals(&l);
				break;
			case EV_LISTEN:
				nb_clients_accept(&l.cl);
				break;
			case EV_CLIENT:
				nb_clients_read(&l.cl, (unsigned)(evs[i].data.u64 >> 8));
				break;
			case EV_QEMU:
				/* Drain what the guest said before it went away. */
				read_ctl(&l);
				read_console(&l);
				reap_qemu(&l, 0);
				fail(&l, "the VM stopped before the command finished");
				break;
			default:
				break;
			}
		}
		flush_ctl(&l);
		if (l.ctl_eof && !l.exited)
			fail(&l, s->qemu_pid > 0 ? "the VM stopped before the command finished"
					      : "the VM went away before the command finished");
	}
	if (raw)
		tcsetattr(s->in_fd, TCSANOW, &saved);
	if (s->serve)
		nb_clients_finish(&l.cl, l.code);
	/* The guest synced before it reported: nothing is left to wait for. */
	reap_qemu(&l, 0);
	if (s->console >= 0)
		read_console(&l);
	if (l.failed) {
		char tail[CON_TAIL + 1];

		console_tail(&l, tail, sizeof(tail), 12);
		if (tail[0])
			nb_err_set(e, EIO, "%s; last console lines:\n%s", l.msg, tail);
		else
			nb_err_set(e, EIO, "%s", l.msg);
	}
	close(l.sfd);
	close(l.ep);
	nb_ctl_buf_free(&l.out);
	nb_ctlread_free(&l.rd);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	return l.code;
}
