/* SPDX-License-Identifier: MIT */
/* report_term: the terminal presenter. On a terminal (tty progress) one status
 * line is redrawn in place: done/total, running, failed, up to date, elapsed
 * time, an ETA from the durations of earlier runs, and the names of running
 * tasks when the line is wide enough; output blocks are printed whole above it.
 * Not on a terminal (plain progress) it prints one line per finished task.
 * Output is never interleaved: a task's output is printed whole when it ends.
 * With github set, output is folded in ::group:: blocks and failures become
 * ::error:: annotations. The end-of-run summary lists every failure. */
#ifndef FR_REPORT_TERM_H
#define FR_REPORT_TERM_H

#include <stddef.h>
#include <stdio.h>

#include "event.h"
#include "graph.h"
#include "state.h"

enum fr_progress { FR_PROGRESS_AUTO, FR_PROGRESS_TTY, FR_PROGRESS_PLAIN, FR_PROGRESS_NONE };
enum fr_color { FR_COLOR_AUTO, FR_COLOR_ALWAYS, FR_COLOR_NEVER };

/* Lines of a failure's output the summary repeats. */
#define FR_TERM_SUMMARY_LINES 10

struct fr_term_opts {
	FILE *out;			/* progress, task output, annotations */
	FILE *err;			/* the summary */
	enum fr_progress progress;	/* TTY, PLAIN or NONE (fr_term_progress) */
	int color;			/* fr_term_color */
	int verbose, quiet, explain;
	int status;			/* --status: say what is up to date and what would run */
	int github;			/* GitHub Actions workflow commands */
	unsigned jobs;			/* for the ETA */
	struct fr_state *state;		/* durations of earlier runs for the ETA, or NULL */
	const struct fr_graph *g;	/* borrowed; must outlive the presenter (NULL: no ETA) */
};

/* The progress mode for asked on the terminal fd: AUTO is TTY when fd is a
 * terminal whose TERM is not "dumb", else PLAIN. */
enum fr_progress fr_term_progress(enum fr_progress asked, int fd);
/* Whether to colour output to fd: ALWAYS and NEVER as said; AUTO: not when
 * NO_COLOR is set and not empty, yes when CLICOLOR_FORCE is set and not "0",
 * else when fd is a terminal whose TERM is not "dumb". */
int fr_term_color(enum fr_color asked, int fd);
/* A presenter with options o (copied); never NULL. */
struct fr_term *fr_term_new(const struct fr_term_opts *o);
/* Free t, stopping its redraw thread; NULL is a no-op. */
void fr_term_free(struct fr_term *t);
/* The event subscriber; arg is a struct fr_term. */
void fr_term_event(const struct fr_event *ev, void *arg);
/* Take the status line off the screen and hold it off (until fr_term_resume),
 * so that something else can write to the terminal. */
void fr_term_suspend(struct fr_term *t);
/* Let the status line back after fr_term_suspend. */
void fr_term_resume(struct fr_term *t);
/* Print the summary of a finished run to err: the signal that stopped it, each
 * failure with its message, last lines and log (logpath(name, arg) gives where
 * the full output is, or NULL), and how many tasks were not run. */
void fr_term_summary(struct fr_term *t, int signal, size_t notrun,
    const char *(*logpath)(const char *name, void *arg), void *arg);
/* Number of failures seen. */
size_t fr_term_nfailed(const struct fr_term *t);

#endif
