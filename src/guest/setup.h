/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guest/setup: the guest's setup before the command starts: pseudo
 * filesystems, kernel modules, the control port, the spec, the root (nestfs
 * under a tmpfs overlay) and the volumes, /etc files, the network. */
#ifndef NESTBOX_GUEST_SETUP_H
#define NESTBOX_GUEST_SETUP_H

#include <stddef.h>

#include "guest/guest.h"
#include "lib/err.h"

/* guest_early_mounts() - /proc, /sys, /dev in the initramfs */
void guest_early_mounts(void);

/* guest_load_modules() - finit_module() each file listed in @list, in order.
 * Return: 0, or -errno of the first module that failed (logged). */
int guest_load_modules(const char *list);

/**
 * guest_open_port() - open the virtio-serial port called @name, or with
 * "vsock:PORT" connect to the host's AF_VSOCK port PORT
 *
 * virtio_console adds ports asynchronously after the driver probes, and the
 * vsock transport comes up the same way, so this polls for up to 10 s.
 * Return: the fd (O_RDWR, O_CLOEXEC), or -errno
 */
int guest_open_port(const char *name);

/**
 * guest_control_port() - the control port's name: "nestbox.control=NAME"
 * from the kernel command line (the host sets "vsock:PORT" there), else
 * the virtio-serial port NB_CONTROL_PORT
 */
void guest_control_port(char *buf, size_t len);

/**
 * guest_read_spec() - read /nestbox/spec, decode its CONFIG and SPAWN frames
 * Return: 0, or negative errno
 */
int guest_read_spec(struct guest *g);

/**
 * guest_setup_root() - mount the root share under a tmpfs overlay, the
 * volumes, the pseudo filesystems, /etc files; then move into it
 * @e:		what failed, naming the share, target or step
 *
 * Return: 0, or negative errno
 */
int guest_setup_root(struct guest *g, struct nb_err *e);

/**
 * guest_setup_net() - loopback up; with @cfg->net, eth0 as QEMU's user-mode
 * network expects it (10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3)
 */
void guest_setup_net(const struct nb_ctl_config *cfg);

#endif
