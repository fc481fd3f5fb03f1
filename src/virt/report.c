/* SPDX-License-Identifier: GPL-2.0-or-later */
/* report: facts and decision as JSON with the stable keys documented in
 * nestbox-doctor(1). */
#include "virt/report.h"

#include <json-c/json.h>

/* "yes", "no" or "unknown". */
static const char *tristate(enum virt_tristate t)
{
	return t == VIRT_YES ? "yes" : t == VIRT_NO ? "no" : "unknown";
}

/* Add the string @v to @o as @k. */
static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* Add the boolean @v to @o as @k. */
static void add_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

/* virt_report_json() - see report.h */
struct json_object *virt_report_json(const struct virt_facts *f, const struct virt_decision *d)
{
	struct json_object *root = json_object_new_object();
	struct json_object *cpu = json_object_new_object();
	struct json_object *hv = json_object_new_object();
	struct json_object *kvm = json_object_new_object();
	struct json_object *dev = json_object_new_object();
	struct json_object *qemu = json_object_new_object();
	struct json_object *tsc = json_object_new_object();
	struct json_object *dec = json_object_new_object();

	add_str(cpu, "arch", f->arch);
	add_str(cpu, "vendor", f->cpu_vendor);
	add_str(cpu, "model", f->cpu_model);
	add_bool(cpu, "vmx", f->vmx);
	add_bool(cpu, "svm", f->svm);
	add_str(cpu, "nested", tristate(f->nested));
	json_object_object_add(root, "cpu", cpu);

	add_bool(hv, "cpuid_bit", f->hypervisor_bit);
	add_str(hv, "signature", f->hv_signature);
	add_str(hv, "name", f->hypervisor);
	add_str(hv, "dmi_vendor", f->dmi_vendor);
	add_str(hv, "dmi_product", f->dmi_product);
	add_str(hv, "sys_hypervisor", f->sys_hypervisor);
	add_str(hv, "platform", f->platform);
	json_object_object_add(root, "hypervisor", hv);

	add_bool(kvm, "present", f->kvm_present);
	add_bool(kvm, "pvm", f->kvm_pvm);
	add_str(kvm, "probe", f->kvm_present ? virt_kvm_probe_name(f->kvm_probe) : "absent");
	add_str(kvm, "reason", f->kvm_why);
	json_object_object_add(root, "kvm", kvm);

	add_bool(dev, "vhost_vsock", f->vhost_vsock);
	add_bool(dev, "vhost_net", f->vhost_net);
	add_bool(dev, "fuse", f->fuse);
	add_bool(dev, "tun", f->tun);
	json_object_object_add(root, "devices", dev);

	add_bool(qemu, "found", f->qemu_found);
	add_str(qemu, "path", f->qemu_path);
	add_str(qemu, "version", f->qemu_version);
	json_object_object_add(root, "qemu", qemu);

	json_object_object_add(tsc, "khz", json_object_new_int64((int64_t)f->tsc_khz));
	add_str(tsc, "source", f->tsc_source);
	json_object_object_add(root, "tsc", tsc);

	json_object_object_add(root, "depth", json_object_new_int(f->depth));

	add_str(dec, "accel", virt_accel_name(d->accel));
	add_str(dec, "accel_reason", d->accel_reason);
	add_str(dec, "transport", virt_transport_name(d->transport));
	add_str(dec, "transport_reason", d->transport_reason);
	json_object_object_add(root, "decision", dec);
	return root;
}
