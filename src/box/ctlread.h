/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/ctlread: the host's one reader of control frames. Owns the receive
 * buffer of a control stream (the guest's port, or a client's socket at the
 * supervisor), cuts it into frames with the length-checked decoder and hands
 * each one, decoded where the host cares about its payload, to callbacks.
 *
 * Theory of operation: bytes arrive through nb_ctlread_read() (one read()
 * from an fd) or nb_ctlread_feed() (bytes already in hand, for tests and
 * fuzzers); every whole frame in the buffer is dispatched at once and the
 * remainder is kept for the next call. The buffer never holds more than one
 * partial frame plus one read's worth, so it stays under
 * NB_CTLREAD_MAX_BUF whatever the peer sends. A frame whose type has a
 * decoded callback (phase, data, exit, error) goes there, if its payload
 * decodes; every other frame, or every frame when only @frame is set, goes
 * to @frame raw. */
#ifndef NESTBOX_BOX_CTLREAD_H
#define NESTBOX_BOX_CTLREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control/proto.h"

#define NB_CTLREAD_STEP    (128u * 1024u) /* growth of the buffer */
#define NB_CTLREAD_MIN_ROOM (64u * 1024u)  /* free space wanted before a read */
#define NB_CTLREAD_MAX_BUF \
	(NB_CTL_HDR_LEN + NB_CTL_MAX_PAYLOAD + NB_CTLREAD_MIN_ROOM + NB_CTLREAD_STEP)

/**
 * struct nb_ctlread_ops - what to do with each frame
 * @phase:	NB_CTL_PHASE with a known phase (1..NB_PHASE_MAX) and its guest time
 * @data:	NB_CTL_DATA (an empty payload is EOF of f->stream)
 * @exit:	NB_CTL_EXIT, decoded: the exit code and the message ("" for none)
 * @error:	NB_CTL_ERROR: its message, or NULL when the payload did not decode
 * @frame:	any frame no callback above took, undecoded
 *
 * Every callback may be NULL (the frame is then dropped, or given to
 * @frame). A callback returns 0 to go on, or a negative value to stop at
 * once: nb_ctlread_read()/feed() then return that value without touching
 * the reader again, so a callback may free the reader before it stops.
 * Frames left behind by a stop are dispatched first by the next call.
 */
struct nb_ctlread_ops {
	int (*phase)(void *ctx, uint32_t phase, uint64_t ns);
	int (*data)(void *ctx, const struct nb_ctl_frame *f);
	int (*exit)(void *ctx, const struct nb_ctl_frame *f, uint32_t code, const char *msg);
	int (*error)(void *ctx, const char *msg);
	int (*frame)(void *ctx, const struct nb_ctl_frame *f);
};

/**
 * struct nb_ctlread - the receive side of one control stream
 * @ops, @ctx:	the callbacks and their argument
 * @buf, @len, @cap: received bytes
 * @off:	bytes at the front already dispatched
 */
struct nb_ctlread {
	const struct nb_ctlread_ops *ops;
	void *ctx;
	uint8_t *buf;
	size_t len, cap, off;
};

/* nb_ctlread_init() - an empty reader calling @ops with @ctx */
void nb_ctlread_init(struct nb_ctlread *r, const struct nb_ctlread_ops *ops, void *ctx);

/**
 * nb_ctlread_read() - one read() from @fd, then dispatch every whole frame
 *
 * Return: bytes read (> 0); 0 at EOF; -errno of read() (-EAGAIN, -EINTR,
 * ...); -ENOMEM; -EPROTO for a malformed frame (the buffer is dropped, the
 * stream can go on); or a callback's negative value
 */
ssize_t nb_ctlread_read(struct nb_ctlread *r, int fd);

/**
 * nb_ctlread_feed() - append @len bytes, then dispatch every whole frame
 * Return: 0, -ENOMEM, -EPROTO (buffer dropped), or a callback's negative value
 */
int nb_ctlread_feed(struct nb_ctlread *r, const void *bytes, size_t len);

/* nb_ctlread_pending() - bytes of an incomplete frame held back */
size_t nb_ctlread_pending(const struct nb_ctlread *r);

/* nb_ctlread_free() - release the buffer; the reader is empty again */
void nb_ctlread_free(struct nb_ctlread *r);

#endif
