/* SPDX-License-Identifier: MIT */
/* exec_call: run call tasks on worker threads or in worker processes, and
 * hand each completion to the loop through a wake-up pipe or the worker's pipe. */
#define _GNU_SOURCE		/* pipe2 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowrun/task.h>

#include "buf.h"
#include "exec_call.h"
#include "htab.h"
#include "util.h"

extern char **environ;

/* A worker process: one call at a time, requests and replies as JSON lines. */
struct worker {
	struct fr_callpool *pool;
	pid_t pid;
	int in, out;			/* its stdin (we write), its stdout (we read) */
	struct fr_buf line;		/* the reply read so far */
	struct fr_call *call;		/* the call it runs, or NULL when idle */
	struct worker *next;
};

struct fr_callpool {
	struct fr_loop *loop;
	char *self;
	struct fr_htab *libs;		/* path -> dlopen handle (loop thread only) */
	/* threads */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *thread;
	unsigned nthread, maxthread, idle;	/* idle: threads waiting on cv */
	struct fr_call *queue, **qtail;	/* waiting for a thread */
	struct fr_call *finished;	/* done by a thread, not yet handed to the loop */
	struct fr_call *starts, **stail;	/* picked up, not yet told to the loop */
	/* the -j budget: a thread runs a call only while running + held < jobs,
	 * so calls may queue deep without running wider */
	unsigned jobs, running, held;
	int kick;			/* calls queued since the last flush */
	int stop;
	int wake[2];
	/* processes */
	struct worker *workers;
};

/* --- built-ins: reductions over args.values --------------------------- */

static const json_t *
values(const json_t *args, struct flowrun_ctx *ctx)
{
	const json_t *v = json_object_get(args, "values");

	if (!json_is_array(v)) {
		flowrun_task_error(ctx, "args.values must be a list");
		return NULL;
	}
	return v;
}

static json_t *
reduce(const json_t *args, struct flowrun_ctx *ctx, int op)
{
	const json_t *v = values(args, ctx), *x;
	json_int_t isum = 0, ibest = 0;
	double dsum = 0, dbest = 0;
	int real = 0, first = 1;
	size_t i;

	if (!v)
		return NULL;
	json_array_foreach(v, i, x) {
		double d;
		if (!json_is_number(x)) {
			flowrun_task_error(ctx, "args.values[%zu] is not a number", i);
			return NULL;
		}
		d = json_number_value(x);
		real |= json_is_real(x);
		if (json_is_integer(x) && !real)
			isum += json_integer_value(x);
		dsum += d;
		if (first || (op == 'm' ? d < dbest : d > dbest)) {
			dbest = d;
			ibest = json_is_integer(x) ? json_integer_value(x) : 0;
			first = 0;
		}
	}
	if (op == 's')
		return real ? json_real(dsum) : json_integer(isum);
	if (first) {
		flowrun_task_error(ctx, "args.values is empty");
		return NULL;
	}
	/* the best value keeps its own type */
	json_array_foreach(v, i, x)
		if (json_number_value(x) == dbest)
			return json_is_integer(x) ? json_integer(ibest) : json_real(dbest);
	return json_real(dbest);
}

static json_t *
b_sum(const json_t *args, struct flowrun_ctx *ctx)
{
	return reduce(args, ctx, 's');
}

static json_t *
b_min(const json_t *args, struct flowrun_ctx *ctx)
{
	return reduce(args, ctx, 'm');
}

static json_t *
b_max(const json_t *args, struct flowrun_ctx *ctx)
{
	return reduce(args, ctx, 'M');
}

static json_t *
b_len(const json_t *args, struct flowrun_ctx *ctx)
{
	const json_t *v = json_object_get(args, "values");

	if (json_is_object(v) || json_is_string(v))
		return json_integer((json_int_t)(json_is_object(v) ? json_object_size(v) :
		    json_string_length(v)));
	if (!(v = values(args, ctx)))
		return NULL;
	return json_integer((json_int_t)json_array_size(v));
}

static const struct {
	const char *name;
	flowrun_task_fn *fn;
} builtin[] = {
	{ "sum", b_sum }, { "min", b_min }, { "max", b_max }, { "len", b_len },
};

/* --- resolving a function ------------------------------------------------ */

/* The function, from a built-in or a library loaded once per process (cache
 * may be NULL: load every time). NULL with msg filled. */
static flowrun_task_fn *
resolve(struct fr_htab *cache, const char *library, const char *function, char *msg, size_t n)
{
	const int *abi;
	void *h, *sym;
	size_t i;

	if (!library) {
		for (i = 0; i < FR_NELEM(builtin); i++)
			if (strcmp(builtin[i].name, function) == 0)
				return builtin[i].fn;
		snprintf(msg, n, "no built-in function '%s'", function);
		return NULL;
	}
	h = cache ? fr_htab_get(cache, library) : NULL;
	if (!h) {
		char *path = strchr(library, '/') ? fr_xstrdup(library) :
		    fr_xasprintf("./%s", library);	/* never a search of the system's paths */
		dlerror();
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		free(path);
		if (!h) {
			const char *why = dlerror();
			snprintf(msg, n, "cannot load library %s: %s", library, why ? why : "dlopen failed");
			return NULL;
		}
		if (!(abi = dlsym(h, "flowrun_task_abi"))) {
			snprintf(msg, n, "library %s is not a flowrun plugin: it has no symbol "
			    "flowrun_task_abi (say FLOWRUN_TASK_PLUGIN; in it)", library);
			dlclose(h);
			return NULL;
		}
		if (*abi != FLOWRUN_TASK_ABI) {
			snprintf(msg, n, "library %s was built for plugin ABI %d; this flowrun "
			    "speaks ABI %d: rebuild it", library, *abi, FLOWRUN_TASK_ABI);
			dlclose(h);
			return NULL;
		}
		if (cache)
			fr_htab_put(cache, fr_xstrdup(library), h);
	}
	if (!(sym = dlsym(h, function))) {
		snprintf(msg, n, "library %s has no function '%s'", library, function);
		return NULL;
	}
	return (flowrun_task_fn *)(uintptr_t)sym;	/* POSIX: data and code pointers agree */
}

/* Forget the cache of libraries (their handles stay open). */
static void
freecache(struct fr_htab *cache)
{
	size_t pos = 0;
	const char *k;

	while (fr_htab_next(cache, &pos, &k, NULL))
		free((char *)k);
	fr_htab_free(cache);
}

static void
ctxfail(struct flowrun_ctx *ctx, const char *message)
{
	char *buf = ctx->priv;

	if (buf[0] == '\0')
		snprintf(buf, 1024, "%s", message);
}

/* Call fn and turn a NULL without a message into one. */
static json_t *
invoke(flowrun_task_fn *fn, const json_t *args, const char *task, char *error)
{
	struct flowrun_ctx ctx = { FLOWRUN_TASK_ABI, task, ctxfail, error };
	json_t *empty = NULL, *r;

	if (!args)
		args = empty = json_object();
	error[0] = '\0';
	r = fn(args, &ctx);
	json_decref(empty);
	if (!r && error[0] == '\0')
		snprintf(error, 1024, "the function returned NULL without saying why");
	if (r && error[0] != '\0') {	/* it said it failed: believe it */
		json_decref(r);
		r = NULL;
	}
	return r;
}

/* --- threads ------------------------------------------------------------- */

/* About to add to p->starts or p->finished (p->mu held): wake the loop
 * unless either holds something already, so that a wake-up is on its way
 * (the loop drains both at once; a full pipe also wakes it). */
static void
tell(struct fr_callpool *p)
{
	if (!p->starts && !p->finished && write(p->wake[1], "", 1) < 0 && errno != EAGAIN)
		abort();
}

static void *
threadmain(void *arg)
{
	struct fr_callpool *p = arg;
	struct fr_call *c;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && (!p->queue || p->running + p->held >= p->jobs)) {
			p->idle++;
			pthread_cond_wait(&p->cv, &p->mu);
			p->idle--;
		}
		if (p->stop)
			break;
		c = p->queue;
		if (!(p->queue = c->next))
			p->qtail = &p->queue;
		p->running++;
		c->start_ns = fr_now_ns();
		if (c->started) {
			c->snext = NULL;
			tell(p);
			*p->stail = c;
			p->stail = &c->snext;
		}
		pthread_mutex_unlock(&p->mu);
		c->result = invoke((flowrun_task_fn *)c->fn, c->args, c->task, c->error);
		c->end_ns = fr_now_ns();
		pthread_mutex_lock(&p->mu);
		p->running--;
		tell(p);
		c->next = p->finished;
		p->finished = c;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* The loop side: hand finished calls to their owners. */
static void
onwake(void *arg, int fd, short revents)
{
	struct fr_callpool *p = arg;
	struct fr_call *c, *st, *next;
	char buf[256];

	(void)revents;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&p->mu);
	st = p->starts;
	p->starts = NULL;
	p->stail = &p->starts;
	c = p->finished;
	p->finished = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; st; st = next) {
		next = st->snext;
		st->started(st, st->arg);
	}
	for (; c; c = next) {
		next = c->next;
		c->done(c, c->arg);
	}
}

static int
enqueue(struct fr_callpool *p, struct fr_call *c)
{
	pthread_mutex_lock(&p->mu);
	c->next = NULL;
	*p->qtail = c;
	p->qtail = &c->next;
	p->kick = 1;
	if (p->idle == 0 && p->nthread < p->maxthread &&
	    pthread_create(&p->thread[p->nthread], NULL, threadmain, p) == 0)
		p->nthread++;
	if (p->nthread == 0) {	/* no thread to run it, now or later */
		p->queue = NULL;
		p->qtail = &p->queue;
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Wake as many waiting threads as there are calls they may start. */
static void
kick(struct fr_callpool *p)
{
	unsigned busy = p->running + p->held, n = 0;
	struct fr_call *c;

	for (c = p->queue; c && n < p->idle && busy + n < p->jobs; c = c->next)
		n++;
	if (n == p->idle)
		pthread_cond_broadcast(&p->cv);
	else
		while (n-- > 0)
			pthread_cond_signal(&p->cv);
	p->kick = 0;
}

void
fr_callpool_flush(struct fr_callpool *p)
{
	pthread_mutex_lock(&p->mu);
	if (p->kick)
		kick(p);
	pthread_mutex_unlock(&p->mu);
}

int
fr_callpool_take(struct fr_callpool *p)
{
	int got;

	pthread_mutex_lock(&p->mu);
	got = p->running + p->held < p->jobs && !p->queue;
	p->held += (unsigned)got;
	pthread_mutex_unlock(&p->mu);
	return got;
}

void
fr_callpool_give(struct fr_callpool *p)
{
	pthread_mutex_lock(&p->mu);
	p->held--;
	if (p->queue)
		kick(p);
	pthread_mutex_unlock(&p->mu);
}

void
fr_callpool_cancel(struct fr_callpool *p)
{
	struct fr_call *c;

	pthread_mutex_lock(&p->mu);
	if ((c = p->queue)) {
		while (c) {
			struct fr_call *next = c->next;
			c->cancelled = 1;
			snprintf(c->error, sizeof(c->error), "not started: the run is stopping");
			tell(p);
			c->next = p->finished;
			p->finished = c;
			c = next;
		}
		p->queue = NULL;
		p->qtail = &p->queue;
	}
	pthread_mutex_unlock(&p->mu);
}

/* --- worker processes ---------------------------------------------------- */

static void workerchild(void *arg, pid_t pid, int status, const struct rusage *ru);

static void
finishcall(struct fr_call *c)
{
	c->end_ns = fr_now_ns();
	fr_loop_cancel_timer(c->pool->loop, c->timer);
	c->timer = 0;
	c->worker = NULL;
	c->done(c, c->arg);
}

/* A reply line: {"result": V} or {"error": "..."}. */
static void
onreply(struct worker *w)
{
	struct fr_call *c = w->call;
	json_t *r = json_loadb(w->line.data, w->line.len, 0, NULL), *v;

	w->call = NULL;
	fr_buf_reset(&w->line);
	c->result = NULL;
	if (r && (v = json_object_get(r, "result")))
		c->result = json_incref(v);
	else if (r && json_is_string(v = json_object_get(r, "error")))
		snprintf(c->error, sizeof(c->error), "%s", json_string_value(v));
	else
		snprintf(c->error, sizeof(c->error), "the worker process answered nonsense");
	json_decref(r);
	finishcall(c);
}

static void
onworkerout(void *arg, int fd, short revents)
{
	struct worker *w = arg;
	char buf[65536], *nl;
	ssize_t n;

	(void)revents;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fr_buf_add(&w->line, buf, (size_t)n);
		if (w->call && (nl = memchr(w->line.data, '\n', w->line.len))) {
			w->line.len = (size_t)(nl - w->line.data);
			onreply(w);
		}
	}
	if (n == 0) {	/* EOF: the worker is gone; its exit status says how */
		fr_loop_unwatch_fd(w->pool->loop, fd);
		close(fd);
		w->out = -1;
	}
}

static void
dropworker(struct fr_callpool *p, struct worker *w)
{
	struct worker **pp;

	for (pp = &p->workers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (w->out >= 0) {
		fr_loop_unwatch_fd(p->loop, w->out);
		close(w->out);
	}
	if (w->in >= 0)
		close(w->in);
	fr_buf_free(&w->line);
	free(w);
}

static void
workerchild(void *arg, pid_t pid, int status, const struct rusage *ru)
{
	struct worker *w = arg;
	struct fr_call *c = w->call;

	(void)pid;
	(void)ru;
	if (c) {
		if (c->error[0] == '\0') {
			if (WIFSIGNALED(status))
				snprintf(c->error, sizeof(c->error),
				    "the worker process was killed by signal %d (%s)",
				    WTERMSIG(status), strsignal(WTERMSIG(status)));
			else
				snprintf(c->error, sizeof(c->error),
				    "the worker process exited with status %d", WEXITSTATUS(status));
		}
		c->result = NULL;
		w->call = NULL;
		finishcall(c);
	}
	dropworker(w->pool, w);	/* a new one is started when needed */
}

static struct worker *
spawnworker(struct fr_callpool *p, struct fr_error *err)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)"flowrun", (char *)"--call-worker", NULL };
	struct worker *w;
	pid_t pid;
	int rc;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		fr_error_set(err, FR_ESYS, NULL, "cannot make a pipe for a worker process:");
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	rc = posix_spawn(&pid, p->self, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		fr_error_set(err, FR_ESYS, NULL, "cannot start a worker process (%s):", p->self);
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	w = fr_xcalloc(1, sizeof(*w));
	w->pool = p;
	w->pid = pid;
	w->in = in[1];
	w->out = out[0];
	w->next = p->workers;
	p->workers = w;
	fr_loop_watch_fd(p->loop, w->out, POLLIN, onworkerout, w);
	fr_loop_watch_child(p->loop, pid, workerchild, w);
	return w;
fail:
	if (in[0] >= 0) {
		close(in[0]);
		close(in[1]);
	}
	if (out[0] >= 0) {
		close(out[0]);
		close(out[1]);
	}
	return NULL;
}

static void
ontimeout(void *arg)
{
	struct fr_call *c = arg;

	c->timer = 0;
	snprintf(c->error, sizeof(c->error), "timed out after %.3gs (worker process killed)",
	    (double)c->timeout_ns / 1e9);
	if (c->worker)
		kill(c->worker->pid, SIGKILL);
}

static int
startprocess(struct fr_callpool *p, struct fr_call *c, struct fr_error *err)
{
	struct worker *w;
	json_t *req;
	char *line;
	int rc;

	for (w = p->workers; w; w = w->next)
		if (!w->call && w->in >= 0 && w->out >= 0)
			break;
	if (!w && !(w = spawnworker(p, err)))
		return -1;
	req = json_pack("{s:s?, s:s, s:O?, s:s}", "library", c->library, "function", c->function,
	    "args", c->args, "task", c->task);
	line = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(req);
	if (!line)
		return fr_error_set(err, FR_ESYS, NULL, "cannot encode the args of %s", c->task);
	rc = fr_write_full(w->in, line, strlen(line)) < 0 || fr_write_full(w->in, "\n", 1) < 0;
	free(line);
	if (rc)
		return fr_error_set(err, FR_ESYS, NULL, "cannot write to a worker process:");
	w->call = c;
	c->worker = w;
	c->start_ns = fr_now_ns();
	if (c->timeout_ns > 0)
		c->timer = fr_loop_timer(p->loop, c->start_ns + c->timeout_ns, ontimeout, c);
	return 0;
}

/* --- the pool ------------------------------------------------------------ */

struct fr_callpool *
fr_callpool_new(struct fr_loop *loop, unsigned jobs, unsigned held, const char *self_exe)
{
	struct fr_callpool *p = fr_xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->self = fr_xstrdup(self_exe);
	p->libs = fr_htab_new(8);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->jobs = jobs < 1 ? 1 : jobs;
	p->held = held;
	p->maxthread = p->jobs > 256 ? 256 : p->jobs;
	p->thread = fr_xcalloc(p->maxthread, sizeof(*p->thread));
	p->qtail = &p->queue;
	p->stail = &p->starts;
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();	/* out of descriptors at start: nothing sensible to do */
	fr_loop_watch_fd(loop, p->wake[0], POLLIN, onwake, p);
	return p;
}

void
fr_callpool_free(struct fr_callpool *p)
{
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthread; i++)
		pthread_join(p->thread[i], NULL);
	while (p->workers) {	/* closing its stdin tells a worker to exit */
		fr_loop_watch_child(p->loop, p->workers->pid, NULL, NULL);
		dropworker(p, p->workers);
	}
	fr_loop_unwatch_fd(p->loop, p->wake[0]);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	freecache(p->libs);	/* libraries stay loaded: results may point into them */
	free(p->thread);
	free(p->self);
	free(p);
}

int
fr_call_start(struct fr_callpool *p, struct fr_call *c, struct fr_error *err)
{
	char msg[1024];

	c->pool = p;
	c->result = NULL;
	c->error[0] = '\0';
	c->worker = NULL;
	c->timer = 0;
	c->cancelled = 0;
	if (c->isolation == FR_ISO_PROCESS && c->library) {
		if (access(c->library, R_OK) < 0)
			return fr_error_set(err, FR_ESYS, NULL, "cannot load library %s:", c->library);
		return startprocess(p, c, err);
	}
	if (!(c->fn = (void *)(uintptr_t)resolve(p->libs, c->library, c->function, msg,
	    sizeof(msg))))
		return fr_error_set(err, FR_ESYS, NULL, "%s", msg);
	if (enqueue(p, c) < 0)
		return fr_error_set(err, FR_ESYS, NULL, "cannot start a worker thread");
	return 0;
}

void
fr_call_kill(struct fr_call *c)
{
	if (c->worker && c->worker->pid > 0)
		kill(c->worker->pid, SIGKILL);
}

int
fr_call_worker_main(void)
{
	struct fr_htab *cache = fr_htab_new(8);
	char *line = NULL, error[1024];
	size_t cap = 0;
	ssize_t n;

	signal(SIGPIPE, SIG_DFL);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_t *req = json_loadb(line, (size_t)n, 0, NULL), *res = NULL, *reply;
		const char *lib = json_string_value(json_object_get(req, "library"));
		const char *fn = json_string_value(json_object_get(req, "function"));
		const char *task = json_string_value(json_object_get(req, "task"));
		flowrun_task_fn *f;
		char *out;

		error[0] = '\0';
		if (!req || !fn)
			snprintf(error, sizeof(error), "a malformed request");
		else if ((f = resolve(cache, lib, fn, error, sizeof(error))))
			res = invoke(f, json_object_get(req, "args"), task ? task : "", error);
		reply = res ? json_pack("{s:o}", "result", res) : json_pack("{s:s}", "error", error);
		out = json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(reply);
		json_decref(req);
		if (!out || printf("%s\n", out) < 0 || fflush(stdout) != 0) {
			free(out);
			break;
		}
		free(out);
	}
	free(line);
	freecache(cache);	/* the libraries stay loaded until the process ends */
	return 0;
}
