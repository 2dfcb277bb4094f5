/* SPDX-License-Identifier: MIT */
/* prestat: stat ahead (fr_plan_prestat, declared in plan.h), on helper
 * threads, the files the needed tasks name, into their memos; the loop takes
 * each memo's stat data at its first look. Private to the plan module. */
#ifndef FR_PRESTAT_H
#define FR_PRESTAT_H

#include "digest.h"
#include "plan_int.h"

/* Stat ahead: a memo's pre goes PENDING -> BUSY (a thread claimed it) ->
 * DONE; whoever claims it stats it. The loop claims the ones the helpers have
 * not reached when it needs them, and waits only for one a helper is statting. */
enum { PRE_NONE, PRE_PENDING, PRE_BUSY, PRE_DONE };

/* Take m's stat data taken ahead, statting it now if no helper has started
 * on it: 1 with *st and *errnum set, or 0 if m has none. Afterwards no other
 * thread touches m. */
int fr_prestat_take(struct fr_plan *pl, struct memo *m, struct statkey *st, int *errnum);
/* Give up m's stat data taken ahead, which may be old (the file was just
 * written): like fr_prestat_take, without a stat when no helper has started
 * on it. */
void fr_prestat_drop(struct fr_plan *pl, struct memo *m);
/* Stop and join the helpers and free what stat ahead holds; no-op without it. */
void fr_prestat_end(struct fr_plan *pl);

#endif
