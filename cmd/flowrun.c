/* SPDX-License-Identifier: MIT */
/* flowrun: the command line. Parses options, loads the pipeline, runs it and
 * presents what happens; the only place that prints for the user or exits. */
#define _DEFAULT_SOURCE		/* sbrk, madvise */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
#include "sched.h"
#include "state.h"
#include "util.h"

/* Exit statuses; documented in flowrun(1) and used by the tests. */
enum {
	EXIT_DONE = 0,		/* every needed task is done or up to date */
	EXIT_TASK = 1,		/* a task failed (or the state could not be used) */
	EXIT_USAGE = 2,		/* the pipeline or the command line is wrong */
	EXIT_SIGNAL = 128,	/* + the signal that stopped the run */
};

#define SUMMARY_LINES 10

struct failure {
	char *name, *message, *tail;
};

struct opts {
	const char *file, *dir;
	unsigned jobs;
	int keep_going, dry, force, explain, list, dot, verbose, quiet, nowait;
	struct fr_define *def;
	size_t ndef, defcap;
	char **result;
	size_t nresult, resultcap;
	struct failure *fail;
	size_t nfail, failcap;
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
    "  --list          list the tasks with their descriptions\n"
    "  --dot           write the task graph as Graphviz DOT\n"
    "  --result TASK   run what TASK needs and print its result as JSON\n"
    "  --no-wait       fail at once if another flowrun holds the lock\n"
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
	say("%s%s", level == FR_LOG_WARN ? "warning: " : "", msg);
}

/* The last n lines of out, each prefixed for the failure summary. */
static char *
tail(const char *out, size_t len, int n)
{
	struct fr_buf b = {0};
	size_t start = len;
	int lines = 0;

	while (len > 0 && out[len - 1] == '\n')
		len--;
	start = len;
	while (start > 0 && lines < n) {
		start--;
		if (out[start] == '\n' && ++lines == n) {
			start++;
			break;
		}
	}
	while (start < len) {
		const char *nl = memchr(out + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - out) : len;
		fr_buf_printf(&b, "    | %.*s\n", (int)(end - start), out + start);
		start = end + 1;
	}
	return fr_buf_steal(&b);
}

static void
printoutput(const char *out, size_t len)
{
	if (len == 0)
		return;
	fwrite(out, 1, len, stdout);
	if (out[len - 1] != '\n')
		fputc('\n', stdout);
}

/* The terminal presenter: one block per task, printed whole when it ends. */
static void
present(const struct fr_event *ev, void *arg)
{
	struct opts *o = arg;
	const char *name = ev->task ? ev->task->name : "";

	switch (ev->kind) {
	case FR_EV_TASK_SKIPPED:
		if (o->explain)
			printf("explain: %s: %s\n", name, ev->reason);
		break;
	case FR_EV_TASK_STARTED:
		if (o->explain)
			printf("explain: %s: %s\n", name, ev->reason);
		if (o->verbose)
			printf("[%s] $ %s\n", name, ev->cmd ? ev->cmd : "");
		break;
	case FR_EV_TASK_WOULD_RUN:
		printf("would run: %s (%s)\n", name, ev->reason);
		if (o->verbose && ev->cmd)
			printf("  $ %s\n", ev->cmd);
		break;
	case FR_EV_TASK_FINISHED:
		if (!o->quiet) {
			if (o->verbose)
				printf("[%zu/%zu] %s (%.2fs)\n", ev->done, ev->total, name,
				    (double)ev->duration_ns / 1e9);
			else
				printf("[%zu/%zu] %s\n", ev->done, ev->total, name);
			printoutput(ev->output, ev->outlen);
		}
		break;
	case FR_EV_TASK_RETRY:
		printf("[%zu/%zu] %s failed (%s), retry %d of %d\n", ev->done, ev->total, name,
		    ev->message, ev->attempt - 1, ev->task->decl->retries);
		printoutput(ev->output, ev->outlen);
		break;
	case FR_EV_TASK_FAILED: {
		struct failure f;
		printf("[%zu/%zu] FAILED: %s: %s\n", ev->done, ev->total, name, ev->message);
		printoutput(ev->output, ev->outlen);
		f.name = fr_xstrdup(name);
		f.message = fr_xstrdup(ev->message);
		f.tail = tail(ev->output ? ev->output : "", ev->outlen, SUMMARY_LINES);
		FR_PUSH(o->fail, o->nfail, o->failcap, f);
		break;
	}
	case FR_EV_RUN_START:
	case FR_EV_TASK_QUEUED:
	case FR_EV_RUN_END:
		break;
	}
	fflush(stdout);
}

static int
isyaml(const char *s)
{
	size_t n = strlen(s);
	return (n > 5 && strcmp(s + n - 5, ".yaml") == 0) || (n > 4 && strcmp(s + n - 4, ".yml") == 0);
}

static int
parseargs(int argc, char **argv, struct opts *o)
{
	enum { OPT_EXPLAIN = 256, OPT_LIST, OPT_DOT, OPT_RESULT, OPT_NOWAIT };
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
		{ "dot", no_argument, NULL, OPT_DOT },
		{ "result", required_argument, NULL, OPT_RESULT },
		{ "no-wait", no_argument, NULL, OPT_NOWAIT },
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
		case OPT_DOT: o->dot = 1; break;
		case OPT_RESULT: FR_PUSH(o->result, o->nresult, o->resultcap, optarg); break;
		case OPT_NOWAIT: o->nowait = 1; break;
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
		if (d->desc || d->nforeach)
			printf("%-*s  ", (int)width, d->name);
		else
			fputs(d->name, stdout);
		if (d->desc)
			printf("%s%s", d->desc, d->nforeach ? " " : "");
		if (d->nforeach)
			printf("(%zu instances)", g->count[d->index]);
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
		struct fr_task *t = v ? NULL : fr_htab_get(g->byname, o->result[i]);
		char *s;
		if (t)
			s = fr_xstrdup(t->result ? t->result : "null");
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

static void
summary(const struct opts *o, const struct fr_sched_stats *st)
{
	size_t i;

	if (st->signal)
		say("stopped by signal %d (%s)", st->signal, strsignal(st->signal));
	if (o->nfail == 0) {
		if (st->notrun && !st->signal)
			say("%zu tasks were not run", st->notrun);
		return;
	}
	say("%zu task%s failed:", o->nfail, o->nfail == 1 ? "" : "s");
	for (i = 0; i < o->nfail; i++)
		fprintf(stderr, "  %s: %s\n%s", o->fail[i].name, o->fail[i].message, o->fail[i].tail);
	if (st->notrun)
		say("%zu task%s not run", st->notrun, st->notrun == 1 ? " was" : "s were");
}

static int
run(struct opts *o, char **targets, size_t ntargets)
{
	struct fr_error err = {0};
	struct fr_pipeline *p = NULL;
	struct fr_graph *g = NULL;
	struct fr_state *state = NULL;
	struct fr_plan *pl = NULL;
	struct fr_sched_opts so = {0};
	struct fr_sched_stats st = {0};
	const char *file = o->file ? o->file : "flowrun.yaml";
	char **all = NULL;
	size_t nall = 0, allcap = 0, i;
	int rc = EXIT_USAGE, src;

	if (o->dir && chdir(o->dir) < 0) {
		say("cannot enter %s: %s", o->dir, strerror(errno));
		return EXIT_USAGE;
	}
	if (!o->file && access(file, F_OK) < 0) {
		say("no flowrun.yaml here (name a pipeline file, or use -f FILE or -C DIR)");
		return EXIT_USAGE;
	}
	if (!(p = fr_pipeline_load(file, o->def, o->ndef,
	    o->dry || o->list || o->dot ? FR_CACHE_READ : FR_CACHE_WRITE, &err)))
		goto fail;
	if (chdir(p->dir) < 0) {
		say("cannot enter %s: %s", p->dir, strerror(errno));
		goto out;
	}
	if (!(g = fr_graph_build(p, &err)))
		goto fail;
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
	if (o->dot) {
		rc = fr_dot_write(g, stdout, &err) < 0 ? EXIT_TASK : EXIT_DONE;
		if (rc)
			sayerr(&err);
		goto out;
	}
	rc = EXIT_TASK;
	state = fr_state_open(".flowrun", o->dry ? FR_LOCK_READONLY :
	    o->nowait ? FR_LOCK_FAIL : FR_LOCK_WAIT, waiting, NULL, &err);
	if (!state)
		goto fail;
	pl = fr_plan_new(g, state, o->force, o->dry);
	so.jobs = o->jobs;
	so.keep_going = o->keep_going;
	so.dry = o->dry;
	fr_event_subscribe(present, o);
	src = fr_sched_run(g, pl, &so, &st, &err);
	if (fr_state_close(state, src < 0 ? NULL : &err) < 0 && src >= 0)
		src = -1;
	state = NULL;
	if (src < 0)
		goto fail;
	summary(o, &st);
	if (st.signal)
		rc = EXIT_SIGNAL + st.signal;
	else if (src)
		rc = EXIT_TASK;
	else if (!o->dry && printresults(pl, g, o) < 0)
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
	fr_state_close(state, NULL);
	fr_plan_free(pl);
	fr_graph_free(g);
	fr_pipeline_free(p);
	free(all);
	return rc;
}

/* A no-op run of a big pipeline mostly touches fresh memory: let the heap
 * grow in large steps, keep what is freed for reuse instead of returning it,
 * and back the heap with transparent huge pages (the heap mapping keeps the
 * advice as it grows), which takes most page faults out of a no-op. */
static void
tunememory(void)
{
	const uintptr_t huge = 2u << 20;
	uintptr_t start, end;
	void *first;

	mallopt(M_TOP_PAD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	if (!(first = malloc(1)))
		return;
	start = ((uintptr_t)first + huge - 1) & ~(huge - 1);
	end = (uintptr_t)sbrk(0);
	if (end > start)
		madvise((void *)start, end - start, MADV_HUGEPAGE);	/* advice only */
	free(first);
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
	tunememory();
	fr_log_set_sink(logsink, &o);
	if ((first = parseargs(argc, argv, &o)) < 0)
		return EXIT_USAGE;
	rc = run(&o, argv + first, (size_t)(argc - first));
	for (i = 0; i < o.nfail; i++) {
		free(o.fail[i].name);
		free(o.fail[i].message);
		free(o.fail[i].tail);
	}
	free(o.fail);
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
