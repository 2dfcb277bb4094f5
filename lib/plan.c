/* SPDX-License-Identifier: MIT */
/* plan: keys, verdicts and reasons for one task at a time; file digests come
 * from the state's stat cache when the stat data still match. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"
#include "json.h"
#include "log.h"
#include "plan.h"
#include "plan_int.h"
#include "prestat.h"
#include "util.h"

extern char **environ;

struct lookctx {
	struct fr_plan *pl;
	struct fr_task *t;
	json_t *scratch;
};

struct fr_plan *
fr_plan_new(struct fr_graph *g, struct fr_state *s, int force, int dry)
{
	struct fr_plan *pl = fr_xcalloc(1, sizeof(*pl));
	size_t n = 0;

	pl->g = g;
	pl->s = s;
	pl->force = force;
	pl->dry = dry;
	while (environ && environ[n])
		n++;
	pl->baseenv = fr_env_make(environ, n, g->p->envname, g->p->envval, g->p->nenv, &pl->nbase);
	pl->files = fr_htab_new_at(1024, offsetof(struct memo, path));	/* a memo holds its path */
	fr_state_batch(s, 1);
	return pl;
}

int
fr_plan_flush(struct fr_plan *pl, struct fr_error *err)
{
	return fr_state_flush(pl->s, err);
}

void
fr_plan_stop(struct fr_plan *pl)
{
	if (pl)
		fr_prestat_end(pl);
}

void
fr_plan_free(struct fr_plan *pl)
{
	size_t i;

	if (!pl)
		return;
	fr_prestat_end(pl);
	for (i = 0; pl->restext && i < pl->g->ntask; i++)
		free(pl->restext[i]);
	free(pl->restext);
	fr_htab_free(pl->files);
	fr_arena_free(&pl->arena);
	free(pl->premo);
	for (i = 0; pl->results && i < pl->g->p->ntask; i++)
		json_decref(pl->results[i]);
	free(pl->results);
	fr_env_free(pl->baseenv);
	free(pl);
}

/* The slot of t's result text (NULL when !make and no task has one yet).
 * A pipeline of shell tasks has none: the plan keeps them, made at the first. */
static char **
resultslot(struct fr_plan *pl, const struct fr_task *t, int make)
{
	if (!pl->restext && make)
		pl->restext = fr_xcalloc(pl->g->ntask ? pl->g->ntask : 1, sizeof(*pl->restext));
	return pl->restext ? &pl->restext[t->id] : NULL;
}

/* t's result is now text (taken; NULL: none). */
static void
setresult(struct fr_plan *pl, const struct fr_task *t, char *text)
{
	char **slot = resultslot(pl, t, text != NULL);

	if (slot) {
		free(*slot);
		*slot = text;
	}
}

const char *
fr_plan_task_result(const struct fr_plan *pl, const struct fr_task *t)
{
	char **slot = resultslot((struct fr_plan *)pl, t, 0);

	return slot ? *slot : NULL;
}

/* v as compact canonical JSON text. */
static char *
canon(const json_t *v)
{
	struct fr_buf b = {0};

	fr_json_canon(&b, v);
	return fr_buf_steal(&b);
}

/* A string equal to path that lives as long as the plan: path itself when
 * kept (it is the graph's), else the graph's copy of an output, else a copy
 * in the plan's arena. *output: whether a task lists it as an output. */
static const char *
keep(struct fr_plan *pl, const char *path, int kept, unsigned char *output)
{
	const struct fr_task *t = fr_graph_writer(pl->g, path);
	size_t i;

	*output = t != NULL;
	if (kept)
		return path;
	for (i = 0; t && i < fr_task_noutput(t); i++)
		if (strcmp(fr_task_output(t)[i], path) == 0)
			return fr_task_output(t)[i];
	return fr_arena_strndup(&pl->arena, path, strlen(path));
}

/* The memo of path, new and empty (at m if not NULL); kept: path lives as
 * long as the plan. */
struct memo *
fr_plan_memo(struct fr_plan *pl, const char *path, int kept, struct memo *m)
{
	if (m)
		memset(m, 0, sizeof(*m));
	else
		m = fr_arena_zalloc(&pl->arena, sizeof(*m), _Alignof(struct memo));
	m->path = keep(pl, path, kept, &m->output);
	fr_htab_put(pl->files, m->path, m);
	return m;
}

/* The digest of path from the state's record of it when its stat data are
 * k: 1 with *d set, else 0 (no record, or other stat data). */
static int
fromstate(struct fr_plan *pl, const char *path, const struct statkey *k, struct fr_digest *d)
{
	struct fr_stat cst;
	struct fr_digest cd;
	struct statkey ck;

	if (fr_state_file_get(pl->s, path, &cst, &cd) < 0)
		return 0;
	ck = statkey(&cst);
	if (!statkey_equal(k, &ck))
		return 0;
	*d = cd;
	return 1;
}

/* Keep path's stat data st and digest d in the state, for the next run; -n
 * writes no state, so keeps nothing. */
static void
remember(struct fr_plan *pl, const char *path, const struct fr_stat *st,
    const struct fr_digest *d)
{
	if (!pl->dry)
		fr_state_file_set(pl->s, path, st, d);
}

/* filememo() of a file just written, which is nearly always new: opened
 * first, so its stat data come from the open file and a missing one is told
 * by the open, without a stat before. Returns 1 found, 0 missing, -1 error,
 * or 2 to go the usual way: an error other than a missing file (the usual
 * way says what stat says), or not a regular file (the open does not wait
 * for a FIFO's writer; closed at once). */
static int
written(struct fr_plan *pl, const char *path, struct memo *m, struct fr_error *err)
{
	struct fr_stat st;
	struct statkey k;
	struct stat sb;
	int fd, rc = 1;

	memset(&m->d, 0, sizeof(m->d));	/* the stat data taken ahead are taken */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : 2;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return 2;
	}
	fr_stat_from(&st, &sb);
	k = statkey(&st);
	if (!fromstate(pl, path, &k, &m->d)) {
		if (fr_digest_fd(fd, &sb, &m->d) < 0)
			rc = fr_error_set(err, FR_ESYS, NULL, "cannot read %s:", path);
		else
			remember(pl, path, &st, &m->d);
	}
	close(fd);
	m->exists = rc > 0;
	return rc;
}

/* The memo of path (*mp), its digest known: from this run's memo, else from
 * the state's stat cache when the stat data match, else by reading the file.
 * fresh: ignore the memo (the file was just written). kept: path lives as
 * long as the plan (the graph's). Returns 1 found, 0 missing, -1 error. */
static int
filememo(struct fr_plan *pl, const char *path, int kept, int fresh, struct memo **mp,
    struct fr_error *err)
{
	struct memo *m = *mp = fr_htab_get(pl->files, path);
	struct fr_stat st;
	struct statkey k;
	int rc, errnum;

	if (m && __atomic_load_n(&m->pre, __ATOMIC_ACQUIRE) == PRE_NONE && (!fresh || m->hinted)) {
		m->hinted = 0;
		return m->exists;
	}
	if (!m)
		m = *mp = fr_plan_memo(pl, path, kept, NULL);
	m->exists = 0;
	m->looked = 1;
	if (fresh || !pl->ahead)
		fr_prestat_drop(pl, m);	/* what was taken ahead may be old */
	if (fresh && (rc = written(pl, path, m, err)) != 2)
		return rc;
	if (!fresh && pl->ahead && fr_prestat_take(pl, m, &k, &errnum)) {
		errno = errnum;
		rc = errnum ? -1 : 0;
	} else if ((rc = fr_stat_path(path, &st)) == 0) {
		k = statkey(&st);
	}
	memset(&m->d, 0, sizeof(m->d));	/* the stat data taken ahead are taken */
	if (rc < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return fr_error_set(err, FR_ESYS, NULL, "cannot stat %s:", path);
	}
	if (!fromstate(pl, path, &k, &m->d)) {	/* st: as read, for the state */
		if (fr_digest_file(path, &m->d, &st, err) < 0)
			return -1;
		remember(pl, path, &st, &m->d);
	}
	m->exists = 1;
	return 1;
}

/* filememo(), the digest copied to d. */
static int
filedigest(struct fr_plan *pl, const char *path, int kept, int fresh, struct fr_digest *d,
    struct fr_error *err)
{
	struct memo *m;
	int rc = filememo(pl, path, kept, fresh, &m, err);

	if (rc > 0)
		*d = m->d;
	return rc;
}

json_t *
fr_plan_result(struct fr_plan *pl, const char *name)
{
	const struct fr_taskdecl *d = fr_pipeline_task(pl->g->p, name);
	size_t i, n;

	if (!d)
		return NULL;
	if (!pl->results)
		pl->results = fr_xcalloc(pl->g->p->ntask, sizeof(*pl->results));
	if (!pl->results[d->index]) {
		struct fr_task **inst = fr_graph_instances(pl->g, name, &n);
		json_t *a = json_array();
		/* parsed once a declaration, here: a task keeps only the text */
		for (i = 0; inst && i < n; i++) {
			const char *text = fr_plan_task_result(pl, inst[i]);
			json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
			json_array_append_new(a, v ? v : json_null());
		}
		if (d->opt->nforeach == 0) {
			json_t *one = json_incref(json_array_get(a, 0) ? json_array_get(a, 0) : json_null());
			json_decref(a);
			a = one;
		}
		pl->results[d->index] = a;
	}
	return pl->results[d->index];
}

static json_t *
lookup(void *arg, const struct fr_ref *ref, struct fr_error *err)
{
	struct lookctx *c = arg;
	json_t *v;

	if (ref->kind != FR_REF_RESULT)
		return fr_graph_lookup(c->pl->g, c->t, ref, &c->scratch, err);
	if (!(v = fr_plan_result(c->pl, ref->name)))
		fr_error_set(err, FR_EPIPELINE, &ref->mark, "no result for task '%s'", ref->name);
	return v;
}

/* A fetch's request after templating: URL, headers and CA file into job, and
 * what identifies the download (URL, headers, pin) into the action hash h. */
static int
fetchaction(struct fr_job *job, struct lookctx *lc, struct fr_hasher *h, struct fr_error *err)
{
	const struct fr_fetchspec *fs = job->task->decl->opt->fetch;
	char *val, *shown;
	size_t i;

	if (!(job->url = fr_tmpl_text(fs->url, lookup, lc, err)))
		return -1;
	if (!fr_fetchspec_url_ok(job->url)) {
		struct fr_mark m = fr_tmpl_mark(fs->url, lc->pl->g->p->file);
		return fr_error_set(err, FR_EPIPELINE, &m,
		    "'url' must be an http:// or https:// URL without blanks, not '%s'", job->url);
	}
	job->header = fr_xcalloc(fs->nheader + 1, sizeof(*job->header));
	fr_hasher_addstr(h, "fetch");
	fr_hasher_addstr(h, job->url);
	for (i = 0; i < fs->nheader; i++) {
		if (!(val = fr_tmpl_text(fs->header[i].value, lookup, lc, err)))
			return -1;
		if (!fr_fetchspec_value_ok(val)) {
			free(val);
			return fr_error_set(err, FR_EPIPELINE, &fs->header[i].mark,
			    "header '%s' has a line break in its value", fs->header[i].name);
		}
		job->header[job->nheader++] = fr_xasprintf("%s: %s", fs->header[i].name, val);
		fr_hasher_addstr(h, fs->header[i].name);
		fr_hasher_addstr(h, val);
		free(val);
	}
	fr_hasher_addstr(h, "");
	fr_hasher_add(h, &(int){ (int)fs->pin.algo }, sizeof(int));
	fr_hasher_add(h, fs->pin.b, fr_pin_len(fs->pin.algo));
	if (fs->cacert && !(job->cacert = fr_tmpl_text(fs->cacert, lookup, lc, err)))
		return -1;
	shown = fr_fetchspec_redact(job->url);
	job->cmd = fr_xasprintf("fetch %s", shown);
	free(shown);
	return 0;
}

/* Whether the output, whose SHA-256 is d, matches the fetch's pin. The last
 * success under the same key was checked against this very pin, so its
 * output digest vouches for a SHA-384 or SHA-512 pin without reading the file. */
static int
pinmatch(const struct fr_job *job, const struct fr_state_rec *old, const struct fr_digest *d,
    struct fr_error *err)
{
	const struct fr_pin *pin = &job->task->decl->opt->fetch->pin;
	struct fr_pin got;

	if (pin->algo == FR_PIN_SHA256)
		return memcmp(pin->b, d->b, FR_DIGEST_LEN) == 0;
	if (old && memcmp(&old->key, &job->rec.key, sizeof(old->key)) == 0 &&
	    old->noutput == 1 && memcmp(old->output[0].digest, d, sizeof(*d)) == 0)
		return 1;
	if (fr_pin_file(fr_task_output(job->task)[0], pin->algo, &got, err) < 0)
		return -1;
	return fr_pin_equal(pin, &got);
}

/* What a fetch that would run needs instead: nothing, when its output matches
 * its pin (it is never downloaded again, whatever the key or always: say; -B
 * still downloads); a conditional request, when it is not pinned and the last
 * success downloaded the same thing to the content the output still holds. */
static int
fetchverdict(struct fr_plan *pl, struct fr_job *job, const struct fr_state_rec *old,
    struct fr_error *err)
{
	struct fr_task *t = job->task;
	const struct fr_fetchspec *fs = t->decl->opt->fetch;
	json_t *res, *v;
	struct fr_digest cur;
	int rc;

	if (!job->run || pl->force || (!old && fs->pin.algo == FR_PIN_NONE))
		return 0;
	if ((rc = filedigest(pl, fr_task_output(t)[0], 1, 0, &cur, err)) <= 0)
		return rc;
	if (fs->pin.algo != FR_PIN_NONE) {
		if ((rc = pinmatch(job, old, &cur, err)) <= 0)
			return rc;
		job->run = 0;
		job->adopt = !old || memcmp(&old->key, &job->rec.key, sizeof(old->key)) != 0 ||
		    old->noutput != 1 || memcmp(old->output[0].digest, &cur, sizeof(cur)) != 0;
		fr_buf_reset(&job->why);
		fr_buf_printf(&job->why, "output %s matches its %s pin", fr_task_output(t)[0],
		    fr_pin_name(fs->pin.algo));
		job->current = cur;
		return 0;
	}
	if (!old || memcmp(&old->cmd, &job->rec.cmd, sizeof(old->cmd)) != 0 ||
	    old->noutput != 1 || memcmp(old->output[0].digest, &cur, sizeof(cur)) != 0)
		return 0;
	job->have_current = 1;
	job->current = cur;
	if (!old->result || !(res = json_loads(old->result, 0, NULL)))
		return 0;
	if (json_is_string(v = json_object_get(res, "etag")))
		job->etag = fr_xstrdup(json_string_value(v));
	if (json_is_string(v = json_object_get(res, "last_modified")))
		job->last_modified = fr_xstrdup(json_string_value(v));
	json_decref(res);
	return 0;
}

/* Item i of the job's inputs (with no glob among them: its memo's) or of
 * its deps (what each hands on), for the job's record. */
static void
jobitem(const void *arg, enum fr_items which, size_t i, struct fr_state_item *it)
{
	const struct fr_job *job = arg;
	const struct fr_task *t = job->task;
	const struct memo *m;

	if (which == FR_ITEMS_DEP) {
		/* the handoff of a needed task is set once it is done and lives
		 * as long as the graph */
		const struct fr_task *d = fr_task_dep(t)[i];
		it->name = fr_task_name(d);
		it->digest = &d->handoff;
		return;
	}
	m = fr_htab_get(job->plan->files, fr_task_input(t)[i]);
	it->name = fr_task_input(t)[i];
	it->digest = &m->d;
}

/* Expand input patterns (globs sorted by glob(3)) and digest each file. An
 * input item points at its memo's digest rather than holding a copy: the memo
 * lives as long as the plan, and its digest does not change while a task
 * reading the file is planned and run (only writing the file changes it, and
 * the task that writes it is needed by every task reading it, graph.c, so it
 * ran first). Without a glob, the items are made when asked for (jobitem),
 * not held. */
static int
hashinputs(struct fr_plan *pl, struct fr_task *t, struct fr_state_rec *rec, struct fr_error *err)
{
	char **input = fr_task_input(t);
	uint32_t ninput = fr_task_ninput(t);
	struct memo *m;
	size_t i, j, cap = 0;
	int globs = 0;

	for (i = 0; i < ninput && !globs; i++)
		globs = fr_path_isglob(input[i]);
	/* one item a declared input unless globs add more */
	if (globs)
		fr_grow(&rec->input, ninput, &cap, sizeof(*rec->input));
	for (i = 0; i < ninput; i++) {
		struct fr_state_item it;
		glob_t gl;
		int rc;

		if (!fr_path_isglob(input[i])) {
			rc = filememo(pl, input[i], 1, 0, &m, err);
			if (rc < 0)
				return -1;
			if (rc == 0)
				return fr_error_set(err, FR_ESYS, NULL,
				    "missing input '%s' (no task lists it as an output)",
				    input[i]);
			if (!globs) {
				rec->ninput++;
				continue;
			}
			it.name = input[i];
			it.digest = &m->d;
			FR_PUSH(rec->input, rec->ninput, cap, it);
			continue;
		}
		rc = glob(input[i], 0, NULL, &gl);
		fr_seen_glob(pl->g->p->seen, input[i], gl.gl_pathv, rc == 0 ? gl.gl_pathc : 0);
		if (rc != 0) {
			globfree(&gl);
			continue;	/* a glob may match nothing */
		}
		for (j = 0; j < gl.gl_pathc; j++) {
			rc = filememo(pl, gl.gl_pathv[j], 0, 0, &m, err);
			if (rc < 0) {
				globfree(&gl);
				return -1;
			}
			if (rc == 0)
				continue;
			it.name = m->path;	/* lives as long as the plan */
			it.digest = &m->d;
			FR_PUSH(rec->input, rec->ninput, cap, it);
		}
		globfree(&gl);
	}
	return 0;
}

/* What t hands on to the tasks that need it: its outputs' content and its
 * result. A fetch's result (its status, timing, headers) changes with every
 * download of the same content, so only its output counts: a download of
 * identical content keeps what needs it skipped (early cutoff). */
static void
handoff(struct fr_task *t, const struct fr_state_item *out, size_t nout, const char *result)
{
	struct fr_hasher h;
	size_t i;

	if (t->decl->action == FR_ACT_FETCH)
		result = NULL;

	fr_hasher_init(&h);
	for (i = 0; i < nout; i++) {
		fr_hasher_addstr(&h, out[i].name);
		fr_hasher_add(&h, out[i].digest->b, FR_DIGEST_LEN);
	}
	fr_hasher_addstr(&h, result ? result : "");
	fr_hasher_final(&h, &t->handoff);
}

int
fr_plan_task(struct fr_plan *pl, struct fr_task *t, struct fr_job *job, struct fr_error *err)
{
	const struct fr_taskdecl *d = t->decl;
	struct lookctx lc = { pl, t, NULL };
	const struct fr_state_rec *old;
	struct fr_hasher h;
	size_t i;
	int rc = -1;

	memset(job, 0, sizeof(*job));
	job->task = t;
	job->rec.name = fr_task_name(t);
	/* a task that ran may have written what t reads without declaring it
	 * (ordered by needs alone): then the stat data taken ahead may be old */
	t->afterrun = 0;
	for (i = 0; i < t->ndep; i++)
		if (fr_task_dep(t)[i]->status == FR_TASK_DONE || fr_task_dep(t)[i]->afterrun)
			t->afterrun = 1;
	pl->ahead = !t->afterrun;
	if (pl->dry) {
		for (i = 0; i < t->ndep; i++) {
			if (fr_task_dep(t)[i]->changed) {
				job->run = 1;
				fr_buf_printf(&job->why, "upstream %s would run",
				    fr_task_name(fr_task_dep(t)[i]));
				return 0;
			}
		}
	}
	/* the action */
	if (d->run && !(job->cmd = fr_tmpl_textof(d->run, lookup, &lc, err)))
		goto out;
	fr_hasher_init(&h);
	fr_hasher_addstr(&h, "flowrun-action-1");
	if (d->action == FR_ACT_CALL) {
		struct fr_buf cmd = {0};
		size_t at;
		if (d->opt->args && !(job->args = fr_tree_eval(d->opt->args, lookup, &lc, err))) {
			fr_hasher_final(&h, &job->rec.cmd);
			goto out;
		}
		/* "call LIBRARY:FUNCTION(ARGS)", ARGS canonical, empty without args */
		fr_buf_add(&cmd, "call ", 5);
		if (fr_task_library(t)) {
			fr_buf_addstr(&cmd, fr_task_library(t));
			fr_buf_addc(&cmd, ':');
		}
		fr_buf_addstr(&cmd, d->opt->function);
		fr_buf_addc(&cmd, '(');
		at = cmd.len;
		if (job->args)
			fr_json_canon(&cmd, job->args);
		fr_buf_addc(&cmd, ')');
		fr_hasher_addstr(&h, "call");
		fr_hasher_addstr(&h, fr_task_library(t) ? fr_task_library(t) : "");
		fr_hasher_addstr(&h, d->opt->function);
		cmd.data[cmd.len - 1] = '\0';	/* the args alone, for a moment */
		fr_hasher_addstr(&h, cmd.data + at);
		cmd.data[cmd.len - 1] = ')';
		job->cmd = fr_buf_steal(&cmd);
	}
	if (d->action == FR_ACT_FETCH && fetchaction(job, &lc, &h, err) < 0) {
		fr_hasher_final(&h, &job->rec.cmd);
		goto out;
	}
	fr_hasher_addstr(&h, job->cmd ? job->cmd : "");
	fr_hasher_addstr(&h, d->opt->shell ? d->opt->shell : "");
	fr_hasher_add(&h, &(int){ (int)d->opt->result }, sizeof(int));
	for (i = 0; i < fr_task_noutput(t); i++)
		fr_hasher_addstr(&h, fr_task_output(t)[i]);
	fr_hasher_final(&h, &job->rec.cmd);
	/* the environment: the pipeline's, the task's, and the directory; most
	 * tasks have neither env nor dir, so theirs is hashed once a run */
	job->envp = pl->baseenv;
	if (!d->opt->nenv && !d->opt->dir && pl->baseenvh_set) {
		job->rec.env = pl->baseenvh;
		goto envdone;
	}
	fr_hasher_init(&h);
	for (i = 0; i < pl->g->p->nenv; i++) {
		fr_hasher_addstr(&h, pl->g->p->envname[i]);
		fr_hasher_addstr(&h, pl->g->p->envval[i]);
	}
	fr_hasher_addstr(&h, "");
	if (d->opt->nenv) {
		char **names = fr_xcalloc(d->opt->nenv, sizeof(char *));
		char **vals = fr_xcalloc(d->opt->nenv, sizeof(char *));
		size_t n, k;
		for (i = 0; i < d->opt->nenv; i++) {
			names[i] = d->opt->env[i].name;
			if (!(vals[i] = fr_tmpl_text(d->opt->env[i].value, lookup, &lc, err)))
				break;
			fr_hasher_addstr(&h, names[i]);
			fr_hasher_addstr(&h, vals[i]);
		}
		if (i == d->opt->nenv)
			job->envp = fr_env_make(pl->baseenv, pl->nbase, names, vals, d->opt->nenv, &n);
		for (k = 0; k < i; k++)
			free(vals[k]);
		free(names);
		free(vals);
		if (i < d->opt->nenv) {
			fr_hasher_final(&h, &job->rec.env);
			goto out;
		}
	}
	if (d->opt->dir && !(job->dir = fr_tmpl_text(d->opt->dir, lookup, &lc, err))) {
		fr_hasher_final(&h, &job->rec.env);
		goto out;
	}
	fr_hasher_addstr(&h, job->dir ? job->dir : "");
	fr_hasher_final(&h, &job->rec.env);
	if (!d->opt->nenv && !d->opt->dir) {
		pl->baseenvh = job->rec.env;
		pl->baseenvh_set = 1;
	}
envdone:
	/* inputs and what the needed tasks handed on */
	job->plan = pl;
	job->rec.item = jobitem;
	job->rec.itemarg = job;
	if (hashinputs(pl, t, &job->rec, err) < 0)
		goto out;
	job->rec.ndep = t->ndep;	/* made when asked for, as inputs without a glob */
	fr_hasher_init(&h);
	fr_hasher_add(&h, job->rec.cmd.b, FR_DIGEST_LEN);
	fr_hasher_add(&h, job->rec.env.b, FR_DIGEST_LEN);
	for (i = 0; i < job->rec.ninput; i++) {
		struct fr_state_item it = fr_state_rec_item(&job->rec, FR_ITEMS_INPUT, i);
		fr_hasher_addstr(&h, it.name);
		fr_hasher_add(&h, it.digest->b, FR_DIGEST_LEN);
	}
	fr_hasher_addstr(&h, "");
	for (i = 0; i < job->rec.ndep; i++) {
		struct fr_state_item it = fr_state_rec_item(&job->rec, FR_ITEMS_DEP, i);
		fr_hasher_addstr(&h, it.name);
		fr_hasher_add(&h, it.digest->b, FR_DIGEST_LEN);
	}
	fr_hasher_final(&h, &job->rec.key);
	/* the verdict */
	rc = 0;
	old = fr_state_get(pl->s, fr_task_name(t));
	if (pl->force) {
		job->run = 1;
		fr_buf_addstr(&job->why, "forced (-B)");
	} else if (d->always) {
		job->run = 1;
		fr_buf_addstr(&job->why, "always runs (always: true)");
	} else if (!old) {
		job->run = 1;
		fr_buf_addstr(&job->why, "no record of an earlier run");
	} else if (memcmp(&old->key, &job->rec.key, sizeof(old->key)) != 0) {
		job->run = 1;
		fr_plan_explain(pl, job, old, &job->rec);
	} else {
		for (i = 0; i < old->noutput; i++) {
			struct fr_digest od;
			int found = filedigest(pl, old->output[i].name, 0, 0, &od, err);
			if (found < 0) {
				rc = -1;
				goto out;
			}
			if (!found) {
				job->run = 1;
				fr_buf_printf(&job->why, "output %s is missing", old->output[i].name);
				break;
			}
			if (memcmp(&od, old->output[i].digest, sizeof(od)) != 0) {
				job->run = 1;
				fr_buf_printf(&job->why, "output %s was modified", old->output[i].name);
				break;
			}
		}
		if (!job->run)
			fr_buf_addstr(&job->why, "up to date");
	}
	if (d->action == FR_ACT_FETCH && fetchverdict(pl, job, old, err) < 0)
		rc = -1;
out:
	json_decref(lc.scratch);
	return rc;
}

/* Room for the n output items of job's record and, after them in the same
 * allocation (fr_job_release frees both), for their digests, which the items
 * point at and which are returned: a job has few outputs, and its record must
 * not borrow digests from what may change or go before it is written. */
static struct fr_digest *
outitems(struct fr_job *job, size_t n)
{
	struct fr_state_item *it = fr_xcalloc(n, sizeof(*it) + sizeof(struct fr_digest));
	struct fr_digest *d = (struct fr_digest *)(it + n);
	size_t i;

	for (i = 0; i < n; i++)
		it[i].digest = &d[i];
	job->rec.output = it;
	return d;
}

/* A fetch whose output matches its pin without a record to match: record it
 * now, with the result of the last success when that was this content, else
 * one that says it was not downloaded (status null). */
static void
adopt(struct fr_plan *pl, struct fr_job *job)
{
	const struct fr_state_rec *old = fr_state_get(pl->s, fr_task_name(job->task));
	struct fr_task *t = job->task;
	struct fr_error err = {0};
	struct fr_stat st = {0};
	char hex[2 * FR_DIGEST_LEN + 1], *shown;
	json_t *res;

	t->changed = 0;
	if (old && old->result && old->noutput == 1 &&
	    memcmp(old->output[0].digest, &job->current, sizeof(job->current)) == 0) {
		setresult(pl, t, fr_xstrdup(old->result));
	} else {
		fr_digest_hex(&job->current, hex);
		if (fr_stat_path(fr_task_output(t)[0], &st) < 0)
			st.size = 0;
		shown = fr_fetchspec_redact(job->url);
		res = json_pack("{s:s?, s:n, s:I, s:s, s:n, s:n, s:i}", "url", shown, "status",
		    "bytes", (json_int_t)st.size, "sha256", hex, "etag",
		    "last_modified", "seconds", 0);
		setresult(pl, t, res ? canon(res) : NULL);
		json_decref(res);
		free(shown);
	}
	*outitems(job, 1) = job->current;
	job->rec.output[0].name = fr_task_output(t)[0];
	job->rec.noutput = 1;
	job->rec.result = fr_plan_task_result(pl, t);
	handoff(t, job->rec.output, 1, job->rec.result);
	if (!pl->dry && fr_state_put(pl->s, &job->rec, &err) < 0)
		fr_warn("%s", err.text);
}

void
fr_plan_skip(struct fr_plan *pl, struct fr_job *job)
{
	const struct fr_state_rec *old = fr_state_get(pl->s, fr_task_name(job->task));
	struct fr_task *t = job->task;

	if (job->adopt) {
		adopt(pl, job);
		return;
	}

	t->changed = 0;
	setresult(pl, t, old->result ? fr_xstrdup(old->result) : NULL);
	handoff(t, old->output, old->noutput, old->result);
}

void
fr_plan_dry(struct fr_plan *pl, struct fr_job *job)
{
	(void)pl;
	job->task->changed = 1;
	memset(&job->task->handoff, 0xff, sizeof(job->task->handoff));
}

int
fr_plan_done(struct fr_plan *pl, struct fr_job *job, const json_t *result, int64_t duration_ns,
    struct fr_error *err)
{
	struct fr_task *t = job->task;
	struct fr_digest *d;
	size_t i;
	int rc;

	d = outitems(job, fr_task_noutput(t));
	for (i = 0; i < fr_task_noutput(t); i++) {
		job->rec.output[i].name = fr_task_output(t)[i];
		rc = filedigest(pl, fr_task_output(t)[i], 1, 1, &d[i], err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return fr_error_set(err, FR_ESYS, NULL, "output '%s' was not created",
			    fr_task_output(t)[i]);
	}
	job->rec.noutput = fr_task_noutput(t);
	setresult(pl, t, result ? canon(result) : NULL);
	job->rec.result = fr_plan_task_result(pl, t);
	job->rec.duration_ns = duration_ns;
	t->changed = 1;
	handoff(t, job->rec.output, job->rec.noutput, job->rec.result);
	return fr_state_put(pl->s, &job->rec, err);
}

int
fr_plan_unchanged(struct fr_plan *pl, struct fr_job *job, struct fr_error *err)
{
	const struct fr_state_rec *old = fr_state_get(pl->s, fr_task_name(job->task));
	struct fr_task *t = job->task;
	int rc = 0;

	if (!old || old->noutput != 1)	/* a conditional request needs both */
		return fr_error_set(err, FR_ESTATE, NULL, "no record of %s's last download",
		    fr_task_name(t));
	setresult(pl, t, old->result ? fr_xstrdup(old->result) : NULL);
	t->changed = 0;
	*outitems(job, 1) = *old->output[0].digest;
	job->rec.output[0].name = fr_task_output(t)[0];
	job->rec.noutput = 1;
	job->rec.result = fr_plan_task_result(pl, t);
	job->rec.duration_ns = old->duration_ns;
	handoff(t, job->rec.output, 1, job->rec.result);
	if (memcmp(&old->key, &job->rec.key, sizeof(old->key)) != 0)
		rc = fr_state_put(pl->s, &job->rec, err);	/* old is gone after this */
	return rc;
}

int
fr_plan_stamp(struct fr_plan *pl, struct fr_stamp *stamp)
{
	const char *path;
	void *v;
	size_t pos;
	int outputs;
	struct fr_stat st;
	struct fr_digest d;

	/* the files no task writes first: those are the ones people edit, and
	 * a check stops at the first change it finds */
	for (outputs = 0; outputs < 2; outputs++) {
		for (pos = 0; fr_htab_next(pl->files, &pos, &path, &v);) {
			const struct memo *m = v;
			if (!m->looked || !m->output != !outputs)
				continue;
			if (!m->exists) {
				fr_stamp_file(stamp, m->path, NULL, NULL);
				continue;
			}
			/* the stat data it had when its digest was taken: the
			 * state's record of it, which this run wrote or found */
			if (fr_state_file_get(pl->s, m->path, &st, &d) < 0 ||
			    memcmp(&d, &m->d, sizeof(d)) != 0)
				return -1;
			fr_stamp_file(stamp, m->path, &st, &d);
		}
	}
	return 0;
}

void
fr_plan_hint(struct fr_plan *pl, const char *path, const struct fr_stat *st,
    const struct fr_digest *d)
{
	struct memo *m = fr_htab_get(pl->files, path);

	if (!m)
		m = fr_plan_memo(pl, path, 0, NULL);
	fr_prestat_drop(pl, m);
	m->exists = m->hinted = m->looked = 1;
	m->d = *d;
	remember(pl, path, st, d);
}

void
fr_job_release(struct fr_plan *pl, struct fr_job *job)
{
	size_t i;

	if (job->envp != pl->baseenv)
		fr_env_free(job->envp);
	job->envp = NULL;
	free(job->cmd);
	json_decref(job->args);
	job->args = NULL;
	free(job->dir);
	for (i = 0; i < job->nheader; i++)
		free(job->header[i]);
	free(job->header);
	free(job->url);
	free(job->cacert);
	free(job->etag);
	free(job->last_modified);
	job->header = NULL;
	job->nheader = 0;
	job->url = job->cacert = job->etag = job->last_modified = NULL;
	free(job->rec.input);
	free(job->rec.output);
	fr_buf_free(&job->why);
	memset(&job->rec, 0, sizeof(job->rec));
	job->cmd = job->dir = NULL;
}
