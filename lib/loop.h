/* SPDX-License-Identifier: MIT */
/* loop: the one event loop every executor plugs into: poll(2) over watched
 * file descriptors, timers, signals delivered through a self-pipe, and child
 * exits reaped with wait4(2) so each owner gets its status and rusage.
 * Not thread-safe: only the thread that runs the loop may call these, except
 * fr_loop_wake, which any thread (or a signal handler) may call. */
#ifndef FR_LOOP_H
#define FR_LOOP_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "error.h"

struct fr_loop;

typedef void fr_fd_cb(void *arg, int fd, short revents);
typedef void fr_timer_cb(void *arg);
typedef void fr_child_cb(void *arg, pid_t pid, int status, const struct rusage *ru);
typedef void fr_signal_cb(void *arg, int signo);

/* A new loop; installs handlers for SIGCHLD, SIGINT, SIGTERM and SIGHUP and
 * ignores SIGPIPE. Only one loop may exist at a time. NULL with err set on failure. */
struct fr_loop *fr_loop_new(struct fr_error *err);
/* Restore the signal dispositions and free the loop; NULL is a no-op. */
void fr_loop_free(struct fr_loop *loop);
/* Call cb when fd is ready for events (POLLIN/POLLOUT); replaces an earlier watch of fd. */
void fr_loop_watch_fd(struct fr_loop *loop, int fd, short events, fr_fd_cb *cb, void *arg);
/* Stop watching fd (no-op if not watched). Safe inside callbacks. */
void fr_loop_unwatch_fd(struct fr_loop *loop, int fd);
/* Call cb once at deadline (CLOCK_MONOTONIC ns, see fr_now_ns); returns an id > 0. */
uint64_t fr_loop_timer(struct fr_loop *loop, int64_t deadline_ns, fr_timer_cb *cb, void *arg);
/* Cancel a timer that has not fired (no-op for 0 or an unknown id). */
void fr_loop_cancel_timer(struct fr_loop *loop, uint64_t id);
/* Call cb when child pid exits (reaped by the loop); a NULL cb (also to
 * replace an earlier watch) only reaps it. */
void fr_loop_watch_child(struct fr_loop *loop, pid_t pid, fr_child_cb *cb, void *arg);
/* Call cb for SIGINT, SIGTERM and SIGHUP (replacing an earlier handler). */
void fr_loop_on_signal(struct fr_loop *loop, fr_signal_cb *cb, void *arg);
/* Number of watched children not yet reaped. */
unsigned fr_loop_children(const struct fr_loop *loop);
/* Wait up to max_wait_ns (-1: until something happens) and dispatch what is
 * ready. Returns 0, or -1 with err set when poll itself fails. */
int fr_loop_run_once(struct fr_loop *loop, int64_t max_wait_ns, struct fr_error *err);
/* Make a waiting fr_loop_run_once return; async-signal-safe and thread-safe. */
void fr_loop_wake(struct fr_loop *loop);

#endif
