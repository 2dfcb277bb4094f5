/* SPDX-License-Identifier: MIT */
/* flowrun: the command line. Parses options, loads the pipeline, runs it and
 * presents what happens; the only place that prints for the user or exits. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "dot.h"
#include "event.h"
#include "exec_call.h"
#include "graph.h"
#include "log.h"
#include "pipeline.h"
#include "plan.h"
#include "report.h"
#include "report_html.h"
#include "report_jsonl.h"
#include "report_junit.h"
#include "report_last.h"
#include "report_term.h"
#include "report_trace.h"
#include "sched.h"
#include "stamp.h"
#include "state.h"
#include "util.h"

/* Exit statuses; documented in flowrun(1) and used by the tests. */
enum {
	EXIT_DONE = 0,		/* every needed task is done or up to date */
	EXIT_TASK = 1,		/* a task failed (or the state could not be used) */
	EXIT_USAGE = 2,		/* the pipeline or the command line is wrong */
	EXIT_SIGNAL = 128,	/* + the signal that stopped the run */
};

/* The HTML report draws one node per task past this many instances. */
#define REPORT_MAX_NODES 300

struct opts {
	const char *file, *dir;
	unsigned jobs, host_connections;
	int keep_going, dry, force, explain, list, dot, groups, verbose, quiet, nowait, status;
	enum fr_progress progress;
	enum fr_color color;
	const char *events, *trace, *junit, *report, *graph;
	struct fr_define *def;
	size_t ndef, defcap;
	char **result;
	size_t nresult, resultcap;
	char *cwd;			/* where flowrun started: printed paths are relative to it */
	char *pdir;			/* the pipeline's directory */
	char *made[5];			/* the file options made absolute */
	char *shown;			/* the last path logpath() made */
	struct fr_term *term;		/* the presenter of the run going on */
	struct fr_last *last;		/* the last-run record of the run going on */
};

static const char usage[] =
    "usage: flowrun [OPTIONS] [PIPELINE.yaml] [TARGET...]\n"
    "  -f FILE         read FILE instead of flowrun.yaml\n"
    "  -C DIR          change to DIR first\n"
    "  -j N            run N jobs at once (default: the number of CPUs; 0: no limit)\n"
    "  -k              keep going: run everything that does not need a failed task\n"
    "  -n              dry run: say what would run and why; change nothing\n"
    "  -B              run every needed task, up to date or not\n"
    "  -D NAME=VALUE   set the var NAME\n"
    "  -v, -q          more output; less output\n"
    "  --explain       say why each task runs or is skipped\n"
    "  --status        say what is up to date and what would run and why; change\n"
    "                  nothing; exit 1 if anything would run\n"
    "  --progress=MODE auto, tty (a status line), plain (a line per task) or none\n"
    "  --color=WHEN    auto, always or never (auto follows NO_COLOR, CLICOLOR_FORCE)\n"
    "  --events FILE   write each event of the run to FILE as a line of JSON\n"
    "  --trace FILE    write the run as a Chrome trace (Perfetto, chrome://tracing)\n"
    "  --junit FILE    write a JUnit XML report, one testcase per task instance\n"
    "  --report FILE   write an HTML page: graph, timeline and table of the tasks\n"
    "  --list          list the tasks with their descriptions\n"
    "  --dot, --dot=groups\n"
    "                  write the task graph as Graphviz DOT, coloured by the last run\n"
    "  --graph FILE    draw the task graph to FILE (.svg, .png or .pdf)\n"
    "  --groups        draw one node per task, counting a foreach's instances\n"
    "  --result TASK   run what TASK needs and print its result as JSON\n"
    "  --no-wait       fail at once if another flowrun holds the lock\n"
    "  --host-connections N\n"
    "                  fetch tasks open at most N connections to one host (default 6)\n"
    "  -h, --help      this text; -V, --version: the version\n";

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	fputs("flowrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
sayerr(const struct fr_error *e)
{
	char buf[2048];

	fr_error_format(e, buf, sizeof(buf));
	say("%s", buf);
}

static void
logsink(enum fr_loglevel level, const char *msg, void *arg)
{
	const struct opts *o = arg;

	if (level == FR_LOG_DEBUG && !o->verbose)
		return;
	if (o->term)
		fr_term_suspend(o->term);
	say("%s%s", level == FR_LOG_WARN ? "warning: " : "", msg);
	if (o->term)
		fr_term_resume(o->term);
}

static int
isyaml(const char *s)
{
	size_t n = strlen(s);
	return (n > 5 && strcmp(s + n - 5, ".yaml") == 0) || (n > 4 && strcmp(s + n - 4, ".yml") == 0);
}

static const char *const dotmodes[] = { "instances", "groups", NULL };
static const char *const progresses[] = { "auto", "tty", "plain", "none", NULL };
static const char *const colors[] = { "auto", "always", "never", NULL };

/* The index of arg in the NULL-terminated words, or -1 after saying so. */
static long
pick(const char *opt, const char *arg, const char *const *words)
{
	struct fr_buf b = {0};
	long i;

	for (i = 0; words[i]; i++)
		if (strcmp(arg, words[i]) == 0)
			return i;
	for (i = 0; words[i]; i++)
		fr_buf_printf(&b, "%s%s", i ? (words[i + 1] ? ", " : " or ") : "", words[i]);
	say("%s=%s: expected %s", opt, arg, fr_buf_str(&b));
	fr_buf_free(&b);
	return -1;
}

static int
parseargs(int argc, char **argv, struct opts *o)
{
	enum {
		OPT_EXPLAIN = 256, OPT_LIST, OPT_DOT, OPT_RESULT, OPT_NOWAIT, OPT_STATUS,
		OPT_PROGRESS, OPT_COLOR, OPT_EVENTS, OPT_TRACE, OPT_JUNIT, OPT_REPORT, OPT_GRAPH,
		OPT_GROUPS, OPT_HOSTCONN,
	};
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "directory", required_argument, NULL, 'C' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "always-make", no_argument, NULL, 'B' },
		{ "define", required_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "explain", no_argument, NULL, OPT_EXPLAIN },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "dot", optional_argument, NULL, OPT_DOT },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		{ "color", required_argument, NULL, OPT_COLOR },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "junit", required_argument, NULL, OPT_JUNIT },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "graph", required_argument, NULL, OPT_GRAPH },
		{ "groups", no_argument, NULL, OPT_GROUPS },
		{ "result", required_argument, NULL, OPT_RESULT },
		{ "no-wait", no_argument, NULL, OPT_NOWAIT },
		{ "host-connections", required_argument, NULL, OPT_HOSTCONN },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	long n;
	char *end, *eq;
	int c;

	o->jobs = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (o->jobs < 1)
		o->jobs = 1;
	while ((c = getopt_long(argc, argv, "f:C:j:knBD:vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->file = optarg; break;
		case 'C': o->dir = optarg; break;
		case 'j':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 0 || optarg[0] == '\0') {
				say("-j %s: not a number of jobs", optarg);
				return -1;
			}
			o->jobs = n == 0 || n > INT_MAX ? UINT_MAX : (unsigned)n;
			break;
		case 'k': o->keep_going = 1; break;
		case 'n': o->dry = 1; break;
		case 'B': o->force = 1; break;
		case 'D': {
			struct fr_define d;
			if (!(eq = strchr(optarg, '='))) {
				say("-D %s: expected NAME=VALUE", optarg);
				return -1;
			}
			*eq = '\0';
			d.name = optarg;
			d.value = eq + 1;
			FR_PUSH(o->def, o->ndef, o->defcap, d);
			break;
		}
		case 'v': o->verbose = 1; o->quiet = 0; break;
		case 'q': o->quiet = 1; o->verbose = 0; break;
		case OPT_EXPLAIN: o->explain = 1; break;
		case OPT_LIST: o->list = 1; break;
		case OPT_DOT:
			o->dot = 1;
			if (optarg && (n = pick("--dot", optarg, dotmodes)) < 0)
				return -1;
			if (optarg)
				o->groups |= n == 1;
			break;
		case OPT_STATUS: o->status = 1; break;
		case OPT_PROGRESS:
			if ((n = pick("--progress", optarg, progresses)) < 0)
				return -1;
			o->progress = (enum fr_progress)n;
			break;
		case OPT_COLOR:
			if ((n = pick("--color", optarg, colors)) < 0)
				return -1;
			o->color = (enum fr_color)n;
			break;
		case OPT_EVENTS: o->events = optarg; break;
		case OPT_TRACE: o->trace = optarg; break;
		case OPT_JUNIT: o->junit = optarg; break;
		case OPT_REPORT: o->report = optarg; break;
		case OPT_GRAPH:
			if (!fr_dot_format(optarg)) {
				say("--graph %s: the file name must end in .svg, .png or .pdf", optarg);
				return -1;
			}
			o->graph = optarg;
			break;
		case OPT_GROUPS: o->groups = 1; break;
		case OPT_RESULT: FR_PUSH(o->result, o->nresult, o->resultcap, optarg); break;
		case OPT_NOWAIT: o->nowait = 1; break;
		case OPT_HOSTCONN:
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 10000 || optarg[0] == '\0') {
				say("--host-connections %s: not a number from 1 to 10000", optarg);
				return -1;
			}
			o->host_connections = (unsigned)n;
			break;
		case 'h': fputs(usage, stdout); exit(EXIT_DONE);
		case 'V': printf("flowrun %s\n", PACKAGE_VERSION); exit(EXIT_DONE);
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	if (optind < argc && !o->file && isyaml(argv[optind]))
		o->file = argv[optind++];
	return optind;
}

static void
list(const struct fr_graph *g)
{
	size_t i, width = 0;

	for (i = 0; i < g->p->ntask; i++)
		if (strlen(g->p->task[i]->name) > width)
			width = strlen(g->p->task[i]->name);
	for (i = 0; i < g->p->ntask; i++) {
		const struct fr_taskdecl *d = g->p->task[i];
		if (d->opt->desc || d->opt->nforeach)
			printf("%-*s  ", (int)width, d->name);
		else
			fputs(d->name, stdout);
		if (d->opt->desc)
			printf("%s%s", d->opt->desc, d->opt->nforeach ? " " : "");
		if (d->opt->nforeach)
			printf("(%zu instances)", fr_graph_count(g, d));
		putchar('\n');
	}
}

static void
waiting(pid_t holder, void *arg)
{
	(void)arg;
	if (holder > 0)
		say("waiting for another flowrun (pid %ld) on this pipeline to finish", (long)holder);
	else
		say("waiting for another flowrun on this pipeline to finish");
}

static int
printresults(struct fr_plan *pl, struct fr_graph *g, struct opts *o)
{
	size_t i;

	for (i = 0; i < o->nresult; i++) {
		json_t *v = fr_plan_result(pl, o->result[i]);
		struct fr_task *t = v ? NULL : fr_graph_task(g, o->result[i]);
		char *s;
		if (t)
			s = fr_xstrdup(fr_plan_task_result(pl, t) ? fr_plan_task_result(pl, t) :
			    "null");
		else
			s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!s) {
			say("--result %s: no such task", o->result[i]);
			return -1;
		}
		printf("%s\n", s);
		free(s);
	}
	return 0;
}

/* The files named on the command line are relative to where flowrun is
 * (after -C), though it runs in the pipeline's directory. */
static void
absolute(struct opts *o)
{
	const char **opt[] = { &o->events, &o->trace, &o->junit, &o->report, &o->graph };
	char *here = getcwd(NULL, 0);
	size_t i;

	for (i = 0; here && i < FR_NELEM(opt); i++)
		if (*opt[i] && (*opt[i])[0] != '/')
			*opt[i] = o->made[i] = fr_xasprintf("%s/%s", here, *opt[i]);
	free(here);
}

/* Where path (relative to the pipeline's directory) is, as seen from where
 * flowrun started. */
static const char *
shown(struct opts *o, const char *path)
{
	size_t n = o->cwd ? strlen(o->cwd) : 0;

	free(o->shown);
	if (!o->pdir)
		o->shown = fr_xstrdup(path);
	else if (o->cwd && strcmp(o->pdir, o->cwd) == 0)
		o->shown = fr_xstrdup(path);
	else if (o->cwd && strncmp(o->pdir, o->cwd, n) == 0 && o->pdir[n] == '/')
		o->shown = fr_xasprintf("%s/%s", o->pdir + n + 1, path);
	else
		o->shown = fr_xasprintf("%s/%s", o->pdir, path);
	return o->shown;
}

/* The full log of a failed task, for the summary. */
static const char *
logpath(const char *name, void *arg)
{
	struct opts *o = arg;
	const char *path = fr_last_log(o->last, name);

	return path ? shown(o, path) : NULL;
}

/* The statuses the collector saw, by task id (caller frees). */
static enum fr_rstatus *
statuses(const struct fr_report *r)
{
	enum fr_rstatus *st = fr_xcalloc(r->g->ntask ? r->g->ntask : 1, sizeof(*st));
	size_t i;

	for (i = 0; i < r->g->ntask; i++)
		st[i] = r->task[i].seen ? r->task[i].status : FR_RS_NOTRUN;
	return st;
}

/* Write path through a temporary file with write(r, f, err). 0, or -1 said. */
static int
save(const char *path, int (*write)(const struct fr_report *, FILE *, struct fr_error *),
    const struct fr_report *r)
{
	struct fr_outfile of;
	struct fr_error err = {0};

	if (fr_outfile_open(&of, path, &err) < 0 || write(r, of.f, &err) < 0 ||
	    fr_outfile_commit(&of, &err) < 0) {
		fr_outfile_abort(&of);
		sayerr(&err);
		return -1;
	}
	return 0;
}

static int
savehtml(const char *path, const struct fr_report *r, int groups)
{
	struct fr_dot_opts d = { groups || r->g->nneeded > REPORT_MAX_NODES, NULL };
	struct fr_outfile of;
	struct fr_error err = {0}, gerr = {0};
	enum fr_rstatus *st = statuses(r);
	char *svg;
	size_t len;
	int rc = 0;

	d.status = st;
	fr_dot_render(r->g, &d, "svg", &svg, &len, &gerr);
	if (fr_outfile_open(&of, path, &err) < 0 ||
	    fr_html_write(r, svg, fr_error_isset(&gerr) ? gerr.text : NULL, of.f, &err) < 0 ||
	    fr_outfile_commit(&of, &err) < 0) {
		fr_outfile_abort(&of);
		sayerr(&err);
		rc = -1;
	}
	free(svg);
	free(st);
	return rc;
}

/* --dot and --graph: the graph, coloured by the last run when there was one. */
static int
picture(struct opts *o, const struct fr_graph *g)
{
	struct fr_dot_opts d = { o->groups, NULL };
	enum fr_rstatus *st = fr_xcalloc(g->ntask ? g->ntask : 1, sizeof(*st));
	struct fr_error err = {0};
	struct fr_outfile of = {0};
	char *data = NULL;
	size_t len;
	int rc = EXIT_DONE, got = fr_last_read(".flowrun", g, st, &err);

	if (got < 0) {
		say("warning: %s (the graph is drawn without the last run)", err.text);
		fr_error_clear(&err);
	}
	d.status = got > 0 ? st : NULL;
	if (o->dot && fr_dot_write(g, &d, stdout, &err) < 0)
		rc = EXIT_TASK;
	if (rc == EXIT_DONE && o->graph &&
	    (fr_dot_render(g, &d, fr_dot_format(o->graph), &data, &len, &err) < 0 ||
	    fr_outfile_open(&of, o->graph, &err) < 0 ||
	    fwrite(data, 1, len, of.f) != len || fr_outfile_commit(&of, &err) < 0)) {
		if (of.f) {
			fr_error_set(&err, FR_ESYS, NULL, "cannot write %s:", o->graph);
			fr_outfile_abort(&of);
		}
		rc = EXIT_TASK;
	}
	if (rc != EXIT_DONE)
		sayerr(&err);
	free(data);
	free(st);
	return rc;
}

struct views {
	struct fr_term *term;
	struct fr_last *last;
	struct fr_jsonl *jsonl;
	struct fr_report *rep;
};

/* Subscribe what presents and records the run of g, or of the instances sv
 * lists when g is NULL. 0, or -1 with err set. */
static int
watch(struct opts *o, struct fr_graph *g, const struct fr_stamp_view *sv,
    struct fr_state *state, const char *file, struct views *v, struct fr_error *err)
{
	struct fr_term_opts to = {0};
	const char *gh = getenv("GITHUB_ACTIONS");
	int dry = o->dry || o->status;

	if (o->events && !(v->jsonl = fr_jsonl_open(o->events, file, dry, err)))
		return -1;
	to.out = stdout;
	to.err = stderr;
	to.progress = o->quiet ? FR_PROGRESS_NONE : fr_term_progress(o->progress, STDOUT_FILENO);
	to.color = fr_term_color(o->color, STDOUT_FILENO);
	to.verbose = o->verbose;
	to.quiet = o->quiet;
	to.explain = o->explain;
	to.status = o->status;
	to.github = gh && strcmp(gh, "true") == 0;
	to.jobs = o->jobs;
	to.state = state;
	to.g = g;
	v->term = fr_term_new(&to);
	if (!dry)
		v->last = g ? fr_last_new(g, ".flowrun") :
		    fr_last_new_names(sv->name, sv->ntask, ".flowrun");
	if (o->trace || o->junit || o->report)
		v->rep = fr_report_new(g, dry);
	fr_event_reset();
	if (v->last)
		fr_event_subscribe(fr_last_event, v->last);
	if (v->rep)
		fr_event_subscribe(fr_report_event, v->rep);
	if (v->jsonl)
		fr_event_subscribe(fr_jsonl_event, v->jsonl);
	fr_event_subscribe(fr_term_event, v->term);
	o->term = v->term;
	o->last = v->last;
	return 0;
}

/* Finish the files of the run. 0, or -1 when one could not be written (said). */
static int
unwatch(struct opts *o, struct views *v)
{
	struct fr_error err = {0};
	int rc = 0;

	fr_event_reset();
	if (fr_jsonl_close(v->jsonl, &err) < 0) {
		sayerr(&err);
		rc = -1;
	}
	v->jsonl = NULL;
	fr_error_clear(&err);
	if (v->last && fr_last_status(v->last, &err) < 0) {
		sayerr(&err);
		rc = -1;
	}
	if (v->rep && v->rep->end_ns) {
		if (o->trace && save(o->trace, fr_trace_write, v->rep) < 0)
			rc = -1;
		if (o->junit && save(o->junit, fr_junit_write, v->rep) < 0)
			rc = -1;
		if (o->report && savehtml(o->report, v->rep, o->groups) < 0)
			rc = -1;
	}
	return rc;
}

static void
views_free(struct opts *o, struct views *v)
{
	struct fr_error err = {0};

	fr_event_reset();
	fr_jsonl_close(v->jsonl, &err);
	fr_term_free(v->term);
	fr_last_free(v->last);
	fr_report_free(v->rep);
	o->term = NULL;
	o->last = NULL;
}

/* The state, opened on a thread of its own while the pipeline loads: reading
 * and indexing it costs as much as loading a large pipeline. Only when
 * .flowrun/ exists already (a pipeline that fails to load creates nothing). */
struct early {
	pthread_t thread;
	int started;
	char *dir;			/* absolute: the loader changes directory */
	enum fr_lock_mode mode;
	struct fr_state *state;
	struct fr_error err;
};

static void *
earlyopen(void *arg)
{
	struct early *e = arg;

	e->state = fr_state_open_as(e->dir, ".flowrun", e->mode, waiting, NULL, &e->err);
	return NULL;
}

/* Start opening the state of the pipeline in file, if it has one. */
static void
early_start(struct early *e, const char *file, enum fr_lock_mode mode)
{
	const char *slash = strrchr(file, '/');
	char *cwd = file[0] == '/' ? NULL : getcwd(NULL, 0);
	struct stat sb;

	memset(e, 0, sizeof(*e));
	if (file[0] != '/' && !cwd)
		return;
	e->dir = fr_xasprintf("%s%s%.*s/.flowrun", cwd ? cwd : "", cwd && slash ? "/" : "",
	    slash ? (int)(slash - file) : 0, file);
	free(cwd);
	e->mode = mode;
	if (stat(e->dir, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    pthread_create(&e->thread, NULL, earlyopen, e) == 0)
		e->started = 1;
}

/* The state started by early_start: 1 with *state (NULL and err set when it
 * could not be opened), or 0 if it was not started. */
static int
early_take(struct early *e, struct fr_state **state, struct fr_error *err)
{
	int started = e->started;

	if (started) {
		pthread_join(e->thread, NULL);
		e->started = 0;
		*state = e->state;
		if (!e->state)
			*err = e->err;
	}
	free(e->dir);
	e->dir = NULL;
	return started;
}

/* Whether .flowrun/uptodate is used at all: FLOWRUN_UPTODATE=0 turns it off. */
static int
stamps(void)
{
	const char *e = getenv("FLOWRUN_UPTODATE");

	return !(e && strcmp(e, "0") == 0);
}

/* Whether a run with these options may be answered from .flowrun/uptodate:
 * one that prints or writes nothing per task beyond a no-op's progress, and
 * decides as an ordinary run does. */
static int
stampable(const struct opts *o)
{
	return stamps() && !o->force && !o->explain && !o->status && !o->list && !o->dot &&
	    !o->graph && !o->events && !o->trace && !o->junit && !o->report && o->nresult == 0;
}

/* The digest of this invocation for the stamp. */
static void
invocation(const struct opts *o, const char *file, char **targets, size_t ntargets,
    struct fr_digest *inv)
{
	char **defs = fr_xcalloc(o->ndef + 1, sizeof(*defs));
	size_t i;

	for (i = 0; i < o->ndef; i++)
		defs[i] = fr_xasprintf("%s=%s", o->def[i].name, o->def[i].value);
	fr_stamp_invocation(file, targets, ntargets, defs, o->ndef, inv);
	for (i = 0; i < o->ndef; i++)
		free(defs[i]);
	free(defs);
}

/* The no-op rerun without loading anything: when the stamp says that nothing
 * the last run decided from has changed, present the run that would follow,
 * every needed task up to date, to the same presenters. 1 when it did (the
 * exit status in *rc), 0 to take the long way (in the directory it started in). */
static int
uptodate(struct opts *o, const char *file, const struct fr_digest *inv, int *rc)
{
	const char *slash = strrchr(file, '/'), *base = slash ? slash + 1 : file, *why;
	char *dir = slash ? fr_xstrndup(file, slash == file ? 1 : (size_t)(slash - file)) : NULL;
	int here = -1, dry = o->dry, answered = 0;
	struct fr_state *lock = NULL;
	struct fr_stamp_view sv;
	struct fr_taskdecl act = { .action = FR_ACT_RUN, .opt = &fr_taskopt_none },
	    group = { .action = FR_ACT_NONE, .opt = &fr_taskopt_none };
	struct fr_task task = { .needed = 1 };	/* each one in turn, for the events */
	struct fr_error err = {0};
	struct fr_event ev = {0};
	struct views v = {0};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;

	if ((here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || (dir && chdir(dir) < 0) ||
	    access(".flowrun/uptodate", F_OK) < 0)
		goto out;
	/* as the long way would: wait for (or fail on) another run first */
	if (!dry && !(lock = fr_state_lock(".flowrun", ".flowrun", o->nowait ? FR_LOCK_FAIL :
	    FR_LOCK_WAIT, waiting, NULL, &err)))
		goto out;
	if (!fr_stamp_check(".flowrun", inv, base, ".flowrun/state",
	    ncpu > 0 ? (unsigned)ncpu : 1, !dry, &sv, &why))
		goto out;
	answered = 1;
	o->pdir = getcwd(NULL, 0);
	*rc = EXIT_TASK;
	if (watch(o, NULL, &sv, NULL, file, &v, &err) < 0) {
		sayerr(&err);
		goto done;
	}
	ev.total = sv.ntask;
	ev.kind = FR_EV_RUN_START;
	fr_event_emit(&ev);
	for (i = 0; i < sv.ntask; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = sv.group[i] ? FR_EV_TASK_GROUPED : FR_EV_TASK_SKIPPED;
		task.decl = sv.group[i] ? &group : &act;
		task.decl->name = (char *)sv.name[i];	/* the task's, as it has no own */
		task.id = i;
		task.status = sv.group[i] ? FR_TASK_DONE : FR_TASK_SKIPPED;
		ev.task = &task;
		ev.reason = sv.group[i] ? "groups what it needs" : "up to date";
		ev.done = i + 1;
		ev.total = sv.ntask;
		fr_event_emit(&ev);
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = FR_EV_RUN_END;
	ev.done = ev.total = sv.ntask;
	fr_event_emit(&ev);
	if (unwatch(o, &v) == 0) {
		fr_term_summary(v.term, 0, 0, logpath, o);
		*rc = EXIT_DONE;
	}
done:
	views_free(o, &v);
	fr_stamp_view_free(&sv);
out:
	fr_state_close(lock, NULL);
	if (!answered && here >= 0 && fchdir(here) < 0) {
		say("cannot go back to the directory flowrun started in: %s", strerror(errno));
		*rc = EXIT_USAGE;
		answered = 1;
	}
	if (here >= 0)
		close(here);
	free(dir);
	return answered;
}

/* After a run that left every needed task done or up to date (ok), with the
 * state still open: what its decisions read, for .flowrun/uptodate, or NULL
 * (a run that cannot be answered so; stamped() then removes the stamp). */
static struct fr_stamp *
stamping(struct opts *o, struct fr_graph *g, struct fr_plan *pl, const struct fr_digest *inv,
    int ok)
{
	struct fr_stamp *s;
	size_t i;

	for (i = 0; ok && i < g->ntask; i++)
		if (g->task[i]->needed && g->task[i]->decl->always)
			ok = 0;		/* it would run again */
	if (!ok || !stamps() || o->nresult || g->p->seen->unstable)
		return NULL;
	s = fr_stamp_new(inv, ".flowrun");
	for (i = 0; i < g->ntask; i++)
		if (g->task[i]->needed)
			fr_stamp_task(s, fr_task_name(g->task[i]),
			    g->task[i]->decl->action == FR_ACT_NONE);
	if (fr_plan_stamp(pl, s) < 0) {
		fr_stamp_free(s);
		return NULL;
	}
	return s;
}

/* Write s (NULL: none) as .flowrun/uptodate, with the stat data of the
 * pipeline file and of the state file as the run left it (size -1: none), or
 * remove the stamp there is. Warns when it cannot be written. */
static void
stamped(struct fr_stamp *s, struct fr_graph *g, const struct fr_stat *pst,
    const struct fr_stat *sst)
{
	struct fr_error err = {0};

	if (!s || pst->size < 0 || sst->size < 0) {
		fr_stamp_remove(".flowrun");
	} else if (fr_stamp_write(s, g->p->seen, pst, sst, &err) < 0) {
		fr_warn("%s", err.text);
		fr_stamp_remove(".flowrun");
	}
	fr_stamp_free(s);
}

/* Whether to free the model before exiting: under a leak checker (ASan's, or
 * valgrind's, which sets FLOWRUN_FREE_AT_EXIT), so that anything not freed
 * is a leak; otherwise the exit takes it back. */
static int
freeall(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#else
	const char *e = getenv("FLOWRUN_FREE_AT_EXIT");
	return e && *e && strcmp(e, "0") != 0;
#endif
}

static int
run(struct opts *o, char **targets, size_t ntargets)
{
	struct fr_error err = {0};
	struct fr_pipeline *p = NULL;
	struct fr_graph *g = NULL;
	struct fr_state *state = NULL, *estate;
	struct early early = {0};
	struct fr_error eerr;
	struct fr_plan *pl = NULL;
	struct fr_sched_opts so = {0};
	struct fr_sched_stats st = {0};
	struct fr_stat pst = { .size = -1 }, sst = { .size = -1 };
	struct fr_digest inv;
	struct fr_stamp *made;
	struct views v = {0};
	const char *file = o->file ? o->file : "flowrun.yaml";
	char **all = NULL;
	size_t nall = 0, allcap = 0, i;
	int rc = EXIT_USAGE, src, dry = o->dry || o->status, bad;

	o->cwd = getcwd(NULL, 0);
	if (o->dir && chdir(o->dir) < 0) {
		say("cannot enter %s: %s", o->dir, strerror(errno));
		return EXIT_USAGE;
	}
	absolute(o);
	if (!o->file && access(file, F_OK) < 0) {
		say("no flowrun.yaml here (name a pipeline file, or use -f FILE or -C DIR)");
		return EXIT_USAGE;
	}
	invocation(o, file, targets, ntargets, &inv);
	if (stampable(o) && uptodate(o, file, &inv, &rc))
		return rc;
	if (fr_stat_path(file, &pst) < 0)	/* before it is read: what the stamp says */
		pst.size = -1;
	if (!o->list && !o->dot && !o->graph)
		early_start(&early, file, dry ? FR_LOCK_READONLY :
		    o->nowait ? FR_LOCK_FAIL : FR_LOCK_WAIT);
	if (!(p = fr_pipeline_load(file, o->def, o->ndef,
	    dry || o->list || o->dot || o->graph ? FR_CACHE_READ : FR_CACHE_WRITE, &err)))
		goto fail;
	if (chdir(p->dir) < 0) {
		say("cannot enter %s: %s", p->dir, strerror(errno));
		goto out;
	}
	o->pdir = getcwd(NULL, 0);
	if (!(g = fr_graph_build(p, &err)))
		goto fail;
	fr_pipeline_forget_marks(p);	/* no message names where a path is now */
	if (o->list) {
		list(g);
		rc = EXIT_DONE;
		goto out;
	}
	for (i = 0; i < ntargets; i++)
		FR_PUSH(all, nall, allcap, targets[i]);
	for (i = 0; i < o->nresult; i++)
		FR_PUSH(all, nall, allcap, o->result[i]);
	if (fr_graph_select(g, all, nall, &err) < 0)
		goto fail;
	fr_pipeline_cache(p);
	if (o->dot || o->graph) {
		rc = picture(o, g);
		goto out;
	}
	fr_pipeline_forget_names(p);	/* made again if a result is asked for by name */
	rc = EXIT_TASK;
	if (!early_take(&early, &state, &err))
		state = fr_state_open(".flowrun", dry ? FR_LOCK_READONLY :
		    o->nowait ? FR_LOCK_FAIL : FR_LOCK_WAIT, waiting, NULL, &err);
	if (!state)
		goto fail;
	pl = fr_plan_new(g, state, o->force, dry);
	so.jobs = o->jobs;
	so.host_connections = o->host_connections;
	so.keep_going = o->keep_going;
	so.dry = dry;
	so.worker = getenv("FLOWRUN_CALL_WORKER");
	if (watch(o, g, NULL, state, file, &v, &err) < 0)
		goto fail;
	src = fr_sched_run(g, pl, &so, &st, &err);
	/* the stamp reads the stat data of files back from the state */
	made = !dry && src >= 0 ? stamping(o, g, pl, &inv, src == 0 && !st.signal) : NULL;
	if (fr_state_close_stat(state, &sst, src < 0 ? NULL : &err) < 0 && src >= 0)
		src = -1;
	state = NULL;
	if (!dry && src >= 0)
		stamped(made, g, &pst, &sst);
	else
		fr_stamp_free(made);
	bad = unwatch(o, &v) < 0;
	if (src < 0)
		goto fail;
	fr_term_summary(v.term, st.signal, st.notrun, logpath, o);
	if (st.signal)
		rc = EXIT_SIGNAL + st.signal;
	else if (src || bad || (o->status && st.ran))
		rc = EXIT_TASK;
	else if (!dry && printresults(pl, g, o) < 0)
		rc = EXIT_USAGE;
	else
		rc = EXIT_DONE;
	goto out;
fail:
	sayerr(&err);
	if (err.code == FR_ESYS || err.code == FR_ESTATE)
		rc = EXIT_TASK;
	else
		rc = EXIT_USAGE;
out:
	views_free(o, &v);
	if (early_take(&early, &estate, &eerr))
		fr_state_close(estate, NULL);
	fr_state_close(state, NULL);
	if (!freeall()) {
		/* the process ends now: the kernel takes the model back faster
		 * than free(3) would, piece by piece (as ninja and cc do) */
		fr_plan_stop(pl);
		return rc;
	}
	fr_plan_free(pl);
	fr_graph_free(g);
	fr_pipeline_free(p);
	free(all);
	return rc;
}

/* Under LeakSanitizer (--enable-asan), the plugin configuration Graphviz
 * 2.43 never frees (gvconfig, allocated in libgvc, whose frames the fast
 * unwinder cannot see past) and the font caches fontconfig keeps for the
 * process are theirs, not leaks of flowrun. The hook is the sanitizer's; a
 * build without it never calls this. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libgvc.so\nleak:libfontconfig.so\n";
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	int first, rc;
	size_t i;

	/* a call task's worker process (isolation: process) is flowrun itself */
	if (argc == 2 && strcmp(argv[1], "--call-worker") == 0)
		return fr_call_worker_main();
	/* big blocks (the YAML text, the stamp read back, arena blocks, tables)
	 * mapped apart and unmapped when freed. By default glibc raises this
	 * threshold to the size of each mapped block freed, so after the YAML
	 * text (12 MB at 100,000 tasks) everything smaller came from the heap,
	 * where what is freed stays: 12 MB more at the peak of a change run. */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	fr_log_set_sink(logsink, &o);
	if ((first = parseargs(argc, argv, &o)) < 0)
		return EXIT_USAGE;
	rc = run(&o, argv + first, (size_t)(argc - first));
	free(o.cwd);
	free(o.pdir);
	free(o.shown);
	for (i = 0; i < FR_NELEM(o.made); i++)
		free(o.made[i]);
	free(o.def);
	free(o.result);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			say("cannot write to standard output: %s", strerror(errno));
		if (rc == EXIT_DONE)
			rc = EXIT_TASK;
	}
	return rc;
}
