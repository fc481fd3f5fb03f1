/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestfs endpoints: strings to fds, for `nestbox fs serve|mount` and run.
 *
 * Who may connect to a server is decided here, not by the file system or a
 * routing table: a unix socket is made 0600 (whatever the umask) before it
 * listens, and each accepted peer is checked (SO_PEERCRED: our own uid or
 * root) since a socket file's mode can be changed by whoever owns it; a
 * vsock peer must come from the one CID the endpoint names, or from the
 * host (CID 2) when it names none: a listener inside a guest serves its
 * host, and a host serving a guest says which guest. */
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

#include "lib/cleanup.h"
#include "lib/log.h"

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

/* vsock:PORT or vsock:CID:PORT (@rest is what follows "vsock:"); false if neither. */
static bool vsock_addr(const char *rest, unsigned long *cid, unsigned long *port)
{
	char buf[64], *colon;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", rest) >= sizeof(buf))
		return false;
	colon = strchr(buf, ':');
	if (!colon) {
		*cid = VMADDR_CID_HOST;
		return parse_uint(buf, UINT32_MAX, port);
	}
	*colon = 0;
	return parse_uint(buf, UINT32_MAX, cid) && parse_uint(colon + 1, UINT32_MAX, port);
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
		/* 0600 before listen(): until then a connect is refused anyway. */
		if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0 ||
		    chmod(tmp.sun_path, 0600) < 0 || listen(fd, 64) < 0 ||
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
		unsigned long cid, port;

		if (!vsock_addr(ep + 6, &cid, &port))
			return nb_err_set(e, EINVAL, "endpoint '%s': expected vsock:[CID:]PORT", ep);
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
	return nb_err_set(e, EINVAL, "endpoint '%s': expected unix:PATH, vsock:[CID:]PORT or fd:N",
			  ep);
}

int nestfs_peer_ok(int fd, const char *ep, uint32_t cid_want, struct nb_err *e)
{
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
		struct sockaddr_vm vm;
	} peer;
	socklen_t len = sizeof(peer);
	unsigned long cid = VMADDR_CID_HOST, port;

	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, &peer.sa, &len) < 0)
		return nb_err_sys(e, errno, "endpoint '%s': peer", ep);
	if (peer.sa.sa_family == AF_UNIX) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
			return nb_err_sys(e, errno, "endpoint '%s': SO_PEERCRED", ep);
		if (cr.uid != geteuid() && cr.uid != 0)
			return nb_err_set(e, EPERM, "endpoint '%s': refused pid %d of uid %u", ep,
					  (int)cr.pid, (unsigned)cr.uid);
		return 0;
	}
	if (peer.sa.sa_family == AF_VSOCK) {
		if (cid_want != NESTFS_PEER_CID_ANY)
			cid = cid_want;
		else if (!strncmp(ep, "vsock:", 6) && !vsock_addr(ep + 6, &cid, &port))
			return nb_err_set(e, EINVAL, "endpoint '%s': expected vsock:[CID:]PORT", ep);
		if (peer.vm.svm_cid != cid)
			return nb_err_set(e, EPERM, "endpoint '%s': refused cid %u (expected %lu)",
					  ep, peer.vm.svm_cid, cid);
		nb_debug("endpoint %s: cid %lu connected (nestfs)", ep, cid);
		return 0;
	}
	return nb_err_set(e, EPROTONOSUPPORT, "endpoint '%s': refused a peer of family %d", ep,
			  peer.sa.sa_family);
}

int nestfs_accept(int lfd, const char *ep, uint32_t cid_want, struct nb_err *e)
{
	autoclose int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int rc;

	if (fd < 0)
		return nb_err_sys(e, errno, "endpoint '%s': accept", ep);
	rc = nestfs_peer_ok(fd, ep, cid_want, e);
	if (rc < 0)
		return rc;
	return steal_fd(&fd);
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

		if (!strchr(ep + 6, ':'))
			return nb_err_set(e, EINVAL, "endpoint '%s': expected vsock:CID:PORT", ep);
		if (!vsock_addr(ep + 6, &cid, &port))
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
