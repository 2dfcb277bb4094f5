/* SPDX-License-Identifier: MIT */
/* explain: why a task runs again, told from what differs between its last
 * record and its new key's parts (--explain, -n, the reports). Part of the
 * plan module (plan_int.h). A big record's items are compared from the state
 * file (fr_state_items), in step with the new ones. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"
#include "util.h"

/* Say what differs between the old items and the new record's inputs or
 * deps (which), as "WHAT NAME is new", "WHAT NAME changed" or "WHAT NAME is
 * gone". Returns 1 if it said something. The new names are taken once: a
 * job's items are made when asked for (an input's through its memo). */
static int
diffitems(struct fr_job *job, const char *what, const struct fr_state_item *old, size_t nold,
    const struct fr_state_rec *new, enum fr_items which)
{
	size_t i, j, nnew = which == FR_ITEMS_INPUT ? new->ninput : new->ndep;
	const char **name = fr_xmalloc((nnew ? nnew : 1) * sizeof(*name));
	struct fr_state_item it;
	int said = 0;

	for (i = 0; i < nnew && !said; i++) {
		it = fr_state_rec_item(new, which, i);
		name[i] = it.name;
		for (j = 0; j < nold; j++)
			if (strcmp(old[j].name, it.name) == 0)
				break;
		if (j == nold || memcmp(old[j].digest, it.digest, sizeof(struct fr_digest))) {
			fr_buf_printf(&job->why, "%s %s %s", what, it.name,
			    j == nold ? "is new" : "changed");
			said = 1;
		}
	}
	for (j = 0; j < nold && !said; j++) {
		for (i = 0; i < nnew; i++)
			if (strcmp(old[j].name, name[i]) == 0)
				break;
		if (i == nnew) {
			fr_buf_printf(&job->why, "%s %s is gone", what, old[j].name);
			said = 1;
		}
	}
	free(name);
	return said;
}

/* The old items of a lean record, against the new ones, in step. */
struct instep {
	const struct fr_state_rec *new;
	enum fr_items which;
	size_t nnew, i;
	struct fr_job *job;
	const char *what;
	struct fr_state_item *old;	/* all of them, once the names part */
	size_t nold, cap;
};

enum { STEP_SAID = 1, STEP_APART };

static int
instep(void *arg, const char *name, const struct fr_digest *d)
{
	struct instep *c = arg;
	struct fr_state_item n;

	if (c->i < c->nnew && strcmp((n = fr_state_rec_item(c->new, c->which, c->i)).name,
	    name) == 0) {
		if (memcmp(n.digest, d, sizeof(*d)) != 0) {
			fr_buf_printf(&c->job->why, "%s %s changed", c->what, n.name);
			return STEP_SAID;
		}
		c->i++;
		return 0;
	}
	if (c->i == c->nnew) {	/* every new one matched: this old one is gone */
		fr_buf_printf(&c->job->why, "%s %s is gone", c->what, name);
		return STEP_SAID;
	}
	return STEP_APART;
}

/* Keep every old item (copied), for diffitems. */
static int
keepitem(void *arg, const char *name, const struct fr_digest *d)
{
	struct instep *c = arg;
	struct fr_state_item it;
	struct fr_digest *copy = fr_xmalloc(sizeof(*copy));

	*copy = *d;
	it.name = fr_xstrdup(name);
	it.digest = copy;
	FR_PUSH(c->old, c->nold, c->cap, it);
	return 0;
}

/* diffitems() for the old items of a lean record, read from the state: in
 * step with the new ones while the names agree (a task's inputs keep their
 * order), else all of them read into memory. */
static int
diffstate(struct fr_plan *pl, struct fr_job *job, const char *what, enum fr_items which,
    const struct fr_state_rec *new)
{
	size_t nnew = which == FR_ITEMS_INPUT ? new->ninput : new->ndep, i;
	struct instep c = { new, which, nnew, 0, job, what, NULL, 0, 0 };
	int rc = fr_state_items(pl->s, fr_task_name(job->task), which, instep, &c);

	if (rc == STEP_SAID)
		return 1;
	if (rc == 0 && c.i < nnew) {
		fr_buf_printf(&job->why, "%s %s is new", what,
		    fr_state_rec_item(new, which, c.i).name);
		return 1;
	}
	if (rc != STEP_APART)
		return 0;
	rc = fr_state_items(pl->s, fr_task_name(job->task), which, keepitem, &c) == 0 &&
	    diffitems(job, what, c.old, c.nold, new, which);
	for (i = 0; i < c.nold; i++) {
		free((char *)c.old[i].name);
		free((struct fr_digest *)c.old[i].digest);
	}
	free(c.old);
	return rc;
}

void
fr_plan_explain(struct fr_plan *pl, struct fr_job *job, const struct fr_state_rec *old,
    const struct fr_state_rec *new)
{
	if (memcmp(&old->cmd, &new->cmd, sizeof(old->cmd)) != 0)
		fr_buf_addstr(&job->why, job->task->decl->action == FR_ACT_FETCH ?
		    "url, headers, pin or output changed" : "command changed");
	else if (memcmp(&old->env, &new->env, sizeof(old->env)) != 0)
		fr_buf_addstr(&job->why, "environment changed");
	else if (old->lean ? !diffstate(pl, job, "input", FR_ITEMS_INPUT, new) &&
	    !diffstate(pl, job, "upstream", FR_ITEMS_DEP, new) :
	    !diffitems(job, "input", old->input, old->ninput, new, FR_ITEMS_INPUT) &&
	    !diffitems(job, "upstream", old->dep, old->ndep, new, FR_ITEMS_DEP))
		fr_buf_addstr(&job->why, "needs changed");
}
