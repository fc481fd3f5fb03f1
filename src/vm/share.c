/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/share: one nestfs share, its server's process and its transport (see share.h). */
#include "vm/share.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/strv.h"
#include "vm/vsock.h"

/*
 * `nestbox fs serve DIR --listen fd:3` as our child, @fd its fd 3: a
 * process of its own, which sandboxes itself (fs/sandbox.c), so that a
 * guest that subverts its server reaches neither us nor another VM. It dies
 * with us. Return: its pid (and *@pidfd), or negative errno.
 */
static pid_t spawn_server(const struct nb_share *s, int fd, uint32_t cid, int *pidfd,
			  struct nb_err *e)
{
	struct nb_strv a = { 0 };
	char **argv;
	pid_t parent = getpid(), pid;
	int pfd;

	nb_strv_addf(&a, "nestbox");
	if (nb_log_level() >= NB_LOG_DEBUG)
		nb_strv_addf(&a, "--debug");
	nb_strv_addf(&a, "fs");
	nb_strv_addf(&a, "serve");
	nb_strv_addf(&a, "--listen");
	nb_strv_addf(&a, "fd:3");
	nb_strv_addf(&a, "--threads");
	nb_strv_addf(&a, "4");
	/* An image's root does not change under a running VM: let the guest
	 * cache it. Volumes are shared with the host: auto. */
	nb_strv_addf(&a, "--cache");
	nb_strv_addf(&a, "%s", s->root ? "always" : "auto");
	if (s->ro)
		nb_strv_addf(&a, "--read-only");
	/* As the host sees a volume: nosuid and nodev unless it says otherwise;
	 * the image's root is a private tree, served with full semantics. */
	if (s->root || s->dev)
		nb_strv_addf(&a, "--allow-devices");
	if (!s->root && !s->suid)
		nb_strv_addf(&a, "--nosuid");
	if (cid) {
		nb_strv_addf(&a, "--peer-cid");
		nb_strv_addf(&a, "%u", cid);
	}
	nb_strv_addf(&a, "--");
	nb_strv_addf(&a, "%s", s->host);
	argv = nb_strv_steal(&a);
	if (!argv)
		return nb_err_set(e, ENOMEM, "nestfs server for %s: out of memory", s->host);
	pid = fork();
	if (pid < 0) {
		nb_strv_free(argv);
		return nb_err_sys(e, errno, "nestfs server for %s: fork", s->host);
	}
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(125);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		if (fd == 3)
			fcntl(fd, F_SETFD, 0);
		else if (dup2(fd, 3) < 0)
			_exit(125);
		execv(s->exe ? s->exe : "/proc/self/exe", argv);
		fprintf(stderr, "nestbox: exec the nestfs server of %s: %s\n", s->host,
			strerror(errno));
		_exit(125);
	}
	nb_strv_free(argv);
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0) {
		int r = errno;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return nb_err_sys(e, r, "nestfs server for %s: pidfd_open", s->host);
	}
	fcntl(pfd, F_SETFD, FD_CLOEXEC);
	*pidfd = pfd;
	return pid;
}

/* nb_share_open() - see share.h */
int nb_share_open(struct nb_share *s, unsigned index, struct nb_vsock *vs, struct nb_err *e)
{
	autoclose int theirs = -1;
	struct stat st;
	int sp[2];
	pid_t pid;

	s->qemu_fd = -1;
	s->vsock_port = 0;
	s->srv_pid = 0;
	s->srv_pidfd = -1;
	/* Named here, at once, rather than by a server that exits later. */
	if (stat(s->host, &st) < 0)
		return nb_err_sys(e, errno, "nestfs server for %s", s->host);
	if (!S_ISDIR(st.st_mode))
		return nb_err_set(e, ENOTDIR, "nestfs server for %s: not a directory", s->host);
	if (vs) {
		theirs = nb_vsock_listen(&s->vsock_port, e);
		if (theirs < 0)
			return nb_err_wrap(e, "nestfs server for %s", s->host);
		snprintf(s->port, sizeof(s->port), "vsock:%u", s->vsock_port);
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return nb_err_sys(e, errno, "socketpair for %s", s->host);
		s->qemu_fd = sp[0];
		theirs = sp[1];
		snprintf(s->port, sizeof(s->port), "nestbox.fs.%u", index);
	}
	pid = spawn_server(s, theirs, vs ? vs->cid : 0, &s->srv_pidfd, e);
	if (pid < 0) {
		nb_share_close(s);
		return (int)pid;
	}
	s->srv_pid = pid;
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
	if (s->srv_pid > 0) {
		struct pollfd p = { .fd = s->srv_pidfd, .events = POLLIN };

		kill(s->srv_pid, SIGTERM);
		if (poll(&p, 1, 2000) <= 0)
			kill(s->srv_pid, SIGKILL);
		while (waitpid(s->srv_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (s->srv_pidfd >= 0)
		close(s->srv_pidfd);
	s->srv_pid = 0;
	s->srv_pidfd = -1;
}

/* nb_share_failed() - see share.h */
bool nb_share_failed(const struct nb_share *s, char *why, size_t len)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (s->srv_pid <= 0 ||
	    waitid(P_PID, (id_t)s->srv_pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	    si.si_pid != s->srv_pid)
		return false;
	if (si.si_code == CLD_EXITED && si.si_status == 0)
		return false;
	if (si.si_code == CLD_EXITED)
		snprintf(why, len, "exited with status %d", si.si_status);
	else
		snprintf(why, len, "was killed by signal %d", si.si_status);
	return true;
}
