/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/server: the host side of nestfs, a passthrough filesystem over a directory
 * speaking the Linux FUSE ABI over any stream fd. Owns the connections, their threads and tables. */
#ifndef NESTBOX_FS_SERVER_H
#define NESTBOX_FS_SERVER_H

#include <stdbool.h>

#include "lib/err.h"

/* How long the client kernel may cache names, attributes and file data. */
enum nestfs_cache { NESTFS_CACHE_NEVER, NESTFS_CACHE_AUTO, NESTFS_CACHE_ALWAYS };

/**
 * struct nestfs_server_opts - what a server allows and how it runs
 * @read_only:		refuse every change (EROFS), enforced here on the host
 * @cache:		cache mode offered to clients (virtiofsd's never|auto|always)
 * @threads:		worker threads per connection (0: a default)
 * @allow_devices:	allow mknod of character and block devices (off: nodev)
 * @allow_suid:		keep the set-user/group-ID bits a client asks for and let it set
 *			security.* and trusted.* xattrs (off: nosuid, see fs/policy.h)
 */
struct nestfs_server_opts {
	bool read_only;
	enum nestfs_cache cache;
	unsigned threads;
	bool allow_devices;
	bool allow_suid;
};

struct nestfs_server;

/**
 * nestfs_server_new() - export a directory
 * @dir:	the directory; nothing outside it can be reached through the server
 * @o:		options (NULL: defaults)
 * @e:		error
 *
 * Return: the server, or NULL with @e set
 */
struct nestfs_server *nestfs_server_new(const char *dir, const struct nestfs_server_opts *o,
					struct nb_err *e);

/**
 * nestfs_server_add_conn() - serve one connection
 * @s:	server
 * @fd:	any stream fd (unix socket, socketpair end, vsock, chardev); owned from now on
 * @e:	error
 *
 * Serves in the server's threads until EOF or error, then frees what the
 * connection held. Does not block.
 *
 * Return: 0, or -errno
 */
int nestfs_server_add_conn(struct nestfs_server *s, int fd, struct nb_err *e);

/* nestfs_server_conns() - connections still being served (for `serve fd:N`) */
unsigned nestfs_server_conns(struct nestfs_server *s);

/* nestfs_server_free() - shut every connection down, join every thread, free */
void nestfs_server_free(struct nestfs_server *s);

/**
 * nestfs_server_feed() - run one raw frame through decoding and dispatch (fuzzing)
 * @s:		server
 * @data, @len:	bytes as they would arrive on a connection
 *
 * Replies are discarded. Synchronous; for the libFuzzer target and tests.
 */
void nestfs_server_feed(struct nestfs_server *s, const void *data, unsigned long len);

#endif
