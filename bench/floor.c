/* SPDX-License-Identifier: MIT */
/* floor: the benchmark's lower bound, a bare posix_spawn loop that runs the
 * commands of tasks.txt (one line a task: "DEP,DEP<TAB>command") in DAG order,
 * N at a time, nothing else: no hashing, no state, no output capture.
 * `floor -t FILE CMD...` is the runner's meter: wall, CPU and peak RSS of CMD. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec_shell.h"	/* the rule flowrun uses to exec without a shell */

extern char **environ;


struct task {
	char *cmd;
	size_t *deps, ndeps;
	size_t *users, nusers;	/* tasks that depend on this one */
	size_t waiting;		/* needed dependencies not yet done */
	int needed;
};

/* File scope, so everything stays reachable until exit. */
static struct task *t;
static char *buf;
static size_t *edges, *users, *ucount, *queue, *slot_task;
static pid_t *slot_pid;

static void
die(const char *msg)
{
	fprintf(stderr, "floor: %s: %s\n", msg, strerror(errno));
	exit(2);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("malloc");
	return p;
}

static pid_t
spawn(const char *cmd, int direct)
{
	char *argv_sh[] = {"sh", "-c", (char *)cmd, NULL};
	char *words[256], *copy = NULL;
	size_t n = 0;
	pid_t pid;
	int err;

	if (!direct) {
		err = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv_sh, environ);
	} else {
		char *p;

		copy = xmalloc(strlen(cmd) + 1);
		strcpy(copy, cmd);
		for (p = strtok(copy, " \t"); p && n < 255; p = strtok(NULL, " \t"))
			words[n++] = p;
		words[n] = NULL;
		err = posix_spawnp(&pid, words[0], NULL, NULL, words, environ);
		free(copy);
	}
	if (err) {
		errno = err;
		die("posix_spawn");
	}
	return pid;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *data;
	size_t cap = 1 << 20, n = 0, r;

	if (!f)
		die(path);
	data = xmalloc(cap + 1);
	while ((r = fread(data + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			cap *= 2;
			data = realloc(data, cap + 1);
			if (!data)
				die("realloc");
		}
	}
	if (ferror(f))
		die(path);
	fclose(f);
	data[n] = '\0';
	*len = n;
	return data;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run argv, wait4 for it, write "WALL USER SYS MAXRSS_KIB STATUS" to out.
 * This process is small, so the child's peak RSS (which on Linux includes the
 * memory of the process it was forked from) is its own. */
static int
meter(const char *out, char **argv)
{
	struct rusage ru;
	double t0 = now(), wall;
	pid_t pid;
	int err, status, code;
	FILE *f;

	err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (err) {
		errno = err;
		die(argv[0]);
	}
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4");
	wall = now() - t0;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	f = fopen(out, "w");
	if (!f)
		die(out);
	fprintf(f, "%.6f %.6f %.6f %ld %d\n", wall,
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
	    ru.ru_maxrss, code);
	if (fclose(f) != 0)
		die(out);
	return code;
}

static void
usage(void)
{
	fprintf(stderr, "usage: floor [-j N] [-s ID,ID...] [-S] TASKS.txt\n"
	    "  -j N   run N commands at once (default 2)\n"
	    "  -s IDS run only these tasks and everything downstream of them\n"
	    "         (\"-s ''\": run nothing, only read the file)\n"
	    "  -S     always /bin/sh -c (default: as flowrun, exec simple commands directly)\n"
	    "       floor -t FILE CMD [ARG...]\n"
	    "  run CMD; write its wall, user and sys seconds, peak RSS (KiB) and exit status to FILE\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	size_t ntasks = 0, i, j, len, nneeded = 0, ndone = 0, nsh = 0, ndirect = 0;
	size_t qhead = 0, qtail = 0, nedges = 0, off = 0;
	const char *seeds = NULL;
	char *p, *line;
	long jobs = 2;
	int opt, always_sh = 0, failed = 0, running = 0;

	while ((opt = getopt(argc, argv, "+j:s:St:")) != -1) {
		switch (opt) {
		case 'j':
			jobs = strtol(optarg, NULL, 10);
			if (jobs < 1)
				usage();
			break;
		case 's':
			seeds = optarg;
			break;
		case 'S':
			always_sh = 1;
			break;
		case 't':
			if (optind >= argc)
				usage();
			return meter(optarg, argv + optind);
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();

	/* Parse: count lines, then split each in place. */
	buf = slurp(argv[optind], &len);
	for (p = buf; *p; p++)
		if (*p == '\n')
			ntasks++;
	if (len && buf[len - 1] != '\n')
		ntasks++;
	t = calloc(ntasks ? ntasks : 1, sizeof(*t));
	for (p = buf; *p; p++)
		if (*p == ',')
			nedges++;
	nedges += ntasks;	/* at most commas + one per line */
	edges = xmalloc(nedges * sizeof(*edges));
	ucount = calloc(ntasks ? ntasks : 1, sizeof(*ucount));
	if (!t || !ucount)
		die("calloc");
	nedges = 0;
	for (i = 0, line = buf; i < ntasks; i++) {
		char *tab, *end = strchr(line, '\n');

		if (end)
			*end = '\0';
		tab = strchr(line, '\t');
		if (!tab) {
			fprintf(stderr, "floor: line %zu: no tab\n", i + 1);
			return 2;
		}
		*tab = '\0';
		t[i].cmd = tab + 1;
		t[i].deps = edges + nedges;
		for (p = line; *p;) {
			char *e;
			unsigned long d = strtoul(p, &e, 10);

			if (e == p || d >= i) {
				fprintf(stderr, "floor: line %zu: bad dependency\n", i + 1);
				return 2;
			}
			edges[nedges++] = d;
			t[i].ndeps++;
			ucount[d]++;
			p = *e == ',' ? e + 1 : e;
		}
		line = end ? end + 1 : line + strlen(line);
	}
	/* Reverse edges. */
	users = xmalloc((nedges ? nedges : 1) * sizeof(*users));
	for (i = 0; i < ntasks; i++) {
		t[i].users = users + off;
		off += ucount[i];
	}
	for (i = 0; i < ntasks; i++)
		for (j = 0; j < t[i].ndeps; j++) {
			struct task *d = &t[t[i].deps[j]];

			d->users[d->nusers++] = i;
		}

	/* What to run: everything, or the seeds and what is downstream of them
	 * (ids are in topological order, so one forward pass closes the set). */
	if (!seeds) {
		for (i = 0; i < ntasks; i++)
			t[i].needed = 1;
	} else {
		for (p = (char *)seeds; *p;) {
			char *e;
			unsigned long s = strtoul(p, &e, 10);

			if (e == p || s >= ntasks)
				usage();
			t[s].needed = 1;
			p = *e == ',' ? e + 1 : e;
		}
		for (i = 0; i < ntasks; i++)
			if (t[i].needed)
				for (j = 0; j < t[i].nusers; j++)
					t[t[i].users[j]].needed = 1;
	}
	queue = xmalloc((ntasks ? ntasks : 1) * sizeof(*queue));
	for (i = 0; i < ntasks; i++) {
		if (!t[i].needed)
			continue;
		nneeded++;
		for (j = 0; j < t[i].ndeps; j++)
			if (t[t[i].deps[j]].needed)
				t[i].waiting++;
		if (!t[i].waiting)
			queue[qtail++] = i;
	}

	slot_pid = calloc((size_t)jobs, sizeof(*slot_pid));
	slot_task = calloc((size_t)jobs, sizeof(*slot_task));
	if (!slot_pid || !slot_task)
		die("calloc");
	while (ndone < nneeded) {
		int status;
		pid_t pid;
		long s;

		while (!failed && running < jobs && qhead < qtail) {
			size_t k = queue[qhead++];
			int direct = !always_sh && fr_shell_is_simple(t[k].cmd);

			for (s = 0; slot_pid[s]; s++)
				;
			slot_pid[s] = spawn(t[k].cmd, direct);
			slot_task[s] = k;
			running++;
			if (direct)
				ndirect++;
			else
				nsh++;
		}
		if (!running)
			break;
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			die("waitpid");
		}
		for (s = 0; s < jobs && slot_pid[s] != pid; s++)
			;
		if (s == jobs)
			continue;
		slot_pid[s] = 0;
		running--;
		ndone++;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "floor: task %zu failed: %s\n", slot_task[s],
			    t[slot_task[s]].cmd);
			failed = 1;
			continue;
		}
		{
			struct task *d = &t[slot_task[s]];

			for (j = 0; j < d->nusers; j++) {
				struct task *u = &t[d->users[j]];

				if (u->needed && --u->waiting == 0)
					queue[qtail++] = d->users[j];
			}
		}
	}
	fprintf(stderr, "floor: ran %zu of %zu tasks at -j %ld: %zu via /bin/sh -c, "
	    "%zu exec'd directly (as flowrun does for simple commands)%s\n",
	    ndone, ntasks, jobs, nsh, ndirect, failed ? "; a task failed" : "");
	free(slot_task);
	free(slot_pid);
	free(queue);
	free(users);
	free(ucount);
	free(edges);
	free(t);
	free(buf);
	return failed ? 1 : 0;
}
