/* SPDX-License-Identifier: MIT */
/* plan: for one task whose needs are finished, evaluate its templates, hash
 * what it depends on into its key, and decide whether it runs, and why
 * (--explain); after a successful run, hash its outputs and record it.
 * Files are hashed only when their stat data differ from the state's cache,
 * and at most once a run. */
#ifndef FR_PLAN_H
#define FR_PLAN_H

#include "buf.h"
#include "error.h"
#include "graph.h"
#include "stamp.h"
#include "state.h"

struct fr_plan;

/* What fr_plan_task decided and what running the task needs. */
struct fr_job {
	struct fr_task *task;
	int run;			/* 1: run it; 0: up to date */
	struct fr_buf why;		/* the reason, for --explain and -n */
	char *cmd;			/* the command after templating (call: a summary) */
	json_t *args;			/* call: the args after templating */
	char **envp;			/* its whole environment (owned unless == base) */
	char *dir;			/* working directory or NULL */
	struct fr_state_rec rec;	/* key and its parts; outputs filled on success */
	struct fr_plan *plan;		/* which made it (its items are said from the memos) */
	/* fetch: the request after templating */
	char *url;
	char **header;			/* "Name: value" lines */
	size_t nheader;
	char *cacert;			/* or NULL */
	char *etag, *last_modified;	/* a conditional request from the last success */
	int have_current;		/* the output's content is known: current */
	struct fr_digest current;
	int adopt;			/* up to date because the output matches its pin:
					 * fr_plan_skip records it afresh */
};

/* A planner over g and s (both borrowed). force: -B. dry: -n (nothing is written
 * and tasks after one that would run are said to run, unhashed). It puts s in
 * batch mode: records are written by fr_plan_flush (or when s is closed). */
struct fr_plan *fr_plan_new(struct fr_graph *g, struct fr_state *s, int force, int dry);
/* Stop what pl does on other threads (before the process exits without
 * fr_plan_free); NULL is a no-op. */
void fr_plan_stop(struct fr_plan *pl);
/* Free pl; NULL is a no-op. */
void fr_plan_free(struct fr_plan *pl);
/* Stat, ahead and on other threads, the files the needed tasks name (their
 * inputs that are not globs, and their outputs), as make and ninja stat every
 * file at the start. A task's first look at such a file uses the stat data
 * taken ahead unless something it needs (directly or not) ran this time,
 * which may have written the file without declaring it; a file flowrun
 * writes is looked at afresh. */
void fr_plan_prestat(struct fr_plan *pl);
/* Decide t (every needed dep finished). Fills job; returns 0, or -1 with err
 * set when the task cannot even start (a missing input, a template that fails):
 * that is the task's failure, not the pipeline's. */
int fr_plan_task(struct fr_plan *pl, struct fr_task *t, struct fr_job *job, struct fr_error *err);
/* The task was up to date: take its handoff and result from the state. */
void fr_plan_skip(struct fr_plan *pl, struct fr_job *job);
/* The task ran and succeeded, leaving result (borrowed; NULL for none):
 * check and hash outputs, set the handoff and result, write the record.
 * -1 with err set if an output is missing. */
int fr_plan_done(struct fr_plan *pl, struct fr_job *job, const json_t *result,
    int64_t duration_ns, struct fr_error *err);
/* Write the records of the tasks done since the last flush, with one write.
 * 0, or -1 with err set when the state cannot be written. */
int fr_plan_flush(struct fr_plan *pl, struct fr_error *err);
/* A fetch found its output unchanged on the server (304): keep the last
 * success's output and result under this run's key, as if skipped. 0, or -1
 * with err set when the state cannot be written. */
int fr_plan_unchanged(struct fr_plan *pl, struct fr_job *job, struct fr_error *err);
/* path was just written by flowrun with content digest d and stat data st:
 * remember it, so that it is not read again to hash it. */
void fr_plan_hint(struct fr_plan *pl, const char *path, const struct fr_stat *st,
    const struct fr_digest *d);
/* Add to stamp every file a decision of this run used, with the stat data it
 * had then (or as missing): first those no task writes, then outputs. The
 * stat data are read back from the state's records of the files, so the state
 * must still be open and the run must not be -n. 0, or -1 if a record is
 * missing or says another digest (the stamp must not be written then). */
int fr_plan_stamp(struct fr_plan *pl, struct fr_stamp *stamp);
/* The task would run (-n): mark it changed with an unknown handoff. */
void fr_plan_dry(struct fr_plan *pl, struct fr_job *job);
/* Release what job holds. */
void fr_job_release(struct fr_plan *pl, struct fr_job *job);
/* The result of task or fan-out name as JSON (a list for a fan-out), borrowed
 * until fr_plan_free; NULL if unknown. */
json_t *fr_plan_result(struct fr_plan *pl, const char *name);
/* The result of task t as compact JSON text, or NULL if it has none (yet). */
const char *fr_plan_task_result(const struct fr_plan *pl, const struct fr_task *t);

#endif
