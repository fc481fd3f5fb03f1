/* SPDX-License-Identifier: GPL-2.0-or-later */
/* report: the JSON form of doctor's facts and decision.
 * Owns the stable key names (documented in docs/man/nestbox-doctor.1.scd). */
#ifndef NESTBOX_VIRT_REPORT_H
#define NESTBOX_VIRT_REPORT_H

#include "virt/virt.h"

struct json_object;

/**
 * virt_report_json() - build the doctor JSON object
 * @f:	facts
 * @d:	decision
 *
 * Return: a new json-c object (caller puts it), never NULL
 */
struct json_object *virt_report_json(const struct virt_facts *f, const struct virt_decision *d);

#endif
