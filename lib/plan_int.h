/* SPDX-License-Identifier: MIT */
/* plan_int: what the plan module shares between its files (plan.c, prestat.c)
 * and no other module sees: the planner and its memo of each file. */
#ifndef FR_PLAN_INT_H
#define FR_PLAN_INT_H

#include <jansson.h>

#include "digest.h"
#include "htab.h"
#include "plan.h"
#include "util.h"

struct fr_prestat;

/* What this run knows of a file; in the plan's arena. Its path is the
 * graph's string when the graph names the file (nearly always), else a copy
 * in the arena. Until the first look, a prestat'd memo holds the stat data
 * taken ahead (pre); from then on, the file's digest. The stat data it had
 * then are in the state's record of the file, which the stamp reads back. */
struct memo {
	const char *path;
	union {
		struct fr_stat st;	/* pre: taken ahead */
		struct fr_digest d;	/* once looked at: its digest if it exists, else 0 */
	};
	int preerr;		/* pre: 0, or stat's errno */
	unsigned char exists;
	unsigned char looked;	/* a decision used it */
	unsigned char hinted;	/* just written by flowrun, which said its digest */
	unsigned char pre;	/* stat data taken ahead, not yet looked at */
};
_Static_assert(sizeof(struct memo) <= 56, "a memo per file: keep it small");

struct fr_plan {
	struct fr_graph *g;
	struct fr_state *s;
	int force, dry;
	char **baseenv;			/* flowrun's environment with the pipeline env */
	size_t nbase;
	struct fr_htab *files;		/* path -> struct memo */
	struct fr_arena arena;		/* the memos made as needed, copied paths */
	struct memo *premo;		/* the memos fr_plan_prestat made, at once */
	json_t **results;		/* per declaration, made on first use (the array too) */
	struct fr_prestat *prestat;	/* stat ahead, or NULL */
	int ahead;			/* the task being planned may use it */
	struct fr_digest baseenvh;	/* env digest of tasks with no env or dir */
	int baseenvh_set;
};

/* The memo of path, new and empty (at m if not NULL), in pl->files; kept:
 * path lives as long as the plan. The memo is in the plan's arena unless at m. */
struct memo *fr_plan_memo(struct fr_plan *pl, const char *path, int kept, struct memo *m);

#endif
