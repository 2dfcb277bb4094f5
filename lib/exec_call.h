/* SPDX-License-Identifier: MIT */
/* exec_call: call tasks. A C function from a shared library (dlopen'd once,
 * its ABI checked) or a built-in (sum, min, max, len) runs on a pool of worker
 * threads (isolation: thread) or in a worker process that loads each library
 * once and takes args and gives results as JSON lines over pipes (isolation:
 * process: a crash fails that call alone and the worker is replaced).
 * Completions come back through the loop: the graph is never touched by a
 * worker thread. */
#ifndef FR_EXEC_CALL_H
#define FR_EXEC_CALL_H

#include <jansson.h>
#include <stdint.h>

#include "error.h"
#include "loop.h"
#include "pipeline.h"

struct fr_callpool;
struct worker;

struct fr_call {
	/* set by the caller */
	const char *task;		/* instance name, for the function's ctx */
	const char *library;		/* path, or NULL for a built-in */
	const char *function;
	json_t *args;			/* borrowed until done() */
	enum fr_isolation isolation;
	int64_t timeout_ns;		/* process isolation only; 0 = none */
	void (*done)(struct fr_call *call, void *arg);	/* once, from the loop */
	/* a thread call: once a thread picks it up, from the loop and before
	 * done() (start_ns is then set); may be NULL */
	void (*started)(struct fr_call *call, void *arg);
	void *arg;

	/* filled by exec_call; valid in done() */
	int cancelled;			/* never started: fr_callpool_cancel */
	json_t *result;			/* new reference on success, else NULL */
	char error[1024];		/* why it failed */
	int64_t start_ns, end_ns;

	/* private */
	void *fn;
	struct fr_call *next, *snext;
	struct worker *worker;
	uint64_t timer;
	struct fr_callpool *pool;
};

/* A pool on loop for a run of at most jobs jobs at once: at most jobs worker
 * threads and as many worker processes (each started on demand, as self_exe
 * --call-worker). The budget is shared with the loop's other jobs through
 * tokens: held of them are taken already (see fr_callpool_take). Never NULL. */
struct fr_callpool *fr_callpool_new(struct fr_loop *loop, unsigned jobs, unsigned held,
    const char *self_exe);
/* Wait for running thread calls, stop the workers, free the pool; NULL is a no-op. */
void fr_callpool_free(struct fr_callpool *pool);
/* Take one token of the budget for a job that is not a thread call (a shell
 * task, a call in a process...): 1 if taken, else 0. Thread calls queued
 * before come first: a token is given only when none waits (a finishing
 * thread call wakes the loop). */
int fr_callpool_take(struct fr_callpool *pool);
/* Give back a token taken by fr_callpool_take. */
void fr_callpool_give(struct fr_callpool *pool);
/* Let the threads see the thread calls started since the last flush (calls
 * queue without waking anyone, so a batch costs one wake-up). */
void fr_callpool_flush(struct fr_callpool *pool);
/* Hand every thread call still waiting for a thread back unstarted: done()
 * comes with cancelled set and no result. */
void fr_callpool_cancel(struct fr_callpool *pool);
/* Start call: a thread call queues for a thread and a token of the budget
 * (see fr_callpool_flush); a process call starts in a worker at once and
 * needs a token taken before. A missing library or function, a library that is
 * not a flowrun plugin or was built for another ABI, give -1 with err set
 * (naming the library and the symbol). */
int fr_call_start(struct fr_callpool *pool, struct fr_call *call, struct fr_error *err);
/* Stop a running call: kills its worker process (a thread call cannot be
 * stopped and runs to its end). */
void fr_call_kill(struct fr_call *call);
/* The worker process: read requests on stdin, answer on stdout, until EOF.
 * Returns the exit status for main. */
int fr_call_worker_main(void);

#endif
