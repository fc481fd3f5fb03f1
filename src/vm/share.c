/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/share: one nestfs share, its server and its transport (see share.h). */
#include "vm/share.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "vm/vsock.h"

/* nb_share_open() - see share.h */
int nb_share_open(struct nb_share *s, unsigned index, struct nb_vsock *vs, struct nb_err *e)
{
	/* An image's root does not change under a running VM: let the guest
	 * cache it. Volumes are shared with the host: auto; and as the host
	 * sees them, nosuid and nodev unless the volume says otherwise. */
	const struct nestfs_server_opts so = {
		.read_only = s->ro, .cache = s->root ? NESTFS_CACHE_ALWAYS : NESTFS_CACHE_AUTO,
		.threads = 4, .allow_devices = s->root || s->dev, .allow_suid = s->root || s->suid,
	};
	autoclose int ours = -1;
	int sp[2], r;

	s->qemu_fd = -1;
	s->vsock_port = 0;
	s->srv = NULL;
	if (!vs) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return nb_err_sys(e, errno, "socketpair for %s", s->host);
		s->qemu_fd = sp[0];
		ours = sp[1];
	}
	s->srv = nestfs_server_new(s->host, &so, e);
	if (!s->srv) {
		nb_share_close(s);
		return nb_err_wrap(e, "nestfs server for %s", s->host);
	}
	if (vs) {
		r = nb_vsock_listen(vs, s->srv, &s->vsock_port, e);
		snprintf(s->port, sizeof(s->port), "vsock:%u", s->vsock_port);
	} else {
		r = nestfs_server_add_conn(s->srv, steal_fd(&ours), e);
		snprintf(s->port, sizeof(s->port), "nestbox.fs.%u", index);
	}
	if (r < 0) {
		nb_share_close(s);
		return nb_err_wrap(e, "nestfs server for %s", s->host);
	}
	return 0;
}

/* nb_share_ctl() - see share.h */
struct nb_ctl_share nb_share_ctl(const struct nb_share *s)
{
	return (struct nb_ctl_share){
		.port = s->port,
		.target = s->guest,
		.flags = (s->ro ? NB_SHARE_RO : 0) | (s->root ? NB_SHARE_ROOT : 0),
	};
}

/* nb_share_close() - see share.h */
void nb_share_close(struct nb_share *s)
{
	if (s->qemu_fd >= 0)
		close(s->qemu_fd);
	s->qemu_fd = -1;
	if (s->srv)
		nestfs_server_free(s->srv);
	s->srv = NULL;
}
