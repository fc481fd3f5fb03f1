/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox doctor [--json]: print virt's facts and decision. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "lib/log.h"
#include "virt/report.h"
#include "virt/virt.h"

static const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

static void print_table(const struct virt_facts *f, const struct virt_decision *d)
{
	const char *nested = f->nested == VIRT_YES ? "yes" : f->nested == VIRT_NO ? "no"
										    : "unknown";
	char kvm[256];

	if (!f->kvm_present)
		snprintf(kvm, sizeof(kvm), "absent");
	else
		snprintf(kvm, sizeof(kvm), "present, probe %s%s%s%s",
			 virt_kvm_probe_name(f->kvm_probe), f->kvm_why[0] ? " (" : "",
			 f->kvm_why, f->kvm_why[0] ? ")" : "");

	printf("%-18s %s\n", "CPU", f->arch);
	printf("%-18s %s%s%s\n", "CPU vendor", f->cpu_vendor, f->cpu_model[0] ? ", " : "",
	       f->cpu_model);
	printf("%-18s %s%s%s%s\n", "hypervisor", f->hypervisor,
	       f->hv_signature[0] ? " (CPUID \"" : "", f->hv_signature,
	       f->hv_signature[0] ? "\")" : "");
	printf("%-18s %s\n", "platform", f->platform);
	printf("%-18s %s%s%s\n", "DMI", f->dmi_vendor[0] ? f->dmi_vendor : "none",
	       f->dmi_product[0] ? " / " : "", f->dmi_product);
	printf("%-18s %s\n", "/sys/hypervisor", f->sys_hypervisor[0] ? f->sys_hypervisor : "none");
	printf("%-18s vmx %s, svm %s, nested %s\n", "virtualization", yesno(f->vmx),
	       yesno(f->svm), nested);
	printf("%-18s %s\n", "/dev/kvm", kvm);
	printf("%-18s %s\n", "PVM (kvm_pvm)", yesno(f->kvm_pvm));
	printf("%-18s %s\n", "/dev/vhost-vsock", yesno(f->vhost_vsock));
	printf("%-18s %s\n", "/dev/vhost-net", yesno(f->vhost_net));
	printf("%-18s %s\n", "/dev/fuse", yesno(f->fuse));
	printf("%-18s %s\n", "/dev/net/tun", yesno(f->tun));
	if (f->qemu_found)
		printf("%-18s %s (%s)\n", "QEMU", f->qemu_path,
		       f->qemu_version[0] ? f->qemu_version : "version unknown");
	else
		printf("%-18s %s\n", "QEMU", "not found (apt-get install qemu-system-x86)");
	if (f->tsc_khz)
		printf("%-18s %llu kHz (%s)\n", "TSC", (unsigned long long)f->tsc_khz,
		       f->tsc_source);
	else
		printf("%-18s %s\n", "TSC", "unknown");
	printf("%-18s %d\n", "nesting depth", f->depth);
	printf("\n%-18s %s: %s\n", "accelerator", virt_accel_name(d->accel), d->accel_reason);
	printf("%-18s %s: %s\n", "transport", virt_transport_name(d->transport),
	       d->transport_reason);
}

/* cmd_doctor() - see commands.h */
int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = "";
	struct virt_decision d;
	struct virt_facts f;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'r':
			/* Undocumented on purpose: reads a fake root (tests). */
			root = optarg;
			break;
		case 'h':
			printf("Usage: nestbox doctor [--json]\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		nb_error("doctor: unexpected argument '%s'", argv[optind]);
		return NB_EXIT_FAILURE;
	}
	virt_gather(root, &virt_host_ops, &f);
	virt_decide(&f, &d);
	if (json) {
		struct json_object *o = virt_report_json(&f, &d);

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		print_table(&f, &d);
	}
	return 0;
}
