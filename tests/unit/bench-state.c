/* SPDX-License-Identifier: MIT */
/* bench-state: the cost of a no-op run's use of the state, through the public
 * API only (so it builds against any version of lib/state.c). Not built by
 * make:
 *
 *   gcc -std=c11 -O2 -iquote lib tests/unit/bench-state.c lib/state.c \
 *       lib/staterec.c lib/crc32c.c \
 *       lib/digest.c lib/util.c lib/error.c lib/log.c lib/buf.c lib/htab.c \
 *       $(pkg-config --cflags --libs libcrypto) -o /tmp/bench-state
 *   /tmp/bench-state [pipeline|big] [N] [REPS]
 *
 * pipeline: N tasks like "cp in/i out/i" (a T record with one input and one
 * output, and two F records each); big: N records like t-state's test_big
 * (two inputs, one output, one dep, a result, no F records). Each repetition
 * opens the state, gets every task (twice, as the planner does) and every
 * file, and closes it; the minimum and median times of each step are printed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "util.h"

static void
dig(struct fr_digest *d, unsigned seed, unsigned salt)
{
	size_t i;

	for (i = 0; i < FR_DIGEST_LEN; i++)
		d->b[i] = (unsigned char)(seed * 31 + salt * 7 + i * 13);
}

static int
cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, int64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%-28s min %7.2f ms  median %7.2f ms\n", what, (double)t[0] / 1e6,
	    (double)t[n / 2] / 1e6);
}

int
main(int argc, char **argv)
{
	int big = argc > 1 && strcmp(argv[1], "big") == 0;
	int n = argc > 2 ? atoi(argv[2]) : big ? 100000 : 10000;
	int reps = argc > 3 ? atoi(argv[3]) : 20, i, r, bad = 0;
	char tmpl[] = "/tmp/bench-state.XXXXXX", *dir, *path, name[64], p[3][64];
	struct fr_state_item item[4];
	struct fr_digest idig[4];
	struct fr_state_rec rec;
	struct fr_stat st;
	struct fr_digest d;
	struct fr_state *s;
	struct stat sb;
	int64_t *t[4], t0;
	size_t j;

	if (n <= 0 || reps <= 0 || !mkdtemp(tmpl))
		return 2;
	dir = fr_xasprintf("%s/.flowrun", tmpl);
	path = fr_xasprintf("%s/state", dir);
	memset(&rec, 0, sizeof(rec));
	rec.name = name;
	rec.input = item;
	rec.ninput = big ? 2 : 1;
	rec.output = item + rec.ninput;
	rec.noutput = 1;
	rec.dep = item + 3;
	rec.ndep = big;
	rec.result = big ? "{\"x\":12345,\"ok\":true}" : NULL;
	for (j = 0; j < 4; j++) {
		item[j].name = j < 3 ? p[j] : "prepare";
		item[j].digest = &idig[j];
	}
	s = fr_state_open(dir, FR_LOCK_FAIL, NULL, NULL, NULL);
	for (i = 0; s && i < n; i++) {
		snprintf(name, sizeof(name), big ? "square[x=%d]" : "t%d", i);
		snprintf(p[0], sizeof(p[0]), big ? "data/input-%05d.csv" : "in/%d", i);
		snprintf(p[1], sizeof(p[1]), big ? "lib/common.py" : "out/%d", i);
		snprintf(p[2], sizeof(p[2]), "out/square-%05d.txt", i);
		dig(&rec.key, (unsigned)i, 1);
		dig(&rec.cmd, (unsigned)i, 2);
		dig(&rec.env, 0, 3);
		for (j = 0; j < 4; j++)
			dig(&idig[j], (unsigned)i, 4 + (unsigned)j);
		rec.duration_ns = 1000000 + i;
		st = (struct fr_stat){ 2, 1795416551947520648 + i, 1795416551947520648 + i,
		    11002838 + (uint64_t)i, 65024 };
		for (j = 0; !big && j < 2; j++)
			fr_state_file_set(s, p[j], &st, &idig[j]);
		fr_state_put(s, &rec, NULL);
	}
	if (fr_state_close(s, NULL) < 0 || !s || stat(path, &sb) < 0)
		return 2;
	printf("%s, %d tasks: state file %lld bytes, %.0f bytes per task\n", big ? "big" : "pipeline",
	    n, (long long)sb.st_size, (double)sb.st_size / n);
	for (i = 0; i < 4; i++)
		t[i] = fr_xcalloc((size_t)reps, sizeof(int64_t));
	for (r = 0; r < reps; r++) {
		t0 = fr_now_ns();
		s = fr_state_open(dir, FR_LOCK_FAIL, NULL, NULL, NULL);
		t[0][r] = fr_now_ns() - t0;
		t0 = fr_now_ns();
		for (i = 0; s && i < n; i++) {
			snprintf(name, sizeof(name), big ? "square[x=%d]" : "t%d", i);
			const struct fr_state_rec *g = fr_state_get(s, name);
			bad += !g || g->duration_ns != 1000000 + i || !fr_state_get(s, name);
			if (!big && g) {
				bad += fr_state_file_get(s, g->input[0].name, &st, &d) < 0;
				bad += fr_state_file_get(s, g->output[0].name, &st, &d) < 0;
			}
		}
		t[1][r] = fr_now_ns() - t0;
		t0 = fr_now_ns();
		fr_state_close(s, NULL);
		t[2][r] = fr_now_ns() - t0;
		t[3][r] = t[0][r] + t[1][r] + t[2][r];
	}
	report("open (lock, read, index)", t[0], reps);
	report("get every task and file", t[1], reps);
	report("close", t[2], reps);
	report("total", t[3], reps);
	if (bad)
		printf("%d lookups failed\n", bad);
	unlink(path);
	free(path);
	path = fr_xasprintf("%s/lock", dir);
	unlink(path);
	rmdir(dir);
	rmdir(tmpl);
	free(path);
	free(dir);
	for (i = 0; i < 4; i++)
		free(t[i]);
	return bad != 0;
}
