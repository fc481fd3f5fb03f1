/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/outlog: the output log of a container (<state dir>/output.log), which
 * `nestbox logs` replays. Owns its record format, the writer the supervisor
 * and foreground runs use, and the reader.
 *
 * Format: a sequence of records, nothing before the first:
 *
 *	u8  stream	1 = stdout, 2 = stderr
 *	u32 len		little-endian, 1..NB_OUTLOG_MAX_RECORD
 *	u8  bytes[len]	the command's output, as it came (binary-safe)
 *
 * Records are appended in the order the guest sent the output, so a replay
 * keeps the two streams apart and their interleaving as it was. Under -t
 * the command has one pty and every record says stdout. A record is one
 * write(2) to an O_APPEND file; a writer killed mid-record leaves a short
 * tail, which the reader treats as the end of the log (a follower waits for
 * the rest). Anything else malformed is an error naming the offset. */
#ifndef NESTBOX_BOX_OUTLOG_H
#define NESTBOX_BOX_OUTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#define NB_OUTLOG_HDR_LEN    5
#define NB_OUTLOG_MAX_RECORD (1024u * 1024u)

/* struct nb_outlog_rec - one decoded record; @data points into the input */
struct nb_outlog_rec {
	uint8_t stream;	     /* 1 stdout, 2 stderr */
	uint32_t len;	     /* bytes at @data */
	const uint8_t *data; /* the output itself */
};

/**
 * nb_outlog_write() - append @len bytes of @stream (1 or 2) as records
 * Longer output is split into records of at most NB_OUTLOG_MAX_RECORD.
 * Return: 0, or negative errno (-EINVAL for another stream)
 */
int nb_outlog_write(int fd, uint8_t stream, const void *buf, size_t len);

/**
 * nb_outlog_parse() - decode the record at the front of @buf
 * Return: bytes it occupies (> 0), 0 when @len holds only part of it, or
 * -EPROTO when it cannot be a record (unknown stream, length 0 or too large)
 */
int nb_outlog_parse(const uint8_t *buf, size_t len, struct nb_outlog_rec *rec);

/**
 * nb_outlog_replay() - copy the records of @fd from *@pos on to @out_fd and @err_fd
 * @pos:	offset to start at; on return, the offset after the last whole record
 * @name:	the log's name for error messages
 *
 * Return: 0 (a short tail is left at *@pos for later), -EPIPE when an output
 * was closed, or negative errno with @e set (read error, malformed record)
 */
int nb_outlog_replay(int fd, off_t *pos, int out_fd, int err_fd, const char *name,
		     struct nb_err *e);

#endif
