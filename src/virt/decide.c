/* SPDX-License-Identifier: GPL-2.0-or-later */
/* decide: pick accelerator and host-guest transport from the facts. */
#include "virt/virt.h"

#include <stdio.h>

/* virt_accel_name() - see virt.h */
const char *virt_accel_name(enum virt_accel a)
{
	return a == VIRT_ACCEL_KVM ? "kvm" : "tcg";
}

/* virt_transport_name() - see virt.h */
const char *virt_transport_name(enum virt_transport t)
{
	return t == VIRT_TRANSPORT_VSOCK ? "vsock" : "virtio-serial";
}

/* virt_kvm_probe_name() - see virt.h */
const char *virt_kvm_probe_name(enum virt_kvm_probe p)
{
	switch (p) {
	case VIRT_KVM_RAN:
		return "ran";
	case VIRT_KVM_OPEN_FAILED:
		return "open-failed";
	case VIRT_KVM_BAD_API:
		return "bad-api";
	case VIRT_KVM_CREATE_FAILED:
		return "create-failed";
	case VIRT_KVM_RUN_FAILED:
		return "run-failed";
	case VIRT_KVM_TIMEOUT:
		return "timeout";
	}
	return "unknown";
}

/* virt_boot_timeout_ms() - see virt.h */
unsigned virt_boot_timeout_ms(enum virt_accel a, int depth)
{
	unsigned ms = a == VIRT_ACCEL_KVM ? 20000 : 60000;

	/* Under KVM a level costs little; under TCG each level multiplies. */
	for (int i = 0; i < depth && ms < 3600000; i++)
		ms = a == VIRT_ACCEL_KVM ? ms + 20000 : ms * 10;
	return ms < 3600000 ? ms : 3600000;
}

/* KVM where /dev/kvm ran the probe's real-mode guest and is not PVM-backed,
 * else TCG; the reason names what decided. */
static void decide_accel(const struct virt_facts *f, struct virt_decision *d)
{
	d->accel = VIRT_ACCEL_TCG;
	if (!f->kvm_present) {
		snprintf(d->accel_reason, sizeof(d->accel_reason), "no /dev/kvm");
		return;
	}
	if (f->kvm_probe != VIRT_KVM_RAN) {
		snprintf(d->accel_reason, sizeof(d->accel_reason), "/dev/kvm unusable: %s",
			 f->kvm_why[0] ? f->kvm_why : virt_kvm_probe_name(f->kvm_probe));
		return;
	}
	/*
	 * PVM passes the real-mode probe but cannot boot a stock kernel (bzImage
	 * hangs after "Probing EDD", PVH after "Booting paravirtualized kernel
	 * on KVM"), so a working probe is not enough there.
	 */
	if (f->kvm_pvm) {
		snprintf(d->accel_reason, sizeof(d->accel_reason),
			 "/dev/kvm is PVM-backed (kvm_pvm): it runs a real-mode probe but "
			 "cannot boot a stock kernel");
		return;
	}
	d->accel = VIRT_ACCEL_KVM;
	snprintf(d->accel_reason, sizeof(d->accel_reason),
		 "/dev/kvm ran a real-mode guest%s",
		 f->depth > 0 ? " (nested inside nestbox)" : "");
}

/* vsock where /dev/vhost-vsock opens, else virtio-serial ports; the reason says which. */
static void decide_transport(const struct virt_facts *f, struct virt_decision *d)
{
	if (f->vhost_vsock) {
		d->transport = VIRT_TRANSPORT_VSOCK;
		snprintf(d->transport_reason, sizeof(d->transport_reason),
			 "/dev/vhost-vsock opens: vhost-vsock");
	} else {
		d->transport = VIRT_TRANSPORT_VSERIAL;
		snprintf(d->transport_reason, sizeof(d->transport_reason),
			 "no /dev/vhost-vsock that opens; virtio-serial ports work everywhere");
	}
}

/* virt_decide() - see virt.h */
void virt_decide(const struct virt_facts *f, struct virt_decision *d)
{
	decide_accel(f, d);
	decide_transport(f, d);
}
