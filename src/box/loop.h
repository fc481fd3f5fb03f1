/* SPDX-License-Identifier: GPL-2.0-or-later */
/* box/loop: the one supervision loop of a running VM, for the foreground
 * `run`, the daemon behind `run -d`, and `exec` (the same loop without the
 * VM). Owns relaying the command's stdio over the control channel (or
 * logging it), following the terminal, the boot timeout, boot phases, the
 * console's log and tail, serving exec/stop/wait clients (box/clients.h)
 * and the end: the command's exit code, or why the VM failed.
 *
 * Theory of operation: one epoll loop; cookies say which fd woke it. The
 * control socket is non-blocking with an output queue, so the host never
 * blocks on the guest; the guest may block on the host (it stops reading
 * the port while our stdout is slow), which is the back-pressure we want.
 * What differs between the foreground and -d is data in struct nb_loop:
 * the foreground relays stdio and takes signals, and ends when the command
 * exits; -d logs output, reports to the waiting `run -d` through @ready_fd,
 * keeps the record's status, and runs until QEMU is gone. */
#ifndef NESTBOX_BOX_LOOP_H
#define NESTBOX_BOX_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "box/state.h"
#include "control/proto.h"
#include "lib/clock.h"
#include "lib/err.h"

/**
 * struct nb_loop - one VM (or exec session) being supervised
 * @qemu_pid:	the QEMU child (0 for exec)
 * @qemu_pidfd:	a pidfd for it (-1 for exec)
 * @ctl:	the host end of the control stream (exec: the VM's control socket)
 * @console:	the host end of the serial console (-1: none)
 * @console_log: fd the console is appended to (-1: none)
 * @show_console: copy the console to stderr (--console)
 * @output_log:	fd the command's output is appended to as records
 *		(box/outlog.h) for `nestbox logs` (-1: none)
 * @relay:	write the command's output to @out_fd and @err_fd (the
 *		foreground and exec; -d only logs it)
 * @in_fd, @out_fd, @err_fd: the terminal side of the command's stdio
 * @stdin_open:	relay @in_fd to the command (-i)
 * @tty:	raw mode on @in_fd, follow its size (-t)
 * @signals:	SIGINT, SIGTERM and SIGHUP end the VM (128+N), SIGWINCH
 *		follows the terminal (the caller has them blocked)
 * @listen_fd:	serve exec/stop/wait clients on this socket (-1: none)
 * @until_poweroff: run until QEMU is gone, not until the command exits,
 *		and outlive a malformed frame (-d)
 * @ready_fd:	-d: the pipe to `run -d`: "ok" once the command started,
 *		"exit N MSG" if it ended first, "err MSG" if the VM failed; -1
 *		once said (or for none)
 * @st:		the record the loop keeps (NULL: none): "running" when the
 *		command starts, "exited" with @code at the end (before the
 *		clients are told)
 * @boot_timeout_ms: deadline for nestbox-init's first phase report
 * @t0_ns:	CLOCK_MONOTONIC when nestbox started (phase timings are relative)
 * @qemu_start_ns: CLOCK_MONOTONIC when QEMU was started
 * @phase_ns:	guest CLOCK_BOOTTIME of each phase (0: not reached)
 * @phase_host_ns: host CLOCK_MONOTONIC when each phase report arrived
 * @initial:	frames to send first (exec: the SPAWN); NULL for none
 * @exited:	output: the main command's exit was reported
 * @code:	output: the main command's exit code (with @exited)
 */
struct nb_loop {
	pid_t qemu_pid;
	int qemu_pidfd;
	int ctl;
	int console;
	int console_log;
	bool show_console;
	int output_log;
	bool relay;
	int in_fd, out_fd, err_fd;
	bool stdin_open;
	bool tty;
	bool signals;
	int listen_fd;
	bool until_poweroff;
	int ready_fd;
	struct nb_vm_state *st;
	unsigned boot_timeout_ms;
	uint64_t t0_ns, qemu_start_ns;
	uint64_t phase_ns[NB_PHASE_MAX + 1];
	uint64_t phase_host_ns[NB_PHASE_MAX + 1];
	const struct nb_ctl_buf *initial;
	bool exited;
	int code;
};

/**
 * nb_loop_init() - a loop over @ctl with nothing else: no VM, no console,
 * no logs, no clients, no relay; the caller sets what it has
 */
void nb_loop_init(struct nb_loop *s, int ctl);

/**
 * nb_loop_run() - supervise until the command exits (or, with
 * @until_poweroff, until QEMU is gone) or the VM fails
 *
 * Return: the exit code for nestbox run: the command's own (126/127 for
 * exec failures, 128+N for signals), or 125 with @e set when the VM failed
 * to boot, timed out, or died (with @ready_fd, "err MSG" went there and @e
 * is left alone); QEMU is reaped when this returns
 */
int nb_loop_run(struct nb_loop *s, struct nb_err *e);

#endif
