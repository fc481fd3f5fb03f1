/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/vsock: the vhost-vsock transport's host side. Owns the guest's CID
 * (claimed on /dev/vhost-vsock, whose fd QEMU inherits), the AF_VSOCK ports
 * the host listens on (one for control, one per nestfs share), accepting the
 * guest's connections (only from that CID), and relaying the control stream
 * to the session's socketpair end.
 *
 * Theory of operation: the guest connects to the host (CID 2) on the ports
 * its kernel command line (control) and its spec (shares) name, after it has
 * booted. A share's listener goes to its nestfs server's process, which
 * accepts only this guest's CID (vm/share.c); the control listener lives in
 * one thread that accepts its one connection (only from that CID; the
 * listener is closed then, so nothing else can join later) and copies bytes
 * between the guest and a socketpair whose other end the session reads as
 * if it were a virtio-serial port's. */
#ifndef NESTBOX_VM_VSOCK_H
#define NESTBOX_VM_VSOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/proto.h"
#include "lib/err.h"

/**
 * struct nb_vsock - one VM's vsock endpoints on the host
 * @vhost_fd:	/dev/vhost-vsock with @cid claimed; QEMU inherits it
 * @cid:	the guest's context id
 * @ctl_listen:	the control port's listener, -1 once accepted
 * @ctl_port:	its port number, on the guest's kernel command line
 * @relay:	the control relay's end of the session's socketpair
 * @stop:	an eventfd that ends the thread
 * @thread:	the accept and relay thread, once @started
 * @started:	whether @thread runs
 */
struct nb_vsock {
	int vhost_fd;
	uint32_t cid;
	int ctl_listen;
	uint32_t ctl_port;
	int relay;
	int stop;
	pthread_t thread;
	bool started;
};

/**
 * nb_vsock_open() - open /dev/vhost-vsock, claim a free random CID and
 * listen on a control port
 * @v:		output; every fd -1 until set
 *
 * Return: 0, or negative errno with @e set (and @v released)
 */
int nb_vsock_open(struct nb_vsock *v, struct nb_err *e);

/**
 * nb_vsock_listen() - listen on a fresh port for one share's connections
 * @port:	output: the port number
 *
 * Return: the listening fd (the caller's, for the share's server), or
 * negative errno
 */
int nb_vsock_listen(uint32_t *port, struct nb_err *e);

/**
 * nb_vsock_start() - start accepting and relaying
 * @relay:	the control relay's socketpair end (owned from now on)
 *
 * Return: 0, or negative errno
 */
int nb_vsock_start(struct nb_vsock *v, int relay, struct nb_err *e);

/* nb_vsock_close() - stop the thread, close every fd; safe on an initialised @v */
void nb_vsock_close(struct nb_vsock *v);

/* nb_vsock_init() - mark every fd of @v closed (so close() is always safe) */
void nb_vsock_init(struct nb_vsock *v);

#endif
