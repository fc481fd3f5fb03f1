/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/qemu: QEMU argv and supervised start (see qemu.h). */
#include "vm/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot/boot.h"
#include "lib/log.h"
#include "lib/strv.h"

/* nb_qemu_port_ok() - see qemu.h */
int nb_qemu_port_ok(const struct nb_port *p, struct nb_err *e)
{
	if (p->family != AF_INET)
		return nb_err_set(e, EAFNOSUPPORT,
				  "QEMU's user network forwards IPv4 host addresses only, not %s",
				  p->addr);
	return 0;
}

/* nb_qemu_argv() - see qemu.h */
int nb_qemu_argv(const struct nb_vm_config *c, char ***argv, struct nb_err *e)
{
	autostrv struct nb_strv a = { 0 };
	char fwd[NB_MAX_PORTS * 64] = "";
	size_t used = 0;

	nb_strv_addf(&a, "%s", c->qemu);
	nb_strv_addf(&a, "-M");
	/* q35 only where SMBIOS is wanted: its firmware costs ~0.7 s under TCG. */
	nb_strv_addf(&a, "%s", c->q35 ? "q35" : "microvm,x-option-roms=off,isa-serial=on,rtc=on");
	nb_strv_addf(&a, "-accel");
	nb_strv_addf(&a, "%s", c->kvm ? "kvm" : "tcg");
	if (c->kvm) {
		nb_strv_addf(&a, "-cpu");
		nb_strv_addf(&a, "host");
	}
	nb_strv_addf(&a, "-m");
	nb_strv_addf(&a, "%lluM", (unsigned long long)c->mem_mib);
	nb_strv_addf(&a, "-smp");
	nb_strv_addf(&a, "%u", c->cpus ? c->cpus : 1);
	nb_strv_addf(&a, "-nodefaults");
	nb_strv_addf(&a, "-no-user-config");
	nb_strv_addf(&a, "-nographic");
	nb_strv_addf(&a, "-no-reboot");
	nb_strv_addf(&a, "-global");
	nb_strv_addf(&a, "virtio-mmio.force-legacy=false");
	nb_strv_addf(&a, "-kernel");
	nb_strv_addf(&a, "%s", c->kernel);
	nb_strv_addf(&a, "-initrd");
	nb_strv_addf(&a, "/proc/self/fd/%d", NB_QFD_INITRD);
	/* tsc_early_khz: under TCG the guest's TSC calibration goes wrong at
	 * random and microvm guests hang without it. tsc=reliable: under TCG the
	 * guest's TSC is the host's, but the clocksource watchdog, delayed by
	 * host load, took it for unstable and fell back to jiffies (4 ms). */
	nb_strv_addf(&a, "-append");
	{
		char extra[96] = "";
		size_t n = 0;

		if (!c->kvm && c->tsc_khz)
			n += (size_t)snprintf(extra + n, sizeof(extra) - n,
					      " tsc=reliable tsc_early_khz=%llu",
					      (unsigned long long)c->tsc_khz);
		if (c->vsock_cid)
			snprintf(extra + n, sizeof(extra) - n, " nestbox.control=vsock:%u",
				 c->vsock_ctl_port);
		/* q35 has a PCI bus to probe: everything but pci=off. */
		nb_strv_addf(&a, "%s nestbox.depth=%d%s%s%s", c->q35 ? NB_KERNEL_ARGS_Q35 : NB_KERNEL_ARGS,
			     c->depth + 1, extra, c->append ? " " : "", c->append ? c->append : "");
	}
	if (c->smbios) {
		nb_strv_addf(&a, "-smbios");
		nb_strv_addf(&a, "%s", c->smbios);
	}
	if (!a.oom)
		nb_debug("kernel command line: %s", a.v[a.n - 1]);
	nb_strv_addf(&a, "-chardev");
	nb_strv_addf(&a, "socket,id=con,fd=%d", NB_QFD_CONSOLE);
	nb_strv_addf(&a, "-serial");
	nb_strv_addf(&a, "chardev:con");
	nb_strv_addf(&a, "-device");
	nb_strv_addf(&a, "%s", c->q35 ? "virtio-rng-pci,disable-legacy=on" : "virtio-rng-device");
	if (c->vsock_cid) {
		/* Control and nestfs travel as AF_VSOCK connections the guest
		 * makes to the host; no virtio-serial device at all. */
		nb_strv_addf(&a, "-device");
		nb_strv_addf(&a, "vhost-vsock-device,guest-cid=%u,vhostfd=%d", c->vsock_cid, NB_QFD_VHOST);
	} else {
		nb_strv_addf(&a, "-device");
		nb_strv_addf(&a, "%s,max_ports=%u",
			     c->q35 ? "virtio-serial-pci,disable-legacy=on" : "virtio-serial-device",
			     c->nshares + 2);
		nb_strv_addf(&a, "-chardev");
		nb_strv_addf(&a, "socket,id=ctl,fd=%d", NB_QFD_CTL);
		nb_strv_addf(&a, "-device");
		nb_strv_addf(&a, "virtserialport,chardev=ctl,name=nestbox.control");
		for (unsigned i = 0; i < c->nshares; i++) {
			const struct nb_share *s = &c->shares[i];

			nb_strv_addf(&a, "-chardev");
			nb_strv_addf(&a, "socket,id=fs%u,fd=%u", i, NB_QFD_SHARE0 + i);
			nb_strv_addf(&a, "-device");
			nb_strv_addf(&a, "virtserialport,chardev=fs%u,name=%s", i, s->port);
		}
	}
	if (c->net) {
		for (unsigned i = 0; i < c->nports && used < sizeof(fwd); i++) {
			const struct nb_port *p = &c->ports[i];

			if (nb_qemu_port_ok(p, e) < 0)
				return -EAFNOSUPPORT;
			/* hostfwd=PROTO:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT */
			used += (size_t)snprintf(fwd + used, sizeof(fwd) - used,
						 ",hostfwd=%s:%s:%u-:%u", nb_proto_name(p->proto),
						 p->addr, p->host, p->guest);
		}
		nb_strv_addf(&a, "-netdev");
		nb_strv_addf(&a, "user,id=n0%s", fwd);
		nb_strv_addf(&a, "-device");
		nb_strv_addf(&a, "%s,netdev=n0",
			     c->q35 ? "virtio-net-pci,disable-legacy=on" : "virtio-net-device");
	}
	*argv = nb_strv_steal(&a);
	if (!*argv)
		return nb_err_set(e, ENOMEM, "QEMU command line: out of memory");
	return 0;
}

/* nb_qemu_start() - see qemu.h */
pid_t nb_qemu_start(const struct nb_vm_config *c, bool die_with_parent, int *pidfd,
		    struct nb_err *e)
{
	char **argv = NULL;
	pid_t parent = getpid(), pid;
	int r, fd;

	r = nb_qemu_argv(c, &argv, e);
	if (r < 0)
		return r;
	if (!argv || !argv[0])
		return nb_err_set(e, EINVAL, "QEMU command line: empty");
	pid = fork();
	if (pid < 0) {
		nb_strv_free(argv);
		return nb_err_sys(e, errno, "fork QEMU");
	}
	if (pid == 0) {
		/* Each source fd goes to its fixed number (NB_QFD_*). */
		int src[4 + NB_MAX_SHARES], dst[4 + NB_MAX_SHARES], n = 0;
		int hi[4 + NB_MAX_SHARES];
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (die_with_parent) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(125);
		}
		src[n] = c->initrd_fd;
		dst[n++] = NB_QFD_INITRD;
		src[n] = c->ctl_fd;
		dst[n++] = NB_QFD_CTL;
		src[n] = c->console_fd;
		dst[n++] = NB_QFD_CONSOLE;
		for (unsigned i = 0; i < c->nshares; i++) {
			src[n] = c->shares[i].qemu_fd;
			dst[n++] = NB_QFD_SHARE0 + (int)i;
		}
		src[n] = c->vsock_cid ? c->vhost_fd : -1;
		dst[n++] = NB_QFD_VHOST;
		/* Out of the way first, so no source is overwritten by a target. */
		for (int i = 0; i < n; i++)
			hi[i] = src[i] >= 0 ? fcntl(src[i], F_DUPFD, 100) : -1;
		for (int i = 0; i < n; i++)
			if (hi[i] >= 0)
				dup2(hi[i], dst[i]);
		for (int i = 0; i < n; i++)
			if (hi[i] >= 0)
				close(hi[i]);
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		execv(argv[0], argv);
		fprintf(stderr, "nestbox: exec %s: %s\n", argv[0], strerror(errno));
		_exit(125);
	}
	nb_strv_free(argv);
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		r = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return nb_err_sys(e, r, "pidfd_open QEMU");
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	*pidfd = fd;
	return pid;
}
