/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs sandbox: the process a nestfs server runs in.
 *
 * Theory of operation (after virtiofsd's sandbox.rs and seccomp.rs): the
 * server parses every frame a guest sends, so it is the part of nestbox a
 * guest attacks first. It runs in a process of its own (never in the CLI's,
 * which holds the VM's state and every other VM's), and that process holds
 * as little as its work allows:
 *
 * - namespaces: a new pid namespace (it sees no other process; its /proc is
 *   its own), a new mount namespace whose root is a read-only tmpfs holding
 *   only the export (bound at NESTFS_SANDBOX_EXPORT, read-only for a
 *   read-only export) and that /proc (the passthrough reopens O_PATH fds
 *   through /proc/self/fd), the host's tree detached; a new network
 *   namespace (only a down loopback), IPC and UTS namespaces. `..` at the
 *   export's top leads into the empty tmpfs at worst, never to the host.
 * - capabilities: the few its system calls need (see nestfs_sandbox_lock());
 *   no CAP_SYS_ADMIN, so trusted.* xattrs stay out of reach; the bounding
 *   and ambient sets emptied and no_new_privs set, so nothing regains any.
 * - seccomp: an allow-list of the system calls the server, glibc's threads
 *   and its allocator make; anything else kills the process. New threads
 *   only (clone needs CLONE_THREAD; clone3 says ENOSYS so glibc uses clone),
 *   no new sockets, no exec, no mount, no ptrace, no setuid (only the
 *   per-thread setfsuid/setfsgid), unshare only of CLONE_FS (a worker's own
 *   umask), ioctl only TCGETS (isatty).
 *
 * The process that unshared stays outside the pid namespace as the
 * sandbox's parent: it forwards stop signals and exits with the server's
 * status; the server dies with it (PR_SET_PDEATHSIG).
 */
#include "fs/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/leak.h"

/* Write @s to @path (a /proc file of ours); 0 or -errno. */
static int write_file(const char *path, const char *s)
{
	autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(s);

	if (fd < 0)
		return -errno;
	return write(fd, s, n) == (ssize_t)n ? 0 : -errno;
}

/* Run as non-root: in our new user namespace we are who we were, nobody more. */
static int map_ids(uid_t uid, gid_t gid, struct nb_err *e)
{
	char m[64];
	int r;

	r = write_file("/proc/self/setgroups", "deny");
	if (r < 0 && r != -ENOENT)
		return nb_err_sys(e, -r, "sandbox: /proc/self/setgroups");
	snprintf(m, sizeof(m), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	r = write_file("/proc/self/uid_map", m);
	if (r < 0)
		return nb_err_sys(e, -r, "sandbox: uid_map");
	snprintf(m, sizeof(m), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	r = write_file("/proc/self/gid_map", m);
	if (r < 0)
		return nb_err_sys(e, -r, "sandbox: gid_map");
	return 0;
}

/* Whether @dir is our root, "/" however it is named. */
static bool is_root(const char *dir)
{
	struct stat a, b;

	return stat(dir, &a) == 0 && stat("/", &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/*
 * The new root: a tmpfs with a detached copy of @dir's mount tree, taken
 * first, moved to export/ (read-only, recursively, for a read-only export)
 * and a fresh proc at proc/; then it is made the root. The tmpfs needs a
 * mountpoint for a while, in our mount namespace only; as the export is a
 * copy, any directory would do: @dir itself, which exists wherever we
 * serve, or /dev when @dir is the root (a lookup of "/" sees no mount over it).
 */
static int make_root(const char *dir, bool read_only, struct nb_err *e)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	const char *mp = is_root(dir) ? "/dev" : dir;
	char tgt[64];
	autoclose int tfd = -1, tree = -1;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return nb_err_sys(e, errno, "sandbox: make / private");
	tree = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return nb_err_sys(e, errno, "sandbox: copy %s", dir);
	if (read_only && mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro,
				       sizeof(ro)) < 0)
		return nb_err_sys(e, errno, "sandbox: %s read-only", dir);
	if (mount("nestfs-sandbox", mp, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=16k,nr_inodes=16,mode=0755") < 0)
		return nb_err_sys(e, errno, "sandbox: tmpfs root on %s", mp);
	tfd = open(mp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return nb_err_sys(e, errno, "sandbox: open its root");
	if (mkdirat(tfd, &NESTFS_SANDBOX_EXPORT[1], 0755) < 0 || mkdirat(tfd, "proc", 0555) < 0)
		return nb_err_sys(e, errno, "sandbox: mkdir");
	if (move_mount(tree, "", tfd, &NESTFS_SANDBOX_EXPORT[1], MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return nb_err_sys(e, errno, "sandbox: mount %s", dir);
	snprintf(tgt, sizeof(tgt), "/proc/self/fd/%d/proc", tfd);
	if (mount("proc", tgt, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return nb_err_sys(e, errno, "sandbox: mount proc");
	if (fchdir(tfd) < 0)
		return nb_err_sys(e, errno, "sandbox: chdir");
	/* pivot_root(".", ".") stacks the old root under the new one; detach it.
	 * Where / cannot be pivoted (a root that was itself moved onto rootfs
	 * and chrooted into), move the tmpfs onto / and chroot as switch_root
	 * does: the old tree is then covered, and nothing here may chroot again. */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return nb_err_sys(e, errno, "sandbox: detach the host's root");
	} else if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0) {
		return nb_err_sys(e, errno, "sandbox: enter its root");
	}
	if (chdir("/") < 0)
		return nb_err_sys(e, errno, "sandbox: chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
		  MS_NOEXEC, NULL) < 0)
		return nb_err_sys(e, errno, "sandbox: root read-only");
	return 0;
}

/* The outer process: pass stop signals on, wait for @child; its exit status. */
static int outer_wait(pid_t child, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si), st;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		if (waitpid(child, &st, WNOHANG) != child)
			continue;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
}

int nestfs_sandbox_enter(const char *dir, bool read_only, int *status, struct nb_err *e)
{
	/* The pid namespace now, for the child we fork; the rest in the child
	 * alone, so that its new root is not the outer process's too. */
	int flags = CLONE_NEWPID;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	autoclose int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);	/* named errors early */
	int alive[2], r;
	sigset_t set, old;
	pid_t pid;

	if (dfd < 0)
		return nb_err_sys(e, errno, "%s", dir);
	if (uid != 0)
		flags |= CLONE_NEWUSER;
	if (unshare(flags) < 0)
		return nb_err_sys(e, errno, "sandbox: unshare the pid namespace");
	/* Neither this process nor the sandboxed child can host LeakSanitizer
	 * any more (lib/leak.h); the server's code is leak-checked in process
	 * by the unit tests (tests/unit/test_fs.c runs servers in process). */
	nb_leak_check_off();
	if (uid != 0) {
		r = map_ids(uid, gid, e);
		if (r < 0)
			return r;
	}
	/* The child learns of the outer's death by this pipe's other end closing. */
	if (pipe2(alive, O_CLOEXEC) < 0)
		return nb_err_sys(e, errno, "sandbox: pipe");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid = fork();
	if (pid < 0) {
		r = errno;
		close(alive[0]);
		close(alive[1]);
		return nb_err_sys(e, r, "sandbox: fork");
	}
	if (pid > 0) {
		/* Nothing the server had is the outer's business. */
		close(alive[0]);
		if (alive[1] != 3 && dup2(alive[1], 3) < 0)
			_exit(125);
		syscall(SYS_close_range, 4u, ~0u, 0u);
		*status = outer_wait(pid, &set);
		return 1;
	}
	close(alive[1]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (poll(&(struct pollfd){ .fd = alive[0], .events = POLLIN }, 1, 0) != 0)
		_exit(125);	/* the outer is already gone */
	close(alive[0]);
	if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		return nb_err_sys(e, errno, "sandbox: unshare namespaces");
	if (!sigismember(&old, SIGCHLD)) {
		sigset_t chld;

		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
	}
	return make_root(dir, read_only, e);
}

/* ---- capabilities ---- */

/* The capabilities a server of @o uses: each a bit. */
static uint64_t caps_needed(const struct nestfs_server_opts *o)
{
	uint64_t k = 1ull << CAP_DAC_OVERRIDE;

	if (o->read_only)
		return k;
	k |= 1ull << CAP_CHOWN | 1ull << CAP_FOWNER | 1ull << CAP_FSETID | 1ull << CAP_SETUID |
	     1ull << CAP_SETGID;
	if (o->allow_devices)
		k |= 1ull << CAP_MKNOD;
	if (o->allow_suid)
		k |= 1ull << CAP_SETFCAP;
	return k;
}

static int drop_caps(uint64_t keep, struct nb_err *e)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	/* The bounding set first: dropping from it needs CAP_SETPCAP, still ours. */
	for (unsigned c = 0; c < 64; c++)
		if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL)
			return nb_err_sys(e, errno, "sandbox: drop capability %u from the bounding set",
					  c);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return nb_err_sys(e, errno, "sandbox: clear ambient capabilities");
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return nb_err_sys(e, errno, "sandbox: capget");
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));

		d[i].effective &= k;
		d[i].permitted &= k;
		d[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &h, d) < 0)
		return nb_err_sys(e, errno, "sandbox: capset");
	return 0;
}

/* ---- seccomp ---- */

#if defined(__x86_64__)
#define SB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* Allowed whatever their arguments; the hottest first, as the filter is a linear scan. */
static const int allowed[] = {
	SYS_read, SYS_write, SYS_pread64, SYS_pwrite64, SYS_readv, SYS_writev, SYS_futex,
	SYS_openat, SYS_close, SYS_newfstatat, SYS_fstat, SYS_statx, SYS_getdents64, SYS_lseek,
	SYS_fcntl, SYS_flock, SYS_fsync, SYS_fdatasync, SYS_ftruncate, SYS_fallocate,
	SYS_copy_file_range, SYS_fstatfs, SYS_statfs, SYS_mkdirat, SYS_mknodat, SYS_symlinkat,
	SYS_linkat, SYS_unlinkat, SYS_renameat2, SYS_readlinkat, SYS_fchmod, SYS_fchmodat,
	SYS_fchown, SYS_fchownat, SYS_utimensat, SYS_faccessat,
#ifdef SYS_faccessat2
	SYS_faccessat2,
#endif
#ifdef SYS_fchmodat2
	SYS_fchmodat2,
#endif
	SYS_fgetxattr, SYS_fsetxattr, SYS_flistxattr, SYS_fremovexattr, SYS_getxattr,
	SYS_lgetxattr, SYS_setxattr, SYS_lsetxattr, SYS_listxattr, SYS_llistxattr,
	SYS_removexattr, SYS_lremovexattr, SYS_setfsuid, SYS_setfsgid, SYS_umask,
	SYS_dup, SYS_dup3, SYS_close_range, SYS_pipe2, SYS_eventfd2, SYS_ppoll,
	SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait, SYS_signalfd4, SYS_accept4,
	SYS_getsockopt, SYS_getpeername, SYS_getsockname, SYS_shutdown, SYS_sendmsg,
	SYS_recvmsg, SYS_sendto, SYS_recvfrom, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap,
	SYS_madvise, SYS_brk, SYS_set_robust_list, SYS_rseq, SYS_exit, SYS_exit_group,
	SYS_gettid, SYS_getpid, SYS_tgkill, SYS_rt_sigprocmask, SYS_rt_sigaction,
	SYS_rt_sigreturn, SYS_rt_sigtimedwait, SYS_sigaltstack, SYS_restart_syscall,
	SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep, SYS_gettimeofday,
	SYS_sched_yield, SYS_sched_getaffinity, SYS_getrandom, SYS_prlimit64, SYS_getuid,
	SYS_geteuid, SYS_getgid, SYS_getegid, SYS_membarrier,
#ifdef SYS_open
	SYS_open, SYS_stat, SYS_lstat, SYS_poll, SYS_epoll_wait, SYS_pipe, SYS_dup2,
	SYS_access, SYS_readlink, SYS_getrlimit, SYS_setrlimit,
#endif
#ifdef SYS_openat2
	SYS_openat2,
#endif
#ifdef SYS_renameat
	SYS_renameat,	/* glibc's renameat2() without flags */
#endif
#ifdef SYS_epoll_pwait2
	SYS_epoll_pwait2,
#endif
};

#define SB_STMT(code, k)		((struct sock_filter)BPF_STMT(code, k))
#define SB_JUMP(code, k, jt, jf)	((struct sock_filter)BPF_JUMP(code, k, jt, jf))
#define SB_LD_NR	SB_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define SB_LD_ARG(i)	SB_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]))

/* nr == @nr and (low 32 bits of) args[@arg] & @mask == @want: allow; else EPERM. */
static unsigned arg_rule(struct sock_filter *f, int nr, int arg, uint32_t mask, uint32_t want)
{
	unsigned n = 0;

	f[n++] = SB_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 5);
	f[n++] = SB_LD_ARG(arg);
	f[n++] = SB_STMT(BPF_ALU | BPF_AND | BPF_K, mask);
	f[n++] = SB_JUMP(BPF_JMP | BPF_JEQ | BPF_K, want, 0, 1);
	f[n++] = SB_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = SB_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	return n;
}

static int install_seccomp(struct nb_err *e)
{
#ifdef SB_AUDIT_ARCH
	struct sock_filter f[2 * (sizeof(allowed) / sizeof(allowed[0])) + 64];
	struct sock_fprog prog;
	unsigned n = 0;

	f[n++] = SB_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = SB_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SB_AUDIT_ARCH, 1, 0);
	f[n++] = SB_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = SB_LD_NR;
#ifdef __x86_64__
	/* x32 system calls are other numbers for the same calls: none. */
	f[n++] = SB_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
	f[n++] = SB_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		f[n++] = SB_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)allowed[i], 0, 1);
		f[n++] = SB_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	}
#ifdef SYS_clone3
	/* clone3's flags are in memory a filter cannot read: glibc falls back to clone. */
	f[n++] = SB_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
	f[n++] = SB_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
#endif
	/* Threads, not processes. (x86-64 and arm64 both pass flags first.) */
	n += arg_rule(f + n, SYS_clone, 0, CLONE_THREAD, CLONE_THREAD);
	/* A worker's own umask, nothing else. */
	n += arg_rule(f + n, SYS_unshare, 0, 0xffffffffu, CLONE_FS);
	n += arg_rule(f + n, SYS_ioctl, 1, 0xffffffffu, TCGETS);
	n += arg_rule(f + n, SYS_prctl, 0, 0xffffffffu, PR_SET_NAME);
	f[n++] = SB_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog = (struct sock_fprog){ .len = (unsigned short)n, .filter = f };
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return nb_err_sys(e, errno, "sandbox: seccomp filter");
	return 0;
#else
	return nb_err_set(e, ENOSYS, "sandbox: no seccomp allow-list for this architecture");
#endif
}

int nestfs_sandbox_lock(const struct nestfs_server_opts *o, struct nb_err *e)
{
	int r = drop_caps(caps_needed(o), e);

	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return nb_err_sys(e, errno, "sandbox: no_new_privs");
	return install_seccomp(e);
}
