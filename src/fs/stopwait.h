/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stopwait: the one blocking wait both nestfs ends use — for a stream to be
 * ready, or for their stop eventfd. Header-only: the client is also built
 * alone (musl, static) into the guest's PID 1. */
#ifndef NESTBOX_FS_STOPWAIT_H
#define NESTBOX_FS_STOPWAIT_H

#include <errno.h>
#include <poll.h>

/**
 * nestfs_wait_fd() - wait until @fd is ready for @events or @stopfd is readable
 * Return: 0 when @fd is ready, -EPIPE on stop, or -errno from poll()
 */
static inline int nestfs_wait_fd(int fd, short events, int stopfd)
{
	struct pollfd p[2] = { { fd, events, 0 }, { stopfd, POLLIN, 0 } };

	for (;;) {
		int n = poll(p, 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents)
			return -EPIPE;
		if (p[0].revents)
			return 0;
	}
}

#endif
