/* SPDX-License-Identifier: MIT */
/* report_trace: Chrome trace-event JSON from the collector's attempts. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report_trace.h"
#include "util.h"

/* One event a line, so that a long trace stays readable and diffable. */
static int
line(FILE *f, json_t *o, int *first)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
	int rc = s && fputs(*first ? "\n" : ",\n", f) != EOF && fputs(s, f) != EOF ? 0 : -1;

	*first = 0;
	free(s);
	json_decref(o);
	return rc;
}

static json_t *
meta(const char *name, json_int_t tid, const char *key, json_t *value)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:I}", "name", name, "ph", "M", "pid", 1,
	    "tid", tid);
	json_object_set_new(o, "args", json_pack("{s:o}", key, value));
	return o;
}

static json_t *
str(const char *s)
{
	struct fr_buf b = {0};
	json_t *v;

	fr_utf8_add(&b, s, strlen(s));
	v = json_stringn(b.data ? b.data : "", b.len);
	fr_buf_free(&b);
	return v;
}

int
fr_trace_write(const struct fr_report *r, FILE *f, struct fr_error *err)
{
	const char *pname = r->g->p->name ? r->g->p->name : "flowrun";
	char *title = fr_xasprintf("flowrun %s", pname);
	int first = 1, bad = 0;
	size_t i, k;
	unsigned lane;

	bad |= fputs("[", f) == EOF;
	bad |= line(f, meta("process_name", 0, "name", str(title)), &first);
	free(title);
	for (lane = 1; lane <= r->nlane; lane++) {
		char name[32];
		snprintf(name, sizeof(name), "slot %u", lane);
		bad |= line(f, meta("thread_name", lane, "name", json_string(name)), &first);
		bad |= line(f, meta("thread_sort_index", lane, "sort_index", json_integer(lane)),
		    &first);
	}
	for (i = 0; i < r->nran; i++) {
		const struct fr_report_task *rt = r->ran[i];
		for (k = 0; k < rt->nspan; k++) {
			const struct fr_report_span *sp = &rt->span[k];
			int64_t end = sp->end_ns >= 0 ? sp->end_ns : r->end_ns - r->start_ns;
			json_t *o = json_object(), *args = json_object();
			json_object_set_new(o, "name", str(fr_task_name(rt->task)));
			json_object_set_new(o, "cat", str(rt->task->decl->name));
			json_object_set_new(o, "ph", json_string("X"));
			json_object_set_new(o, "ts", json_real((double)sp->start_ns / 1e3));
			json_object_set_new(o, "dur", json_real((double)(end - sp->start_ns) / 1e3));
			json_object_set_new(o, "pid", json_integer(1));
			json_object_set_new(o, "tid", json_integer(sp->lane));
			json_object_set_new(args, "attempt", json_integer(sp->attempt));
			json_object_set_new(args, "status", json_string(sp->ok ? "done" :
			    sp->end_ns < 0 ? "running" : k + 1 < rt->nspan ? "retried" : "failed"));
			if (k + 1 == rt->nspan) {
				if (rt->message && !sp->ok)
					json_object_set_new(args, "message", str(rt->message));
				if (rt->max_rss >= 0)
					json_object_set_new(args, "max_rss", json_integer(rt->max_rss));
				if (rt->cpu_ns >= 0)
					json_object_set_new(args, "cpu", json_real((double)rt->cpu_ns / 1e9));
			}
			if (rt->reason && k == 0)
				json_object_set_new(args, "reason", str(rt->reason));
			json_object_set_new(o, "args", args);
			bad |= line(f, o, &first);
		}
	}
	bad |= fputs("\n]\n", f) == EOF;
	if (bad || ferror(f))
		return fr_error_set(err, FR_ESYS, NULL, "cannot write the trace:");
	return 0;
}
