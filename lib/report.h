/* SPDX-License-Identifier: MIT */
/* report: the collector behind the reports written at the end of a run (trace,
 * JUnit, HTML): an event subscriber that keeps, per needed task instance, what
 * happened to it, its attempts on worker lanes, and its costs. Also the helpers
 * the reporters share: files written to a temporary name and renamed, text
 * made safe for JSON and XML, times. */
#ifndef FR_REPORT_H
#define FR_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"
#include "error.h"
#include "event.h"
#include "graph.h"

/* What happened to a task instance in a run, as reports and pictures show it. */
enum fr_rstatus {
	FR_RS_NOTRUN,		/* not needed, or something it needs failed */
	FR_RS_DONE,		/* ran and succeeded (or grouped what it needs) */
	FR_RS_UPTODATE,		/* skipped: up to date */
	FR_RS_FAILED,
	FR_RS_WOULDRUN,		/* -n: would run */
	FR_RS_RUNNING,		/* started, not finished (a run cut short) */
};

/* One attempt of a task on a worker lane; times since the run started. */
struct fr_report_span {
	int64_t start_ns, end_ns;
	unsigned lane;			/* 1-based: overlapping attempts never share one */
	int attempt;
	int ok;
};

/* Everything known of one needed task instance. Strings are owned by the report. */
struct fr_report_task {
	const struct fr_task *task;	/* borrowed from the graph */
	enum fr_rstatus status;
	char *reason;			/* why it ran, was skipped or would run, or NULL */
	char *message;			/* why it failed, or NULL */
	char *output;			/* the last attempt's output, kept for failures only */
	size_t outlen;
	int64_t queued_ns, start_ns, end_ns;	/* since the run started; -1 unknown */
	int64_t duration_ns;		/* of the last attempt; -1 unknown */
	long long max_rss;		/* peak resident set in bytes; -1 unknown */
	int64_t cpu_ns;			/* user + system CPU; -1 unknown */
	int exit_code, signal;		/* -1 when not so */
	int attempts;
	struct fr_report_span *span;
	size_t nspan, spancap;
	int seen;			/* an event named it */
};

struct fr_report {
	const struct fr_graph *g;	/* borrowed */
	struct fr_report_task *task;	/* by task id */
	struct fr_report_task **ran;	/* tasks with spans, in the order they started */
	size_t nran, rancap;
	struct timespec wall;		/* wall clock when the run started */
	int64_t start_ns, end_ns;	/* monotonic; end 0 until the run ended */
	size_t total, done, uptodate, failed, notrun, wouldrun;
	unsigned char *busy;		/* lanes in use */
	unsigned nlane;			/* lanes ever used */
	int dry;
};

/* A collector over g (borrowed, must outlive it). dry: the run is -n. */
struct fr_report *fr_report_new(const struct fr_graph *g, int dry);
/* Free r; NULL is a no-op. */
void fr_report_free(struct fr_report *r);
/* The event subscriber; arg is a struct fr_report. */
void fr_report_event(const struct fr_event *ev, void *arg);
/* The lower-case name of a status: "done", "up to date", "failed", "not run",
 * "would run", "running". */
const char *fr_rstatus_name(enum fr_rstatus s);
/* The identifier of a status for files and CSS: "done", "up_to_date", ... */
const char *fr_rstatus_id(enum fr_rstatus s);
/* The status named by id (as fr_rstatus_id gives), or -1. */
int fr_rstatus_parse(const char *id);

/* A file written under a temporary name beside its path and renamed over it
 * when complete, so a reader never sees half of it. */
struct fr_outfile {
	FILE *f;
	char *path, *tmp;
};
/* Create the temporary file for path. 0, or -1 with err set. */
int fr_outfile_open(struct fr_outfile *o, const char *path, struct fr_error *err);
/* Flush, check and close o->f, and rename it to its path. 0, or -1 with err
 * set (the temporary file is removed). o is released either way. */
int fr_outfile_commit(struct fr_outfile *o, struct fr_error *err);
/* Close and remove the temporary file; releases o. Harmless after commit. */
void fr_outfile_abort(struct fr_outfile *o);

/* Append n bytes of s to b, with invalid UTF-8 replaced by U+FFFD. */
void fr_utf8_add(struct fr_buf *b, const char *s, size_t n);
/* Append n bytes of s to b as a quoted JSON string (invalid UTF-8 replaced). */
void fr_json_add(struct fr_buf *b, const char *s, size_t n);
/* Append n bytes of s to b escaped for XML text and attributes: & < > " ',
 * invalid UTF-8 replaced, characters XML forbids (most controls) dropped. */
void fr_xml_add(struct fr_buf *b, const char *s, size_t n);
/* The last n lines of the len bytes at out (trailing newlines dropped);
 * *start gets their offset; returns their length. */
size_t fr_tail_lines(const char *out, size_t len, int n, size_t *start);
/* Format the wall-clock time of monotonic time mono_ns of a run that started
 * at wall/start_ns as RFC 3339 UTC with milliseconds into buf (at least 32 bytes). */
void fr_rfc3339(char *buf, size_t n, const struct timespec *wall, int64_t start_ns,
    int64_t mono_ns);
/* A file name for a task instance's name: characters other than letters,
 * digits and ._=,+- become _, and a short hash of the name is added when that
 * changed anything, so different names never share a file. Caller frees. */
char *fr_report_filename(const char *name);

#endif
