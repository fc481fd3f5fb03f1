/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm/spec: the typed values of a run that travel past the command line: a
 * published port (made into QEMU's host forward where QEMU's argv is made,
 * kept in the record for ps), a volume (a nestfs share) and the kernel
 * choice. The command line is parsed into them by cli/parse.h. */
#ifndef NESTBOX_VM_SPEC_H
#define NESTBOX_VM_SPEC_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/proto.h"

/* Published ports of one VM: QEMU's forwards and a record's PORTS. */
#define NB_MAX_PORTS 32

/* Volumes of one VM: every share but the root (NB_MAX_SHARES, control/proto.h). */
#define NB_MAX_VOLUMES (NB_MAX_SHARES - 1)

/* enum nb_accel_choice - --accel: auto (virt's decision), kvm or tcg */
enum nb_accel_choice { NB_ACCEL_AUTO, NB_ACCEL_KVM, NB_ACCEL_TCG };

/* enum nb_proto - the protocol of a published port */
enum nb_proto {
	NB_PROTO_TCP, /* the default */
	NB_PROTO_UDP,
};

/**
 * struct nb_port - one -p: a host address and port forwarded to a guest port
 * @family:	AF_INET or AF_INET6, the family of @addr
 * @addr:	the host address, as inet_ntop() writes it ("127.0.0.1", "::1")
 * @host:	the host port, 1-65535
 * @guest:	the guest port, 1-65535
 * @proto:	tcp or udp
 */
struct nb_port {
	int family;
	char addr[INET6_ADDRSTRLEN];
	uint16_t host;
	uint16_t guest;
	enum nb_proto proto;
};

/**
 * struct nb_volume - one -v: a host directory shared with the guest
 * @host:	the host directory, resolved (realpath) when parsed
 * @guest:	where the guest mounts it: absolute, not "/", no ".."
 * @ro:		read-only (enforced by the host's nestfs server)
 * @suid:	`suid`: the guest may make set-id files and set security.* and
 *		trusted.* xattrs on the host (off: the host sees it nosuid)
 * @dev:	`dev`: the guest may make device nodes on the host (off: nodev)
 */
struct nb_volume {
	char host[PATH_MAX];
	char guest[PATH_MAX];
	bool ro;
	bool suid;
	bool dev;
};

/* enum nb_kernel_kind - which kernel --kernel chose */
enum nb_kernel_kind {
	NB_KERNEL_DEFAULT, /* the prepared default kernel */
	NB_KERNEL_IMAGE,   /* the kernel the image ships */
	NB_KERNEL_PATH,    /* a kernel file or directory on the host */
};

/**
 * struct nb_kernel_sel - the --kernel choice
 * @kind:	default, the image's own, or a path
 * @path:	with NB_KERNEL_PATH: the file or directory (not owned); else NULL
 */
struct nb_kernel_sel {
	enum nb_kernel_kind kind;
	const char *path;
};

/**
 * struct nb_vm_opts - what a run asks of its VM (0: the default); the
 * arrays are not owned
 * @kernel:	--kernel
 * @volumes, @nvolumes: -v, in order (at most NB_MAX_VOLUMES)
 * @ports, @nports: -p, in order (at most NB_MAX_PORTS)
 * @mem_mib:	--memory in MiB (0: 512)
 * @cpus:	--cpus (0: 1)
 * @accel:	--accel
 * @boot_timeout_ms: --boot-timeout (0: virt's default for the accelerator
 *		and the nesting depth)
 */
struct nb_vm_opts {
	struct nb_kernel_sel kernel;
	const struct nb_volume *volumes;
	unsigned nvolumes;
	const struct nb_port *ports;
	unsigned nports;
	uint64_t mem_mib;
	unsigned cpus;
	enum nb_accel_choice accel;
	unsigned boot_timeout_ms;
};

/* nb_proto_name() - "tcp" or "udp" */
static inline const char *nb_proto_name(enum nb_proto p)
{
	return p == NB_PROTO_UDP ? "udp" : "tcp";
}

#endif
