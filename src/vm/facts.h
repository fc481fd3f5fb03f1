/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/facts: the virt probes run uses (cached TSC, QEMU found without running it). */
#ifndef NESTBOX_VM_FACTS_H
#define NESTBOX_VM_FACTS_H

#include "virt/virt.h"

/* nb_run_virt_ops() - virt_host_ops with run's cheaper qemu and tsc_measure */
void nb_run_virt_ops(struct virt_ops *ops);

#endif
