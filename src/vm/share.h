/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/share: one nestfs share of a VM, the one object that knows all of it:
 * the host directory and its nestfs server, where the guest mounts it, how
 * it travels (a virtio-serial port QEMU carries, or an AF_VSOCK port the
 * guest connects to) and under which name the guest finds it. QEMU's argv
 * (vm/qemu.c) and the guest's CONFIG (vm/launch.c) are made from it; the
 * launch context owns the table of them (at most NB_MAX_SHARES). */
#ifndef NESTBOX_VM_SHARE_H
#define NESTBOX_VM_SHARE_H

#include <stdbool.h>
#include <stdint.h>

#include "control/proto.h"
#include "fs/server.h"
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
 * @srv:	the nestfs server exporting @host
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
	struct nestfs_server *srv;
};

/**
 * nb_share_open() - start serving @s->host for share number @index: its
 * nestfs server, and a virtio-serial stream (@vs NULL) or a vsock listener
 * on @vs that hands the guest's connection to the server
 * @s:		@host, @guest, @ro and @root filled; the rest is set here
 *
 * Return: 0, or negative errno with @e naming the directory; on failure
 * @s holds nothing (nb_share_close() is still safe)
 */
int nb_share_open(struct nb_share *s, unsigned index, struct nb_vsock *vs, struct nb_err *e);

/* nb_share_ctl() - @s as the guest's CONFIG carries it */
struct nb_ctl_share nb_share_ctl(const struct nb_share *s);

/* nb_share_close() - stop the server, close QEMU's end; safe twice */
void nb_share_close(struct nb_share *s);

#endif
