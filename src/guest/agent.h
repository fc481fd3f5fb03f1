/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest/agent: the control agent of nestbox-init: it spawns the spec's
 * command (and the host's exec requests), relays their stdio over the
 * control port, forwards signals and reports how each one exits. */
#ifndef NESTBOX_GUEST_AGENT_H
#define NESTBOX_GUEST_AGENT_H

#include "guest/guest.h"

/**
 * guest_agent_run() - start the spec's command and relay until it exits; the
 * host learns the exit from an EXIT frame
 * Return: its exit code as the spawn reports it, or -1 when it could not start
 * (the EXIT frame is sent then too)
 */
int guest_agent_run(struct guest *g);

#endif
