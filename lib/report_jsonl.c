/* SPDX-License-Identifier: MIT */
/* report_jsonl: one JSON object a line per event, through Jansson, each line
 * written whole and checked. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "buf.h"
#include "report.h"
#include "report_jsonl.h"
#include "util.h"

struct fr_jsonl {
	FILE *f;
	char *path, *pipeline;
	int dry;
	struct timespec wall;
	int64_t start_ns;
	size_t ran, uptodate, failed;
	struct fr_error err;
};

struct fr_jsonl *
fr_jsonl_open(const char *path, const char *pipeline, int dry, struct fr_error *err)
{
	struct fr_jsonl *j;
	FILE *f = fopen(path, "w");

	if (!f) {
		fr_error_set(err, FR_ESYS, NULL, "cannot create %s:", path);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);	/* a line reaches the file as its event happens */
	j = fr_xcalloc(1, sizeof(*j));
	j->f = f;
	j->path = fr_xstrdup(path);
	j->pipeline = fr_xstrdup(pipeline);
	j->dry = dry;
	return j;
}

int
fr_jsonl_close(struct fr_jsonl *j, struct fr_error *err)
{
	int rc = 0;

	if (!j)
		return 0;
	if (fflush(j->f) != 0 || ferror(j->f))
		fr_error_set(&j->err, FR_ESYS, NULL, "cannot write %s:", j->path);
	if (fclose(j->f) != 0)
		fr_error_set(&j->err, FR_ESYS, NULL, "cannot write %s:", j->path);
	if (fr_error_isset(&j->err)) {
		*err = j->err;
		rc = -1;
	}
	free(j->path);
	free(j->pipeline);
	free(j);
	return rc;
}

static double
secs(int64_t ns)
{
	return (double)(ns / 1000) / 1e6;	/* microseconds are enough */
}

/* A string from bytes that may not be UTF-8 (task output). */
static json_t *
text(const char *s, size_t n)
{
	struct fr_buf b = {0};
	json_t *v;

	fr_utf8_add(&b, s, n);
	v = json_stringn(b.data ? b.data : "", b.len);
	fr_buf_free(&b);
	return v;
}

static void
put(json_t *o, const char *key, json_t *v)
{
	if (v)
		json_object_set_new(o, key, v);
}

static json_t *
base(struct fr_jsonl *j, const struct fr_event *ev, const char *name)
{
	json_t *o = json_object();
	char when[40];

	fr_rfc3339(when, sizeof(when), &j->wall, j->start_ns, ev->time_ns);
	put(o, "event", json_string(name));
	put(o, "time", json_string(when));
	put(o, "elapsed", json_real(secs(ev->time_ns - j->start_ns)));
	if (ev->task) {
		put(o, "task", text(ev->task->decl->name, strlen(ev->task->decl->name)));
		put(o, "instance", text(fr_task_name(ev->task), strlen(fr_task_name(ev->task))));
	}
	return o;
}

static void
emitline(struct fr_jsonl *j, json_t *o)
{
	char *line;

	if (!fr_error_isset(&j->err)) {
		line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
		if (!line || fputs(line, j->f) == EOF || fputc('\n', j->f) == EOF || ferror(j->f))
			fr_error_set(&j->err, FR_ESYS, NULL, "cannot write %s:", j->path);
		free(line);
	}
	json_decref(o);
}

/* How an attempt ended and what it cost. */
static void
ending(json_t *o, const struct fr_event *ev)
{
	int code, sig;

	put(o, "attempt", json_integer(ev->attempt));
	if (ev->message)
		put(o, "message", text(ev->message, strlen(ev->message)));
	if (fr_event_exit(ev, &code, &sig) == 0) {
		if (code >= 0)
			put(o, "exit_status", json_integer(code));
		if (sig >= 0)
			put(o, "signal", json_integer(sig));
	}
	if (ev->message && strncmp(ev->message, "timed out", 9) == 0)
		put(o, "timed_out", json_true());
	put(o, "duration", json_real(secs(ev->duration_ns)));
	if (ev->ru) {
		const struct rusage *ru = ev->ru;
		int64_t cpu = ((int64_t)ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000 +
		    ((int64_t)ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000;
		put(o, "max_rss", json_integer((json_int_t)ru->ru_maxrss * 1024));
		put(o, "cpu", json_real(secs(cpu)));
	}
}

static void
progress(json_t *o, const struct fr_event *ev)
{
	put(o, "done", json_integer((json_int_t)ev->done));
	put(o, "total", json_integer((json_int_t)ev->total));
}

void
fr_jsonl_event(const struct fr_event *ev, void *arg)
{
	struct fr_jsonl *j = arg;
	json_t *o;

	if (ev->kind == FR_EV_RUN_START) {
		j->start_ns = ev->time_ns;
		clock_gettime(CLOCK_REALTIME, &j->wall);
	}
	/* the output of an attempt comes first, then how the attempt ended */
	if ((ev->kind == FR_EV_TASK_FINISHED || ev->kind == FR_EV_TASK_FAILED ||
	    ev->kind == FR_EV_TASK_RETRY) && ev->output && ev->outlen > 0) {
		o = base(j, ev, "output");
		put(o, "attempt", json_integer(ev->kind == FR_EV_TASK_RETRY ? ev->attempt - 1 :
		    ev->attempt));
		put(o, "text", text(ev->output, ev->outlen));
		emitline(j, o);
	}
	o = base(j, ev, fr_event_name(ev->kind));
	switch (ev->kind) {
	case FR_EV_RUN_START:
		put(o, "pipeline", text(j->pipeline, strlen(j->pipeline)));
		put(o, "total", json_integer((json_int_t)ev->total));
		put(o, "dry_run", json_boolean(j->dry));
		break;
	case FR_EV_TASK_QUEUED:
		break;
	case FR_EV_TASK_STARTED:
		put(o, "attempt", json_integer(ev->attempt));
		if (ev->reason)
			put(o, "reason", text(ev->reason, strlen(ev->reason)));
		if (ev->cmd)
			put(o, "command", text(ev->cmd, strlen(ev->cmd)));
		break;
	case FR_EV_TASK_SKIPPED:
	case FR_EV_TASK_WOULD_RUN:
		if (ev->reason)
			put(o, "reason", text(ev->reason, strlen(ev->reason)));
		if (ev->kind == FR_EV_TASK_WOULD_RUN && ev->cmd)
			put(o, "command", text(ev->cmd, strlen(ev->cmd)));
		progress(o, ev);
		if (ev->kind == FR_EV_TASK_SKIPPED)
			j->uptodate++;
		else
			j->ran++;
		break;
	case FR_EV_TASK_GROUPED:
		progress(o, ev);
		break;
	case FR_EV_TASK_RETRY:
		ending(o, ev);
		/* attempt is the next try; the one that failed is the one before */
		put(o, "attempt", json_integer(ev->attempt - 1));
		put(o, "next_attempt", json_integer(ev->attempt));
		break;
	case FR_EV_TASK_FINISHED:
		ending(o, ev);
		progress(o, ev);
		j->ran++;
		break;
	case FR_EV_TASK_FAILED:
		ending(o, ev);
		progress(o, ev);
		j->failed++;
		break;
	case FR_EV_RUN_END:
		put(o, "done", json_integer((json_int_t)ev->done));
		put(o, "total", json_integer((json_int_t)ev->total));
		put(o, j->dry ? "would_run" : "ran", json_integer((json_int_t)j->ran));
		put(o, "up_to_date", json_integer((json_int_t)j->uptodate));
		put(o, "failed", json_integer((json_int_t)j->failed));
		put(o, "not_run", json_integer((json_int_t)(ev->total - ev->done)));
		put(o, "duration", json_real(secs(ev->time_ns - j->start_ns)));
		break;
	}
	emitline(j, o);
}
