/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cleanup: scope-bound release of resources with __attribute__((cleanup)).
 * Owns autofree, autoclose, autofclose, autodir, autokill and steal_pointer. */
#ifndef NESTBOX_LIB_CLEANUP_H
#define NESTBOX_LIB_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* autofree's cleanup: free(*p). */
static inline void nb_freep(void *p)
{
	free(*(void **)p);
}

/* autoclose's cleanup: close *fd unless it is -1, keeping errno for the return that runs it. */
static inline void nb_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

/* autofclose's cleanup: fclose *f unless NULL. */
static inline void nb_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* autodir's cleanup: closedir *d unless NULL. */
static inline void nb_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* A child that must not outlive the scope: SIGKILL and reap it. */
static inline void nb_killp(pid_t *pid)
{
	if (*pid > 0) {
		int saved = errno;

		kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = saved;
	}
}

#define autofree   __attribute__((cleanup(nb_freep)))
#define autoclose  __attribute__((cleanup(nb_closep)))
#define autofclose __attribute__((cleanup(nb_fclosep)))
#define autodir    __attribute__((cleanup(nb_closedirp)))
#define autokill   __attribute__((cleanup(nb_killp)))

/*
 * steal_pointer() - take ownership out of an auto* variable: returns the
 * value and leaves NULL behind, type-checked (the result has the type of *pp).
 */
#define steal_pointer(pp)                                   \
	({                                                  \
		__typeof__(*(pp)) stolen_ = *(pp);          \
		*(pp) = NULL;                               \
		stolen_;                                    \
	})

/* steal_fd() - the same for file descriptors: returns *fdp, leaves -1. */
static inline int steal_fd(int *fdp)
{
	int fd = *fdp;

	*fdp = -1;
	return fd;
}

#endif
