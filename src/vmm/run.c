/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmm/run: options + image config -> spec, nestfs servers, QEMU, session. */
#include "vmm/run.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "boot/boot.h"
#include "control/proto.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "virt/virt.h"
#include "vmm/facts.h"
#include "vmm/qemu.h"
#include "vmm/session.h"
#include "vmm/state.h"
#include "vmm/supervise.h"
#include "vmm/sysrun.h"
#include "vmm/vsock.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include "fs/server.h"
#include "image/image.h"
#include "system/system.h"

/* nb_parse_size() - see run.h */
uint64_t nb_parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return 0;
	switch (tolower((unsigned char)*end)) {
	case 0:
	case 'm':
		break;
	case 'g':
		v *= 1024;
		break;
	case 'k':
		v /= 1024;
		break;
	case 'b':
		v /= 1024 * 1024;
		break;
	default:
		return 0;
	}
	if (*end && end[1] && !(tolower((unsigned char)end[1]) == 'b' && !end[2]) &&
	    !(tolower((unsigned char)end[1]) == 'i' && tolower((unsigned char)end[2]) == 'b' &&
	      !end[3]))
		return 0;
	return v;
}

/* nb_parse_duration_ms() - see run.h */
unsigned nb_parse_duration_ms(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v <= 0)
		return 0;
	if (!*end || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if (strcmp(end, "ms") != 0)
		return 0;
	return v > 86400000 ? 0 : (unsigned)v;
}

static bool port_ok(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return end != s && !*end && v > 0 && v < 65536;
}

/* nb_parse_port() - see run.h */
int nb_parse_port(const char *spec, char *out, size_t len, struct nb_err *e)
{
	char buf[128], *proto, *parts[3];
	int n = 0;
	const char *ip = "127.0.0.1", *host, *guest;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", spec) >= sizeof(buf))
		return nb_err_set(e, EINVAL, "port %s: too long", spec);
	proto = strchr(buf, '/');
	if (proto) {
		*proto++ = 0;
		if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
			return nb_err_set(e, EINVAL, "port %s: protocol must be tcp or udp",
					  spec);
	}
	for (char *s = buf, *c; n < 3; s = c + 1) {
		parts[n++] = s;
		c = strrchr(s, ':') == s + strlen(s) ? NULL : strchr(s, ':');
		if (!c)
			break;
		*c = 0;
	}
	if (n == 2) {
		host = parts[0];
		guest = parts[1];
	} else if (n == 3) {
		ip = parts[0][0] ? parts[0] : "127.0.0.1";
		host = parts[1];
		guest = parts[2];
	} else {
		return nb_err_set(e, EINVAL, "port %s: expected [IP:]HOST:GUEST[/tcp|udp]", spec);
	}
	if (!port_ok(host) || !port_ok(guest))
		return nb_err_set(e, EINVAL, "port %s: ports must be numbers 1-65535", spec);
	snprintf(out, len, "%s:%s:%s-:%s", proto ? proto : "tcp", ip, host, guest);
	return 0;
}

/* nb_parse_volume() - see run.h */
int nb_parse_volume(const char *spec, struct nb_volume *v, struct nb_err *e)
{
	char buf[PATH_MAX * 2 + 8], *guest, *mode;
	struct stat st;

	memset(v, 0, sizeof(*v));
	if ((size_t)snprintf(buf, sizeof(buf), "%s", spec) >= sizeof(buf))
		return nb_err_set(e, ENAMETOOLONG, "volume %s: too long", spec);
	guest = strchr(buf, ':');
	if (!guest || guest == buf)
		return nb_err_set(e, EINVAL, "volume %s: expected HOST:GUEST[:ro]", spec);
	*guest++ = 0;
	mode = strchr(guest, ':');
	if (mode) {
		*mode++ = 0;
		if (strcmp(mode, "ro") == 0)
			v->ro = true;
		else if (strcmp(mode, "rw") != 0)
			return nb_err_set(e, EINVAL, "volume %s: unknown option '%s'", spec, mode);
	}
	if (guest[0] != '/' || strstr(guest, "/..") || strcmp(guest, "/") == 0)
		return nb_err_set(e, EINVAL, "volume %s: the guest path must be absolute and not /",
				  spec);
	if (!realpath(buf, v->host))
		return nb_err_sys(e, errno, "volume %s: %s", spec, buf);
	if (stat(v->host, &st) < 0 || !S_ISDIR(st.st_mode))
		return nb_err_set(e, ENOTDIR, "volume %s: %s is not a directory", spec, buf);
	snprintf(v->guest, sizeof(v->guest), "%s", guest);
	return 0;
}

/* A growable NULL-terminated string vector. */
struct strv {
	char **v;
	size_t n;
};

static int strv_add(struct strv *s, const char *str)
{
	char **v = realloc(s->v, (s->n + 2) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	s->v = v;
	s->v[s->n] = strdup(str);
	if (!s->v[s->n])
		return -ENOMEM;
	s->v[++s->n] = NULL;
	return 0;
}

/* Set K=V in @env, replacing an earlier K. */
static int env_set(struct strv *env, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], kv, klen) == 0 && env->v[i][klen] == '=') {
			char *d = strdup(kv);

			if (!d)
				return -ENOMEM;
			free(env->v[i]);
			env->v[i] = d;
			return 0;
		}
	}
	return strv_add(env, kv);
}

struct image_cfg {
	char **entrypoint, **cmd, **env;
	const char *workdir, *user;
};

static int build_spawn(const struct nb_run_opts *o, const struct image_cfg *ic,
		       struct strv *argv, struct strv *env, struct nb_err *e)
{
	char **cmd = o->cmd && o->cmd[0] ? o->cmd : NULL;

	if (o->entrypoint) {
		if (o->entrypoint[0] && strv_add(argv, o->entrypoint) < 0)
			return -ENOMEM;
	} else {
		for (char **p = ic->entrypoint; p && *p; p++)
			if (strv_add(argv, *p) < 0)
				return -ENOMEM;
		if (!cmd)
			cmd = ic->cmd;
	}
	for (char **p = cmd; p && *p; p++)
		if (strv_add(argv, *p) < 0)
			return -ENOMEM;
	if (!argv->n)
		return nb_err_set(e, EINVAL, "no command: the image has none and none was given");
	for (char **p = ic->env; p && *p; p++)
		if (env_set(env, *p) < 0)
			return -ENOMEM;
	for (char **p = o->env; p && *p; p++) {
		if (strchr(*p, '=')) {
			if (env_set(env, *p) < 0)
				return -ENOMEM;
		} else {
			const char *v = getenv(*p);
			char *kv;

			if (!v)
				continue; /* podman: an unset host variable is skipped */
			if (asprintf(&kv, "%s=%s", *p, v) < 0)
				return -ENOMEM;
			if (env_set(env, kv) < 0) {
				free(kv);
				return -ENOMEM;
			}
			free(kv);
		}
	}
	return 0;
}

struct shares {
	unsigned n;
	int host_fd[NB_VM_MAX_SHARES];
	struct nestfs_server *srv[NB_VM_MAX_SHARES];
};

static void shares_free(struct shares *sh, struct nb_vm_config *vm)
{
	for (unsigned i = 0; i < sh->n; i++) {
		if (vm->shares[i].fd >= 0)
			close(vm->shares[i].fd);
		if (sh->host_fd[i] >= 0)
			close(sh->host_fd[i]);
		if (sh->srv[i])
			nestfs_server_free(sh->srv[i]);
	}
}

/* Add a share: a port for the guest, a nestfs server on the host. With
 * @vsock_port, the guest connects to that AF_VSOCK port and the vsock thread
 * hands the connection to the server; else a virtio-serial port carries it. */
static int add_share(struct shares *sh, struct nb_vm_config *vm, struct nb_ctl_config *cfg,
		     const char *dir, const char *target, bool ro, bool root, uint32_t vsock_port,
		     struct nb_err *e)
{
	unsigned i = sh->n;
	struct nb_vm_share *s = &vm->shares[i];
	int sp[2];

	if (i >= NB_VM_MAX_SHARES)
		return nb_err_set(e, E2BIG, "too many volumes");
	if (vsock_port)
		snprintf(s->port, sizeof(s->port), "vsock:%u", vsock_port);
	else
		snprintf(s->port, sizeof(s->port), "nestbox.fs.%u", i);
	s->fd = -1;
	sh->host_fd[i] = -1;
	sh->n++;
	vm->nshares = sh->n;
	cfg->shares[i].port = s->port;
	cfg->shares[i].target = target;
	cfg->shares[i].flags = (ro ? NB_SHARE_RO : 0) | (root ? NB_SHARE_ROOT : 0);
	cfg->nshares = sh->n;
	{
		/* An image's root does not change under a running VM: let the
		 * guest cache it. Volumes are shared with the host: auto. */
		struct nestfs_server_opts so = {
			.read_only = ro, .cache = root ? NESTFS_CACHE_ALWAYS : NESTFS_CACHE_AUTO,
			.threads = 4, .allow_devices = false,
		};
		int r;

		if (vsock_port) {
			sh->srv[i] = nestfs_server_new(dir, &so, e);
			return sh->srv[i] ? 0 : nb_err_wrap(e, "nestfs server for %s", dir);
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return nb_err_sys(e, errno, "socketpair for %s", dir);
		s->fd = sp[0];
		sh->srv[i] = nestfs_server_new(dir, &so, e);
		if (!sh->srv[i]) {
			close(sp[1]);
			return nb_err_wrap(e, "nestfs server for %s", dir);
		}
		r = nestfs_server_add_conn(sh->srv[i], sp[1], e);
		if (r < 0)
			return nb_err_wrap(e, "nestfs server for %s", dir);
	}
	return 0;
}

/*
 * vhost-vsock when the decision says so, the device opens, a CID can be
 * claimed, and the kernel can be the guest end; virtio-serial otherwise.
 * NESTBOX_TRANSPORT=virtio-serial (or vsock) overrides the choice, for
 * comparisons. Fills @vs (cid 0: virtio-serial) and says why with --debug.
 */
static void choose_transport(const struct virt_decision *d, const struct nb_kernel *k,
			     unsigned nports, struct nb_vsock *vs)
{
	const char *force = getenv("NESTBOX_TRANSPORT");
	struct nb_err e = NB_ERR_INIT;
	bool want = d->transport == VIRT_TRANSPORT_VSOCK;
	const char *why = d->transport_reason;

	if (force && strcmp(force, "virtio-serial") == 0) {
		want = false;
		why = "NESTBOX_TRANSPORT=virtio-serial";
	} else if (force && strcmp(force, "vsock") == 0) {
		want = true;
	}
	if (want && !nb_kernel_has_vsock(k)) {
		want = false;
		why = "the guest kernel has no vmw_vsock_virtio_transport";
	}
	if (want && nb_vsock_open(vs, nports, &e) < 0) {
		nb_debug("transport: vsock unusable (%s), falling back", e.msg);
		want = false;
		why = "vhost-vsock could not be set up";
	}
	if (want)
		nb_debug("transport: vsock (guest cid %u, control port %u)", vs->cid, vs->port[0]);
	else
		nb_debug("transport: virtio-serial (%s)", why);
}

static void make_id(char *id, size_t len)
{
	unsigned char r[6] = { 0 };

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		snprintf(id, len, "%012x", (unsigned)getpid());
	else
		snprintf(id, len, "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

/* What a detached run's supervisor carries into run_vm(). */
struct detach {
	struct nb_vm_state *st;
	int ready_fd;
	int listen_fd;
	int lifeline; /* -1, or a pidfd of the process the VM lives for */
};

/* A foreground run's record (without --rm): where its logs go, and whether
 * its command got as far as starting. */
struct fgrec {
	const struct nb_vm_state *st;
	int output_log, console_log, listen_fd;
	bool cmd_started;
};

/* --system: the spec's SPAWN is the image's init and the host key; the
 * client key goes as a credential by SMBIOS (-M q35) and/or the kernel
 * command line, as NESTBOX_SYSTEM_CREDENTIALS says (default: both). */
static int system_spawn(const struct nb_sys *sys, struct strv *argv, struct strv *env,
			struct nb_vm_config *vm, char *cmdline, size_t cmdlen, char *smbios,
			size_t smlen, struct nb_err *e)
{
	unsigned creds = nb_sys_creds_choice();
	autofree char *key = NULL, *pub = NULL;

	if (!creds)
		return nb_err_set(e, EINVAL, "NESTBOX_SYSTEM_CREDENTIALS=%s: expected smbios, "
				  "cmdline or both", getenv("NESTBOX_SYSTEM_CREDENTIALS"));
	if (asprintf(&key, NB_SYSTEM_ENV_HOST_KEY "=%s", sys->host_key) < 0 ||
	    asprintf(&pub, NB_SYSTEM_ENV_HOST_PUB "=%s\n", sys->host_pub) < 0 ||
	    strv_add(argv, "/sbin/init") < 0 || strv_add(env, key) < 0 || strv_add(env, pub) < 0)
		return nb_err_set(e, ENOMEM, "out of memory");
	if ((creds & NB_CREDS_CMDLINE) && nb_sys_cred_cmdline(sys, cmdline, cmdlen) < 0)
		return nb_err_set(e, EINVAL, "%s/ssh: the client key does not fit a command line",
				  sys->dir);
	if ((creds & NB_CREDS_SMBIOS) && nb_sys_cred_smbios(sys, smbios, smlen) < 0)
		return nb_err_set(e, EINVAL, "%s/ssh: the client key does not fit SMBIOS", sys->dir);
	vm->append = creds & NB_CREDS_CMDLINE ? cmdline : NULL;
	vm->smbios = creds & NB_CREDS_SMBIOS ? smbios : NULL;
	/* microvm has no SMBIOS tables; q35's firmware makes them. */
	vm->q35 = creds & NB_CREDS_SMBIOS;
	return 0;
}

/* Boot the VM and supervise it: in the foreground (@det NULL; @fg its
 * record, or NULL with --rm) or as the daemon of a detached VM. Returns the
 * exit code. */
static int run_vm(const struct nb_run_opts *o, struct detach *det, struct fgrec *fg,
		  struct nb_err *e)
{
	struct nb_session sess = { .t0_ns = nb_mono_ns(), .console_log = -1 };
	struct nb_vm_config vm = { .initrd_fd = -1, .ctl_fd = -1, .console_fd = -1 };
	struct nb_ctl_config cfg = { 0 };
	struct nb_ctl_spawn sp = { 0 };
	struct nb_ctl_buf spec = { 0 };
	struct image_cfg ic = { 0 };
	struct strv argv = { 0 }, env = { 0 };
	struct shares sh = { 0 };
	struct virt_facts facts;
	struct virt_decision dec;
	struct nb_kernel k;
	struct nb_vsock vs;
	char init[PATH_MAX], initramfs[PATH_MAX], id[16];
	char rootfs[PATH_MAX] = "";
	int ctl[2] = { -1, -1 }, con[2] = { -1, -1 };
	int code = NB_EXIT_FAILURE;
	sigset_t mask, old;
	struct nb_image_config *icfg = NULL;
	bool leased = false;
	unsigned boot_to;
	struct nb_sys sys;
	char cred_cmdline[512], cred_smbios[600];

	/* Signals are taken by the session's signalfd; block them before any
	 * thread (nestfs servers) exists, so none of those catches them. */
	nb_vsock_init(&vs);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);

	if (o->rootfs) {
		if (!realpath(o->rootfs, rootfs)) {
			nb_err_sys(e, errno, "rootfs %s", o->rootfs);
			goto out;
		}
	} else {
		if (nb_image_open_rootfs(o->image, rootfs, sizeof(rootfs), &icfg, e) < 0)
			goto out;
		leased = true;
		if (icfg) {
			ic.entrypoint = icfg->entrypoint;
			ic.cmd = icfg->cmd;
			ic.env = icfg->env;
			ic.workdir = icfg->workdir;
			ic.user = icfg->user;
		}
	}
	if (o->system) {
		if (!det) {
			nb_err_set(e, EINVAL, "--system runs under a supervisor");
			goto out;
		}
		if (nb_sys_check_image(rootfs, o->image ? o->image : o->rootfs, e) < 0 ||
		    nb_sys_prepare(det->st->dir, o->ssh_port, &sys, e) < 0 ||
		    system_spawn(&sys, &argv, &env, &vm, cred_cmdline, sizeof(cred_cmdline),
				 cred_smbios, sizeof(cred_smbios), e) < 0)
			goto out;
	} else if (build_spawn(o, &ic, &argv, &env, e) < 0) {
		if (!e->code)
			nb_err_set(e, ENOMEM, "out of memory");
		goto out;
	}
	{
		struct virt_ops ops;

		nb_run_virt_ops(&ops);
		virt_gather("", &ops, &facts);
	}
	virt_decide(&facts, &dec);
	if (o->accel == NB_ACCEL_KVM && !(facts.kvm_present && facts.kvm_probe == VIRT_KVM_RAN)) {
		nb_err_set(e, ENODEV, "--accel kvm: KVM does not work here (see nestbox doctor)");
		goto out;
	}
	vm.kvm = o->accel == NB_ACCEL_KVM || (o->accel == NB_ACCEL_AUTO && dec.accel == VIRT_ACCEL_KVM);
	if (!facts.qemu_found) {
		nb_err_set(e, ENOENT, "QEMU not found (apt-get install qemu-system-x86)");
		goto out;
	}
	vm.qemu = facts.qemu_path;
	vm.tsc_khz = facts.tsc_khz;
	vm.depth = facts.depth;
	boot_to = o->boot_timeout_ms ? o->boot_timeout_ms
		  : virt_boot_timeout_ms(vm.kvm ? VIRT_ACCEL_KVM : VIRT_ACCEL_TCG, vm.depth);
	/* --kernel image: the kernel the image ships, found in its root;
	 * --system always boots it. */
	if ((o->system || (o->kernel && strcmp(o->kernel, "image") == 0)
		     ? nb_kernel_find_image(rootfs, o->image ? o->image : o->rootfs, &k, e)
		     : nb_kernel_find(o->kernel, &k, e)) < 0 ||
	    nb_init_path(init, sizeof(init), e) < 0 ||
	    nb_initramfs_get(&k, init, initramfs, sizeof(initramfs), e) < 0)
		goto out;
	vm.kernel = k.kernel;
	vm.mem_mib = o->mem_mib ? o->mem_mib : 512;
	vm.cpus = o->cpus ? o->cpus : 1;
	vm.net = true;
	for (unsigned i = 0; i < o->nports; i++)
		snprintf(vm.fwds[vm.nfwds++], sizeof(vm.fwds[0]), "%s", o->ports[i]);

	if (det || fg)
		snprintf(id, sizeof(id), "%s", det ? det->st->id : fg->st->id);
	else
		make_id(id, sizeof(id));
	cfg.hostname = o->name ? o->name : id;
	cfg.net = 1;
	choose_transport(&dec, &k, 2 + o->nvolumes, &vs);
	if (vs.cid) {
		vm.vsock_cid = vs.cid;
		vm.vsock_ctl_port = vs.port[0];
		vm.vhost_fd = vs.vhost_fd;
	}
	if (add_share(&sh, &vm, &cfg, rootfs, "/", true, true, vs.cid ? vs.port[1] : 0, e) < 0)
		goto out;
	for (unsigned i = 0; i < o->nvolumes; i++)
		if (add_share(&sh, &vm, &cfg, o->volumes[i].host, o->volumes[i].guest,
			      o->volumes[i].ro, false, vs.cid ? vs.port[2 + i] : 0, e) < 0)
			goto out;
	/* Detached, nobody feeds stdin: the command gets /dev/null. */
	sp.flags = (o->tty ? NB_SPAWN_TTY : 0) | (o->interactive && !det ? NB_SPAWN_STDIN : 0) |
		   (o->system ? NB_SPAWN_SYSTEM : 0);
	if (o->tty) {
		struct winsize ws;

		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
			sp.rows = ws.ws_row;
			sp.cols = ws.ws_col;
		}
	}
	sp.cwd = o->workdir ? o->workdir : ic.workdir && ic.workdir[0] ? ic.workdir : "/";
	sp.user = o->user ? o->user : ic.user ? ic.user : "";
	sp.argv = argv.v;
	sp.env = env.v ? env.v : (char *[]){ NULL };
	nb_ctl_put_config(&spec, &cfg);
	nb_ctl_put_spawn(&spec, 0, &sp);
	if (spec.oom) {
		nb_err_set(e, E2BIG, "the command, environment or volumes are too large");
		goto out;
	}
	vm.initrd_fd = nb_initrd_for_run(initramfs, spec.data, spec.len, e);
	if (vm.initrd_fd < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0) {
		nb_err_sys(e, errno, "socketpair");
		goto out;
	}
	vm.console_fd = con[1];
	if (vs.cid) {
		/* The session reads ctl[0] as ever; the vsock thread relays
		 * between ctl[1] and the guest's connection. */
		if (nb_vsock_start(&vs, steal_fd(&ctl[1]), sh.srv, e) < 0)
			goto out;
	} else {
		vm.ctl_fd = ctl[1];
	}
	sess.qemu_start_ns = nb_mono_ns();
	sess.qemu_pid = nb_qemu_start(&vm, true, &sess.qemu_pidfd, e);
	if (sess.qemu_pid < 0)
		goto out;
	nb_debug("qemu started: host %.1f ms", (double)(sess.qemu_start_ns - sess.t0_ns) / 1e6);
	/* QEMU holds its ends now. */
	if (ctl[1] >= 0)
		close(steal_fd(&ctl[1]));
	close(steal_fd(&con[1]));
	close(steal_fd(&vm.initrd_fd));
	for (unsigned i = 0; i < sh.n; i++)
		if (vm.shares[i].fd >= 0)
			close(steal_fd(&vm.shares[i].fd));
	if (det) {
		struct nb_supervisor sv = {
			.qemu_pid = sess.qemu_pid, .qemu_pidfd = sess.qemu_pidfd, .ctl = ctl[0],
			.console = con[0], .ready_fd = det->ready_fd, .listen_fd = det->listen_fd,
			.boot_timeout_ms = boot_to,
			.st = det->st, .lifeline_fd = det->lifeline,
		};

		code = nb_supervise(&sv) < 0 ? NB_EXIT_FAILURE : 0;
		det->ready_fd = sv.ready_fd;
		close(sess.qemu_pidfd);
		goto out;
	}
	sess.ctl = ctl[0];
	sess.console = con[0];
	sess.show_console = o->console;
	if (fg) {
		sess.console_log = fg->console_log;
		sess.log_output = true;
		sess.output_log = fg->output_log;
		sess.serve = true;
		sess.listen_fd = fg->listen_fd;
	}
	sess.tty = o->tty;
	sess.stdin_open = o->interactive;
	sess.in_fd = STDIN_FILENO;
	sess.out_fd = STDOUT_FILENO;
	sess.err_fd = STDERR_FILENO;
	sess.boot_timeout_ms = boot_to;
	code = nb_session_run(&sess, e);
	if (fg)
		fg->cmd_started = sess.phase_ns[NB_PHASE_COMMAND] != 0;
	close(sess.qemu_pidfd);
out:
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (con[i] >= 0)
			close(con[i]);
	}
	if (vm.initrd_fd >= 0)
		close(vm.initrd_fd);
	/* The vsock thread hands connections to the servers: it goes first. */
	nb_vsock_close(&vs);
	shares_free(&sh, &vm);
	nb_ctl_buf_free(&spec);
	nb_strv_free(argv.v);
	nb_strv_free(env.v);
	if (leased)
		nb_image_release_rootfs(rootfs);
	if (icfg)
		nb_image_config_free(icfg);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return e->code ? NB_EXIT_FAILURE : code;
}

/* The command line as one string, for ps. */
static void join_cmd(const struct nb_run_opts *o, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	if (o->entrypoint && o->entrypoint[0])
		used += (size_t)snprintf(buf, len, "%s", o->entrypoint);
	for (char **p = o->cmd; p && *p && used < len; p++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "", *p);
}

/* "tcp:IP:HOST-:GUEST" rules as podman's ps shows them: "IP:HOST->GUEST/tcp". */
static void join_ports(const struct nb_run_opts *o, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < o->nports && used < len; i++) {
		char r[96], *proto = r, *ip, *host, *guest;

		snprintf(r, sizeof(r), "%s", o->ports[i]);
		ip = strchr(proto, ':');
		host = ip ? strchr(ip + 1, ':') : NULL;
		guest = host ? strstr(host + 1, "-:") : NULL;
		if (!guest)
			continue;
		*ip++ = 0;
		*host++ = 0;
		*guest = 0;
		guest += 2;
		used += (size_t)snprintf(buf + used, len - used, "%s%s:%s->%s/%s", used ? ", " : "",
					 ip, host, guest, proto);
	}
}

/* A new record for this run (-d, or the foreground without --rm), its lock
 * held: the lock fd, or -errno (-EEXIST: the name is taken). */
static int new_record(const struct nb_run_opts *o, bool detached, struct nb_vm_state *st,
		      struct nb_err *e)
{
	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	snprintf(st->name, sizeof(st->name), "%s", o->name ? o->name : "");
	snprintf(st->image, sizeof(st->image), "%s", o->image ? o->image : o->rootfs);
	join_cmd(o, st->command, sizeof(st->command));
	join_ports(o, st->ports, sizeof(st->ports));
	snprintf(st->status, sizeof(st->status), detached ? "starting" : "running");
	st->created = (int64_t)time(NULL);
	st->rm = o->rm;
	st->detached = detached;
	st->pid = getpid();
	return nb_state_create(st, e);
}

/* The foreground without --rm: a record that outlives the run, as podman
 * keeps a container. The lock is held until the exit code is written, so a
 * CLI killed on the way leaves a record ps shows as exited, code unknown. */
static int run_foreground(const struct nb_run_opts *o, struct nb_err *e)
{
	struct nb_vm_state st;
	struct fgrec fg = { .st = &st, .output_log = -1, .console_log = -1, .listen_fd = -1 };
	char path[PATH_MAX + 32];
	int lockfd = new_record(o, false, &st, e), code;

	if (lockfd < 0)
		return NB_EXIT_FAILURE;
	nb_state_path(&st, "output.log", path, sizeof(path));
	fg.output_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	nb_state_path(&st, "console.log", path, sizeof(path));
	fg.console_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fg.output_log < 0 || fg.console_log < 0) {
		nb_err_sys(e, errno, "create %s", path);
		code = NB_EXIT_FAILURE;
	} else {
		/* exec, stop and wait reach it as they reach a detached VM. */
		fg.listen_fd = nb_supervisor_listen(st.id, e);
		code = fg.listen_fd < 0 ? NB_EXIT_FAILURE : run_vm(o, NULL, &fg, e);
	}
	if (fg.listen_fd >= 0)
		close(fg.listen_fd);
	if (fg.output_log >= 0)
		close(fg.output_log);
	if (fg.console_log >= 0)
		close(fg.console_log);
	if (e->code && !fg.cmd_started) {
		/* nestbox failed before the command ran (bad input, no boot):
		 * nothing is left, as with -d. A VM that died under a running
		 * command stays, exited with 125. */
		nb_state_remove(st.dir);
	} else {
		snprintf(st.status, sizeof(st.status), "exited");
		st.exit_code = code;
		st.finished = (int64_t)time(NULL);
		nb_state_write(&st, NULL);
	}
	close(lockfd);
	return code;
}

/* -d: state dir and lock, then a daemon (double fork, setsid) that runs the
 * VM; this side waits for its word that the command started. With @out, the
 * record goes there and nothing is printed (nb_run_detached()). */
static int run_detached(const struct nb_run_opts *o, pid_t owner, struct nb_vm_state *out,
			struct nb_err *e)
{
	struct nb_vm_state st;
	char msg[8192];
	int ready[2], lockfd, r = 0;
	size_t got = 0;
	pid_t pid;

	lockfd = new_record(o, true, &st, e);
	if (lockfd < 0)
		return lockfd;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		r = nb_err_sys(e, errno, "pipe");
		close(lockfd);
		nb_state_remove(st.dir);
		return r;
	}
	pid = fork();
	if (pid == 0) {
		struct detach det = {
			.st = &st, .ready_fd = ready[1], .listen_fd = -1, .lifeline = -1,
		};
		struct nb_err se = NB_ERR_INIT;
		int nul, code;

		close(ready[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		st.pid = getpid();
		nb_state_write(&st, NULL);
		if (owner > 0) {
			/* Taken while the owner waits on ready[0]: it is alive now. */
			det.lifeline = (int)syscall(SYS_pidfd_open, owner, 0);
			if (det.lifeline < 0)
				nb_err_sys(&se, errno, "pidfd_open %d", (int)owner);
		}
		det.listen_fd = se.code ? -1 : nb_supervisor_listen(st.id, &se);
		code = det.listen_fd < 0 ? NB_EXIT_FAILURE : run_vm(o, &det, NULL, &se);
		if (det.ready_fd >= 0) {
			char m[sizeof(se.msg) + 8];

			snprintf(m, sizeof(m), "err %s", se.code ? se.msg : "the VM failed");
			nb_write_all(det.ready_fd, m, strlen(m));
		}
		if (st.rm || code == NB_EXIT_FAILURE)
			nb_state_remove(st.dir);
		_exit(0);
	}
	close(ready[1]);
	close(lockfd);
	if (pid < 0) {
		close(ready[0]);
		nb_state_remove(st.dir);
		return r < 0 ? r : nb_err_sys(e, errno, "fork");
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	for (;;) {
		ssize_t n = read(ready[0], msg + got, sizeof(msg) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(ready[0]);
	msg[got] = 0;
	if (out)
		*out = st;
	if (strcmp(msg, "ok") == 0) {
		if (!out)
			printf("%s\n", st.id);
		return 0;
	}
	if (strncmp(msg, "exit ", 5) == 0) {
		char *end;
		long code = strtol(msg + 5, &end, 10);

		if (*end == ' ' && end[1])
			nb_error("%s", end + 1);
		if (code != 0 || !end[0] || !end[1])
			return (int)code;
		if (!out)
			printf("%s\n", st.id);
		return 0;
	}
	return nb_err_set(e, EIO, "%s", strncmp(msg, "err ", 4) == 0 ? msg + 4
					  : "the VM's supervisor died while starting");
}

/* nb_run_detached() - see run.h */
int nb_run_detached(const struct nb_run_opts *o, pid_t owner, struct nb_vm_state *st,
		    struct nb_err *e)
{
	return run_detached(o, owner, st, e);
}

/* nb_run() - see run.h */
int nb_run(const struct nb_run_opts *o, struct nb_err *e)
{
	if (o->system)
		return nb_system_run(o, e);
	if (o->detach)
		return run_detached(o, 0, NULL, e);
	if (!o->rm)
		return run_foreground(o, e);
	/* --rm in the foreground leaves no record, but takes no name in use. */
	if (o->name && nb_state_check_name(o->name, e) < 0)
		return NB_EXIT_FAILURE;
	return run_vm(o, NULL, NULL, e);
}
