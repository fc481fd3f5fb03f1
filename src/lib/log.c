/* SPDX-License-Identifier: GPL-2.0-or-later */
/* log: leveled messages and progress lines. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Set once by nb_log_setup() before any thread starts; read-only after. */
static const char *log_prog = "nestbox";
static enum nb_log_level log_level = NB_LOG_WARN;

/* nb_log_setup() - see log.h */
void nb_log_setup(const char *prog, enum nb_log_level level)
{
	log_prog = prog;
	log_level = level;
}

/* nb_log_level() - see log.h */
enum nb_log_level nb_log_level(void)
{
	return log_level;
}

/* One line to stderr: "prog: message". */
__attribute__((format(printf, 1, 0))) static void vlog(const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	/* One write per message so that lines from threads do not interleave. */
	n = snprintf(line, sizeof(line), "%s: ", log_prog);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

/* nb_log() - see log.h */
void nb_log(enum nb_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

/* nb_die() - see log.h */
void nb_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
	exit(NB_EXIT_FAILURE);
}

/* CLOCK_MONOTONIC in nanoseconds: progress redraws are spaced by it. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Redraw @p's line in place: "what: NN% (done/total)", or the count alone without a total. */
static void progress_draw(struct nb_progress *p)
{
	if (p->total)
		fprintf(stderr, "\r\033[K%s: %3u%% (%llu/%llu)", p->what,
			(unsigned)(p->done * 100 / p->total),
			(unsigned long long)p->done, (unsigned long long)p->total);
	else
		fprintf(stderr, "\r\033[K%s: %llu", p->what, (unsigned long long)p->done);
	fflush(stderr);
}

/* nb_progress_start() - see log.h */
void nb_progress_start(struct nb_progress *p, const char *what, uint64_t total)
{
	p->what = what;
	p->total = total;
	p->done = 0;
	p->tty = isatty(STDERR_FILENO) && log_level >= NB_LOG_WARN;
	p->last_ns = 0;
	if (p->tty)
		progress_draw(p);
}

/* nb_progress_add() - see log.h */
void nb_progress_add(struct nb_progress *p, uint64_t n)
{
	uint64_t t;

	p->done += n;
	if (!p->tty)
		return;
	t = now_ns();
	if (t - p->last_ns < 100000000ULL)
		return;
	p->last_ns = t;
	progress_draw(p);
}

/* nb_progress_done() - see log.h */
void nb_progress_done(struct nb_progress *p)
{
	if (!p->tty)
		return;
	if (p->total)
		p->done = p->total;
	progress_draw(p);
	fputc('\n', stderr);
}
