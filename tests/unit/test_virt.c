/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for virt: facts from fake roots and fake probes, and decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/paths.h"
#include "virt/virt.h"

struct fake {
	bool hv;
	const char *sig;	/* 12-byte hypervisor signature */
	bool vmx, svm;
	uint32_t tsc_leaf_khz;	/* CPUID 0x40000010 EAX, 0: leaf absent */
	enum virt_kvm_probe probe;
	int probes;		/* how many times kvm_probe ran */
};

static bool fake_cpuid(void *ctx, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	struct fake *f = ctx;

	memset(out, 0, 16);
	switch (leaf) {
	case 0:
		out[0] = 0xd;
		memcpy(&out[1], "Genu", 4);
		memcpy(&out[3], "ineI", 4);
		memcpy(&out[2], "ntel", 4);
		break;
	case 1:
		out[2] = (f->hv ? 1u << 31 : 0) | (f->vmx ? 1u << 5 : 0);
		break;
	case 0x80000000u:
		out[0] = 0x80000008u;
		break;
	case 0x80000001u:
		out[2] = f->svm ? 1u << 2 : 0;
		break;
	case 0x40000000u:
		out[0] = f->tsc_leaf_khz ? 0x40000010u : 0x40000001u;
		if (f->sig)
			memcpy(&out[1], f->sig, 12);
		break;
	case 0x40000010u:
		out[0] = f->tsc_leaf_khz;
		break;
	default:
		break;
	}
	return true;
}

static enum virt_kvm_probe fake_probe(void *ctx, const char *path, char *why, size_t len)
{
	struct fake *f = ctx;

	f->probes++;
	snprintf(why, len, "%s", f->probe == VIRT_KVM_RAN ? "" : "fake failure");
	return f->probe;
}

static bool fake_qemu(void *ctx, char *path, size_t pl, char *ver, size_t vl)
{
	snprintf(path, pl, "/usr/bin/qemu-system-x86_64");
	snprintf(ver, vl, "7.2.0");
	return true;
}

static uint64_t fake_measure(void *ctx)
{
	return 2500000;
}

static struct virt_ops ops_for(struct fake *f)
{
	struct virt_ops o = { fake_cpuid, fake_probe, fake_qemu, fake_measure, f };

	return o;
}

/* A fake root in a temp dir; files are created with put(). */
struct root {
	char dir[256];
};

static void put(struct root *r, const char *path, const char *content)
{
	char full[512], parent[512];
	FILE *fp;

	snprintf(full, sizeof(full), "%s%s", r->dir, path);
	snprintf(parent, sizeof(parent), "%s", full);
	*strrchr(parent, '/') = '\0';
	assert_int_equal(nb_mkdir_p(parent, 0755, NULL), 0);
	fp = fopen(full, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static int root_setup(void **state)
{
	struct root *r = calloc(1, sizeof(*r));

	snprintf(r->dir, sizeof(r->dir), "/tmp/nb-virt-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	*state = r;
	return 0;
}

static int root_teardown(void **state)
{
	struct root *r = *state;
	assert_int_equal(nb_rm_rf(r->dir), 0);
	free(r);
	return 0;
}

static void test_bare_metal_vmx(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = false, .vmx = true, .probe = VIRT_KVM_RAN };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;
	struct virt_decision d;

	put(r, "/dev/kvm", "");
	put(r, "/sys/module/kvm_intel/parameters/nested", "Y\n");
	put(r, "/sys/class/dmi/id/product_name", "PowerEdge R650\n");
	put(r, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1\n");
	virt_gather(r->dir, &o, &f);
	virt_decide(&f, &d);
	assert_false(f.hypervisor_bit);
	assert_string_equal(f.hypervisor, "none");
	assert_string_equal(f.platform, "bare metal");
	assert_true(f.vmx);
	assert_int_equal(f.nested, VIRT_YES);
	assert_string_equal(f.cpu_vendor, "GenuineIntel");
	assert_int_equal(fk.probes, 1);
	assert_int_equal(d.accel, VIRT_ACCEL_KVM);
	assert_int_equal(f.depth, 0);
	assert_int_equal(d.transport, VIRT_TRANSPORT_VSERIAL);
}

static void test_kvm_guest_nested(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = true, .sig = "KVMKVMKVM\0\0\0", .vmx = true,
			   .probe = VIRT_KVM_RAN };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;
	struct virt_decision d;

	put(r, "/dev/kvm", "");
	put(r, "/dev/vhost-vsock", "");
	put(r, "/sys/module/kvm_intel/parameters/nested", "Y\n");
	put(r, "/sys/class/dmi/id/sys_vendor", "QEMU\n");
	put(r, "/sys/class/dmi/id/product_name", "Standard PC (Q35 + ICH9, 2009)\n");
	virt_gather(r->dir, &o, &f);
	virt_decide(&f, &d);
	assert_string_equal(f.hypervisor, "KVM");
	assert_string_equal(f.dmi_vendor, "QEMU");
	assert_string_equal(f.platform, "Standard PC (Q35 + ICH9, 2009)");
	assert_int_equal(f.nested, VIRT_YES);
	assert_int_equal(d.accel, VIRT_ACCEL_KVM);
	assert_int_equal(d.transport, VIRT_TRANSPORT_VSOCK);
	assert_string_equal(virt_transport_name(d.transport), "vsock");
}

static void test_firecracker_no_kvm(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = true, .sig = "KVMKVMKVM\0\0\0", .probe = VIRT_KVM_RAN };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;
	struct virt_decision d;

	put(r, "/proc/cmdline", "console=ttyS0 reboot=k panic=1 -- --firecracker-init\n");
	put(r, "/dev/fuse", "");
	virt_gather(r->dir, &o, &f);
	virt_decide(&f, &d);
	assert_false(f.kvm_present);
	assert_int_equal(fk.probes, 0);
	assert_true(f.fuse);
	assert_false(f.tun);
	assert_string_equal(f.platform, "KVM without DMI (Firecracker or QEMU microvm)");
	assert_int_equal(d.accel, VIRT_ACCEL_TCG);
	assert_string_equal(d.accel_reason, "no /dev/kvm");
	assert_string_equal(virt_accel_name(d.accel), "tcg");
	assert_int_equal(d.transport, VIRT_TRANSPORT_VSERIAL);
	/* Without the hypervisor timing leaf, the TSC is measured. */
	assert_int_equal(f.tsc_khz, 2500000);
	assert_string_equal(f.tsc_source, "measured");
}

static void test_pvm_refused(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = true, .sig = "KVMKVMKVM\0\0\0", .probe = VIRT_KVM_RAN,
			   .tsc_leaf_khz = 2096000 };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;
	struct virt_decision d;

	put(r, "/dev/kvm", "");
	put(r, "/sys/module/kvm_pvm/parameters/dummy", "");
	virt_gather(r->dir, &o, &f);
	virt_decide(&f, &d);
	assert_true(f.kvm_present);
	assert_true(f.kvm_pvm);
	assert_int_equal(f.kvm_probe, VIRT_KVM_RAN);
	assert_int_equal(d.accel, VIRT_ACCEL_TCG);
	assert_non_null(strstr(d.accel_reason, "PVM"));
	assert_int_equal(f.tsc_khz, 2096000);
	assert_string_equal(f.tsc_source, "cpuid 0x40000010");
}

static void test_tcg_guest_in_nestbox(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = true, .sig = "TCGTCGTCGTCG" };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;
	struct virt_decision d;

	put(r, "/proc/cmdline", "console=ttyS0 tsc_early_khz=2096000 nestbox.depth=2 quiet\n");
	virt_gather(r->dir, &o, &f);
	virt_decide(&f, &d);
	assert_string_equal(f.hypervisor, "TCG");
	assert_int_equal(f.depth, 2);
	assert_string_equal(f.platform, "nestbox guest");
	assert_int_equal(d.accel, VIRT_ACCEL_TCG);
	assert_string_equal(d.accel_reason, "no /dev/kvm");
	/* The parent measured the TSC on real hardware; no second measurement. */
	assert_int_equal(f.tsc_khz, 2096000);
	assert_string_equal(f.tsc_source, "kernel command line");
}

static void test_tsc_cmdline_malformed(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = true, .sig = "TCGTCGTCGTCG" };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;

	put(r, "/proc/cmdline", "xtsc_early_khz=1 tsc_early_khz=12abc nestbox.depth=1\n");
	virt_gather(r->dir, &o, &f);
	assert_int_equal(f.tsc_khz, 2500000);
	assert_string_equal(f.tsc_source, "measured");
}

static void test_kvm_probe_fails(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = false, .vmx = true, .probe = VIRT_KVM_RUN_FAILED };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;
	struct virt_decision d;

	put(r, "/dev/kvm", "");
	virt_gather(r->dir, &o, &f);
	virt_decide(&f, &d);
	assert_int_equal(d.accel, VIRT_ACCEL_TCG);
	assert_string_equal(d.accel_reason, "/dev/kvm unusable: fake failure");
}

static void test_vhost_vsock_must_open(void **state)
{
	struct root *r = *state;
	struct fake fk = { .hv = true, .sig = "TCGTCGTCGTCG" };
	struct virt_ops o = ops_for(&fk);
	struct virt_facts f;
	struct virt_decision d;
	char p[512];

	/* A /dev/vhost-vsock that does not open (here: a directory) is no
	 * reason to pick vsock. */
	snprintf(p, sizeof(p), "%s/dev/vhost-vsock", r->dir);
	assert_int_equal(nb_mkdir_p(p, 0755, NULL), 0);
	virt_gather(r->dir, &o, &f);
	virt_decide(&f, &d);
	assert_false(f.vhost_vsock);
	assert_int_equal(d.transport, VIRT_TRANSPORT_VSERIAL);
	assert_string_equal(d.transport_reason,
			    "no /dev/vhost-vsock that opens; virtio-serial ports work everywhere");
}

static void test_boot_timeout_by_depth(void **state)
{
	assert_int_equal(virt_boot_timeout_ms(VIRT_ACCEL_KVM, 0), 20000);
	assert_int_equal(virt_boot_timeout_ms(VIRT_ACCEL_TCG, 0), 60000);
	assert_int_equal(virt_boot_timeout_ms(VIRT_ACCEL_TCG, 1), 600000);
	assert_int_equal(virt_boot_timeout_ms(VIRT_ACCEL_KVM, 2), 60000);
	/* capped at an hour, however deep */
	assert_int_equal(virt_boot_timeout_ms(VIRT_ACCEL_TCG, 3), 3600000);
	assert_int_equal(virt_boot_timeout_ms(VIRT_ACCEL_TCG, 1000), 3600000);
}

static void test_parse_depth(void **state)
{
	assert_int_equal(virt_parse_depth(""), 0);
	assert_int_equal(virt_parse_depth("nestbox.depth=3"), 3);
	assert_int_equal(virt_parse_depth("quiet nestbox.depth=1 x=y"), 1);
	assert_int_equal(virt_parse_depth("xnestbox.depth=5"), 0);
	assert_int_equal(virt_parse_depth("nestbox.depth=abc"), 0);
	assert_int_equal(virt_parse_depth("nestbox.depth=-1"), 0);
	assert_int_equal(virt_parse_depth("nestbox.depth=4\n"), 4);
}

static void test_hypervisor_names(void **state)
{
	assert_string_equal(virt_hypervisor_name("Microsoft Hv"), "Microsoft Hv");
	assert_string_equal(virt_hypervisor_name("VMwareVMware"), "VMware");
	assert_string_equal(virt_hypervisor_name("XenVMMXenVMM"), "Xen");
	assert_string_equal(virt_hypervisor_name("somethingelse"), "unknown");
	assert_string_equal(virt_hypervisor_name(""), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bare_metal_vmx, root_setup, root_teardown),
		cmocka_unit_test_setup_teardown(test_kvm_guest_nested, root_setup, root_teardown),
		cmocka_unit_test_setup_teardown(test_firecracker_no_kvm, root_setup, root_teardown),
		cmocka_unit_test_setup_teardown(test_pvm_refused, root_setup, root_teardown),
		cmocka_unit_test_setup_teardown(test_tcg_guest_in_nestbox, root_setup, root_teardown),
		cmocka_unit_test_setup_teardown(test_kvm_probe_fails, root_setup, root_teardown),
		cmocka_unit_test_setup_teardown(test_tsc_cmdline_malformed, root_setup,
						root_teardown),
		cmocka_unit_test_setup_teardown(test_vhost_vsock_must_open, root_setup,
						root_teardown),
		cmocka_unit_test(test_boot_timeout_by_depth),
		cmocka_unit_test(test_parse_depth),
		cmocka_unit_test(test_hypervisor_names),
	};

	return cmocka_run_group_tests_name("virt", tests, NULL, NULL);
}
