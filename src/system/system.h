/* SPDX-License-Identifier: GPL-2.0-or-later */
/* system: the host side of `run --system` that is not the VM itself. Owns a
 * system VM's ssh material in its state directory (client key, host key,
 * known_hosts, the forwarded port), the systemd credentials that carry the
 * client key into the guest (SMBIOS type 11, kernel command line), the check
 * that an image can boot this way, the wait for sshd's banner, and the ssh
 * client's command line. Depends on lib only. */
#ifndef NESTBOX_SYSTEM_SYSTEM_H
#define NESTBOX_SYSTEM_SYSTEM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/* The credential systemd (252 and later) turns into root's authorized_keys
 * (tmpfiles.d/provision.conf). */
#define NB_SYS_CRED_NAME "ssh.authorized_keys.root"

/* Which way the client key travels (NESTBOX_SYSTEM_CREDENTIALS). */
enum nb_sys_creds {
	NB_CREDS_SMBIOS = 1u << 0,  /* SMBIOS type 11 OEM string: needs -M q35 */
	NB_CREDS_CMDLINE = 1u << 1, /* systemd.set_credential= on the kernel command line */
};

/**
 * struct nb_sys - one system VM's ssh material
 * @dir:	its state directory, which holds the files below
 * @port:	the 127.0.0.1 port forwarded to the guest's port 22
 * @client_pub:	id_ed25519.pub: "ssh-ed25519 BASE64", no comment
 * @host_key:	ssh_host_ed25519_key: sshd's private host key (OpenSSH format)
 * @host_pub:	ssh_host_ed25519_key.pub
 */
struct nb_sys {
	char dir[PATH_MAX];
	unsigned port;
	char client_pub[256];
	char host_key[1024];
	char host_pub[256];
};

/**
 * nb_sys_check_image() - whether the root @rootfs of @image can boot with
 * --system: it has /sbin/init and /usr/sbin/sshd (resolved inside it)
 * Return: 0, or -ENOENT with a message naming the path looked for
 */
int nb_sys_check_image(const char *rootfs, const char *image, struct nb_err *e);

/**
 * nb_sys_free_port() - a TCP port on 127.0.0.1 that nobody listens on now
 * Return: the port, or negative errno
 */
int nb_sys_free_port(struct nb_err *e);

/**
 * nb_sys_prepare() - make @dir's ssh material: a client key (0600), a host
 * key, known_hosts pinning it, and the port file; fills @s
 * Return: 0, or negative errno (ssh-keygen missing or failing)
 */
int nb_sys_prepare(const char *dir, unsigned port, struct nb_sys *s, struct nb_err *e);

/**
 * nb_sys_load() - read what nb_sys_prepare() wrote in @dir
 * Return: 0, or -ENOENT when @dir holds no system VM's ssh material
 */
int nb_sys_load(const char *dir, struct nb_sys *s, struct nb_err *e);

/* nb_sys_creds_choice() - NB_CREDS_* from $NESTBOX_SYSTEM_CREDENTIALS
 * ("smbios", "cmdline", "both"; default both), 0 if it is something else */
unsigned nb_sys_creds_choice(void);

/**
 * nb_sys_cred_cmdline() - the kernel command line word that carries the
 * client key: systemd.set_credential="ssh.authorized_keys.root:KEY"
 * Return: 0, or -ENAMETOOLONG
 */
int nb_sys_cred_cmdline(const struct nb_sys *s, char *buf, size_t len);

/**
 * nb_sys_cred_smbios() - QEMU's -smbios argument that carries it:
 * type=11,value=io.systemd.credential.binary:ssh.authorized_keys.root=BASE64
 * Return: 0, or -ENAMETOOLONG
 */
int nb_sys_cred_smbios(const struct nb_sys *s, char *buf, size_t len);

/**
 * nb_sys_ssh_ready() - whether sshd answers on 127.0.0.1:@port: a
 * connection that reads an "SSH-" banner within @wait_ms
 */
bool nb_sys_ssh_ready(unsigned port, int wait_ms);

/**
 * nb_sys_ssh_argv() - the ssh command line into the VM: its key, its
 * known_hosts (strict, no prompt), root@127.0.0.1 on its port, then @cmd
 * @tty:	-t (a terminal) instead of -T
 * Return: a NULL-terminated malloc'd vector (nb_strv_free), or NULL on OOM
 */
char **nb_sys_ssh_argv(const struct nb_sys *s, char *const *cmd, bool tty);

/**
 * nb_sys_ssh_run() - run ssh (nb_sys_ssh_argv()) with this process's stdio
 * Return: its exit code (255: ssh itself failed), or negative errno
 */
int nb_sys_ssh_run(const struct nb_sys *s, char *const *cmd, bool tty, struct nb_err *e);

#endif
