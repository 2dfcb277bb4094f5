/* SPDX-License-Identifier: MIT */
/* t-plan: what lib/plan.c asks of the file system and keeps of paths. Linked
 * with -Wl,--wrap=fr_stat_path, so every stat the plan makes is counted here:
 * a file the needed tasks name is statted once a run (ahead), and the memo of
 * a path the graph holds borrows the graph's string instead of copying it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph.h"
#include "pipeline.h"
#include "plan.h"
#include "state.h"
#include "scratch.h"
#include "tap.h"

/* every stat made, by path, with the last string it was given */
#define MAXPATHS 32
static struct {
	char path[64];
	const char *ptr;
	int n;
} stats[MAXPATHS];
static int nstats;

int __real_fr_stat_path(const char *path, struct fr_stat *st);
int __wrap_fr_stat_path(const char *path, struct fr_stat *st);

int
__wrap_fr_stat_path(const char *path, struct fr_stat *st)
{
	int i;

	/* only the loop thread stats here: fewer paths than prestat's threshold */
	for (i = 0; i < nstats && strcmp(stats[i].path, path) != 0; i++)
		;
	if (i == nstats && nstats < MAXPATHS)
		snprintf(stats[nstats++].path, sizeof(stats[i].path), "%s", path);
	if (i < MAXPATHS) {
		stats[i].n++;
		stats[i].ptr = path;
	}
	return __real_fr_stat_path(path, st);
}

static int
statsof(const char *path, const char **ptr)
{
	int i;

	for (i = 0; i < nstats; i++)
		if (strcmp(stats[i].path, path) == 0) {
			if (ptr)
				*ptr = stats[i].ptr;
			return stats[i].n;
		}
	return 0;
}

static struct fr_task *
task(struct fr_graph *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->ntask; i++)
		if (strcmp(fr_task_name(g->task[i]), name) == 0)
			return g->task[i];
	return NULL;
}

static void
test_stats(void)
{
	struct fr_error err = {0};
	struct fr_pipeline *p;
	struct fr_graph *g;
	struct fr_state *s;
	struct fr_plan *pl;
	struct fr_job job;
	const char *ptr = NULL;
	size_t i;
	int bad = 0;

	if (mkdir("in", 0777) < 0 || mkdir("o", 0777) < 0) {
		printf("Bail out! mkdir: %s\n", strerror(errno));
		exit(1);
	}
	writefile("in/a", "a\n");
	writefile("in/b", "b\n");
	writefile("o/1", "1\n");
	writefile("o/2", "2\n");
	writefile("flowrun.yaml",
	    "flowrun: 1\n"
	    "tasks:\n"
	    "  one:\n"
	    "    run: cat in/a > o/1\n"
	    "    inputs: [in/a]\n"
	    "    outputs: [o/1]\n"
	    "  two:\n"
	    "    run: cat o/1 in/b > o/2\n"
	    "    inputs: [./o/1, in/b]\n"
	    "    outputs: [o/2]\n"
	    "  all:\n"
	    "    run: cat in/* > o/all\n"
	    "    inputs: ['in/*']\n"
	    "    outputs: [o/all]\n");
	p = fr_pipeline_load("flowrun.yaml", NULL, 0, FR_CACHE_OFF, &err);
	g = p ? fr_graph_build(p, &err) : NULL;
	s = g ? fr_state_open(".flowrun", FR_LOCK_READONLY, NULL, NULL, &err) : NULL;
	if (!s || fr_graph_select(g, NULL, 0, &err) < 0) {
		printf("Bail out! %s\n", err.text);
		exit(1);
	}
	pl = fr_plan_new(g, s, 0, 0);
	fr_plan_prestat(pl);
	for (i = 0; i < g->ntask; i++) {
		if (fr_plan_task(pl, g->order[i], &job, &err) < 0) {
			printf("# %s: %s\n", fr_task_name(g->order[i]), err.text);
			bad++;
		}
		fr_job_release(pl, &job);
	}
	is_int(bad, 0, "every task planned");
	is_int(statsof("in/a", NULL), 1, "an input is statted once");
	is_int(statsof("in/b", NULL), 1, "another input is statted once");
	is_int(statsof("o/1", NULL), 1, "an output another task reads is statted once");
	is_int(statsof("o/2", NULL), 1, "an output is statted once");
	is_int(statsof("o/all", NULL), 1, "a missing output is statted once");
	statsof("in/a", &ptr);
	ok(ptr == fr_task_input(task(g, "one"))[0],
	    "the memo of an input borrows the graph's path");
	statsof("o/1", &ptr);
	ok(ptr == fr_task_output(task(g, "one"))[0],
	    "the memo of an output borrows the graph's path");
	fr_plan_free(pl);
	fr_state_close(s, &err);
	fr_graph_free(g);
	fr_pipeline_free(p);
}

int
main(void)
{
	char dir[512];

	scratch_enter("t-plan", dir, sizeof(dir));
	test_stats();
	scratch_leave(dir);
	return done_testing();
}
