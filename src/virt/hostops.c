/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hostops: the real probes behind struct virt_ops (CPUID, KVM run probe,
 * QEMU lookup, TSC measurement). */
#include "virt/virt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#include "lib/cleanup.h"

/* virt_ops.cpuid on this machine: the CPUID instruction; false off x86. */
static bool host_cpuid(void *ctx, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
#if HAVE_X86
	__cpuid_count(leaf, sub, out[0], out[1], out[2], out[3]);
	return true;
#else
	return false;
#endif
}

/* Port and value the probe guest writes: "mov al, 0x2a; out 0x10, al; hlt". */
#define PROBE_PORT 0x10
#define PROBE_VALUE 0x2a

/*
 * Run the probe in this (child) process; the exit status is the enum value.
 * A child keeps a misbehaving KVM_RUN from hanging doctor: the parent kills it.
 */
static int kvm_probe_child(const char *path)
{
	static const uint8_t code[] = { 0xb0, PROBE_VALUE, 0xe6, PROBE_PORT, 0xf4 };
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	int kvm, vm, vcpu, runsz;
	uint8_t *mem;

	kvm = open(path, O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return VIRT_KVM_OPEN_FAILED;
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return VIRT_KVM_BAD_API;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return VIRT_KVM_CREATE_FAILED;
	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return VIRT_KVM_CREATE_FAILED;
	memcpy(mem, code, sizeof(code));
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return VIRT_KVM_CREATE_FAILED;
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || runsz <= 0)
		return VIRT_KVM_CREATE_FAILED;
	run = mmap(NULL, (size_t)runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return VIRT_KVM_CREATE_FAILED;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return VIRT_KVM_CREATE_FAILED;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return VIRT_KVM_CREATE_FAILED;
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return VIRT_KVM_CREATE_FAILED;
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return VIRT_KVM_RUN_FAILED;
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != PROBE_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT ||
	    *((uint8_t *)run + run->io.data_offset) != PROBE_VALUE)
		return VIRT_KVM_RUN_FAILED;
	return VIRT_KVM_RAN;
}

/* virt_ops.kvm_probe on this machine: run a tiny real-mode guest in a child
 * (killed after 3 s) to see whether /dev/kvm really works. */
static enum virt_kvm_probe host_kvm_probe(void *ctx, const char *path, char *why,
					  size_t whylen)
{
	autoclose int fd = -1;
	struct timespec t0, t;
	pid_t pid;
	int status;

	/* Say why open fails in the parent, where errno is at hand. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "open %s: %s", path, strerror(errno));
		return VIRT_KVM_OPEN_FAILED;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return VIRT_KVM_CREATE_FAILED;
	}
	if (pid == 0)
		_exit(kvm_probe_child(path));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 3) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, whylen, "KVM_RUN of a real-mode probe did not return in 3 s");
			return VIRT_KVM_TIMEOUT;
		}
		poll(NULL, 0, 5);
	}
	if (!WIFEXITED(status)) {
		snprintf(why, whylen, "probe died of signal %d", WTERMSIG(status));
		return VIRT_KVM_RUN_FAILED;
	}
	switch (WEXITSTATUS(status)) {
	case VIRT_KVM_RAN:
		why[0] = '\0';
		return VIRT_KVM_RAN;
	case VIRT_KVM_BAD_API:
		snprintf(why, whylen, "KVM API version is not %d", KVM_API_VERSION);
		return VIRT_KVM_BAD_API;
	case VIRT_KVM_CREATE_FAILED:
		snprintf(why, whylen, "KVM_CREATE_VM or vCPU setup failed");
		return VIRT_KVM_CREATE_FAILED;
	case VIRT_KVM_OPEN_FAILED:
		snprintf(why, whylen, "open %s failed in the probe", path);
		return VIRT_KVM_OPEN_FAILED;
	default:
		snprintf(why, whylen, "KVM_RUN of a real-mode probe did not reach its OUT");
		return VIRT_KVM_RUN_FAILED;
	}
}

/* virt_find_qemu() - see virt.h */
bool virt_find_qemu(char *path, size_t len)
{
	const char *env = getenv("NESTBOX_QEMU");
	const char *p = getenv("PATH");
	const char *name = "qemu-system-x86_64";

	if (env && *env) {
		snprintf(path, len, "%s", env);
		return access(path, X_OK) == 0;
	}
	if (!p || !*p)
		p = "/usr/local/bin:/usr/bin:/bin";
	while (*p) {
		size_t n = strcspn(p, ":");

		if (n && (size_t)snprintf(path, len, "%.*s/%s", (int)n, p, name) < len &&
		    access(path, X_OK) == 0)
			return true;
		p += n;
		if (*p == ':')
			p++;
	}
	path[0] = '\0';
	return false;
}

/* virt_ops.qemu on this machine: qemu-system-x86_64 on $PATH and the version its --version
 * prints; false when there is none. */
static bool host_qemu(void *ctx, char *path, size_t pathlen, char *version, size_t versionlen)
{
	char line[256] = "";
	autoclose int rd = -1, wr = -1;
	int pfd[2];
	pid_t pid;
	ssize_t n;
	char *v;

	version[0] = '\0';
	if (!virt_find_qemu(path, pathlen))
		return false;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return true;
	rd = pfd[0];
	wr = pfd[1];
	pid = fork();
	if (pid == 0) {
		dup2(wr, STDOUT_FILENO);
		execl(path, path, "--version", (char *)NULL);
		_exit(127);
	}
	/* ours goes, so that the read ends when the child's copy does */
	close(steal_fd(&wr));
	n = pid > 0 ? read(rd, line, sizeof(line) - 1) : -1;
	close(steal_fd(&rd)); /* before waiting: more output gets EPIPE, never a full pipe */
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (n <= 0)
		return true;
	line[n] = '\0';
	/* "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)" */
	v = strstr(line, "version ");
	if (v)
		snprintf(version, versionlen, "%.*s", (int)strcspn(v + 8, " \n"), v + 8);
	return true;
}

/* CLOCK_MONOTONIC_RAW in nanoseconds: the clock the TSC is measured against. */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Count TSC ticks across 20 ms of CLOCK_MONOTONIC_RAW; the median of five. */
static uint64_t host_tsc_measure(void *ctx)
{
#if HAVE_X86
	uint64_t v[5];
	int n = 0;

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = mono_ns(), c0 = __rdtsc(), t1, c1;
		struct timespec d = { 0, 20 * 1000 * 1000 };

		nanosleep(&d, NULL);
		t1 = mono_ns();
		c1 = __rdtsc();
		if (t1 > t0 && c1 > c0)
			v[n++] = (c1 - c0) * 1000000ULL / (t1 - t0);
	}
	if (!n)
		return 0;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
#else
	return 0;
#endif
}

const struct virt_ops virt_host_ops = {
	.cpuid = host_cpuid,
	.kvm_probe = host_kvm_probe,
	.qemu = host_qemu,
	.tsc_measure = host_tsc_measure,
	.ctx = NULL,
};
