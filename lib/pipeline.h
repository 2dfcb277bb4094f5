/* SPDX-License-Identifier: MIT */
/* pipeline: the declared model of a pipeline file, validated: every key known,
 * every value of the right type, every name and template reference resolved.
 * What the model says is documented in man/flowrun-pipeline.5. */
#ifndef FR_PIPELINE_H
#define FR_PIPELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "error.h"
#include "fetchspec.h"
#include "htab.h"
#include "load.h"
#include "stamp.h"
#include "template.h"
#include "treecache.h"
#include "util.h"

/* Most instances all foreach expansions together may make. */
#define FR_MAX_INSTANCES 10000000u
/* Most tasks a pipeline may declare (each makes an instance, or none). */
#define FR_MAX_TASKS FR_MAX_INSTANCES

struct fr_name {
	char *name;
	struct fr_mark mark;
};

struct fr_kv {
	char *name;
	struct fr_tmpl *value;
	struct fr_mark mark;
};

enum fr_foreach_kind { FR_FOREACH_LIST, FR_FOREACH_GLOB, FR_FOREACH_RANGE };

struct fr_foreach {
	char *name;
	struct fr_mark mark;
	enum fr_foreach_kind kind;
	json_t *list;		/* FR_FOREACH_LIST: an array of scalars */
	char *glob;		/* FR_FOREACH_GLOB: relative to the pipeline directory */
	long long range;	/* FR_FOREACH_RANGE: 0..range-1 */
};

enum fr_action { FR_ACT_NONE, FR_ACT_RUN, FR_ACT_CALL, FR_ACT_FETCH };
enum fr_isolation { FR_ISO_THREAD, FR_ISO_PROCESS };
enum fr_result_mode { FR_RESULT_NONE, FR_RESULT_STDOUT };

struct fr_taskdecl;

/* What few tasks set. Tasks that set none of it share one: fr_taskopt_none,
 * or one made from the pipeline's defaults. */
struct fr_taskopt {
	char *desc;
	char *shell;			/* NULL: /bin/sh -c */
	struct fr_tmpl *library;	/* call: the shared library, or NULL for a built-in */
	char *function;			/* call: the function */
	struct fr_tree *args;		/* call: its args, templated */
	struct fr_fetchspec *fetch;	/* fetch: the download, or NULL */
	struct fr_tmpl *dir;
	struct fr_kv *env;
	struct fr_foreach *foreach;
	struct fr_taskdecl **uses;	/* tasks named by tasks.X templates, once each
					 * (set when references are resolved) */
	int64_t timeout_ns;		/* 0: none */
	uint32_t nenv, nforeach, nuses;
	int priority;
	int pool;			/* index in pipeline->pool, or -1 */
	int16_t retries;		/* 0 to 1000 */
	unsigned char isolation;	/* enum fr_isolation */
	unsigned char result;		/* enum fr_result_mode */
};

/* The options of a task that sets none (no pool, no timeout, ...). */
extern const struct fr_taskopt fr_taskopt_none;

/* A task as declared. There is one for every task of a pipeline, so it holds
 * what most tasks have (the rest is behind opt), its fields as narrow as their
 * values allow and ordered to leave no padding; the counts of the arrays are
 * together after the arrays. */
/* A declaration's inputs or outputs: the texts of their templates, bare
 * (fr_tmpl_isbare) or not (fr_tmpl_of gives each), so that an instance whose
 * paths are these texts as they are takes the array as its own. One path,
 * the most common, is kept in place of the array (fr_taskdecl_input). */
union fr_paths {
	char **many;
	char *one;
};

struct fr_taskdecl {
	char *name;
	const struct fr_taskopt *opt;	/* never NULL; shared by tasks that set nothing */
	char *run;			/* a template's text, bare when plain */
	struct fr_name *need;
	union fr_paths inputs, outputs;	/* ninput, noutput of them */
	unsigned line, col;		/* of its name, in the pipeline's file */
	uint32_t nneed, ninput, noutput;
	uint32_t index : 24;		/* position in the file (< FR_MAX_TASKS) */
	uint32_t action : 2;		/* enum fr_action */
	uint32_t always : 1;
};
_Static_assert(sizeof(struct fr_taskdecl) <= 72, "a declaration per task: keep it small");
_Static_assert(FR_MAX_TASKS <= 1u << 24, "index holds the position of any task");

/* d's inputs (ninput of them), as an array. */
static inline char **
fr_taskdecl_input(const struct fr_taskdecl *d)
{
	return d->ninput == 1 ? (char **)(void *)&d->inputs.one : d->inputs.many;
}

/* d's outputs (noutput of them), as an array. */
static inline char **
fr_taskdecl_output(const struct fr_taskdecl *d)
{
	return d->noutput == 1 ? (char **)(void *)&d->outputs.one : d->outputs.many;
}

/* Where d's name is, in file (the pipeline's). */
static inline struct fr_mark
fr_taskdecl_mark(const struct fr_taskdecl *d, const char *file)
{
	struct fr_mark m = { file, d->line, d->col };
	return m;
}

struct fr_pool {
	char *name;
	int limit;
};

/* The declarations, their strings, arrays and templates (not args, fetch or
 * a foreach list) and the names of the pipeline live in p->arena. */
struct fr_pipeline {
	struct fr_arena arena;		/* what the declarations hold */
	char *file;			/* the path as given; marks point here */
	char *dir;			/* its directory, absolute */
	char *name;
	struct fr_name *deflt;
	size_t ndeflt;
	json_t *vars;			/* object: name -> value, -D applied */
	char **envname, **envval;	/* the pipeline env, evaluated */
	size_t nenv;
	struct fr_pool *pool;
	size_t npool;
	struct fr_taskdecl **task;	/* in file order */
	size_t ntask;
	struct fr_htab *bytask;
	struct fr_seen *seen;		/* what env.NAME and globs read (fr_pipeline_env records) */
	struct fr_treecache_unsaved unsaved;	/* a tree cache for fr_pipeline_cache */
	char *unsaved_path;
	/* where the declarations' paths are in the file, as their texts are
	 * kept bare (fr_tmpl_isbare), until fr_pipeline_forget_marks: task
	 * i's inputs' at pathmark[pathat[i]] on, its outputs' after them */
	struct fr_pathmark { unsigned line, col; } *pathmark;
	size_t npathmark, pathmarkcap;
	uint32_t *pathat;
	size_t npathat, pathatcap;
};

/* A -D name=value override. */
struct fr_define {
	const char *name;
	const char *value;
};

/* Load and validate the pipeline at path, its parsed tree cached in the
 * .flowrun directory beside it as cache says. NULL with err set (FR_EPIPELINE
 * with the position of the first problem, or FR_EUSAGE for a bad -D). Caller frees. */
struct fr_pipeline *fr_pipeline_load(const char *path, const struct fr_define *def,
    size_t ndef, enum fr_cache_mode cache, struct fr_error *err);
/* Free p and everything in it; NULL is a no-op. */
void fr_pipeline_free(struct fr_pipeline *p);
/* Put in .flowrun (creating it) the tree cache that loading could not write
 * there, .flowrun not existing yet; call once the run is sure to go on.
 * Nothing to do when there is no such cache. */
void fr_pipeline_cache(struct fr_pipeline *p);
/* The task declared as name, or NULL. */
struct fr_taskdecl *fr_pipeline_task(struct fr_pipeline *p, const char *name);
/* Where input (output set: output) i of d is in p's file; once the marks
 * are forgotten, or for a path past the 4 billionth, where d's name is. */
struct fr_mark fr_pipeline_pathmark(const struct fr_pipeline *p, const struct fr_taskdecl *d,
    int output, size_t i);
/* Free the marks of the paths (2.4 MB at 100,000 tasks): once the graph is
 * built, no message names where a path is. */
void fr_pipeline_forget_marks(struct fr_pipeline *p);
/* Free the table of tasks by name (1.8 MB at 100,000 tasks): a run that has
 * built its graph and chosen its targets asks for a name only for a result
 * (tasks.X.result, --result), and fr_pipeline_task makes the table again
 * then. */
void fr_pipeline_forget_names(struct fr_pipeline *p);
/* The value of environment variable name for templates: the pipeline's env,
 * else flowrun's environment; NULL when unset. Borrowed. */
const char *fr_pipeline_env(const struct fr_pipeline *p, const char *name);
/* Whether s is a valid name for a task, var, foreach variable or pool. */
int fr_pipeline_valid_name(const char *s);

#endif
