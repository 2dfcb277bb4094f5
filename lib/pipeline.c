/* SPDX-License-Identifier: MIT */
/* pipeline: turn the YAML tree into the declared model, checking every key,
 * type, name and template reference, so later stages never see a bad pipeline. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "fetchspec.h"
#include "pipeline.h"
#include "util.h"

static const char *const topkeys[] = {
	"flowrun", "name", "default", "vars", "env", "defaults", "pools", "tasks",
};
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
static const char *const defaultkeys[] = { "timeout", "retries", "shell" };

struct ctx {
	struct fr_pipeline *p;
	struct fr_error *err;
	const struct fr_node *defaults;
	json_t *scratch;		/* the last env value a template asked for */
	unsigned long long instances;	/* foreach instances declared so far */
	const struct fr_define *def;	/* -D */
	size_t ndef;
	size_t taskcap;			/* of p->task */
	const struct fr_taskopt *dflt;	/* the defaults as options, or NULL when they
					 * are checked task by task (one is bad) */
	struct fr_taskopt *own;		/* the options of the task being loaded, once
					 * it sets one */
};

const struct fr_taskopt fr_taskopt_none = { .pool = -1 };

int
fr_pipeline_valid_name(const char *s)
{
	if (!(*s == '_' || isalpha((unsigned char)*s)))
		return 0;
	for (s++; *s; s++)
		if (!(*s == '_' || *s == '-' || isalnum((unsigned char)*s)))
			return 0;
	return 1;
}

/* A copy of v's string in the pipeline's arena. */
static char *
astr(struct ctx *c, const struct fr_node *v)
{
	return fr_arena_strndup(&c->p->arena, v->str, v->len);
}

/* n zeroed elements of sz bytes in the pipeline's arena (NULL when n is 0). */
static void *
aarray(struct ctx *c, size_t n, size_t sz, size_t align)
{
	return n ? fr_arena_zalloc(&c->p->arena, n * sz, align) : NULL;
}
#define AARRAY(c, n, type) ((type *)aarray((c), (n), sizeof(type), _Alignof(type)))

/* A string, copied into the pipeline's arena. */
static int
wantstr(struct ctx *c, const struct fr_node *v, const char *key, char **out)
{
	if (!fr_check_isstr(v))
		return fr_check_type(c->err, v, key, "a string");
	*out = astr(c, v);
	return 0;
}

/* The options of t, its own from now on: a copy, in the arena, of the shared
 * ones it had. */
static struct fr_taskopt *
ownopt(struct ctx *c, struct fr_taskdecl *t)
{
	if (!c->own) {
		c->own = fr_arena_alloc(&c->p->arena, sizeof(*c->own), _Alignof(struct fr_taskopt));
		*c->own = *t->opt;
		t->opt = c->own;
	}
	return c->own;
}

/* A name or a list of names. */
static int
wantnames(struct ctx *c, const struct fr_node *v, const char *key, struct fr_name **out,
    uint32_t *n)
{
	size_t i, cnt = v->kind == FR_NODE_SEQ ? v->nitem : 1;

	if (v->kind == FR_NODE_MAP)
		return fr_check_type(c->err, v, key, "a task name or a list of task names");
	*out = AARRAY(c, cnt, struct fr_name);
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

/* A string or a list of strings, each parsed as a template. */
static int
wanttmpls(struct ctx *c, const struct fr_node *v, const char *key, struct fr_tmpl ***out,
    uint32_t *n)
{
	size_t i, cnt = v->kind == FR_NODE_SEQ ? v->nitem : 1;

	if (v->kind == FR_NODE_MAP)
		return fr_check_type(c->err, v, key, "a path or a list of paths");
	*out = AARRAY(c, cnt, struct fr_tmpl *);
	for (i = 0; i < cnt; i++) {
		const struct fr_node *it = v->kind == FR_NODE_SEQ ? v->item[i] : v;
		if (it->kind != FR_NODE_SCALAR || it->type != FR_SCALAR_STR || it->len == 0)
			return fr_check_type(c->err, it, key, "a path or a list of paths");
		if (!((*out)[*n] = fr_tmpl_parse_in(&c->p->arena, it, c->err)))
			return -1;
		++*n;
	}
	return 0;
}

/* A map of NAME: scalar, each value a template. */
static int
wantenv(struct ctx *c, const struct fr_node *v, struct fr_kv **out, uint32_t *n)
{
	size_t i;

	if (v->kind != FR_NODE_MAP)
		return fr_check_type(c->err, v, "env", "a map of variable names to values");
	*out = AARRAY(c, v->nitem / 2, struct fr_kv);
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

/* Lookup for templates evaluated at load time: vars and env only. */
static json_t *
loadlookup(void *arg, const struct fr_ref *ref, struct fr_error *err)
{
	struct ctx *c = arg;
	const char *val;
	json_t *v;

	if (ref->kind == FR_REF_NAME) {
		if ((v = json_object_get(c->p->vars, ref->name)))
			return v;
		fr_error_set(err, FR_EPIPELINE, &ref->mark,
		    "unknown name '%s' (vars can only use vars defined before them)", ref->name);
		return NULL;
	}
	if (ref->kind == FR_REF_ENV) {
		if (!(val = fr_pipeline_env(c->p, ref->name))) {
			fr_error_set(err, FR_EPIPELINE, &ref->mark,
			    "environment variable '%s' is not set", ref->name);
			return NULL;
		}
		json_decref(c->scratch);
		if (!(c->scratch = json_string(val)))
			fr_error_set(err, FR_EPIPELINE, &ref->mark,
			    "environment variable '%s' is not valid UTF-8", ref->name);
		return c->scratch;
	}
	fr_error_set(err, FR_EPIPELINE, &ref->mark,
	    "tasks.%s cannot be used here (only in a task's run and env)", ref->name);
	return NULL;
}

/* The value of -D name=value: read like a plain YAML scalar. */
static json_t *
defvalue(struct ctx *c, const struct fr_define *d)
{
	struct fr_node n = {0};
	json_t *val;

	if (!fr_pipeline_valid_name(d->name) || !strcmp(d->name, "env") || !strcmp(d->name, "tasks")) {
		fr_error_set(c->err, FR_EUSAGE, NULL, "-D %s: not a valid var name", d->name);
		return NULL;
	}
	n.kind = FR_NODE_SCALAR;
	n.str = (char *)d->value;
	n.len = strlen(d->value);
	n.type = fr_scalar_resolve(n.str, n.len);
	n.plain = 1;
	if (!(val = fr_node_json(&n, c->err)))
		fr_error_set(c->err, FR_EUSAGE, NULL, "-D %s: bad value", d->name);
	return val;
}

static int
loadvars(struct ctx *c, const struct fr_node *vars, const struct fr_define *def, size_t ndef)
{
	size_t i, j;

	c->p->vars = json_object();
	if (vars && vars->kind != FR_NODE_MAP)
		return fr_check_type(c->err, vars, "vars", "a map of names to values");
	for (i = 0; vars && i < vars->nitem; i += 2) {
		const struct fr_node *k = vars->item[i], *v = vars->item[i + 1];
		json_t *val = NULL;
		if (!fr_pipeline_valid_name(k->str) || !strcmp(k->str, "env") ||
		    !strcmp(k->str, "tasks"))
			return fr_error_set(c->err, FR_EPIPELINE, &k->mark,
			    "'%s' is not a valid var name (letters, digits, _ and -; "
			    "not env or tasks)", k->str);
		for (j = 0; j < ndef; j++)
			if (strcmp(def[j].name, k->str) == 0)
				break;
		if (j < ndef) {
			/* -D wins, in place, so that later vars see it */
			if (!(val = defvalue(c, &def[j])))
				return -1;
		} else if (fr_check_isstr(v) && strstr(v->str, "${{")) {
			struct fr_tmpl *t = fr_tmpl_parse(v, c->err);
			if (!t)
				return -1;
			val = fr_tmpl_eval(t, loadlookup, c, c->err);
			fr_tmpl_free(t);
		} else {
			val = fr_node_json(v, c->err);
		}
		if (!val)
			return -1;
		json_object_set_new(c->p->vars, k->str, val);
	}
	for (j = 0; j < ndef; j++) {
		json_t *val;
		if (json_object_get(c->p->vars, def[j].name))
			continue;
		if (!(val = defvalue(c, &def[j])))
			return -1;
		json_object_set_new(c->p->vars, def[j].name, val);
	}
	return 0;
}

static int
loadenv(struct ctx *c, const struct fr_node *env)
{
	struct fr_kv *kv = NULL;
	uint32_t n = 0;
	size_t i;
	int rc = 0;

	if (!env)
		return 0;
	if (wantenv(c, env, &kv, &n) < 0)
		rc = -1;
	c->p->envname = fr_xcalloc(n, sizeof(char *));
	c->p->envval = fr_xcalloc(n, sizeof(char *));
	for (i = 0; i < n && rc == 0; i++) {
		char *val = fr_tmpl_text(kv[i].value, loadlookup, c, c->err);
		if (!val)
			rc = -1;
		else {
			c->p->envname[c->p->nenv] = kv[i].name;	/* in the arena */
			c->p->envval[c->p->nenv++] = val;
		}
	}
	return rc;
}

static int
loadpools(struct ctx *c, const struct fr_node *pools)
{
	size_t i;

	if (!pools)
		return 0;
	if (pools->kind != FR_NODE_MAP)
		return fr_check_type(c->err, pools, "pools", "a map of pool names to sizes");
	c->p->pool = fr_xcalloc(pools->nitem / 2, sizeof(*c->p->pool));
	for (i = 0; i < pools->nitem; i += 2) {
		long long n;
		if (!fr_pipeline_valid_name(pools->item[i]->str))
			return fr_error_set(c->err, FR_EPIPELINE, &pools->item[i]->mark,
			    "'%s' is not a valid pool name", pools->item[i]->str);
		if (fr_check_int(c->err, pools->item[i + 1], pools->item[i]->str, 1, INT_MAX, &n) < 0)
			return -1;
		c->p->pool[c->p->npool].name = fr_xstrdup(pools->item[i]->str);
		c->p->pool[c->p->npool++].limit = (int)n;
	}
	return 0;
}

static int
loadforeach(struct ctx *c, struct fr_taskdecl *t, const struct fr_node *fe)
{
	struct fr_taskopt *o;
	size_t i;
	unsigned long long total = 1;

	if (fe->kind != FR_NODE_MAP || fe->nitem == 0)
		return fr_check_type(c->err, fe, "foreach", "a map of names to lists");
	o = ownopt(c, t);
	o->foreach = AARRAY(c, fe->nitem / 2, struct fr_foreach);
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
			if (wantstr(c, v->item[1], "glob", &f->glob) < 0)
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

static int
unknowntask(struct ctx *c, const char *name, const struct fr_mark *m)
{
	const char **cand = fr_xcalloc(c->p->ntask, sizeof(*cand));
	const char *hint;
	size_t i;

	for (i = 0; i < c->p->ntask; i++)
		cand[i] = c->p->task[i]->name;
	hint = fr_didyoumean(name, cand, c->p->ntask);
	if (hint)
		fr_error_set(c->err, FR_EPIPELINE, m, "unknown task '%s' (did you mean '%s'?)",
		    name, hint);
	else
		fr_error_set(c->err, FR_EPIPELINE, m, "unknown task '%s'", name);
	free(cand);
	return -1;
}

/* Resolve the references of t used as `what` in task d (NULL: pipeline level). */
static int
resolve(struct ctx *c, struct fr_taskdecl *d, struct fr_tmpl *t, const char *what,
    int allow_outputs, int allow_result)
{
	size_t i, j;

	for (i = 0; i < t->nseg; i++) {
		struct fr_ref *r = t->seg[i].ref;
		struct fr_taskdecl *x;
		if (!r)
			continue;
		switch (r->kind) {
		case FR_REF_NAME:
			for (j = 0; j < d->opt->nforeach; j++)
				if (strcmp(d->opt->foreach[j].name, r->name) == 0)
					break;
			if (j < d->opt->nforeach) {
				r->slot = (int)j;
				break;
			}
			if (json_object_get(c->p->vars, r->name)) {
				r->slot = -1;
				break;
			}
			{
				const char **cand = fr_xcalloc(d->opt->nforeach +
				    json_object_size(c->p->vars), sizeof(*cand));
				const char *key, *hint;
				json_t *val;
				size_t n = 0;
				for (j = 0; j < d->opt->nforeach; j++)
					cand[n++] = d->opt->foreach[j].name;
				json_object_foreach(c->p->vars, key, val)
					cand[n++] = key;
				hint = fr_didyoumean(r->name, cand, n);
				if (hint)
					fr_error_set(c->err, FR_EPIPELINE, &r->mark,
					    "unknown name '%s' (did you mean '%s'?)", r->name, hint);
				else
					fr_error_set(c->err, FR_EPIPELINE, &r->mark,
					    "unknown name '%s' (not a var or a foreach variable of "
					    "task '%s')", r->name, d->name);
				free(cand);
				return -1;
			}
		case FR_REF_ENV:
			if (!fr_pipeline_env(c->p, r->name))
				return fr_error_set(c->err, FR_EPIPELINE, &r->mark,
				    "environment variable '%s' is not set", r->name);
			break;
		case FR_REF_RESULT:
		case FR_REF_OUTPUTS:
			if ((r->kind == FR_REF_RESULT && !allow_result) ||
			    (r->kind == FR_REF_OUTPUTS && !allow_outputs))
				return fr_error_set(c->err, FR_EPIPELINE, &r->mark,
				    "tasks.%s.%s cannot be used in %s", r->name,
				    r->kind == FR_REF_RESULT ? "result" : "outputs", what);
			if (!(x = fr_htab_get(c->p->bytask, r->name)))
				return unknowntask(c, r->name, &r->mark);
			if (x == d)
				return fr_error_set(c->err, FR_EPIPELINE, &r->mark,
				    "task '%s' refers to itself", d->name);
			r->target = x;
			for (j = 0; j < d->nuses; j++)
				if (d->uses[j] == x)
					break;
			if (j == d->nuses) {
				if ((d->nuses & (d->nuses - 1)) == 0) {
					/* at a power of two: twice the room, in the arena */
					struct fr_taskdecl **u = AARRAY(c, d->nuses ? 2 * d->nuses : 1,
					    struct fr_taskdecl *);
					if (d->nuses)
						memcpy(u, d->uses, d->nuses * sizeof(*u));
					d->uses = u;
				}
				d->uses[d->nuses++] = x;
			}
			break;
		}
	}
	return 0;
}

/* call: {library, function, args} and the task's isolation. */
static int
loadcall(struct ctx *c, struct fr_taskdecl *t, const struct fr_node *map, const struct fr_node *v)
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
	o = ownopt(c, t);
	if (wantstr(c, f, "function", &o->function) < 0)
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
fetchrest(struct ctx *c, struct fr_taskdecl *t, const struct fr_node *map)
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
		ownopt(c, t)->timeout_ns = fs->timeout_ns;
	if (fs->has_retries)
		ownopt(c, t)->retries = (int16_t)fs->retries;
	return 0;
}

/* The node of key in the task map, else (when the defaults are not taken
 * as one set of options, being bad) in the defaults. */
static const struct fr_node *
optnode(struct ctx *c, const struct fr_node *map, const char *key)
{
	const struct fr_node *v = fr_node_get(map, key);

	if (!v && c->defaults && !c->dflt)
		v = fr_node_get(c->defaults, key);
	return v;
}

/* Set an option of t to val: in t's own options, unless it has that value already. */
#define SETOPT(c, t, field, val) do { \
	if ((t)->opt->field != (val)) \
		ownopt((c), (t))->field = (val); \
} while (0)

/* Task t declared as map. Options start as the defaults' and become the
 * task's own (ownopt) only when it sets one. */
static int
loadtask(struct ctx *c, struct fr_taskdecl *t, const struct fr_node *map)
{
	const struct fr_node *v;
	long long n;
	int64_t ns;
	size_t i;

	c->own = NULL;
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
	if ((v = fr_node_get(map, "desc")) && wantstr(c, v, "desc", &ownopt(c, t)->desc) < 0)
		return -1;
	if ((v = fr_node_get(map, "call")) && loadcall(c, t, map, v) < 0)
		return -1;
	if ((v = fr_node_get(map, "fetch"))) {
		if (t->action != FR_ACT_NONE)
			return fr_error_set(c->err, FR_EPIPELINE, &v->mark,
			    "a task has one action: 'call' or 'fetch', not both");
		if (!(ownopt(c, t)->fetch = fr_fetchspec_load(v, c->err)))
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
		if (!(t->run = fr_tmpl_parse_in(&c->p->arena, v, c->err)))
			return -1;
		t->action = FR_ACT_RUN;
	}
	if ((v = optnode(c, map, "shell")) && wantstr(c, v, "shell", &ownopt(c, t)->shell) < 0)
		return -1;
	if ((v = fr_node_get(map, "needs")) && wantnames(c, v, "needs", &t->need, &t->nneed) < 0)
		return -1;
	if ((v = fr_node_get(map, "inputs")) && wanttmpls(c, v, "inputs", &t->input, &t->ninput) < 0)
		return -1;
	if ((v = fr_node_get(map, "outputs")) &&
	    wanttmpls(c, v, "outputs", &t->output, &t->noutput) < 0)
		return -1;
	if ((v = fr_node_get(map, "env"))) {
		struct fr_taskopt *o = ownopt(c, t);
		if (wantenv(c, v, &o->env, &o->nenv) < 0)
			return -1;
	}
	if ((v = fr_node_get(map, "dir"))) {
		if (!fr_check_isstr(v) || v->len == 0)
			return fr_check_type(c->err, v, "dir", "a directory path");
		if (!(ownopt(c, t)->dir = fr_tmpl_parse_in(&c->p->arena, v, c->err)))
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

/* Second pass, once every task is known: names in needs, template references. */
static int
linktask(struct ctx *c, struct fr_taskdecl *t)
{
	const struct fr_taskopt *o = t->opt;
	size_t i;

	for (i = 0; i < t->nneed; i++)
		if (!fr_htab_get(c->p->bytask, t->need[i].name))
			return unknowntask(c, t->need[i].name, &t->need[i].mark);
	if (t->run && resolve(c, t, t->run, "run", 1, 1) < 0)
		return -1;
	for (i = 0; i < o->nenv; i++)
		if (resolve(c, t, o->env[i].value, "env", 1, 1) < 0)
			return -1;
	for (i = 0; i < t->noutput; i++)
		if (resolve(c, t, t->output[i], "outputs", 0, 0) < 0)
			return -1;
	for (i = 0; i < t->ninput; i++)
		if (resolve(c, t, t->input[i], "inputs", 1, 0) < 0)
			return -1;
	if (o->dir && resolve(c, t, o->dir, "dir", 0, 0) < 0)
		return -1;
	if (o->library && resolve(c, t, o->library, "library", 0, 0) < 0)
		return -1;
	for (i = 0; o->args && i < o->args->ntmpl; i++)
		if (resolve(c, t, o->args->tmpl[i], "args", 1, 1) < 0)
			return -1;
	if (o->fetch && resolve(c, t, o->fetch->url, "url", 1, 1) < 0)
		return -1;
	for (i = 0; o->fetch && i < o->fetch->nheader; i++)
		if (resolve(c, t, o->fetch->header[i].value, "headers", 1, 1) < 0)
			return -1;
	if (o->fetch && o->fetch->cacert && resolve(c, t, o->fetch->cacert, "cacert", 0, 0) < 0)
		return -1;
	return 0;
}

static char *
dirof(const char *path)
{
	char *slash = strrchr(path, '/'), *cwd, *d;

	if (path[0] == '/')
		return slash == path ? fr_xstrdup("/") : fr_xstrndup(path, (size_t)(slash - path));
	cwd = getcwd(NULL, 0);
	if (!cwd)
		cwd = fr_xstrdup(".");
	d = slash ? fr_xasprintf("%s/%.*s", cwd, (int)(slash - path), path) : fr_xstrdup(cwd);
	free(cwd);
	return d;
}

/* The defaults as the options of a task that sets none; NULL when one of
 * them is bad, for each task to check them as its own and so say what is
 * wrong where and when a task meets it. */
static const struct fr_taskopt *
dfltopt(struct ctx *c, const struct fr_node *d)
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

/* The root keys that loading a task depends on: a streamed load has them all
 * before 'tasks' or is no good. */
static const char *const headkeys[] = {
	"flowrun", "name", "vars", "env", "defaults", "pools",
};

/* Everything of root (the whole root map, or in a streamed load what comes
 * before 'tasks') that tasks depend on. 0, or -1 with the error set. */
static int
loadhead(struct ctx *c, const struct fr_node *root)
{
	struct fr_pipeline *p = c->p;
	struct fr_error *err = c->err;
	const struct fr_node *v;
	long long ver;

	if (!root || root->kind != FR_NODE_MAP) {
		struct fr_mark m = { p->file, root ? root->mark.line : 1, root ? root->mark.col : 1 };
		return fr_error_set(err, FR_EPIPELINE, &m,
		    "a pipeline must be a map with the keys 'flowrun: 1' and 'tasks'");
	}
	if (fr_check_keys(c->err, root, "the pipeline", topkeys, FR_NELEM(topkeys)) < 0)
		return -1;
	if (!(v = fr_node_get(root, "flowrun")))
		return fr_error_set(err, FR_EPIPELINE, &root->mark,
		    "missing the format version: add 'flowrun: 1' at the top");
	if (v->kind != FR_NODE_SCALAR || v->type != FR_SCALAR_INT ||
	    (fr_check_int(c->err, v, "flowrun", 1, 1, &ver) < 0 && (fr_error_clear(err), 1)))
		return fr_error_set(err, FR_EPIPELINE, &v->mark,
		    "unsupported format version '%s' (this flowrun reads version 1)",
		    v->kind == FR_NODE_SCALAR ? v->str : fr_node_describe(v));
	if ((v = fr_node_get(root, "name")) && wantstr(c, v, "name", &p->name) < 0)
		return -1;
	if ((v = fr_node_get(root, "defaults"))) {
		if (v->kind != FR_NODE_MAP)
			return fr_check_type(c->err, v, "defaults", "a map");
		if (fr_check_keys(c->err, v, "defaults", defaultkeys, FR_NELEM(defaultkeys)) < 0)
			return -1;
		c->defaults = v;
		c->dflt = dfltopt(c, v);
	}
	/* vars may use flowrun's environment; the pipeline env may use vars */
	if (loadvars(c, fr_node_get(root, "vars"), c->def, c->ndef) < 0 ||
	    loadenv(c, fr_node_get(root, "env")) < 0 ||
	    loadpools(c, fr_node_get(root, "pools")) < 0)
		return -1;
	return 0;
}

/* A new declaration named k, in the arena, appended to p->task (which
 * doubles as it fills: a streamed load does not know how many will come). */
static struct fr_taskdecl *
newtask(struct ctx *c, const struct fr_node *k)
{
	struct fr_pipeline *p = c->p;
	struct fr_taskdecl *t = fr_arena_zalloc(&p->arena, sizeof(*t), _Alignof(struct fr_taskdecl));

	t->name = astr(c, k);
	t->mark = k->mark;
	t->opt = &fr_taskopt_none;
	t->index = (uint32_t)p->ntask;
	FR_PUSH(p->task, p->ntask, c->taskcap, t);
	return t;
}

/* Task k (its name) declared as v. 0, or -1 with the error set. */
static int
addtask(struct ctx *c, const struct fr_node *k, const struct fr_node *v)
{
	struct fr_pipeline *p = c->p;
	struct fr_taskdecl *t = newtask(c, k);

	if (!fr_pipeline_valid_name(t->name))
		return fr_error_set(c->err, FR_EPIPELINE, &k->mark,
		    "'%s' is not a valid task name (letters, digits, _ and -)", t->name);
	fr_htab_put(p->bytask, t->name, t);
	return loadtask(c, t, v);
}

static int
streamhead(void *arg, const struct fr_node *root, struct fr_error *err)
{
	(void)err;		/* the ctx's */
	return loadhead(arg, root);
}

static int
streamtask(void *arg, const struct fr_node *key, const struct fr_node *value,
    struct fr_error *err)
{
	(void)err;
	return addtask(arg, key, value);
}

/* Whether any of headkeys comes after 'tasks' in root. */
static int
headlate(const struct fr_node *root)
{
	size_t i, k;
	int after = 0;

	for (i = 0; i + 1 < root->nitem; i += 2) {
		const struct fr_node *key = root->item[i];
		if (after)
			for (k = 0; k < FR_NELEM(headkeys); k++)
				if (strcmp(key->str, headkeys[k]) == 0)
					return 1;
		after |= strcmp(key->str, "tasks") == 0;
	}
	return 0;
}

/* Load the pipeline at path; with stream, each task as soon as the parse has
 * it (fr_load_hook), so that the whole tree is never in memory. NULL with the
 * error set on failure, and *again set when a load without stream may do
 * better (it failed after streaming began: the stream may have been what
 * failed, and if not, the other load says the same, in the same order). */
static struct fr_pipeline *
load(const char *path, const struct fr_define *def, size_t ndef, enum fr_cache_mode cache,
    int stream, int *again, struct fr_error *err)
{
	struct fr_pipeline *p = fr_xcalloc(1, sizeof(*p));
	struct ctx c = { .p = p, .err = err, .def = def, .ndef = ndef };
	struct fr_load_hook hook = { streamhead, streamtask, &c, 0 };
	const struct fr_node *root, *v, *tasks;
	struct fr_doc *doc = NULL;
	char *cachedir;
	size_t i;

	*again = 0;
	p->unsaved.fd = -1;
	p->dir = dirof(path);
	p->bytask = fr_htab_new(16);
	p->seen = fr_seen_new();
	cachedir = fr_xasprintf("%s/.flowrun", p->dir);
	doc = fr_treecache_load(path, cachedir, cache, &p->unsaved, stream ? &hook : NULL, err);
	free(cachedir);
	if (!doc) {
		*again = hook.engaged;
		p->file = fr_xstrdup(path);
		goto fail;
	}
	/* every mark points at the doc's file name: keep it, free the tree */
	p->file = doc->file;
	doc->file = NULL;
	root = doc->root;
	*again = doc->streamed;
	if (doc->streamed) {
		/* the head was loaded from what came before 'tasks' */
		if (headlate(root) ||
		    fr_check_keys(c.err, root, "the pipeline", topkeys, FR_NELEM(topkeys)) < 0)
			goto fail;
		tasks = fr_node_get(root, "tasks");
	} else {
		if (loadhead(&c, root) < 0)
			goto fail;
		tasks = fr_node_get(root, "tasks");
	}
	if (!tasks) {
		fr_error_set(err, FR_EPIPELINE, &root->mark, "missing 'tasks': nothing to run");
		goto fail;
	}
	if (tasks->kind != FR_NODE_MAP || tasks->nitem == 0) {
		fr_check_type(c.err, tasks, "tasks", "a map of task names to tasks");
		goto fail;
	}
	if (!doc->streamed) {
		fr_htab_free(p->bytask);
		p->bytask = fr_htab_new(tasks->nitem / 2);
		for (i = 0; i < tasks->nitem; i += 2)
			if (addtask(&c, tasks->item[i], tasks->item[i + 1]) < 0)
				goto fail;
	}
	for (i = 0; i < p->ntask; i++)
		if (linktask(&c, p->task[i]) < 0)
			goto fail;
	if ((v = fr_node_get(root, "default"))) {
		uint32_t n = 0;
		if (wantnames(&c, v, "default", &p->deflt, &n) < 0)
			goto fail;
		p->ndeflt = n;
		for (i = 0; i < p->ndeflt; i++) {
			const char *nm = p->deflt[i].name, *br = strchr(nm, '[');
			size_t len = br ? (size_t)(br - nm) : strlen(nm);
			if (!fr_htab_getn(p->bytask, nm, len)) {
				char *base = fr_xstrndup(nm, len);
				unknowntask(&c, base, &p->deflt[i].mark);
				free(base);
				goto fail;
			}
		}
	}
	if (p->unsaved.fd >= 0)		/* p->dir is absolute: chdir may come */
		p->unsaved_path = fr_xasprintf("%s/%s", p->dir,
		    strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	fr_doc_free(doc);
	json_decref(c.scratch);
	return p;
fail:
	fr_doc_free(doc);
	json_decref(c.scratch);
	fr_pipeline_free(p);
	return NULL;
}

struct fr_pipeline *
fr_pipeline_load(const char *path, const struct fr_define *def, size_t ndef,
    enum fr_cache_mode cache, struct fr_error *err)
{
	struct fr_pipeline *p;
	int again;

	if ((p = load(path, def, ndef, cache, 1, &again, err)) || !again)
		return p;
	fr_error_clear(err);
	return load(path, def, ndef, cache, 0, &again, err);
}

void
fr_pipeline_cache(struct fr_pipeline *p)
{
	char *cachedir;

	if (p->unsaved.fd < 0 || !p->unsaved_path)
		return;
	cachedir = fr_xasprintf("%s/.flowrun", p->dir);
	fr_treecache_save(&p->unsaved, p->unsaved_path, cachedir);
	free(cachedir);
	free(p->unsaved_path);
	p->unsaved_path = NULL;
}

const char *
fr_pipeline_env(const struct fr_pipeline *p, const char *name)
{
	const char *val;
	size_t i;

	for (i = 0; i < p->nenv; i++)
		if (strcmp(p->envname[i], name) == 0)
			return p->envval[i];
	val = getenv(name);
	fr_seen_env(p->seen, name, val);
	return val;
}

struct fr_taskdecl *
fr_pipeline_task(const struct fr_pipeline *p, const char *name)
{
	return fr_htab_get(p->bytask, name);
}

/* Free what of t is not in the arena. Shared options hold none of it (the
 * defaults are only shell, timeout and retries), so this frees only a task's own. */
static void
freetask(struct fr_taskdecl *t)
{
	const struct fr_taskopt *o = t->opt;
	size_t i;

	fr_tree_free(o->args);
	fr_fetchspec_free(o->fetch);
	for (i = 0; i < o->nforeach; i++)
		json_decref(o->foreach[i].list);
}

void
fr_pipeline_free(struct fr_pipeline *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->ntask; i++)
		freetask(p->task[i]);
	free(p->task);
	fr_htab_free(p->bytask);
	fr_seen_free(p->seen);
	if (p->unsaved.fd >= 0)
		close(p->unsaved.fd);
	free(p->unsaved_path);
	json_decref(p->vars);
	for (i = 0; i < p->nenv; i++)
		free(p->envval[i]);
	free(p->envname);
	free(p->envval);
	for (i = 0; i < p->npool; i++)
		free(p->pool[i].name);
	free(p->pool);
	free(p->file);
	free(p->dir);
	fr_arena_free(&p->arena);
	free(p);
}
