/* SPDX-License-Identifier: GPL-2.0-or-later */
/* system/ssh: keys, credentials, image check, sshd readiness, ssh client. */
#include "system/system.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/strv.h"

#define CLIENT_KEY  "ssh/id_ed25519"
#define HOST_KEY    "ssh/ssh_host_ed25519_key"
#define KNOWN_HOSTS "ssh/known_hosts"
#define PORT_FILE   "ssh/port"
/* known_hosts names the VM by this alias, not by its (reused) port. */
#define HOST_ALIAS     "nestbox-vm"
#define HOST_ALIAS_OPT "HostKeyAlias=nestbox-vm"

/* Whether @path exists inside @root, every symlink resolved inside it. */
static bool exists_in(int root, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* nb_sys_check_image() - see system.h */
int nb_sys_check_image(const char *rootfs, const char *image, struct nb_err *e)
{
	autoclose int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (root < 0)
		return nb_err_sys(e, errno, "image %s: root %s", image, rootfs);
	if (!exists_in(root, "sbin/init"))
		return nb_err_set(e, ENOENT, "image %s: no /sbin/init: --system boots the "
				  "image's own init", image);
	if (!exists_in(root, "usr/sbin/sshd"))
		return nb_err_set(e, ENOENT, "image %s: no /usr/sbin/sshd: --system needs "
				  "openssh-server in the image", image);
	return 0;
}

/* nb_sys_free_port() - see system.h */
int nb_sys_free_port(struct nb_err *e)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	autoclose int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0)
		return nb_err_sys(e, errno, "a free port on 127.0.0.1");
	return ntohs(a.sin_port);
}

/* Run ssh-keygen -q -t ed25519 -N "" -C "" -f PATH; 0 or -errno. */
static int keygen(const char *path, struct nb_err *e)
{
	int st;
	pid_t pid;

	unlink(path);
	pid = fork();
	if (pid < 0)
		return nb_err_sys(e, errno, "fork ssh-keygen");
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execlp("ssh-keygen", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "",
		       "-f", path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return nb_err_sys(e, errno, "wait for ssh-keygen");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return nb_err_set(e, ENOENT, "ssh-keygen: not found (apt-get install openssh-client)");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return nb_err_set(e, EIO, "ssh-keygen -f %s: failed", path);
	return 0;
}

/* @dir/@name into @buf (NUL-terminated); -EFBIG when it does not fit. */
static int read_small(const char *dir, const char *name, char *buf, size_t len,
		      struct nb_err *e)
{
	char path[PATH_MAX + 64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	n = nb_read_file(NULL, path, buf, len, e);
	if (n < 0)
		return (int)n;
	if ((size_t)n >= len - 1)
		return nb_err_set(e, EFBIG, "%s: too large", path);
	return 0;
}

/* nb_sys_load() - see system.h */
int nb_sys_load(const char *dir, struct nb_sys *s, struct nb_err *e)
{
	char port[16];
	char *end;
	unsigned long p;
	int r;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	r = read_small(dir, PORT_FILE, port, sizeof(port), NULL);
	if (r < 0)
		return nb_err_set(e, ENOENT, "not a --system VM (no %s/%s)", dir, PORT_FILE);
	p = strtoul(port, &end, 10);
	if (end == port || (*end && *end != '\n') || p == 0 || p > 65535)
		return nb_err_set(e, EINVAL, "%s/%s: not a port", dir, PORT_FILE);
	s->port = (unsigned)p;
	if ((r = read_small(dir, CLIENT_KEY ".pub", s->client_pub, sizeof(s->client_pub), e)) < 0 ||
	    (r = read_small(dir, HOST_KEY, s->host_key, sizeof(s->host_key), e)) < 0 ||
	    (r = read_small(dir, HOST_KEY ".pub", s->host_pub, sizeof(s->host_pub), e)) < 0)
		return r;
	nb_strip(s->client_pub);
	nb_strip(s->host_pub);
	return 0;
}

/* nb_sys_prepare() - see system.h */
int nb_sys_prepare(const char *dir, unsigned port, struct nb_sys *s, struct nb_err *e)
{
	char path[PATH_MAX + 64], line[512];
	int r;

	snprintf(path, sizeof(path), "%s/ssh", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return nb_err_sys(e, errno, "mkdir %s", path);
	snprintf(path, sizeof(path), "%s/%s", dir, CLIENT_KEY);
	if ((r = keygen(path, e)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", dir, HOST_KEY);
	if ((r = keygen(path, e)) < 0)
		return r;
	snprintf(line, sizeof(line), "%u\n", port);
	snprintf(path, sizeof(path), "%s/%s", dir, PORT_FILE);
	if ((r = nb_write_file_atomic(path, line, strlen(line), 0600, e)) < 0)
		return r;
	if ((r = read_small(dir, HOST_KEY ".pub", s->host_pub, sizeof(s->host_pub), e)) < 0)
		return r;
	nb_strip(s->host_pub);
	snprintf(line, sizeof(line), "%s %s\n", HOST_ALIAS, s->host_pub);
	snprintf(path, sizeof(path), "%s/%s", dir, KNOWN_HOSTS);
	if ((r = nb_write_file_atomic(path, line, strlen(line), 0600, e)) < 0)
		return r;
	return nb_sys_load(dir, s, e);
}

/* nb_sys_creds_choice() - see system.h */
unsigned nb_sys_creds_choice(void)
{
	const char *v = getenv("NESTBOX_SYSTEM_CREDENTIALS");

	if (!v || !*v || strcmp(v, "both") == 0)
		return NB_CREDS_SMBIOS | NB_CREDS_CMDLINE;
	if (strcmp(v, "smbios") == 0)
		return NB_CREDS_SMBIOS;
	if (strcmp(v, "cmdline") == 0)
		return NB_CREDS_CMDLINE;
	return 0;
}

/* The key without anything a command line or QEMU option would split on. */
static bool key_clean(const char *k)
{
	return k[0] && strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				 "0123456789+/=-. ") == strlen(k);
}

/* nb_sys_cred_cmdline() - see system.h */
int nb_sys_cred_cmdline(const struct nb_sys *s, char *buf, size_t len)
{
	if (!key_clean(s->client_pub))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "systemd.set_credential=\"" NB_SYS_CRED_NAME ":%s\"",
			     s->client_pub) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Standard base64 of the string @in into @out (room for 4/3 of it + 1). */
static void base64(const char *in, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	const unsigned char *p = (const unsigned char *)in;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = 0;
}

/* nb_sys_cred_smbios() - see system.h */
int nb_sys_cred_smbios(const struct nb_sys *s, char *buf, size_t len)
{
	char key[sizeof(s->client_pub) + 2], b64[(sizeof(key) + 2) / 3 * 4 + 1];

	/* authorized_keys wants its line ended. */
	snprintf(key, sizeof(key), "%s\n", s->client_pub);
	base64(key, b64);
	if ((size_t)snprintf(buf, len,
			     "type=11,value=io.systemd.credential.binary:" NB_SYS_CRED_NAME "=%s",
			     b64) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* nb_sys_ssh_ready() - see system.h */
bool nb_sys_ssh_ready(unsigned port, int wait_ms)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	autoclose int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd p;
	char banner[8];
	size_t got = 0;

	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return false;
	/* QEMU's user network accepts for the guest at once; only the banner
	 * says that sshd is there. */
	p = (struct pollfd){ .fd = s, .events = POLLIN };
	while (got < 4 && poll(&p, 1, wait_ms) > 0) {
		ssize_t n = read(s, banner + got, 4 - got);

		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return got == 4 && memcmp(banner, "SSH-", 4) == 0;
}

/* Append a copy of @s to the NULL-terminated vector *@v of *@n; -ENOMEM. */
static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

/* @argv as one POSIX shell line, every word in single quotes; malloc'd. */
static char *shell_join(char *const *argv)
{
	size_t len = 1;
	char *out, *w;

	for (char *const *p = argv; *p; p++) {
		len += 3;
		for (const char *c = *p; *c; c++)
			len += *c == '\'' ? 4 : 1;
	}
	out = malloc(len);
	if (!out)
		return NULL;
	w = out;
	for (char *const *p = argv; *p; p++) {
		if (p != argv)
			*w++ = ' ';
		*w++ = '\'';
		for (const char *c = *p; *c; c++) {
			if (*c == '\'') {
				memcpy(w, "'\\''", 4);
				w += 4;
			} else {
				*w++ = *c;
			}
		}
		*w++ = '\'';
	}
	*w = 0;
	return out;
}

/* nb_sys_ssh_argv() - see system.h */
char **nb_sys_ssh_argv(const struct nb_sys *s, char *const *cmd, bool tty)
{
	char key[PATH_MAX + 64], known[PATH_MAX + 96], port[16];
	const char *fixed[] = {
		"ssh", tty ? "-t" : "-T", "-i", key, "-p", port,
		"-o", known, "-o", "StrictHostKeyChecking=yes", "-o", HOST_ALIAS_OPT,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"-o", "UpdateHostKeys=no", "-o", "ConnectTimeout=30",
		"-F", "/dev/null", "root@127.0.0.1", NULL,
	};
	char **v = NULL;
	size_t n = 0;

	snprintf(key, sizeof(key), "%s/%s", s->dir, CLIENT_KEY);
	snprintf(known, sizeof(known), "UserKnownHostsFile=%s/%s", s->dir, KNOWN_HOSTS);
	snprintf(port, sizeof(port), "%u", s->port);
	for (const char **p = fixed; *p; p++)
		if (strv_push(&v, &n, *p) < 0)
			goto oom;
	if (cmd && cmd[0]) {
		/* ssh hands the remote shell one string: quote each word so that
		 * the command's argv arrives as given. */
		autofree char *line = shell_join(cmd);

		if (!line || strv_push(&v, &n, "--") < 0 || strv_push(&v, &n, line) < 0)
			goto oom;
	}
	return v;
oom:
	nb_strv_free(v);
	return NULL;
}

/* nb_sys_ssh_run() - see system.h */
int nb_sys_ssh_run(const struct nb_sys *s, char *const *cmd, bool tty, struct nb_err *e)
{
	char **argv = nb_sys_ssh_argv(s, cmd, tty);
	int st;
	pid_t pid;

	if (!argv)
		return nb_err_set(e, ENOMEM, "ssh: out of memory");
	pid = fork();
	if (pid < 0) {
		nb_strv_free(argv);
		return nb_err_sys(e, errno, "fork ssh");
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "nestbox: exec ssh: %s (apt-get install openssh-client)\n",
			strerror(errno));
		_exit(125);
	}
	nb_strv_free(argv);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return nb_err_sys(e, errno, "wait for ssh");
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
