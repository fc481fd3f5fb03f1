/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest setup: pseudo filesystems, modules, control port, root, network. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "guest/setup.h"
#include "fs/client.h"
#include "lib/cleanup.h"
#include "lib/err.h"

#define NEWROOT "/mnt/root"
#define LOWER	"/mnt/lower"
#define RW	"/mnt/rw"

/* guest_early_mounts() - see setup.h */
void guest_early_mounts(void)
{
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
}

/* guest_load_modules() - see setup.h */
int guest_load_modules(const char *list)
{
	autofclose FILE *f = fopen(list, "re");
	char line[256];
	int ret = 0;

	if (!f)
		return 0; /* a kernel with everything built in */
	while (fgets(line, sizeof(line), f)) {
		char path[300];
		autoclose int fd = -1;

		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		snprintf(path, sizeof(path), "/nestbox/%s", line);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0) {
			if (errno != EEXIST) {
				guest_log("load module %s: %s", line, strerror(errno));
				ret = ret ? ret : -errno;
			}
		}
	}
	return ret;
}

/* The first line of the small file @path (a sysfs attribute) into @buf. */
static int read_small(const char *path, char *buf, size_t len)
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* The device node of the virtio-serial port called @name, made if devtmpfs
 * has not made it yet; -ENOENT while there is none. */
static int find_port(const char *name, char *dev, size_t len)
{
	autodir DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *de;
	int ret = -ENOENT;

	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		char p[300], v[128];
		unsigned maj, min;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (read_small(p, v, sizeof(v)) < 0 || strcmp(v, name) != 0)
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/dev", de->d_name);
		if (read_small(p, v, sizeof(v)) < 0)
			continue;
		{
			char *end;

			maj = (unsigned)strtoul(v, &end, 10);
			if (*end != ':')
				continue;
			min = (unsigned)strtoul(end + 1, &end, 10);
		}
		snprintf(dev, len, "/dev/%s", de->d_name);
		/* devtmpfs creates the node asynchronously; do not wait for it. */
		if (access(dev, F_OK) < 0)
			mknod(dev, S_IFCHR | 0600, makedev(maj, min));
		ret = 0;
		break;
	}
	return ret;
}

/* Connect to the host (CID 2) on vsock @port; -errno on failure. */
static int vsock_connect(uint32_t port)
{
	struct sockaddr_vm a = {
		.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = port,
	};
	autoclose int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	return steal_fd(&fd);
}

/* guest_open_port() - see setup.h */
int guest_open_port(const char *name)
{
	char dev[300];

	if (strncmp(name, "vsock:", 6) == 0) {
		char *end;
		unsigned long port = strtoul(name + 6, &end, 10);
		int fd = -EINVAL;

		if (end == name + 6 || *end || port > UINT32_MAX)
			return -EINVAL;
		for (int i = 0; i < 1000; i++) {
			fd = vsock_connect((uint32_t)port);
			if (fd >= 0)
				return fd;
			usleep(10000);
		}
		return fd;
	}

	for (int i = 0; i < 10000; i++) {
		if (find_port(name, dev, sizeof(dev)) == 0) {
			int fd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);

			if (fd >= 0)
				return fd;
		}
		usleep(1000);
	}
	return -ENOENT;
}

/* guest_control_port() - see setup.h */
void guest_control_port(char *buf, size_t len)
{
	const char *key = "nestbox.control=";
	char cmdline[4096];
	autoclose int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, cmdline, sizeof(cmdline) - 1);

	snprintf(buf, len, "%s", NB_CONTROL_PORT);
	if (n <= 0)
		return;
	cmdline[n] = 0;
	for (char *p = cmdline; (p = strstr(p, key)); p += strlen(key)) {
		if (p != cmdline && p[-1] != ' ')
			continue;
		p += strlen(key);
		snprintf(buf, len, "%.*s", (int)strcspn(p, " \n"), p);
		return;
	}
}

/* guest_read_spec() - see setup.h */
int guest_read_spec(struct guest *g)
{
	autoclose int fd = open("/nestbox/spec", O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t off = 0;
	int have = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > 16 << 20)
		return -EINVAL;
	g->spec = malloc((size_t)st.st_size);
	g->spec_len = (size_t)st.st_size;
	if (!g->spec || read(fd, g->spec, g->spec_len) != (ssize_t)g->spec_len)
		return -EIO;
	while (off < g->spec_len) {
		struct nb_ctl_frame f;
		int n = nb_ctl_parse(g->spec + off, g->spec_len - off, &f);

		if (n <= 0)
			return -EPROTO;
		off += (size_t)n;
		if (f.type == NB_CTL_CONFIG) {
			if (nb_ctl_decode_config(&f, &g->cfg) < 0)
				return -EPROTO;
			have |= 1;
		} else if (f.type == NB_CTL_SPAWN) {
			g->spawn_frame = f;
			have |= 2;
		}
	}
	return have == 3 ? 0 : -EPROTO;
}

/* mkdir -p, ignoring what exists */
static void mkdirs(const char *path, mode_t mode)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = 0;
			mkdir(p, mode);
			*s = '/';
		}
	}
	mkdir(p, mode);
}

/* Mount one share at @target. */
static int mount_share(const struct nb_ctl_share *sh, const char *target, struct nb_err *e)
{
	struct nestfs_mount_opts o = {
		.readers = 2,
		.fsname = sh->port,
		.extra_opts = NULL,
		.read_only = sh->flags & NB_SHARE_RO,
	};
	struct nestfs_mount *m;
	int fd = guest_open_port(sh->port);

	if (fd < 0)
		return nb_err_sys(e, -fd, "open port %s", sh->port);
	/* owns @fd from here on, also when it fails */
	m = nestfs_mount_start(fd, target, &o, e);
	if (!m)
		return nb_err_wrap(e, "mount %s", target);
	/* The pump threads live as long as PID 1; the mount is never freed. */
	return 0;
}

/* Replace @path (never through a symlink) with a file holding @text. */
static int write_text(const char *path, const char *text)
{
	autoclose int fd = -1;
	size_t n = strlen(text);

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n)
		return -EIO;
	return 0;
}

/* /etc/hostname, /etc/hosts and (with a network) /etc/resolv.conf in the new root. */
static void write_etc(const struct nb_ctl_config *cfg)
{
	char buf[512];

	mkdir(NEWROOT "/etc", 0755);
	snprintf(buf, sizeof(buf), "%s\n", cfg->hostname);
	write_text(NEWROOT "/etc/hostname", buf);
	snprintf(buf, sizeof(buf),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "%s\t%s\n",
		 cfg->net ? "10.0.2.15" : "127.0.1.1", cfg->hostname);
	write_text(NEWROOT "/etc/hosts", buf);
	if (cfg->net)
		write_text(NEWROOT "/etc/resolv.conf", "nameserver 10.0.2.3\n");
}

/* guest_setup_root() - see setup.h */
int guest_setup_root(struct guest *g, struct nb_err *e)
{
	const struct nb_ctl_share *root = NULL;
	int r;

	for (uint32_t i = 0; i < g->cfg.nshares; i++)
		if (g->cfg.shares[i].flags & NB_SHARE_ROOT)
			root = &g->cfg.shares[i];
	if (!root)
		return nb_err_set(e, EINVAL, "the spec names no root share");
	mkdirs(LOWER, 0755);
	mkdirs(RW, 0755);
	mkdirs(NEWROOT, 0755);
	r = mount_share(root, LOWER, e);
	if (r < 0)
		return r;
	if (mount("tmpfs", RW, "tmpfs", 0, "mode=0755") < 0 || mkdir(RW "/upper", 0755) < 0 ||
	    mkdir(RW "/work", 0755) < 0)
		return nb_err_sys(e, errno, "tmpfs for the overlay");
	if (mount("overlay", NEWROOT, "overlay", 0,
		  "lowerdir=" LOWER ",upperdir=" RW "/upper,workdir=" RW "/work") < 0)
		return nb_err_sys(e, errno, "overlay root");
	for (uint32_t i = 0; i < g->cfg.nshares; i++) {
		const struct nb_ctl_share *sh = &g->cfg.shares[i];
		char t[4096];

		if (sh->flags & NB_SHARE_ROOT)
			continue;
		if (sh->target[0] != '/' || strstr(sh->target, ".."))
			return nb_err_set(e, EINVAL, "volume target %s: not a clean absolute path",
					  sh->target);
		snprintf(t, sizeof(t), NEWROOT "%s", sh->target);
		mkdirs(t, 0755);
		r = mount_share(sh, t, e);
		if (r < 0)
			return r;
	}
	mkdirs(NEWROOT "/proc", 0555);
	mkdirs(NEWROOT "/sys", 0555);
	mkdirs(NEWROOT "/dev", 0755);
	mkdirs(NEWROOT "/tmp", 01777);
	mkdirs(NEWROOT "/run", 0755);
	mount("/proc", NEWROOT "/proc", NULL, MS_MOVE, NULL);
	mount("/sys", NEWROOT "/sys", NULL, MS_MOVE, NULL);
	mount("/dev", NEWROOT "/dev", NULL, MS_MOVE, NULL);
	mkdirs(NEWROOT "/dev/pts", 0755);
	mkdirs(NEWROOT "/dev/shm", 01777);
	mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	      "newinstance,ptmxmode=0666,mode=0620");
	mount("shm", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	symlink("pts/ptmx", NEWROOT "/dev/ptmx");
	write_etc(&g->cfg);
	sethostname(g->cfg.hostname, strlen(g->cfg.hostname));
	if (chdir(NEWROOT) < 0 || mount(NEWROOT, "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		return nb_err_sys(e, errno, "switch to the new root");
	return 0;
}

/* Set interface @name up (through the socket @s). */
static void if_up(int s, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
}

/* Give interface @name the address or netmask @ip (@req: SIOCSIFADDR or
 * SIOCSIFNETMASK); a failure is logged. */
static void set_addr(int s, const char *name, unsigned long req, const char *ip)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
	if (ioctl(s, req, &ifr) < 0)
		guest_log("%s %s: %s", name, ip, strerror(errno));
}

/* guest_setup_net() - see setup.h */
void guest_setup_net(const struct nb_ctl_config *cfg)
{
	autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct rtentry rt;

	if (s < 0)
		return;
	if_up(s, "lo");
	if (cfg->net) {
		set_addr(s, "eth0", SIOCSIFADDR, "10.0.2.15");
		set_addr(s, "eth0", SIOCSIFNETMASK, "255.255.255.0");
		if_up(s, "eth0");
		memset(&rt, 0, sizeof(rt));
		((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
		inet_pton(AF_INET, "10.0.2.2", &((struct sockaddr_in *)&rt.rt_gateway)->sin_addr);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		if (ioctl(s, SIOCADDRT, &rt) < 0)
			guest_log("default route: %s", strerror(errno));
	}
}
