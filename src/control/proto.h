/* SPDX-License-Identifier: GPL-2.0-or-later */
/* control: the framed binary protocol between nestbox (host) and
 * nestbox-init (guest PID 1). Owns the frame layout, the encoder and the
 * length-checked decoder; built for the host and (with musl) the guest.
 *
 * Theory of operation: every frame is an 8-byte little-endian header
 * { u32 len; u8 type; u8 stream; u16 proc } and @len bytes of payload, at
 * most NB_CTL_MAX_PAYLOAD. Payload fields are u16/u32/u64 little-endian
 * and strings as u32 length + bytes + NUL (the NUL is counted and checked,
 * so a decoded string can be used in place). Everything the peer sends is
 * read through struct nb_ctl_cur, which refuses to run past the payload.
 * The per-run spec is the same frames (CONFIG, SPAWN) written to a file in
 * the initramfs, so the guest decodes it with this code too. */
#ifndef NESTBOX_CONTROL_PROTO_H
#define NESTBOX_CONTROL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_CTL_HDR_LEN 8
#define NB_CTL_MAX_PAYLOAD (256u * 1024u)
#define NB_CTL_MAX_STRINGS 4096 /* argv or env entries in one SPAWN */
/* The one limit on nestfs shares of a VM (the root and its volumes): the
 * host's share table, QEMU's ports and fds, the vsock listeners and the
 * guest's CONFIG decoder all hold this many. */
#define NB_MAX_SHARES 32
#define NB_CTL_DATA_CHUNK (32u * 1024u) /* stdio bytes per DATA frame */

/* Frame types; "g>h" is sent by the guest, "h>g" by the host. */
enum nb_ctl_type {
	NB_CTL_PHASE = 1,    /* g>h: u32 phase, u64 guest CLOCK_BOOTTIME ns */
	NB_CTL_CONFIG = 2,   /* h>g (spec): the VM's setup, see struct nb_ctl_config */
	NB_CTL_SPAWN = 3,    /* h>g: start a process, see struct nb_ctl_spawn */
	NB_CTL_DATA = 4,     /* both: stdio bytes of @stream; empty payload is EOF */
	NB_CTL_WINSIZE = 5,  /* h>g: u16 rows, u16 cols */
	NB_CTL_SIGNAL = 6,   /* h>g: u32 signal number */
	NB_CTL_EXIT = 7,     /* g>h: u32 exit code (podman's), string message */
	NB_CTL_SHUTDOWN = 8, /* h>g: power off now */
	NB_CTL_ERROR = 9,    /* g>h: string; the VM could not be set up (exit 125) */
};

/* Boot phases reported with NB_CTL_PHASE. */
enum nb_ctl_phase {
	NB_PHASE_INIT = 1,    /* nestbox-init started (time since kernel start) */
	NB_PHASE_MODULES = 2, /* kernel modules loaded, control port open */
	NB_PHASE_ROOT = 3,    /* root and volumes mounted */
	NB_PHASE_COMMAND = 4, /* the command was started */
	NB_PHASE_MAX = 4,
};

enum { NB_STREAM_STDIN = 0, NB_STREAM_STDOUT = 1, NB_STREAM_STDERR = 2 };

/* SPAWN flags */
#define NB_SPAWN_TTY   0x1u /* a pty: stdout carries both streams */
#define NB_SPAWN_STDIN 0x2u /* stdin is fed with DATA frames; else /dev/null */
/* run --system: argv is the image's init, exec'd as PID 1 after switch_root;
 * env carries the system's parameters (NB_SYSTEM_ENV_*), not init's env. */
#define NB_SPAWN_SYSTEM 0x4u
#define NB_SYSTEM_ENV_HOST_KEY "NESTBOX_SSH_HOST_ED25519_KEY" /* sshd's host key */
#define NB_SYSTEM_ENV_HOST_PUB "NESTBOX_SSH_HOST_ED25519_PUB" /* and its .pub */

/* CONFIG share flags */
#define NB_SHARE_RO   0x1u /* mount read-only (the host enforces it too) */
#define NB_SHARE_ROOT 0x2u /* the image's root: lower of the tmpfs overlay */

/**
 * struct nb_ctl_frame - one decoded frame (payload points into the input)
 */
struct nb_ctl_frame {
	uint8_t type;
	uint8_t stream;
	uint16_t proc;
	uint32_t len;
	const uint8_t *payload;
};

/* struct nb_ctl_cur - a bounds-checked reader over a payload */
struct nb_ctl_cur {
	const uint8_t *p;
	size_t left;
	bool bad; /* set once a read ran short; every later read fails too */
};

/**
 * struct nb_ctl_share - a nestfs share: the virtio-serial port that carries
 * it and where the guest mounts it
 */
struct nb_ctl_share {
	const char *port;
	const char *target;
	uint32_t flags;
};

/**
 * struct nb_ctl_config - the VM's setup, sent once in the spec
 * @hostname:	guest hostname (also in /etc/hostname and /etc/hosts)
 * @net:	configure eth0 for QEMU's user-mode network
 * @nshares, @shares: nestfs mounts; the first with NB_SHARE_ROOT is the root
 */
struct nb_ctl_config {
	const char *hostname;
	uint32_t net;
	uint32_t nshares;
	struct nb_ctl_share shares[NB_MAX_SHARES];
};

/**
 * struct nb_ctl_spawn - a process to start
 * @argv, @env:	NULL-terminated arrays (allocated by the decoder; strings
 *		point into the payload); free with nb_ctl_spawn_free()
 * @user:	"" for the image default (root), "UID[:GID]" or "NAME[:GROUP]"
 */
struct nb_ctl_spawn {
	uint32_t flags;
	uint16_t rows, cols;
	const char *cwd;
	const char *user;
	char **argv;
	char **env;
};

/**
 * struct nb_ctl_buf - a growable output buffer of encoded frames
 */
struct nb_ctl_buf {
	uint8_t *data;
	size_t len, cap;
	bool oom;
};

/**
 * nb_ctl_parse() - decode one frame from the front of a byte buffer
 * @buf, @len:	received bytes
 * @f:		output; payload points into @buf
 *
 * Return: bytes the frame occupies (> 0), 0 if more bytes are needed, or
 * -EPROTO if the header is invalid (unknown type, oversized payload)
 */
int nb_ctl_parse(const uint8_t *buf, size_t len, struct nb_ctl_frame *f);

/* nb_ctl_cur_init() - a reader over a frame's payload */
void nb_ctl_cur_init(struct nb_ctl_cur *c, const struct nb_ctl_frame *f);
/* readers: return 0, or -EPROTO (and set c->bad) when the payload is short */
int nb_ctl_get_u16(struct nb_ctl_cur *c, uint16_t *v);
int nb_ctl_get_u32(struct nb_ctl_cur *c, uint32_t *v);
int nb_ctl_get_u64(struct nb_ctl_cur *c, uint64_t *v);
/* nb_ctl_get_str() - a NUL-terminated string without inner NULs, in place */
int nb_ctl_get_str(struct nb_ctl_cur *c, const char **s);

/**
 * nb_ctl_decode_config() - CONFIG payload into @cfg (strings in place)
 * Return: 0, or -EPROTO
 */
int nb_ctl_decode_config(const struct nb_ctl_frame *f, struct nb_ctl_config *cfg);

/**
 * nb_ctl_decode_spawn() - SPAWN payload into @sp
 * Return: 0, -EPROTO, or -ENOMEM; on success free with nb_ctl_spawn_free()
 */
int nb_ctl_decode_spawn(const struct nb_ctl_frame *f, struct nb_ctl_spawn *sp);
void nb_ctl_spawn_free(struct nb_ctl_spawn *sp);

/* Encoders: append one whole frame to @b. On allocation failure b->oom is
 * set and the buffer keeps its earlier frames. */
void nb_ctl_put_frame(struct nb_ctl_buf *b, uint8_t type, uint8_t stream, uint16_t proc,
		      const void *payload, size_t len);
void nb_ctl_put_phase(struct nb_ctl_buf *b, uint32_t phase, uint64_t ns);
void nb_ctl_put_u32(struct nb_ctl_buf *b, uint8_t type, uint16_t proc, uint32_t v);
void nb_ctl_put_winsize(struct nb_ctl_buf *b, uint16_t proc, uint16_t rows, uint16_t cols);
void nb_ctl_put_exit(struct nb_ctl_buf *b, uint16_t proc, uint32_t code, const char *msg);
void nb_ctl_put_error(struct nb_ctl_buf *b, const char *msg);
void nb_ctl_put_config(struct nb_ctl_buf *b, const struct nb_ctl_config *cfg);
/* @argv and @env are NULL-terminated; strings longer than the frame are refused (oom) */
void nb_ctl_put_spawn(struct nb_ctl_buf *b, uint16_t proc, const struct nb_ctl_spawn *sp);

/* nb_ctl_buf_consume() - drop @n bytes from the front (after sending them) */
void nb_ctl_buf_consume(struct nb_ctl_buf *b, size_t n);
void nb_ctl_buf_free(struct nb_ctl_buf *b);

/* nb_ctl_phase_name() - "init", "modules", "root", "command" */
const char *nb_ctl_phase_name(uint32_t phase);

#endif
