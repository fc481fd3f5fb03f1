/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/launch: from a launch context to a running QEMU (see launch.h). */
#include "vm/launch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "vm/facts.h"

/* nb_launch_init() - see launch.h */
void nb_launch_init(struct nb_launch *l)
{
	memset(l, 0, sizeof(*l));
	l->vm = (struct nb_vm_config){ .initrd_fd = -1, .ctl_fd = -1, .console_fd = -1,
				       .vhost_fd = -1 };
	l->qemu_pidfd = l->ctl = l->console = l->fs_stop = -1;
	nb_vsock_init(&l->vsock);
}

/* The machine: its facts, the accelerator, QEMU, the boot timeout. */
static int pick_machine(struct nb_launch *l, struct nb_err *e)
{
	struct virt_ops ops;
	bool kvm_works;

	nb_run_virt_ops(&ops);
	virt_gather("", &ops, &l->facts);
	virt_decide(&l->facts, &l->dec);
	kvm_works = l->facts.kvm_present && l->facts.kvm_probe == VIRT_KVM_RAN;
	if (l->opts.accel == NB_ACCEL_KVM && !kvm_works)
		return nb_err_set(e, ENODEV, "--accel kvm: KVM does not work here (see nestbox doctor)");
	if (!l->facts.qemu_found)
		return nb_err_set(e, ENOENT, "QEMU not found (apt-get install qemu-system-x86)");
	l->vm.kvm = l->opts.accel == NB_ACCEL_KVM ||
		    (l->opts.accel == NB_ACCEL_AUTO && l->dec.accel == VIRT_ACCEL_KVM);
	l->vm.qemu = l->facts.qemu_path;
	l->vm.tsc_khz = l->facts.tsc_khz;
	l->vm.depth = l->facts.depth;
	l->vm.mem_mib = l->opts.mem_mib ? l->opts.mem_mib : 512;
	l->vm.cpus = l->opts.cpus ? l->opts.cpus : 1;
	l->vm.net = true;
	l->vm.ports = l->opts.ports;
	l->vm.nports = l->opts.nports;
	l->vm.q35 = l->q35;
	l->vm.smbios = l->smbios;
	l->vm.append = l->append;
	l->boot_timeout_ms = l->opts.boot_timeout_ms;
	if (!l->boot_timeout_ms)
		l->boot_timeout_ms = virt_boot_timeout_ms(l->vm.kvm ? VIRT_ACCEL_KVM : VIRT_ACCEL_TCG,
							  l->vm.depth);
	return 0;
}

/* The kernel (--kernel) and its cached initramfs. */
static int pick_kernel(struct nb_launch *l, struct nb_err *e)
{
	char init[PATH_MAX];
	int r;

	switch (l->opts.kernel.kind) {
	case NB_KERNEL_IMAGE:
		r = nb_kernel_find_image(l->rootfs, l->image, &l->k, e);
		break;
	case NB_KERNEL_PATH:
		r = nb_kernel_find(l->opts.kernel.path, &l->k, e);
		break;
	case NB_KERNEL_DEFAULT:
	default:
		r = nb_kernel_find(NULL, &l->k, e);
		break;
	}
	if (r < 0 || (r = nb_init_path(init, sizeof(init), e)) < 0 ||
	    (r = nb_initramfs_get(&l->k, init, l->initramfs, sizeof(l->initramfs), e)) < 0)
		return r;
	l->vm.kernel = l->k.kernel;
	return 0;
}

/*
 * vhost-vsock when the decision says so, the device opens, a CID can be
 * claimed, and the kernel can be the guest end; virtio-serial otherwise.
 * NESTBOX_TRANSPORT=virtio-serial (or vsock) overrides the choice, for
 * comparisons. Sets l->vsock (cid 0: virtio-serial) and says why with --debug.
 */
static void choose_transport(struct nb_launch *l)
{
	const char *force = getenv("NESTBOX_TRANSPORT");
	struct nb_err e = NB_ERR_INIT;
	bool want = l->dec.transport == VIRT_TRANSPORT_VSOCK;
	const char *why = l->dec.transport_reason;

	if (force && strcmp(force, "virtio-serial") == 0) {
		want = false;
		why = "NESTBOX_TRANSPORT=virtio-serial";
	} else if (force && strcmp(force, "vsock") == 0) {
		want = true;
	}
	if (want && !nb_kernel_has_vsock(&l->k)) {
		want = false;
		why = "the guest kernel has no vmw_vsock_virtio_transport";
	}
	if (want && nb_vsock_open(&l->vsock, &e) < 0) {
		nb_debug("transport: vsock unusable (%s), falling back", e.msg);
		want = false;
		why = "vhost-vsock could not be set up";
	}
	if (!want) {
		nb_debug("transport: virtio-serial (%s)", why);
		return;
	}
	nb_debug("transport: vsock (guest cid %u, control port %u)", l->vsock.cid,
		 l->vsock.ctl_port);
	l->vm.vsock_cid = l->vsock.cid;
	l->vm.vsock_ctl_port = l->vsock.ctl_port;
	l->vm.vhost_fd = l->vsock.vhost_fd;
}

/* One share more: @want (its host, guest and flags) opened. */
static int add_share(struct nb_launch *l, const struct nb_share *want, struct nb_err *e)
{
	struct nb_share *s = &l->shares[l->nshares];

	if (l->nshares >= NB_MAX_SHARES)
		return nb_err_set(e, E2BIG, "at most %u volumes", NB_MAX_VOLUMES);
	*s = *want;
	s->qemu_fd = -1;
	if (nb_share_open(s, l->nshares, l->vsock.cid ? &l->vsock : NULL, e) < 0)
		return -(e && e->code ? e->code : EIO);
	l->nshares++;
	l->vm.shares = l->shares;
	l->vm.nshares = l->nshares;
	return 0;
}

/* The root (read-only, a private tree), then every volume with its -v options. */
static int open_shares(struct nb_launch *l, struct nb_err *e)
{
	int r = add_share(l, &(struct nb_share){ .host = l->rootfs, .guest = "/", .ro = true,
						 .root = true }, e);

	for (unsigned i = 0; r == 0 && i < l->opts.nvolumes; i++) {
		const struct nb_volume *v = &l->opts.volumes[i];

		r = add_share(l, &(struct nb_share){ .host = v->host, .guest = v->guest,
						     .ro = v->ro, .suid = v->suid, .dev = v->dev },
			      e);
	}
	return r;
}

/* The run's spec (CONFIG, the main SPAWN) appended to the initramfs. */
static int make_initrd(struct nb_launch *l, struct nb_err *e)
{
	struct nb_ctl_config cfg = { .hostname = l->hostname, .net = 1, .nshares = l->nshares };
	struct nb_ctl_buf spec = { 0 };
	int fd;

	for (unsigned i = 0; i < l->nshares; i++)
		cfg.shares[i] = nb_share_ctl(&l->shares[i]);
	nb_ctl_put_config(&spec, &cfg);
	nb_ctl_put_spawn(&spec, 0, l->spawn);
	if (spec.oom) {
		nb_ctl_buf_free(&spec);
		return nb_err_set(e, E2BIG, "the command, environment or volumes are too large");
	}
	fd = nb_initrd_for_run(l->initramfs, spec.data, spec.len, e);
	nb_ctl_buf_free(&spec);
	if (fd < 0)
		return fd;
	l->vm.initrd_fd = fd;
	return 0;
}

/* The control and console streams, the vsock relay, and QEMU; then QEMU's
 * ends are closed here (QEMU holds them). */
static int start_qemu(struct nb_launch *l, struct nb_err *e)
{
	autoclose int ctl_qemu = -1, con_qemu = -1;
	int ctl[2], con[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0)
		return nb_err_sys(e, errno, "socketpair");
	l->ctl = ctl[0];
	ctl_qemu = ctl[1];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0)
		return nb_err_sys(e, errno, "socketpair");
	l->console = con[0];
	con_qemu = con[1];
	l->vm.console_fd = con_qemu;
	if (l->vsock.cid) {
		/* The loop reads l->ctl as ever; the vsock thread relays
		 * between the other end and the guest's connection. */
		if (nb_vsock_start(&l->vsock, steal_fd(&ctl_qemu), e) < 0)
			return -(e && e->code ? e->code : EIO);
	} else {
		l->vm.ctl_fd = ctl_qemu;
	}
	l->qemu_start_ns = nb_mono_ns();
	l->qemu_pid = nb_qemu_start(&l->vm, true, &l->qemu_pidfd, e);
	if (l->qemu_pid < 0) {
		int r = l->qemu_pid;

		l->qemu_pid = 0;
		return r;
	}
	nb_debug("qemu started: host %.1f ms", (double)(l->qemu_start_ns - l->t0_ns) / 1e6);
	l->vm.ctl_fd = l->vm.console_fd = -1; /* closed on return */
	close(steal_fd(&l->vm.initrd_fd));
	for (unsigned i = 0; i < l->nshares; i++)
		if (l->shares[i].qemu_fd >= 0)
			close(steal_fd(&l->shares[i].qemu_fd));
	return 0;
}

/* The watch: until told to stop, wait on every server; one that fails takes QEMU down. */
static void *fs_watch_main(void *arg)
{
	struct nb_launch *l = arg;
	struct pollfd p[NB_MAX_SHARES + 1];
	bool gone[NB_MAX_SHARES] = { false };

	for (;;) {
		char why[64];

		p[0] = (struct pollfd){ .fd = l->fs_stop, .events = POLLIN };
		for (unsigned i = 0; i < l->nshares; i++)
			p[1 + i] = (struct pollfd){ .fd = gone[i] ? -1 : l->shares[i].srv_pidfd,
						    .events = POLLIN };
		if (poll(p, 1 + l->nshares, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		for (unsigned i = 0; i < l->nshares; i++) {
			if (gone[i] || !(p[1 + i].revents & POLLIN))
				continue;
			gone[i] = true;
			if (!nb_share_failed(&l->shares[i], why, sizeof(why)))
				continue;	/* its guest closed its connection */
			nb_error("the nestfs server for %s %s; stopping the VM", l->shares[i].host,
				 why);
			kill(l->qemu_pid, SIGKILL);
		}
	}
}

static int start_fs_watch(struct nb_launch *l, struct nb_err *e)
{
	int r;

	l->fs_stop = eventfd(0, EFD_CLOEXEC);
	if (l->fs_stop < 0)
		return nb_err_sys(e, errno, "eventfd");
	r = pthread_create(&l->fs_watch, NULL, fs_watch_main, l);
	if (r != 0)
		return nb_err_sys(e, r, "nestfs watch thread");
	l->fs_watching = true;
	return 0;
}

static void stop_fs_watch(struct nb_launch *l)
{
	uint64_t one = 1;

	if (l->fs_watching) {
		if (write(l->fs_stop, &one, sizeof(one)) != (ssize_t)sizeof(one))
			nb_warn("cannot stop the nestfs watch thread");
		pthread_join(l->fs_watch, NULL);
		l->fs_watching = false;
	}
	if (l->fs_stop >= 0)
		close(l->fs_stop);
	l->fs_stop = -1;
}

/* nb_launch_start() - see launch.h */
int nb_launch_start(struct nb_launch *l, struct nb_err *e)
{
	int r;

	if ((r = pick_machine(l, e)) < 0 || (r = pick_kernel(l, e)) < 0)
		return r;
	choose_transport(l);
	if ((r = open_shares(l, e)) < 0 || (r = make_initrd(l, e)) < 0 ||
	    (r = start_qemu(l, e)) < 0 || (r = start_fs_watch(l, e)) < 0)
		return r;
	return 0;
}

/* nb_launch_close() - see launch.h */
void nb_launch_close(struct nb_launch *l)
{
	if (l->ctl >= 0)
		close(l->ctl);
	if (l->console >= 0)
		close(l->console);
	if (l->qemu_pidfd >= 0)
		close(l->qemu_pidfd);
	if (l->vm.initrd_fd >= 0)
		close(l->vm.initrd_fd);
	l->ctl = l->console = l->qemu_pidfd = l->vm.initrd_fd = -1;
	/* Servers stopped from here on are no failure. */
	stop_fs_watch(l);
	nb_vsock_close(&l->vsock);
	for (unsigned i = 0; i < l->nshares; i++)
		nb_share_close(&l->shares[i]);
	l->nshares = 0;
}
