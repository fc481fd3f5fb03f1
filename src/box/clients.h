/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/clients: the clients of a VM's control socket (exec, stop, wait), for
 * whoever owns the VM: the -d supervisor, or a foreground `nestbox run`.
 * Owns accepting them (same user only), reading their frames and routing
 * frames between them and the guest.
 *
 * Theory of operation: a client speaks the control protocol as if it were
 * the host side of the guest. Its SPAWN starts an exec session: the owner
 * gives it the next free process id and rewrites the id of everything it
 * sends; the guest's DATA and EXIT for that id go back to it (with id 0),
 * and its EXIT closes it. A client that started nothing is a waiter: it
 * gets the main command's EXIT. SIGNAL from a waiter reaches the main
 * command (stop); SHUTDOWN kills QEMU. An exec client that goes away has its
 * process sent SIGHUP. Clients are registered in the owner's epoll with
 * cookie @kind | index << 8. */
#ifndef NESTBOX_BOX_CLIENTS_H
#define NESTBOX_BOX_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "box/ctlread.h"
#include "control/proto.h"
#include "lib/err.h"

#define NB_MAX_CLIENTS 64

struct nb_clients;

/**
 * struct nb_client - one connection
 * @fd:		its socket; -1 when the slot is free
 * @proc:	the guest process id of its exec; 0: none (a waiter, or stop)
 * @cl:		the table it is in (its reader's callbacks get the client)
 * @rd:		the reader of its frames
 */
struct nb_client {
	int fd;
	uint16_t proc;
	struct nb_clients *cl;
	struct nb_ctlread rd;
};

/**
 * struct nb_clients - the clients of one VM
 * @ep, @kind:	the owner's epoll and the cookie kind of client fds
 * @listen_fd:	the listening socket (see nb_supervisor_listen())
 * @out:	the owner's queue of frames to the guest
 * @qemu_pid:	killed by SHUTDOWN
 * @exited, @code: the main command's end, once known
 * @stopping:	a client asked for SHUTDOWN
 * @next_proc:	the last process id given to an exec (ids wrap, 0 skipped)
 * @c:		the client slots
 */
struct nb_clients {
	int ep;
	uint64_t kind;
	int listen_fd;
	struct nb_ctl_buf *out;
	pid_t qemu_pid;
	bool exited, stopping;
	int code;
	uint16_t next_proc;
	struct nb_client c[NB_MAX_CLIENTS];
};

/**
 * nb_supervisor_addr() - the abstract unix socket address of VM @id's
 * control socket, where its owner (the -d supervisor or the foreground
 * `nestbox run`) serves these clients
 * Return: the address length for bind()/connect()
 */
size_t nb_supervisor_addr(const char *id, void *sun);

/* nb_supervisor_listen() - bind and listen for VM @id; fd or -errno */
int nb_supervisor_listen(const char *id, struct nb_err *e);

/* nb_supervisor_connect() - connect to VM @id's owner; fd or -errno */
int nb_supervisor_connect(const char *id, struct nb_err *e);

/* nb_clients_init() - no clients yet; registers nothing */
void nb_clients_init(struct nb_clients *cl, int ep, uint64_t kind, int listen_fd,
		     struct nb_ctl_buf *out, pid_t qemu_pid);

/* nb_clients_accept() - take every pending connection (the listener is readable) */
void nb_clients_accept(struct nb_clients *cl);

/* nb_clients_read() - client @i is readable: read and handle its frames */
void nb_clients_read(struct nb_clients *cl, unsigned i);

/**
 * nb_clients_guest() - route a guest frame for an exec process (f->proc != 0)
 * or, for the main command's EXIT, record it and tell the waiters
 * @code, @msg: the decoded EXIT (ignored for DATA)
 */
void nb_clients_guest(struct nb_clients *cl, const struct nb_ctl_frame *f, uint32_t code);

/* nb_clients_finish() - the VM is gone: waiters get @code, everyone is closed */
void nb_clients_finish(struct nb_clients *cl, int code);

#endif
