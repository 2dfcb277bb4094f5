/* SPDX-License-Identifier: MIT */
/* sched: the event loop of a run: ready heap, job slots and pools, retries,
 * keep-going, signals. Never recursive: finishing a task only pushes the
 * tasks it unblocks onto the heap. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "event.h"
#include "exec_call.h"
#include "exec_fetch.h"
#include "exec_shell.h"
#include "loop.h"
#include "sched.h"
#include "util.h"

struct slot {
	struct sched *s;
	struct fr_job job;
	struct fr_shell_job sh;		/* a run task */
	struct fr_call call;		/* a call task */
	struct fr_fetch fetch;		/* a fetch task */
	uint64_t backoff;		/* a fetch waiting to try again: its timer */
	int final;			/* the failure is not worth a retry (4xx, pin) */
	int64_t retry_after_ns;		/* the server asked for this much of a wait */
	int attempt;
	int token;			/* holds a token of the -j budget (not a thread call) */
	size_t index;			/* in s->slot */
};

struct sched {
	struct fr_graph *g;
	struct fr_plan *pl;
	const struct fr_sched_opts *o;
	struct fr_sched_stats *st;
	struct fr_loop *loop;
	struct hent *heap;
	size_t nheap, heapcap;
	uint32_t *nblock;		/* per task (id): needed deps not finished yet */
	struct fr_task **waiting;	/* ready but their pool is full */
	size_t nwaiting, waitcap;
	unsigned *poolrun;
	struct fr_buf madedir;		/* the last output directory made or found */
	struct slot **slot;		/* running jobs */
	size_t nslot, slotcap;
	struct fr_callpool *calls;	/* made when the first call task comes up */
	size_t nthreadcall;		/* thread calls started (queued or running) */
	size_t ntoken;			/* tokens of the -j budget held by the other jobs */
	struct fr_fetcher *fetcher;	/* made when the first fetch task starts */
	size_t done, total;
	int stopping, sigcount;
};

/* A heap entry keeps its order key beside the task's id, so sifting
 * compares entries without touching the tasks (a cache miss each at 100k
 * tasks); 8 bytes, as every task of a wide graph may wait here at once. */
struct hent {
	int32_t prio;		/* priority: larger first */
	uint32_t id;		/* then declaration order; the task is g->task[id] */
};

static int
before(const struct hent *a, const struct hent *b)
{
	return a->prio != b->prio ? a->prio > b->prio : a->id < b->id;
}

static void emit(struct sched *s, enum fr_event_kind kind, const struct fr_task *t,
    struct fr_event *ev);

static void
push(struct sched *s, struct fr_task *t)
{
	struct fr_event ev = {0};
	struct hent e = {t->decl->opt->priority, t->id};
	size_t i;

	if (t->status == FR_TASK_PENDING)
		emit(s, FR_EV_TASK_QUEUED, t, &ev);
	t->status = FR_TASK_READY;
	FR_PUSH(s->heap, s->nheap, s->heapcap, e);
	for (i = s->nheap - 1; i > 0 && before(&e, &s->heap[(i - 1) / 2]); i = (i - 1) / 2)
		s->heap[i] = s->heap[(i - 1) / 2];
	s->heap[i] = e;
}

static struct fr_task *
pop(struct sched *s)
{
	struct fr_task *top = s->g->task[s->heap[0].id];
	struct hent last = s->heap[--s->nheap];
	size_t i = 0, n = s->nheap;

	for (;;) {
		size_t l = 2 * i + 1, m = l;
		if (l >= n)
			break;
		if (l + 1 < n && before(&s->heap[l + 1], &s->heap[l]))
			m = l + 1;
		if (!before(&s->heap[m], &last))
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (n > 0)
		s->heap[i] = last;
	return top;
}

static void
emit(struct sched *s, enum fr_event_kind kind, const struct fr_task *t, struct fr_event *ev)
{
	ev->kind = kind;
	ev->task = t;
	ev->done = s->done;
	ev->total = s->total;
	fr_event_emit(ev);
}

/* t finished well (ran, skipped or grouped): unblock what needs it. */
static void
release(struct sched *s, struct fr_task *t)
{
	size_t i;

	for (i = 0; i < t->nrdep; i++) {
		struct fr_task *r = fr_task_rdep(t)[i];
		if (r->needed && --s->nblock[r->id] == 0)
			push(s, r);
	}
}

static void retry(void *arg);

/* Fetches waiting to try again give up at once when the run stops. */
static void
hurry(struct sched *s)
{
	size_t i;

	for (i = 0; i < s->nslot; i++) {
		struct slot *sl = s->slot[i];
		if (sl->backoff) {
			fr_loop_cancel_timer(s->loop, sl->backoff);
			sl->backoff = fr_loop_timer(s->loop, 0, retry, sl);
		}
	}
}

static void
fail(struct sched *s, struct fr_task *t, const char *message, const char *out, size_t outlen,
    int64_t dur, const struct rusage *ru, int attempt, const int *wstatus)
{
	struct fr_event ev = {0};

	if (wstatus) {
		ev.wstatus = *wstatus;
		ev.wstatus_set = 1;
	}

	t->status = FR_TASK_FAILED;
	s->st->failed++;
	s->done++;
	ev.message = message;
	ev.output = out;
	ev.outlen = outlen;
	ev.duration_ns = dur;
	ev.ru = ru;
	ev.attempt = attempt;
	emit(s, FR_EV_TASK_FAILED, t, &ev);
	if (!s->o->keep_going) {
		s->stopping = 1;
		hurry(s);
	}
}

/* Create the directories an output path needs (like mkdir -p of its parent).
 * The last directory made or found is remembered: the outputs of a fan-out
 * share theirs, and each would cost a mkdir per level otherwise. */
static int
mkparents(struct sched *s, const char *path, struct fr_error *err)
{
	const char *last = strrchr(path, '/');
	size_t n = last ? (size_t)(last - path) : 0;
	char *p, *slash;
	int rc = 0;

	if (n == 0 || (s->madedir.len == n && memcmp(s->madedir.data, path, n) == 0))
		return 0;
	p = fr_xstrdup(path);
	for (slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			rc = fr_error_set(err, FR_ESYS, NULL, "cannot create directory %s:", p);
			break;
		}
		*slash = '/';
	}
	free(p);
	if (rc == 0) {
		fr_buf_reset(&s->madedir);
		fr_buf_add(&s->madedir, path, n);
	}
	return rc;
}

static void jobdone(struct fr_shell_job *sh, void *arg);
static void calldone(struct fr_call *call, void *arg);
static void callstarted(struct fr_call *call, void *arg);

/* Thread calls may queue this deep per job: the loop then hands them over and
 * takes their completions in batches, while the pool's tokens keep no more
 * than -j of anything running at once. */
#define CALL_DEPTH 64

/* Whether t runs as a thread call (a built-in runs on a thread whatever its isolation). */
static int
threadcall(const struct fr_task *t)
{
	return t->decl->action == FR_ACT_CALL &&
	    (t->decl->opt->isolation == FR_ISO_THREAD || !fr_task_library(t));
}

/* Take a token of the -j budget for a job that is not a thread call. */
static int
token(struct sched *s)
{
	if (s->ntoken >= s->o->jobs || (s->calls && !fr_callpool_take(s->calls)))
		return 0;
	s->ntoken++;
	return 1;
}

static void
untoken(struct sched *s)
{
	s->ntoken--;
	if (s->calls)
		fr_callpool_give(s->calls);
}

static void fetchdone(struct fr_fetch *f, void *arg);

static int
startfetch(struct sched *s, struct slot *sl, struct fr_error *err)
{
	const struct fr_taskdecl *d = sl->job.task->decl;
	struct fr_fetch *f = &sl->fetch;

	if (!s->fetcher)
		s->fetcher = fr_fetcher_new(s->loop, s->o->host_connections);
	fr_fetch_release(f);
	memset(f, 0, sizeof(*f));
	f->url = sl->job.url;
	f->header = sl->job.header;
	f->nheader = sl->job.nheader;
	f->output = fr_task_output(sl->job.task)[0];
	f->cacert = sl->job.cacert;
	f->pin = &d->opt->fetch->pin;
	f->pin_sri = d->opt->fetch->pin_sri;
	f->etag = sl->job.etag;
	f->last_modified = sl->job.last_modified;
	f->current = sl->job.have_current ? &sl->job.current : NULL;
	f->envp = sl->job.envp;
	f->timeout_ns = d->opt->timeout_ns;
	f->connect_timeout_ns = d->opt->fetch->connect_timeout_ns;
	f->low_speed_limit = d->opt->fetch->low_speed_limit;
	f->low_speed_time_ns = d->opt->fetch->low_speed_time_ns;
	f->done = fetchdone;
	f->arg = sl;
	return fr_fetch_start(s->fetcher, f, err);
}

static int
startjob(struct sched *s, struct slot *sl, struct fr_error *err)
{
	struct fr_task *t = sl->job.task;
	const struct fr_taskdecl *d = t->decl;
	size_t i;

	for (i = 0; i < fr_task_noutput(t); i++)
		if (mkparents(s, fr_task_output(t)[i], err) < 0)
			return -1;
	if (d->action == FR_ACT_CALL) {
		json_decref(sl->call.result);
		memset(&sl->call, 0, sizeof(sl->call));
		sl->call.task = fr_task_name(t);
		sl->call.library = fr_task_library(t);
		sl->call.function = d->opt->function;
		sl->call.args = sl->job.args;
		sl->call.isolation = d->opt->isolation;
		sl->call.timeout_ns = d->opt->timeout_ns;
		sl->call.done = calldone;
		sl->call.started = threadcall(t) && sl->attempt == 1 ? callstarted : NULL;
		sl->call.arg = sl;
		return fr_call_start(s->calls, &sl->call, err);
	}
	if (d->action == FR_ACT_FETCH)
		return startfetch(s, sl, err);
	fr_shell_job_release(&sl->sh);
	memset(&sl->sh, 0, sizeof(sl->sh));
	sl->sh.cmd = sl->job.cmd;
	sl->sh.shell = d->opt->shell;
	sl->sh.envp = sl->job.envp;
	sl->sh.dir = sl->job.dir;
	sl->sh.split_stdout = d->opt->result == FR_RESULT_STDOUT;
	sl->sh.timeout_ns = d->opt->timeout_ns;
	sl->sh.done = jobdone;
	sl->sh.arg = sl;
	return fr_shell_start(s->loop, &sl->sh, err);
}

static void
unslot(struct sched *s, struct slot *sl)
{
	struct fr_task *t = sl->job.task;

	s->slot[sl->index] = s->slot[--s->nslot];
	s->slot[sl->index]->index = sl->index;
	if (t->decl->opt->pool >= 0)
		s->poolrun[t->decl->opt->pool]--;
	if (sl->token)
		untoken(s);
	else
		s->nthreadcall--;
	fr_shell_job_release(&sl->sh);
	json_decref(sl->call.result);
	fr_fetch_release(&sl->fetch);
	fr_loop_cancel_timer(s->loop, sl->backoff);
	fr_job_release(s->pl, &sl->job);
	free(sl);
}

/* A fetch that failed tries again after 0.5 s, 1 s, 2 s... (at most 30 s, or
 * what the server's Retry-After asks, at most a minute): the retry event
 * says when. */
static void
backoff(struct slot *sl, struct fr_event *ev)
{
	struct sched *s = sl->s;
	int64_t wait = 500000000LL << (sl->attempt - 2 < 6 ? sl->attempt - 2 : 6);
	char *msg;

	if (wait > 30000000000LL)
		wait = 30000000000LL;
	if (sl->retry_after_ns > wait)
		wait = sl->retry_after_ns < 60000000000LL ? sl->retry_after_ns : 60000000000LL;
	msg = fr_xasprintf("%s; next try in %.3gs", ev->message, (double)wait / 1e9);
	ev->message = msg;
	emit(s, FR_EV_TASK_RETRY, sl->job.task, ev);
	free(msg);
	sl->backoff = fr_loop_timer(s->loop, fr_now_ns() + wait, retry, sl);
}

static void
retry(void *arg)
{
	struct slot *sl = arg;
	struct sched *s = sl->s;
	struct fr_error err = {0};

	sl->backoff = 0;
	if (s->stopping)
		fr_error_set(&err, FR_ESYS, NULL, "%s (not tried again: the run is stopping)",
		    sl->fetch.error);
	else if (startjob(s, sl, &err) == 0)
		return;
	fail(s, sl->job.task, err.text, NULL, 0, 0, NULL, sl->attempt, NULL);
	unslot(s, sl);
}

/* A job ended: record a success, retry a failure while retries allow, or
 * fail the task. msg says why it failed (NULL: it succeeded). */
static void
finished(struct slot *sl, const char *msg, const json_t *result, const char *out,
    size_t outlen, int64_t dur, const struct rusage *ru, const int *wstatus)
{
	struct sched *s = sl->s;
	struct fr_task *t = sl->job.task;
	struct fr_error err = {0};
	struct fr_event ev = {0};

	ev.output = out;
	ev.outlen = outlen;
	ev.duration_ns = dur;
	ev.ru = ru;
	ev.attempt = sl->attempt;
	ev.cmd = sl->job.cmd;
	if (wstatus) {
		ev.wstatus = *wstatus;
		ev.wstatus_set = 1;
	}
	if (!msg) {
		if (fr_plan_done(s->pl, &sl->job, result, dur, &err) < 0) {
			fail(s, t, err.text, out, outlen, dur, ru, sl->attempt, NULL);
		} else {
			t->status = FR_TASK_DONE;
			s->st->ran++;
			s->done++;
			emit(s, FR_EV_TASK_FINISHED, t, &ev);
			release(s, t);
		}
		unslot(s, sl);
		return;
	}
	if (sl->attempt <= t->decl->opt->retries && !s->stopping && !sl->final) {
		ev.message = msg;
		ev.attempt = ++sl->attempt;
		if (t->decl->action == FR_ACT_FETCH) {
			backoff(sl, &ev);
			return;
		}
		emit(s, FR_EV_TASK_RETRY, t, &ev);
		if (startjob(s, sl, &err) == 0)
			return;
		msg = err.text;
	}
	fail(s, t, msg, out, outlen, dur, ru, sl->attempt, wstatus);
	unslot(s, sl);
}

static char *
describe(const struct fr_shell_job *sh, const struct fr_taskdecl *d)
{
	if (sh->timed_out)
		return fr_xasprintf("timed out after %.3gs (process group killed)",
		    (double)d->opt->timeout_ns / 1e9);
	if (WIFSIGNALED(sh->status))
		return fr_xasprintf("killed by signal %d (%s)", WTERMSIG(sh->status),
		    strsignal(WTERMSIG(sh->status)));
	return fr_xasprintf("exit status %d", WEXITSTATUS(sh->status));
}

static void
jobdone(struct fr_shell_job *sh, void *arg)
{
	struct slot *sl = arg;
	const struct fr_taskdecl *d = sl->job.task->decl;
	int ok = !sh->timed_out && WIFEXITED(sh->status) && WEXITSTATUS(sh->status) == 0;
	char *msg = ok ? NULL : describe(sh, d);
	json_t *result = ok && d->opt->result == FR_RESULT_STDOUT ?
	    fr_json_from_output(fr_buf_str(&sh->out_stdout), sh->out_stdout.len) : NULL;

	finished(sl, msg, result, sh->out.data, sh->out.len, sh->end_ns - sh->start_ns, &sh->ru,
	    &sh->status);
	json_decref(result);
	free(msg);
}

/* A thread picked the call up: it started then, not when it was queued. */
static void
callstarted(struct fr_call *c, void *arg)
{
	struct slot *sl = arg;
	struct fr_event ev = {0};

	ev.reason = fr_buf_str(&sl->job.why);
	ev.cmd = sl->job.cmd;
	ev.attempt = 1;
	ev.time_ns = c->start_ns;
	emit(sl->s, FR_EV_TASK_STARTED, sl->job.task, &ev);
}

static void
calldone(struct fr_call *c, void *arg)
{
	struct slot *sl = arg;

	if (c->cancelled) {	/* never ran: left for the next run */
		unslot(sl->s, sl);
		return;
	}
	finished(sl, c->result ? NULL : c->error, c->result, NULL, 0, c->end_ns - c->start_ns,
	    NULL, NULL);
}

/* A fetch found nothing new on the server (304): the task is up to date. */
static void
unchanged(struct slot *sl, int64_t dur)
{
	struct sched *s = sl->s;
	struct fr_task *t = sl->job.task;
	struct fr_error err = {0};
	struct fr_event ev = {0};

	if (fr_plan_unchanged(s->pl, &sl->job, &err) < 0) {
		fail(s, t, err.text, NULL, 0, dur, NULL, sl->attempt, NULL);
	} else {
		t->status = FR_TASK_SKIPPED;
		s->st->skipped++;
		s->done++;
		ev.reason = "not modified on the server (HTTP 304)";
		ev.cmd = sl->job.cmd;
		ev.duration_ns = dur;
		ev.attempt = sl->attempt;
		emit(s, FR_EV_TASK_SKIPPED, t, &ev);
		release(s, t);
	}
	unslot(s, sl);
}

static void
fetchdone(struct fr_fetch *f, void *arg)
{
	struct slot *sl = arg;
	int64_t dur = f->end_ns - f->start_ns;

	if (f->outcome == FR_FETCH_UNCHANGED) {
		unchanged(sl, dur);
		return;
	}
	if (f->outcome == FR_FETCH_OK)
		fr_plan_hint(sl->s->pl, f->output, &f->st, &f->sha256);
	sl->final = f->outcome == FR_FETCH_FAILED;
	sl->retry_after_ns = f->retry_after_ns;
	finished(sl, f->outcome == FR_FETCH_OK ? NULL : f->error, f->result, NULL, 0, dur, NULL,
	    NULL);
}

/* A task with no action only groups what it needs. */
static void
group(struct sched *s, struct fr_task *t)
{
	struct fr_event ev = {0};
	struct fr_hasher h;
	size_t i;

	t->changed = 0;
	fr_hasher_init(&h);
	for (i = 0; i < t->ndep; i++) {
		fr_hasher_add(&h, fr_task_dep(t)[i]->handoff.b, FR_DIGEST_LEN);
		t->changed |= fr_task_dep(t)[i]->changed;
	}
	fr_hasher_final(&h, &t->handoff);
	t->status = FR_TASK_DONE;
	s->done++;
	ev.reason = "groups what it needs";
	emit(s, FR_EV_TASK_GROUPED, t, &ev);
	release(s, t);
}

/* Plan t and skip it, or start it (tok: it holds a token). Whether it took
 * a slot (which then owns the token). */
static int
consider(struct sched *s, struct fr_task *t, int tok)
{
	struct slot *sl;
	struct fr_error err = {0};
	struct fr_event ev = {0};

	if (t->decl->action == FR_ACT_NONE) {
		group(s, t);
		return 0;
	}
	sl = fr_xcalloc(1, sizeof(*sl));
	sl->s = s;
	sl->attempt = 1;
	if (fr_plan_task(s->pl, t, &sl->job, &err) < 0) {
		fail(s, t, err.text, NULL, 0, 0, NULL, 1, NULL);
		fr_job_release(s->pl, &sl->job);
		free(sl);
		return 0;
	}
	ev.reason = fr_buf_str(&sl->job.why);
	ev.cmd = sl->job.cmd;
	if (!sl->job.run) {
		fr_plan_skip(s->pl, &sl->job);
		t->status = FR_TASK_SKIPPED;
		s->st->skipped++;
		s->done++;
		emit(s, FR_EV_TASK_SKIPPED, t, &ev);
		release(s, t);
	} else if (s->o->dry) {
		fr_plan_dry(s->pl, &sl->job);
		t->status = FR_TASK_DONE;
		s->st->ran++;
		s->done++;
		emit(s, FR_EV_TASK_WOULD_RUN, t, &ev);
		release(s, t);
	} else {
		sl->index = s->nslot;
		sl->token = tok;
		if (!tok)
			s->nthreadcall++;
		FR_PUSH(s->slot, s->nslot, s->slotcap, sl);
		if (t->decl->opt->pool >= 0)
			s->poolrun[t->decl->opt->pool]++;
		t->status = FR_TASK_RUNNING;
		ev.attempt = 1;
		if (tok)	/* a thread call says so when a thread picks it up */
			emit(s, FR_EV_TASK_STARTED, t, &ev);
		if (startjob(s, sl, &err) < 0) {
			fail(s, t, err.text, NULL, 0, 0, NULL, 1, NULL);
			unslot(s, sl);
		}
		return 1;
	}
	fr_job_release(s->pl, &sl->job);
	free(sl);
	return 0;
}

static void
killall(struct sched *s, int sig)
{
	size_t i;

	hurry(s);
	for (i = 0; i < s->nslot; i++) {
		if (s->slot[i]->job.task->decl->action == FR_ACT_CALL)
			fr_call_kill(&s->slot[i]->call);	/* a thread runs to its end */
		else if (s->slot[i]->job.task->decl->action == FR_ACT_FETCH)
			fr_fetch_kill(&s->slot[i]->fetch);
		else
			fr_shell_kill(&s->slot[i]->sh, sig);
	}
}

static void
onsignal(void *arg, int sig)
{
	struct sched *s = arg;

	s->stopping = 1;
	s->st->signal = sig;
	/* the first signal is forwarded (exec_shell follows it with SIGKILL after
	 * a grace); a second one kills at once */
	killall(s, ++s->sigcount == 1 ? sig : SIGKILL);
}

/* Start ready tasks while the budget (and their pools) allow. */
static void
fill(struct sched *s)
{
	size_t i, moved;

	do {
		while (!s->stopping && s->nheap > 0) {
			struct fr_task *t = s->g->task[s->heap[0].id];
			int pool = t->decl->opt->pool, tok = 0;
			if (t->decl->action == FR_ACT_CALL && !s->calls && !s->o->dry)
				s->calls = fr_callpool_new(s->loop, s->o->jobs, (unsigned)s->ntoken,
				    s->o->worker ? s->o->worker : "/proc/self/exe");
			if (t->decl->action != FR_ACT_NONE && !s->o->dry) {
				if (threadcall(t)) {
					if (s->nthreadcall >= (size_t)CALL_DEPTH * s->o->jobs)
						break;
				} else if (!(tok = token(s))) {
					break;
				}
			}
			pop(s);
			if (pool >= 0 && !s->o->dry &&
			    s->poolrun[pool] >= (unsigned)s->g->p->pool[pool].limit) {
				if (tok)
					untoken(s);
				FR_PUSH(s->waiting, s->nwaiting, s->waitcap, t);
				continue;
			}
			if (!consider(s, t, tok) && tok)
				untoken(s);
		}
		/* tasks held back by a pool go back to the heap once a slot frees
		 * up, and start now: no other event may come to start them (a
		 * fetch's completion is the last event of an idle loop) */
		for (i = moved = 0; i < s->nwaiting; i++) {
			int pool = s->waiting[i]->decl->opt->pool;
			if (s->poolrun[pool] < (unsigned)s->g->p->pool[pool].limit) {
				push(s, s->waiting[i]);
				s->waiting[i--] = s->waiting[--s->nwaiting];
				moved++;
			}
		}
	} while (moved && !s->stopping);
	if (s->calls) {
		if (s->stopping)
			fr_callpool_cancel(s->calls);
		fr_callpool_flush(s->calls);
	}
}

int
fr_sched_run(struct fr_graph *g, struct fr_plan *pl, const struct fr_sched_opts *o,
    struct fr_sched_stats *st, struct fr_error *err)
{
	struct sched s = {0};
	struct fr_event ev = {0};
	size_t i, nsource;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	s.g = g;
	s.pl = pl;
	s.o = o;
	s.st = st;
	s.poolrun = fr_xcalloc(g->p->npool + 1, sizeof(*s.poolrun));
	if (!(s.loop = fr_loop_new(err))) {
		free(s.poolrun);
		fr_buf_free(&s.madedir);
		return -1;
	}
	fr_loop_on_signal(s.loop, onsignal, &s);
	s.nblock = fr_xcalloc(g->ntask ? g->ntask : 1, sizeof(*s.nblock));
	for (i = 0, nsource = 0; i < g->ntask; i++) {
		struct fr_task *t = g->order[i];
		t->status = FR_TASK_PENDING;
		if (!t->needed)
			continue;
		s.total++;
		s.nblock[t->id] = t->ndep;	/* what a needed task needs is needed */
		nsource += t->ndep == 0;
	}
	fr_plan_prestat(pl);
	emit(&s, FR_EV_RUN_START, NULL, &ev);
	fr_grow(&s.heap, nsource, &s.heapcap, sizeof(*s.heap));	/* they all wait at first */
	for (i = 0; i < g->ntask; i++)
		if (g->order[i]->needed && s.nblock[g->order[i]->id] == 0)
			push(&s, g->order[i]);
	for (;;) {
		fill(&s);
		/* what finished is on disk before the loop waits: one write a batch */
		if (rc == 0 && fr_plan_flush(pl, err) < 0) {
			s.stopping = 1;	/* what runs finishes; nothing new starts */
			rc = -1;
		}
		if (s.nslot == 0 && (s.stopping || (s.nheap == 0 && s.nwaiting == 0)))
			break;
		if (fr_loop_run_once(s.loop, -1, err) < 0 && rc == 0) {
			s.stopping = 1;
			killall(&s, SIGKILL);
			rc = -1;
		}
	}
	st->notrun = s.total - s.done;
	for (i = 0; i < g->ntask; i++)
		if (g->task[i]->needed && g->task[i]->status < FR_TASK_DONE)
			g->task[i]->status = FR_TASK_BLOCKED;
	memset(&ev, 0, sizeof(ev));
	emit(&s, FR_EV_RUN_END, NULL, &ev);
	fr_callpool_free(s.calls);
	fr_fetcher_free(s.fetcher);
	fr_loop_free(s.loop);
	fr_shell_cleanup();
	free(s.heap);
	free(s.nblock);
	free(s.waiting);
	free(s.slot);
	free(s.poolrun);
	fr_buf_free(&s.madedir);
	if (rc < 0)
		return -1;
	return st->failed || st->notrun || st->signal ? 1 : 0;
}
