/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/vsock: the vhost-vsock transport's host side. Owns the guest's CID
 * (claimed on /dev/vhost-vsock, whose fd QEMU inherits), the AF_VSOCK ports
 * the host listens on (one for control, one per nestfs share), accepting the
 * guest's connections (only from that CID), and relaying the control stream
 * to the session's socketpair end.
 *
 * Theory of operation: the guest connects to the host (CID 2) on the ports
 * its kernel command line (control) and its spec (shares) name, after it has
 * booted; so the listeners live in one thread that accepts each port's one
 * connection, hands a share's to its nestfs server at once, and for control
 * copies bytes between the guest and a socketpair whose other end the
 * session reads as if it were a virtio-serial port's. Each listener is
 * closed after its first accepted connection: nothing else can join later. */
#ifndef NESTBOX_VM_VSOCK_H
#define NESTBOX_VM_VSOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/server.h"
#include "lib/err.h"
#include "vm/qemu.h"

#define NB_VSOCK_MAX_PORTS (1 + NB_VM_MAX_SHARES)

/**
 * struct nb_vsock - one VM's vsock endpoints on the host
 * @vhost_fd:	/dev/vhost-vsock with @cid claimed; QEMU inherits it
 * @cid:	the guest's context id
 * @n:		listeners in use: [0] control, [1 + i] share i
 * @listen_fd:	AF_VSOCK listeners, -1 once accepted
 * @port:	their port numbers
 * @srv:	for shares: the nestfs server that gets the connection
 * @relay:	the control relay's end of the session's socketpair
 * @stop:	an eventfd that ends the thread
 */
struct nb_vsock {
	int vhost_fd;
	uint32_t cid;
	unsigned n;
	int listen_fd[NB_VSOCK_MAX_PORTS];
	uint32_t port[NB_VSOCK_MAX_PORTS];
	struct nestfs_server *srv[NB_VSOCK_MAX_PORTS];
	int relay;
	int stop;
	pthread_t thread;
	bool started;
};

/**
 * nb_vsock_open() - open /dev/vhost-vsock and claim a free random CID
 * @v:		output; every fd -1 until set
 * @nports:	how many ports to listen on (control plus shares)
 *
 * Return: 0, or negative errno with @e set (and @v released)
 */
int nb_vsock_open(struct nb_vsock *v, unsigned nports, struct nb_err *e);

/**
 * nb_vsock_start() - start accepting and relaying
 * @relay:	the control relay's socketpair end (owned from now on)
 * @srv:	the nestfs server of share i at @srv[i]
 *
 * Return: 0, or negative errno
 */
int nb_vsock_start(struct nb_vsock *v, int relay, struct nestfs_server *const *srv,
		   struct nb_err *e);

/* nb_vsock_close() - stop the thread, close every fd; safe on a zeroed @v */
void nb_vsock_close(struct nb_vsock *v);

/* nb_vsock_init() - mark every fd of @v closed (so close() is always safe) */
void nb_vsock_init(struct nb_vsock *v);

#endif
