/* SPDX-License-Identifier: MIT */
/* report_last: what the last real run did to each task instance, kept in the
 * state directory for --dot and --graph, and the full output of each task that
 * failed in it. Formats (documented in flowrun(1)):
 *
 *   DIR/last-run.json  {"flowrun_last_run": 1, "time": "RFC 3339 UTC",
 *                       "tasks": {"INSTANCE": "done" | "up_to_date" | "failed"
 *                                 | "not_run", ...}}
 *                      every instance the run needed; written at the end of
 *                      the run to a temporary name and renamed.
 *   DIR/logs/NAME.log  a failed instance's captured output, NAME from
 *                      fr_report_filename; removed when the instance succeeds. */
#ifndef FR_REPORT_LAST_H
#define FR_REPORT_LAST_H

#include "error.h"
#include "event.h"
#include "graph.h"
#include "report.h"

struct fr_last;

/* A recorder into the state directory dir (which exists) for a run of g (both
 * borrowed; they must outlive it). */
struct fr_last *fr_last_new(const struct fr_graph *g, const char *dir);
/* A recorder for a run that needs the n instances names (borrowed) and knows
 * nothing else of them: events name them by id, their index in names. */
struct fr_last *fr_last_new_names(const char *const *names, size_t n, const char *dir);
/* Free l; NULL is a no-op. */
void fr_last_free(struct fr_last *l);
/* The event subscriber; arg is a struct fr_last. Logs are written as tasks
 * fail and last-run.json when the run ends. */
void fr_last_event(const struct fr_event *ev, void *arg);
/* The log written for the failed instance name in this run, or NULL; borrowed. */
const char *fr_last_log(const struct fr_last *l, const char *name);
/* 0, or -1 with err set to the first file that could not be written. */
int fr_last_status(const struct fr_last *l, struct fr_error *err);
/* Read dir/last-run.json into st (one per task of g, by id; not run when not
 * listed). 1 when read, 0 when there is none, -1 with err set when damaged. */
int fr_last_read(const char *dir, const struct fr_graph *g, enum fr_rstatus *st,
    struct fr_error *err);

#endif
