/* SPDX-License-Identifier: MIT */
/* report_term: what the user sees of a run: a status line redrawn in place on
 * a terminal, plain lines elsewhere, whole output blocks, the summary. A small
 * thread redraws the status line twice a second so that the elapsed time and
 * the ETA move while tasks run; it touches only this presenter's own state,
 * under its lock, never the graph. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "report.h"
#include "report_term.h"
#include "util.h"

#define REDRAW_NS 100000000	/* at most ten redraws a second from events */
#define TICK_NS 500000000	/* the redraw thread's period */

#define RED "\033[31m"
#define BOLDRED "\033[1;31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

struct running {
	const struct fr_task *task;
	int64_t start_ns;
};

struct failure {
	char *name, *message, *tail;
};

struct fr_term {
	struct fr_term_opts o;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t ticker;
	int ticking, stop, held, shown, ended;
	int64_t start_ns, drawn_ns;
	size_t done, total, ran, uptodate, failed, wouldrun;
	struct running *run;
	size_t nrun, runcap;
	/* ETA: expected durations (ns, -1 unknown) of the tasks not started yet */
	int64_t *expect;
	unsigned char *left;		/* by task id: counted in the sums below */
	int64_t known_ns;		/* sum of the known expectations still to start */
	size_t nknown, nunknown;	/* tasks still to start with and without one */
	int64_t mean_ns;		/* mean of every known expectation */
	int history;			/* some task has a recorded duration */
	struct failure *fail;
	size_t nfail, failcap;
};

static int
termok(int fd)
{
	const char *term = getenv("TERM");
	return isatty(fd) && !(term && strcmp(term, "dumb") == 0);
}

enum fr_progress
fr_term_progress(enum fr_progress asked, int fd)
{
	if (asked != FR_PROGRESS_AUTO)
		return asked;
	return termok(fd) ? FR_PROGRESS_TTY : FR_PROGRESS_PLAIN;
}

int
fr_term_color(enum fr_color asked, int fd)
{
	const char *no = getenv("NO_COLOR"), *force = getenv("CLICOLOR_FORCE");

	if (asked != FR_COLOR_AUTO)
		return asked == FR_COLOR_ALWAYS;
	if (no && *no)
		return 0;
	if (force && *force && strcmp(force, "0") != 0)
		return 1;
	return termok(fd);
}

static unsigned
width(const struct fr_term *t)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	long n;

	if (ioctl(fileno(t->o.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (cols && (n = strtol(cols, NULL, 10)) > 0 && n < 10000)
		return (unsigned)n;
	return 80;
}

/* A duration for people: 4.2s, 42s, 3m05s, 1h02m. */
static void
human(struct fr_buf *b, int64_t ns)
{
	long long s = (ns + 500000000) / 1000000000;

	if (ns < 10000000000LL)
		fr_buf_printf(b, "%.1fs", (double)ns / 1e9);
	else if (s < 60)
		fr_buf_printf(b, "%llds", s);
	else if (s < 3600)
		fr_buf_printf(b, "%lldm%02llds", s / 60, s % 60);
	else
		fr_buf_printf(b, "%lldh%02lldm", s / 3600, s / 60 % 60);
}

/* The time left: what has not started (unknown ones at the mean) plus what
 * the running tasks are expected to still take, spread over the job slots.
 * -1 when no earlier run recorded a duration. */
static int64_t
eta(const struct fr_term *t, int64_t now)
{
	int64_t work = t->known_ns + (int64_t)t->nunknown * t->mean_ns;
	size_t i, n = t->nknown + t->nunknown + t->nrun, par;

	if (!t->history)
		return -1;
	for (i = 0; i < t->nrun; i++) {
		int64_t e = t->expect[t->run[i].task->id], spent = now - t->run[i].start_ns;
		if (e < 0)
			e = t->mean_ns;
		if (e > spent)
			work += e - spent;
	}
	par = t->o.jobs < n ? t->o.jobs : n;
	return par ? work / (int64_t)par : 0;
}

static void
clearline(struct fr_term *t)
{
	if (t->shown) {
		fputs("\r\033[K", t->o.out);
		t->shown = 0;
	}
}

/* Draw the status line (or, final, the last line of the run, kept): the
 * counts, then as much as fits of the elapsed time, the ETA and the names of
 * the running tasks; never wider than the terminal, since \r only returns to
 * the start of the last line. */
static void
draw(struct fr_term *t, int64_t now, int final)
{
	struct fr_buf core = {0}, more = {0}, part = {0};
	size_t cols = width(t), i;
	int64_t left;
	FILE *f = t->o.out;

	if (final && (t->o.status || t->wouldrun))
		fr_buf_printf(&core, "%zu would run", t->wouldrun);
	else if (final)
		fr_buf_printf(&core, "%zu ran", t->ran);
	else
		fr_buf_printf(&core, "%zu running", t->nrun);
	fr_buf_printf(&core, ", %zu failed, %zu up to date", t->failed, t->uptodate);
	fr_buf_printf(&more, "[%zu/%zu] ", t->done, t->total);	/* only to measure */
	cols = cols > more.len + 1 ? cols - more.len - 1 : 0;	/* what is left, less one column */
	fr_buf_reset(&more);
	fr_buf_addstr(&part, ", ");
	human(&part, now - t->start_ns);
	fr_buf_addstr(&part, final ? "" : " elapsed");
	if (core.len + part.len <= cols)
		fr_buf_addstr(&more, part.data);
	if (!final && (left = eta(t, now)) >= 0) {
		fr_buf_reset(&part);
		fr_buf_addstr(&part, ", ETA ");
		human(&part, left);
		if (core.len + more.len + part.len <= cols)
			fr_buf_addstr(&more, part.data);
	}
	for (i = 0; !final && i < t->nrun; i++) {
		const char *name = fr_task_name(t->run[i].task);
		size_t need = core.len + more.len + 2 + strlen(name);
		char rest[32];
		int n = snprintf(rest, sizeof(rest), " (+%zu)", t->nrun - i - 1);
		if (need + (i + 1 < t->nrun ? (size_t)n : 0) > cols) {
			snprintf(rest, sizeof(rest), " (+%zu)", t->nrun - i);
			if (i > 0 && core.len + more.len + strlen(rest) <= cols)
				fr_buf_addstr(&more, rest);
			break;
		}
		fr_buf_printf(&more, "%s%s", i ? " " : ": ", name);
	}
	if (core.len > cols) {
		core.len = cols;
		core.data[cols] = '\0';
	}
	fputs("\r", f);
	if (t->o.color && strstr(core.data, ", ")) {
		const char *fail = strstr(core.data, ", ") + 2, *end = strchr(fail, ',');
		fprintf(f, BOLD "[%zu/%zu]" RESET " %.*s%s%.*s%s%s", t->done, t->total,
		    (int)(fail - core.data), core.data, t->failed ? RED : "",
		    (int)(end ? end - fail : (long)strlen(fail)), fail, t->failed ? RESET : "",
		    end ? end : "");
	} else {
		fprintf(f, "[%zu/%zu] %s", t->done, t->total, core.data);
	}
	fputs(fr_buf_str(&more), f);
	fputs("\033[K", f);
	if (final)
		fputc('\n', f);
	t->shown = !final;
	t->drawn_ns = now;
	fr_buf_free(&core);
	fr_buf_free(&more);
	fr_buf_free(&part);
}

static void *
tick(void *arg)
{
	struct fr_term *t = arg;
	struct timespec ts;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TICK_NS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		if (!t->stop && !t->held && !t->ended) {
			draw(t, fr_now_ns(), 0);
			fflush(t->o.out);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void
startticker(struct fr_term *t)
{
	sigset_t all, old;

	/* signals belong to the event loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	t->ticking = pthread_create(&t->ticker, NULL, tick, t) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Call without the lock. */
static void
stopticker(struct fr_term *t)
{
	if (!t->ticking)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->ticker, NULL);
	t->ticking = 0;
}

struct fr_term *
fr_term_new(const struct fr_term_opts *o)
{
	struct fr_term *t = fr_xcalloc(1, sizeof(*t));
	pthread_condattr_t ca;

	t->o = *o;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	return t;
}

void
fr_term_free(struct fr_term *t)
{
	size_t i;

	if (!t)
		return;
	stopticker(t);
	for (i = 0; i < t->nfail; i++) {
		free(t->fail[i].name);
		free(t->fail[i].message);
		free(t->fail[i].tail);
	}
	free(t->fail);
	free(t->run);
	free(t->expect);
	free(t->left);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Expected durations from the state's records of earlier runs. */
static void
expectations(struct fr_term *t)
{
	const struct fr_graph *g = t->o.g;
	int64_t sum = 0;
	size_t i;

	t->expect = fr_xcalloc(g->ntask ? g->ntask : 1, sizeof(*t->expect));
	t->left = fr_xcalloc(g->ntask ? g->ntask : 1, 1);
	for (i = 0; i < g->ntask; i++) {
		const struct fr_task *task = g->task[i];
		const struct fr_state_rec *rec;
		t->expect[i] = -1;
		if (!task->needed || task->decl->action == FR_ACT_NONE)
			continue;
		rec = t->o.state ? fr_state_get(t->o.state, fr_task_name(task)) : NULL;
		t->left[i] = 1;
		if (rec && rec->duration_ns >= 0) {
			t->expect[i] = rec->duration_ns;
			t->known_ns += rec->duration_ns;
			t->nknown++;
			sum += rec->duration_ns;
		} else {
			t->nunknown++;
		}
	}
	t->history = t->nknown > 0;
	t->mean_ns = t->nknown ? sum / (int64_t)t->nknown : 0;
}

/* The task no longer waits to start (it started, was skipped, or failed). */
static void
leave(struct fr_term *t, const struct fr_task *task)
{
	if (!t->left || !t->left[task->id])
		return;
	t->left[task->id] = 0;
	if (t->expect[task->id] >= 0) {
		t->known_ns -= t->expect[task->id];
		t->nknown--;
	} else {
		t->nunknown--;
	}
}

static void
unrun(struct fr_term *t, const struct fr_task *task)
{
	size_t i;

	for (i = 0; i < t->nrun; i++)
		if (t->run[i].task == task) {
			memmove(&t->run[i], &t->run[i + 1], (t->nrun - i - 1) * sizeof(*t->run));
			t->nrun--;
			return;
		}
}

/* GitHub workflow command escaping: data, and property values too. */
static void
ghesc(FILE *f, const char *s, int property)
{
	for (; *s; s++) {
		switch (*s) {
		case '%': fputs("%25", f); break;
		case '\r': fputs("%0D", f); break;
		case '\n': fputs("%0A", f); break;
		case ':': fputs(property ? "%3A" : ":", f); break;
		case ',': fputs(property ? "%2C" : ",", f); break;
		default: fputc(*s, f);
		}
	}
}

static void
printoutput(FILE *f, const char *out, size_t len)
{
	if (!out || len == 0)
		return;
	fwrite(out, 1, len, f);
	if (out[len - 1] != '\n')
		fputc('\n', f);
}

/* A task's block: its heading line (after prefix, coloured col) and output,
 * folded into a ::group:: for GitHub when there is output. */
static void
block(struct fr_term *t, const char *col, const char *head, const char *rest,
    const char *out, size_t len)
{
	FILE *f = t->o.out;
	int group = t->o.github && out && len > 0;

	clearline(t);
	if (group) {
		fputs("::group::", f);
		ghesc(f, head, 0);
		ghesc(f, rest, 0);
		fputc('\n', f);
	} else if (t->o.color && col) {
		fprintf(f, "%s%s" RESET "%s\n", col, head, rest);
	} else {
		fprintf(f, "%s%s\n", head, rest);
	}
	printoutput(f, out, len);
	if (group)
		fputs("::endgroup::\n", f);
}

static void
line(struct fr_term *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
line(struct fr_term *t, const char *fmt, ...)
{
	va_list ap;

	clearline(t);
	va_start(ap, fmt);
	vfprintf(t->o.out, fmt, ap);
	va_end(ap);
}

static char *
tail(const char *out, size_t len)
{
	struct fr_buf b = {0};
	size_t start, n, at;

	n = fr_tail_lines(out ? out : "", out ? len : 0, FR_TERM_SUMMARY_LINES, &start);
	for (at = start; at < start + n;) {
		const char *nl = memchr(out + at, '\n', start + n - at);
		size_t end = nl ? (size_t)(nl - out) : start + n;
		fr_buf_printf(&b, "    | %.*s\n", (int)(end - at), out + at);
		at = end + 1;
	}
	return fr_buf_steal(&b);
}

static void
finished(struct fr_term *t, const struct fr_event *ev)
{
	const char *name = fr_task_name(ev->task);
	char head[64], *rest;
	int show = t->o.progress == FR_PROGRESS_PLAIN || t->o.verbose || ev->outlen > 0;

	if (t->o.quiet || !show)
		return;
	snprintf(head, sizeof(head), "[%zu/%zu]", ev->done, ev->total);
	if (t->o.verbose)
		rest = fr_xasprintf(" %s (%.2fs)", name, (double)ev->duration_ns / 1e9);
	else
		rest = fr_xasprintf(" %s", name);
	block(t, GREEN, head, rest, ev->output, ev->outlen);
	free(rest);
}

static void
failed(struct fr_term *t, const struct fr_event *ev)
{
	const char *name = fr_task_name(ev->task), *msg = ev->message ? ev->message : "failed";
	char head[96], *rest;
	struct failure f;

	snprintf(head, sizeof(head), "[%zu/%zu] FAILED:", ev->done, ev->total);
	rest = fr_xasprintf(" %s: %s", name, msg);
	block(t, BOLDRED, head, rest, ev->output, ev->outlen);
	free(rest);
	if (t->o.github) {
		fputs("::error title=", t->o.out);
		ghesc(t->o.out, "flowrun task ", 1);
		ghesc(t->o.out, name, 1);
		fputs("::", t->o.out);
		ghesc(t->o.out, msg, 0);
		fputc('\n', t->o.out);
	}
	f.name = fr_xstrdup(name);
	f.message = fr_xstrdup(msg);
	f.tail = tail(ev->output, ev->outlen);
	FR_PUSH(t->fail, t->nfail, t->failcap, f);
}

static void
handle(struct fr_term *t, const struct fr_event *ev)
{
	const char *name = ev->task ? fr_task_name(ev->task) : "";
	char head[64], *rest;

	switch (ev->kind) {
	case FR_EV_RUN_START:
		t->start_ns = ev->time_ns;
		t->total = ev->total;
		if (t->o.progress == FR_PROGRESS_TTY && t->o.g)
			expectations(t);
		break;
	case FR_EV_TASK_QUEUED:
		break;
	case FR_EV_TASK_SKIPPED:
		t->uptodate++;
		leave(t, ev->task);
		unrun(t, ev->task);	/* a fetch answered 304 after it started */
		if (t->o.explain)
			line(t, "explain: %s: %s\n", name, ev->reason);
		else if (t->o.status && !t->o.quiet)
			line(t, "up to date: %s\n", name);
		break;
	case FR_EV_TASK_STARTED: {
		struct running r = { ev->task, ev->time_ns };
		FR_PUSH(t->run, t->nrun, t->runcap, r);
		leave(t, ev->task);
		if (t->o.explain)
			line(t, "explain: %s: %s\n", name, ev->reason);
		if (t->o.verbose)
			line(t, "[%s] $ %s\n", name, ev->cmd ? ev->cmd : "");
		break;
	}
	case FR_EV_TASK_WOULD_RUN:
		t->wouldrun++;
		leave(t, ev->task);
		line(t, "would run: %s (%s)\n", name, ev->reason);
		if (t->o.verbose && ev->cmd)
			line(t, "  $ %s\n", ev->cmd);
		break;
	case FR_EV_TASK_FINISHED:
		t->ran++;
		unrun(t, ev->task);
		finished(t, ev);
		break;
	case FR_EV_TASK_RETRY:
		snprintf(head, sizeof(head), "[%zu/%zu]", ev->done, ev->total);
		rest = fr_xasprintf(" %s failed (%s), retry %d of %d", name, ev->message,
		    ev->attempt - 1, ev->task->decl->opt->retries);
		block(t, YELLOW, head, rest, ev->output, ev->outlen);
		free(rest);
		break;
	case FR_EV_TASK_FAILED:
		t->failed++;
		leave(t, ev->task);
		unrun(t, ev->task);
		failed(t, ev);
		break;
	case FR_EV_TASK_GROUPED:
		break;
	case FR_EV_RUN_END:
		if (t->o.status)
			line(t, "status: %zu would run, %zu up to date%s\n", t->wouldrun, t->uptodate,
			    t->failed ? ", some cannot be planned" : "");
		break;
	}
	if (ev->kind != FR_EV_RUN_START && ev->kind != FR_EV_RUN_END)
		t->done = ev->done;
}

void
fr_term_event(const struct fr_event *ev, void *arg)
{
	struct fr_term *t = arg;
	int tty = t->o.progress == FR_PROGRESS_TTY && !t->o.quiet;

	pthread_mutex_lock(&t->lock);
	handle(t, ev);
	if (tty && ev->kind == FR_EV_RUN_END) {
		t->ended = 1;
		if (!t->held)
			draw(t, ev->time_ns, 1);
	} else if (tty && !t->held && (!t->shown || ev->time_ns - t->drawn_ns >= REDRAW_NS)) {
		draw(t, ev->time_ns, 0);
	}
	fflush(t->o.out);
	pthread_mutex_unlock(&t->lock);
	if (tty && ev->kind == FR_EV_RUN_START)
		startticker(t);
	else if (ev->kind == FR_EV_RUN_END)
		stopticker(t);
}

void
fr_term_suspend(struct fr_term *t)
{
	pthread_mutex_lock(&t->lock);
	t->held++;
	clearline(t);
	fflush(t->o.out);
	pthread_mutex_unlock(&t->lock);
}

void
fr_term_resume(struct fr_term *t)
{
	pthread_mutex_lock(&t->lock);
	if (t->held > 0 && --t->held == 0 && t->ticking && !t->ended) {
		draw(t, fr_now_ns(), 0);
		fflush(t->o.out);
	}
	pthread_mutex_unlock(&t->lock);
}

void
fr_term_summary(struct fr_term *t, int signal, size_t notrun,
    const char *(*logpath)(const char *name, void *arg), void *arg)
{
	FILE *f = t->o.err;
	size_t i;

	if (signal)
		fprintf(f, "flowrun: stopped by signal %d (%s)\n", signal, strsignal(signal));
	if (t->nfail == 0) {
		if (notrun && !signal)
			fprintf(f, "flowrun: %zu tasks were not run\n", notrun);
		return;
	}
	fprintf(f, "flowrun: %zu task%s failed:\n", t->nfail, t->nfail == 1 ? "" : "s");
	for (i = 0; i < t->nfail; i++) {
		const char *log = logpath ? logpath(t->fail[i].name, arg) : NULL;
		fprintf(f, "  %s: %s\n%s", t->fail[i].name, t->fail[i].message, t->fail[i].tail);
		if (log)
			fprintf(f, "    full log: %s\n", log);
	}
	if (notrun)
		fprintf(f, "flowrun: %zu task%s not run\n", notrun, notrun == 1 ? " was" : "s were");
	fflush(f);
}

size_t
fr_term_nfailed(const struct fr_term *t)
{
	return t->nfail;
}
