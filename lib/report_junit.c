/* SPDX-License-Identifier: MIT */
/* report_junit: JUnit XML from the collector. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report_junit.h"
#include "util.h"

static void
attr(struct fr_buf *b, const char *name, const char *value)
{
	fr_buf_printf(b, " %s=\"", name);
	fr_xml_add(b, value, strlen(value));
	fr_buf_addc(b, '"');
}

static double
casetime(const struct fr_report_task *rt)
{
	if (rt->start_ns >= 0 && rt->end_ns >= rt->start_ns)
		return (double)(rt->end_ns - rt->start_ns) / 1e9;
	return rt->duration_ns > 0 ? (double)rt->duration_ns / 1e9 : 0;
}

static void
testcase(struct fr_buf *b, const struct fr_report_task *rt)
{
	size_t start, len;
	char *why;

	fr_buf_addstr(b, "    <testcase");
	attr(b, "classname", rt->task->decl->name);
	attr(b, "name", fr_task_name(rt->task));
	fr_buf_printf(b, " time=\"%.3f\"", casetime(rt));
	switch (rt->status) {
	case FR_RS_DONE:
		fr_buf_addstr(b, "/>\n");
		return;
	case FR_RS_FAILED:
		fr_buf_addstr(b, ">\n      <failure");
		attr(b, "message", rt->message ? rt->message : "failed");
		attr(b, "type", rt->signal >= 0 ? "signal" : rt->exit_code >= 0 ? "exit status" :
		    "error");
		fr_buf_addc(b, '>');
		len = fr_tail_lines(rt->output ? rt->output : "", rt->outlen, FR_JUNIT_LINES, &start);
		fr_xml_add(b, rt->output ? rt->output + start : "", len);
		fr_buf_addstr(b, "</failure>\n    </testcase>\n");
		return;
	default:
		if (rt->status == FR_RS_WOULDRUN)
			why = fr_xasprintf("would run: %s", rt->reason ? rt->reason : "");
		else
			why = fr_xstrdup(rt->reason ? rt->reason : fr_rstatus_name(rt->status));
		fr_buf_addstr(b, ">\n      <skipped");
		attr(b, "message", why);
		fr_buf_addstr(b, "/>\n    </testcase>\n");
		free(why);
	}
}

int
fr_junit_write(const struct fr_report *r, FILE *f, struct fr_error *err)
{
	const struct fr_pipeline *p = r->g->p;
	struct fr_buf b = {0};
	char when[40];
	size_t i, skipped = r->uptodate + r->notrun + r->wouldrun;
	double total = r->end_ns > r->start_ns ? (double)(r->end_ns - r->start_ns) / 1e9 : 0;
	int rc = 0;

	fr_rfc3339(when, sizeof(when), &r->wall, r->start_ns, r->start_ns);
	when[19] = '\0';	/* JUnit's timestamp has no zone or fraction */
	fr_buf_addstr(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
	attr(&b, "name", "flowrun");
	fr_buf_printf(&b, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
	    "time=\"%.3f\">\n  <testsuite", r->total, r->failed, skipped, total);
	attr(&b, "name", p->name ? p->name : p->file);
	fr_buf_printf(&b, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
	    "time=\"%.3f\" timestamp=\"%s\">\n", r->total, r->failed, skipped, total, when);
	for (i = 0; i < r->g->ntask; i++) {
		const struct fr_task *t = r->g->order[i];
		if (t->needed && r->task[t->id].seen)
			testcase(&b, &r->task[t->id]);
	}
	fr_buf_addstr(&b, "  </testsuite>\n</testsuites>\n");
	if (fwrite(b.data, 1, b.len, f) != b.len || ferror(f))
		rc = fr_error_set(err, FR_ESYS, NULL, "cannot write the JUnit report:");
	fr_buf_free(&b);
	return rc;
}
