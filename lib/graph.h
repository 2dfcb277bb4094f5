/* SPDX-License-Identifier: MIT */
/* graph: task instances (after foreach), their outputs and input patterns,
 * the edges between them (needs, an input that is another task's output,
 * tasks.X templates), a topological order computed without recursion, and the
 * set of instances the targets need. */
#ifndef FR_GRAPH_H
#define FR_GRAPH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "pipeline.h"
#include "util.h"

/* What happened to a task in this run; owned by sched. */
enum fr_task_status {
	FR_TASK_PENDING, FR_TASK_READY, FR_TASK_RUNNING, FR_TASK_DONE, FR_TASK_SKIPPED,
	FR_TASK_FAILED, FR_TASK_BLOCKED,	/* not run: something it needs failed */
};

/* What an instance has of its own when its declaration's is not enough: a
 * foreach instance's name, or paths made by templates, or a call task's
 * library (its last input). It follows its task in the same allocation. */
struct fr_taskown {
	const char *name;		/* "square[x=30]" (the graph's) */
	char **output;			/* paths relative to the pipeline directory */
	char **input;			/* paths or glob patterns; a call task's library
					 * is the last one (fr_task_library) */
	uint32_t noutput, ninput;
};

/* A task instance. Most are the one instance of a plain declaration and have
 * its name and paths, so those are the declaration's and a task holds only
 * what running it needs (72 bytes); fr_task_name, fr_task_input and the
 * others answer for both kinds. */
/* Tasks an edge away: one, the most common, is kept in place of the array
 * (fr_task_dep, fr_task_rdep). */
union fr_edges {
	struct fr_task **many;
	struct fr_task *one;
};

struct fr_task {
	struct fr_taskdecl *decl;
	union fr_edges deps;		/* what this task needs, each once (ndep) */
	union fr_edges rdeps;		/* the tasks that need this one (nrdep) */
	struct fr_digest handoff;	/* digest of its outputs' content and result */
	uint32_t id;			/* index in graph->task (< FR_MAX_INSTANCES) */
	uint32_t ndep, nrdep;

	/* run state, owned by the scheduler (the loop thread) */
	unsigned char status : 7;	/* enum fr_task_status */
	unsigned char own : 1;		/* a struct fr_taskown follows (set by the graph) */
	unsigned char needed;		/* a target needs it */
	unsigned char changed;		/* it ran (or would run, with -n) this time */
	unsigned char afterrun;		/* something it needs, or they need, ran this time */
};

static inline struct fr_taskown *
fr_task_own(const struct fr_task *t)
{
	return (struct fr_taskown *)(void *)(t + 1);
}

/* What t needs (ndep of them), as an array. */
static inline struct fr_task **
fr_task_dep(const struct fr_task *t)
{
	return t->ndep == 1 ? (struct fr_task **)(void *)&t->deps.one : t->deps.many;
}

/* The tasks that need t (nrdep of them), as an array. */
static inline struct fr_task **
fr_task_rdep(const struct fr_task *t)
{
	return t->nrdep == 1 ? (struct fr_task **)(void *)&t->rdeps.one : t->rdeps.many;
}

/* "split" (the declaration's own string), or "square[x=30]" (the graph's). */
static inline const char *
fr_task_name(const struct fr_task *t)
{
	return t->own ? fr_task_own(t)->name : t->decl->name;
}

/* Its outputs: paths relative to the pipeline directory. */
static inline char **
fr_task_output(const struct fr_task *t)
{
	return t->own ? fr_task_own(t)->output : fr_taskdecl_output(t->decl);
}

static inline uint32_t
fr_task_noutput(const struct fr_task *t)
{
	return t->own ? fr_task_own(t)->noutput : t->decl->noutput;
}

/* Its inputs: paths or glob patterns, as declared; a call task's library is
 * the last one (fr_task_library). */
static inline char **
fr_task_input(const struct fr_task *t)
{
	return t->own ? fr_task_own(t)->input : fr_taskdecl_input(t->decl);
}

static inline uint32_t
fr_task_ninput(const struct fr_task *t)
{
	return t->own ? fr_task_own(t)->ninput : t->decl->ninput;
}

struct fr_graph {
	struct fr_pipeline *p;		/* borrowed */
	struct fr_task **task;		/* every instance, in declaration order */
	size_t ntask;
	struct fr_task **order;		/* topological: every task after what it needs */
	uint32_t *first;		/* per declaration (decl->index): its first
					 * instance; one more at the end (ntask) */
	struct fr_htab *byinst;		/* instance name -> task, foreach instances only
					 * (the others are named as their declaration) */
	struct fr_htab *byoutput;	/* output path -> task; NULL once forgotten
					 * (fr_graph_writer makes it again) */
	json_t **outputs;		/* per declaration, tasks.X.outputs, made lazily
					 * (the array too) */
	json_t ***vals;			/* per declaration, each foreach variable's values
					 * (NULL: no foreach at all) */
	size_t nneeded;
	struct fr_arena arena;		/* the tasks, their names, paths and edges */
};

/* Build the instances, edges and order of p's tasks (relative paths are taken
 * from the current directory, which must be the pipeline's). NULL with err set
 * (FR_EPIPELINE) for two tasks writing one output, a cycle (its path is in the
 * message), or a template that cannot be evaluated. */
struct fr_graph *fr_graph_build(struct fr_pipeline *p, struct fr_error *err);
/* Free g; NULL is a no-op. The pipeline is not freed. */
void fr_graph_free(struct fr_graph *g);
/* Mark what the targets need (task names, instance names or output paths;
 * none: the pipeline's default, else every task). Returns the number of
 * needed instances, or -1 with err set (FR_EUSAGE) for an unknown target. */
long fr_graph_select(struct fr_graph *g, char *const *targets, size_t n, struct fr_error *err);
/* The task that lists path (clean) as an output, or NULL. */
struct fr_task *fr_graph_writer(struct fr_graph *g, const char *path);
/* Free the table of tasks by output path (2.6 MB at 100,000 tasks), for a
 * run whose plan has seen every path it names; fr_graph_writer makes it
 * again if asked. */
void fr_graph_forget_outputs(struct fr_graph *g);
/* The number of instances of declaration d. */
size_t fr_graph_count(const struct fr_graph *g, const struct fr_taskdecl *d);
/* The instance named name ("NAME" or "NAME[VAR=VALUE,...]"), or NULL. */
struct fr_task *fr_graph_task(const struct fr_graph *g, const char *name);
/* The value of foreach variable slot (borrowed) for instance t, or NULL when
 * its task has no such variable. Computed from t's place among the instances
 * of its task, so that no task keeps its own. */
json_t *fr_task_bind(const struct fr_graph *g, const struct fr_task *t, size_t slot);
/* A call task's library path (its last input), or NULL. */
const char *fr_task_library(const struct fr_task *t);
/* The instances of the declaration named name, or NULL when there is none. */
struct fr_task **fr_graph_instances(const struct fr_graph *g, const char *name, size_t *n);
/* Look up a reference for task t that the graph can answer: a foreach
 * variable or var, env.NAME (pipeline env, then flowrun's), tasks.X.outputs.
 * *scratch holds a value made for the answer (the caller json_decrefs it at the
 * end). Borrowed result, or NULL with err set (tasks.X.result included). */
json_t *fr_graph_lookup(struct fr_graph *g, struct fr_task *t, const struct fr_ref *ref,
    json_t **scratch, struct fr_error *err);
/* Normalise a relative path in place: drop ./ and empty segments. */
void fr_path_clean(char *path);
/* Whether s has glob metacharacters (* ? [). */
int fr_path_isglob(const char *s);

#endif
