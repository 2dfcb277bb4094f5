/* SPDX-License-Identifier: MIT */
/* pipeline: turn the YAML tree into the declared model, checking every key,
 * type, name and template reference, so later stages never see a bad pipeline.
 * Each task's declaration is read by taskdecl; here are the head, the links. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "fetchspec.h"
#include "pipeline.h"
#include "taskdecl.h"
#include "util.h"

static const char *const topkeys[] = {
	"flowrun", "name", "default", "vars", "env", "defaults", "pools", "tasks",
};
static const char *const defaultkeys[] = { "timeout", "retries", "shell" };

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

/* Lookup for templates evaluated at load time: vars and env only. */
static json_t *
loadlookup(void *arg, const struct fr_ref *ref, struct fr_error *err)
{
	struct fr_declctx *c = arg;
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
defvalue(struct fr_declctx *c, const struct fr_define *d)
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
loadvars(struct fr_declctx *c, const struct fr_node *vars, const struct fr_define *def,
    size_t ndef)
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
loadenv(struct fr_declctx *c, const struct fr_node *env)
{
	struct fr_kv *kv = NULL;
	uint32_t n = 0;
	size_t i;
	int rc = 0;

	if (!env)
		return 0;
	if (fr_taskdecl_env(c, env, &kv, &n) < 0)
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
loadpools(struct fr_declctx *c, const struct fr_node *pools)
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
unknowntask(struct fr_declctx *c, const char *name, const struct fr_mark *m)
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
resolve(struct fr_declctx *c, struct fr_taskdecl *d, struct fr_tmpl *t, const char *what,
    int allow_outputs, int allow_result)
{
	size_t i, j;

	for (i = 0; i < t->nseg; i++) {
		struct fr_ref *r = fr_tmpl_segs(t)[i].ref;
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
			for (j = 0; j < d->opt->nuses; j++)
				if (d->opt->uses[j] == x)
					break;
			if (j == d->opt->nuses) {
				struct fr_taskopt *o = fr_taskdecl_ownopt(c, d);
				if ((o->nuses & (o->nuses - 1)) == 0) {
					/* at a power of two: twice the room, in the arena */
					struct fr_taskdecl **u = FR_AARRAY(c, o->nuses ? 2 * o->nuses : 1,
					    struct fr_taskdecl *);
					if (o->nuses)
						memcpy(u, o->uses, o->nuses * sizeof(*u));
					o->uses = u;
				}
				o->uses[o->nuses++] = x;
			}
			break;
		}
	}
	return 0;
}

/* resolve() for the template whose text is s: a bare text has no reference. */
static int
resolvetext(struct fr_declctx *c, struct fr_taskdecl *d, const char *s, const char *what,
    int allow_outputs, int allow_result)
{
	return fr_tmpl_isbare(s) ? 0 :
	    resolve(c, d, fr_tmpl_of(s), what, allow_outputs, allow_result);
}

/* Second pass, once every task is known: names in needs, template references. */
static int
linktask(struct fr_declctx *c, struct fr_taskdecl *t)
{
	const struct fr_taskopt *o = t->opt;
	size_t i;

	for (i = 0; i < t->nneed; i++)
		if (!fr_htab_get(c->p->bytask, t->need[i].name))
			return unknowntask(c, t->need[i].name, &t->need[i].mark);
	if (t->run && resolvetext(c, t, t->run, "run", 1, 1) < 0)
		return -1;
	for (i = 0; i < o->nenv; i++)
		if (resolve(c, t, o->env[i].value, "env", 1, 1) < 0)
			return -1;
	for (i = 0; i < t->noutput; i++)
		if (resolvetext(c, t, fr_taskdecl_output(t)[i], "outputs", 0, 0) < 0)
			return -1;
	for (i = 0; i < t->ninput; i++)
		if (resolvetext(c, t, fr_taskdecl_input(t)[i], "inputs", 1, 0) < 0)
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

/* The root keys that loading a task depends on: a streamed load has them all
 * before 'tasks' or is no good. */
static const char *const headkeys[] = {
	"flowrun", "name", "vars", "env", "defaults", "pools",
};

/* Everything of root (the whole root map, or in a streamed load what comes
 * before 'tasks') that tasks depend on. 0, or -1 with the error set. */
static int
loadhead(struct fr_declctx *c, const struct fr_node *root)
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
	if ((v = fr_node_get(root, "name")) && fr_taskdecl_str(c, v, "name", &p->name) < 0)
		return -1;
	if ((v = fr_node_get(root, "defaults"))) {
		if (v->kind != FR_NODE_MAP)
			return fr_check_type(c->err, v, "defaults", "a map");
		if (fr_check_keys(c->err, v, "defaults", defaultkeys, FR_NELEM(defaultkeys)) < 0)
			return -1;
		c->defaults = v;
		c->dflt = fr_taskdecl_defaults(c, v);
	}
	/* vars may use flowrun's environment; the pipeline env may use vars */
	if (loadvars(c, fr_node_get(root, "vars"), c->def, c->ndef) < 0 ||
	    loadenv(c, fr_node_get(root, "env")) < 0 ||
	    loadpools(c, fr_node_get(root, "pools")) < 0)
		return -1;
	return 0;
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
	struct fr_declctx *c = arg;

	/* the parse keeps no streamed key: a duplicate is found here, and the
	 * load without streaming that follows the failure says where */
	if (fr_htab_get(c->p->bytask, key->str))
		return fr_error_set(err, FR_EPIPELINE, &key->mark, "duplicate key '%s'", key->str);
	return fr_taskdecl_add(arg, key, value);
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
	struct fr_declctx c = { .p = p, .err = err, .def = def, .ndef = ndef };
	struct fr_load_hook hook = { streamhead, streamtask, &c, 0 };
	const struct fr_node *root, *v, *tasks;
	struct fr_doc *doc = NULL;
	char *cachedir;
	size_t i;

	*again = 0;
	p->unsaved.fd = -1;
	p->dir = dirof(path);
	p->bytask = fr_htab_new_at(16, offsetof(struct fr_taskdecl, name));	/* named as it says */
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
	} else if (loadhead(&c, root) < 0) {
		goto fail;
	}
	tasks = fr_node_get(root, "tasks");
	if (!tasks) {
		fr_error_set(err, FR_EPIPELINE, &root->mark, "missing 'tasks': nothing to run");
		goto fail;
	}
	if (tasks->kind != FR_NODE_MAP || (doc->streamed ? p->ntask == 0 : tasks->nitem == 0)) {
		fr_check_type(c.err, tasks, "tasks", "a map of task names to tasks");
		goto fail;
	}
	if (!doc->streamed) {
		fr_htab_free(p->bytask);
		p->bytask = fr_htab_new_at(tasks->nitem / 2, offsetof(struct fr_taskdecl, name));
		for (i = 0; i < tasks->nitem; i += 2)
			if (fr_taskdecl_add(&c, tasks->item[i], tasks->item[i + 1]) < 0)
				goto fail;
	}
	for (i = 0; i < p->ntask; i++)
		if (linktask(&c, p->task[i]) < 0)
			goto fail;
	if ((v = fr_node_get(root, "default"))) {
		uint32_t n = 0;
		if (fr_taskdecl_names(&c, v, "default", &p->deflt, &n) < 0)
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
fr_pipeline_task(struct fr_pipeline *p, const char *name)
{
	size_t i;

	if (!p->bytask) {	/* forgotten: made again */
		p->bytask = fr_htab_new_at(p->ntask, offsetof(struct fr_taskdecl, name));
		for (i = 0; i < p->ntask; i++)
			fr_htab_put(p->bytask, p->task[i]->name, p->task[i]);
	}
	return fr_htab_get(p->bytask, name);
}

struct fr_mark
fr_pipeline_pathmark(const struct fr_pipeline *p, const struct fr_taskdecl *d, int output,
    size_t i)
{
	struct fr_mark m = fr_taskdecl_mark(d, p->file);
	size_t k;

	if (d->index >= p->npathat)
		return m;
	k = p->pathat[d->index] + (output ? d->ninput : 0) + i;
	if (k < p->npathmark) {
		m.line = p->pathmark[k].line;
		m.col = p->pathmark[k].col;
	}
	return m;
}

void
fr_pipeline_forget_marks(struct fr_pipeline *p)
{
	free(p->pathmark);
	free(p->pathat);
	p->pathmark = NULL;
	p->pathat = NULL;
	p->npathmark = p->pathmarkcap = p->npathat = p->pathatcap = 0;
}

void
fr_pipeline_forget_names(struct fr_pipeline *p)
{
	fr_htab_free(p->bytask);
	p->bytask = NULL;
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
	fr_pipeline_forget_marks(p);
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
