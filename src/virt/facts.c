/* SPDX-License-Identifier: GPL-2.0-or-later */
/* facts: gather struct virt_facts from an (injectable) root and probes. */
#include "virt/virt.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"

/* Known CPUID 0x40000000 signatures (12 bytes, EBX ECX EDX). */
static const struct {
	const char *sig;
	const char *name;
} hv_names[] = {
	{ "KVMKVMKVM", "KVM" },
	{ "Microsoft Hv", "Microsoft Hv" },
	{ "VMwareVMware", "VMware" },
	{ "XenVMMXenVMM", "Xen" },
	{ "TCGTCGTCGTCG", "TCG" },
	{ "bhyve bhyve ", "bhyve" },
	{ "ACRNACRNACRN", "ACRN" },
	{ " lrpepyh  vr", "Parallels" },
	{ "VBoxVBoxVBox", "VirtualBox" },
	{ "QNXQVMBSQG", "QNX" },
	{ "PVMPVMPVM", "PVM" },
};

/* virt_hypervisor_name() - see virt.h */
const char *virt_hypervisor_name(const char *signature)
{
	for (size_t i = 0; i < sizeof(hv_names) / sizeof(hv_names[0]); i++)
		if (strcmp(signature, hv_names[i].sig) == 0)
			return hv_names[i].name;
	return signature[0] ? "unknown" : "none";
}

/* virt_parse_depth() - see virt.h */
int virt_parse_depth(const char *cmdline)
{
	const char *p = cmdline;
	const char *key = "nestbox.depth=";

	while ((p = strstr(p, key))) {
		if (p == cmdline || p[-1] == ' ' || p[-1] == '\t') {
			char *end;
			long v = strtol(p + strlen(key), &end, 10);

			if (end != p + strlen(key) && v >= 0 && v < 1000 &&
			    (*end == '\0' || *end == ' ' || *end == '\n'))
				return (int)v;
		}
		p += strlen(key);
	}
	return 0;
}

/* Read a one-line sysfs-like file into @buf, "" when absent. */
static void read_line(const char *root, const char *path, char *buf, size_t len)
{
	if (nb_read_file(root, path, buf, len, NULL) < 0)
		buf[0] = '\0';
	nb_strip(buf);
}

/* @n CPUID registers as the ASCII string they spell (vendor, signature); @dst holds 4 * @n +
 * 1. */
static void copy_regs(char *dst, const uint32_t *regs, size_t n)
{
	memcpy(dst, regs, n * 4);
	dst[n * 4] = '\0';
}

/* Vendor, hypervisor bit and signature, VMX/SVM from CPUID, through @ops. */
static void gather_cpuid(const struct virt_ops *ops, struct virt_facts *f)
{
	uint32_t r[4];

	if (!ops->cpuid(ops->ctx, 0, 0, r))
		return;
	/* Vendor string is EBX, EDX, ECX. */
	uint32_t v[3] = { r[1], r[3], r[2] };

	copy_regs(f->cpu_vendor, v, 3);
	if (r[0] >= 1 && ops->cpuid(ops->ctx, 1, 0, r)) {
		f->hypervisor_bit = r[2] & (1u << 31);
		f->vmx = r[2] & (1u << 5);
	}
	if (ops->cpuid(ops->ctx, 0x80000000u, 0, r) && r[0] >= 0x80000001u &&
	    ops->cpuid(ops->ctx, 0x80000001u, 0, r))
		f->svm = r[2] & (1u << 2);
	if (f->hypervisor_bit && ops->cpuid(ops->ctx, 0x40000000u, 0, r)) {
		uint32_t s[3] = { r[1], r[2], r[3] };

		copy_regs(f->hv_signature, s, 3);
		/* Signatures are NUL-padded; keep printable characters only. */
		for (char *c = f->hv_signature; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
	}
}

/* The first "model name" of /proc/cpuinfo under @root. */
static void gather_cpu_model(const char *root, struct virt_facts *f)
{
	char buf[8192];
	char *p;

	if (nb_read_file(root, "/proc/cpuinfo", buf, sizeof(buf), NULL) < 0)
		return;
	p = strstr(buf, "model name");
	if (!p)
		return;
	p = strchr(p, ':');
	if (!p)
		return;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	snprintf(f->cpu_model, sizeof(f->cpu_model), "%.*s", (int)strcspn(p, "\n"), p);
}

/* tsc_early_khz=N from a kernel command line; 0 if absent or malformed. */
static uint64_t cmdline_tsc_khz(const char *cmdline)
{
	const char *key = "tsc_early_khz=";

	for (const char *p = cmdline; (p = strstr(p, key)); p += strlen(key)) {
		char *end;
		unsigned long long v;

		if (p != cmdline && p[-1] != ' ')
			continue;
		v = strtoull(p + strlen(key), &end, 10);
		if (end != p + strlen(key) && (*end == 0 || *end == ' ' || *end == '\n'))
			return v;
	}
	return 0;
}

/* The TSC frequency and where it came from: a CPUID leaf (hypervisor 0x40000010
 * or 0x15), else the one @cmdline gives (a parent told us), else measured. */
static void gather_tsc(const struct virt_ops *ops, const char *cmdline, struct virt_facts *f)
{
	uint32_t r[4];

	/* The hypervisor timing leaf (VMware, KVM with some VMMs): EAX = TSC kHz. */
	if (f->hypervisor_bit && ops->cpuid(ops->ctx, 0x40000000u, 0, r) &&
	    r[0] >= 0x40000010u && ops->cpuid(ops->ctx, 0x40000010u, 0, r) && r[0]) {
		f->tsc_khz = r[0];
		snprintf(f->tsc_source, sizeof(f->tsc_source), "cpuid 0x40000010");
		return;
	}
	/* CPUID 0x15: TSC = crystal (ECX Hz) * EBX / EAX. */
	if (ops->cpuid(ops->ctx, 0, 0, r) && r[0] >= 0x15 &&
	    ops->cpuid(ops->ctx, 0x15, 0, r) && r[0] && r[1] && r[2]) {
		f->tsc_khz = (uint64_t)r[2] * r[1] / r[0] / 1000;
		snprintf(f->tsc_source, sizeof(f->tsc_source), "cpuid 0x15");
		return;
	}
	/* A guest started by nestbox (or anyone) under TCG was told its TSC
	 * frequency: measuring it again inside an emulated CPU is slower and
	 * noisier than believing what the parent measured on real hardware. */
	f->tsc_khz = cmdline_tsc_khz(cmdline);
	if (f->tsc_khz) {
		snprintf(f->tsc_source, sizeof(f->tsc_source), "kernel command line");
		return;
	}
	f->tsc_khz = ops->tsc_measure(ops->ctx);
	snprintf(f->tsc_source, sizeof(f->tsc_source), "%s",
		 f->tsc_khz ? "measured" : "unknown");
}

/* Guess the VMM from what the guest can see, for the user's benefit only. */
static void guess_platform(struct virt_facts *f)
{
	const char *p;

	if (f->depth > 0)
		p = "nestbox guest";
	else if (!f->hypervisor_bit)
		p = "bare metal";
	else if (strcmp(f->hypervisor, "KVM") == 0 && !f->dmi_product[0])
		p = "KVM without DMI (Firecracker or QEMU microvm)";
	else if (f->dmi_product[0])
		p = f->dmi_product;
	else
		p = f->hypervisor;
	snprintf(f->platform, sizeof(f->platform), "%s", p);
}

/* virt_gather() - see virt.h */
void virt_gather(const char *root, const struct virt_ops *ops, struct virt_facts *f)
{
	char buf[4096], path[4096];
	struct utsname u;

	memset(f, 0, sizeof(*f));
	f->nested = VIRT_UNKNOWN;
	if (root && root[0]) {
		/* A fake root names its architecture; default to x86_64. */
		read_line(root, "/proc/sys/kernel/arch", f->arch, sizeof(f->arch));
		if (!f->arch[0])
			snprintf(f->arch, sizeof(f->arch), "x86_64");
	} else if (uname(&u) == 0) {
		snprintf(f->arch, sizeof(f->arch), "%s", u.machine);
	}

	gather_cpuid(ops, f);
	gather_cpu_model(root, f);
	snprintf(f->hypervisor, sizeof(f->hypervisor), "%s",
		 f->hypervisor_bit ? virt_hypervisor_name(f->hv_signature) : "none");
	read_line(root, "/sys/class/dmi/id/sys_vendor", f->dmi_vendor, sizeof(f->dmi_vendor));
	read_line(root, "/sys/class/dmi/id/product_name", f->dmi_product,
		  sizeof(f->dmi_product));
	read_line(root, "/sys/hypervisor/type", f->sys_hypervisor, sizeof(f->sys_hypervisor));

	for (int i = 0; i < 2; i++) {
		const char *mod = i ? "/sys/module/kvm_amd/parameters/nested"
				    : "/sys/module/kvm_intel/parameters/nested";

		if (nb_read_file(root, mod, buf, sizeof(buf), NULL) >= 0)
			f->nested = (buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1') ? VIRT_YES
										 : VIRT_NO;
	}

	f->kvm_pvm = nb_path_exists(root, "/sys/module/kvm_pvm");
	f->kvm_present = nb_path_exists(root, "/dev/kvm");
	if (f->kvm_present) {
		nb_root_path(root, "/dev/kvm", path, sizeof(path));
		f->kvm_probe = ops->kvm_probe(ops->ctx, path, f->kvm_why, sizeof(f->kvm_why));
	}
	/* Present is not enough: run uses vsock only where it can open it. */
	nb_root_path(root, "/dev/vhost-vsock", path, sizeof(path));
	{
		autoclose int fd = open(path, O_RDWR | O_CLOEXEC);

		f->vhost_vsock = fd >= 0;
	}
	f->vhost_net = nb_path_exists(root, "/dev/vhost-net");
	f->fuse = nb_path_exists(root, "/dev/fuse");
	f->tun = nb_path_exists(root, "/dev/net/tun");
	f->qemu_found = ops->qemu(ops->ctx, f->qemu_path, sizeof(f->qemu_path),
				  f->qemu_version, sizeof(f->qemu_version));
	if (nb_read_file(root, "/proc/cmdline", buf, sizeof(buf), NULL) < 0)
		buf[0] = 0;
	f->depth = virt_parse_depth(buf);
	gather_tsc(ops, buf, f);
	guess_platform(f);
}
