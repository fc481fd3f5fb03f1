/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/session: the host side of a running VM in the foreground. Owns the
 * event loop that relays stdio over the control channel, follows the
 * terminal, enforces the boot timeout, collects boot phases, keeps the
 * console's tail and ends with the command's exit code. */
#ifndef NESTBOX_BOX_SESSION_H
#define NESTBOX_BOX_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "control/proto.h"
#include "lib/clock.h"
#include "lib/err.h"

/**
 * struct nb_session - one VM being supervised
 * @qemu_pid, @qemu_pidfd: the QEMU child
 * @ctl:	host end of the control port
 * @console:	host end of the serial console
 * @console_log: fd to append console output to (-1: none)
 * @show_console: copy console output to stderr
 * @serve, @listen_fd: also serve exec/stop/wait clients on this socket
 *		(box/clients.h), as the -d supervisor does
 * @log_output, @output_log: also append the command's output to this fd as
 *		records (box/outlog.h), for `nestbox logs`
 * @tty:	raw mode on the terminal, follow its size
 * @stdin_open:	relay stdin (-i)
 * @boot_timeout_ms: deadline for nestbox-init's first phase report
 * @t0_ns:	CLOCK_MONOTONIC when nestbox started (phase timings are relative)
 * @phase_ns:	guest CLOCK_BOOTTIME of each phase (0: not reached)
 * @phase_host_ns: host CLOCK_MONOTONIC when each phase report arrived
 * @initial:	frames to send first (exec: the SPAWN); NULL for none
 *
 * For exec, @ctl is the supervisor's socket, @qemu_pid is 0 and
 * @qemu_pidfd and @console are -1: the same loop, without the VM.
 */
struct nb_session {
	pid_t qemu_pid;
	int qemu_pidfd;
	int ctl;
	int console;
	int console_log;
	bool show_console;
	bool log_output;
	int output_log;
	bool serve;
	int listen_fd;
	bool tty;
	bool stdin_open;
	int in_fd, out_fd, err_fd;
	unsigned boot_timeout_ms;
	uint64_t t0_ns, qemu_start_ns;
	uint64_t phase_ns[NB_PHASE_MAX + 1];
	uint64_t phase_host_ns[NB_PHASE_MAX + 1];
	const struct nb_ctl_buf *initial;
};

/**
 * nb_session_run() - relay until the command exits or the VM fails
 *
 * Return: the exit code for nestbox run: the command's own (126/127 for
 * exec failures, 128+N for signals), or 125 with @e set when the VM failed
 * to boot, timed out, or died; QEMU is gone when this returns
 */
int nb_session_run(struct nb_session *s, struct nb_err *e);

#endif
