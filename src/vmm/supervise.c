/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmm/supervise: the detached VM's daemon loop (see supervise.h). */
#include "vmm/supervise.h"

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
#include <unistd.h>

#include "control/proto.h"
#include "lib/fileio.h"
#include "vmm/session.h"

#define MAX_CLIENTS 64
#define CON_TAIL    4096

enum { EV_CTL = 1, EV_CON, EV_LISTEN, EV_QEMU, EV_CLIENT };

struct client {
	int fd;
	uint16_t proc; /* 0: no exec (a waiter, or stop) */
	uint8_t *rx;
	size_t rx_len, rx_cap;
};

struct sup {
	struct nb_supervisor *s;
	int ep;
	struct nb_ctl_buf out;
	uint8_t *rx;
	size_t rx_len, rx_cap;
	struct client clients[MAX_CLIENTS];
	uint16_t next_proc;
	int console_log, output_log;
	char con[CON_TAIL];
	size_t con_len;
	bool started, cmd_started, exited, stopping;
	int code;
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

static void client_close(struct sup *u, int i)
{
	struct client *c = &u->clients[i];

	epoll_ctl(u->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->rx);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void to_client(struct sup *u, int i, const struct nb_ctl_frame *f)
{
	struct nb_ctl_buf b = { 0 };

	nb_ctl_put_frame(&b, f->type, f->stream, 0, f->payload, f->len);
	/* A client that stops reading is dropped rather than stalling the VM. */
	if (b.len && send(u->clients[i].fd, b.data, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
		client_close(u, i);
	nb_ctl_buf_free(&b);
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

static void guest_frame(struct sup *u, const struct nb_ctl_frame *f)
{
	struct nb_ctl_cur c;
	uint32_t v;
	uint64_t ns;
	const char *str;

	nb_ctl_cur_init(&c, f);
	switch ((enum nb_ctl_type)f->type) {
	case NB_CTL_PHASE:
		if (nb_ctl_get_u32(&c, &v) == 0 && nb_ctl_get_u64(&c, &ns) == 0) {
			if (v == NB_PHASE_INIT)
				u->started = true;
			if (v == NB_PHASE_COMMAND) {
				u->cmd_started = true;
				snprintf(u->s->st->status, sizeof(u->s->st->status), "running");
				nb_state_write(u->s->st, NULL);
				report(u, "ok");
			}
		}
		break;
	case NB_CTL_DATA:
		if (f->proc == 0) {
			if (f->len)
				nb_write_all(u->output_log, f->payload, f->len);
			break;
		}
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (u->clients[i].fd > 0 && u->clients[i].proc == f->proc)
				to_client(u, i, f);
		break;
	case NB_CTL_EXIT:
		if (f->proc == 0) {
			char msg[1200];

			if (nb_ctl_get_u32(&c, &v) < 0 || nb_ctl_get_str(&c, &str) < 0)
				break;
			u->exited = true;
			u->code = (int)v;
			/* Failed before it ran (not found, not executable): say so. */
			snprintf(msg, sizeof(msg), "exit %u %s", v, str);
			report(u, msg);
			for (int i = 0; i < MAX_CLIENTS; i++)
				if (u->clients[i].fd > 0 && u->clients[i].proc == 0)
					to_client(u, i, f);
			break;
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (u->clients[i].fd > 0 && u->clients[i].proc == f->proc) {
				to_client(u, i, f);
				if (u->clients[i].fd > 0)
					client_close(u, i);
			}
		}
		break;
	case NB_CTL_ERROR:
		if (nb_ctl_get_str(&c, &str) == 0) {
			char why[1100];

			snprintf(why, sizeof(why), "guest: %s", str);
			fail(u, why);
		}
		break;
	case NB_CTL_CONFIG:
	case NB_CTL_SPAWN:
	case NB_CTL_WINSIZE:
	case NB_CTL_SIGNAL:
	case NB_CTL_SHUTDOWN:
		break;
	}
}

static void read_guest(struct sup *u)
{
	for (;;) {
		size_t off = 0;
		ssize_t n;

		if (u->rx_cap - u->rx_len < 65536) {
			uint8_t *d = realloc(u->rx, u->rx_cap + 131072);

			if (!d)
				return;
			u->rx = d;
			u->rx_cap += 131072;
		}
		n = read(u->s->ctl, u->rx + u->rx_len, u->rx_cap - u->rx_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				epoll_ctl(u->ep, EPOLL_CTL_DEL, u->s->ctl, NULL);
			return;
		}
		u->rx_len += (size_t)n;
		for (;;) {
			struct nb_ctl_frame f;
			int r = nb_ctl_parse(u->rx + off, u->rx_len - off, &f);

			if (r < 0) {
				u->rx_len = off = 0;
				break;
			}
			if (r == 0)
				break;
			guest_frame(u, &f);
			off += (size_t)r;
		}
		memmove(u->rx, u->rx + off, u->rx_len - off);
		u->rx_len -= off;
	}
}

static void client_frame(struct sup *u, int i, const struct nb_ctl_frame *f)
{
	struct client *c = &u->clients[i];

	switch ((enum nb_ctl_type)f->type) {
	case NB_CTL_SPAWN:
		if (c->proc || u->exited)
			break;
		if (++u->next_proc == 0)
			u->next_proc = 1;
		c->proc = u->next_proc;
		nb_ctl_put_frame(&u->out, f->type, f->stream, c->proc, f->payload, f->len);
		break;
	case NB_CTL_DATA:
	case NB_CTL_WINSIZE:
		if (c->proc)
			nb_ctl_put_frame(&u->out, f->type, f->stream, c->proc, f->payload, f->len);
		break;
	case NB_CTL_SIGNAL:
		/* From an exec session: its process; from stop: the main command. */
		nb_ctl_put_frame(&u->out, f->type, f->stream, c->proc, f->payload, f->len);
		break;
	case NB_CTL_SHUTDOWN:
		u->stopping = true;
		kill(u->s->qemu_pid, SIGKILL);
		break;
	case NB_CTL_PHASE:
	case NB_CTL_CONFIG:
	case NB_CTL_EXIT:
	case NB_CTL_ERROR:
		break;
	}
}

static void read_client(struct sup *u, int i)
{
	struct client *c = &u->clients[i];
	size_t off = 0;
	ssize_t n;

	if (c->rx_cap - c->rx_len < 65536) {
		uint8_t *d = realloc(c->rx, c->rx_cap + 131072);

		if (!d) {
			client_close(u, i);
			return;
		}
		c->rx = d;
		c->rx_cap += 131072;
	}
	n = read(c->fd, c->rx + c->rx_len, c->rx_cap - c->rx_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* An exec client that went away: its process gets SIGHUP. */
		if (c->proc)
			nb_ctl_put_u32(&u->out, NB_CTL_SIGNAL, c->proc, SIGHUP);
		client_close(u, i);
		return;
	}
	c->rx_len += (size_t)n;
	for (;;) {
		struct nb_ctl_frame f;
		int r = nb_ctl_parse(c->rx + off, c->rx_len - off, &f);

		if (r < 0) {
			client_close(u, i);
			return;
		}
		if (r == 0)
			break;
		client_frame(u, i, &f);
		off += (size_t)r;
		if (c->fd < 0)
			return;
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
}

static void accept_clients(struct sup *u)
{
	for (;;) {
		int fd = accept4(u->s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int i;

		if (fd < 0)
			return;
		/* Abstract sockets have no file permissions: check the peer. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != getuid() && cred.uid != 0)) {
			close(fd);
			continue;
		}
		for (i = 0; i < MAX_CLIENTS && u->clients[i].fd > 0; i++)
			;
		if (i == MAX_CLIENTS) {
			close(fd);
			continue;
		}
		u->clients[i].fd = fd;
		u->clients[i].proc = 0;
		if (u->exited) {
			/* wait after the end: answer at once */
			struct nb_ctl_buf b = { 0 };

			nb_ctl_put_exit(&b, 0, (uint32_t)u->code, "");
			if (send(fd, b.data, b.len, MSG_NOSIGNAL) < 0)
				(void)0;
			nb_ctl_buf_free(&b);
		}
		ep_set(u, fd, EPOLLIN, EV_CLIENT | (uint64_t)i << 8);
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

	for (int i = 0; i < MAX_CLIENTS; i++)
		u.clients[i].fd = -1;
	nb_state_path(s->st, "console.log", path, sizeof(path));
	u.console_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	nb_state_path(s->st, "output.log", path, sizeof(path));
	u.output_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	u.ep = epoll_create1(EPOLL_CLOEXEC);
	fcntl(s->ctl, F_SETFL, fcntl(s->ctl, F_GETFL) | O_NONBLOCK);
	fcntl(s->console, F_SETFL, fcntl(s->console, F_GETFL) | O_NONBLOCK);
	ep_set(&u, s->ctl, EPOLLIN, EV_CTL);
	ep_set(&u, s->console, EPOLLIN, EV_CON);
	ep_set(&u, s->listen_fd, EPOLLIN, EV_LISTEN);
	ep_set(&u, s->qemu_pidfd, EPOLLIN, EV_QEMU);
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
				accept_clients(&u);
				break;
			case EV_CLIENT:
				if (u.clients[ck >> 8].fd > 0)
					read_client(&u, (int)(ck >> 8));
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
	if (!u.exited) {
		if (s->ready_fd >= 0)
			fail(&u, "the VM stopped before the command started");
		u.code = u.stopping ? 137 : -1;
	}
	snprintf(s->st->status, sizeof(s->st->status), "exited");
	s->st->exit_code = u.code;
	nb_state_write(s->st, NULL);
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (u.clients[i].fd > 0) {
			if (!u.clients[i].proc) {
				struct nb_ctl_buf b = { 0 };

				nb_ctl_put_exit(&b, 0, (uint32_t)u.code, "");
				if (send(u.clients[i].fd, b.data, b.len, MSG_NOSIGNAL) < 0)
					(void)0;
				nb_ctl_buf_free(&b);
			}
			client_close(&u, i);
		}
	}
	close(u.console_log);
	close(u.output_log);
	close(u.ep);
	nb_ctl_buf_free(&u.out);
	free(u.rx);
	/* A command that never started (or a VM that died) leaves no state. */
	return u.cmd_started && u.code != -1 ? 0 : -1;
}
