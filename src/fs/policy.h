/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs/policy: what a guest may make on the host beyond plain files: set-id
 * bits and the xattrs that carry privilege (nosuid), device nodes (nodev).
 * The operations (op_*.c) ask here before they call the passthrough.
 * Private to src/fs. */
#ifndef NESTBOX_FS_POLICY_H
#define NESTBOX_FS_POLICY_H

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs_int.h"

/*
 * A guest's root is not the host's: unless the export allows set-id
 * (nestfs_server_opts.allow_suid), a mode it asks for loses S_ISUID, and
 * S_ISGID too unless @type is a directory, where set-group-ID only makes new
 * entries inherit the group and grants nothing. This is what the kernel's
 * nosuid means for exec, made true of the host's own view of the files.
 * Return: @mode, stripped as the export's policy says.
 */
static inline mode_t fs_policy_mode(const struct nestfs_server *s, mode_t type, mode_t mode)
{
	if (s->o.allow_suid)
		return mode;
	return mode & ~(mode_t)(S_ISUID | ((type & S_IFMT) == S_IFDIR ? 0 : S_ISGID));
}

/*
 * The xattr namespaces that carry privilege on the host: security.*
 * (security.capability is a setuid bit in all but name; LSM labels) and
 * trusted.* (CAP_SYS_ADMIN's, overlayfs's metadata). Setting or removing
 * one needs allow_suid.
 * Return: 0, or -EPERM
 */
static inline int fs_policy_xattr(const struct nestfs_server *s, const char *name)
{
	if (s->o.allow_suid)
		return 0;
	if (!strncmp(name, "security.", 9) || !strncmp(name, "trusted.", 8))
		return -EPERM;
	return 0;
}

#endif
