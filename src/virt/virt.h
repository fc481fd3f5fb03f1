/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virt: what machine nestbox runs on (CPU, hypervisor, KVM, devices, nesting)
 * and what it will therefore use (accelerator, transport), with reasons.
 *
 * Theory of operation: virt_gather() collects facts, reading files through an
 * injectable root (so tests fake /proc, /sys and /dev) and asking everything
 * that is not a file (CPUID, the KVM run probe, QEMU, TSC measurement) through
 * struct virt_ops. virt_decide() is a pure function of those facts. doctor
 * prints both; run uses the decision. */
#ifndef NESTBOX_VIRT_VIRT_H
#define NESTBOX_VIRT_VIRT_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/* Result of asking a /dev/kvm to run a tiny real-mode guest. */
enum virt_kvm_probe {
	VIRT_KVM_RAN,		/* KVM_CREATE_VM + vCPU + KVM_RUN reached the expected OUT */
	VIRT_KVM_OPEN_FAILED,	/* open(/dev/kvm) failed */
	VIRT_KVM_BAD_API,	/* KVM_GET_API_VERSION is not 12 */
	VIRT_KVM_CREATE_FAILED, /* KVM_CREATE_VM or vCPU setup failed */
	VIRT_KVM_RUN_FAILED,	/* KVM_RUN failed or exited unexpectedly */
	VIRT_KVM_TIMEOUT,	/* KVM_RUN did not return in time */
};

/**
 * struct virt_ops - probes that are not file reads; replaced in unit tests
 * @cpuid:	execute CPUID(@leaf, @sub); false if the CPU has no such
 *		instruction (non-x86)
 * @kvm_probe:	open @path and run a real-mode guest; write a reason to @why
 * @qemu:	find the QEMU binary, fill @path and @version; false if none
 * @tsc_measure: measure the TSC frequency in kHz; 0 if impossible
 * @ctx:	passed back to every op
 */
struct virt_ops {
	bool (*cpuid)(void *ctx, uint32_t leaf, uint32_t sub, uint32_t out[4]);
	enum virt_kvm_probe (*kvm_probe)(void *ctx, const char *path, char *why,
					 size_t whylen);
	bool (*qemu)(void *ctx, char *path, size_t pathlen, char *version,
		     size_t versionlen);
	uint64_t (*tsc_measure)(void *ctx);
	void *ctx;
};

/* The ops that talk to the real machine. */
extern const struct virt_ops virt_host_ops;

/**
 * virt_find_qemu() - the QEMU binary run uses and doctor reports:
 * $NESTBOX_QEMU when set, else qemu-system-x86_64 searched in $PATH
 * (/usr/local/bin:/usr/bin:/bin without one), without running it
 * @path:	output ("" when there is none)
 *
 * Return: whether an executable was found
 */
bool virt_find_qemu(char *path, size_t len);

enum virt_tristate { VIRT_NO = 0, VIRT_YES = 1, VIRT_UNKNOWN = -1 };

/**
 * struct virt_facts - everything doctor reports
 * See docs/man/nestbox-doctor.1.scd for the JSON names of these fields.
 */
struct virt_facts {
	char arch[65];			/* "x86_64" (utsname.machine) */
	char cpu_vendor[16];		/* CPUID leaf 0: "GenuineIntel", "AuthenticAMD" */
	char cpu_model[64];		/* /proc/cpuinfo model name */
	bool hypervisor_bit;		/* CPUID.1:ECX[31] */
	char hv_signature[16];		/* CPUID 0x40000000 signature, raw */
	char hypervisor[32];		/* "KVM", "Microsoft Hv", "VMware", "Xen", "TCG", "none", ... */
	char dmi_vendor[64];		/* /sys/class/dmi/id/sys_vendor, "" if none */
	char dmi_product[64];		/* /sys/class/dmi/id/product_name, "" if none */
	char sys_hypervisor[32];	/* /sys/hypervisor/type, "" if none */
	char platform[64];		/* best guess at the VMM: "Firecracker or QEMU microvm", "bare metal", ... */
	bool vmx, svm;			/* hardware virtualization offered to us */
	enum virt_tristate nested;	/* kvm_intel/kvm_amd "nested" parameter */
	bool kvm_present;		/* /dev/kvm exists */
	bool kvm_pvm;			/* /sys/module/kvm_pvm: PVM-backed KVM */
	enum virt_kvm_probe kvm_probe;	/* valid when kvm_present */
	char kvm_why[128];		/* the probe's reason when it did not run */
	bool vhost_vsock;		/* /dev/vhost-vsock opens read-write */
	bool vhost_net, fuse, tun;	/* /dev/vhost-net, /dev/fuse, /dev/net/tun exist */
	bool qemu_found;		/* a qemu-system-x86_64 on $PATH */
	char qemu_path[256];		/* its path, when found */
	char qemu_version[32];		/* "7.2.19" from its --version, "" if unknown */
	uint64_t tsc_khz;		/* 0 if unknown */
	char tsc_source[32];		/* "cpuid 0x40000010", "cpuid 0x15", "measured" */
	int depth;			/* nestbox nesting depth: nestbox.depth=N, 0 on a host */
};

enum virt_accel { VIRT_ACCEL_KVM, VIRT_ACCEL_TCG };
enum virt_transport { VIRT_TRANSPORT_VSOCK, VIRT_TRANSPORT_VSERIAL };

/**
 * struct virt_decision - what run will use, and why (one line each)
 */
struct virt_decision {
	enum virt_accel accel;		/* KVM or TCG */
	char accel_reason[160];		/* why, one line */
	enum virt_transport transport;	/* vsock or virtio-serial for control and shares */
	char transport_reason[160];	/* why, one line */
};

/**
 * virt_gather() - collect the facts of the machine
 * @root:	"" for the real machine, else a directory standing for "/"
 * @ops:	probes (virt_host_ops for the real machine)
 * @f:		output, fully written
 */
void virt_gather(const char *root, const struct virt_ops *ops, struct virt_facts *f);

/**
 * virt_decide() - choose accelerator and transport from the facts
 * @f:		facts from virt_gather()
 * @d:		output
 */
void virt_decide(const struct virt_facts *f, struct virt_decision *d);

/* virt_accel_name() - "kvm" or "tcg" */
const char *virt_accel_name(enum virt_accel a);

/* virt_transport_name() - "vsock" or "virtio-serial" */
const char *virt_transport_name(enum virt_transport t);

/**
 * virt_boot_timeout_ms() - how long run waits for nestbox-init's first word
 * @a:		the accelerator the VM runs under
 * @depth:	this machine's nestbox depth (0 on a host, 1 inside a nestbox VM)
 *
 * TCG inside TCG costs about twenty times per level (a depth-1 boot takes
 * 3 s here, a depth-2 one 70 s), so the wait grows by depth.
 * Return: milliseconds
 */
unsigned virt_boot_timeout_ms(enum virt_accel a, int depth);

/* virt_kvm_probe_name() - "ran", "open-failed", ... (stable, used in JSON) */
const char *virt_kvm_probe_name(enum virt_kvm_probe p);

/* virt_parse_depth() - nestbox.depth=N from a kernel command line; 0 if absent */
int virt_parse_depth(const char *cmdline);

/* virt_hypervisor_name() - a readable name for a CPUID 0x40000000 signature */
const char *virt_hypervisor_name(const char *signature);

#endif
