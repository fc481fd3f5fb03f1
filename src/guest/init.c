/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox-init: PID 1 of a nestbox VM. The order of things is in main(). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	while (g->out.len && g->ctl >= 0) {
		ssize_t n = write(g->ctl, g->out.data, g->out.len);

		if (n > 0) {
			nb_ctl_buf_consume(&g->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = g->ctl, .events = POLLOUT };

			if (!blocking)
				return;
			/* The host may be gone for good; do not wait forever. */
			if (poll(&p, 1, 30000) <= 0) {
				g->out.len = 0;
				return;
			}
			continue;
		}
		g->out.len = 0; /* port closed: nobody to tell */
		return;
	}
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

static void console_stdio(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
	close(fd);
}

/* The late modules, then the network (its driver is among them). */
static void *late_setup(void *arg)
{
	const struct nb_ctl_config *cfg = arg;

	guest_load_modules("/nestbox/modules.late");
	guest_setup_net(cfg);
	return NULL;
}

int main(int argc, char **argv)
{
	struct guest g = { .ctl = -1, .argv0 = argc > 0 ? argv[0] : NULL };
	uint64_t t_init = guest_now_ns();
	char err[1024], ctl_port[64];
	sigset_t chld;
	pthread_t late;
	bool late_ok;
	int code;

	/* SIGCHLD is read from a signalfd by the agent, which works only while
	 * every thread blocks it: block it before the nestfs pump threads exist,
	 * or the kernel may hand a child's exit to one of them and drop it. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	signal(SIGPIPE, SIG_IGN);
	guest_early_mounts();
	console_stdio();
	guest_load_modules("/nestbox/modules");
	if (!guest_cmdline_has("pci=off"))
		guest_load_modules("/nestbox/modules.pci");
	guest_control_port(ctl_port, sizeof(ctl_port));
	if (strncmp(ctl_port, "vsock:", 6) == 0)
		guest_load_modules("/nestbox/modules.vsock");
	g.ctl = guest_open_port(ctl_port);
	if (g.ctl < 0)
		guest_fatal(NULL, "open control port %s: %s", ctl_port, strerror(-g.ctl));
	fcntl(g.ctl, F_SETFL, fcntl(g.ctl, F_GETFL) | O_NONBLOCK);
	nb_ctl_put_phase(&g.out, NB_PHASE_INIT, t_init);
	nb_ctl_put_phase(&g.out, NB_PHASE_MODULES, guest_now_ns());
	guest_flush(&g, 0);
	if (guest_read_spec(&g) < 0)
		guest_fatal(&g, "read /nestbox/spec: malformed or missing");
	if (guest_spec_is_system(&g))
		guest_system_run(&g);
	/* The rng and network load while the root is mounted: the root waits on
	 * the host, which leaves the vCPU to them. */
	late_ok = pthread_create(&late, NULL, late_setup, &g.cfg) == 0;
	if (!late_ok)
		late_setup(&g.cfg);
	if (guest_setup_root(&g, err, sizeof(err)) < 0)
		guest_fatal(&g, "%s", err);
	if (late_ok)
		pthread_join(late, NULL);
	nb_ctl_put_phase(&g.out, NB_PHASE_ROOT, guest_now_ns());
	guest_flush(&g, 0);
	code = guest_agent_run(&g);
	(void)code;
	guest_ctl_finish(&g);
	guest_poweroff();
}
