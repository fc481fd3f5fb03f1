/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox-init: PID 1 of a nestbox VM. The order of things is in main(). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/agent.h"
#include "guest/guest.h"
#include "guest/setup.h"
#include "lib/cleanup.h"
#include "lib/err.h"

/* Whichever of stdin, stdout and stderr the kernel left closed goes to the console. */
static void console_stdio(void)
{
	autoclose int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
}

/* The late modules, then the network (its driver is among them). */
static void *late_setup(void *arg)
{
	const struct nb_ctl_config *cfg = arg;

	guest_load_modules("/nestbox/modules.late");
	guest_setup_net(cfg);
	return NULL;
}

int main(void)
{
	struct guest g = { .ctl = -1 };
	uint64_t t_init = guest_now_ns();
	struct nb_err e = NB_ERR_INIT;
	char ctl_port[64];
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
	/* The rng and network load while the root is mounted: the root waits on
	 * the host, which leaves the vCPU to them. */
	late_ok = pthread_create(&late, NULL, late_setup, &g.cfg) == 0;
	if (!late_ok)
		late_setup(&g.cfg);
	if (guest_setup_root(&g, &e) < 0)
		guest_fatal(&g, "%s", e.msg);
	if (late_ok)
		pthread_join(late, NULL);
	nb_ctl_put_phase(&g.out, NB_PHASE_ROOT, guest_now_ns());
	guest_flush(&g, 0);
	code = guest_agent_run(&g);
	(void)code;
	guest_ctl_finish(&g);
	guest_poweroff();
}
