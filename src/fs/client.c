/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nestfs client: the pump between /dev/fuse and a stream.
 *
 * Theory of operation
 * -------------------
 * The kernel's FUSE requests already are the frames of the nestfs wire
 * (fuse_in_header + body, framed by the header's len), and the server's
 * replies already are what /dev/fuse accepts. So the pump does not decode
 * anything but headers: it moves bytes.
 *
 * Mount: open /dev/fuse and mount(2) "fuse.nestfs" with fd=N, rootmode,
 * user_id, group_id, allow_other and default_permissions (the kernel checks
 * permissions from the attributes the server returns; the server runs as
 * root). No libfuse and no fusermount: this file is also linked into the
 * static (musl) guest PID 1.
 *
 * Readers: N threads, each with its own clone of the device
 * (FUSE_DEV_IOC_CLONE), so reads from /dev/fuse do not serialize. Reads
 * block: the kernel wakes exactly one reader per request (a poll() would
 * wake them all, and on a busy host every wakeup costs). Writes to the
 * stream are batched by flat combining (forward()): a reader that finds
 * another writing queues its request and goes back to the device, and the
 * writer sends the queue in one write before it lets go. A reply must be written to the very clone
 * that read its request (the kernel keeps a processing queue per clone), so
 * each reader notes unique -> reader in a small hash before forwarding.
 *
 * The stream reader: one thread reads the stream in big chunks (a
 * virtio-serial port delivers partial frames, so frames are cut by the
 * header's len, never by read boundaries), and writes each reply to the
 * clone its route names. Replies may come in any order.
 *
 * Stopping: the stream may be a char device where shutdown() does not
 * exist, so every pumping thread is knocked out of its blocking call with a
 * signal (SIGRTMIN+4, whose handler does nothing; the caller must not block
 * it) and sees the stop flag. When
 * the mount goes away (the device read fails with ENODEV) the pump closes
 * the stream, and the server sees EOF. When the stream ends, the pump
 * stops its threads and closes every clone of the device: the kernel
 * aborts the connection, so every pending and later operation fails with
 * ENOTCONN at once, and the mount is detached (MNT_DETACH) if it is still
 * the one we made.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs/client.h"
#include "fs/stopwait.h"

#define MAX_READERS	16u
#define MAX_WRITE	(1u << 20)
#define MAX_FRAME	(MAX_WRITE + 4096u)
/* What one read from /dev/fuse needs room for (kernel: max_write + headers). */
#define DEV_READ_MIN	(MAX_WRITE + 4096u)
#define STREAM_BUF	(4u * MAX_FRAME)
#define ROUTE_BUCKETS	1024u
#define BATCH_MAX	(4u * MAX_FRAME)	/* requests queued behind a busy writer */
/* Knocks pumping threads out of blocking calls when stopping (see knock_all). */
#define NESTFS_KNOCK_SIGNAL (SIGRTMIN + 4)

/* A request in flight: which clone its reply must be written to. */
struct route {
	struct route *next;		/* next in its bucket, or on the free list */
	uint64_t unique;		/* the request's unique, to match its reply */
	unsigned reader;		/* index of the clone (devfd[]) that read the request */
};

/* A mounted nestfs share: the pump's fds, threads, write batch, routes and state. */
struct nestfs_mount {
	int stream;			/* the stream to the server, owned (closed at join) */
	int stopfd;			/* eventfd, written once to wake every wait on stop */
	int devfd[MAX_READERS];		/* /dev/fuse and its clones, one per reader; -1 unused */
	unsigned nreaders;		/* entries of devfd[] opened */
	dev_t dev;			/* the mount's device, to detach only our own */
	char mountpoint[PATH_MAX];	/* where it is mounted, for the detach */

	pthread_t readers[MAX_READERS];	/* the device reader threads, one per devfd[] */
	unsigned started;		/* readers[] created, to knock and join */
	pthread_t sreader;		/* the stream reader thread (replies to the clones) */
	bool sreader_started;		/* sreader was created */

	pthread_mutex_t wmu;		/* the batch below and the writer flag */
	pthread_cond_t wcv;		/* the batch has room again */
	uint8_t *batch;			/* requests waiting while another reader writes */
	size_t batch_len;		/* bytes in batch, at most BATCH_MAX */
	bool writing;			/* a reader is writing the stream: others queue in batch */
	pthread_mutex_t rmu;		/* routes */
	struct route *routes[ROUTE_BUCKETS];	/* unique -> reader, hashed by unique */
	struct route *spare;		/* free list */

	pthread_mutex_t mu;		/* state below */
	pthread_cond_t cv;		/* ready or stopping changed */
	uint64_t init_unique;		/* unique of the kernel's FUSE_INIT, once init_seen */
	bool init_seen;			/* a reader forwarded FUSE_INIT */
	bool ready;			/* the server accepted INIT: the mount works */
	bool stopping;			/* stop asked or forced: every thread returns */
	bool unmounted;			/* the device read failed with ENODEV: the mount is gone */
	bool stream_gone;		/* the stream ended or failed */
	bool joined;			/* mount_join() ran: threads joined, fds closed */
	unsigned exited;		/* pumping threads that returned */
};

/* Ask everything to stop; @why: 1 unmounted, 2 stream gone, 0 asked. */
static void pump_stop(struct nestfs_mount *m, int why)
{
	pthread_mutex_lock(&m->mu);
	if (why == 1)
		m->unmounted = true;
	if (why == 2)
		m->stream_gone = true;
	m->stopping = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_mutex_lock(&m->wmu);
	pthread_cond_broadcast(&m->wcv);
	pthread_mutex_unlock(&m->wmu);
	(void)!write(m->stopfd, &(uint64_t){ 1 }, sizeof(uint64_t));
}

/* A pumping thread is about to return. */
static void thread_done(struct nestfs_mount *m)
{
	pthread_mutex_lock(&m->mu);
	m->exited++;
	pthread_mutex_unlock(&m->mu);
}

static void knock_handler(int sig)
{
	(void)sig;
}

/*
 * Get every pumping thread out of its blocking read or write: a signal
 * whose handler does nothing makes the call return EINTR, and the thread
 * sees stopping. A knock can land just before a call starts: repeat until
 * all have left.
 */
static void knock_all(struct nestfs_mount *m)
{
	unsigned total = m->started + (m->sreader_started ? 1u : 0u);

	for (int tries = 0; tries < 5000; tries++) {
		unsigned exited;

		pthread_mutex_lock(&m->mu);
		exited = m->exited;
		pthread_mutex_unlock(&m->mu);
		if (exited >= total)
			return;
		for (unsigned i = 0; i < m->started; i++)
			pthread_kill(m->readers[i], NESTFS_KNOCK_SIGNAL);
		if (m->sreader_started)
			pthread_kill(m->sreader, NESTFS_KNOCK_SIGNAL);
		usleep(1000);
	}
}

/* Pumping threads must receive the knock even if the caller blocked signals. */
static void unblock_knock(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, NESTFS_KNOCK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static unsigned route_hash(uint64_t unique)
{
	return (unsigned)((unique * 0x9E3779B97F4A7C15ull) >> 54) & (ROUTE_BUCKETS - 1);
}

/* Remember which clone read request @unique. */
static void route_add(struct nestfs_mount *m, uint64_t unique, unsigned reader)
{
	struct route *r;
	unsigned h = route_hash(unique);

	pthread_mutex_lock(&m->rmu);
	r = m->spare;
	if (r)
		m->spare = r->next;
	else
		r = malloc(sizeof(*r));
	if (r) {
		r->unique = unique;
		r->reader = reader;
		r->next = m->routes[h];
		m->routes[h] = r;
	}
	pthread_mutex_unlock(&m->rmu);
}

/* Find and forget the clone for a reply; -1 if unknown. */
static int route_take(struct nestfs_mount *m, uint64_t unique)
{
	struct route **pp;
	int reader = -1;

	pthread_mutex_lock(&m->rmu);
	for (pp = &m->routes[route_hash(unique)]; *pp; pp = &(*pp)->next) {
		struct route *r = *pp;

		if (r->unique == unique) {
			*pp = r->next;
			reader = (int)r->reader;
			r->next = m->spare;
			m->spare = r;
			break;
		}
	}
	pthread_mutex_unlock(&m->rmu);
	return reader;
}

/* Write all of @buf to the stream (non-blocking fd); 0 or -errno. */
static int stream_write(struct nestfs_mount *m, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(m->stream, buf, len);

		if (n < 0) {
			int rc;

			if (errno == EINTR) {
				if (m->stopping)
					return -EPIPE;
				continue;
			}
			if (errno != EAGAIN)
				return -errno;
			rc = nestfs_wait_fd(m->stream, POLLOUT, m->stopfd);
			if (rc < 0)
				return rc;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/**
 * forward() - send one request to the stream, batching with other readers
 *
 * Flat combining: if no reader is writing, this one writes its request
 * straight from its buffer, then everything the others queued meanwhile,
 * as few big writes as possible; a reader that finds a writer busy copies
 * its request into the batch and goes back to /dev/fuse at once.
 *
 * Return: 0 or -errno
 */
static int forward(struct nestfs_mount *m, const uint8_t *req, size_t len)
{
	uint8_t *mine = NULL;
	int rc = 0;

	pthread_mutex_lock(&m->wmu);
	if (m->writing) {
		while (m->writing && m->batch_len + len > BATCH_MAX && !m->stopping)
			pthread_cond_wait(&m->wcv, &m->wmu);
		if (m->writing) {
			if (!m->stopping)
				memcpy(m->batch + m->batch_len, req, len);
			m->batch_len += m->stopping ? 0 : len;
			pthread_mutex_unlock(&m->wmu);
			return m->stopping ? -EPIPE : 0;
		}
	}
	m->writing = true;
	pthread_mutex_unlock(&m->wmu);
	rc = stream_write(m, req, len);
	mine = malloc(BATCH_MAX);
	pthread_mutex_lock(&m->wmu);
	/* Swap the batch out so others can queue while we write it. */
	while (rc == 0 && m->batch_len && mine) {
		uint8_t *out = m->batch;
		size_t n = m->batch_len;

		m->batch = mine;
		m->batch_len = 0;
		pthread_cond_broadcast(&m->wcv);
		pthread_mutex_unlock(&m->wmu);
		rc = stream_write(m, out, n);
		mine = out;
		pthread_mutex_lock(&m->wmu);
	}
	if (!mine && m->batch_len && rc == 0) {
		/* No memory for a swap buffer: write the batch under the lock. */
		rc = stream_write(m, m->batch, m->batch_len);
		m->batch_len = 0;
	}
	m->writing = false;
	pthread_cond_broadcast(&m->wcv);
	pthread_mutex_unlock(&m->wmu);
	free(mine);
	return rc;
}

/* What a device reader thread is started with. */
struct reader_arg {
	struct nestfs_mount *m;		/* the mount the thread pumps for */
	unsigned idx;			/* its reader index: devfd[idx], readers[idx] */
};

/* Note routes (and INIT) for the requests in one device read. */
static void note_request(struct nestfs_mount *m, unsigned idx, const uint8_t *p, size_t n)
{
	struct fuse_in_header ih;

	if (n < sizeof(ih))
		return;
	memcpy(&ih, p, sizeof(ih));
	switch (ih.opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return;		/* no reply comes */
	case FUSE_INIT:
		pthread_mutex_lock(&m->mu);
		m->init_unique = ih.unique;
		m->init_seen = true;
		pthread_mutex_unlock(&m->mu);
		break;
	default:
		break;
	}
	route_add(m, ih.unique, idx);
}

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct nestfs_mount *m = ra->m;
	unsigned idx = ra->idx;
	int fd = m->devfd[idx];
	uint8_t *buf = malloc(DEV_READ_MIN);
	int why = 0;

	free(ra);
	unblock_knock();
	while (buf) {
		/* Blocking: the kernel wakes exactly one reader per request. */
		ssize_t n = read(fd, buf, DEV_READ_MIN);

		if (n < 0 && errno == EINTR) {
			if (m->stopping)
				break;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			if (nestfs_wait_fd(fd, POLLIN, m->stopfd) < 0)
				break;
			continue;
		}
		if (n <= 0) {
			/* ENODEV: unmounted. Anything else: we cannot go on. */
			why = n < 0 && errno == ENODEV ? 1 : 0;
			break;
		}
		note_request(m, idx, buf, (size_t)n);
		n = forward(m, buf, (size_t)n);
		if (n < 0) {
			why = n == -EPIPE ? 0 : 2;
			break;
		}
	}
	free(buf);
	thread_done(m);
	pump_stop(m, why);
	return NULL;
}

/* Hand one reply to the clone that read its request. */
static void deliver(struct nestfs_mount *m, const uint8_t *p, uint32_t len)
{
	struct fuse_out_header oh;
	int reader;
	bool init = false;

	memcpy(&oh, p, sizeof(oh));
	if (oh.unique == 0)
		return;		/* notifications: none are sent */
	reader = route_take(m, oh.unique);
	if (reader < 0)
		return;		/* not a request we forwarded: drop it */
	while (write(m->devfd[reader], p, len) < 0 && errno == EINTR)
		;
	/* Errors (ENOENT: the request was aborted) concern one request only. */
	pthread_mutex_lock(&m->mu);
	if (m->init_seen && oh.unique == m->init_unique && !m->ready) {
		m->ready = oh.error == 0;
		init = true;
	}
	if (init) {
		if (!m->ready)
			m->stopping = true;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
}

static void *sreader_main(void *arg)
{
	struct nestfs_mount *m = arg;
	uint8_t *buf = malloc(STREAM_BUF);
	size_t have = 0;
	int why = 2;

	unblock_knock();
	if (!buf) {
		pump_stop(m, 2);
		return NULL;
	}
	for (;;) {
		size_t off = 0;
		ssize_t n = read(m->stream, buf + have, STREAM_BUF - have);

		if (n < 0 && errno == EINTR) {
			if (m->stopping) {
				why = 0;
				break;
			}
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			if (nestfs_wait_fd(m->stream, POLLIN, m->stopfd) < 0) {
				why = 0;
				break;
			}
			continue;
		}
		if (n <= 0)
			break;		/* EOF or error: the server is gone */
		have += (size_t)n;
		while (have - off >= sizeof(struct fuse_out_header)) {
			uint32_t len;

			memcpy(&len, buf + off, sizeof(len));
			if (len < sizeof(struct fuse_out_header) || len > MAX_FRAME)
				goto out;	/* cannot frame any more */
			if (have - off < len)
				break;
			deliver(m, buf + off, len);
			off += len;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
out:
	free(buf);
	thread_done(m);
	pump_stop(m, why);
	return NULL;
}

/* Skip @n space-separated fields of @s; NULL if there are fewer. */
static const char *skip_fields(const char *s, int n)
{
	while (n-- > 0) {
		s = strchr(s, ' ');
		if (!s)
			return NULL;
		s++;
	}
	return s;
}

/* Copy one space-terminated field into @out; false if it does not fit. */
static bool copy_field(const char *s, char *out, size_t len)
{
	size_t n = strcspn(s, " \n");

	if (n == 0 || n >= len)
		return false;
	memcpy(out, s, n);
	out[n] = 0;
	return true;
}

/* One line of /proc/self/mountinfo: device, mount point, fs type; false if unparsable. */
static bool mountinfo_line(const char *line, dev_t *dev, char *mp, size_t mplen, char *fstype,
			   size_t fslen)
{
	const char *p = skip_fields(line, 2), *sep;
	unsigned long maj, min;
	char *end;

	if (!p)
		return false;
	maj = strtoul(p, &end, 10);
	if (*end != ':')
		return false;
	min = strtoul(end + 1, &end, 10);
	if (*end != ' ')
		return false;
	/* mountinfo escapes spaces as \040: compare what we can. */
	p = skip_fields(line, 4);
	if (!p || !copy_field(p, mp, mplen))
		return false;
	sep = strstr(p, " - ");
	if (!sep || !copy_field(sep + 3, fstype, fslen))
		return false;
	*dev = makedev((unsigned)maj, (unsigned)min);
	return true;
}

/* The device of the nestfs mount at @path (the last one there), 0 if none. */
static dev_t mount_dev(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096 + PATH_MAX], mp[PATH_MAX], fstype[64];
	dev_t dev = 0, d;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!mountinfo_line(line, &d, mp, sizeof(mp), fstype, sizeof(fstype)))
			continue;
		if (!strcmp(mp, path))
			dev = strcmp(fstype, "fuse.nestfs") ? 0 : d;
	}
	fclose(f);
	return dev;
}

static void mount_join(struct nestfs_mount *m)
{
	if (m->joined)
		return;
	knock_all(m);
	for (unsigned i = 0; i < m->started; i++)
		pthread_join(m->readers[i], NULL);
	if (m->sreader_started)
		pthread_join(m->sreader, NULL);
	/* Closing every clone aborts the connection: all operations fail ENOTCONN. */
	for (unsigned i = 0; i < m->nreaders; i++) {
		if (m->devfd[i] >= 0)
			close(m->devfd[i]);
		m->devfd[i] = -1;
	}
	if (!m->unmounted && m->dev && mount_dev(m->mountpoint) == m->dev)
		(void)umount2(m->mountpoint, MNT_DETACH);
	if (m->stream >= 0)
		close(m->stream);
	m->stream = -1;
	m->joined = true;
}

/* Split -o options into mount flags and the data string. */
static int parse_opts(const char *extra, unsigned long *flags, char *data, size_t len)
{
	static const struct {
		const char *name;
		unsigned long set, clear;
	} known[] = {
		{ "ro", MS_RDONLY, 0 },	       { "rw", 0, MS_RDONLY },
		{ "nosuid", MS_NOSUID, 0 },    { "suid", 0, MS_NOSUID },
		{ "nodev", MS_NODEV, 0 },      { "dev", 0, MS_NODEV },
		{ "noexec", MS_NOEXEC, 0 },    { "exec", 0, MS_NOEXEC },
		{ "noatime", MS_NOATIME, 0 },  { "relatime", MS_RELATIME, 0 },
		{ "sync", MS_SYNCHRONOUS, 0 }, { "dirsync", MS_DIRSYNC, 0 },
	};
	char *copy, *tok, *save = NULL;

	if (!extra || !*extra)
		return 0;
	copy = strdup(extra);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i, l = strlen(data);

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(tok, known[i].name))
				break;
		if (i < sizeof(known) / sizeof(known[0])) {
			*flags = (*flags | known[i].set) & ~known[i].clear;
			continue;
		}
		if (!strncmp(tok, "fd=", 3) || !strncmp(tok, "rootmode=", 9)) {
			free(copy);
			return -EINVAL;
		}
		if (l + 1 + strlen(tok) + 1 > len) {
			free(copy);
			return -E2BIG;
		}
		snprintf(data + l, len - l, ",%s", tok);
	}
	free(copy);
	return 0;
}

static void mount_destroy(struct nestfs_mount *m)
{
	for (unsigned i = 0; i < ROUTE_BUCKETS; i++) {
		while (m->routes[i]) {
			struct route *r = m->routes[i];

			m->routes[i] = r->next;
			free(r);
		}
	}
	while (m->spare) {
		struct route *r = m->spare;

		m->spare = r->next;
		free(r);
	}
	pthread_mutex_destroy(&m->wmu);
	pthread_cond_destroy(&m->wcv);
	free(m->batch);
	pthread_mutex_destroy(&m->rmu);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	if (m->stopfd >= 0)
		close(m->stopfd);
	free(m);
}

/* Make the mount and the clones; 0 or -errno with @e set. */
static int do_mount(struct nestfs_mount *m, const char *mountpoint,
		    const struct nestfs_mount_opts *o, struct nb_err *e)
{
	unsigned long flags = o->read_only ? MS_RDONLY : 0;
	char data[1024];
	int rc;

	if (strlen(mountpoint) >= sizeof(m->mountpoint))
		return nb_err_set(e, ENAMETOOLONG, "mount %s: path too long", mountpoint);
	/* mountinfo shows the canonical path: keep that one to find our mount again. */
	if (!realpath(mountpoint, m->mountpoint))
		return nb_err_sys(e, errno, "mount %s", mountpoint);
	m->devfd[0] = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (m->devfd[0] < 0)
		return nb_err_sys(e, errno, "mount %s: open /dev/fuse", mountpoint);
	m->nreaders = 1;
	snprintf(data, sizeof(data),
		 "fd=%d,rootmode=40000,user_id=%u,group_id=%u,allow_other,default_permissions",
		 m->devfd[0], (unsigned)getuid(), (unsigned)getgid());
	rc = parse_opts(o->extra_opts, &flags, data, sizeof(data));
	if (rc < 0)
		return nb_err_set(e, -rc, "mount %s: bad options '%s'", mountpoint,
				  o->extra_opts);
	if (mount(o->fsname ? o->fsname : "nestfs", mountpoint, "fuse.nestfs", flags, data) < 0)
		return nb_err_sys(e, errno, "mount %s", mountpoint);
	/* The new mount's device; its root is not asked for (that would need the server). */
	m->dev = mount_dev(m->mountpoint);
	for (unsigned i = 1; i < o->readers && i < MAX_READERS; i++) {
		uint32_t src = (uint32_t)m->devfd[0];
		int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

		if (fd < 0)
			break;
		if (ioctl(fd, FUSE_DEV_IOC_CLONE, &src) < 0) {
			close(fd);
			break;	/* old kernel: one reader it is */
		}
		m->devfd[m->nreaders++] = fd;
	}
	return 0;
}

struct nestfs_mount *nestfs_mount_start(int stream_fd, const char *mountpoint,
					const struct nestfs_mount_opts *o, struct nb_err *e)
{
	struct nestfs_mount_opts def = { 0 };
	struct nestfs_mount *m = calloc(1, sizeof(*m));
	struct sigaction sa = { 0 };
	int fl;

	if (!o)
		o = &def;
	if (!m) {
		close(stream_fd);
		nb_err_set(e, ENOMEM, "mount %s: out of memory", mountpoint);
		return NULL;
	}
	m->stream = stream_fd;
	for (unsigned i = 0; i < MAX_READERS; i++)
		m->devfd[i] = -1;
	pthread_mutex_init(&m->wmu, NULL);
	pthread_cond_init(&m->wcv, NULL);
	pthread_mutex_init(&m->rmu, NULL);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->batch = malloc(BATCH_MAX);
	if (!m->batch) {
		close(stream_fd);
		m->stream = -1;
		nb_err_set(e, ENOMEM, "mount %s: out of memory", mountpoint);
		goto fail;
	}
	sa.sa_handler = knock_handler;	/* no SA_RESTART: blocked calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(NESTFS_KNOCK_SIGNAL, &sa, NULL);
	fl = fcntl(stream_fd, F_GETFL);
	if (m->stopfd < 0 || fl < 0 || fcntl(stream_fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		nb_err_sys(e, errno, "mount %s: stream fd %d", mountpoint, stream_fd);
		goto fail;
	}
	(void)fcntl(stream_fd, F_SETFD, FD_CLOEXEC);
	if (do_mount(m, mountpoint, o->readers ? o : &(struct nestfs_mount_opts){
				.readers = 4, .fsname = o->fsname, .extra_opts = o->extra_opts,
				.read_only = o->read_only }, e) < 0)
		goto fail;
	if (pthread_create(&m->sreader, NULL, sreader_main, m) != 0) {
		nb_err_set(e, EAGAIN, "mount %s: cannot start threads", mountpoint);
		pump_stop(m, 0);
		goto fail;
	}
	m->sreader_started = true;
	for (unsigned i = 0; i < m->nreaders; i++) {
		struct reader_arg *ra = malloc(sizeof(*ra));

		if (ra) {
			ra->m = m;
			ra->idx = i;
		}
		if (!ra || pthread_create(&m->readers[i], NULL, reader_main, ra) != 0) {
			free(ra);
			nb_err_set(e, EAGAIN, "mount %s: cannot start threads", mountpoint);
			pump_stop(m, 0);
			goto fail;
		}
		m->started++;
	}
	pthread_mutex_lock(&m->mu);
	while (!m->ready && !m->stopping)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	if (!m->ready) {
		nb_err_set(e, m->stream_gone ? ENOTCONN : EPROTO,
			   "mount %s: the server %s", mountpoint,
			   m->stream_gone ? "went away before answering INIT" : "refused INIT");
		pump_stop(m, 0);
		goto fail;
	}
	return m;
fail:
	mount_join(m);
	mount_destroy(m);
	return NULL;
}

int nestfs_mount_wait(struct nestfs_mount *m)
{
	pthread_mutex_lock(&m->mu);
	while (!m->stopping)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	mount_join(m);
	return m->stream_gone && !m->unmounted ? -ENOTCONN : 0;
}

void nestfs_mount_stop(struct nestfs_mount *m)
{
	if (m)
		pump_stop(m, 0);
}

void nestfs_mount_free(struct nestfs_mount *m)
{
	if (!m)
		return;
	pump_stop(m, 0);
	mount_join(m);
	mount_destroy(m);
}

int nestfs_mount_fd(int stream_fd, const char *mountpoint, const struct nestfs_mount_opts *o,
		    struct nb_err *e)
{
	struct nestfs_mount *m = nestfs_mount_start(stream_fd, mountpoint, o, e);
	int rc;

	if (!m)
		return -(e && e->code ? e->code : EIO);
	rc = nestfs_mount_wait(m);
	if (rc < 0)
		nb_err_set(e, -rc, "mount %s: the server went away", mountpoint);
	nestfs_mount_free(m);
	return rc;
}
