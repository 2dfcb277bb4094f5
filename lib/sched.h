/* SPDX-License-Identifier: MIT */
/* sched: the run. One event loop owns the graph: ready tasks wait in a heap by
 * priority; a task whose needs have all finished is planned (skipped, or
 * started when a job slot and its pool allow); completions come back through
 * the loop. Without keep_going the first failure stops new work and lets
 * running tasks finish; a signal stops new work, is forwarded to every
 * running task's process group, and is followed by SIGKILL after a grace. */
#ifndef FR_SCHED_H
#define FR_SCHED_H

#include <stddef.h>

#include "error.h"
#include "graph.h"
#include "plan.h"

struct fr_sched_opts {
	unsigned jobs;		/* parallel jobs, >= 1 */
	int keep_going;		/* -k */
	int dry;		/* -n: plan only */
	const char *worker;	/* run as WORKER --call-worker for process calls
				 * (NULL: flowrun itself, /proc/self/exe) */
	unsigned host_connections;	/* fetch connections to one host; 0: the default */
};

struct fr_sched_stats {
	size_t ran, skipped, failed, notrun;
	int signal;		/* the signal that stopped the run, or 0 */
};

/* Run the needed tasks of g (fr_graph_select first) through pl. Returns 0 when
 * every needed task finished, 1 when some failed or were not run, -1 with err
 * set when the run itself could not go on (the loop failed). */
int fr_sched_run(struct fr_graph *g, struct fr_plan *pl, const struct fr_sched_opts *o,
    struct fr_sched_stats *st, struct fr_error *err);

#endif
