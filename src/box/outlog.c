/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/outlog: output log records (see outlog.h). */
#include "box/outlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/fileio.h"

#define REPLAY_BUF (NB_OUTLOG_HDR_LEN + NB_OUTLOG_MAX_RECORD)

/* Write both vectors whole, going on after a short write. */
static int writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* put_record() - one record of @n bytes (n <= NB_OUTLOG_MAX_RECORD). Return: 0 or -errno */
static int put_record(int fd, uint8_t stream, const void *p, uint32_t n)
{
	uint8_t hdr[NB_OUTLOG_HDR_LEN] = { stream, (uint8_t)n, (uint8_t)(n >> 8),
					   (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)p, n } };

	return writev_all(fd, iov, 2);
}

/* nb_log_open() - see outlog.h */
int nb_log_open(struct nb_log *l, const char *path, uint64_t cap_mib, bool records,
		struct nb_err *e)
{
	struct stat st;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->records = records;
	l->cap = (cap_mib ? cap_mib : NB_LOG_SIZE_DEFAULT_MIB) << 20;
	if ((size_t)snprintf(l->path, sizeof(l->path), "%s", path) >= sizeof(l->path) - 2)
		return nb_err_set(e, ENAMETOOLONG, "log %s: path too long", path);
	l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (l->fd < 0 || fstat(l->fd, &st) < 0)
		return nb_err_sys(e, errno, "open %s", path);
	l->size = l->cur_bytes = (uint64_t)st.st_size;
	return 0;
}

/* rotate() - the current file becomes @path.1 (the old .1, the oldest
 * output, goes) and a new one starts with a note of what was dropped.
 * Return: 0 or negative errno */
static int rotate(struct nb_log *l)
{
	char old[sizeof(l->path) + 2];
	uint8_t mark[8];
	int r = 0;

	snprintf(old, sizeof(old), "%s.1", l->path);
	if (rename(l->path, old) < 0)
		return -errno;
	close(l->fd);
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (l->fd < 0)
		return -errno;
	l->dropped += l->old_bytes;
	l->old_bytes = l->cur_bytes;
	l->cur_bytes = l->size = 0;
	if (!l->dropped)
		return 0;
	if (l->records) {
		for (int i = 0; i < 8; i++)
			mark[i] = (uint8_t)(l->dropped >> (8 * i));
		r = put_record(l->fd, NB_OUTLOG_DROPPED, mark, sizeof(mark));
		l->size = NB_OUTLOG_HDR_LEN + sizeof(mark);
	} else {
		char line[128];
		int n = snprintf(line, sizeof(line),
				 "[nestbox: %llu bytes of older console output dropped]\n",
				 (unsigned long long)l->dropped);

		r = nb_write_all(l->fd, line, (size_t)n);
		l->size = (uint64_t)n;
	}
	return r;
}

/* nb_log_write() - see outlog.h */
int nb_log_write(struct nb_log *l, uint8_t stream, const void *buf, size_t len)
{
	/* a quarter of the cap at most, so that a new file (note + one chunk)
	 * never passes half of it */
	size_t chunk = (size_t)(l->cap / 4 < NB_OUTLOG_MAX_RECORD ? l->cap / 4 : NB_OUTLOG_MAX_RECORD);
	const uint8_t *p = buf;
	int r;

	if (l->fd < 0)
		return -EBADF;
	if (l->records && stream != 1 && stream != 2)
		return -EINVAL;
	while (len) {
		size_t n = len < chunk ? len : chunk;
		uint64_t need = n + (l->records ? NB_OUTLOG_HDR_LEN : 0);

		if (l->size + need > l->cap / 2 && l->cur_bytes > 0) {
			r = rotate(l);
			if (r < 0)
				goto fail;
		}
		r = l->records ? nb_outlog_write(l->fd, stream, p, n) : nb_write_all(l->fd, p, n);
		if (r < 0)
			goto fail;
		l->size += need;
		l->cur_bytes += n;
		p += n;
		len -= n;
	}
	return 0;
fail:
	nb_log_close(l);
	return r;
}

/* nb_log_close() - see outlog.h */
void nb_log_close(struct nb_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* nb_outlog_write() - see outlog.h */
int nb_outlog_write(int fd, uint8_t stream, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (stream != 1 && stream != 2)
		return -EINVAL;
	while (len) {
		uint32_t n = len > NB_OUTLOG_MAX_RECORD ? NB_OUTLOG_MAX_RECORD : (uint32_t)len;
		int r = put_record(fd, stream, p, n);

		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

/* nb_outlog_parse() - see outlog.h */
int nb_outlog_parse(const uint8_t *buf, size_t len, struct nb_outlog_rec *rec)
{
	uint32_t n;

	if (len < 1)
		return 0;
	if (buf[0] != 1 && buf[0] != 2 && buf[0] != NB_OUTLOG_DROPPED)
		return -EPROTO;
	if (len < NB_OUTLOG_HDR_LEN)
		return 0;
	n = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 |
	    (uint32_t)buf[4] << 24;
	if (n == 0 || n > NB_OUTLOG_MAX_RECORD || (buf[0] == NB_OUTLOG_DROPPED && n != 8))
		return -EPROTO;
	if (len - NB_OUTLOG_HDR_LEN < n)
		return 0;
	rec->stream = buf[0];
	rec->len = n;
	rec->data = buf + NB_OUTLOG_HDR_LEN;
	return (int)(NB_OUTLOG_HDR_LEN + n);
}

/* marker_count() - the little-endian u64 of a marker record's payload */
static uint64_t marker_count(const uint8_t *p)
{
	uint64_t d = 0;

	for (int i = 7; i >= 0; i--)
		d = d << 8 | p[i];
	return d;
}

/* nb_outlog_dropped() - see outlog.h */
uint64_t nb_outlog_dropped(int fd)
{
	uint8_t buf[NB_OUTLOG_HDR_LEN + 8];
	struct nb_outlog_rec rec;

	if (pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    nb_outlog_parse(buf, sizeof(buf), &rec) <= 0 || rec.stream != NB_OUTLOG_DROPPED)
		return 0;
	return marker_count(rec.data);
}

/* nb_outlog_replay() - see outlog.h */
int nb_outlog_replay(int fd, off_t *pos, int out_fd, int err_fd, const char *name,
		     uint64_t *dropped, struct nb_err *e)
{
	uint8_t *buf = malloc(REPLAY_BUF);
	size_t len = 0;
	int r = 0;

	if (!buf)
		return nb_err_set(e, ENOMEM, "%s: out of memory", name);
	for (;;) {
		/* buf holds the file from *pos on */
		ssize_t n = pread(fd, buf + len, REPLAY_BUF - len, *pos + (off_t)len);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = nb_err_sys(e, errno, "read %s", name);
			break;
		}
		if (n == 0)
			break; /* what is left in buf is a short tail */
		len += (size_t)n;
		for (;;) {
			struct nb_outlog_rec rec;
			int k = nb_outlog_parse(buf + off, len - off, &rec);

			int w;

			if (k < 0) {
				r = nb_err_set(e, EPROTO, "%s: not a log record at offset %lld",
					       name, (long long)*pos);
				goto out;
			}
			if (k == 0)
				break;
			if (rec.stream == NB_OUTLOG_DROPPED) {
				uint64_t d = marker_count(rec.data);

				if (dropped && d > *dropped)
					*dropped = d;
				off += (size_t)k;
				*pos += k;
				continue;
			}
			w = nb_write_all(rec.stream == 2 ? err_fd : out_fd, rec.data, rec.len);
			if (w < 0) {
				r = w == -EPIPE ? -EPIPE : nb_err_sys(e, -w, "write output of %s", name);
				goto out;
			}
			off += (size_t)k;
			*pos += k;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
out:
	free(buf);
	return r;
}
