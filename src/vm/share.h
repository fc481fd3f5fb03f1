/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/share: one nestfs share of a VM, the one object that knows all of it:
 * the host directory and its nestfs server (a sandboxed process of its own,
 * `nestbox fs serve`, never a thread of ours), where the guest mounts it, how
 * it travels (a virtio-serial port QEMU carries, or an AF_VSOCK port the
 * guest connects to) and under which name the guest finds it. QEMU's argv
 * (vm/qemu.c) and the guest's CONFIG (vm/launch.c) are made from it; the
 * launch context owns the table of them (at most NB_MAX_SHARES). */
#ifndef NESTBOX_VM_SHARE_H
#define NESTBOX_VM_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control/proto.h"
#include "lib/err.h"

struct nb_vsock;

/**
 * struct nb_share - one nestfs share
 * @host:	the exported host directory (not owned)
 * @guest:	where the guest mounts it ("/" for the root; not owned)
 * @ro:		read-only: the guest mounts it so, and @srv refuses writes
 * @root:	the image's root: the lower layer of the guest's overlay; a private
 *		tree, served with full semantics (set-id bits, every xattr)
 * @suid:	a volume's `suid`: set-id bits and security./trusted. xattrs kept
 * @dev:	a volume's `dev`: device nodes may be made
 * @vsock_port:	the host AF_VSOCK port the guest connects to; 0: virtio-serial
 * @port:	the name the guest looks it up by: "nestbox.fs.N" (the
 *		virtio-serial port) or "vsock:PORT"
 * @qemu_fd:	virtio-serial: QEMU's end of the stream (-1 with vsock, and
 *		once QEMU holds it)
 * @exe:	the program run as the server (NULL: this one, /proc/self/exe;
 *		unit tests, which are not nestbox, name another)
 * @srv_pid:	the server's process (0: none), `nestbox fs serve` of @host in
 *		its sandbox (fs/sandbox.h), serving the stream or listener it was
 *		given as fd 3
 * @srv_pidfd:	a pidfd for it (-1: none)
 */
struct nb_share {
	const char *host;
	const char *guest;
	bool ro;
	bool root;
	bool suid;
	bool dev;
	uint32_t vsock_port;
	char port[32];
	int qemu_fd;
	const char *exe;
	pid_t srv_pid;
	int srv_pidfd;
};

/**
 * nb_share_open() - start serving @s->host for share number @index: its
 * nestfs server's process, given a virtio-serial stream (@vs NULL; QEMU
 * gets the other end) or a vsock listener that takes only @vs's guest
 * @s:		@host, @guest, @ro, @root, @suid and @dev filled; the rest is set here
 *
 * Return: 0, or negative errno with @e naming the directory; on failure
 * @s holds nothing (nb_share_close() is still safe)
 */
int nb_share_open(struct nb_share *s, unsigned index, struct nb_vsock *vs, struct nb_err *e);

/* nb_share_ctl() - @s as the guest's CONFIG carries it */
struct nb_ctl_share nb_share_ctl(const struct nb_share *s);

/* nb_share_close() - stop the server (SIGTERM, SIGKILL after 2 s) and reap it, close
 * QEMU's end; safe twice */
void nb_share_close(struct nb_share *s);

/**
 * nb_share_failed() - how @s's server ended, if it ended badly; does not reap it
 * @why:	set to "exited with status N" or "was killed by signal N"
 *
 * Return: true if the server is gone other than by exiting 0 (a server whose
 * guest closed its connection exits 0)
 */
bool nb_share_failed(const struct nb_share *s, char *why, size_t len);

#endif
