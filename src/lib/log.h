/* SPDX-License-Identifier: GPL-2.0-or-later */
/* log: messages to stderr by level, fatal exits, and TTY-only progress lines.
 * Owns the process-wide log level (set once in main, read everywhere). */
#ifndef NESTBOX_LIB_LOG_H
#define NESTBOX_LIB_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum nb_log_level { NB_LOG_ERROR, NB_LOG_WARN, NB_LOG_INFO, NB_LOG_DEBUG };

/* Exit codes, as podman's (docs/man/nestbox.1.scd). */
enum {
	NB_EXIT_FAILURE = 125,	 /* nestbox itself failed */
	NB_EXIT_NOEXEC = 126,	 /* the command could not be executed */
	NB_EXIT_NOTFOUND = 127,	 /* the command was not found */
	NB_EXIT_SIGNAL_BASE = 128 /* 128 + N: killed by signal N */
};

/* nb_log_setup() - program name for prefixes, level; call once from main */
void nb_log_setup(const char *prog, enum nb_log_level level);

/* nb_log_level() - the level set by nb_log_setup() */
enum nb_log_level nb_log_level(void);

/* nb_log() - print "PROG: message" to stderr if @level is enabled */
void nb_log(enum nb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define nb_error(...) nb_log(NB_LOG_ERROR, __VA_ARGS__)
#define nb_warn(...)  nb_log(NB_LOG_WARN, __VA_ARGS__)
#define nb_info(...)  nb_log(NB_LOG_INFO, __VA_ARGS__)
#define nb_debug(...) nb_log(NB_LOG_DEBUG, __VA_ARGS__)

/* nb_die() - print the message and exit(125); only before main loops */
__attribute__((noreturn, format(printf, 1, 2))) void nb_die(const char *fmt, ...);

/**
 * struct nb_progress - one progress line, drawn only when stderr is a TTY
 * @what:	label ("pull docker.io/library/busybox:latest")
 * @total:	expected units (0: unknown)
 * @done:	units so far
 * @tty:	whether to draw at all
 * @last_ns:	monotonic time of the last draw, to redraw at most 10 times a second
 */
struct nb_progress {
	const char *what;
	uint64_t total;
	uint64_t done;
	bool tty;
	uint64_t last_ns;
};

/* nb_progress_start() - begin a progress line; draws nothing off a TTY */
void nb_progress_start(struct nb_progress *p, const char *what, uint64_t total);

/* nb_progress_add() - account @n more units and redraw if due */
void nb_progress_add(struct nb_progress *p, uint64_t n);

/* nb_progress_done() - final draw and newline (TTY only) */
void nb_progress_done(struct nb_progress *p);

#endif
