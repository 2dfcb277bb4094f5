/* SPDX-License-Identifier: MIT */
/* taskdecl: loading one task declaration of a pipeline, for the pipeline
 * loader (lib/pipeline.c) only: the loader's state the two share, the task
 * itself, the defaults as options, and the readers of values into the arena. */
#ifndef FR_TASKDECL_H
#define FR_TASKDECL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "load.h"
#include "pipeline.h"

/* The state of one pipeline load; everything it points to is borrowed. */
struct fr_declctx {
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
};

/* n zeroed elements of sz bytes in the pipeline's arena (NULL when n is 0). */
void *fr_taskdecl_array(struct fr_declctx *c, size_t n, size_t sz, size_t align);
#define FR_AARRAY(c, n, type) \
	((type *)fr_taskdecl_array((c), (n), sizeof(type), _Alignof(type)))
/* Read v, a string, into *out in the arena; -1 with c->err set when it is not one. */
int fr_taskdecl_str(struct fr_declctx *c, const struct fr_node *v, const char *key, char **out);
/* Read v, a name or a list of names, into *out and *n in the arena; -1 with c->err set. */
int fr_taskdecl_names(struct fr_declctx *c, const struct fr_node *v, const char *key,
    struct fr_name **out, uint32_t *n);
/* Read v, a map of NAME: scalar, into *out and *n in the arena, each value a
 * template; -1 with c->err set. */
int fr_taskdecl_env(struct fr_declctx *c, const struct fr_node *v, struct fr_kv **out,
    uint32_t *n);
/* The options of t, its own from now on: a copy, in the arena, of the shared
 * ones it had (fr_taskopt_none or the defaults'), when it had those. */
struct fr_taskopt *fr_taskdecl_ownopt(struct fr_declctx *c, struct fr_taskdecl *t);
/* The defaults map d as the options of a task that sets none, in the arena;
 * NULL when one of them is bad, for each task to check them as its own. */
const struct fr_taskopt *fr_taskdecl_defaults(struct fr_declctx *c, const struct fr_node *d);
/* Append task k (its name) declared as v to c->p and its table, and load it
 * (its references are resolved later, once every task is known); 0, or -1
 * with c->err set. */
int fr_taskdecl_add(struct fr_declctx *c, const struct fr_node *k, const struct fr_node *v);

#endif
