/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/endpoint: nestfs endpoints as strings: unix:PATH, vsock:PORT, vsock:CID:PORT,
 * fd:N and character device paths. Owns parsing them into listening or connected fds. */
#ifndef NESTBOX_FS_ENDPOINT_H
#define NESTBOX_FS_ENDPOINT_H

#include <stdbool.h>

#include "lib/err.h"

/**
 * nestfs_listen() - open the server side of an endpoint
 * @ep:		unix:PATH (created; an existing socket file is replaced), vsock:PORT, fd:N
 * @listening:	set: true when the fd accepts connections, false when it is one
 *		connected stream (fd:N of a socketpair end, a pipe pair, a char device)
 * @e:		error
 *
 * Return: the fd, or -errno
 */
int nestfs_listen(const char *ep, bool *listening, struct nb_err *e);

/**
 * nestfs_connect() - open the client side of an endpoint
 * @ep:	unix:PATH, vsock:CID:PORT, fd:N, or a character device path (/dev/vport0p1)
 * @e:	error
 *
 * Return: a connected stream fd, or -errno
 */
int nestfs_connect(const char *ep, struct nb_err *e);

#endif
