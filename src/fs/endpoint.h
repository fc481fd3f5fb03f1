/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/endpoint: nestfs endpoints as strings: unix:PATH, vsock:PORT, vsock:CID:PORT,
 * fd:N and character device paths. Owns parsing them into listening or connected fds. */
#ifndef NESTBOX_FS_ENDPOINT_H
#define NESTBOX_FS_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/**
 * nestfs_listen() - open the server side of an endpoint
 * @ep:		unix:PATH (created mode 0600; an existing socket file is replaced),
 *		vsock:PORT or vsock:CID:PORT (who may connect: see nestfs_peer_ok()), fd:N
 * @listening:	set: true when the fd accepts connections, false when it is one
 *		connected stream (fd:N of a socketpair end, a pipe pair, a char device)
 * @e:		error
 *
 * Return: the fd, or -errno
 */
int nestfs_listen(const char *ep, bool *listening, struct nb_err *e);

/**
 * nestfs_peer_ok() - may the peer of connected @fd use the server listening on @ep
 * @fd:		an accepted connection
 * @ep:		the endpoint it was accepted on
 * @cid_want:	the vsock peer's CID, or NESTFS_PEER_CID_ANY: as @ep says
 * @e:		error, naming the refused peer
 *
 * A unix peer must run as our effective uid or as root (SO_PEERCRED). A
 * vsock peer must come from @cid_want, else the CID that @ep names
 * (vsock:CID:PORT), else from the host, CID 2 (vsock:PORT, fd:N). Any
 * other family is refused.
 *
 * Return: 0, or -EPERM (-EPROTONOSUPPORT for another family, -errno)
 */
int nestfs_peer_ok(int fd, const char *ep, uint32_t cid_want, struct nb_err *e);

/* No CID given: nestfs_peer_ok() takes the endpoint's (VMADDR_CID_ANY). */
#define NESTFS_PEER_CID_ANY 0xffffffffu

/**
 * nestfs_accept() - accept one connection on listening @lfd (endpoint @ep) and check
 * its peer with nestfs_peer_ok()
 * @e:	error
 *
 * Return: the connected fd (O_CLOEXEC), or -errno; a refused peer is closed
 */
int nestfs_accept(int lfd, const char *ep, uint32_t cid_want, struct nb_err *e);

/**
 * nestfs_connect() - open the client side of an endpoint
 * @ep:	unix:PATH, vsock:CID:PORT, fd:N, or a character device path (/dev/vport0p1)
 * @e:	error
 *
 * Return: a connected stream fd, or -errno
 */
int nestfs_connect(const char *ep, struct nb_err *e);

#endif
