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
/* Stat data as a memo keeps them, to compare with the state's record of the
 * file: the device and inode are folded into one word, so that they fit in
 * the room of a digest. */
struct statkey {
	int64_t size, mtime_ns, ctime_ns;
	uint64_t id;		/* ino ^ dev rotated */
};

static inline struct statkey
statkey(const struct fr_stat *st)
{
	struct statkey k = { st->size, st->mtime_ns, st->ctime_ns,
	    st->ino ^ (st->dev << 32 | st->dev >> 32) };
	return k;
}

static inline int
statkey_equal(const struct statkey *a, const struct statkey *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns &&
	    a->ctime_ns == b->ctime_ns && a->id == b->id;
}

struct memo {
	const char *path;
	union {
		struct statkey st;	/* pre: taken ahead */
		struct fr_digest d;	/* once looked at: its digest if it exists, else 0 */
	};
	short preerr;		/* pre: 0, or stat's errno */
	unsigned char output;	/* a task of the graph lists it as an output */
	unsigned char exists;
	unsigned char looked;	/* a decision used it */
	unsigned char hinted;	/* just written by flowrun, which said its digest */
	unsigned char pre;	/* stat data taken ahead, not yet looked at */
};
_Static_assert(sizeof(struct memo) <= 48, "a memo per file: keep it small");

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
	char **restext;			/* per task (t->id), its result as compact JSON
					 * text or NULL; the array made at the first */
	struct fr_prestat *prestat;	/* stat ahead, or NULL */
	int ahead;			/* the task being planned may use it */
	struct fr_digest baseenvh;	/* env digest of tasks with no env or dir */
	int baseenvh_set;
};

/* Say in job->why what differs between the old record and the new parts
 * (the first thing found). */
void fr_plan_explain(struct fr_plan *pl, struct fr_job *job, const struct fr_state_rec *old,
    const struct fr_state_rec *new);

/* The memo of path, new and empty (at m if not NULL), in pl->files; kept:
 * path lives as long as the plan. The memo is in the plan's arena unless at m. */
struct memo *fr_plan_memo(struct fr_plan *pl, const char *path, int kept, struct memo *m);

#endif
