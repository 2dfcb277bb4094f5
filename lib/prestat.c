/* SPDX-License-Identifier: MIT */
/* prestat: stat ahead (fr_plan_prestat) the files the needed tasks name, on
 * helper threads beside the loop, which takes each memo's stat data when a
 * decision first looks at the file (fr_prestat_take). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "graph.h"
#include "htab.h"
#include "plan.h"
#include "plan_int.h"
#include "prestat.h"
#include "util.h"

#define PRESTAT_THREADS 7		/* helpers at most */
#define PRESTAT_MIN 512		/* fewer paths: not worth a thread */
#define PRESTAT_CHUNK 32

struct fr_prestat {
	struct memo *base;	/* the memos to stat, base[0 .. n), or else */
	struct memo **m;	/* these */
	size_t n;
	size_t next;		/* the next index to take, taken atomically */
	size_t taken;		/* how many the loop has taken (its place) */
	int helped;		/* helpers run beside the loop */
	int stop;		/* set (atomically) to make the helpers stop early */
	pthread_t th[PRESTAT_THREADS];
	int nth;
};

static inline void
fr_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static void
statmemo(struct memo *m)
{
	struct fr_stat st;

	m->preerr = fr_stat_path(m->path, &st) < 0 ? errno : 0;
	if (!m->preerr)
		m->st = statkey(&st);
	__atomic_store_n(&m->pre, PRE_DONE, __ATOMIC_RELEASE);
}

/* Helpers keep this far ahead of the loop, whose place is ps->taken: a
 * helper right where the loop is would make it wait for each stat. */
#define PRESTAT_GAP 128
#define PRESTAT_NEAR 16

static void *
prestatter(void *arg)
{
	struct fr_prestat *ps = arg;
	size_t i, end, at, ahead;

	while (!__atomic_load_n(&ps->stop, __ATOMIC_RELAXED) &&
	    (i = __atomic_fetch_add(&ps->next, PRESTAT_CHUNK, __ATOMIC_RELAXED)) < ps->n) {
		at = __atomic_load_n(&ps->taken, __ATOMIC_RELAXED);
		if (ps->helped && i < at + PRESTAT_NEAR) {
			/* the loop caught up: leave it these, go on ahead */
			ahead = at + PRESTAT_GAP;
			i = __atomic_load_n(&ps->next, __ATOMIC_RELAXED);
			while (i < ahead && !__atomic_compare_exchange_n(&ps->next, &i, ahead, 0,
			    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
			continue;
		}
		end = ps->n - i < PRESTAT_CHUNK ? ps->n : i + PRESTAT_CHUNK;
		for (; i < end; i++) {
			struct memo *m = ps->base ? &ps->base[i] : ps->m[i];
			unsigned char want = PRE_PENDING;
			if (ps->helped && i < __atomic_load_n(&ps->taken, __ATOMIC_RELAXED) +
			    PRESTAT_NEAR)
				break;
			if (__atomic_compare_exchange_n(&m->pre, &want, PRE_BUSY, 0,
			    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				statmemo(m);
		}
	}
	return NULL;
}

/* Claim m's stat data taken ahead, statting it now (if stat) when no helper
 * has started on it: 1, pre then BUSY or DONE, or 0 if m has none. */
static int
claim(struct fr_plan *pl, struct memo *m, int stat)
{
	unsigned char want = PRE_PENDING;
	unsigned spins;

	if (__atomic_load_n(&m->pre, __ATOMIC_ACQUIRE) == PRE_NONE)
		return 0;
	if (pl->prestat)	/* only the loop writes it */
		__atomic_store_n(&pl->prestat->taken, pl->prestat->taken + 1, __ATOMIC_RELAXED);
	if (__atomic_compare_exchange_n(&m->pre, &want, PRE_BUSY, 0, __ATOMIC_ACQUIRE,
	    __ATOMIC_ACQUIRE)) {
		if (!stat)
			return 1;
		statmemo(m);
	}
	/* a helper is statting it: a stat takes about a microsecond, so spin
	 * (and yield only if the helper seems not to be running at all) */
	for (spins = 0; __atomic_load_n(&m->pre, __ATOMIC_ACQUIRE) != PRE_DONE; spins++) {
		if (spins < 20000)
			fr_cpu_relax();
		else
			sched_yield();
	}
	return 1;
}

int
fr_prestat_take(struct fr_plan *pl, struct memo *m, struct statkey *st, int *errnum)
{
	if (!claim(pl, m, 1))
		return 0;
	*st = m->st;
	*errnum = m->preerr;
	__atomic_store_n(&m->pre, PRE_NONE, __ATOMIC_RELAXED);
	return 1;
}

void
fr_prestat_drop(struct fr_plan *pl, struct memo *m)
{
	if (claim(pl, m, 0))
		__atomic_store_n(&m->pre, PRE_NONE, __ATOMIC_RELAXED);
}

void
fr_plan_prestat(struct fr_plan *pl)
{
	struct fr_graph *g = pl->g;
	struct fr_prestat *ps;
	struct memo *premo;
	pthread_attr_t attr;
	sigset_t all, old;
	size_t i, j, k, n = 0, cap = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int want;

	if (pl->prestat)
		return;
	ps = pl->prestat = fr_xcalloc(1, sizeof(*ps));
	/* size the table and the memos once: every output of a needed task, and
	 * the inputs no needed task writes (those shared are counted more than
	 * once: malloc, not calloc, so what stays unused is never touched) */
	for (i = 0; i < g->ntask; i++) {
		struct fr_task *t = g->task[i], *x;
		if (!t->needed)
			continue;
		n += fr_task_noutput(t);
		for (j = 0; j < fr_task_ninput(t); j++)
			if (!fr_path_isglob(fr_task_input(t)[j]) &&
			    (!(x = fr_graph_writer(g, fr_task_input(t)[j])) || !x->needed))
				n++;
	}
	fr_htab_reserve(pl->files, fr_htab_count(pl->files) + n);
	premo = pl->premo ? NULL : (pl->premo = fr_xmalloc((n ? n : 1) * sizeof(*premo)));
	ps->base = premo;
	for (i = 0; i < g->ntask; i++) {
		struct fr_task *t = g->task[i];
		uint32_t nin = fr_task_ninput(t);
		if (!t->needed)
			continue;
		for (j = 0; j < nin + fr_task_noutput(t); j++) {
			const char *p = j < nin ? fr_task_input(t)[j] : fr_task_output(t)[j - nin];
			struct memo *m;
			if ((j < nin && fr_path_isglob(p)) || fr_htab_get(pl->files, p))
				continue;
			m = fr_plan_memo(pl, p, 1, premo && ps->n < n ? &premo[ps->n] : NULL);
			m->pre = PRE_PENDING;
			if (premo && ps->n < n) {
				ps->n++;
				continue;
			}
			if (premo) {	/* cannot happen: the count is an upper bound */
				ps->m = fr_xcalloc(ps->n, sizeof(*ps->m));
				for (k = 0; k < ps->n; k++)
					ps->m[k] = &premo[k];
				cap = ps->n;
				ps->base = premo = NULL;
			}
			FR_PUSH(ps->m, ps->n, cap, m);
		}
	}
	/* every path the needed tasks name has its memo, which says whether
	 * it is an output: the table by output can go */
	fr_graph_forget_outputs(g);
	/* the loop itself plans meanwhile: helpers on the other CPUs */
	want = ncpu <= 1 ? 0 : ncpu - 1 > PRESTAT_THREADS ? PRESTAT_THREADS : (int)ncpu - 1;
	if (ps->n < PRESTAT_MIN || want == 0 || pthread_attr_init(&attr) != 0) {
		prestatter(ps);
		return;
	}
	pthread_attr_setstacksize(&attr, 64 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* signals stay the loop's */
	ps->helped = 1;
	for (k = 0; k < (size_t)want; k++)
		if (pthread_create(&ps->th[ps->nth], &attr, prestatter, ps) == 0)
			ps->nth++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

void
fr_prestat_end(struct fr_plan *pl)
{
	struct fr_prestat *ps = pl->prestat;
	int k;

	if (!ps)
		return;
	__atomic_store_n(&ps->stop, 1, __ATOMIC_RELAXED);
	for (k = 0; k < ps->nth; k++)
		pthread_join(ps->th[k], NULL);
	free(ps->m);
	free(ps);
	pl->prestat = NULL;
}
