/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/sysrun: run --system and ssh, from the CLI's side. */
#include "box/sysrun.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "system/system.h"
#include "box/manage.h"
#include "box/state.h"
#include "lib/clock.h"

/* How long a stop waits for systemd's poweroff before it kills the VM. */
#define STOP_TIMEOUT_S 20
#define TAIL_LINES     12
#define MAX_FAILED     8

/* Phases on a TTY: one line each, with the time since the start. */
struct phases {
	bool tty;	  /* stderr is a terminal (and not --quiet): show them */
	uint64_t t0;	  /* CLOCK_MONOTONIC at the start */
	const char *last; /* the last phase reached, for a timeout's message */
};

/* Phase @name reached (@detail: more, or NULL): say so on a TTY. */
static void phase(struct phases *p, const char *name, const char *detail)
{
	p->last = name;
	if (p->tty)
		fprintf(stderr, "nestbox: [%5.1fs] %s%s%s\n", (double)(nb_mono_ns() - p->t0) / 1e9,
			name, detail ? ": " : "", detail ? detail : "");
}

/* @line without terminal escapes and carriage returns, in place. */
static void plain(char *line)
{
	char *w = line;

	for (char *r = line; *r; r++) {
		if (*r == '\033') {
			r++;
			if (*r == '[')
				while (r[1] && !((r[1] >= '@' && r[1] <= '~')))
					r++;
			if (*r && r[1])
				r++;
			continue;
		}
		if (*r != '\r')
			*w++ = *r;
	}
	*w = 0;
}

/* The units the console says failed ("Failed to start UNIT"), comma-separated. */
static void failed_units(char *console, char *out, size_t len)
{
	size_t used = 0;
	unsigned n = 0;
	char seen[MAX_FAILED][128];

	out[0] = 0;
	for (char *p = console; (p = strstr(p, "Failed to start ")) && n < MAX_FAILED;) {
		char unit[128];
		bool dup = false;

		p += strlen("Failed to start ");
		snprintf(unit, sizeof(unit), "%.*s", (int)strcspn(p, " \n"), p);
		if (unit[0] && unit[strlen(unit) - 1] == '.')
			unit[strlen(unit) - 1] = 0;
		for (unsigned i = 0; i < n; i++)
			dup = dup || strcmp(seen[i], unit) == 0;
		if (dup || !unit[0])
			continue;
		snprintf(seen[n++], sizeof(seen[0]), "%s", unit);
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s",
					 used ? ", " : "", unit);
	}
}

/* "last phase ..., failed units: ..., console tail: ..." from @dir/console.log. */
static void boot_report(const char *dir, char *out, size_t len)
{
	static char buf[256 * 1024];
	char path[PATH_MAX + 32], failed[512];
	autoclose int fd = -1;
	ssize_t n = 0;
	off_t size;
	char *tail;
	int lines = 0;

	snprintf(out, len, "(no console output)");
	snprintf(path, sizeof(path), "%s/console.log", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 256 * 1024 - 1)
		lseek(fd, size - (256 * 1024 - 1), SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, 256 * 1024 - 1);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == 0)
			buf[i] = ' ';
	plain(buf);
	failed_units(buf, failed, sizeof(failed));
	tail = buf + strlen(buf);
	while (tail > buf && (tail[-1] == '\n' || tail[-1] == ' '))
		*--tail = 0;
	while (tail > buf && lines < TAIL_LINES)
		if (*--tail == '\n')
			lines++;
	if (*tail == '\n')
		tail++;
	snprintf(out, len, "failed units: %s; console tail:\n%s", failed[0] ? failed : "none",
		 tail);
}

/* Wait until sshd answers on @port, the VM dies, or @deadline (mono ns). */
static int wait_ssh(const struct nb_vm_state *st, const struct nb_sys *sys, uint64_t deadline)
{
	while (nb_mono_ns() < deadline) {
		struct nb_vm_state now;

		uint64_t left_ms = (deadline - nb_mono_ns()) / 1000000ull + 1;

		/* Under TCG on a busy host sshd's banner can take seconds (it
		 * re-execs itself per connection); a port nobody listens on in
		 * the guest is closed by QEMU at once, so waiting is cheap. */
		if (nb_sys_ssh_ready(sys->port, left_ms < 15000 ? (int)left_ms : 15000))
			return 0;
		if (nb_state_read(st->dir, &now, NULL) < 0 || !now.alive)
			return -ECHILD;
		usleep(250 * 1000);
	}
	return -ETIMEDOUT;
}

/* nb_system_run() - see sysrun.h */
int nb_system_run(const struct nb_run_opts *o, struct nb_err *e)
{
	struct phases ph = { .tty = isatty(STDERR_FILENO) && nb_log_level() >= NB_LOG_WARN,
			     .t0 = nb_mono_ns() };
	bool has_cmd = o->cmd && o->cmd[0], tty = !has_cmd && isatty(STDIN_FILENO);
	struct nb_port ports[NB_MAX_PORTS];
	struct nb_run_opts so_buf, *so = &so_buf;
	struct nb_vm_state st;
	struct nb_sys sys;
	unsigned boot_to = o->vm.boot_timeout_ms ? o->vm.boot_timeout_ms
						 : NB_SYSTEM_BOOT_TIMEOUT_MS;
	uint64_t deadline = ph.t0 + (uint64_t)boot_to * 1000000ull;
	int port, r, code;

	if (!o->image)
		return nb_err_set(e, EINVAL, "--system boots an image (not --rootfs)");
	if (o->entrypoint || o->tty || o->interactive || o->workdir || o->user || o->env ||
	    o->vm.kernel.kind != NB_KERNEL_DEFAULT)
		return nb_err_set(e, EINVAL, "--system: -i, -t, -e, -w, -u, --entrypoint and "
				  "--kernel are for containers (the image's kernel boots; the "
				  "command runs over ssh)");
	if (!o->detach && !has_cmd && !tty)
		return nb_err_set(e, EINVAL, "--system without a command needs a terminal "
				  "(or -d)");
	if (o->vm.nports >= NB_MAX_PORTS)
		return nb_err_set(e, E2BIG, "too many ports (--system forwards one for ssh)");
	port = nb_sys_free_port(e);
	if (port < 0)
		return port;
	*so = *o;
	so->ssh_port = (unsigned)port;
	for (unsigned i = 0; i < o->vm.nports; i++)
		ports[i] = o->vm.ports[i];
	ports[o->vm.nports] = (struct nb_port){ .family = AF_INET, .addr = "127.0.0.1",
					     .host = (uint16_t)port, .guest = 22,
					     .proto = NB_PROTO_TCP };
	so->vm.ports = ports;
	so->vm.nports = o->vm.nports + 1;
	so->vm.boot_timeout_ms = boot_to;
	/* The VM's life is the supervisor's (with the CLI's as its lifeline). */
	so->detach = true;
	phase(&ph, "kernel", o->image);
	/* Without -d the VM lives as long as this process (SIGKILL too). */
	r = nb_run_detached(so, o->detach ? 0 : getpid(), &st, e);
	if (r != 0)
		return r < 0 || e->code ? NB_EXIT_FAILURE : r;
	phase(&ph, "systemd", NULL);
	r = nb_sys_load(st.dir, &sys, e);
	if (r == 0)
		r = wait_ssh(&st, &sys, deadline);
	if (r < 0) {
		static char rep[8192];
		char what[160];

		if (r == -ETIMEDOUT)
			snprintf(what, sizeof(what), "boot timed out after %u s: last phase %s, "
				 "sshd did not answer on 127.0.0.1:%u", boot_to / 1000, ph.last,
				 sys.port);
		else
			snprintf(what, sizeof(what), "the VM stopped before sshd answered (last "
				 "phase %s)", ph.last);
		boot_report(st.dir, rep, sizeof(rep));
		nb_vm_rm(st.id, true, NULL);
		if (e->code)
			return NB_EXIT_FAILURE;
		nb_err_set(e, r == -ETIMEDOUT ? ETIMEDOUT : ECHILD, "%s; %s", what, rep);
		return NB_EXIT_FAILURE;
	}
	{
		char addr[64];

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", sys.port);
		phase(&ph, "sshd ready", addr);
	}
	if (o->detach) {
		printf("%s\n", st.name);
		return 0;
	}
	code = nb_sys_ssh_run(&sys, has_cmd ? o->cmd : NULL, tty, e);
	/* systemd powers off; the supervisor removes an --rm record. */
	nb_vm_stop(st.id, STOP_TIMEOUT_S, NULL);
	if (o->rm)
		nb_vm_rm(st.id, true, NULL);
	return code < 0 ? NB_EXIT_FAILURE : code;
}

/* nb_system_ssh() - see sysrun.h */
int nb_system_ssh(const char *name, char *const *cmd, struct nb_err *e)
{
	struct nb_vm_state st;
	struct nb_sys sys;
	bool tty = !(cmd && cmd[0]) && isatty(STDIN_FILENO);
	int r = nb_state_find(name, &st, e);

	if (r < 0)
		return NB_EXIT_FAILURE;
	if (!st.alive) {
		nb_err_set(e, ESRCH, "VM %s is not running", st.name);
		return NB_EXIT_FAILURE;
	}
	if (nb_sys_load(st.dir, &sys, e) < 0) {
		nb_err_wrap(e, "VM %s", st.name);
		return NB_EXIT_FAILURE;
	}
	r = nb_sys_ssh_run(&sys, cmd, tty, e);
	return r < 0 ? NB_EXIT_FAILURE : r;
}
