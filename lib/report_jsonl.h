/* SPDX-License-Identifier: MIT */
/* report_jsonl: the event stream as JSON Lines (--events FILE): one object a
 * line, flushed as each event happens, so the file can be followed while the
 * run goes on. Every event and field is documented in flowrun(1). */
#ifndef FR_REPORT_JSONL_H
#define FR_REPORT_JSONL_H

#include "error.h"
#include "event.h"

struct fr_jsonl;

/* Create (or truncate) path for a run of the pipeline file pipeline; dry: the
 * run is -n. NULL with err set if it cannot be created. */
struct fr_jsonl *fr_jsonl_open(const char *path, const char *pipeline, int dry,
    struct fr_error *err);
/* The event subscriber; arg is a struct fr_jsonl. After a failed write it
 * writes nothing more. */
void fr_jsonl_event(const struct fr_event *ev, void *arg);
/* Close the file and free j. 0, or -1 with err set when any write failed.
 * NULL is a no-op. */
int fr_jsonl_close(struct fr_jsonl *j, struct fr_error *err);

#endif
