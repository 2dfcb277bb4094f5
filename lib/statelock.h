/* SPDX-License-Identifier: MIT */
/* statelock: the lock of a state directory (see state.h: an open state holds
 * an exclusive flock(2) on DIR/lock, which the kernel drops when the process
 * dies). */
#ifndef FR_STATELOCK_H
#define FR_STATELOCK_H

#include <sys/types.h>

#include "error.h"
#include "state.h"

/* Create dir if need be and take the lock of dir (named shown_dir in
 * messages) as mode says (FR_LOCK_WAIT: waiting(holder_pid, arg) is called
 * once if it is busy, holder_pid 0 if unknown; FR_LOCK_FAIL: fail at once),
 * writing this process's pid into the lock file. 0 with *fd the lock's open
 * file (closing it releases the lock), or -1 with err set (FR_ESTATE); *fd is
 * then -1 or an open file the caller closes. */
int fr_statelock(const char *dir, const char *shown_dir, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, int *fd, struct fr_error *err);

#endif
