/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest agent: spawn processes, relay their stdio over the control port,
 * forward signals and window sizes, reap everything, report exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "guest/agent.h"
#include "lib/cleanup.h"
#include "lib/err.h"

#define MAX_PROCS     32
#define MAX_STDIN_BUF (64u << 20)
#define DEFAULT_PATH  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* epoll cookies: kind in the low byte, proc slot above it */
enum { EV_CTL = 1, EV_SIG, EV_OUT, EV_ERR, EV_IN };

/* One process the agent started: the main command (id 0) or an exec'd one. */
struct proc {
	bool used;		/* the slot holds a process */
	uint16_t id;		/* the host's process id in frames (nb_ctl_frame.proc) */
	pid_t pid;		/* its guest pid */
	bool tty;		/* on a pty: @out_fd is the master, no @err_fd */
	int in_fd;		/* its stdin (pipe or pty master), -1 without one */
	int out_fd, err_fd;	/* its stdout and stderr, -1 once at EOF */
	struct nb_ctl_buf inbuf; /* stdin bytes from the host not yet written */
	bool in_eof;		/* the host ended stdin: close it once @inbuf is written */
	bool exited;		/* reaped; its streams are drained next */
	int code;		/* its exit code once @exited (128 + signal) */
};

/* The agent's state: one epoll loop over the control port, the signalfd
 * and every process's streams. */
struct agent {
	struct guest *g;		/* PID 1's state: the control port and its queue */
	int ep;				/* the epoll fd */
	int sfd;			/* signalfd for SIGCHLD */
	struct proc procs[MAX_PROCS];	/* the processes, by slot */
	uint8_t *rx;			/* control bytes read, not yet parsed */
	size_t rx_len, rx_cap;		/* bytes in @rx, bytes allocated */
	bool ctl_eof;			/* the host closed its end of the port */
};

/* An epoll cookie: @kind (EV_*) in the low byte, the process slot above it. */
static uint64_t cookie(int kind, int slot)
{
	return (uint64_t)kind | (uint64_t)slot << 8;
}

/* Watch @fd for @events under cookie @c. */
static void ep_add(struct agent *a, int fd, uint32_t events, uint64_t c)
{
	struct epoll_event ev = { .events = events, .data.u64 = c };

	epoll_ctl(a->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Change what @fd is watched for. */
static void ep_mod(struct agent *a, int fd, uint32_t events, uint64_t c)
{
	struct epoll_event ev = { .events = events, .data.u64 = c };

	epoll_ctl(a->ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Stop watching *@fd, close it and set it to -1 (nothing when it is -1
 * already). */
static void close_fd(struct agent *a, int *fd)
{
	if (*fd >= 0) {
		epoll_ctl(a->ep, EPOLL_CTL_DEL, *fd, NULL);
		close(*fd);
		*fd = -1;
	}
}

/* The user to run as: uid, gid and home, from the image's /etc/passwd. */
struct ident {
	uid_t uid;	/* the user */
	gid_t gid;	/* its group, or the one given */
	char home[256];	/* its home directory: $HOME unless the spawn sets it */
};

/* Whether @s is a non-empty string of decimal digits. */
static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Resolve "user[:group]" (names or numbers; "" is root) against the image's
 * /etc/passwd and /etc/group; -ENOENT for a name not there. */
static int resolve_user(const char *spec, struct ident *id, struct nb_err *e)
{
	char user[256], *group;
	struct passwd *pw = NULL;

	snprintf(user, sizeof(user), "%s", spec);
	group = strchr(user, ':');
	if (group)
		*group++ = 0;
	id->uid = 0;
	id->gid = 0;
	snprintf(id->home, sizeof(id->home), "/");
	if (!user[0]) {
		pw = getpwuid(0);
		snprintf(id->home, sizeof(id->home), "/root");
	} else if (all_digits(user)) {
		id->uid = (uid_t)strtoul(user, NULL, 10);
		pw = getpwuid(id->uid);
		if (pw)
			id->gid = pw->pw_gid;
	} else {
		pw = getpwnam(user);
		if (!pw)
			return nb_err_set(e, ENOENT,
					  "unable to find user %s: no matching entries in passwd file",
					  user);
		id->uid = pw->pw_uid;
		id->gid = pw->pw_gid;
	}
	if (pw && pw->pw_dir)
		snprintf(id->home, sizeof(id->home), "%s", pw->pw_dir);
	if (group && *group) {
		if (all_digits(group)) {
			id->gid = (gid_t)strtoul(group, NULL, 10);
		} else {
			struct group *gr = getgrnam(group);

			if (!gr)
				return nb_err_set(e, ENOENT, "unable to find group %s", group);
			id->gid = gr->gr_gid;
		}
	}
	return 0;
}

/* Whether @env (NULL-terminated "KEY=value" strings) sets @key. */
static bool env_has(char **env, const char *key)
{
	size_t n = strlen(key);

	for (; env && *env; env++)
		if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
			return true;
	return false;
}

/* The value @env gives @key, or NULL. */
static const char *env_get(char **env, const char *key)
{
	size_t n = strlen(key);

	for (; env && *env; env++)
		if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* Build the command's environment: the spawn's, plus defaults it lacks. */
static char **make_env(const struct nb_ctl_spawn *sp, const struct ident *id, const char *host)
{
	static char path[] = "PATH=" DEFAULT_PATH, term[] = "TERM=xterm";
	static char home[300], hostname[300];
	size_t n = 0, k = 0;
	char **env;

	while (sp->env[n])
		n++;
	env = calloc(n + 5, sizeof(*env));
	if (!env)
		return NULL;
	if (!env_has(sp->env, "PATH"))
		env[k++] = path;
	if (!env_has(sp->env, "HOSTNAME")) {
		snprintf(hostname, sizeof(hostname), "HOSTNAME=%s", host);
		env[k++] = hostname;
	}
	if (!env_has(sp->env, "HOME")) {
		snprintf(home, sizeof(home), "HOME=%s", id->home);
		env[k++] = home;
	}
	if ((sp->flags & NB_SPAWN_TTY) && !env_has(sp->env, "TERM"))
		env[k++] = term;
	for (size_t i = 0; i < n; i++)
		env[k++] = sp->env[i];
	return env;
}

/**
 * inherit_main() - an exec'd process gets what the main command got (as
 * podman exec): its environment under the exec's own -e, its workdir and
 * user unless given. Replaces @sp->env; strings stay in the spec.
 * Return: 0, or -ENOMEM
 */
static int inherit_main(struct agent *a, struct nb_ctl_spawn *sp)
{
	autospawn struct nb_ctl_spawn m = { 0 };
	size_t n = 0, k = 0;
	char **env;

	if (nb_ctl_decode_spawn(&a->g->spawn_frame, &m) < 0)
		return 0;
	while (sp->env[n])
		n++;
	for (char **p = m.env; *p; p++)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	for (char **p = sp->env; *p; p++)
		env[k++] = *p;
	for (char **p = m.env; *p; p++) {
		char key[256];

		snprintf(key, sizeof(key), "%.*s", (int)strcspn(*p, "="), *p);
		if (!env_has(sp->env, key))
			env[k++] = *p;
	}
	free(sp->env);
	sp->env = env;
	if (!sp->cwd[0])
		sp->cwd = m.cwd;
	if (!sp->user[0])
		sp->user = m.user;
	return 0;
}

/* In the child: find and exec argv[0] along PATH; returns the errno to report. */
static int exec_cmd(char **argv, char **env)
{
	const char *path = env_get(env, "PATH");
	int saved = ENOENT;
	char buf[4096];

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, env);
		return errno;
	}
	if (!path)
		path = DEFAULT_PATH;
	while (*path) {
		size_t len = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, len ? path : ".", argv[0]);
		execve(buf, argv, env);
		if (errno != ENOENT && errno != ENOTDIR)
			saved = errno;
		path += len;
		if (*path == ':')
			path++;
	}
	return saved;
}

/* mkdir -p as root, ignoring what exists (the chdir reports real failures) */
static void mkdir_p(const char *path)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
	}
	mkdir(p, 0755);
}

/* In the child: tell the parent which step failed ({step, errno}). */
static void report_child(int fd, const int msg[2])
{
	if (write(fd, msg, 2 * sizeof(int)) < 0)
		_exit(125);
}

/* Report process @id's end to the host (its exit code and a message, "" when it
 * ran) and wait until the frame is written. */
static void send_exit(struct agent *a, uint16_t id, uint32_t code, const char *msg)
{
	nb_ctl_put_exit(&a->g->out, id, code, msg);
	guest_flush(a->g, 1);
}

/* pipe2(O_CLOEXEC) into two variables (autoclose ones, -1 until then). */
static int pipe_pair(int *r, int *w)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	*r = p[0];
	*w = p[1];
	return 0;
}

/* The EXIT message for a child that failed before its command ran: @msg is
 * what report_child() sent ({step, errno}); returns the exit code (125-127). */
static uint32_t child_failure(const int msg[2], const struct nb_ctl_spawn *sp, struct nb_err *e)
{
	int code = msg[1];

	if (msg[0] == 1) {
		nb_err_sys(e, code, "set user %s", sp->user);
		return 125;
	}
	if (msg[0] == 2) {
		nb_err_sys(e, code, "workdir %s", sp->cwd);
		return 126;
	}
	if (code == ENOENT) {
		nb_err_set(e, code, "%s: executable file not found in $PATH", sp->argv[0]);
		return 127;
	}
	nb_err_sys(e, code, "%s", sp->argv[0]);
	return 126;
}

/* clang-analyzer 14 does not model the cleanup attribute: its leak reports
 * about autofree/autospawn variables in spawn() are false. */
/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
/**
 * spawn() - start the process a SPAWN frame describes in slot @slot
 * Return: 0 if it runs; otherwise its EXIT (125/126/127) was already sent
 */
static int spawn(struct agent *a, int slot, uint16_t id, const struct nb_ctl_frame *f)
{
	struct proc *p = &a->procs[slot];
	autoclose int in_r = -1, in_w = -1, out_r = -1, out_w = -1, er_r = -1, er_w = -1;
	autoclose int ep_r = -1, ep_w = -1, master = -1, slave = -1;
	autospawn struct nb_ctl_spawn sp = { 0 };
	struct nb_err e = NB_ERR_INIT;
	struct ident ident;
	autofree char **env = NULL;
	ssize_t n;
	pid_t pid;

	if (nb_ctl_decode_spawn(f, &sp) < 0) {
		send_exit(a, id, 125, "malformed spawn request");
		return -1;
	}
	if (id != 0 && inherit_main(a, &sp) < 0) {
		send_exit(a, id, 125, "out of memory");
		return -1;
	}
	if (resolve_user(sp.user, &ident, &e) < 0) {
		send_exit(a, id, 125, e.msg);
		return -1;
	}
	env = make_env(&sp, &ident, a->g->cfg.hostname);
	if (sp.cwd[0])
		mkdir_p(sp.cwd); /* like podman: a missing workdir is created */
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->in_fd = p->out_fd = p->err_fd = -1;
	p->tty = sp.flags & NB_SPAWN_TTY;
	if (p->tty) {
		struct winsize ws = { .ws_row = sp.rows, .ws_col = sp.cols };

		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
		    (slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
			nb_err_sys(&e, errno, "pty");
			send_exit(a, id, 125, e.msg);
			return -1;
		}
		if (ws.ws_row && ws.ws_col)
			ioctl(master, TIOCSWINSZ, &ws);
	} else {
		if (pipe_pair(&out_r, &out_w) < 0 || pipe_pair(&er_r, &er_w) < 0 ||
		    ((sp.flags & NB_SPAWN_STDIN) && pipe_pair(&in_r, &in_w) < 0)) {
			send_exit(a, id, 125, "pipe failed");
			return -1;
		}
	}
	if (pipe_pair(&ep_r, &ep_w) < 0) {
		send_exit(a, id, 125, "pipe failed");
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t all;
		int err;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid();
		if (p->tty) {
			ioctl(slave, TIOCSCTTY, 0);
			dup2(slave, 0);
			dup2(slave, 1);
			dup2(slave, 2);
		} else {
			int nul = open("/dev/null", O_RDWR);

			dup2(in_r >= 0 ? in_r : nul, 0);
			dup2(out_w, 1);
			dup2(er_w, 2);
		}
		if (setgroups(1, &ident.gid) < 0 || setgid(ident.gid) < 0 ||
		    setuid(ident.uid) < 0) {
			int msg[2] = { 1, errno };

			report_child(ep_w, msg);
			_exit(125);
		}
		if (sp.cwd[0] && chdir(sp.cwd) < 0) {
			int msg[2] = { 2, errno };

			report_child(ep_w, msg);
			_exit(126);
		}
		err = exec_cmd(sp.argv, env);
		{
			int msg[2] = { 3, err };

			report_child(ep_w, msg);
		}
		_exit(127);
	}
	/* our copy of the write end goes: a successful exec closes the child's */
	close(steal_fd(&ep_w));
	if (pid < 0) {
		send_exit(a, id, 125, "fork failed");
		return -1;
	}
	{
		int msg[2] = { 0, 0 };

		n = read(ep_r, msg, sizeof(msg));
		if (n == sizeof(msg)) {
			uint32_t ec;

			waitpid(pid, NULL, 0);
			ec = child_failure(msg, &sp, &e);
			send_exit(a, id, ec, e.msg);
			return -1;
		}
	}
	p->used = true;
	p->pid = pid;
	if (p->tty) {
		p->out_fd = steal_fd(&master);
		p->in_fd = (sp.flags & NB_SPAWN_STDIN) ? fcntl(p->out_fd, F_DUPFD_CLOEXEC, 0) : -1;
	} else {
		p->out_fd = steal_fd(&out_r);
		p->err_fd = steal_fd(&er_r);
		p->in_fd = steal_fd(&in_w);
	}
	/* the child's ends (slave, out_w, er_w, in_r) and ep_r close on return */
	for (int *fd = &p->in_fd; fd <= &p->err_fd; fd++)
		if (*fd >= 0)
			fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	ep_add(a, p->out_fd, EPOLLIN, cookie(EV_OUT, slot));
	if (p->err_fd >= 0)
		ep_add(a, p->err_fd, EPOLLIN, cookie(EV_ERR, slot));
	return 0;
}
/* NOLINTEND(clang-analyzer-unix.Malloc) */

/* Read what a process wrote on one stream; EOF closes it. Returns bytes read. */
static ssize_t pump_out(struct agent *a, int slot, int kind)
{
	struct proc *p = &a->procs[slot];
	int *fd = kind == EV_OUT ? &p->out_fd : &p->err_fd;
	uint8_t stream = kind == EV_OUT ? NB_STREAM_STDOUT : NB_STREAM_STDERR;
	static uint8_t buf[NB_CTL_DATA_CHUNK];
	ssize_t n;

	if (*fd < 0)
		return 0;
	n = read(*fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) { /* EOF, or EIO on a pty whose other side is gone */
		close_fd(a, fd);
		nb_ctl_put_frame(&a->g->out, NB_CTL_DATA, stream, p->id, NULL, 0);
		guest_flush(a->g, 0);
		return 0;
	}
	nb_ctl_put_frame(&a->g->out, NB_CTL_DATA, stream, p->id, buf, (size_t)n);
	/* Back-pressure: do not queue more than a little ahead of the host. */
	guest_flush(a->g, a->g->out.len > (1u << 20));
	return n;
}

/* Write what stdin bytes the host sent to process @slot's stdin; close it once
 * the host ended it and all is written (a pty gets ^D). */
static void pump_in(struct agent *a, int slot)
{
	struct proc *p = &a->procs[slot];

	while (p->in_fd >= 0 && p->inbuf.len) {
		ssize_t n = write(p->in_fd, p->inbuf.data, p->inbuf.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) { /* the reader is gone */
			p->inbuf.len = 0;
			close_fd(a, &p->in_fd);
			return;
		}
		nb_ctl_buf_consume(&p->inbuf, (size_t)n);
	}
	if (p->in_fd < 0)
		return;
	if (!p->inbuf.len && p->in_eof) {
		if (p->tty) {
			/* A pty has no EOF of its own: end the line, send ^D. */
			ssize_t n = write(p->in_fd, "\004", 1);

			(void)n;
		}
		close_fd(a, &p->in_fd);
		return;
	}
	/* Writable interest only while bytes wait. */
	epoll_ctl(a->ep, EPOLL_CTL_DEL, p->in_fd, NULL);
	if (p->inbuf.len)
		ep_add(a, p->in_fd, EPOLLOUT, cookie(EV_IN, slot));
}

/* The slot of the process the host calls @id, or -1. */
static int find_slot(struct agent *a, uint16_t id)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (a->procs[i].used && a->procs[i].id == id)
			return i;
	return -1;
}

/* Act on one frame from the host: stdin data, a window size, a signal, an exec
 * (SPAWN), power-off. */
static void handle_frame(struct agent *a, const struct nb_ctl_frame *f)
{
	int slot = find_slot(a, f->proc);
	struct nb_ctl_cur c;
	uint32_t v;
	uint16_t rows, cols;

	nb_ctl_cur_init(&c, f);
	switch ((enum nb_ctl_type)f->type) {
	case NB_CTL_DATA:
		if (slot < 0 || f->stream != NB_STREAM_STDIN || a->procs[slot].in_eof)
			return;
		if (!f->len) {
			a->procs[slot].in_eof = true;
		} else if (a->procs[slot].inbuf.len + f->len <= MAX_STDIN_BUF) {
			struct nb_ctl_buf *b = &a->procs[slot].inbuf;
			size_t need = b->len + f->len;

			if (need > b->cap) {
				uint8_t *d = realloc(b->data, need * 2);

				if (!d)
					return;
				b->data = d;
				b->cap = need * 2;
			}
			memcpy(b->data + b->len, f->payload, f->len);
			b->len += f->len;
		}
		pump_in(a, slot);
		break;
	case NB_CTL_WINSIZE:
		if (slot >= 0 && a->procs[slot].tty && nb_ctl_get_u16(&c, &rows) == 0 &&
		    nb_ctl_get_u16(&c, &cols) == 0) {
			struct winsize ws = { .ws_row = rows, .ws_col = cols };

			ioctl(a->procs[slot].out_fd, TIOCSWINSZ, &ws);
		}
		break;
	case NB_CTL_SIGNAL:
		if (slot >= 0 && !a->procs[slot].exited && nb_ctl_get_u32(&c, &v) == 0 &&
		    v > 0 && v < 65)
			kill(a->procs[slot].pid, (int)v);
		break;
	case NB_CTL_SPAWN:
		if (slot < 0 && f->proc != 0) {
			for (int i = 0; i < MAX_PROCS; i++) {
				if (!a->procs[i].used) {
					spawn(a, i, f->proc, f);
					return;
				}
			}
			send_exit(a, f->proc, 125, "too many processes");
		}
		break;
	case NB_CTL_SHUTDOWN:
		guest_poweroff();
	case NB_CTL_PHASE:
	case NB_CTL_CONFIG:
	case NB_CTL_EXIT:
	case NB_CTL_ERROR:
		break;
	}
}

/* Read what the control port holds and handle each whole frame; a malformed
 * frame drops the input buffered so far; EOF stops listening. */
static void read_ctl(struct agent *a)
{
	for (;;) {
		ssize_t n;
		size_t off = 0;

		if (a->rx_cap - a->rx_len < 65536) {
			uint8_t *d = realloc(a->rx, a->rx_cap + 65536 * 2);

			if (!d)
				return;
			a->rx = d;
			a->rx_cap += 65536 * 2;
		}
		n = read(a->g->ctl, a->rx + a->rx_len, a->rx_cap - a->rx_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
		if (n == 0) {
			/* The host closed its end: stop listening, keep running. */
			a->ctl_eof = true;
			ep_mod(a, a->g->ctl, a->g->out.len ? EPOLLOUT : 0, cookie(EV_CTL, 0));
			return;
		}
		a->rx_len += (size_t)n;
		for (;;) {
			struct nb_ctl_frame f;
			int r = nb_ctl_parse(a->rx + off, a->rx_len - off, &f);

			if (r < 0) {
				guest_log("control: malformed frame; dropping input");
				a->rx_len = off = 0;
				break;
			}
			if (r == 0)
				break;
			handle_frame(a, &f);
			off += (size_t)r;
		}
		memmove(a->rx, a->rx + off, a->rx_len - off);
		a->rx_len -= off;
	}
}

/* A waitpid() status as the exit code podman reports: the code, or 128 + the
 * signal. */
static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 125;
}

/* Drain the signalfd and reap every exited child, marking the processes that
 * are ours. */
static void reap(struct agent *a)
{
	struct signalfd_siginfo si;
	int st;
	pid_t pid;

	while (read(a->sfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < MAX_PROCS; i++) {
			if (a->procs[i].used && a->procs[i].pid == pid) {
				a->procs[i].exited = true;
				a->procs[i].code = status_code(st);
			}
		}
	}
}

/* A process is finished once it exited; its streams are drained, then closed. */
static void finish_procs(struct agent *a)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		struct proc *p = &a->procs[i];

		if (!p->used || !p->exited)
			continue;
		/* Background children may hold the pipes open: take what is there. */
		while (pump_out(a, i, EV_OUT) > 0)
			;
		while (p->err_fd >= 0 && pump_out(a, i, EV_ERR) > 0)
			;
		if (p->out_fd >= 0) {
			close_fd(a, &p->out_fd);
			nb_ctl_put_frame(&a->g->out, NB_CTL_DATA, NB_STREAM_STDOUT, p->id, NULL, 0);
		}
		if (p->err_fd >= 0) {
			close_fd(a, &p->err_fd);
			nb_ctl_put_frame(&a->g->out, NB_CTL_DATA, NB_STREAM_STDERR, p->id, NULL, 0);
		}
		close_fd(a, &p->in_fd);
		nb_ctl_buf_free(&p->inbuf);
		p->used = false;
		if (p->id == 0)
			continue; /* the caller reports the main process */
		send_exit(a, p->id, (uint32_t)p->code, "");
	}
}

/* What the agent holds for itself (the processes' fds are closed as they
 * finish): its epoll and signalfd, the control input buffer. */
static void agent_release(struct agent *a)
{
	nb_closep(&a->ep);
	nb_closep(&a->sfd);
	free(a->rx);
}

/* guest_agent_run() - see agent.h */
int guest_agent_run(struct guest *g)
{
	__attribute__((cleanup(agent_release))) struct agent a = { .g = g, .ep = -1, .sfd = -1 };
	sigset_t mask;
	int main_code = -1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	a.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	a.ep = epoll_create1(EPOLL_CLOEXEC);
	ep_add(&a, a.sfd, EPOLLIN, cookie(EV_SIG, 0));
	ep_add(&a, g->ctl, EPOLLIN, cookie(EV_CTL, 0));
	if (spawn(&a, 0, 0, &g->spawn_frame) < 0)
		return -1; /* EXIT already sent */
	nb_ctl_put_phase(&g->out, NB_PHASE_COMMAND, guest_now_ns());
	guest_flush(g, 0);
	for (;;) {
		struct epoll_event evs[16];
		int n;

		ep_mod(&a, g->ctl, (a.ctl_eof ? 0 : EPOLLIN) | (g->out.len ? EPOLLOUT : 0),
		       cookie(EV_CTL, 0));
		n = epoll_wait(a.ep, evs, 16, -1);
		for (int i = 0; i < n; i++) {
			int kind = (int)(evs[i].data.u64 & 0xff);
			int slot = (int)(evs[i].data.u64 >> 8);

			switch (kind) {
			case EV_CTL:
				if (evs[i].events & EPOLLOUT)
					guest_flush(g, 0);
				if (evs[i].events & (EPOLLIN | EPOLLHUP) && !a.ctl_eof)
					read_ctl(&a);
				break;
			case EV_SIG:
				reap(&a);
				break;
			case EV_OUT:
			case EV_ERR:
				pump_out(&a, slot, kind);
				break;
			case EV_IN:
				pump_in(&a, slot);
				break;
			default:
				break;
			}
		}
		/* Also without a signal: a reaped child is never missed. */
		reap(&a);
		if (a.procs[0].used && a.procs[0].exited)
			main_code = a.procs[0].code;
		finish_procs(&a);
		if (main_code >= 0)
			break;
	}
	/* The VM ends with its command: stop whatever it left running. */
	kill(-1, SIGKILL);
	/* Volume writes reach the host before the host learns the end (it may
	 * kill the VM as soon as it does). */
	sync();
	send_exit(&a, 0, (uint32_t)main_code, "");
	return main_code;
}
