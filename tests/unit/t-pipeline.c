/* SPDX-License-Identifier: MIT */
/* t-pipeline: the declared model of lib/pipeline.c as loaded from small
 * pipelines: every field of a declaration, the streamed and the full-tree
 * load giving the same model, many tasks, and templates kept as written. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "pipeline.h"
#include "scratch.h"
#include "tap.h"

static struct fr_error err;
static struct fr_pipeline *pipe_;

/* Load yaml as flowrun.yaml: the pipeline, or NULL with err set. */
static struct fr_pipeline *
load(const char *yaml)
{
	fr_pipeline_free(pipe_);
	writefile("flowrun.yaml", yaml);
	fr_error_clear(&err);
	pipe_ = fr_pipeline_load("flowrun.yaml", NULL, 0, FR_CACHE_OFF, &err);
	if (!pipe_)
		printf("# load: %s\n", err.text);
	return pipe_;
}

static void
tmpls(struct fr_buf *b, const char *what, char *const *t, size_t n)
{
	size_t i;

	if (!n)
		return;
	fr_buf_printf(b, " %s=", what);
	for (i = 0; i < n; i++)
		fr_buf_printf(b, "%s[%s]", i ? "," : "", t[i]);
}

/* Every field of d as one line of text; with marks, where its name and its
 * needs were declared too. */
static void
dumptask(struct fr_buf *b, const struct fr_taskdecl *d, int marks)
{
	static const char *const act[] = { "none", "run", "call", "fetch" };
	static const char *const fek[] = { "list", "glob", "range" };
	size_t i;

	fr_buf_printf(b, "%s #%lu", d->name, (unsigned long)d->index);
	if (marks)
		fr_buf_printf(b, "@%u:%u", d->line, d->col);
	fr_buf_printf(b, " %s", act[d->action]);
	if (d->opt->desc)
		fr_buf_printf(b, " desc=[%s]", d->opt->desc);
	if (d->run)
		fr_buf_printf(b, " run=[%s]", d->run);
	if (d->opt->shell)
		fr_buf_printf(b, " shell=[%s]", d->opt->shell);
	if (d->opt->library)
		fr_buf_printf(b, " library=[%s]", d->opt->library->src);
	if (d->opt->function)
		fr_buf_printf(b, " function=%s", d->opt->function);
	if (d->opt->args) {
		char *s = json_dumps(d->opt->args->skel, JSON_COMPACT | JSON_SORT_KEYS);
		fr_buf_printf(b, " args=%s", s);
		free(s);
		for (i = 0; i < d->opt->args->ntmpl; i++)
			fr_buf_printf(b, "%s[%s]", i ? "," : " argt=", d->opt->args->tmpl[i]->src);
	}
	if (d->opt->fetch)
		fr_buf_printf(b, " url=[%s]", d->opt->fetch->url->src);
	if (d->opt->isolation != FR_ISO_THREAD)
		fr_buf_printf(b, " isolation=process");
	for (i = 0; i < d->nneed; i++) {
		fr_buf_printf(b, "%s%s", i ? "," : " needs=", d->need[i].name);
		if (marks)
			fr_buf_printf(b, "@%u:%u", d->need[i].mark.line, d->need[i].mark.col);
	}
	tmpls(b, "inputs", fr_taskdecl_input(d), d->ninput);
	tmpls(b, "outputs", fr_taskdecl_output(d), d->noutput);
	for (i = 0; i < d->opt->nenv; i++)
		fr_buf_printf(b, "%s%s=[%s]", i ? "," : " env=", d->opt->env[i].name, d->opt->env[i].value->src);
	if (d->opt->dir)
		fr_buf_printf(b, " dir=[%s]", d->opt->dir->src);
	if (d->opt->timeout_ns)
		fr_buf_printf(b, " timeout=%lldns", (long long)d->opt->timeout_ns);
	if (d->opt->retries)
		fr_buf_printf(b, " retries=%d", (int)d->opt->retries);
	if (d->always)
		fr_buf_printf(b, " always");
	for (i = 0; i < d->opt->nforeach; i++) {
		const struct fr_foreach *f = &d->opt->foreach[i];
		fr_buf_printf(b, "%s%s:%s", i ? "," : " foreach=", f->name, fek[f->kind]);
		if (f->kind == FR_FOREACH_LIST) {
			char *s = json_dumps(f->list, JSON_COMPACT);
			fr_buf_printf(b, "%s", s);
			free(s);
		} else if (f->kind == FR_FOREACH_GLOB) {
			fr_buf_printf(b, "(%s)", f->glob);
		} else {
			fr_buf_printf(b, "(%lld)", f->range);
		}
	}
	if (d->opt->result == FR_RESULT_STDOUT)
		fr_buf_printf(b, " result=stdout");
	if (d->opt->priority)
		fr_buf_printf(b, " priority=%d", (int)d->opt->priority);
	if (d->opt->pool >= 0)
		fr_buf_printf(b, " pool=%d", (int)d->opt->pool);
	for (i = 0; i < d->opt->nuses; i++)
		fr_buf_printf(b, "%s%s", i ? "," : " uses=", d->opt->uses[i]->name);
	fr_buf_addc(b, '\n');
}

/* All of p's tasks, dumped; new string. */
static char *
dump(const struct fr_pipeline *p, int marks)
{
	struct fr_buf b = {0};
	size_t i;

	for (i = 0; i < p->ntask; i++)
		dumptask(&b, p->task[i], marks);
	return fr_buf_steal(&b);
}

#define HEAD \
	"flowrun: 1\n" \
	"vars:\n" \
	"  n: 3\n" \
	"pools:\n" \
	"  slow: 1\n" \
	"  db: 2\n" \
	"defaults:\n" \
	"  retries: 2\n"

#define TASKS \
	"tasks:\n" \
	"  gen:\n" \
	"    desc: makes the list\n" \
	"    run: seq ${{ n }} > $${{ out }}\n" \
	"    outputs: list.txt\n" \
	"    shell: /bin/bash -c\n" \
	"    timeout: 90s\n" \
	"    priority: -4\n" \
	"    pool: db\n" \
	"    result: stdout\n" \
	"  sum:\n" \
	"    call: {function: sum, args: {xs: \"${{ tasks.gen.result }}\", k: [1, two]}}\n" \
	"    isolation: process\n" \
	"    needs: [gen]\n" \
	"    retries: 0\n" \
	"  each:\n" \
	"    foreach: {i: [1, 2], f: {glob: \"*.c\"}, r: {range: 2}}\n" \
	"    run: echo ${{ i }} ${{ f }} ${{ r }} ${{ tasks.gen.result }} ${{ tasks.sum.result }}" \
	" ${{ tasks.gen.outputs }}\n" \
	"    inputs: [\"in/${{ i }}\", list.txt]\n" \
	"    outputs: [\"o/${{ i }}.${{ r }}\"]\n" \
	"    env: {A: \"x${{ env.HOME }}\", B: 2}\n" \
	"    dir: sub/${{ i }}\n" \
	"    always: true\n" \
	"    needs: gen\n" \
	"  plain:\n" \
	"    run: \"true\"\n" \
	"  group:\n" \
	"    needs: [plain, each]\n"

static const char want[] =
	"gen #0@10:3 run desc=[makes the list] run=[seq ${{ n }} > $${{ out }}] shell=[/bin/bash -c]"
	" outputs=[list.txt] timeout=90000000000ns retries=2 result=stdout priority=-4 pool=1\n"
	"sum #1@19:3 call function=sum args={\"k\":[1,\"two\"],\"xs\":\"\\u00010\"}"
	" argt=[${{ tasks.gen.result }}] isolation=process needs=gen@22:13 uses=gen\n"
	"each #2@24:3 run run=[echo ${{ i }} ${{ f }} ${{ r }} ${{ tasks.gen.result }}"
	" ${{ tasks.sum.result }} ${{ tasks.gen.outputs }}] needs=gen@32:12"
	" inputs=[in/${{ i }}],[list.txt] outputs=[o/${{ i }}.${{ r }}]"
	" env=A=[x${{ env.HOME }}],B=[2] dir=[sub/${{ i }}] retries=2 always"
	" foreach=i:list[1,2],f:glob(*.c),r:range(2) uses=gen,sum\n"
	"plain #3@33:3 run run=[true] retries=2\n"
	"group #4@35:3 none needs=plain@36:13,each@36:20 retries=2\n";

static void
test_fields(void)
{
	char *got;

	if (!ok(load(HEAD TASKS) != NULL, "fields: loads"))
		return;
	got = dump(pipe_, 1);
	is_str(got, want, "fields: every one as declared");
	free(got);
	ok(fr_pipeline_task(pipe_, "each") == pipe_->task[2], "fields: found by name");
	ok(fr_pipeline_task(pipe_, "nothing") == NULL, "fields: an unknown name is not");
	fr_pipeline_forget_names(pipe_);
	ok(pipe_->bytask == NULL, "fields: the table by name is forgotten");
	ok(fr_pipeline_task(pipe_, "each") == pipe_->task[2] &&
	    fr_pipeline_task(pipe_, pipe_->task[0]->name) == pipe_->task[0] &&
	    fr_pipeline_task(pipe_, "nothing") == NULL && pipe_->bytask != NULL,
	    "fields: and made again when a name is asked for");
	ok(pipe_->npool == 2 && !strcmp(pipe_->pool[1].name, "db") && pipe_->pool[1].limit == 2,
	    "fields: pools");
}

/* With the head after 'tasks', loading cannot stream and reads the whole tree. */
static void
test_paths(void)
{
	char *streamed = NULL, *whole = NULL;

	if (load(HEAD TASKS))
		streamed = dump(pipe_, 0);
	if (load("flowrun: 1\n" TASKS "vars:\n  n: 3\npools:\n  slow: 1\n  db: 2\n"
	    "defaults:\n  retries: 2\n"))
		whole = dump(pipe_, 0);
	ok(streamed && whole, "paths: both load");
	is_str(whole, streamed, "paths: a whole-tree load makes the same declarations");
	free(streamed);
	free(whole);
}

/* More tasks than one arena block or a small task array holds. */
static void
test_many(void)
{
	enum { N = 5000 };
	struct fr_buf y = {0};
	size_t i, bad = 0;
	char name[32], in[32];

	fr_buf_printf(&y, "flowrun: 1\ntasks:\n");
	for (i = 0; i < N; i++)
		fr_buf_printf(&y, "  t%zu:\n    run: cksum in/L%zu > o/%zu\n    inputs: [in/L%zu]\n"
		    "    outputs: [o/%zu]\n%s", i, i, i, i, i, i ? "    needs: t0\n" : "");
	if (!ok(load(fr_buf_str(&y)) != NULL, "many: loads")) {
		fr_buf_free(&y);
		return;
	}
	fr_buf_free(&y);
	is_int(pipe_->ntask, N, "many: every task");
	for (i = 0; i < N; i++) {
		const struct fr_taskdecl *d = pipe_->task[i];
		unsigned line = i ? 7 + 5 * ((unsigned)i - 1) : 3;
		struct fr_mark mi = fr_pipeline_pathmark(pipe_, d, 0, 0),
		    mo = fr_pipeline_pathmark(pipe_, d, 1, 0);
		snprintf(name, sizeof(name), "t%zu", i);
		snprintf(in, sizeof(in), "in/L%zu", i);
		if (strcmp(d->name, name) || d->index != i || fr_pipeline_task(pipe_, name) != d ||
		    d->ninput != 1 || strcmp(fr_taskdecl_input(d)[0], in) || d->noutput != 1 ||
		    fr_taskdecl_input(d) != &d->inputs.one ||
		    !fr_tmpl_isbare(fr_taskdecl_input(d)[0]) ||
		    !fr_tmpl_isbare(fr_taskdecl_output(d)[0]) ||
		    d->nneed != (i ? 1u : 0u) || (i && strcmp(d->need[0].name, "t0")) ||
		    d->line != line || mi.line != line + 2 || mi.col != 14 ||
		    mo.line != line + 3 || mo.col != 15)
			bad++;
	}
	is_int(bad, 0, "many: each task whole, in order, found by name, its paths bare "
	    "and their marks kept");
	fr_pipeline_forget_marks(pipe_);
	{
		struct fr_mark m = fr_pipeline_pathmark(pipe_, pipe_->task[9], 1, 0);
		ok(m.line == 7 + 5 * 8 && m.col == 3, "many: a forgotten path mark is the task's");
	}
}

/* uses: each task named by tasks.X once, in the order first named. */
static void
test_uses(void)
{
	struct fr_buf y = {0};
	const struct fr_taskdecl *d;
	const struct fr_tmpl *run;
	size_t i;
	char *got;

	fr_buf_printf(&y, "flowrun: 1\ntasks:\n");
	for (i = 0; i < 9; i++)
		fr_buf_printf(&y, "  u%zu: {run: \"true\"}\n", i);
	fr_buf_printf(&y, "  last:\n    run: echo");
	for (i = 0; i < 9; i++)
		fr_buf_printf(&y, " ${{ tasks.u%zu.result }} ${{ tasks.u%zu.outputs }}", i, 8 - i);
	fr_buf_printf(&y, "\n");
	if (!ok(load(fr_buf_str(&y)) != NULL, "uses: loads")) {
		fr_buf_free(&y);
		return;
	}
	fr_buf_free(&y);
	d = fr_pipeline_task(pipe_, "last");
	got = dump(pipe_, 0);
	ok(d && d->opt->nuses == 9, "uses: nine tasks");
	ok(strstr(got, " uses=u0,u8,u1,u7,u2,u6,u3,u5,u4\n") != NULL, "uses: once each, in order");
	run = d ? fr_tmpl_of(d->run) : NULL;
	for (i = 0; d && i < run->nseg; i++)
		if (fr_tmpl_segs(run)[i].ref && fr_tmpl_segs(run)[i].ref->target !=
		    fr_pipeline_task(pipe_, fr_tmpl_segs(run)[i].ref->name))
			break;
	ok(d && i == run->nseg, "uses: every reference resolved to its task");
	free(got);
}

/* Errors after some tasks loaded (ASan checks that nothing leaks). */
static void
test_errors(void)
{
	ok(!load("flowrun: 1\ntasks:\n  a: {run: x, inputs: [p]}\n  b:\n    run: y\n    env: {A: 1}\n"
	    "    dir: \"${{ nope }}\"\n"), "errors: unknown name");
	ok(strstr(err.text, "unknown name 'nope'") && err.line == 7, "errors: said at 7 (%u): %s",
	    err.line, err.text);
	ok(!load("flowrun: 1\ntasks:\n  a: {run: x, desc: d, foreach: {i: [1]}}\n  b:\n"
	    "    run: \"${{ x\"\n"), "errors: unterminated");
	ok(strstr(err.text, "unterminated") && err.line == 5, "errors: said at 5 (%u): %s",
	    err.line, err.text);
	ok(!load("flowrun: 1\ntasks:\n  a: {run: x, needs: [zz]}\n"), "errors: unknown need");
	ok(strstr(err.text, "unknown task 'zz'") != NULL, "errors: %s", err.text);
}

/* The extremes of each narrowed field come back as written. */
static void
test_widths(void)
{
	char *got;

	if (!ok(load("flowrun: 1\npools: {a: 1, b: 1, c: 1}\ntasks:\n"
	    "  hi: {run: x, retries: 1000, priority: 2147483647, timeout: 9000h, pool: c,"
	    " result: stdout, always: true}\n"
	    "  lo: {run: x, priority: -2147483648, timeout: 1ms, always: false}\n"
	    "  fn: {call: {function: len}, isolation: process}\n") != NULL, "widths: loads"))
		return;
	got = dump(pipe_, 0);
	is_str(got, "hi #0 run run=[x] timeout=32400000000000000ns retries=1000 always result=stdout"
	    " priority=2147483647 pool=2\n"
	    "lo #1 run run=[x] timeout=1000000ns priority=-2147483648\n"
	    "fn #2 call function=len isolation=process\n", "widths: extremes kept");
	free(got);
}

/* Options are shared until a task sets one, and sharing never shows. */
static void
test_options(void)
{
	char *bare = NULL, *same = NULL, *perdflt = NULL, *pertask = NULL;
	const struct fr_taskdecl *a, *b, *c;

	/* no options, and options set to what they are anyway */
	if (load("flowrun: 1\npools: {p: 1}\ntasks:\n  a: {run: x}\n  b: {needs: a}\n"
	    "  c: {call: {function: len}}\n"))
		bare = dump(pipe_, 0);
	ok(pipe_ && pipe_->task[0]->opt == &fr_taskopt_none &&
	    pipe_->task[1]->opt == &fr_taskopt_none, "options: tasks that set none share none");
	ok(pipe_ && pipe_->task[2]->opt != &fr_taskopt_none, "options: a call task has its own");
	if (load("flowrun: 1\npools: {p: 1}\ntasks:\n"
	    "  a: {run: x, retries: 0, priority: 0, result: none, timeout: 0s, always: false}\n"
	    "  b: {needs: a, retries: 0}\n"
	    "  c: {call: {function: len}, isolation: thread}\n"))
		same = dump(pipe_, 0);
	ok(pipe_ && pipe_->task[0]->opt == &fr_taskopt_none &&
	    pipe_->task[1]->opt == &fr_taskopt_none, "options: set as they are, still shared");
	ok(bare && same, "options: both load");
	is_str(same, bare, "options: the same declarations");
	ok(fr_taskopt_none.pool == -1 && !fr_taskopt_none.shell && !fr_taskopt_none.retries,
	    "options: none is no pool, the default shell, no retries");

	/* the defaults, shared; or said in each task */
	if (load("flowrun: 1\ndefaults: {retries: 3, shell: /bin/bash -c, timeout: 5s}\ntasks:\n"
	    "  a: {run: x}\n  b: {needs: a}\n  c: {run: y, retries: 1, desc: c}\n"
	    "  d: {run: z, dir: w}\n")) {
		perdflt = dump(pipe_, 0);
		a = pipe_->task[0];
		b = pipe_->task[1];
		c = pipe_->task[2];
		ok(a->opt == b->opt && a->opt != &fr_taskopt_none, "options: one for the defaults");
		ok(c->opt != a->opt && c->opt->retries == 1 && a->opt->retries == 3,
		    "options: a task's own leave the shared ones alone");
	}
	if (load("flowrun: 1\ntasks:\n"
	    "  a: {run: x, retries: 3, shell: /bin/bash -c, timeout: 5s}\n"
	    "  b: {needs: a, retries: 3, shell: /bin/bash -c, timeout: 5s}\n"
	    "  c: {run: y, retries: 1, desc: c, shell: /bin/bash -c, timeout: 5s}\n"
	    "  d: {run: z, dir: w, retries: 3, shell: /bin/bash -c, timeout: 5s}\n"))
		pertask = dump(pipe_, 0);
	ok(perdflt && pertask, "options: defaults and per task load");
	is_str(perdflt, pertask, "options: defaults are as if said in each task");
	ok(perdflt && strstr(perdflt, "c #2 run desc=[c] run=[y] shell=[/bin/bash -c]"
	    " timeout=5000000000ns retries=1\n"), "options: a task's own over the defaults");

	/* a bad default: what a task says first comes first; unused, no error */
	ok(!load("flowrun: 1\ndefaults: {timeout: soon}\ntasks:\n  a: {run: [x]}\n"),
	    "options: bad default and bad run fail");
	ok(strstr(err.text, "'run'") && err.line == 4, "options: the run is said first: %u %s",
	    err.line, err.text);
	ok(!load("flowrun: 1\ndefaults: {timeout: soon}\ntasks:\n  a: {run: x}\n"),
	    "options: a bad default fails");
	ok(strstr(err.text, "timeout") && err.line == 2, "options: at the default: %u %s",
	    err.line, err.text);
	ok(load("flowrun: 1\ndefaults: {timeout: soon}\ntasks:\n  a: {run: x, timeout: 1s}\n")
	    != NULL, "options: a bad default no task uses");
	free(bare);
	free(same);
	free(perdflt);
	free(pertask);
}

int
main(void)
{
	char dir[512];

	scratch_enter("t-pipeline", dir, sizeof(dir));
	setenv("HOME", "/home/t", 1);
	test_fields();
	test_paths();
	test_widths();
	test_options();
	test_many();
	test_uses();
	test_errors();
	fr_pipeline_free(pipe_);
	fr_pipeline_free(NULL);
	scratch_leave(dir);
	return done_testing();
}
