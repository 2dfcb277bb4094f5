/* SPDX-License-Identifier: MIT */
/* event: the one stream of what happens in a run. The scheduler emits;
 * reporters (the terminal, JSON lines, the collector behind traces, JUnit and
 * HTML, the last-run record) subscribe, so every view is made from the same facts. */
#ifndef FR_EVENT_H
#define FR_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

struct fr_task;

enum fr_event_kind {
	FR_EV_RUN_START,	/* total = instances the targets need */
	FR_EV_TASK_QUEUED,	/* everything it needs has finished: it is ready */
	FR_EV_TASK_SKIPPED,	/* up to date; reason says why */
	FR_EV_TASK_STARTED,	/* reason: why it runs; cmd: what runs */
	FR_EV_TASK_RETRY,	/* it failed and runs again; attempt = the next try */
	FR_EV_TASK_FINISHED,	/* success; output captured */
	FR_EV_TASK_FAILED,	/* failure; message says why; output captured */
	FR_EV_TASK_WOULD_RUN,	/* -n: it would run; reason says why */
	FR_EV_RUN_END,
	FR_EV_TASK_GROUPED,	/* a task without an action: what it needs is done */
};

struct fr_event {
	enum fr_event_kind kind;
	const struct fr_task *task;	/* NULL for run events */
	const char *reason;		/* why it runs or is skipped */
	const char *cmd;		/* the command after templating */
	const char *message;		/* failure text: "exit status 2", "killed by signal 9 (timeout)" */
	const char *output;		/* captured output (stdout+stderr, or stderr) */
	size_t outlen;
	int attempt;			/* 1 for the first try */
	int64_t duration_ns;
	const struct rusage *ru;	/* for processes, else NULL */
	int wstatus;			/* wait(2) status of the process, when wstatus_set */
	int wstatus_set;
	size_t done, total;		/* finished (ran, skipped or failed) and needed */
	int64_t time_ns;		/* fr_now_ns() when it happened (emit sets it if 0) */
};

typedef void fr_event_fn(const struct fr_event *ev, void *arg);

/* Add a subscriber (at most 8). */
void fr_event_subscribe(fr_event_fn *fn, void *arg);
/* Remove every subscriber. */
void fr_event_reset(void);
/* Give ev to every subscriber, in the order they subscribed. */
void fr_event_emit(struct fr_event *ev);
/* The kind's name in event files: "run_start", "task_finished", ... */
const char *fr_event_name(enum fr_event_kind kind);
/* How the process of a finished, failed or retried task ended: *code gets its
 * exit status and *sig its signal (each -1 when not so); from wstatus when
 * set, else read from message. 0, or -1 when it is not known. */
int fr_event_exit(const struct fr_event *ev, int *code, int *sig);

#endif
