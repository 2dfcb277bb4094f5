/* SPDX-License-Identifier: MIT */
/* event: one stream of run events, fanned out to subscribers. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <sys/wait.h>

#include "event.h"
#include "util.h"

static struct {
	fr_event_fn *fn;
	void *arg;
} subs[8];
static size_t nsubs;

void
fr_event_subscribe(fr_event_fn *fn, void *arg)
{
	if (nsubs < FR_NELEM(subs)) {
		subs[nsubs].fn = fn;
		subs[nsubs++].arg = arg;
	}
}

void
fr_event_reset(void)
{
	nsubs = 0;
}

void
fr_event_emit(struct fr_event *ev)
{
	size_t i;

	if (!ev->time_ns)
		ev->time_ns = fr_now_ns();
	for (i = 0; i < nsubs; i++)
		subs[i].fn(ev, subs[i].arg);
}

const char *
fr_event_name(enum fr_event_kind kind)
{
	switch (kind) {
	case FR_EV_RUN_START: return "run_start";
	case FR_EV_TASK_QUEUED: return "task_queued";
	case FR_EV_TASK_SKIPPED: return "task_skipped";
	case FR_EV_TASK_STARTED: return "task_started";
	case FR_EV_TASK_RETRY: return "task_retried";
	case FR_EV_TASK_FINISHED: return "task_finished";
	case FR_EV_TASK_FAILED: return "task_failed";
	case FR_EV_TASK_WOULD_RUN: return "task_would_run";
	case FR_EV_RUN_END: return "run_end";
	case FR_EV_TASK_GROUPED: return "task_grouped";
	}
	return "unknown";
}

int
fr_event_exit(const struct fr_event *ev, int *code, int *sig)
{
	int n;

	*code = *sig = -1;
	if (ev->wstatus_set) {
		if (WIFEXITED(ev->wstatus))
			*code = WEXITSTATUS(ev->wstatus);
		else if (WIFSIGNALED(ev->wstatus))
			*sig = WTERMSIG(ev->wstatus);
		return 0;
	}
	if (ev->kind == FR_EV_TASK_FINISHED && ev->ru) {
		*code = 0;
		return 0;
	}
	/* the scheduler's wording: "exit status N", "killed by signal N (...)" */
	if (ev->message && sscanf(ev->message, "exit status %d", &n) == 1) {
		*code = n;
		return 0;
	}
	if (ev->message && sscanf(ev->message, "killed by signal %d", &n) == 1) {
		*sig = n;
		return 0;
	}
	return -1;
}
