/* SPDX-License-Identifier: MIT */
/* report: the run collector (per instance: status, attempts on lanes, costs)
 * and the helpers every reporter shares. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "htab.h"
#include "report.h"
#include "util.h"

static struct fr_report_task *
get(struct fr_report *r, const struct fr_task *t)
{
	struct fr_report_task *rt = &r->task[t->id];

	if (!rt->seen) {
		rt->seen = 1;
		rt->task = t;
		rt->queued_ns = rt->start_ns = rt->end_ns = rt->duration_ns = -1;
		rt->max_rss = -1;
		rt->cpu_ns = -1;
		rt->exit_code = rt->signal = -1;
	}
	return rt;
}

static void
setstr(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? fr_xstrdup(src) : NULL;
}

static unsigned
takelane(struct fr_report *r)
{
	unsigned i;

	for (i = 0; i < r->nlane && r->busy[i]; i++)
		;
	if (i == r->nlane) {
		r->busy = fr_xrealloc(r->busy, ++r->nlane);
		r->busy[i] = 0;
	}
	r->busy[i] = 1;
	return i + 1;
}

static struct fr_report_span *
openspan(const struct fr_report_task *rt)
{
	struct fr_report_span *sp = rt->nspan ? &rt->span[rt->nspan - 1] : NULL;
	return sp && sp->end_ns < 0 ? sp : NULL;
}

static void
startspan(struct fr_report *r, struct fr_report_task *rt, int64_t at, unsigned lane,
    int attempt)
{
	struct fr_report_span sp = { at, -1, lane, attempt, 0 };

	if (rt->nspan == 0)
		FR_PUSH(r->ran, r->nran, r->rancap, rt);
	FR_PUSH(rt->span, rt->nspan, rt->spancap, sp);
}

/* The current attempt ended at at: close its span; free its lane unless the
 * task goes on (a retry keeps its slot). */
static void
endspan(struct fr_report *r, struct fr_report_task *rt, int64_t at, int ok, int keep)
{
	struct fr_report_span *sp = openspan(rt);

	if (!sp)
		return;
	sp->end_ns = at;
	sp->ok = ok;
	if (!keep && sp->lane >= 1 && sp->lane <= r->nlane)
		r->busy[sp->lane - 1] = 0;
}

static void
costs(struct fr_report_task *rt, const struct fr_event *ev)
{
	rt->duration_ns = ev->duration_ns;
	fr_event_exit(ev, &rt->exit_code, &rt->signal);
	if (!ev->ru)
		return;
	rt->max_rss = (long long)ev->ru->ru_maxrss * 1024;	/* Linux counts KiB */
	rt->cpu_ns = ((int64_t)ev->ru->ru_utime.tv_sec + ev->ru->ru_stime.tv_sec) * 1000000000 +
	    ((int64_t)ev->ru->ru_utime.tv_usec + ev->ru->ru_stime.tv_usec) * 1000;
}

static void
runend(struct fr_report *r, int64_t at)
{
	size_t i;

	r->end_ns = at;
	for (i = 0; i < r->g->ntask; i++) {
		const struct fr_task *t = r->g->task[i];
		struct fr_report_task *rt;
		if (!t->needed)
			continue;
		rt = get(r, t);
		if (rt->status == FR_RS_NOTRUN && t->status == FR_TASK_DONE &&
		    t->decl->action == FR_ACT_NONE) {
			rt->status = FR_RS_DONE;	/* a group the scheduler did not announce */
			setstr(&rt->reason, "groups what it needs");
		} else if (rt->status == FR_RS_NOTRUN && !rt->reason) {
			setstr(&rt->reason, "not run: a task it needs failed, or the run stopped");
		}
		switch (rt->status) {
		case FR_RS_DONE: r->done++; break;
		case FR_RS_UPTODATE: r->uptodate++; break;
		case FR_RS_FAILED: r->failed++; break;
		case FR_RS_WOULDRUN: r->wouldrun++; break;
		case FR_RS_NOTRUN: case FR_RS_RUNNING: r->notrun++; break;
		}
	}
}

void
fr_report_event(const struct fr_event *ev, void *arg)
{
	struct fr_report *r = arg;
	struct fr_report_task *rt;
	int64_t at;

	if (ev->kind == FR_EV_RUN_START) {
		r->start_ns = ev->time_ns;
		clock_gettime(CLOCK_REALTIME, &r->wall);
		r->total = ev->total;
		return;
	}
	at = ev->time_ns - r->start_ns;
	if (ev->kind == FR_EV_RUN_END) {
		runend(r, ev->time_ns);
		return;
	}
	if (!ev->task)
		return;
	rt = get(r, ev->task);
	switch (ev->kind) {
	case FR_EV_TASK_QUEUED:
		rt->queued_ns = at;
		break;
	case FR_EV_TASK_STARTED:
		rt->status = FR_RS_RUNNING;
		rt->start_ns = at;
		rt->attempts = 1;
		setstr(&rt->reason, ev->reason);
		startspan(r, rt, at, takelane(r), 1);
		break;
	case FR_EV_TASK_RETRY: {
		struct fr_report_span *sp = openspan(rt);
		unsigned lane = sp ? sp->lane : takelane(r);
		costs(rt, ev);
		setstr(&rt->message, ev->message);
		endspan(r, rt, at, 0, 1);
		rt->attempts = ev->attempt;
		startspan(r, rt, at, lane, ev->attempt);
		break;
	}
	case FR_EV_TASK_FINISHED:
		rt->status = FR_RS_DONE;
		rt->end_ns = at;
		costs(rt, ev);
		setstr(&rt->message, NULL);
		endspan(r, rt, at, 1, 0);
		break;
	case FR_EV_TASK_FAILED:
		rt->status = FR_RS_FAILED;
		rt->end_ns = at;
		costs(rt, ev);
		setstr(&rt->message, ev->message);
		free(rt->output);
		rt->output = fr_xstrndup(ev->output ? ev->output : "", ev->output ? ev->outlen : 0);
		rt->outlen = ev->output ? ev->outlen : 0;
		endspan(r, rt, at, 0, 0);
		break;
	case FR_EV_TASK_SKIPPED:
		rt->status = FR_RS_UPTODATE;
		setstr(&rt->reason, ev->reason);
		endspan(r, rt, at, 1, 0);	/* a fetch answered 304 after it started */
		break;
	case FR_EV_TASK_WOULD_RUN:
		rt->status = FR_RS_WOULDRUN;
		setstr(&rt->reason, ev->reason);
		break;
	case FR_EV_TASK_GROUPED:
		rt->status = FR_RS_DONE;
		setstr(&rt->reason, ev->reason ? ev->reason : "groups what it needs");
		break;
	case FR_EV_RUN_START:
	case FR_EV_RUN_END:
		break;
	}
}

struct fr_report *
fr_report_new(const struct fr_graph *g, int dry)
{
	struct fr_report *r = fr_xcalloc(1, sizeof(*r));

	r->g = g;
	r->dry = dry;
	r->task = fr_xcalloc(g->ntask, sizeof(*r->task));
	return r;
}

void
fr_report_free(struct fr_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->g->ntask; i++) {
		free(r->task[i].reason);
		free(r->task[i].message);
		free(r->task[i].output);
		free(r->task[i].span);
	}
	free(r->task);
	free(r->ran);
	free(r->busy);
	free(r);
}

static const char *const rsname[] = {
	"not run", "done", "up to date", "failed", "would run", "running",
};
static const char *const rsid[] = {
	"not_run", "done", "up_to_date", "failed", "would_run", "running",
};

const char *
fr_rstatus_name(enum fr_rstatus s)
{
	return (size_t)s < FR_NELEM(rsname) ? rsname[s] : "unknown";
}

const char *
fr_rstatus_id(enum fr_rstatus s)
{
	return (size_t)s < FR_NELEM(rsid) ? rsid[s] : "unknown";
}

int
fr_rstatus_parse(const char *id)
{
	size_t i;

	for (i = 0; i < FR_NELEM(rsid); i++)
		if (strcmp(id, rsid[i]) == 0)
			return (int)i;
	return -1;
}

int
fr_outfile_open(struct fr_outfile *o, const char *path, struct fr_error *err)
{
	int fd;

	memset(o, 0, sizeof(*o));
	o->path = fr_xstrdup(path);
	o->tmp = fr_xasprintf("%s.tmp%ld", path, (long)getpid());
	fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
		fr_error_set(err, FR_ESYS, NULL, "cannot create %s:", o->tmp);
		if (fd >= 0)
			close(fd);
		fr_outfile_abort(o);
		return -1;
	}
	return 0;
}

int
fr_outfile_commit(struct fr_outfile *o, struct fr_error *err)
{
	int bad;

	if (!o->f)
		return fr_error_set(err, FR_ESYS, NULL, "%s was not opened", o->path ? o->path : "?");
	bad = fflush(o->f) != 0 || ferror(o->f);
	if (fclose(o->f) != 0)
		bad = 1;
	o->f = NULL;
	if (bad) {
		fr_error_set(err, FR_ESYS, NULL, "cannot write %s:", o->tmp);
		fr_outfile_abort(o);
		return -1;
	}
	if (rename(o->tmp, o->path) < 0) {
		fr_error_set(err, FR_ESYS, NULL, "cannot rename %s to %s:", o->tmp, o->path);
		fr_outfile_abort(o);
		return -1;
	}
	free(o->tmp);
	o->tmp = NULL;
	fr_outfile_abort(o);
	return 0;
}

void
fr_outfile_abort(struct fr_outfile *o)
{
	if (o->f)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	memset(o, 0, sizeof(*o));
}

/* The length of the well-formed UTF-8 sequence at s (at most n bytes), with
 * its code point in *cp; 0 when it is not well formed. */
static size_t
utf8len(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return len;
}

void
fr_utf8_add(struct fr_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, len;
	uint32_t cp;

	while (i < n) {
		if ((len = utf8len(p + i, n - i, &cp)) > 0) {
			i += len;
			run += len;
			continue;
		}
		fr_buf_add(b, s + i - run, run);
		fr_buf_addstr(b, "\xef\xbf\xbd");
		run = 0;
		i++;
	}
	fr_buf_add(b, s + i - run, run);
}

void
fr_json_add(struct fr_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, len;
	uint32_t cp;

	fr_buf_addc(b, '"');
	while (i < n) {
		unsigned char c = p[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			run++;	/* copied in one go with its neighbours */
			continue;
		}
		fr_buf_add(b, s + i - run, run);
		run = 0;
		if (c >= 0x80) {
			if ((len = utf8len(p + i, n - i, &cp)) > 0)
				fr_buf_add(b, s + i, len);
			else
				fr_buf_addstr(b, "\xef\xbf\xbd");
			i += len ? len : 1;
			continue;
		}
		switch (c) {
		case '"': fr_buf_addstr(b, "\\\""); break;
		case '\\': fr_buf_addstr(b, "\\\\"); break;
		case '\n': fr_buf_addstr(b, "\\n"); break;
		case '\t': fr_buf_addstr(b, "\\t"); break;
		case '\r': fr_buf_addstr(b, "\\r"); break;
		default: fr_buf_printf(b, "\\u%04x", c);
		}
		i++;
	}
	fr_buf_add(b, s + i - run, run);
	fr_buf_addc(b, '"');
}

void
fr_xml_add(struct fr_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		if ((len = utf8len(p + i, n - i, &cp)) == 0) {
			fr_buf_addstr(b, "\xef\xbf\xbd");
			i++;
			continue;
		}
		switch (cp) {
		case '&': fr_buf_addstr(b, "&amp;"); break;
		case '<': fr_buf_addstr(b, "&lt;"); break;
		case '>': fr_buf_addstr(b, "&gt;"); break;
		case '"': fr_buf_addstr(b, "&quot;"); break;
		case '\'': fr_buf_addstr(b, "&#39;"); break;
		default:
			if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
			    cp == 0xfffe || cp == 0xffff || (cp >= 0x7f && cp < 0xa0))
				break;	/* not allowed in XML 1.0 (or discouraged) */
			fr_buf_add(b, s + i, len);
		}
		i += len;
	}
}

size_t
fr_tail_lines(const char *out, size_t len, int n, size_t *start)
{
	size_t at;
	int lines = 0;

	while (len > 0 && out[len - 1] == '\n')
		len--;
	at = len;
	while (at > 0) {
		if (out[at - 1] == '\n' && ++lines == n)
			break;
		at--;
	}
	*start = at;
	return len - at;
}

void
fr_rfc3339(char *buf, size_t n, const struct timespec *wall, int64_t start_ns, int64_t mono_ns)
{
	int64_t ns = (int64_t)wall->tv_sec * 1000000000 + wall->tv_nsec + (mono_ns - start_ns);
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	size_t len;

	gmtime_r(&sec, &tm);
	len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, n - len, ".%03dZ", (int)(ns % 1000000000 / 1000000));
}

char *
fr_report_filename(const char *name)
{
	size_t n = strlen(name), i, keep = n > 100 ? 100 : n;
	char *out = fr_xmalloc(keep + 18);
	int changed = keep != n;

	for (i = 0; i < keep; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("._=,+-", c);
		if (i == 0 && c == '.')
			ok = 0;		/* never ".", ".." or a hidden file */
		out[i] = ok ? c : '_';
		changed |= !ok;
	}
	out[keep] = '\0';
	if (changed)
		snprintf(out + keep, 18, "-%08x", (unsigned)(fr_hash(name, n) & 0xffffffffu));
	return out;
}
