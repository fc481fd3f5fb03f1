/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/vsock: vhost-vsock CID, listeners, accept thread, control relay. */
#include "vm/vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

#define VHOST_VSOCK_DEV "/dev/vhost-vsock"
#define RELAY_BUF	(64u << 10)

/* nb_vsock_init() - see vsock.h */
void nb_vsock_init(struct nb_vsock *v)
{
	memset(v, 0, sizeof(*v));
	v->vhost_fd = v->relay = v->stop = v->ctl_listen = -1;
}

static uint32_t random_u32(void)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)getpid() * 2654435761u;
	return r;
}

/* A listener on a random free port (vsock ports are a host-wide namespace,
 * shared with every other VM on this machine). */
static int listen_random(uint32_t *port, struct nb_err *e)
{
	for (int tries = 0; tries < 64; tries++) {
		struct sockaddr_vm a = {
			.svm_family = AF_VSOCK,
			.svm_cid = VMADDR_CID_ANY,
			.svm_port = 1024 + random_u32() % (0x7fffffffu - 1024),
		};
		int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return nb_err_sys(e, errno, "vsock socket");
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 4) == 0) {
			*port = a.svm_port;
			return fd;
		}
		if (errno != EADDRINUSE) {
			int r = errno;

			close(fd);
			return nb_err_sys(e, r, "vsock listen on port %u", a.svm_port);
		}
		close(fd);
	}
	return nb_err_set(e, EADDRINUSE, "vsock listen: no free port after 64 tries");
}

/* nb_vsock_open() - see vsock.h */
int nb_vsock_open(struct nb_vsock *v, struct nb_err *e)
{
	int r;

	nb_vsock_init(v);
	v->vhost_fd = open(VHOST_VSOCK_DEV, O_RDWR | O_CLOEXEC);
	if (v->vhost_fd < 0)
		return nb_err_sys(e, errno, "open %s", VHOST_VSOCK_DEV);
	/* CIDs 0-2 are reserved (hypervisor, local, host); U32_MAX is "any". */
	for (int tries = 0;; tries++) {
		uint64_t cid = 3 + random_u32() % (0xfffffff0u - 3);

		if (ioctl(v->vhost_fd, VHOST_VSOCK_SET_GUEST_CID, &cid) == 0) {
			v->cid = (uint32_t)cid;
			break;
		}
		if (errno != EADDRINUSE || tries == 64) {
			r = nb_err_sys(e, errno, "%s: claim a guest CID", VHOST_VSOCK_DEV);
			nb_vsock_close(v);
			return r;
		}
	}
	r = listen_random(&v->ctl_port, e);
	if (r < 0) {
		nb_vsock_close(v);
		return r;
	}
	v->ctl_listen = r;
	v->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->stop < 0) {
		r = nb_err_sys(e, errno, "eventfd");
		nb_vsock_close(v);
		return r;
	}
	return 0;
}

/* nb_vsock_listen() - see vsock.h */
int nb_vsock_listen(uint32_t *port, struct nb_err *e)
{
	return listen_random(port, e);
}

/* One direction of the control relay. */
struct pipe_buf {
	char data[RELAY_BUF]; /* bytes read from the source, not yet written on */
	size_t len; /* how many of @data are pending, from its start */
	bool eof; /* the source said EOF (or failed) */
};

/* Read what @from has into @b; false once @from is done. */
static void pull(int from, struct pipe_buf *b)
{
	ssize_t n = read(from, b->data + b->len, sizeof(b->data) - b->len);

	if (n > 0)
		b->len += (size_t)n;
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		b->eof = true;
}

/* Write what @b holds to @to; a failed write drops the rest. */
static void push(int to, struct pipe_buf *b)
{
	ssize_t n = write(to, b->data, b->len);

	if (n > 0) {
		memmove(b->data, b->data + n, b->len - (size_t)n);
		b->len -= (size_t)n;
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		b->len = 0;
		b->eof = true;
	}
}

/* Accept the one connection on *@lfd (port @port, carrying @what) if it
 * comes from our guest; the listener is closed then, so nothing else can
 * join later. */
static int accept_one(const struct nb_vsock *v, int *lfd, uint32_t port, const char *what)
{
	struct sockaddr_vm peer = { 0 };
	socklen_t len = sizeof(peer);
	int fd = accept4(*lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return -1;
	if (len < sizeof(peer) || peer.svm_family != AF_VSOCK || peer.svm_cid != v->cid) {
		nb_debug("vsock port %u: refused a connection from cid %u", port, peer.svm_cid);
		close(fd);
		return -1;
	}
	close(*lfd);
	*lfd = -1;
	nb_debug("vsock port %u: guest cid %u connected (%s)", port, v->cid, what);
	return fd;
}

/* The thread: accept, hand shares to their servers, relay control. */
static void *vsock_thread(void *arg)
{
	struct pipe_buf *bufs = calloc(2, sizeof(*bufs)), *g2r, *r2g;
	struct nb_vsock *v = arg;
	int guest = -1;
	bool closed_to_guest = false, closed_to_relay = false;

	if (!bufs) {
		nb_warn("vsock relay: out of memory");
		return NULL;
	}
	g2r = &bufs[0];
	r2g = &bufs[1];
	for (;;) {
		struct pollfd p[4];
		unsigned np = 0;
		short rev = (short)((!r2g->eof && r2g->len < sizeof(r2g->data) ? POLLIN : 0) |
				    (g2r->len ? POLLOUT : 0));
		short gev = (short)((!g2r->eof && g2r->len < sizeof(g2r->data) ? POLLIN : 0) |
				    (r2g->len ? POLLOUT : 0));

		/* An fd with nothing wanted stays out: its HUP would spin us. */
		p[np++] = (struct pollfd){ .fd = v->stop, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = rev ? v->relay : -1, .events = rev };
		p[np++] = (struct pollfd){ .fd = gev ? guest : -1, .events = gev };
		p[np++] = (struct pollfd){ .fd = v->ctl_listen, .events = POLLIN };
		if (poll(p, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[3].revents & POLLIN)
			guest = accept_one(v, &v->ctl_listen, v->ctl_port, "control");
		if (guest >= 0) {
			if (p[2].revents & (POLLIN | POLLHUP | POLLERR) && !g2r->eof)
				pull(guest, g2r);
			if (p[2].revents & POLLOUT && r2g->len)
				push(guest, r2g);
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && !r2g->eof)
			pull(v->relay, r2g);
		if (p[1].revents & POLLOUT && g2r->len)
			push(v->relay, g2r);
		/* Half-closes travel through: the guest's EOF (it is powering
		 * off) becomes the session's, and once the guest is done and has
		 * everything, it is told so (it waits for that before it goes). */
		if (g2r->eof && !g2r->len && !closed_to_relay) {
			shutdown(v->relay, SHUT_WR);
			closed_to_relay = true;
		}
		if (guest >= 0 && (g2r->eof || r2g->eof) && !r2g->len && !closed_to_guest) {
			shutdown(guest, SHUT_WR);
			closed_to_guest = true;
		}
		if (closed_to_relay && r2g->eof)
			break;
	}
	if (guest >= 0)
		close(guest);
	free(bufs);
	return NULL;
}

/* nb_vsock_start() - see vsock.h */
int nb_vsock_start(struct nb_vsock *v, int relay, struct nb_err *e)
{
	int r;

	v->relay = relay;
	fcntl(relay, F_SETFL, fcntl(relay, F_GETFL) | O_NONBLOCK);
	r = pthread_create(&v->thread, NULL, vsock_thread, v);
	if (r != 0)
		return nb_err_sys(e, r, "vsock thread");
	v->started = true;
	return 0;
}

/* nb_vsock_close() - see vsock.h */
void nb_vsock_close(struct nb_vsock *v)
{
	if (v->started) {
		uint64_t one = 1;

		if (write(v->stop, &one, sizeof(one)) != (ssize_t)sizeof(one))
			nb_warn("vsock: cannot stop the relay thread");
		pthread_join(v->thread, NULL);
		v->started = false;
	}
	if (v->ctl_listen >= 0)
		close(v->ctl_listen);
	if (v->relay >= 0)
		close(v->relay);
	if (v->vhost_fd >= 0)
		close(v->vhost_fd);
	if (v->stop >= 0)
		close(v->stop);
	v->relay = v->vhost_fd = v->stop = v->ctl_listen = -1;
	v->cid = 0;
}
