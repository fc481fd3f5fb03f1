/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Turning LeakSanitizer's exit-time check off in a process that cannot host it. */
#ifndef NB_LIB_LEAK_H
#define NB_LIB_LEAK_H

/*
 * nb_leak_check_off() - skip LeakSanitizer's check at this process's exit
 * (and its children's, forked after): for a process that can no longer run
 * it. LeakSanitizer stops the world by cloning a tracer that ptraces every
 * thread and reads /proc/self/task; a process that has unshared its pid
 * namespace can no longer clone (the namespace's init has gone), and a
 * sandboxed server has neither clone nor ptrace nor /proc. Without the
 * sanitizer this does nothing.
 */
void nb_leak_check_off(void);

#endif
