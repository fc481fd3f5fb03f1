/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestfs endpoints: strings to fds, for `nestbox fs serve|mount` and run. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vm_sockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs/endpoint.h"

/* Parse a whole unsigned number within [0, max]; false if anything else. */
static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static int unix_addr(const char *path, struct sockaddr_un *sa, const char *ep, struct nb_err *e)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!*path)
		return nb_err_set(e, EINVAL, "endpoint '%s': empty socket path", ep);
	if (strlen(path) >= sizeof(sa->sun_path))
		return nb_err_set(e, ENAMETOOLONG, "endpoint '%s': socket path too long", ep);
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

static int inherited_fd(const char *ep, const char *num, struct nb_err *e)
{
	unsigned long n;

	if (!parse_uint(num, INT_MAX, &n))
		return nb_err_set(e, EINVAL, "endpoint '%s': not a file descriptor number", ep);
	if (fcntl((int)n, F_GETFD) < 0)
		return nb_err_sys(e, errno, "endpoint '%s'", ep);
	return (int)n;
}

int nestfs_listen(const char *ep, bool *listening, struct nb_err *e)
{
	int fd, rc;

	*listening = true;
	if (!strncmp(ep, "unix:", 5)) {
		struct sockaddr_un sa;
		struct stat st;

		rc = unix_addr(ep + 5, &sa, ep, e);
		if (rc < 0)
			return rc;
		struct sockaddr_un tmp;
		char tname[sizeof(tmp.sun_path) + 32];

		if (lstat(sa.sun_path, &st) == 0 && !S_ISSOCK(st.st_mode))
			return nb_err_set(e, EEXIST, "endpoint '%s': exists and is not a socket", ep);
		/* Bind and listen under a temporary name, then rename: whoever sees
		 * the path can connect at once. */
		snprintf(tname, sizeof(tname), "%s.%d~", sa.sun_path, (int)getpid());
		rc = unix_addr(tname, &tmp, ep, e);
		if (rc < 0)
			return rc;
		unlink(tmp.sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return nb_err_sys(e, errno, "endpoint '%s': socket", ep);
		if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0 || listen(fd, 64) < 0 ||
		    rename(tmp.sun_path, sa.sun_path) < 0) {
			rc = nb_err_sys(e, errno, "endpoint '%s'", ep);
			unlink(tmp.sun_path);
			close(fd);
			return rc;
		}
		return fd;
	}
	if (!strncmp(ep, "vsock:", 6)) {
		struct sockaddr_vm sv = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };
		unsigned long port;

		if (!parse_uint(ep + 6, UINT32_MAX, &port))
			return nb_err_set(e, EINVAL, "endpoint '%s': not a port number", ep);
		sv.svm_port = (unsigned)port;
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return nb_err_sys(e, errno, "endpoint '%s': socket", ep);
		if (bind(fd, (struct sockaddr *)&sv, sizeof(sv)) < 0 || listen(fd, 64) < 0) {
			rc = nb_err_sys(e, errno, "endpoint '%s'", ep);
			close(fd);
			return rc;
		}
		return fd;
	}
	if (!strncmp(ep, "fd:", 3)) {
		int acc = 0;
		socklen_t len = sizeof(acc);

		fd = inherited_fd(ep, ep + 3, e);
		if (fd < 0)
			return fd;
		*listening = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc;
		return fd;
	}
	return nb_err_set(e, EINVAL, "endpoint '%s': expected unix:PATH, vsock:PORT or fd:N", ep);
}

int nestfs_connect(const char *ep, struct nb_err *e)
{
	int fd, rc;

	if (!strncmp(ep, "unix:", 5)) {
		struct sockaddr_un sa;

		rc = unix_addr(ep + 5, &sa, ep, e);
		if (rc < 0)
			return rc;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return nb_err_sys(e, errno, "endpoint '%s': socket", ep);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			rc = nb_err_sys(e, errno, "endpoint '%s': connect", ep);
			close(fd);
			return rc;
		}
		return fd;
	}
	if (!strncmp(ep, "vsock:", 6)) {
		struct sockaddr_vm sv = { .svm_family = AF_VSOCK };
		unsigned long cid, port;
		char buf[64], *colon;

		snprintf(buf, sizeof(buf), "%s", ep + 6);
		colon = strchr(buf, ':');
		if (!colon)
			return nb_err_set(e, EINVAL, "endpoint '%s': expected vsock:CID:PORT", ep);
		*colon = 0;
		if (!parse_uint(buf, UINT32_MAX, &cid) || !parse_uint(colon + 1, UINT32_MAX, &port))
			return nb_err_set(e, EINVAL, "endpoint '%s': bad CID or port", ep);
		sv.svm_cid = (unsigned)cid;
		sv.svm_port = (unsigned)port;
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return nb_err_sys(e, errno, "endpoint '%s': socket", ep);
		if (connect(fd, (struct sockaddr *)&sv, sizeof(sv)) < 0) {
			rc = nb_err_sys(e, errno, "endpoint '%s': connect", ep);
			close(fd);
			return rc;
		}
		return fd;
	}
	if (!strncmp(ep, "fd:", 3))
		return inherited_fd(ep, ep + 3, e);
	if (ep[0] == '/') {
		struct stat st;

		fd = open(ep, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return nb_err_sys(e, errno, "endpoint '%s'", ep);
		if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
			close(fd);
			return nb_err_set(e, EINVAL, "endpoint '%s': not a character device", ep);
		}
		return fd;
	}
	return nb_err_set(e, EINVAL,
			  "endpoint '%s': expected unix:PATH, vsock:CID:PORT, fd:N or a device path",
			  ep);
}
