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
 * the rest). Anything else malformed is an error naming the offset.
 *
 * A log is capped (run --log-size, NB_LOG_SIZE_DEFAULT_MIB each for
 * output.log and console.log): when the file reaches half the cap it becomes
 * <name>.1 (the previous .1, the oldest output, is dropped) and a new file
 * starts, so the two together never exceed the cap. A new output.log starts
 * with a marker record,
 *
 *	u8  3		NB_OUTLOG_DROPPED
 *	u32 8
 *	u64 bytes	little-endian: output dropped before <name>.1 so far
 *
 * which `logs` reports; a new console.log starts with a line saying the same. */
#ifndef NESTBOX_BOX_OUTLOG_H
#define NESTBOX_BOX_OUTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#define NB_OUTLOG_HDR_LEN    5
#define NB_OUTLOG_MAX_RECORD (1024u * 1024u)
#define NB_OUTLOG_DROPPED    3 /* the marker record's stream */
#define NB_LOG_SIZE_DEFAULT_MIB 16u
#define NB_LOG_SIZE_MIN_MIB  1u

/**
 * struct nb_outlog_rec - one decoded record
 * @stream:	1 stdout, 2 stderr, NB_OUTLOG_DROPPED a marker
 * @len:	bytes at @data
 * @data:	points into the input
 */
struct nb_outlog_rec {
	uint8_t stream;	     /* 1 stdout, 2 stderr */
	uint32_t len;	     /* bytes at @data */
	const uint8_t *data; /* the output itself */
};

/**
 * struct nb_log - a capped log being written (output.log or console.log)
 * @fd:		the current file, O_APPEND (-1: closed, writes are dropped)
 * @path:	its path; the older half is @path.1
 * @size:	bytes in the current file
 * @cap:	bytes the two files may hold together
 * @cur_bytes, @old_bytes: output bytes in the current file and in @path.1
 * @dropped:	output bytes dropped so far (whole older halves)
 * @records:	output.log's record format (else raw bytes: the console)
 */
struct nb_log {
	int fd;
	char path[4096];
	uint64_t size;
	uint64_t cap;
	uint64_t cur_bytes, old_bytes;
	uint64_t dropped;
	bool records;
};

/**
 * nb_log_open() - start (or continue) the capped log at @path
 * @cap_mib:	the cap in MiB (0: NB_LOG_SIZE_DEFAULT_MIB)
 * @records:	output.log (records) or console.log (raw)
 *
 * Opened with O_NOFOLLOW. Return: 0, or negative errno with @e set
 */
int nb_log_open(struct nb_log *l, const char *path, uint64_t cap_mib, bool records,
		struct nb_err *e);

/**
 * nb_log_write() - append @len bytes of @stream (1 or 2; ignored for a raw
 * log), rotating first when the current file would pass half the cap
 * Return: 0, or negative errno (the log is then closed: no write is retried)
 */
int nb_log_write(struct nb_log *l, uint8_t stream, const void *buf, size_t len);

/* nb_log_close() - close the current file (nothing if closed) */
void nb_log_close(struct nb_log *l);

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
 * @dropped:	output (may be NULL): the largest count a marker record passed
 *		on the way said was dropped (unchanged when none)
 *
 * Return: 0 (a short tail is left at *@pos for later), -EPIPE when an output
 * was closed, or negative errno with @e set (read error, malformed record)
 */
int nb_outlog_replay(int fd, off_t *pos, int out_fd, int err_fd, const char *name,
		     uint64_t *dropped, struct nb_err *e);

/**
 * nb_outlog_dropped() - the count the marker at the start of output log @fd
 * says was dropped before its older half (0 when it has no marker)
 */
uint64_t nb_outlog_dropped(int fd);

#endif
