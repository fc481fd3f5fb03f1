/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest/host: how every part of nestbox-init reaches the host (see guest.h):
 * the console log, the control port's queue, a fatal error, power-off. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guest/guest.h"

/* guest_log() - see guest.h */
void guest_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(2, "nestbox-init: ", 14) == 14 && write(2, buf, (size_t)n) == n)
		return;
}

/* guest_now_ns() - see guest.h */
uint64_t guest_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* guest_flush() - see guest.h; @blocking waits until everything is written */
void guest_flush(struct guest *g, int blocking)
{
	/* The host may be gone for good: a blocking flush waits 30 s at most. */
	if (g->ctl >= 0)
		nb_ctl_buf_flush(&g->out, g->ctl, blocking ? 30000 : 0);
}

/* guest_ctl_finish() - see guest.h */
void guest_ctl_finish(struct guest *g)
{
	struct pollfd p;
	char buf[256];
	int type = 0;
	socklen_t len = sizeof(type);

	if (g->ctl < 0)
		return;
	guest_flush(g, 1);
	/* A virtio-serial port delivers what was written before power-off; a
	 * vsock stream may still hold it in the guest's queue: wait for the
	 * host's EOF, which it sends once it has read ours. */
	if (getsockopt(g->ctl, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return;
	shutdown(g->ctl, SHUT_WR);
	p = (struct pollfd){ .fd = g->ctl, .events = POLLIN };
	while (poll(&p, 1, 5000) > 0) {
		ssize_t n = read(g->ctl, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
}

/* guest_poweroff() - see guest.h */
void guest_poweroff(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

/* guest_fatal() - see guest.h */
void guest_fatal(struct guest *g, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	guest_log("%s", buf);
	if (g && g->ctl >= 0) {
		nb_ctl_put_error(&g->out, buf);
		guest_ctl_finish(g);
	}
	guest_poweroff();
}
