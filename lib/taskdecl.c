/* SPDX-License-Identifier: MIT */
/* taskdecl: one task of a pipeline, read from its map and checked: its action
 * (run, call or fetch), needs, inputs, outputs and options, the defaults
 * applied; and the readers of names, strings and env maps the loader shares. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <string.h>

#include "check.h"
#include "fetchspec.h"
#include "taskdecl.h"
#include "util.h"

static const char *const taskkeys[] = {
	"desc", "run", "call", "fetch", "shell", "needs", "inputs", "outputs", "env",
	"dir", "timeout", "retries", "always", "foreach", "result", "priority", "pool",
	"cpus", "memory", "isolation", "executor", "slurm", "temporary",
};
static const char *const laterkeys[] = {
	"cpus", "memory", "executor", "slurm", "temporary",
};
static const char *const callkeys[] = { "library", "function", "args" };
/* The functions a call task without a library may name. */
static const char *const builtins[] = { "sum", "min", "max", "len" };

const struct fr_taskopt fr_taskopt_none = { .pool = -1 };

/* A copy of v's string in the pipeline's arena. */
static char *
astr(struct fr_declctx *c, const struct fr_node *v)
{
	return fr_arena_strndup(&c->p->arena, v->str, v->len);
}

/* n zeroed elements of sz bytes in the pipeline's arena (NULL when n is 0). */
void *
fr_taskdecl_array(struct fr_declctx *c, size_t n, size_t sz, size_t align)
{
	return n ? fr_arena_zalloc(&c->p->arena, n * sz, align) : NULL;
}

/* A string, copied into the pipeline's arena. */
int
fr_taskdecl_str(struct fr_declctx *c, const struct fr_node *v, const char *key, char **out)
{
	if (!fr_check_isstr(v))
		return fr_check_type(c->err, v, key, "a string");
	*out = astr(c, v);
	return 0;
}

struct fr_taskopt *
fr_taskdecl_ownopt(struct fr_declctx *c, struct fr_taskdecl *t)
{
	struct fr_taskopt *o;

	/* options not shared (fr_taskopt_none, the defaults') are its own */
	if (t->opt != &fr_taskopt_none && t->opt != c->dflt)
		return (struct fr_taskopt *)t->opt;
	o = fr_arena_alloc(&c->p->arena, sizeof(*o), _Alignof(struct fr_taskopt));
	*o = *t->opt;
	t->opt = o;
	return o;
}

/* A name or a list of names. */
int
fr_taskdecl_names(struct fr_declctx *c, const struct fr_node *v, const char *key,
    struct fr_name **out, uint32_t *n)
{
	size_t i, cnt = v->kind == FR_NODE_SEQ ? v->nitem : 1;

	if (v->kind == FR_NODE_MAP)
		return fr_check_type(c->err, v, key, "a task name or a list of task names");
	*out = FR_AARRAY(c, cnt, struct fr_name);
	*n = 0;
	for (i = 0; i < cnt; i++) {
		const struct fr_node *it = v->kind == FR_NODE_SEQ ? v->item[i] : v;
		if (it->kind != FR_NODE_SCALAR || it->type == FR_SCALAR_NULL)
			return fr_check_type(c->err, it, key, "a task name or a list of task names");
		(*out)[*n].name = astr(c, it);
		(*out)[(*n)++].mark = it->mark;
	}
	return 0;
}

/* A string or a list of strings, each parsed as a template; *out holds
 * their texts, bare when plain (their marks go to the pipeline's). */
static int
wanttmpls(struct fr_declctx *c, const struct fr_node *v, const char *key, union fr_paths *paths,
    uint32_t *n)
{
	struct fr_pipeline *p = c->p;
	size_t i, cnt = v->kind == FR_NODE_SEQ ? v->nitem : 1;
	char **out;

	if (v->kind == FR_NODE_MAP)
		return fr_check_type(c->err, v, key, "a path or a list of paths");
	out = cnt == 1 ? &paths->one : (paths->many = FR_AARRAY(c, cnt, char *));
	for (i = 0; i < cnt; i++) {
		const struct fr_node *it = v->kind == FR_NODE_SEQ ? v->item[i] : v;
		if (it->kind != FR_NODE_SCALAR || it->type != FR_SCALAR_STR || it->len == 0)
			return fr_check_type(c->err, it, key, "a path or a list of paths");
		if (!(out[*n] = fr_tmpl_text_in(&p->arena, it, c->err)))
			return -1;
		(*n)++;
		FR_PUSH(p->pathmark, p->npathmark, p->pathmarkcap,
		    ((struct fr_pathmark){ it->mark.line, it->mark.col }));
	}
	return 0;
}

/* A map of NAME: scalar, each value a template. */
int
fr_taskdecl_env(struct fr_declctx *c, const struct fr_node *v, struct fr_kv **out,
    uint32_t *n)
{
	size_t i;

	if (v->kind != FR_NODE_MAP)
		return fr_check_type(c->err, v, "env", "a map of variable names to values");
	*out = FR_AARRAY(c, v->nitem / 2, struct fr_kv);
	for (i = 0; i < v->nitem; i += 2) {
		const struct fr_node *k = v->item[i], *val = v->item[i + 1];
		struct fr_kv *kv = &(*out)[*n];
		if (k->len == 0 || strchr(k->str, '='))
			return fr_error_set(c->err, FR_EPIPELINE, &k->mark,
			    "'%s' is not a valid environment variable name", k->str);
		if (val->kind != FR_NODE_SCALAR || val->type == FR_SCALAR_NULL)
			return fr_check_type(c->err, val, k->str, "a string, number or boolean");
		kv->name = astr(c, k);
		kv->mark = k->mark;
		if (!(kv->value = fr_tmpl_parse_in(&c->p->arena, val, c->err)))
			return -1;
		++*n;
	}
	return 0;
}

static int
loadforeach(struct fr_declctx *c, struct fr_taskdecl *t, const struct fr_node *fe)
{
	struct fr_taskopt *o;
	size_t i;
	unsigned long long total = 1;

	if (fe->kind != FR_NODE_MAP || fe->nitem == 0)
		return fr_check_type(c->err, fe, "foreach", "a map of names to lists");
	o = fr_taskdecl_ownopt(c, t);
	o->foreach = FR_AARRAY(c, fe->nitem / 2, struct fr_foreach);
	for (i = 0; i < fe->nitem; i += 2) {
		const struct fr_node *k = fe->item[i], *v = fe->item[i + 1];
		struct fr_foreach *f = &o->foreach[o->nforeach];
		unsigned long long count;

		if (!fr_pipeline_valid_name(k->str) || !strcmp(k->str, "env") || !strcmp(k->str, "tasks"))
			return fr_error_set(c->err, FR_EPIPELINE, &k->mark,
			    "'%s' is not a valid foreach name", k->str);
		f->name = astr(c, k);
		f->mark = k->mark;
		o->nforeach++;
		if (v->kind == FR_NODE_SEQ) {
			size_t j;
			for (j = 0; j < v->nitem; j++)
				if (v->item[j]->kind != FR_NODE_SCALAR)
					return fr_check_type(c->err, v->item[j], k->str, "a scalar");
			f->kind = FR_FOREACH_LIST;
			if (!(f->list = fr_node_json(v, c->err)))
				return -1;
			count = v->nitem;
		} else if (v->kind == FR_NODE_MAP && v->nitem == 2 &&
		    strcmp(v->item[0]->str, "glob") == 0) {
			f->kind = FR_FOREACH_GLOB;
			if (fr_taskdecl_str(c, v->item[1], "glob", &f->glob) < 0)
				return -1;
			count = 1;
		} else if (v->kind == FR_NODE_MAP && v->nitem == 2 &&
		    strcmp(v->item[0]->str, "range") == 0) {
			long long n;
			if (fr_check_int(c->err, v->item[1], "range", 0, FR_MAX_INSTANCES, &n) < 0)
				return -1;
			f->kind = FR_FOREACH_RANGE;
			f->range = n;
			count = (unsigned long long)n;
		} else if (v->kind == FR_NODE_MAP) {
			static const char *const fk[] = { "glob", "range" };
			const struct fr_node *bad = v->nitem ? v->item[v->nitem > 2 ? 2 : 0] : v;
			if (v->nitem && bad->kind == FR_NODE_SCALAR &&
			    strcmp(bad->str, "glob") && strcmp(bad->str, "range"))
				return fr_check_unknown_key(c->err, bad, "foreach", fk, 2);
			return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
			    "foreach '%s' must be a list, {glob: PATTERN} or {range: N}", k->str);
		} else {
			return fr_check_type(c->err, v, k->str, "a list, {glob: PATTERN} or {range: N}");
		}
		total *= count ? count : 1;
		if (total > FR_MAX_INSTANCES)
			return fr_error_set(c->err, FR_EPIPELINE, &fe->mark,
			    "foreach makes more than %u instances", FR_MAX_INSTANCES);
	}
	/* checked across the pipeline before any instance is made */
	c->instances += total;
	if (c->instances > FR_MAX_INSTANCES)
		return fr_error_set(c->err, FR_EPIPELINE, &fe->mark,
		    "the tasks' foreach together make more than %u instances", FR_MAX_INSTANCES);
	return 0;
}

/* call: {library, function, args} and the task's isolation. */
static int
loadcall(struct fr_declctx *c, struct fr_taskdecl *t, const struct fr_node *map,
    const struct fr_node *v)
{
	const struct fr_node *f, *iso;
	struct fr_taskopt *o;
	size_t i;

	if (v->kind != FR_NODE_MAP)
		return fr_check_type(c->err, v, "call", "a map with library, function and args");
	if (fr_check_keys(c->err, v, "call", callkeys, FR_NELEM(callkeys)) < 0)
		return -1;
	t->action = FR_ACT_CALL;
	if (!(f = fr_node_get(v, "function")))
		return fr_error_set(c->err, FR_EPIPELINE, &v->mark, "'call' needs a 'function'");
	o = fr_taskdecl_ownopt(c, t);
	if (fr_taskdecl_str(c, f, "function", &o->function) < 0)
		return -1;
	if ((f = fr_node_get(v, "library"))) {
		if (!fr_check_isstr(f) || f->len == 0)
			return fr_check_type(c->err, f, "library", "a path to a shared library");
		if (!(o->library = fr_tmpl_parse_in(&c->p->arena, f, c->err)))
			return -1;
	} else {
		for (i = 0; i < FR_NELEM(builtins); i++)
			if (strcmp(o->function, builtins[i]) == 0)
				break;
		if (i == FR_NELEM(builtins)) {
			const char *hint = fr_didyoumean(o->function, builtins, FR_NELEM(builtins));
			f = fr_node_get(v, "function");
			return fr_error_set(c->err, FR_EPIPELINE, &f->mark,
			    "'%s' is not a built-in function (%s%s%s); name a 'library' for it",
			    o->function, hint ? "did you mean '" : "sum, min, max or len",
			    hint ? hint : "", hint ? "'?" : "");
		}
	}
	if ((f = fr_node_get(v, "args"))) {
		if (f->kind != FR_NODE_MAP)
			return fr_check_type(c->err, f, "args", "a map");
		if (!(o->args = fr_tree_parse(f, c->err)))
			return -1;
	}
	if ((iso = fr_node_get(map, "isolation"))) {
		if (fr_check_isstr(iso) && strcmp(iso->str, "process") == 0)
			o->isolation = FR_ISO_PROCESS;
		else if (!fr_check_isstr(iso) || strcmp(iso->str, "thread") != 0)
			return fr_error_set(c->err, FR_EPIPELINE, &iso->mark,
			    "'isolation' must be thread or process, not %s",
			    iso->kind == FR_NODE_SCALAR ? iso->str : fr_node_describe(iso));
	}
	return 0;
}

/* The key node whose value is v in map. */
static const struct fr_node *
keyof(const struct fr_node *map, const struct fr_node *v)
{
	size_t i;

	for (i = 0; i < map->nitem; i += 2)
		if (map->item[i + 1] == v)
			return map->item[i];
	return v;
}

/* What a fetch task needs besides its fetch: mapping: exactly one output, and
 * timeout and retries said once (in the task or in fetch:, which wins over
 * defaults). */
static int
fetchrest(struct fr_declctx *c, struct fr_taskdecl *t, const struct fr_node *map)
{
	const struct fr_node *f = fr_node_get(map, "fetch"), *v;
	struct fr_fetchspec *fs = t->opt->fetch;

	if (t->noutput != 1 && (v = fr_node_get(map, "outputs")))
		return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
		    "a fetch task downloads to exactly one output, not %u", (unsigned)t->noutput);
	if (t->noutput != 1)
		return fr_error_set(c->err, FR_EPIPELINE, &keyof(map, f)->mark,
		    "a fetch task needs 'outputs': the one file it downloads to");
	if (fs->has_timeout && fr_node_get(map, "timeout"))
		return fr_error_set(c->err, FR_EPIPELINE, &fs->timeout_mark,
		    "'timeout' is given twice: in the task and in its fetch; keep one");
	if (fs->has_retries && fr_node_get(map, "retries"))
		return fr_error_set(c->err, FR_EPIPELINE, &fs->retries_mark,
		    "'retries' is given twice: in the task and in its fetch; keep one");
	if (fs->has_timeout)
		fr_taskdecl_ownopt(c, t)->timeout_ns = fs->timeout_ns;
	if (fs->has_retries)
		fr_taskdecl_ownopt(c, t)->retries = (int16_t)fs->retries;
	return 0;
}

/* The node of key in the task map, else (when the defaults are not taken
 * as one set of options, being bad) in the defaults. */
static const struct fr_node *
optnode(struct fr_declctx *c, const struct fr_node *map, const char *key)
{
	const struct fr_node *v = fr_node_get(map, key);

	if (!v && c->defaults && !c->dflt)
		v = fr_node_get(c->defaults, key);
	return v;
}

/* Set an option of t to val: in t's own options, unless it has that value already. */
#define SETOPT(c, t, field, val) do { \
	if ((t)->opt->field != (val)) \
		fr_taskdecl_ownopt((c), (t))->field = (val); \
} while (0)

/* Task t declared as map. Options start as the defaults' and become the
 * task's own (fr_taskdecl_ownopt) only when it sets one. */
static int
loadtask(struct fr_declctx *c, struct fr_taskdecl *t, const struct fr_node *map)
{
	const struct fr_node *v;
	long long n;
	int64_t ns;
	size_t i;

	t->opt = c->dflt ? c->dflt : &fr_taskopt_none;
	if (map->kind != FR_NODE_MAP)
		return fr_error_set(c->err, FR_EPIPELINE, &map->mark,
		    "task '%s' must be a map of keys such as run, needs, inputs, outputs, not %s",
		    t->name, fr_node_describe(map));
	if (fr_check_keys(c->err, map, "a task", taskkeys, FR_NELEM(taskkeys)) < 0)
		return -1;
	for (i = 0; i < map->nitem; i += 2) {
		size_t j;
		for (j = 0; j < FR_NELEM(laterkeys); j++)
			if (strcmp(map->item[i]->str, laterkeys[j]) == 0)
				return fr_error_set(c->err, FR_EPIPELINE, &map->item[i]->mark,
				    "'%s' is not supported by this build of flowrun yet", laterkeys[j]);
	}
	if ((v = fr_node_get(map, "desc")) &&
	    fr_taskdecl_str(c, v, "desc", &fr_taskdecl_ownopt(c, t)->desc) < 0)
		return -1;
	if ((v = fr_node_get(map, "call")) && loadcall(c, t, map, v) < 0)
		return -1;
	if ((v = fr_node_get(map, "fetch"))) {
		if (t->action != FR_ACT_NONE)
			return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
			    "a task has one action: 'call' or 'fetch', not both");
		if (!(fr_taskdecl_ownopt(c, t)->fetch = fr_fetchspec_load(v, c->err)))
			return -1;
		t->action = FR_ACT_FETCH;
	}
	if ((v = fr_node_get(map, "run"))) {
		if (t->action != FR_ACT_NONE)
			return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
			    "a task has one action: 'run' or '%s', not both",
			    t->action == FR_ACT_CALL ? "call" : "fetch");
		if (!fr_check_isstr(v) || v->len == 0)
			return fr_check_type(c->err, v, "run", "a command string");
		if (!(t->run = fr_tmpl_text_in(&c->p->arena, v, c->err)))
			return -1;
		t->action = FR_ACT_RUN;
	}
	if ((v = optnode(c, map, "shell")) &&
	    fr_taskdecl_str(c, v, "shell", &fr_taskdecl_ownopt(c, t)->shell) < 0)
		return -1;
	if ((v = fr_node_get(map, "needs")) && fr_taskdecl_names(c, v, "needs", &t->need, &t->nneed) < 0)
		return -1;
	if ((v = fr_node_get(map, "inputs")) &&
	    wanttmpls(c, v, "inputs", &t->inputs, &t->ninput) < 0)
		return -1;
	if ((v = fr_node_get(map, "outputs")) &&
	    wanttmpls(c, v, "outputs", &t->outputs, &t->noutput) < 0)
		return -1;
	if ((v = fr_node_get(map, "env"))) {
		struct fr_taskopt *o = fr_taskdecl_ownopt(c, t);
		if (fr_taskdecl_env(c, v, &o->env, &o->nenv) < 0)
			return -1;
	}
	if ((v = fr_node_get(map, "dir"))) {
		if (!fr_check_isstr(v) || v->len == 0)
			return fr_check_type(c->err, v, "dir", "a directory path");
		if (!(fr_taskdecl_ownopt(c, t)->dir = fr_tmpl_parse_in(&c->p->arena, v, c->err)))
			return -1;
	}
	if ((v = optnode(c, map, "timeout"))) {
		if (fr_check_duration(c->err, v, "timeout", &ns) < 0)
			return -1;
		SETOPT(c, t, timeout_ns, ns);
	}
	if ((v = optnode(c, map, "retries"))) {
		if (fr_check_int(c->err, v, "retries", 0, 1000, &n) < 0)
			return -1;
		SETOPT(c, t, retries, (int16_t)n);
	}
	if ((v = fr_node_get(map, "always"))) {
		int always;
		if (fr_check_bool(c->err, v, "always", &always) < 0)
			return -1;
		t->always = (unsigned char)always;
	}
	if ((v = fr_node_get(map, "priority"))) {
		if (fr_check_int(c->err, v, "priority", INT_MIN, INT_MAX, &n) < 0)
			return -1;
		SETOPT(c, t, priority, (int)n);
	}
	if ((v = fr_node_get(map, "result"))) {
		unsigned char res;
		if (fr_check_isstr(v) && strcmp(v->str, "stdout") == 0)
			res = FR_RESULT_STDOUT;
		else if (fr_check_isstr(v) && strcmp(v->str, "none") == 0)
			res = FR_RESULT_NONE;
		else
			return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
			    "'result' must be stdout or none, not %s",
			    v->kind == FR_NODE_SCALAR ? v->str : fr_node_describe(v));
		if (res == FR_RESULT_STDOUT && t->action != FR_ACT_RUN)
			return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
			    t->action == FR_ACT_CALL ? "a call task's result is its return value" :
			    t->action == FR_ACT_FETCH ? "a fetch task's result is what it downloaded "
			    "(url, status, bytes, sha256, etag, last_modified, seconds)" :
			    "'result: stdout' needs a 'run' command");
		SETOPT(c, t, result, res);
	}
	if ((v = fr_node_get(map, "isolation")) && t->action != FR_ACT_CALL)
		return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
		    "'isolation' is for call tasks");
	if ((v = fr_node_get(map, "pool"))) {
		for (i = 0; i < c->p->npool; i++)
			if (fr_check_isstr(v) && strcmp(c->p->pool[i].name, v->str) == 0)
				break;
		if (i == c->p->npool)
			return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
			    "unknown pool '%s' (declare it under the top-level 'pools')",
			    v->kind == FR_NODE_SCALAR ? v->str : "?");
		SETOPT(c, t, pool, (int)i);
	}
	if ((v = fr_node_get(map, "foreach")) && loadforeach(c, t, v) < 0)
		return -1;
	if (t->action == FR_ACT_FETCH && fetchrest(c, t, map) < 0)
		return -1;
	return 0;
}

/* The defaults as the options of a task that sets none; NULL when one of
 * them is bad, for each task to check them as its own and so say what is
 * wrong where and when a task meets it. */
const struct fr_taskopt *
fr_taskdecl_defaults(struct fr_declctx *c, const struct fr_node *d)
{
	struct fr_taskopt o = fr_taskopt_none, *r;
	struct fr_error scratch = {0};
	const struct fr_node *v;
	long long n;

	if ((v = fr_node_get(d, "shell"))) {
		if (!fr_check_isstr(v))
			return NULL;
		o.shell = astr(c, v);
	}
	if ((v = fr_node_get(d, "timeout")) &&
	    fr_check_duration(&scratch, v, "timeout", &o.timeout_ns) < 0)
		return NULL;
	if ((v = fr_node_get(d, "retries"))) {
		if (fr_check_int(&scratch, v, "retries", 0, 1000, &n) < 0)
			return NULL;
		o.retries = (int16_t)n;
	}
	r = fr_arena_alloc(&c->p->arena, sizeof(*r), _Alignof(struct fr_taskopt));
	*r = o;
	return r;
}

/* A new declaration named k, in the arena, appended to p->task (which
 * doubles as it fills: a streamed load does not know how many will come). */
static struct fr_taskdecl *
newtask(struct fr_declctx *c, const struct fr_node *k)
{
	struct fr_pipeline *p = c->p;
	struct fr_taskdecl *t = fr_arena_zalloc(&p->arena, sizeof(*t), _Alignof(struct fr_taskdecl));

	t->name = astr(c, k);
	t->line = k->mark.line;
	t->col = k->mark.col;
	t->opt = &fr_taskopt_none;
	t->index = (uint32_t)p->ntask;
	FR_PUSH(p->task, p->ntask, c->taskcap, t);
	if (p->npathmark <= UINT32_MAX && p->npathat == t->index)	/* its paths' marks */
		FR_PUSH(p->pathat, p->npathat, p->pathatcap, (uint32_t)p->npathmark);
	return t;
}

/* Task k (its name) declared as v. 0, or -1 with the error set. */
int
fr_taskdecl_add(struct fr_declctx *c, const struct fr_node *k, const struct fr_node *v)
{
	struct fr_pipeline *p = c->p;
	struct fr_taskdecl *t;

	if (p->ntask == FR_MAX_TASKS)	/* decl->index has room for no more */
		return fr_error_set(c->err, FR_EPIPELINE, &k->mark, "more than %u tasks",
		    FR_MAX_TASKS);
	t = newtask(c, k);

	if (!fr_pipeline_valid_name(t->name))
		return fr_error_set(c->err, FR_EPIPELINE, &k->mark,
		    "'%s' is not a valid task name (letters, digits, _ and -)", t->name);
	fr_htab_put(p->bytask, t->name, t);
	return loadtask(c, t, v);
}
