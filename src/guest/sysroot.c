/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest sysroot: `run --system` — switch_root into the image's own init.
 *
 * Theory of operation: the root is a FUSE mount whose server side (the
 * nestfs pump) is a set of threads; threads do not survive exec, and
 * systemd must be PID 1. So PID 1 forks before anything is mounted: the
 * child mounts the root and the volumes (its threads pump them from then
 * on), writes what the system needs into the overlay's upper layer (the
 * host keys, journald's drop-in, the journal-flush mask), and tells PID 1;
 * PID 1 moves the new root onto /, chroots into it and execs the image's
 * init. The child stays, as systemd's "root storage daemon" (argv[0]
 * starting with '@': systemd-shutdown's last killing spree spares it), owns
 * the control port, reports the phases and turns the host's stop into
 * systemd's poweroff signal. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/setup.h"
#include "guest/sysroot.h"
#include "lib/err.h"

/* What systemd takes as "power off": SIGRTMIN+4 (systemd(1), SIGNALS) as
 * glibc numbers it. */
#define SYSTEMD_POWEROFF 38 /* glibc SIGRTMIN (34) + 4; musl counts its SIGRTMIN from 35 */

/* Write @text to @path (a new file, @mode), not through a symlink; 0 or -errno. */
static int write_file(const char *path, const char *text, mode_t mode)
{
	size_t n = strlen(text);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0 || write(fd, text, n) != (ssize_t)n) {
		int r = errno ? -errno : -EIO;

		close(fd);
		return r;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* mkdir -p of @path, a path under GUEST_NEWROOT (which exists). */
static void mkdir_in_root(const char *path)
{
	char p[512];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + sizeof(GUEST_NEWROOT); *s; s++) {
		if (*s == '/') {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
	}
	mkdir(p, 0755);
}

/* The value of @key in the SPAWN's env (the system's parameters), or NULL. */
static const char *spawn_env(const struct nb_ctl_spawn *sp, const char *key)
{
	size_t n = strlen(key);

	for (char **p = sp->env; p && *p; p++)
		if (strncmp(*p, key, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

/* The files systemd and sshd need, in the overlay's upper layer. */
static int write_system_files(const struct nb_ctl_spawn *sp, char *err, size_t errlen)
{
	static const char journald[] =
		"# nestbox: the journal stays in memory (nothing is written to the\n"
		"# image's root) and goes to the console, which the host keeps.\n"
		"[Journal]\nStorage=volatile\nForwardToConsole=yes\n";
	const char *key = spawn_env(sp, NB_SYSTEM_ENV_HOST_KEY);
	const char *pub = spawn_env(sp, NB_SYSTEM_ENV_HOST_PUB);
	const char *path;
	int r;

	mkdir_in_root(GUEST_NEWROOT "/etc/systemd/journald.conf.d");
	mkdir_in_root(GUEST_NEWROOT "/etc/systemd/system");
	mkdir_in_root(GUEST_NEWROOT "/etc/ssh");
	path = GUEST_NEWROOT "/etc/systemd/journald.conf.d/50-nestbox.conf";
	r = write_file(path, journald, 0644);
	if (r < 0)
		goto fail;
	/* journalctl --flush moves the journal onto the root: masked. */
	path = GUEST_NEWROOT "/etc/systemd/system/systemd-journal-flush.service";
	unlink(path);
	if (symlink("/dev/null", path) < 0) {
		r = -errno;
		goto fail;
	}
	if (key && pub) {
		path = GUEST_NEWROOT "/etc/ssh/ssh_host_ed25519_key";
		r = write_file(path, key, 0600);
		if (r < 0)
			goto fail;
		path = GUEST_NEWROOT "/etc/ssh/ssh_host_ed25519_key.pub";
		r = write_file(path, pub, 0644);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "write %s: %s", path + strlen(GUEST_NEWROOT), strerror(-r));
	return r;
}

/* The storage daemon's life after PID 1 has exec'd init: the host's stop
 * (SIGNAL to process 0, or SHUTDOWN) becomes systemd's poweroff; an exec's
 * SPAWN is refused at once. */
static __attribute__((noreturn)) void serve(struct guest *g)
{
	uint8_t buf[4096];
	size_t have = 0;

	for (;;) {
		struct pollfd p = { .fd = g->ctl, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, -1) < 0)
			continue;
		n = read(g->ctl, buf + have, sizeof(buf) - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			/* The host is gone: nothing will read us again. */
			pause();
			continue;
		}
		have += (size_t)n;
		for (;;) {
			struct nb_ctl_frame f;
			int used = nb_ctl_parse(buf, have, &f);

			if (used < 0) {
				have = 0; /* a malformed frame costs what was buffered */
				break;
			}
			if (used == 0) {
				if (have == sizeof(buf))
					have = 0;
				break;
			}
			if (f.type == NB_CTL_SPAWN && f.proc != 0) {
				/* exec: nothing here runs commands; answer, never hang. */
				nb_ctl_put_exit(&g->out, f.proc, 125,
						"a --system VM runs no nestbox agent: use nestbox ssh");
				guest_flush(g, 1);
			} else if (f.type == NB_CTL_SHUTDOWN ||
				   (f.type == NB_CTL_SIGNAL && f.proc == 0)) {
				struct nb_ctl_cur c;
				uint32_t sig = SIGTERM;

				nb_ctl_cur_init(&c, &f);
				if (f.type == NB_CTL_SIGNAL && nb_ctl_get_u32(&c, &sig) < 0)
					sig = 0;
				if (sig == SIGKILL) {
					sync();
					reboot(RB_POWER_OFF);
				} else if (f.type == NB_CTL_SHUTDOWN || sig == SIGTERM ||
					   sig == SIGINT || sig == SIGHUP) {
					/* The record's code: a clean stop is 0. */
					nb_ctl_put_exit(&g->out, 0, 0, "");
					guest_flush(g, 1);
					kill(1, SYSTEMD_POWEROFF);
				}
			}
			memmove(buf, buf + used, have - (size_t)used);
			have -= (size_t)used;
		}
	}
}

/* The child: mount, prepare, tell PID 1 (@ready), wait until its exec
 * closes @execd, report, serve. Never returns. */
static __attribute__((noreturn)) void storage_daemon(struct guest *g, const struct nb_ctl_spawn *sp,
						     int ready, int execd)
{
	struct nb_err e = NB_ERR_INIT;
	char err[1024] = "", msg[1024];
	ssize_t n;

	/* systemd's convention for processes that serve the root. */
	if (g->argv0 && g->argv0[0])
		g->argv0[0] = '@';
	guest_load_modules("/nestbox/modules.late");
	guest_setup_net(&g->cfg);
	if (guest_mount_root(g, &e) < 0)
		snprintf(err, sizeof(err), "%s", e.msg);
	if (err[0] || write_system_files(sp, err, sizeof(err)) < 0) {
		guest_log("%s", err);
		nb_ctl_put_error(&g->out, err);
		guest_ctl_finish(g);
		guest_poweroff();
	}
	nb_ctl_put_phase(&g->out, NB_PHASE_ROOT, guest_now_ns());
	guest_flush(g, 0);
	if (write(ready, "ok", 2) != 2)
		guest_poweroff();
	close(ready);
	/* PID 1 writes here only if its exec failed; EOF means init runs. */
	do {
		n = read(execd, msg, sizeof(msg) - 1);
	} while (n < 0 && errno == EINTR);
	close(execd);
	if (n > 0) {
		msg[n] = 0;
		guest_log("%s", msg);
		nb_ctl_put_error(&g->out, msg);
		guest_ctl_finish(g);
		guest_poweroff();
	}
	nb_ctl_put_phase(&g->out, NB_PHASE_COMMAND, guest_now_ns());
	guest_flush(g, 1);
	serve(g);
}

/* guest_spec_is_system() - see sysroot.h */
bool guest_spec_is_system(const struct guest *g)
{
	struct nb_ctl_cur c;
	uint32_t flags = 0;

	nb_ctl_cur_init(&c, &g->spawn_frame);
	return nb_ctl_get_u32(&c, &flags) == 0 && (flags & NB_SPAWN_SYSTEM);
}

/* guest_system_run() - see sysroot.h */
void guest_system_run(struct guest *g)
{
	struct nb_ctl_spawn sp = { 0 };
	int ready[2], execd[2];
	char ok[8];
	ssize_t n;
	pid_t pid;

	if (nb_ctl_decode_spawn(&g->spawn_frame, &sp) < 0 || !sp.argv || !sp.argv[0] ||
	    sp.argv[0][0] != '/')
		guest_fatal(g, "the spec's init is malformed");
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(execd, O_CLOEXEC) < 0)
		guest_fatal(g, "pipe: %s", strerror(errno));
	guest_flush(g, 1);
	pid = fork();
	if (pid < 0)
		guest_fatal(g, "fork the root storage daemon: %s", strerror(errno));
	if (pid == 0) {
		close(ready[0]);
		close(execd[1]);
		storage_daemon(g, &sp, ready[1], execd[0]);
	}
	/* From here on only the daemon writes to the control port. */
	close(ready[1]);
	close(execd[0]);
	do {
		n = read(ready[0], ok, sizeof(ok));
	} while (n < 0 && errno == EINTR);
	if (n != 2)
		for (;;)
			pause(); /* the daemon reports and powers off */
	if (chdir(GUEST_NEWROOT) < 0 || mount(GUEST_NEWROOT, "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0) {
		dprintf(execd[1], "switch_root to the image: %s", strerror(errno));
	} else {
		/* What the kernel gives init; systemd wants no more. */
		char *envp[] = { "HOME=/", "TERM=linux", NULL };
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execve(sp.argv[0], sp.argv, envp);
		dprintf(execd[1], "exec %s in the image: %s", sp.argv[0], strerror(errno));
	}
	close(execd[1]);
	for (;;)
		pause();
}
