/* SPDX-License-Identifier: MIT */
/* loop: one poll(2) loop over watched fds, timers, signals delivered through
 * a self-pipe, and child exits reaped with wait4(2). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

/*
 * Children: the loop reaps every child with wait4(-1, WNOHANG) when SIGCHLD
 * arrives, so a child may be reaped before its owner calls
 * fr_loop_watch_child. Such statuses are kept, and fr_loop_watch_child
 * queues them for delivery by the next fr_loop_run_once (never from inside
 * fr_loop_watch_child itself), which then does not block. A process that
 * runs its own children outside the loop must not rely on waitpid for them.
 *
 * Signals: the handlers set a flag per signal and write the signal number as
 * one byte to the self-pipe; the byte only wakes poll, the flags say what
 * happened, so nothing is lost if the pipe is ever full. fr_loop_wake writes
 * a 0 byte. fr_loop_run_once is not re-entrant: do not call it from a callback.
 */

struct fdwatch {
	int fd;
	short events;
	int dead;		/* unwatched; removed at the next run_once */
	int pidx;		/* index in the pollfd array, -1: not polled this round */
	fr_fd_cb *cb;
	void *arg;
};

struct timer {
	int64_t deadline;
	uint64_t id;
	fr_timer_cb *cb;
	void *arg;
};

struct child {
	pid_t pid;
	int status;
	struct rusage ru;
	fr_child_cb *cb;
	void *arg;
};

static const int sigs[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGPIPE };

struct fr_loop {
	int pipe[2];
	struct fdwatch *fds;
	size_t nfds, capfds, ndead;
	struct pollfd *pfd;
	size_t cappfd;
	struct timer *timers;
	size_t ntimers, captimers;
	uint64_t last_id;
	struct child *watched;	/* registered, not yet reaped */
	size_t nwatched, capwatched;
	struct child *unclaimed;	/* reaped, not registered */
	size_t nunclaimed, capunclaimed;
	struct child *ready;	/* reaped and registered, not yet delivered */
	size_t nready, capready;
	fr_signal_cb *sigcb;
	void *sigarg;
	struct sigaction old[FR_NELEM(sigs)];
};

static struct fr_loop *the_loop;
static volatile sig_atomic_t wake_fd = -1;
static volatile sig_atomic_t pending[32];

static void
handler(int signo)
{
	int saved = errno;
	unsigned char c = (unsigned char)signo;
	int fd = wake_fd;
	ssize_t r;

	if (signo > 0 && signo < (int)FR_NELEM(pending))
		pending[signo] = 1;
	if (fd >= 0) {
		r = write(fd, &c, 1);
		(void)r;
	}
	errno = saved;
}

static void
restore(struct fr_loop *loop, size_t n)
{
	while (n-- > 0)
		sigaction(sigs[n], &loop->old[n], NULL);
}

struct fr_loop *
fr_loop_new(struct fr_error *err)
{
	struct fr_loop *loop;
	struct sigaction sa;
	size_t i;

	if (the_loop) {
		errno = EBUSY;
		fr_error_set(err, FR_ESYS, NULL, "cannot create a second event loop:");
		return NULL;
	}
	loop = fr_xcalloc(1, sizeof(*loop));
	if (pipe2(loop->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		fr_error_set(err, FR_ESYS, NULL, "cannot create the event loop pipe:");
		free(loop);
		return NULL;
	}
	for (i = 0; i < FR_NELEM(pending); i++)
		pending[i] = 0;
	wake_fd = loop->pipe[1];
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < FR_NELEM(sigs); i++) {
		sa.sa_handler = sigs[i] == SIGPIPE ? SIG_IGN : handler;
		sa.sa_flags = SA_RESTART | (sigs[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
		if (sigaction(sigs[i], &sa, &loop->old[i]) < 0) {
			fr_error_set(err, FR_ESYS, NULL, "cannot install a signal handler:");
			goto fail;
		}
	}
	the_loop = loop;
	return loop;

fail:
	restore(loop, i);
	wake_fd = -1;
	close(loop->pipe[0]);
	close(loop->pipe[1]);
	free(loop);
	return NULL;
}

void
fr_loop_free(struct fr_loop *loop)
{
	if (!loop)
		return;
	restore(loop, FR_NELEM(sigs));
	wake_fd = -1;
	close(loop->pipe[0]);
	close(loop->pipe[1]);
	free(loop->fds);
	free(loop->pfd);
	free(loop->timers);
	free(loop->watched);
	free(loop->unclaimed);
	free(loop->ready);
	if (the_loop == loop)
		the_loop = NULL;
	free(loop);
}

void
fr_loop_watch_fd(struct fr_loop *loop, int fd, short events, fr_fd_cb *cb, void *arg)
{
	struct fdwatch w = { fd, events, 0, -1, cb, arg };
	size_t i;

	for (i = 0; i < loop->nfds; i++) {
		if (!loop->fds[i].dead && loop->fds[i].fd == fd) {
			loop->fds[i] = w;
			return;
		}
	}
	FR_PUSH(loop->fds, loop->nfds, loop->capfds, w);
}

void
fr_loop_unwatch_fd(struct fr_loop *loop, int fd)
{
	size_t i;

	for (i = 0; i < loop->nfds; i++) {
		if (!loop->fds[i].dead && loop->fds[i].fd == fd) {
			loop->fds[i].dead = 1;
			loop->ndead++;
			return;
		}
	}
}

static void
compact(struct fr_loop *loop)
{
	size_t i, j = 0;

	if (!loop->ndead)
		return;
	for (i = 0; i < loop->nfds; i++)
		if (!loop->fds[i].dead)
			loop->fds[j++] = loop->fds[i];
	loop->nfds = j;
	loop->ndead = 0;
}

uint64_t
fr_loop_timer(struct fr_loop *loop, int64_t deadline_ns, fr_timer_cb *cb, void *arg)
{
	struct timer t = { deadline_ns, ++loop->last_id, cb, arg };

	FR_PUSH(loop->timers, loop->ntimers, loop->captimers, t);
	return t.id;
}

void
fr_loop_cancel_timer(struct fr_loop *loop, uint64_t id)
{
	size_t i;

	if (!id)
		return;
	for (i = 0; i < loop->ntimers; i++) {
		if (loop->timers[i].id == id) {
			loop->timers[i] = loop->timers[--loop->ntimers];
			return;
		}
	}
}

static int
earlier(const struct timer *a, const struct timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->id < b->id);
}

/* Fire the due timers in deadline order; timers added meanwhile wait a round. */
static void
run_timers(struct fr_loop *loop)
{
	uint64_t last = loop->last_id;
	int64_t now = fr_now_ns();
	struct timer t;
	size_t i, best;

	for (;;) {
		best = SIZE_MAX;
		for (i = 0; i < loop->ntimers; i++) {
			if (loop->timers[i].deadline > now || loop->timers[i].id > last)
				continue;
			if (best == SIZE_MAX || earlier(&loop->timers[i], &loop->timers[best]))
				best = i;
		}
		if (best == SIZE_MAX)
			return;
		t = loop->timers[best];
		loop->timers[best] = loop->timers[--loop->ntimers];
		t.cb(t.arg);
	}
}

static size_t
find_child(const struct child *arr, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (arr[i].pid == pid)
			return i;
	return SIZE_MAX;
}

void
fr_loop_watch_child(struct fr_loop *loop, pid_t pid, fr_child_cb *cb, void *arg)
{
	struct child c;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.pid = pid;
	c.cb = cb;
	c.arg = arg;
	i = find_child(loop->unclaimed, loop->nunclaimed, pid);
	if (i != SIZE_MAX) {
		c = loop->unclaimed[i];
		loop->unclaimed[i] = loop->unclaimed[--loop->nunclaimed];
		c.cb = cb;
		c.arg = arg;
		FR_PUSH(loop->ready, loop->nready, loop->capready, c);
		return;
	}
	i = find_child(loop->watched, loop->nwatched, pid);
	if (i != SIZE_MAX)
		loop->watched[i] = c;
	else
		FR_PUSH(loop->watched, loop->nwatched, loop->capwatched, c);
}

static void
reap(struct fr_loop *loop)
{
	struct child c;
	size_t i;

	for (;;) {
		memset(&c, 0, sizeof(c));
		c.pid = wait4(-1, &c.status, WNOHANG, &c.ru);
		if (c.pid < 0 && errno == EINTR)
			continue;
		if (c.pid <= 0)
			return;
		i = find_child(loop->watched, loop->nwatched, c.pid);
		if (i == SIZE_MAX) {
			FR_PUSH(loop->unclaimed, loop->nunclaimed, loop->capunclaimed, c);
			continue;
		}
		c.cb = loop->watched[i].cb;
		c.arg = loop->watched[i].arg;
		loop->watched[i] = loop->watched[--loop->nwatched];
		FR_PUSH(loop->ready, loop->nready, loop->capready, c);
	}
}

void
fr_loop_on_signal(struct fr_loop *loop, fr_signal_cb *cb, void *arg)
{
	loop->sigcb = cb;
	loop->sigarg = arg;
}

unsigned
fr_loop_children(const struct fr_loop *loop)
{
	return (unsigned)(loop->nwatched + loop->nready);
}

/* Empty the self-pipe. A read that brings less than it asked for emptied it:
 * no read is spent on the EAGAIN (a byte written after it wakes poll again). */
static void
drain(struct fr_loop *loop)
{
	char buf[256];
	ssize_t n;

	do
		n = read(loop->pipe[0], buf, sizeof(buf));
	while (n == (ssize_t)sizeof(buf) || (n < 0 && errno == EINTR));
}

static void
dispatch_signals(struct fr_loop *loop)
{
	static const int user[] = { SIGINT, SIGTERM, SIGHUP };
	struct child c;
	size_t i;

	if (pending[SIGCHLD]) {
		pending[SIGCHLD] = 0;
		reap(loop);
	}
	for (i = 0; i < loop->nready; i++) {
		c = loop->ready[i];
		if (c.cb)
			c.cb(c.arg, c.pid, c.status, &c.ru);
	}
	loop->nready = 0;
	for (i = 0; i < FR_NELEM(user); i++) {
		if (!pending[user[i]])
			continue;
		pending[user[i]] = 0;
		if (loop->sigcb)
			loop->sigcb(loop->sigarg, user[i]);
	}
}

/* The poll timeout in ms (rounded up) for a wait in ns; -1 waits forever. */
static int
poll_timeout(const struct fr_loop *loop, int64_t wait)
{
	int64_t d, now;
	size_t i;

	if (loop->nready)
		return 0;
	if (loop->ntimers) {
		now = fr_now_ns();
		for (i = 0; i < loop->ntimers; i++) {
			d = loop->timers[i].deadline - now;
			if (d < 0)
				d = 0;
			if (wait < 0 || d < wait)
				wait = d;
		}
	}
	if (wait < 0)
		return -1;
	wait = wait / 1000000 + (wait % 1000000 != 0);
	return wait > INT_MAX ? INT_MAX : (int)wait;
}

int
fr_loop_run_once(struct fr_loop *loop, int64_t max_wait_ns, struct fr_error *err)
{
	struct fdwatch w;
	size_t i, n, np = 1;
	short rev;

	compact(loop);
	fr_grow(&loop->pfd, loop->nfds + 1, &loop->cappfd, sizeof(*loop->pfd));
	loop->pfd[0].fd = loop->pipe[0];
	loop->pfd[0].events = POLLIN;
	loop->pfd[0].revents = 0;
	for (i = 0; i < loop->nfds; i++, np++) {
		loop->fds[i].pidx = (int)np;
		loop->pfd[np].fd = loop->fds[i].fd;
		loop->pfd[np].events = loop->fds[i].events;
		loop->pfd[np].revents = 0;
	}
	if (poll(loop->pfd, (nfds_t)np, poll_timeout(loop, max_wait_ns)) < 0) {
		if (errno != EINTR)
			return fr_error_set(err, FR_ESYS, NULL, "poll:");
		for (i = 0; i < np; i++)
			loop->pfd[i].revents = 0;
	}
	if (loop->pfd[0].revents)
		drain(loop);
	dispatch_signals(loop);
	n = loop->nfds;
	for (i = 0; i < n; i++) {
		w = loop->fds[i];
		if (w.dead || w.pidx < 0)
			continue;
		rev = loop->pfd[w.pidx].revents;
		if (rev)
			w.cb(w.arg, w.fd, rev);
	}
	run_timers(loop);
	return 0;
}

void
fr_loop_wake(struct fr_loop *loop)
{
	unsigned char c = 0;
	ssize_t r;
	int saved = errno;

	r = write(loop->pipe[1], &c, 1);
	(void)r;
	errno = saved;
}
