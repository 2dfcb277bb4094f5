/* SPDX-License-Identifier: MIT */
/* report_html: one HTML page from the collector, with its CSS, timeline SVG
 * and table-sorting script inline. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report_html.h"
#include "util.h"

#define OUTPUT_LINES 200	/* of a failure's output shown on the page */
#define TL_WIDTH 960		/* timeline drawing width, in pixels */
#define TL_LEFT 64		/* room for the lane labels */
#define TL_ROW 24

static const char style[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;"
    "color:#1d2330;background:#f6f7f9}\n"
    "header{background:#1d2330;color:#fff;padding:16px 24px}\n"
    "header h1{margin:0 0 4px;font-size:20px}\n"
    ".meta{margin:0;color:#c5cad6}\n"
    ".counts{list-style:none;margin:10px 0 0;padding:0;display:flex;gap:8px;flex-wrap:wrap}\n"
    ".counts li{padding:2px 10px;border-radius:10px;color:#1d2330;font-weight:600}\n"
    "section{background:#fff;margin:16px 24px;padding:12px 16px;border-radius:6px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}\n"
    "h2{font-size:16px;margin:0 0 8px}\n"
    ".graph{overflow:auto;max-height:70vh}\n"
    ".graph svg{max-width:100%;height:auto}\n"
    ".legend span{display:inline-block;padding:0 8px;margin-right:6px;border-radius:3px;"
    "border:1px solid #99a}\n"
    ".s-done{background:#b7e4b0}.s-up_to_date{background:#d6e4f0}"
    ".s-failed{background:#f4a3a3}.s-not_run{background:#fff}"
    ".s-would_run,.s-running{background:#ffe08a}\n"
    "svg.timeline{width:100%;height:auto;font-size:11px}\n"
    "svg.timeline rect.bar{stroke:#445;stroke-width:.5}svg.timeline rect.thin{stroke:none}\n"
    "svg.timeline rect.done{fill:#6cbf5f}svg.timeline rect.failed{fill:#d9534f}"
    "svg.timeline rect.retried{fill:#f0ad4e}svg.timeline rect.running{fill:#ffe08a}\n"
    "svg.timeline .axis{stroke:#ccd}svg.timeline text{fill:#334}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6ec;vertical-align:top}\n"
    "th{cursor:pointer;user-select:none;background:#eef0f4;position:sticky;top:0}\n"
    "th[aria-sort=ascending]::after{content:' \\25b2'}"
    "th[aria-sort=descending]::after{content:' \\25bc'}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.st{white-space:nowrap}\n"
    "pre{background:#1d2330;color:#e8eaf0;padding:8px;overflow:auto;max-height:400px}\n"
    "summary{cursor:pointer;font-weight:600}\n";

static const char script[] =
    "(function () {\n"
    "  var table = document.getElementById('task-table');\n"
    "  if (!table) return;\n"
    "  var body = table.tBodies[0], heads = table.tHead.rows[0].cells;\n"
    "  function value(row, col, num) {\n"
    "    var c = row.cells[col], v = c.getAttribute('data-v');\n"
    "    if (v === null) v = c.textContent;\n"
    "    return num ? parseFloat(v) : v.toLowerCase();\n"
    "  }\n"
    "  function sortBy(col, desc) {\n"
    "    var num = heads[col].getAttribute('data-type') === 'num';\n"
    "    var rows = Array.prototype.slice.call(body.rows);\n"
    "    rows.sort(function (a, b) {\n"
    "      var x = value(a, col, num), y = value(b, col, num);\n"
    "      var c = num ? x - y : (x < y ? -1 : x > y ? 1 : 0);\n"
    "      return desc ? -c : c;\n"
    "    });\n"
    "    rows.forEach(function (r) { body.appendChild(r); });\n"
    "    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute('aria-sort');\n"
    "    heads[col].setAttribute('aria-sort', desc ? 'descending' : 'ascending');\n"
    "    table.setAttribute('data-sorted', heads[col].getAttribute('data-key') +\n"
    "      (desc ? ':desc' : ':asc'));\n"
    "  }\n"
    "  Array.prototype.forEach.call(heads, function (h, i) {\n"
    "    h.addEventListener('click', function () {\n"
    "      sortBy(i, h.getAttribute('aria-sort') === 'ascending');\n"
    "    });\n"
    "  });\n"
    "  var m = /^#sort=(-?)([a-z]+)$/.exec(location.hash);\n"
    "  if (m) Array.prototype.forEach.call(heads, function (h, i) {\n"
    "    if (h.getAttribute('data-key') === m[2]) sortBy(i, m[1] === '-');\n"
    "  });\n"
    "})();\n";

static void
esc(struct fr_buf *b, const char *s)
{
	fr_xml_add(b, s, strlen(s));
}

static void
seconds(struct fr_buf *b, int64_t ns)
{
	double s = (double)ns / 1e9;

	if (ns < 0)
		return;
	else if (s < 0.01)
		fr_buf_printf(b, "%.1f ms", s * 1e3);
	else if (s < 1)
		fr_buf_printf(b, "%.0f ms", s * 1e3);
	else if (s < 10)
		fr_buf_printf(b, "%.2f s", s);
	else if (s < 600)
		fr_buf_printf(b, "%.1f s", s);
	else
		fr_buf_printf(b, "%lldm%02llds", (long long)s / 60, (long long)s % 60);
}

static void
bytes(struct fr_buf *b, long long n)
{
	if (n < 0)
		return;
	if (n < 1024 * 1024)
		fr_buf_printf(b, "%.0f KiB", (double)n / 1024);
	else if (n < 1024LL * 1024 * 1024)
		fr_buf_printf(b, "%.1f MiB", (double)n / (1024 * 1024));
	else
		fr_buf_printf(b, "%.2f GiB", (double)n / (1024 * 1024 * 1024));
}

static void
header(struct fr_buf *b, const struct fr_report *r)
{
	const struct fr_pipeline *p = r->g->p;
	const char *name = p->name ? p->name : p->file;
	char when[40];
	const struct { size_t n; enum fr_rstatus st; } c[] = {
		{ r->done, FR_RS_DONE }, { r->uptodate, FR_RS_UPTODATE },
		{ r->failed, FR_RS_FAILED }, { r->notrun, FR_RS_NOTRUN },
		{ r->wouldrun, FR_RS_WOULDRUN },
	};
	size_t i;

	fr_rfc3339(when, sizeof(when), &r->wall, r->start_ns, r->start_ns);
	fr_buf_addstr(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>flowrun: ");
	esc(b, name);
	fr_buf_printf(b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>flowrun: ",
	    style);
	esc(b, name);
	fr_buf_printf(b, "%s</h1>\n<p class=\"meta\">", r->dry ? " (dry run)" : "");
	esc(b, p->file);
	fr_buf_printf(b, " &middot; started %s &middot; ", when);
	seconds(b, r->end_ns - r->start_ns);
	fr_buf_printf(b, " &middot; %zu task instance%s</p>\n<ul class=\"counts\">\n", r->total,
	    r->total == 1 ? "" : "s");
	for (i = 0; i < FR_NELEM(c); i++)
		if (c[i].n || c[i].st == FR_RS_FAILED)
			fr_buf_printf(b, "<li class=\"s-%s\" id=\"count-%s\">%zu %s</li>\n",
			    fr_rstatus_id(c[i].st), fr_rstatus_id(c[i].st), c[i].n,
			    fr_rstatus_name(c[i].st));
	fr_buf_addstr(b, "</ul>\n</header>\n");
}

static void
graph(struct fr_buf *b, const char *svg, const char *note)
{
	const char *start = svg ? strstr(svg, "<svg") : NULL;
	static const enum fr_rstatus legend[] = {
		FR_RS_DONE, FR_RS_UPTODATE, FR_RS_FAILED, FR_RS_NOTRUN, FR_RS_WOULDRUN,
	};
	size_t i;

	fr_buf_addstr(b, "<section id=\"graph\">\n<h2>Graph</h2>\n");
	if (start) {
		fr_buf_addstr(b, "<div class=\"graph\">\n");
		fr_buf_addstr(b, start);	/* gvc's SVG, without its XML prolog */
		fr_buf_addstr(b, "</div>\n<p class=\"legend\">");
		for (i = 0; i < FR_NELEM(legend); i++)
			fr_buf_printf(b, "<span class=\"s-%s\">%s</span>", fr_rstatus_id(legend[i]),
			    fr_rstatus_name(legend[i]));
		fr_buf_addstr(b, "</p>\n");
	} else {
		fr_buf_addstr(b, "<p>The graph could not be drawn");
		if (note) {
			fr_buf_addstr(b, ": ");
			esc(b, note);
		}
		fr_buf_addstr(b, ".</p>\n");
	}
	fr_buf_addstr(b, "</section>\n");
}

/* A tick step of 1, 2 or 5 times a power of ten giving at most 10 ticks. */
static double
tickstep(double total)
{
	static const double m[] = { 1, 2, 5 };
	double base = 0.001;
	size_t i;

	for (;;) {
		for (i = 0; i < FR_NELEM(m); i++)
			if (total / (base * m[i]) <= 10)
				return base * m[i];
		base *= 10;
	}
}

static void
timeline(struct fr_buf *b, const struct fr_report *r)
{
	int64_t total = r->end_ns - r->start_ns;
	double span = (double)(total > 0 ? total : 1) / 1e9, step, t;
	double scale = (TL_WIDTH - TL_LEFT - 8) / span;
	unsigned lane, height = (r->nlane + 1) * TL_ROW + 8;
	size_t i, k;

	fr_buf_addstr(b, "<section id=\"timeline\">\n<h2>Timeline</h2>\n");
	if (r->nran == 0) {
		fr_buf_addstr(b, "<p>Nothing ran in this run.</p>\n</section>\n");
		return;
	}
	fr_buf_printf(b, "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %u\" role=\"img\" aria-label=\"timeline of the run\">\n",
	    TL_WIDTH, height);
	step = tickstep(span);
	for (t = 0; t <= span + 1e-9; t += step) {
		double x = TL_LEFT + t * scale;
		fr_buf_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"14\" x2=\"%.1f\" y2=\"%u\"/>"
		    "<text x=\"%.1f\" y=\"11\" text-anchor=\"middle\">%gs</text>\n", x, x, height, x,
		    t);
	}
	for (lane = 1; lane <= r->nlane; lane++)
		fr_buf_printf(b, "<text x=\"4\" y=\"%u\">slot %u</text>\n", lane * TL_ROW + 10, lane);
	for (i = 0; i < r->nran; i++) {
		const struct fr_report_task *rt = r->ran[i];
		for (k = 0; k < rt->nspan; k++) {
			const struct fr_report_span *sp = &rt->span[k];
			int64_t end = sp->end_ns >= 0 ? sp->end_ns : total;
			double x = TL_LEFT + (double)sp->start_ns / 1e9 * scale;
			double w = (double)(end - sp->start_ns) / 1e9 * scale;
			const char *cls = sp->ok ? "done" : sp->end_ns < 0 ? "running" :
			    k + 1 < rt->nspan ? "retried" : "failed";
			if (w < 1)
				w = 1;
			fr_buf_printf(b, "<g><rect class=\"bar %s%s\" x=\"%.1f\" y=\"%u\" "
			    "width=\"%.1f\" height=\"%d\"><title>", cls, w < 3 ? " thin" : "", x,
			    sp->lane * TL_ROW, w, TL_ROW - 6);
			esc(b, fr_task_name(rt->task));
			fr_buf_printf(b, " (%s", cls);
			if (sp->attempt > 1)
				fr_buf_printf(b, ", attempt %d", sp->attempt);
			fr_buf_addstr(b, "): ");
			seconds(b, end - sp->start_ns);
			fr_buf_addstr(b, "</title></rect>");
			if (w > 7.0 * (double)strlen(fr_task_name(rt->task)) + 8) {
				fr_buf_printf(b, "<text x=\"%.1f\" y=\"%u\">", x + 4, sp->lane * TL_ROW + 13);
				esc(b, fr_task_name(rt->task));
				fr_buf_addstr(b, "</text>");
			}
			fr_buf_addstr(b, "</g>\n");
		}
	}
	fr_buf_addstr(b, "</svg>\n</section>\n");
}

/* A number cell: the sort value (-1 when unknown) and its text. */
static void
numcell(struct fr_buf *b, double v, int known, const char *text)
{
	fr_buf_printf(b, "<td class=\"num\" data-v=\"%.6f\">%s</td>", known ? v : -1.0, text);
}

static void
row(struct fr_buf *b, const struct fr_report_task *rt)
{
	struct fr_buf cell = {0};
	const char *why = rt->status == FR_RS_FAILED && rt->message ? rt->message : rt->reason;

	fr_buf_addstr(b, "<tr><td>");
	esc(b, fr_task_name(rt->task));
	fr_buf_printf(b, "</td><td class=\"st s-%s\">%s</td>", fr_rstatus_id(rt->status),
	    fr_rstatus_name(rt->status));
	seconds(&cell, rt->start_ns);
	numcell(b, (double)rt->start_ns / 1e9, rt->start_ns >= 0, fr_buf_str(&cell));
	fr_buf_reset(&cell);
	seconds(&cell, rt->duration_ns >= 0 && rt->nspan ? rt->duration_ns : -1);
	numcell(b, (double)rt->duration_ns / 1e9, rt->duration_ns >= 0 && rt->nspan,
	    fr_buf_str(&cell));
	fr_buf_reset(&cell);
	seconds(&cell, rt->cpu_ns);
	numcell(b, (double)rt->cpu_ns / 1e9, rt->cpu_ns >= 0, fr_buf_str(&cell));
	fr_buf_reset(&cell);
	bytes(&cell, rt->max_rss);
	numcell(b, (double)rt->max_rss, rt->max_rss >= 0, fr_buf_str(&cell));
	fr_buf_reset(&cell);
	if (rt->attempts)
		fr_buf_printf(&cell, "%d", rt->attempts);
	numcell(b, rt->attempts, 1, fr_buf_str(&cell));
	fr_buf_addstr(b, "<td>");
	if (why)
		esc(b, why);
	fr_buf_addstr(b, "</td></tr>\n");
	fr_buf_free(&cell);
}

static void
table(struct fr_buf *b, const struct fr_report *r)
{
	size_t i;

	fr_buf_addstr(b, "<section id=\"tasks\">\n<h2>Tasks</h2>\n<table id=\"task-table\">\n"
	    "<thead><tr><th data-key=\"task\">Task</th><th data-key=\"status\">Status</th>"
	    "<th data-key=\"start\" data-type=\"num\">Started</th>"
	    "<th data-key=\"duration\" data-type=\"num\">Duration</th>"
	    "<th data-key=\"cpu\" data-type=\"num\">CPU</th>"
	    "<th data-key=\"memory\" data-type=\"num\">Peak memory</th>"
	    "<th data-key=\"attempts\" data-type=\"num\">Attempts</th>"
	    "<th data-key=\"why\">Why</th></tr></thead>\n<tbody>\n");
	for (i = 0; i < r->g->ntask; i++) {
		const struct fr_task *t = r->g->order[i];
		if (t->needed && r->task[t->id].seen)
			row(b, &r->task[t->id]);
	}
	fr_buf_addstr(b, "</tbody>\n</table>\n</section>\n");
}

static void
failures(struct fr_buf *b, const struct fr_report *r)
{
	size_t i, start, len;

	if (r->failed == 0)
		return;
	fr_buf_addstr(b, "<section id=\"failures\">\n<h2>Failures</h2>\n");
	for (i = 0; i < r->g->ntask; i++) {
		const struct fr_task *t = r->g->order[i];
		const struct fr_report_task *rt = &r->task[t->id];
		if (!t->needed || rt->status != FR_RS_FAILED)
			continue;
		fr_buf_addstr(b, "<details open><summary>");
		esc(b, fr_task_name(t));
		fr_buf_addstr(b, ": ");
		esc(b, rt->message ? rt->message : "failed");
		fr_buf_addstr(b, "</summary>\n");
		if (rt->outlen) {
			len = fr_tail_lines(rt->output, rt->outlen, OUTPUT_LINES, &start);
			fr_buf_addstr(b, "<pre>");
			fr_xml_add(b, rt->output + start, len);
			fr_buf_addstr(b, "</pre>\n");
		}
		fr_buf_addstr(b, "</details>\n");
	}
	fr_buf_addstr(b, "</section>\n");
}

int
fr_html_write(const struct fr_report *r, const char *svg, const char *note, FILE *f,
    struct fr_error *err)
{
	struct fr_buf b = {0};
	int rc = 0;

	header(&b, r);
	graph(&b, svg, note);
	timeline(&b, r);
	table(&b, r);
	failures(&b, r);
	fr_buf_printf(&b, "<script>\n%s</script>\n</body>\n</html>\n", script);
	if (fwrite(b.data, 1, b.len, f) != b.len || ferror(f))
		rc = fr_error_set(err, FR_ESYS, NULL, "cannot write the HTML report:");
	fr_buf_free(&b);
	return rc;
}
