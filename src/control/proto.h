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

/* CONFIG share flags */
#define NB_SHARE_RO   0x1u /* mount read-only (the host enforces it too) */
#define NB_SHARE_ROOT 0x2u /* the image's root: lower of the tmpfs overlay */

/**
 * struct nb_ctl_frame - one decoded frame (payload points into the input)
 * @type:	enum nb_ctl_type
 * @stream:	NB_STREAM_* of a DATA frame, else 0
 * @proc:	the process it is about: 0 the main command, others exec'd ones
 * @len:	payload bytes
 * @payload:	the payload, inside the buffer it was parsed from
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
	const uint8_t *p; /* the next byte to read */
	size_t left;	  /* bytes of the payload not read yet */
	bool bad; /* set once a read ran short; every later read fails too */
};

/**
 * struct nb_ctl_share - a nestfs share: the virtio-serial port that carries
 * it and where the guest mounts it
 * @port:	the port's name ("nestbox.fs.0"), or "vsock:PORT"
 * @target:	absolute guest path of the mount (ignored for the root)
 * @flags:	NB_SHARE_RO, NB_SHARE_ROOT
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
 * @flags:	NB_SPAWN_TTY, NB_SPAWN_STDIN
 * @rows, @cols: the pty's size with NB_SPAWN_TTY (0: left as it is)
 * @cwd:	working directory, "" for the image's (made if missing)
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
 * @data:	the bytes, malloc'd (NULL while empty); free with nb_ctl_buf_free()
 * @len:	bytes queued
 * @cap:	bytes allocated
 * @oom:	an allocation failed (or a payload was too large): from then on
 *		no frame is queued
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
/* Readers: each returns 0, or -EPROTO (and sets c->bad) when the payload is short. */
/* nb_ctl_get_u16() - the next little-endian u16 */
int nb_ctl_get_u16(struct nb_ctl_cur *c, uint16_t *v);
/* nb_ctl_get_u32() - the next little-endian u32 */
int nb_ctl_get_u32(struct nb_ctl_cur *c, uint32_t *v);
/* nb_ctl_get_u64() - the next little-endian u64 */
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

/* nb_ctl_spawn_free() - free what the decoder allocated in @sp; again is harmless */
void nb_ctl_spawn_free(struct nb_ctl_spawn *sp);

/* autospawn: a struct nb_ctl_spawn freed when it leaves scope (zero it first,
 * or decode into it at once: the decoder zeroes it) */
#define autospawn __attribute__((cleanup(nb_ctl_spawn_free)))

/* Encoders: append one whole frame to @b. On allocation failure b->oom is
 * set and the buffer keeps its earlier frames. */
/* nb_ctl_put_frame() - a frame of any @type with @len bytes of @payload */
void nb_ctl_put_frame(struct nb_ctl_buf *b, uint8_t type, uint8_t stream, uint16_t proc,
		      const void *payload, size_t len);
/* nb_ctl_put_phase() - PHASE: @phase (enum nb_ctl_phase) reached at guest time @ns */
void nb_ctl_put_phase(struct nb_ctl_buf *b, uint32_t phase, uint64_t ns);
/* nb_ctl_put_u32() - a frame of @type whose payload is the one u32 @v (SIGNAL) */
void nb_ctl_put_u32(struct nb_ctl_buf *b, uint8_t type, uint16_t proc, uint32_t v);
/* nb_ctl_put_winsize() - WINSIZE for @proc's pty */
void nb_ctl_put_winsize(struct nb_ctl_buf *b, uint16_t proc, uint16_t rows, uint16_t cols);
/* nb_ctl_put_exit() - EXIT: @proc ended with @code; @msg says why it never ran, or "" */
void nb_ctl_put_exit(struct nb_ctl_buf *b, uint16_t proc, uint32_t code, const char *msg);
/* nb_ctl_put_error() - ERROR: the guest could not be set up, @msg says why */
void nb_ctl_put_error(struct nb_ctl_buf *b, const char *msg);
/* nb_ctl_put_config() - CONFIG: the VM's setup */
void nb_ctl_put_config(struct nb_ctl_buf *b, const struct nb_ctl_config *cfg);
/* nb_ctl_put_spawn() - SPAWN: start @sp as process @proc. @argv and @env are
 * NULL-terminated; strings longer than the frame are refused (oom) */
void nb_ctl_put_spawn(struct nb_ctl_buf *b, uint16_t proc, const struct nb_ctl_spawn *sp);

/* nb_ctl_buf_consume() - drop @n bytes from the front (after sending them) */
void nb_ctl_buf_consume(struct nb_ctl_buf *b, size_t n);
/* nb_ctl_buf_free() - free @b's bytes; it is empty (and usable) again */
void nb_ctl_buf_free(struct nb_ctl_buf *b);

/**
 * nb_ctl_buf_flush() - write what @b holds to the stream @fd, the one flush
 * of the host's loops and the guest's agent
 * @wait_ms:	when @fd is full (EAGAIN): 0 returns at once and keeps the
 *		rest for later (a non-blocking loop waits for EPOLLOUT); > 0
 *		waits up to that long for room each time, then gives up
 *
 * Return: 0 when everything was written; -EAGAIN when the rest is kept;
 * else the stream is closed or stuck (-EPIPE, -ETIMEDOUT, -errno of
 * write()) and what it held is dropped: the peer is gone
 */
int nb_ctl_buf_flush(struct nb_ctl_buf *b, int fd, int wait_ms);

/* nb_ctl_phase_name() - "init", "modules", "root", "command" */
const char *nb_ctl_phase_name(uint32_t phase);

#endif
