/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/clients: exec, stop and wait clients of a VM's control socket (see
 * clients.h). */
#include "box/clients.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* nb_clients_init() - see clients.h */
void nb_clients_init(struct nb_clients *cl, int ep, uint64_t kind, int listen_fd,
		     struct nb_ctl_buf *out, pid_t qemu_pid)
{
	memset(cl, 0, sizeof(*cl));
	cl->ep = ep;
	cl->kind = kind;
	cl->listen_fd = listen_fd;
	cl->out = out;
	cl->qemu_pid = qemu_pid;
	for (int i = 0; i < NB_MAX_CLIENTS; i++)
		cl->c[i].fd = -1;
}

static void client_close(struct nb_clients *cl, unsigned i)
{
	struct nb_client *c = &cl->c[i];

	epoll_ctl(cl->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	nb_ctlread_free(&c->rd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Send one frame to client @i as process 0; a client that stops reading is
 * dropped rather than stalling the VM. */
static void to_client(struct nb_clients *cl, unsigned i, const struct nb_ctl_frame *f)
{
	struct nb_ctl_buf b = { 0 };

	nb_ctl_put_frame(&b, f->type, f->stream, 0, f->payload, f->len);
	if (b.len && send(cl->c[i].fd, b.data, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
		client_close(cl, i);
	nb_ctl_buf_free(&b);
}

static void exit_to(int fd, int code)
{
	struct nb_ctl_buf b = { 0 };

	nb_ctl_put_exit(&b, 0, (uint32_t)code, "");
	if (b.len && send(fd, b.data, b.len, MSG_NOSIGNAL) < 0)
		(void)0; /* a waiter that left needs no answer */
	nb_ctl_buf_free(&b);
}

/* Every frame from a client, raw: the owner rewrites process ids. */
static int client_frame(void *ctx, const struct nb_ctl_frame *f)
{
	struct nb_client *c = ctx;
	struct nb_clients *cl = c->cl;

	switch ((enum nb_ctl_type)f->type) {
	case NB_CTL_SPAWN:
		if (c->proc || cl->exited)
			break;
		if (++cl->next_proc == 0)
			cl->next_proc = 1;
		c->proc = cl->next_proc;
		nb_ctl_put_frame(cl->out, f->type, f->stream, c->proc, f->payload, f->len);
		break;
	case NB_CTL_DATA:
	case NB_CTL_WINSIZE:
		if (c->proc)
			nb_ctl_put_frame(cl->out, f->type, f->stream, c->proc, f->payload, f->len);
		break;
	case NB_CTL_SIGNAL:
		/* From an exec session: its process; from stop: the main command. */
		nb_ctl_put_frame(cl->out, f->type, f->stream, c->proc, f->payload, f->len);
		break;
	case NB_CTL_SHUTDOWN:
		cl->stopping = true;
		if (cl->qemu_pid > 0)
			kill(cl->qemu_pid, SIGKILL);
		break;
	case NB_CTL_PHASE:
	case NB_CTL_CONFIG:
	case NB_CTL_EXIT:
	case NB_CTL_ERROR:
		break;
	}
	return 0;
}

static const struct nb_ctlread_ops client_ops = { .frame = client_frame };

/* nb_clients_read() - see clients.h */
void nb_clients_read(struct nb_clients *cl, unsigned i)
{
	struct nb_client *c;
	ssize_t n;

	if (i >= NB_MAX_CLIENTS || cl->c[i].fd < 0)
		return;
	c = &cl->c[i];
	n = nb_ctlread_read(&c->rd, c->fd);
	if (n > 0 || n == -EINTR || n == -EAGAIN)
		return;
	/* An exec client that went away: its process gets SIGHUP. */
	if (n != -EPROTO && n != -ENOMEM && c->proc)
		nb_ctl_put_u32(cl->out, NB_CTL_SIGNAL, c->proc, SIGHUP);
	client_close(cl, i);
}

/* nb_clients_accept() - see clients.h */
void nb_clients_accept(struct nb_clients *cl)
{
	for (;;) {
		int fd = accept4(cl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN };
		struct ucred cred;
		socklen_t len = sizeof(cred);
		unsigned i;

		if (fd < 0)
			return;
		/* Abstract sockets have no file permissions: check the peer. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != getuid() && cred.uid != 0)) {
			close(fd);
			continue;
		}
		for (i = 0; i < NB_MAX_CLIENTS && cl->c[i].fd >= 0; i++)
			;
		if (i == NB_MAX_CLIENTS) {
			close(fd);
			continue;
		}
		cl->c[i].fd = fd;
		cl->c[i].proc = 0;
		cl->c[i].cl = cl;
		nb_ctlread_init(&cl->c[i].rd, &client_ops, &cl->c[i]);
		if (cl->exited)
			exit_to(fd, cl->code); /* wait after the end: answer at once */
		ev.data.u64 = cl->kind | (uint64_t)i << 8;
		if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			client_close(cl, i);
	}
}

/* nb_clients_guest() - see clients.h */
void nb_clients_guest(struct nb_clients *cl, const struct nb_ctl_frame *f, uint32_t code)
{
	bool is_exit = f->type == NB_CTL_EXIT;

	if (f->proc == 0) {
		if (!is_exit)
			return;
		cl->exited = true;
		cl->code = (int)code;
		for (unsigned i = 0; i < NB_MAX_CLIENTS; i++)
			if (cl->c[i].fd >= 0 && cl->c[i].proc == 0)
				to_client(cl, i, f);
		return;
	}
	for (unsigned i = 0; i < NB_MAX_CLIENTS; i++) {
		if (cl->c[i].fd < 0 || cl->c[i].proc != f->proc)
			continue;
		to_client(cl, i, f);
		if (is_exit && cl->c[i].fd >= 0)
			client_close(cl, i);
	}
}

/* nb_clients_finish() - see clients.h */
void nb_clients_finish(struct nb_clients *cl, int code)
{
	for (unsigned i = 0; i < NB_MAX_CLIENTS; i++) {
		if (cl->c[i].fd < 0)
			continue;
		if (!cl->c[i].proc)
			exit_to(cl->c[i].fd, code);
		client_close(cl, i);
	}
}

/* nb_supervisor_addr() - see clients.h */
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

/* nb_supervisor_listen() - see clients.h */
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

/* nb_supervisor_connect() - see clients.h */
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
