/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/outlog: output log records (see outlog.h). */
#include "box/outlog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* nb_outlog_write() - see outlog.h */
int nb_outlog_write(int fd, uint8_t stream, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (stream != 1 && stream != 2)
		return -EINVAL;
	while (len) {
		uint32_t n = len > NB_OUTLOG_MAX_RECORD ? NB_OUTLOG_MAX_RECORD : (uint32_t)len;
		uint8_t hdr[NB_OUTLOG_HDR_LEN] = { stream, (uint8_t)n, (uint8_t)(n >> 8),
						   (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
		struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)p, n } };
		int r = writev_all(fd, iov, 2);

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
	if (buf[0] != 1 && buf[0] != 2)
		return -EPROTO;
	if (len < NB_OUTLOG_HDR_LEN)
		return 0;
	n = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 |
	    (uint32_t)buf[4] << 24;
	if (n == 0 || n > NB_OUTLOG_MAX_RECORD)
		return -EPROTO;
	if (len - NB_OUTLOG_HDR_LEN < n)
		return 0;
	rec->stream = buf[0];
	rec->len = n;
	rec->data = buf + NB_OUTLOG_HDR_LEN;
	return (int)(NB_OUTLOG_HDR_LEN + n);
}

/* nb_outlog_replay() - see outlog.h */
int nb_outlog_replay(int fd, off_t *pos, int out_fd, int err_fd, const char *name,
		     struct nb_err *e)
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
