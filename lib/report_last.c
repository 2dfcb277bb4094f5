/* SPDX-License-Identifier: MIT */
/* report_last: the last run's status of every instance it needed, and the
 * logs of its failures, in the state directory. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "htab.h"
#include "report_last.h"
#include "util.h"

struct fr_last {
	const struct fr_graph *g;	/* or NULL, with names */
	const char *const *names;	/* without g: the needed instances, by id */
	size_t ntask;
	char *dir;
	unsigned char *st;		/* enum fr_rstatus by task id */
	struct fr_htab *logs;		/* instance name -> its log path */
	char **paths;			/* the values of logs, to free */
	size_t npath, pathcap;
	struct timespec wall;		/* when the run started */
	int64_t start_ns;
	int logs_exist;			/* DIR/logs exists: successes may have stale logs */
	struct fr_error err;
};

struct fr_last *
fr_last_new(const struct fr_graph *g, const char *dir)
{
	struct fr_last *l = fr_xcalloc(1, sizeof(*l));

	l->g = g;
	l->ntask = g->ntask;
	l->dir = fr_xstrdup(dir);
	l->st = fr_xcalloc(g->ntask ? g->ntask : 1, 1);
	l->logs = fr_htab_new(8);
	return l;
}

struct fr_last *
fr_last_new_names(const char *const *names, size_t n, const char *dir)
{
	struct fr_last *l = fr_xcalloc(1, sizeof(*l));

	l->names = names;
	l->ntask = n;
	l->dir = fr_xstrdup(dir);
	l->st = fr_xcalloc(n ? n : 1, 1);
	l->logs = fr_htab_new(8);
	return l;
}

void
fr_last_free(struct fr_last *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->npath; i++)
		free(l->paths[i]);
	free(l->paths);
	fr_htab_free(l->logs);
	free(l->st);
	free(l->dir);
	free(l);
}

static char *
logpath(const struct fr_last *l, const char *name)
{
	char *file = fr_report_filename(name);
	char *path = fr_xasprintf("%s/logs/%s.log", l->dir, file);

	free(file);
	return path;
}

static void
writelog(struct fr_last *l, const struct fr_event *ev)
{
	struct fr_outfile o;
	char *dir = fr_xasprintf("%s/logs", l->dir);
	char *path = logpath(l, fr_task_name(ev->task));

	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		fr_error_set(&l->err, FR_ESYS, NULL, "cannot create %s:", dir);
		goto out;
	}
	l->logs_exist = 1;
	if (fr_outfile_open(&o, path, &l->err) < 0)
		goto out;
	if (ev->outlen)
		fwrite(ev->output, 1, ev->outlen, o.f);
	if (fr_outfile_commit(&o, &l->err) < 0)
		goto out;
	/* a task fails at most once a run */
	FR_PUSH(l->paths, l->npath, l->pathcap, path);
	fr_htab_put(l->logs, fr_task_name(ev->task), path);
	path = NULL;
out:
	free(path);
	free(dir);
}

/* Write .flowrun/last-run.json through its temporary file, a piece at a
 * time (a run of 100,000 tasks makes 2 MB of it, at its very end). */
static void
writejson(struct fr_last *l, int64_t start_ns, int64_t end_ns)
{
	struct fr_outfile o;
	struct fr_buf b = {0};
	char *path = fr_xasprintf("%s/last-run.json", l->dir), when[40];
	size_t i;
	int first = 1;

	if (fr_outfile_open(&o, path, &l->err) < 0) {
		free(path);
		return;
	}
	fr_rfc3339(when, sizeof(when), &l->wall, start_ns, start_ns);
	fr_buf_printf(&b, "{\"flowrun_last_run\": 1, \"time\": \"%s\", \"duration\": %.3f, "
	    "\"tasks\": {", when, (double)(end_ns - start_ns) / 1e9);
	for (i = 0; i < l->ntask; i++) {
		const char *name = l->g ? fr_task_name(l->g->task[i]) : l->names[i];
		if (l->g && !l->g->task[i]->needed)
			continue;
		fr_buf_addstr(&b, first ? "\n" : ",\n");
		first = 0;
		fr_json_add(&b, name, strlen(name));
		fr_buf_addstr(&b, ": \"");
		fr_buf_addstr(&b, fr_rstatus_id(l->st[i]));
		fr_buf_addc(&b, '"');
		if (b.len >= 1u << 16) {
			fwrite(b.data, 1, b.len, o.f);
			fr_buf_reset(&b);
		}
	}
	fr_buf_addstr(&b, "\n}}\n");
	fwrite(b.data, 1, b.len, o.f);
	fr_outfile_commit(&o, &l->err);
	fr_buf_free(&b);
	free(path);
}

void
fr_last_event(const struct fr_event *ev, void *arg)
{
	struct fr_last *l = arg;
	char *path;
	size_t i;

	switch (ev->kind) {
	case FR_EV_RUN_START:
		l->start_ns = ev->time_ns;
		clock_gettime(CLOCK_REALTIME, &l->wall);
		path = fr_xasprintf("%s/logs", l->dir);
		l->logs_exist = access(path, F_OK) == 0;
		free(path);
		break;
	case FR_EV_TASK_FINISHED:
		l->st[ev->task->id] = FR_RS_DONE;
		if (l->logs_exist) {
			path = logpath(l, fr_task_name(ev->task));
			unlink(path);	/* a log of an earlier failure is stale now */
			free(path);
		}
		break;
	case FR_EV_TASK_GROUPED:
		l->st[ev->task->id] = FR_RS_DONE;
		break;
	case FR_EV_TASK_SKIPPED:
		l->st[ev->task->id] = FR_RS_UPTODATE;
		break;
	case FR_EV_TASK_FAILED:
		l->st[ev->task->id] = FR_RS_FAILED;
		writelog(l, ev);
		break;
	case FR_EV_RUN_END:
		for (i = 0; l->g && i < l->g->ntask; i++) {
			const struct fr_task *t = l->g->task[i];
			if (t->needed && l->st[i] == FR_RS_NOTRUN && t->status == FR_TASK_DONE &&
			    t->decl->action == FR_ACT_NONE)
				l->st[i] = FR_RS_DONE;	/* a group the scheduler did not announce */
		}
		writejson(l, l->start_ns, ev->time_ns);
		break;
	case FR_EV_TASK_QUEUED:
	case FR_EV_TASK_STARTED:
	case FR_EV_TASK_RETRY:
	case FR_EV_TASK_WOULD_RUN:
		break;
	}
}

const char *
fr_last_log(const struct fr_last *l, const char *name)
{
	return l ? fr_htab_get(l->logs, name) : NULL;
}

int
fr_last_status(const struct fr_last *l, struct fr_error *err)
{
	if (!fr_error_isset(&l->err))
		return 0;
	*err = l->err;
	return -1;
}

int
fr_last_read(const char *dir, const struct fr_graph *g, enum fr_rstatus *st,
    struct fr_error *err)
{
	char *path = fr_xasprintf("%s/last-run.json", dir);
	json_error_t jerr;
	json_t *root, *tasks;
	size_t i;
	int rc = 1;

	for (i = 0; i < g->ntask; i++)
		st[i] = FR_RS_NOTRUN;
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		free(path);
		return 0;
	}
	root = json_load_file(path, 0, &jerr);
	tasks = json_object_get(root, "tasks");
	if (!json_is_object(tasks) || json_integer_value(json_object_get(root,
	    "flowrun_last_run")) != 1) {
		rc = fr_error_set(err, FR_ESTATE, NULL, "%s: not a last-run record%s%s", path,
		    root ? "" : ": ", root ? "" : jerr.text);
	} else {
		for (i = 0; i < g->ntask; i++) {
			const char *id = json_string_value(json_object_get(tasks,
			    fr_task_name(g->task[i])));
			int s = id ? fr_rstatus_parse(id) : -1;
			if (s >= 0)
				st[i] = (enum fr_rstatus)s;
		}
	}
	json_decref(root);
	free(path);
	return rc;
}
