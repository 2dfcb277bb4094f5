/* SPDX-License-Identifier: MIT */
/* t-graph: instances, edges, order and target selection of lib/graph.c, built
 * from small pipelines through fr_pipeline_load, and fr_path_clean. Runs in a
 * temporary directory of its own, since the graph reads paths from the cwd. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "graph.h"
#include "pipeline.h"
#include "scratch.h"
#include "tap.h"

static struct fr_error err;
static struct fr_pipeline *pipe_;
static struct fr_graph *graph;

static void
drop(void)
{
	fr_graph_free(graph);
	fr_pipeline_free(pipe_);
	graph = NULL;
	pipe_ = NULL;
}

/* Load yaml as flowrun.yaml and build its graph; NULL with err set on failure
 * (the pipeline stays loaded when only the graph failed). */
static struct fr_graph *
build(const char *yaml)
{
	drop();
	writefile("flowrun.yaml", yaml);
	fr_error_clear(&err);
	if (!(pipe_ = fr_pipeline_load("flowrun.yaml", NULL, 0, FR_CACHE_OFF, &err)))
		return NULL;
	graph = fr_graph_build(pipe_, &err);
	return graph;
}

static struct fr_task *
task(const char *name)
{
	size_t i;

	for (i = 0; graph && i < graph->ntask; i++)
		if (strcmp(fr_task_name(graph->task[i]), name) == 0)
			return graph->task[i];
	return NULL;
}

/* The names of g's tasks (in graph order), joined by blanks. */
static char *
names(struct fr_task *const *t, size_t n)
{
	struct fr_buf b = {0};
	size_t i;

	for (i = 0; i < n; i++)
		fr_buf_printf(&b, "%s%s", i ? " " : "", fr_task_name(t[i]));
	return fr_buf_steal(&b);
}

static void
is_names(struct fr_task *const *t, size_t n, const char *want, const char *what)
{
	char *s = names(t, n);
	is_str(s, want, "%s", what);
	free(s);
}

/* The names of what t needs, sorted by instance id. */
static void
is_deps(const char *name, const char *want)
{
	struct fr_task *t = task(name), **d;
	size_t i, j;

	if (!ok(t != NULL, "task %s exists", name))
		return;
	d = calloc(t->ndep + 1, sizeof(*d));
	if (t->ndep)
		memcpy(d, fr_task_dep(t), t->ndep * sizeof(*d));
	for (i = 1; i < t->ndep; i++)
		for (j = i; j > 0 && d[j - 1]->id > d[j]->id; j--) {
			struct fr_task *x = d[j];
			d[j] = d[j - 1];
			d[j - 1] = x;
		}
	is_names(d, t->ndep, want, name);
	free(d);
}

static int
hasrdep(const char *name, const char *rname)
{
	struct fr_task *t = task(name);
	size_t i;

	for (i = 0; t && i < t->nrdep; i++)
		if (strcmp(fr_task_name(fr_task_rdep(t)[i]), rname) == 0)
			return 1;
	return 0;
}

static char *
joined(char **s, size_t n)
{
	struct fr_buf b = {0};
	size_t i;

	for (i = 0; i < n; i++)
		fr_buf_printf(&b, "%s%s", i ? " " : "", s[i]);
	return fr_buf_steal(&b);
}

static void
is_outputs(const char *name, const char *want)
{
	struct fr_task *t = task(name);
	char *s = t ? joined(fr_task_output(t), fr_task_noutput(t)) : NULL;
	is_str(s, want, "outputs of %s", name);
	free(s);
}

static void
is_inputs(const char *name, const char *want)
{
	struct fr_task *t = task(name);
	char *s = t ? joined(fr_task_input(t), fr_task_ninput(t)) : NULL;
	is_str(s, want, "inputs of %s", name);
	free(s);
}

/* Every task appears once in the order, after everything it needs. */
static int
ordered(void)
{
	size_t *pos, i, j;
	int good = 1;

	if (!graph)
		return 0;
	pos = calloc(graph->ntask, sizeof(*pos));
	for (i = 0; i < graph->ntask; i++)
		pos[i] = (size_t)-1;
	for (i = 0; i < graph->ntask; i++) {
		if (!graph->order[i] || pos[graph->order[i]->id] != (size_t)-1)
			good = 0;
		else
			pos[graph->order[i]->id] = i;
	}
	for (i = 0; good && i < graph->ntask; i++)
		for (j = 0; j < graph->task[i]->ndep; j++)
			if (pos[fr_task_dep(graph->task[i])[j]->id] >= pos[i])
				good = 0;
	free(pos);
	return good;
}

/* The names of the needed tasks, in graph order. */
static char *
needed(void)
{
	struct fr_buf b = {0};
	size_t i;

	for (i = 0; i < graph->ntask; i++)
		if (graph->task[i]->needed)
			fr_buf_printf(&b, "%s%s", b.len ? " " : "", fr_task_name(graph->task[i]));
	return fr_buf_steal(&b);
}

static void
selects(const char *targets, long count, const char *want)
{
	char *copy = strdup(targets), *tv[8], *tok, *save = NULL;
	size_t n = 0;
	long got;
	char *s;

	for (tok = strtok_r(copy, " ", &save); tok && n < 8; tok = strtok_r(NULL, " ", &save))
		tv[n++] = tok;
	fr_error_clear(&err);
	got = fr_graph_select(graph, tv, n, &err);
	is_int(got, count, "select '%s': count", targets);
	s = needed();
	is_str(s, want, "select '%s': needed", targets);
	free(s);
	if (got >= 0)
		is_int(graph->nneeded, count, "select '%s': nneeded", targets);
	free(copy);
}

static void
builds_not(const char *what, const char *yaml, const char *msg, unsigned line)
{
	struct fr_graph *g = build(yaml);

	ok(!g && pipe_ != NULL, "%s: loads, but no graph", what);
	is_int(err.code, FR_EPIPELINE, "%s: code", what);
	is_str(err.text, msg, "%s: message", what);
	if (line) {
		is_str(err.file, "flowrun.yaml", "%s: file", what);
		is_int(err.line, line, "%s: line", what);
	}
}

static void
test_instances(void)
{
	struct fr_task **inst, *t;
	size_t n = 0;

	mkdir("data", 0777);
	writefile("data/b.csv", "b\n");
	writefile("data/a.csv", "a\n");
	writefile("data/c.txt", "c\n");
	build("flowrun: 1\n"
	    "vars: {pair: [p.txt, \"./q//r.txt\"], base: out}\n"
	    "tasks:\n"
	    "  one:\n"
	    "    run: echo\n"
	    "    outputs: [\"./one//out.txt\"]\n"
	    "  sq:\n"
	    "    foreach: {x: [30, 85, \"a b\", true, 1.5, null, -2]}\n"
	    "    run: echo ${{ x }}\n"
	    "    outputs: [\"${{ base }}/sq-${{ x }}.txt\"]\n"
	    "  r:\n"
	    "    foreach: {k: {range: 3}}\n"
	    "    run: echo ${{ k }}\n"
	    "  none:\n"
	    "    foreach: {k: {range: 0}}\n"
	    "    run: echo ${{ k }}\n"
	    "  p:\n"
	    "    foreach: {a: [1, 2], b: [x, y, z]}\n"
	    "    run: echo ${{ a }}${{ b }}\n"
	    "  g:\n"
	    "    foreach: {f: {glob: \"data/*.csv\"}}\n"
	    "    run: wc -l ${{ f }}\n"
	    "  three:\n"
	    "    foreach: {a: [1], b: {range: 2}, c: [u, v]}\n"
	    "    run: echo\n"
	    "  lists:\n"
	    "    run: echo\n"
	    "    outputs: \"${{ pair }}\"\n");
	ok(graph != NULL, "instances: the graph builds (%s)", err.text);
	if (!graph)
		return;
	is_names(graph->task, graph->ntask,
	    "one sq[x=30] sq[x=85] sq[x=a b] sq[x=true] sq[x=1.5] sq[x=null] sq[x=-2] "
	    "r[k=0] r[k=1] r[k=2] "
	    "p[a=1,b=x] p[a=1,b=y] p[a=1,b=z] p[a=2,b=x] p[a=2,b=y] p[a=2,b=z] "
	    "g[f=data/a.csv] g[f=data/b.csv] "
	    "three[a=1,b=0,c=u] three[a=1,b=0,c=v] three[a=1,b=1,c=u] three[a=1,b=1,c=v] lists",
	    "instances in declaration order, last foreach name varying fastest, globs sorted");
	t = task("one");
	ok(t && fr_task_bind(graph, t, 0) == NULL, "a task without foreach has no bindings");
	t = task("sq[x=30]");
	ok(t && json_is_integer(fr_task_bind(graph, t, 0)) &&
	    json_integer_value(fr_task_bind(graph, t, 0)) == 30,
	    "sq[x=30] binds x to the number 30");
	t = task("sq[x=a b]");
	ok(t && json_is_string(fr_task_bind(graph, t, 0)), "sq[x=a b] binds x to a string");
	t = task("p[a=2,b=y]");
	ok(t && json_integer_value(fr_task_bind(graph, t, 0)) == 2 &&
	    json_is_string(fr_task_bind(graph, t, 1)) && strcmp(json_string_value(fr_task_bind(graph, t, 1)), "y") == 0,
	    "p[a=2,b=y] binds a=2, b=\"y\" in slot order");
	t = task("r[k=2]");
	ok(t && json_is_integer(fr_task_bind(graph, t, 0)), "range values are numbers");
	for (n = 0; n < graph->ntask; n++)
		if (graph->task[n]->id != n)
			break;
	is_int(n, graph->ntask, "each task's id is its index");

	inst = fr_graph_instances(graph, "p", &n);
	ok(inst && n == 6 && strcmp(fr_task_name(inst[0]), "p[a=1,b=x]") == 0 &&
	    strcmp(fr_task_name(inst[5]), "p[a=2,b=z]") == 0, "fr_graph_instances: p has 6");
	inst = fr_graph_instances(graph, "one", &n);
	ok(inst && n == 1 && inst[0] == task("one"), "fr_graph_instances: one has 1");
	n = 99;
	ok(fr_graph_instances(graph, "none", &n) == NULL, "range 0: no instances");
	ok(fr_graph_instances(graph, "nosuch", &n) == NULL, "fr_graph_instances: unknown task");

	is_outputs("one", "one/out.txt");
	is_outputs("sq[x=30]", "out/sq-30.txt");
	is_outputs("sq[x=a b]", "out/sq-a b.txt");
	is_outputs("sq[x=1.5]", "out/sq-1.5.txt");
	is_outputs("lists", "p.txt q/r.txt");
	ok(fr_htab_get(graph->byoutput, "q/r.txt") == task("lists"), "byoutput knows cleaned paths");
	ok(fr_graph_task(graph, "sq[x=85]") == task("sq[x=85]"), "fr_graph_task knows instances");
	ok(fr_graph_task(graph, "one") == task("one"), "fr_graph_task knows a task without foreach");
	ok(task("one") && fr_task_name(task("one")) == task("one")->decl->name,
	    "a task without foreach borrows its declaration's name");
	ok(fr_graph_task(graph, "sq") == NULL, "fr_graph_task: a foreach task is not an instance");
	ok(fr_graph_task(graph, "sq[x=86]") == NULL, "fr_graph_task: no such instance");
	ok(fr_graph_task(graph, "nosuch") == NULL, "fr_graph_task: unknown task");
	ok(ordered(), "instances: the order is topological");

	builds_not("a foreach making one instance twice",
	    "flowrun: 1\ntasks:\n  d:\n    foreach: {x: [1, \"1\"]}\n    run: echo\n",
	    "foreach of task 'd' makes the instance d[x=1] twice", 3);
	builds_not("two tasks writing one output",
	    "flowrun: 1\ntasks:\n  a:\n    run: echo\n    outputs: [o.txt]\n"
	    "  b:\n    run: echo\n    outputs: [\"./o.txt\"]\n",
	    "output 'o.txt' of b is also an output of a", 8);
	builds_not("two instances writing one output",
	    "flowrun: 1\ntasks:\n  a:\n    foreach: {x: [1, 2]}\n    run: echo\n"
	    "    outputs: [same.txt]\n",
	    "output 'same.txt' of a[x=2] is also an output of a[x=1]", 6);
	builds_not("a path empty after templating",
	    "flowrun: 1\nvars: {e: \"\"}\ntasks:\n  a:\n    run: echo\n    outputs: [\"${{ e }}\"]\n",
	    "path is empty after templating", 6);
	drop();
}

static void
test_edges(void)
{
	struct fr_task *t;

	build("flowrun: 1\n"
	    "tasks:\n"
	    "  src:\n"
	    "    run: echo\n"
	    "    outputs: [src.txt]\n"
	    "  sq:\n"
	    "    foreach: {x: [1, 2, 3]}\n"
	    "    run: echo ${{ x }}\n"
	    "    inputs: [src.txt]\n"
	    "    outputs: [\"out/${{ x }}.txt\"]\n"
	    "  one:\n"
	    "    run: cat out/2.txt\n"
	    "    inputs: [\"./out//2.txt\"]\n"
	    "  all:\n"
	    "    run: cat out/*.txt\n"
	    "    inputs: [\"out/*.txt\", src.txt]\n"
	    "  top:\n"
	    "    run: echo\n"
	    "    inputs: [\"*.txt\"]\n"
	    "  fan:\n"
	    "    run: echo\n"
	    "    needs: sq\n"
	    "  res:\n"
	    "    run: echo '${{ tasks.sq.result }}'\n"
	    "  outs:\n"
	    "    run: echo\n"
	    "    inputs: \"${{ tasks.sq.outputs }}\"\n"
	    "  envres:\n"
	    "    run: echo\n"
	    "    env: {R: \"${{ tasks.one.result }}\"}\n"
	    "  twice:\n"
	    "    run: echo ${{ tasks.src.result }}\n"
	    "    needs: [src, src]\n"
	    "    inputs: [src.txt, src.txt]\n"
	    "  free:\n"
	    "    run: echo\n"
	    "    inputs: [not-made-by-anyone.txt]\n");
	ok(graph != NULL, "edges: the graph builds (%s)", err.text);
	if (!graph)
		return;
	t = task("src");
	ok(t && fr_task_output(t)[0] == fr_taskdecl_output(t->decl)[0],
	    "a plain clean path is the template's own text, not a copy");
	t = task("one");
	ok(t && fr_task_input(t)[0] != fr_taskdecl_input(t->decl)[0] &&
	    strcmp(fr_task_input(t)[0], "out/2.txt") == 0,
	    "a plain path that needs cleaning is a cleaned copy");
	is_deps("src", "");
	is_deps("sq[x=2]", "src");
	is_deps("one", "sq[x=2]");
	is_deps("all", "src sq[x=1] sq[x=2] sq[x=3]");
	is_deps("top", "src");
	is_deps("fan", "sq[x=1] sq[x=2] sq[x=3]");
	is_deps("res", "sq[x=1] sq[x=2] sq[x=3]");
	is_deps("outs", "sq[x=1] sq[x=2] sq[x=3]");
	is_deps("envres", "one");
	is_deps("twice", "src");
	is_deps("free", "");
	is_inputs("one", "out/2.txt");
	is_inputs("outs", "out/1.txt out/2.txt out/3.txt");
	ok(hasrdep("src", "sq[x=1]") && hasrdep("src", "all") && hasrdep("src", "twice") &&
	    hasrdep("sq[x=2]", "one") && !hasrdep("sq[x=1]", "one"), "reverse edges");
	t = task("src");
	is_int(t ? t->nrdep : 0, 6, "src feeds sq x3, all, top and twice, each once");
	ok(ordered(), "edges: the order is topological");

	builds_not("a task reading its own output",
	    "flowrun: 1\ntasks:\n  a:\n    run: echo\n    inputs: [o.txt]\n    outputs: [o.txt]\n",
	    "task a reads its own output (input 'o.txt')", 5);
	builds_not("a task reading its own output through a glob",
	    "flowrun: 1\ntasks:\n  a:\n    run: echo\n    inputs: [\"*.txt\"]\n    outputs: [o.txt]\n",
	    "task a reads its own output (input '*.txt')", 5);
	builds_not("a task needing itself",
	    "flowrun: 1\ntasks:\n  a:\n    run: echo\n    needs: [a]\n",
	    "dependency cycle: a -> a (a task cannot need itself)", 5);
	drop();
}

static void
test_order(void)
{
	size_t i, pa = 0, pb = 0, pc = 0, pd = 0;

	/* declared against the flow of work: the order must turn it around */
	build("flowrun: 1\n"
	    "tasks:\n"
	    "  d:\n    run: echo\n    needs: [c, b]\n"
	    "  c:\n    run: echo\n    inputs: [b.txt]\n"
	    "  b:\n    run: echo\n    outputs: [b.txt]\n    needs: a\n"
	    "  a:\n    run: echo\n");
	ok(graph != NULL, "order: the graph builds (%s)", err.text);
	if (!graph)
		return;
	for (i = 0; i < graph->ntask; i++) {
		const char *n = fr_task_name(graph->order[i]);
		if (!strcmp(n, "a")) pa = i;
		if (!strcmp(n, "b")) pb = i;
		if (!strcmp(n, "c")) pc = i;
		if (!strcmp(n, "d")) pd = i;
	}
	ok(pa < pb && pb < pc && pc < pd, "a before b before c before d (%zu %zu %zu %zu)",
	    pa, pb, pc, pd);
	ok(ordered(), "order: topological");
	is_names(graph->task, graph->ntask, "d c b a", "graph->task stays in declaration order");

	/* a diamond with a fan-out in the middle */
	build("flowrun: 1\n"
	    "tasks:\n"
	    "  last:\n    run: echo ${{ tasks.mid.result }}\n"
	    "  mid:\n    foreach: {i: {range: 5}}\n    run: echo\n    needs: first\n"
	    "  first:\n    run: echo\n");
	ok(graph && ordered(), "diamond: topological");
	ok(graph && graph->order[0] == task("first") && graph->order[6] == task("last"),
	    "diamond: first comes first, last last");
	drop();
}

static void
test_cycles(void)
{
	builds_not("a cycle of three through needs",
	    "flowrun: 1\ntasks:\n"
	    "  a:\n    run: echo\n    needs: c\n"
	    "  b:\n    run: echo\n    needs: a\n"
	    "  c:\n    run: echo\n    needs: b\n",
	    "dependency cycle: a -> b -> c -> a (each task needs the one before it)", 3);
	builds_not("a cycle reached from a task outside it",
	    "flowrun: 1\ntasks:\n"
	    "  d:\n    run: echo\n    needs: a\n"
	    "  a:\n    run: echo\n    needs: c\n"
	    "  b:\n    run: echo\n    needs: a\n"
	    "  c:\n    run: echo\n    needs: b\n",
	    "dependency cycle: a -> b -> c -> a (each task needs the one before it)", 6);
	builds_not("a cycle through inputs and outputs",
	    "flowrun: 1\ntasks:\n"
	    "  a:\n    run: echo\n    inputs: [b.txt]\n    outputs: [a.txt]\n"
	    "  b:\n    run: echo\n    inputs: [a.txt]\n    outputs: [b.txt]\n",
	    "dependency cycle: a -> b -> a (each task needs the one before it)", 3);
	builds_not("a cycle through a template and an instance",
	    "flowrun: 1\ntasks:\n"
	    "  f:\n    foreach: {x: [1, 2]}\n    run: echo\n    inputs: [in.txt]\n"
	    "    outputs: [\"f${{ x }}.txt\"]\n"
	    "  s:\n    run: echo ${{ tasks.f.result }}\n    outputs: [in.txt]\n",
	    "dependency cycle: f[x=1] -> s -> f[x=1] (each task needs the one before it)", 3);
	drop();
}

static void
test_select(void)
{
	static const char yaml[] =
	    "flowrun: 1\n"
	    "%s"
	    "tasks:\n"
	    "  prep:\n    run: echo\n    outputs: [prep.txt]\n"
	    "  square:\n    foreach: {x: [30, 85]}\n    run: echo\n    inputs: [prep.txt]\n"
	    "    outputs: [\"sq/${{ x }}.txt\"]\n"
	    "  sum:\n    run: echo ${{ tasks.square.result }}\n"
	    "  other:\n    run: echo\n"
	    "  empty:\n    foreach: {k: {range: 0}}\n    run: echo\n";
	char buf[1024];

	snprintf(buf, sizeof(buf), yaml, "");
	build(buf);
	ok(graph != NULL, "select: the graph builds (%s)", err.text);
	if (!graph)
		return;
	selects("", 5, "prep square[x=30] square[x=85] sum other");
	selects("sum", 4, "prep square[x=30] square[x=85] sum");
	selects("square", 3, "prep square[x=30] square[x=85]");
	selects("square[x=85]", 2, "prep square[x=85]");
	selects("sq/30.txt", 2, "prep square[x=30]");
	selects("./sq//30.txt", 2, "prep square[x=30]");
	selects("prep.txt other", 2, "prep other");
	selects("other sum other", 5, "prep square[x=30] square[x=85] sum other");
	selects("empty", 0, "");
	selects("prep", 1, "prep");

	selects("sqare", -1, "");
	is_int(err.code, FR_EUSAGE, "unknown target: a usage error");
	is_str(err.text, "unknown target 'sqare' (did you mean 'square'?)", "unknown target: hint");
	selects("other zzzzzz", -1, "");
	is_str(err.text, "unknown target 'zzzzzz': not a task, an instance or an output",
	    "unknown target: no hint");
	selects("square[x=31]", -1, "");
	is_int(err.code, FR_EUSAGE, "an unknown instance is an unknown target");
	selects("sq/31.txt", -1, "");
	is_int(err.code, FR_EUSAGE, "an unknown output is an unknown target");

	snprintf(buf, sizeof(buf), yaml, "default: [sum, other]\n");
	build(buf);
	selects("", 5, "prep square[x=30] square[x=85] sum other");
	selects("prep", 1, "prep");
	snprintf(buf, sizeof(buf), yaml, "default: \"square[x=30]\"\n");
	build(buf);
	ok(graph != NULL, "a default naming an instance builds (%s)", err.text);
	if (graph)
		selects("", 2, "prep square[x=30]");
	snprintf(buf, sizeof(buf), yaml, "default: other\n");
	build(buf);
	if (graph)
		selects("", 1, "other");
	drop();
}

static void
is_clean(const char *in, const char *want)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", in);
	fr_path_clean(buf);
	is_str(buf, want, "fr_path_clean('%s')", in);
}

static void
test_paths(void)
{
	is_clean("./a//b/./c", "a/b/c");
	is_clean("/x/./y", "/x/y");
	is_clean(".", ".");
	is_clean("", ".");
	is_clean("./", ".");
	is_clean("./.", ".");
	is_clean(".//./", ".");
	is_clean("a", "a");
	is_clean("a/", "a");
	is_clean("a/.", "a");
	is_clean("a//", "a");
	is_clean("/", "/");
	is_clean("//", "/");
	is_clean("/./", "/");
	is_clean("//x//y//", "/x/y");
	is_clean(".hidden/./x", ".hidden/x");
	is_clean("a/.b/..c", "a/.b/..c");
	is_clean("a/../b", "a/../b");
	is_clean("..", "..");
	is_clean("...", "...");
	is_clean("out/sq-a b.txt", "out/sq-a b.txt");
	ok(fr_path_isglob("*.txt") && fr_path_isglob("a?") && fr_path_isglob("[ab]") &&
	    fr_path_isglob("d/*/x"), "globs");
	ok(!fr_path_isglob("plain.txt") && !fr_path_isglob("a{b,c}") && !fr_path_isglob(""),
	    "not globs");
}

/* A chain of n tasks, t0 <- t1 <- ... declared last first, so the order must
 * reverse the file; neither building, ordering nor selecting may recurse. */
static void
test_chain(void)
{
	const size_t n = 100000;
	struct fr_buf b = {0};
	size_t i;
	long got;
	char *target = "t99999";
	int good = 1;

	fr_buf_addstr(&b, "flowrun: 1\ntasks:\n");
	for (i = n; i-- > 0;) {
		if (i > 0)
			fr_buf_printf(&b, "  t%zu: {run: echo, needs: t%zu}\n", i, i - 1);
		else
			fr_buf_printf(&b, "  t%zu: {run: echo}\n", i);
	}
	build(fr_buf_str(&b));
	fr_buf_free(&b);
	ok(graph != NULL, "chain: %zu tasks build (%s)", n, err.text);
	if (!graph)
		return;
	is_int(graph->ntask, n, "chain: every task is there");
	for (i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "t%zu", i);
		if (strcmp(fr_task_name(graph->order[i]), name) != 0) {
			good = 0;
			break;
		}
	}
	ok(good, "chain: ordered t0, t1, ..., t99999 (first wrong at %zu)", i);
	fr_error_clear(&err);
	got = fr_graph_select(graph, &target, 1, &err);
	is_int(got, (long)n, "chain: the last task needs every task");
	target = "t0";
	got = fr_graph_select(graph, &target, 1, &err);
	is_int(got, 1, "chain: the first needs only itself");

	/* a chain closed into a cycle is reported without recursion too */
	fr_buf_addstr(&b, "flowrun: 1\ntasks:\n");
	for (i = 0; i < n; i++)
		fr_buf_printf(&b, "  t%zu: {run: echo, needs: t%zu}\n", i, (i + n - 1) % n);
	build(fr_buf_str(&b));
	fr_buf_free(&b);
	ok(!graph && err.code == FR_EPIPELINE && strncmp(err.text, "dependency cycle: ", 18) == 0,
	    "chain: a %zu-task cycle is reported", n);
	drop();
}

int
main(void)
{
	char dir[512];

	scratch_enter("t-graph", dir, sizeof(dir));
	test_paths();
	test_instances();
	test_edges();
	test_order();
	test_cycles();
	test_select();
	test_chain();
	drop();
	scratch_leave(dir);
	return done_testing();
}
