/* SPDX-License-Identifier: MIT */
/* graph: expand foreach into instances, connect them, order them (Kahn's
 * algorithm, no recursion) and mark what the targets need. */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "graph.h"
#include "json.h"
#include "util.h"

_Static_assert(sizeof(struct fr_task) <= 72, "a task per instance: keep it small");

struct evalctx {
	struct fr_graph *g;
	struct fr_task *t;
	json_t *scratch;
	struct fr_buf clean;	/* scratch of isclean */
};

/* A path made for an instance: a new string, or (lit) the text of a template
 * that is a plain path, borrowed from the pipeline. */
struct path {
	char *s;
	int lit;
};

int
fr_path_isglob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

void
fr_path_clean(char *path)
{
	char *r = path, *w = path;
	int abs = *path == '/';

	if (abs)
		*w++ = *r++;
	while (*r) {
		if (*r == '/') {
			r++;
			continue;
		}
		if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
			r++;
			continue;
		}
		if (w > path + abs)
			*w++ = '/';
		while (*r && *r != '/')
			*w++ = *r++;
	}
	if (w == path)
		*w++ = '.';
	*w = '\0';
}

/* tasks.X.outputs: every output of X's instances, flattened, made once. */
static json_t *
outputsof(struct fr_graph *g, const struct fr_taskdecl *d)
{
	size_t i, j;

	if (!g->outputs)
		g->outputs = fr_xcalloc(g->p->ntask, sizeof(*g->outputs));
	if (!g->outputs[d->index]) {
		json_t *a = json_array();
		for (i = 0; i < fr_graph_count(g, d); i++) {
			struct fr_task *x = g->task[g->first[d->index] + i];
			for (j = 0; j < fr_task_noutput(x); j++)
				json_array_append_new(a, json_string(fr_task_output(x)[j]));
		}
		g->outputs[d->index] = a;
	}
	return g->outputs[d->index];
}

json_t *
fr_graph_lookup(struct fr_graph *g, struct fr_task *t, const struct fr_ref *ref,
    json_t **scratch, struct fr_error *err)
{
	struct fr_pipeline *p = g->p;
	const char *val;

	switch (ref->kind) {
	case FR_REF_NAME:
		if (ref->slot >= 0)
			return fr_task_bind(g, t, (size_t)ref->slot);
		return json_object_get(p->vars, ref->name);
	case FR_REF_ENV:
		if (!(val = fr_pipeline_env(p, ref->name))) {
			fr_error_set(err, FR_EPIPELINE, &ref->mark,
			    "environment variable '%s' is not set", ref->name);
			return NULL;
		}
		json_decref(*scratch);
		*scratch = json_string(val);
		return *scratch;
	case FR_REF_OUTPUTS:
		return outputsof(g, ref->target);
	case FR_REF_RESULT:
		break;
	}
	fr_error_set(err, FR_EPIPELINE, &ref->mark, "tasks.%s.result is not known yet here",
	    ref->name);
	return NULL;
}

static json_t *
lookup(void *arg, const struct fr_ref *ref, struct fr_error *err)
{
	struct evalctx *c = arg;
	return fr_graph_lookup(c->g, c->t, ref, &c->scratch, err);
}

/* Whether path is not empty and fr_path_clean would leave it as it is. */
static int
isclean(struct evalctx *c, const char *path)
{
	if (*path == '\0')
		return 0;
	fr_buf_reset(&c->clean);
	fr_buf_addstr(&c->clean, path);
	fr_path_clean(c->clean.data);
	return strcmp(c->clean.data, path) == 0;
}

/* Whether the template of text s is a plain, clean path (nearly all of
 * those without references are), its text the path as it is. */
static int
literal(struct evalctx *c, const char *s)
{
	return !fr_tmpl_text_has_refs(s) && (fr_tmpl_isbare(s) || !strstr(s, "${{")) &&
	    isclean(c, s);
}

/* Whether each of the n templates of texts tm is literal. */
static int
allliteral(struct evalctx *c, char *const *tm, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!literal(c, tm[i]))
			return 0;
	return 1;
}

/* Where text tm[i] is in g's pipeline file: a template's own mark, or for a
 * bare text, the one the pipeline keeps of path i of d's inputs (output set:
 * its outputs). */
static struct fr_mark
textmark(const struct fr_graph *g, const struct fr_taskdecl *d, int output, char *const *tm,
    size_t i)
{
	if (!fr_tmpl_isbare(tm[i]))
		return fr_tmpl_mark(fr_tmpl_of(tm[i]), g->p->file);
	return fr_pipeline_pathmark(g->p, d, output, i);
}

/* Evaluate the path templates of texts tm (d's inputs, or its outputs when
 * output is set), appending to *tmp (n, cap): a whole list value gives
 * several paths. A literal template is taken as it is, without the
 * evaluator. */
static int
evalpaths(struct evalctx *c, const struct fr_taskdecl *d, int output, char *const *tm, size_t n,
    struct path **tmp, size_t *ntmp, size_t *cap, struct fr_error *err)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		json_t *v;
		if (literal(c, tm[i])) {
			struct path lit = { tm[i], 1 };
			FR_PUSH(*tmp, *ntmp, *cap, lit);
			continue;
		}
		if (fr_tmpl_isbare(tm[i])) {	/* a path to clean */
			struct fr_mark m = textmark(c->g, d, output, tm, i);
			if (!(v = json_string(tm[i])))	/* YAML's scalars are UTF-8: never */
				return fr_error_set(err, FR_EPIPELINE, &m, "path is not valid UTF-8");
		} else if (!(v = fr_tmpl_eval(fr_tmpl_of(tm[i]), lookup, c, err))) {
			return -1;
		}
		for (j = 0; j < (json_is_array(v) ? json_array_size(v) : 1); j++) {
			json_t *it = json_is_array(v) ? json_array_get(v, j) : v;
			char *s = fr_json_text(it);
			if (!s || *s == '\0') {
				struct fr_mark m = textmark(c->g, d, output, tm, i);
				free(s);
				json_decref(v);
				return fr_error_set(err, FR_EPIPELINE, &m, s ?
				    "path is empty after templating" :
				    "path longer than %u MiB after templating", FR_TMPL_MAX_TEXT >> 20);
			}
			fr_path_clean(s);
			FR_PUSH(*tmp, *ntmp, *cap, ((struct path){ s, 0 }));
		}
		json_decref(v);
	}
	return 0;
}

/* Move the n paths of tmp into the graph's arena as *out (NULL when none).
 * A path equal to the one at the same place in prev (the instance before, of
 * the same task) is shared with it: a library or a fixed input is kept once;
 * a template's own text stays the pipeline's. */
static void
keeppaths(struct fr_graph *g, struct path *tmp, size_t n, char **prev, size_t nprev,
    char ***out, uint32_t *nout)
{
	size_t i;

	*nout = (uint32_t)n;
	*out = n ? fr_arena_alloc(&g->arena, n * sizeof(char *), _Alignof(char *)) : NULL;
	for (i = 0; i < n; i++) {
		if (i < nprev && strcmp(prev[i], tmp[i].s) == 0)
			(*out)[i] = prev[i];
		else if (tmp[i].lit)
			(*out)[i] = tmp[i].s;
		else
			(*out)[i] = fr_arena_strndup(&g->arena, tmp[i].s, strlen(tmp[i].s));
		if (!tmp[i].lit)
			free(tmp[i].s);
	}
}

/* The instance before t if it is of the same task, else NULL. */
static const struct fr_task *
sibling(const struct fr_graph *g, const struct fr_task *t)
{
	return t->id > 0 && g->task[t->id - 1]->decl == t->decl ? g->task[t->id - 1] : NULL;
}

/* Free the n paths of tmp (after a failure). */
static void
droppaths(struct path *tmp, size_t n)
{
	while (n > 0)
		if (!tmp[--n].lit)
			free(tmp[n].s);
}

/* The mark of the template that gave path j of the n paths made from d's
 * inputs (output set: its outputs). */
static struct fr_mark
pathmark(const struct fr_graph *g, const struct fr_taskdecl *d, int output, const char *path,
    size_t j, size_t n)
{
	char *const *tm = output ? fr_taskdecl_output(d) : fr_taskdecl_input(d);
	size_t i, ntm = output ? d->noutput : d->ninput;

	for (i = 0; i < ntm; i++) {
		char *clean;
		int same;
		if (fr_tmpl_text_has_refs(tm[i]))
			continue;
		clean = fr_xstrdup(tm[i]);
		fr_path_clean(clean);
		same = strcmp(clean, path) == 0;
		free(clean);
		if (same)
			return textmark(g, d, output, tm, i);
	}
	/* one path per template, or a guess */
	return textmark(g, d, output, tm, ntm == n ? j : 0);
}

/* The name of foreach instance t, "NAME[VAR=VALUE,...]", in the arena. */
static char *
instname(struct fr_graph *g, const struct fr_task *t, struct fr_buf *b)
{
	const struct fr_taskdecl *d = t->decl;
	size_t i;

	fr_buf_reset(b);
	fr_buf_addstr(b, d->name);
	for (i = 0; i < d->opt->nforeach; i++) {
		json_t *v = fr_task_bind(g, t, i);
		fr_buf_addc(b, i ? ',' : '[');
		fr_buf_addstr(b, d->opt->foreach[i].name);
		fr_buf_addc(b, '=');
		if (json_is_string(v))
			fr_buf_add(b, json_string_value(v), json_string_length(v));
		else
			fr_json_canon(b, v);
	}
	fr_buf_addc(b, ']');
	return fr_arena_strndup(&g->arena, b->data, b->len);
}

/* The values of each foreach variable of d, as JSON arrays. */
static json_t **
foreachvalues(const struct fr_taskdecl *d, struct fr_seen *seen, size_t *total)
{
	json_t **vals = fr_xcalloc(d->opt->nforeach, sizeof(*vals));
	size_t i, k;

	*total = 1;
	for (i = 0; i < d->opt->nforeach; i++) {
		const struct fr_foreach *f = &d->opt->foreach[i];
		if (f->kind == FR_FOREACH_LIST) {
			vals[i] = json_incref(f->list);
		} else if (f->kind == FR_FOREACH_RANGE) {
			vals[i] = json_array();
			for (k = 0; k < (size_t)f->range; k++)
				json_array_append_new(vals[i], json_integer((json_int_t)k));
		} else {
			glob_t gl;
			int rc = glob(f->glob, 0, NULL, &gl);
			vals[i] = json_array();
			if (rc == 0) {
				for (k = 0; k < gl.gl_pathc; k++)
					json_array_append_new(vals[i], json_string(gl.gl_pathv[k]));
			}
			fr_seen_glob(seen, f->glob, gl.gl_pathv, rc == 0 ? gl.gl_pathc : 0);
			globfree(&gl);
		}
		*total *= json_array_size(vals[i]);
	}
	return vals;
}

/* The scratch of connect: the needs of one task being collected, and per
 * task the last task (id + 1) that collected it, to take each once. */
struct edges {
	struct fr_task **tmp;
	size_t n, cap;
	uint32_t *stamp;
};

/* Add dep to the needs of t being collected in e (once each). */
static void
addedge(struct fr_task *t, struct fr_task *dep, struct edges *e)
{
	if (e->stamp[dep->id] == t->id + 1)
		return;
	e->stamp[dep->id] = t->id + 1;
	FR_PUSH(e->tmp, e->n, e->cap, dep);
	dep->nrdep++;
}

/* Whether the instances of d need a struct fr_taskown: a foreach instance
 * has its own name, a template or a library makes its own paths. */
static int
ownpaths(struct evalctx *c, const struct fr_taskdecl *d)
{
	return d->opt->nforeach || d->opt->library ||
	    !allliteral(c, fr_taskdecl_output(d), d->noutput) ||
	    !allliteral(c, fr_taskdecl_input(d), d->ninput);
}

static int
instances(struct evalctx *c, const struct fr_taskdecl *d, size_t *cap, struct fr_buf *name,
    struct fr_error *err)
{
	struct fr_graph *g = c->g;
	struct fr_mark m = fr_taskdecl_mark(d, g->p->file);
	json_t **vals = NULL;
	size_t total = 1, i, size = sizeof(struct fr_task);
	int own = ownpaths(c, d);

	if (d->opt->nforeach) {
		if (!g->vals)
			g->vals = fr_xcalloc(g->p->ntask, sizeof(*g->vals));
		vals = g->vals[d->index] = foreachvalues(d, g->p->seen, &total);
	}
	if (g->ntask + total > FR_MAX_INSTANCES)
		return fr_error_set(err, FR_EPIPELINE, &m, "more than %u task instances",
		    FR_MAX_INSTANCES);
	if (vals)
		fr_htab_reserve(g->byinst, fr_htab_count(g->byinst) + total);
	g->first[d->index] = (uint32_t)g->ntask;
	g->first[d->index + 1] = (uint32_t)(g->ntask + total);
	fr_grow(&g->task, g->ntask + total, cap, sizeof(*g->task));
	if (own)
		size += sizeof(struct fr_taskown);
	for (i = 0; i < total; i++) {
		struct fr_task *t = fr_arena_zalloc(&g->arena, size, _Alignof(struct fr_task));
		t->decl = (struct fr_taskdecl *)d;
		t->id = (uint32_t)g->ntask;
		t->own = (unsigned char)own;
		g->task[g->ntask++] = t;
		if (!own)
			continue;	/* its name and paths are the declaration's */
		fr_task_own(t)->name = d->name;	/* found through the pipeline */
		if (!vals)
			continue;
		fr_task_own(t)->name = instname(g, t, name);
		if (fr_htab_put(g->byinst, fr_task_own(t)->name, t))
			return fr_error_set(err, FR_EPIPELINE, &m,
			    "foreach of task '%s' makes the instance %s twice", d->name,
			    fr_task_name(t));
	}
	return 0;
}

/* Edges of t: needs, tasks.X references, inputs that are other tasks' outputs. */
static int
connect(struct fr_graph *g, struct fr_task *t, struct edges *e, struct fr_error *err)
{
	const struct fr_taskdecl *d = t->decl;
	struct fr_mark m;
	size_t i, j;

	e->n = 0;
	for (i = 0; i < d->nneed; i++) {
		const struct fr_taskdecl *x = fr_pipeline_task(g->p, d->need[i].name);
		if (x == d)
			return fr_error_set(err, FR_EPIPELINE, &d->need[i].mark,
			    "dependency cycle: %s -> %s (a task cannot need itself)", d->name, d->name);
		for (j = 0; j < fr_graph_count(g, x); j++)
			addedge(t, g->task[g->first[x->index] + j], e);
	}
	for (i = 0; i < d->opt->nuses; i++)
		for (j = 0; j < fr_graph_count(g, d->opt->uses[i]); j++)
			addedge(t, g->task[g->first[d->opt->uses[i]->index] + j], e);
	for (i = 0; i < fr_task_ninput(t); i++) {
		struct fr_task *x;
		if (!fr_path_isglob(fr_task_input(t)[i])) {
			if ((x = fr_htab_get(g->byoutput, fr_task_input(t)[i]))) {
				if (x == t)
					goto self;
				addedge(t, x, e);
			}
			continue;
		}
		for (j = 0; j < g->ntask; j++) {
			size_t o;
			x = g->task[j];
			for (o = 0; o < fr_task_noutput(x); o++) {
				if (fnmatch(fr_task_input(t)[i], fr_task_output(x)[o],
				    FNM_PATHNAME | FNM_PERIOD) == 0) {
					if (x == t)
						goto self;
					addedge(t, x, e);
				}
			}
		}
	}
	t->ndep = (uint32_t)e->n;
	if (e->n > 1)
		t->deps.many = fr_arena_alloc(&g->arena, e->n * sizeof(struct fr_task *),
		    _Alignof(struct fr_task *));
	if (e->n)
		memcpy(fr_task_dep(t), e->tmp, e->n * sizeof(struct fr_task *));
	return 0;
self:
	m = pathmark(g, d, 0, fr_task_input(t)[i], i, fr_task_ninput(t));
	return fr_error_set(err, FR_EPIPELINE, &m, "task %s reads its own output (input '%s')",
	    fr_task_name(t), fr_task_input(t)[i]);
}

/* Kahn's algorithm; on a cycle, walk needs among the leftovers to print one. */
static int
order(struct fr_graph *g, struct fr_error *err)
{
	unsigned *indeg = fr_xcalloc(g->ntask, sizeof(*indeg));
	size_t head = 0, tail = 0, i, j;
	struct fr_buf b = {0};
	struct fr_mark m;

	g->order = fr_xcalloc(g->ntask, sizeof(*g->order));
	for (i = 0; i < g->ntask; i++) {
		indeg[i] = (unsigned)g->task[i]->ndep;
		if (indeg[i] == 0)
			g->order[tail++] = g->task[i];
	}
	while (head < tail) {
		struct fr_task *t = g->order[head++];
		for (j = 0; j < t->nrdep; j++)
			if (--indeg[fr_task_rdep(t)[j]->id] == 0)
				g->order[tail++] = fr_task_rdep(t)[j];
	}
	if (tail == g->ntask) {
		free(indeg);
		return 0;
	}
	{
		/* every leftover task needs at least one leftover task: follow them */
		size_t *seen = fr_xcalloc(g->ntask, sizeof(*seen)), step = 1, k;
		struct fr_task *t = NULL, **path = NULL;
		size_t npath = 0, cap = 0;

		for (i = 0; i < g->ntask && !t; i++)
			if (indeg[i])
				t = g->task[i];
		while (!seen[t->id]) {
			seen[t->id] = step++;
			FR_PUSH(path, npath, cap, t);
			for (j = 0; j < t->ndep; j++)
				if (indeg[fr_task_dep(t)[j]->id])
					break;
			t = fr_task_dep(t)[j];
		}
		/* path[seen[t]-1 ..] is the cycle, each task needing the next: print
		 * it in the order work flows, each task feeding the next */
		k = npath;
		fr_buf_addstr(&b, fr_task_name(t));
		while (k-- > seen[t->id] - 1)
			fr_buf_printf(&b, " -> %s",
			    fr_task_name(k == seen[t->id] - 1 ? t : path[k]));
		m = fr_taskdecl_mark(t->decl, g->p->file);
		fr_error_set(err, FR_EPIPELINE, &m,
		    "dependency cycle: %s (each task needs the one before it)", fr_buf_str(&b));
		fr_buf_free(&b);
		free(path);
		free(seen);
	}
	free(indeg);
	return -1;
}

/* The tasks that need each task, filled from the needs (nrdep counted by addedge). */
static void
reverse(struct fr_graph *g)
{
	uint32_t *filled = fr_xcalloc(g->ntask ? g->ntask : 1, sizeof(*filled));
	size_t i, j;

	for (i = 0; i < g->ntask; i++) {
		struct fr_task *t = g->task[i];
		if (t->nrdep > 1)
			t->rdeps.many = fr_arena_alloc(&g->arena,
			    t->nrdep * sizeof(struct fr_task *), _Alignof(struct fr_task *));
	}
	for (i = 0; i < g->ntask; i++)
		for (j = 0; j < g->task[i]->ndep; j++) {
			struct fr_task *d = fr_task_dep(g->task[i])[j];
			fr_task_rdep(d)[filled[d->id]++] = g->task[i];
		}
	free(filled);
}

struct fr_graph *
fr_graph_build(struct fr_pipeline *p, struct fr_error *err)
{
	struct fr_graph *g = fr_xcalloc(1, sizeof(*g));
	struct evalctx c = { g, NULL, NULL, {0} };
	struct fr_buf name = {0};
	struct edges e = {0};
	struct path *paths = NULL;
	size_t cap = 0, npath = 0, pathcap = 0, i, j;
	uint32_t n32;

	g->p = p;
	g->first = fr_xcalloc(p->ntask + 1, sizeof(*g->first));
	g->byinst = fr_htab_new(0);
	/* one instance a task unless it has foreach: then grown as needed */
	fr_grow(&g->task, p->ntask, &cap, sizeof(*g->task));
	for (i = 0; i < p->ntask; i++)
		if (instances(&c, p->task[i], &cap, &name, err) < 0)
			goto fail;
	for (i = 0, j = 0; i < p->ntask; i++)	/* a guess: one path a template */
		j += fr_graph_count(g, p->task[i]) * p->task[i]->noutput;
	g->byoutput = fr_htab_new(j);
	for (i = 0; i < g->ntask; i++) {
		struct fr_task *t = g->task[i];
		const struct fr_taskdecl *d = t->decl;
		c.t = t;
		npath = 0;
		if (t->own && allliteral(&c, fr_taskdecl_output(d), d->noutput)) {
			fr_task_own(t)->output = fr_taskdecl_output(d);	/* share them */
			fr_task_own(t)->noutput = d->noutput;
		} else if (t->own) {
			if (evalpaths(&c, d, 1, fr_taskdecl_output(d), d->noutput, &paths,
			    &npath, &pathcap, err) < 0)
				goto fail;
			keeppaths(g, paths, npath, NULL, 0, &fr_task_own(t)->output, &n32);
			fr_task_own(t)->noutput = n32;
			npath = 0;
		}
		if (d->action == FR_ACT_FETCH && fr_task_noutput(t) != 1) {
			struct fr_mark m = d->noutput ?
			    textmark(g, d, 1, fr_taskdecl_output(d), 0) :
			    fr_taskdecl_mark(d, g->p->file);
			fr_error_set(err, FR_EPIPELINE, &m,
			    "a fetch task downloads to exactly one output, but %s has %zu",
			    fr_task_name(t), (size_t)fr_task_noutput(t));
			goto fail;
		}
		for (j = 0; j < fr_task_noutput(t); j++) {
			struct fr_task *prev = fr_htab_put(g->byoutput, fr_task_output(t)[j], t);
			if (prev) {
				struct fr_mark m = pathmark(g, d, 1, fr_task_output(t)[j], j,
				    fr_task_noutput(t));
				fr_error_set(err, FR_EPIPELINE, &m,
				    "output '%s' of %s is also an output of %s",
				    fr_task_output(t)[j], fr_task_name(t), fr_task_name(prev));
				goto fail;
			}
		}
	}
	for (i = 0; i < g->ntask; i++) {
		struct fr_task *t = g->task[i];
		const struct fr_taskdecl *d = t->decl;
		c.t = t;
		npath = 0;
		if (!t->own)
			continue;	/* the declaration's paths, all literal */
		if (!d->opt->library && allliteral(&c, fr_taskdecl_input(d), d->ninput)) {
			fr_task_own(t)->input = fr_taskdecl_input(d);	/* share them */
			fr_task_own(t)->ninput = d->ninput;
			continue;
		}
		if (evalpaths(&c, d, 0, fr_taskdecl_input(d), d->ninput, &paths, &npath,
		    &pathcap, err) < 0)
			goto fail;
		if (d->opt->library) {
			size_t n = npath;
			char *lib = d->opt->library->src;
			if (evalpaths(&c, d, 0, &lib, 1, &paths, &npath, &pathcap, err) < 0)
				goto fail;
			if (npath != n + 1) {
				struct fr_mark m = fr_tmpl_mark(d->opt->library, g->p->file);
				fr_error_set(err, FR_EPIPELINE, &m,
				    "'library' must be one path");
				goto fail;
			}
		}
		keeppaths(g, paths, npath, sibling(g, t) ? fr_task_input(sibling(g, t)) : NULL,
		    sibling(g, t) ? fr_task_ninput(sibling(g, t)) : 0, &fr_task_own(t)->input,
		    &n32);
		fr_task_own(t)->ninput = n32;
		npath = 0;
	}
	e.stamp = fr_xcalloc(g->ntask ? g->ntask : 1, sizeof(*e.stamp));
	for (i = 0; i < g->ntask; i++)
		if (connect(g, g->task[i], &e, err) < 0)
			goto fail;
	reverse(g);
	if (order(g, err) < 0)
		goto fail;
	json_decref(c.scratch);
	fr_buf_free(&c.clean);
	fr_buf_free(&name);
	free(paths);
	free(e.tmp);
	free(e.stamp);
	return g;
fail:
	json_decref(c.scratch);
	fr_buf_free(&c.clean);
	fr_buf_free(&name);
	droppaths(paths, npath);
	free(paths);
	free(e.tmp);
	free(e.stamp);
	fr_graph_free(g);
	return NULL;
}

size_t
fr_graph_count(const struct fr_graph *g, const struct fr_taskdecl *d)
{
	return g->first[d->index + 1] - g->first[d->index];
}

struct fr_task *
fr_graph_task(const struct fr_graph *g, const char *name)
{
	const struct fr_taskdecl *d;
	struct fr_task *t;

	if ((t = fr_htab_get(g->byinst, name)))
		return t;
	d = fr_pipeline_task(g->p, name);
	return d && d->opt->nforeach == 0 && fr_graph_count(g, d) == 1 ? g->task[g->first[d->index]] :
	    NULL;
}

json_t *
fr_task_bind(const struct fr_graph *g, const struct fr_task *t, size_t slot)
{
	const struct fr_taskdecl *d = t->decl;
	json_t **vals;
	size_t rest, k, n;

	if (!g->vals || !(vals = g->vals[d->index]) || slot >= d->opt->nforeach)
		return NULL;
	/* instance i of d: the last variable varies fastest */
	rest = t->id - g->first[d->index];
	for (k = d->opt->nforeach - 1; k > slot; k--)
		rest /= json_array_size(vals[k]);
	n = json_array_size(vals[slot]);
	return json_array_get(vals[slot], rest % n);
}

const char *
fr_task_library(const struct fr_task *t)
{
	uint32_t n = fr_task_ninput(t);

	return t->decl->opt->library && n > 0 ? fr_task_input(t)[n - 1] : NULL;
}

struct fr_task **
fr_graph_instances(const struct fr_graph *g, const char *name, size_t *n)
{
	const struct fr_taskdecl *d = fr_pipeline_task(g->p, name);

	if (!d || fr_graph_count(g, d) == 0)
		return NULL;
	*n = fr_graph_count(g, d);
	return &g->task[g->first[d->index]];
}

static int
selectone(struct fr_graph *g, const char *name, struct fr_task ***stack, size_t *n,
    size_t *cap, struct fr_error *err)
{
	struct fr_task *t, **inst;
	size_t ninst = 0, i;
	char *clean;

	if ((t = fr_graph_task(g, name))) {
		FR_PUSH(*stack, *n, *cap, t);
		return 0;
	}
	if ((inst = fr_graph_instances(g, name, &ninst)) || fr_pipeline_task(g->p, name)) {
		for (i = 0; i < ninst; i++)
			FR_PUSH(*stack, *n, *cap, inst[i]);
		return 0;
	}
	clean = fr_xstrdup(name);
	fr_path_clean(clean);
	t = fr_graph_writer(g, clean);
	free(clean);
	if (t) {
		FR_PUSH(*stack, *n, *cap, t);
		return 0;
	}
	{
		const char **cand = fr_xcalloc(g->p->ntask, sizeof(*cand));
		const char *hint;
		for (i = 0; i < g->p->ntask; i++)
			cand[i] = g->p->task[i]->name;
		hint = fr_didyoumean(name, cand, g->p->ntask);
		if (hint)
			fr_error_set(err, FR_EUSAGE, NULL,
			    "unknown target '%s' (did you mean '%s'?)", name, hint);
		else
			fr_error_set(err, FR_EUSAGE, NULL,
			    "unknown target '%s': not a task, an instance or an output", name);
		free(cand);
	}
	return -1;
}

long
fr_graph_select(struct fr_graph *g, char *const *targets, size_t n, struct fr_error *err)
{
	struct fr_task **stack = NULL, *t;
	size_t nstack = 0, cap = 0, i;
	long count = 0;

	for (i = 0; i < g->ntask; i++)
		g->task[i]->needed = 0;
	if (n > 0) {
		for (i = 0; i < n; i++)
			if (selectone(g, targets[i], &stack, &nstack, &cap, err) < 0)
				goto fail;
	} else if (g->p->ndeflt > 0) {
		for (i = 0; i < g->p->ndeflt; i++)
			if (selectone(g, g->p->deflt[i].name, &stack, &nstack, &cap, err) < 0)
				goto fail;
	} else {
		for (i = 0; i < g->ntask; i++)
			FR_PUSH(stack, nstack, cap, g->task[i]);
	}
	while (nstack > 0) {
		t = stack[--nstack];
		if (t->needed)
			continue;
		t->needed = 1;
		count++;
		for (i = 0; i < t->ndep; i++)
			if (!fr_task_dep(t)[i]->needed)
				FR_PUSH(stack, nstack, cap, fr_task_dep(t)[i]);
	}
	free(stack);
	g->nneeded = (size_t)count;
	return count;
fail:
	free(stack);
	return -1;
}

struct fr_task *
fr_graph_writer(struct fr_graph *g, const char *path)
{
	size_t i, j;

	if (!g->byoutput) {	/* forgotten: made again; no two tasks share an output */
		g->byoutput = fr_htab_new(g->ntask);
		for (i = 0; i < g->ntask; i++)
			for (j = 0; j < fr_task_noutput(g->task[i]); j++)
				fr_htab_put(g->byoutput, fr_task_output(g->task[i])[j],
				    g->task[i]);
	}
	return fr_htab_get(g->byoutput, path);
}

void
fr_graph_forget_outputs(struct fr_graph *g)
{
	fr_htab_free(g->byoutput);
	g->byoutput = NULL;
}

void
fr_graph_free(struct fr_graph *g)
{
	size_t i, k;

	if (!g)
		return;
	for (i = 0; g->p && i < g->p->ntask; i++) {
		if (g->outputs)
			json_decref(g->outputs[i]);
		for (k = 0; g->vals && g->vals[i] && k < g->p->task[i]->opt->nforeach; k++)
			json_decref(g->vals[i][k]);
		if (g->vals)
			free(g->vals[i]);
	}
	free(g->outputs);
	free(g->vals);
	free(g->task);
	free(g->order);
	free(g->first);
	fr_htab_free(g->byinst);
	fr_htab_free(g->byoutput);
	fr_arena_free(&g->arena);
	free(g);
}
