/* SPDX-License-Identifier: MIT */
/* t-shell: unit tests of the event loop (fds, timers, signals, children)
 * and of exec_shell (spawning, capture, timeouts, process groups). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec_shell.h"
#include "loop.h"
#include "util.h"
#include "tap.h"

extern char **environ;

#define MS 1000000LL
#define SEC 1000000000LL

static struct fr_loop *loop;
static char tmpdir[256];

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Run the loop until *flag reaches want or limit_ns passes; 1 if reached. */
static int
run_until(const int *flag, int want, int64_t limit_ns)
{
	struct fr_error err;
	int64_t end = fr_now_ns() + limit_ns;

	fr_error_clear(&err);
	while (*flag < want && fr_now_ns() < end)
		if (fr_loop_run_once(loop, 100 * MS, &err) < 0)
			return 0;
	return *flag >= want;
}

static void
count_done(struct fr_shell_job *job, void *arg)
{
	(void)job;
	(*(int *)arg)++;
}

/* Start job and wait for it; 0 when done() ran exactly once. */
static int
run_job(struct fr_shell_job *job, int *ndone, struct fr_error *err)
{
	struct fr_error e2;

	*ndone = 0;
	job->done = count_done;
	job->arg = ndone;
	fr_error_clear(err);
	if (fr_shell_start(loop, job, err) < 0)
		return -1;
	if (!run_until(ndone, 1, 20 * SEC))
		return -2;
	fr_error_clear(&e2);
	fr_loop_run_once(loop, 0, &e2);
	return *ndone == 1 ? 0 : -3;
}

/* Run cmd with the default shell; the output is in job->out. */
static int
sh(struct fr_shell_job *job, const char *cmd)
{
	struct fr_error err;
	int n;

	memset(job, 0, sizeof(*job));
	job->cmd = cmd;
	return run_job(job, &n, &err);
}

static void
test_simple(void)
{
	static const char *yes[] = { "true", "cp a b", "touch out/x.txt", "make CC=gcc -j4",
	    "  ls\t-l  " };
	static const char *no[] = { "echo $HOME", "a | b", "a > b", "FOO=1 cmd", "echo 'x'", "",
	    "  ", "exit 3", "cd dir", "a && b", "a;b", "echo *", "~/bin/x", "echo \"x\"" };
	size_t i;

	for (i = 0; i < FR_NELEM(yes); i++)
		ok(fr_shell_is_simple(yes[i]), "simple: '%s'", yes[i]);
	for (i = 0; i < FR_NELEM(no); i++)
		ok(!fr_shell_is_simple(no[i]), "not simple: '%s'", no[i]);
}

static void
test_status(void)
{
	struct fr_shell_job job;

	ok(sh(&job, "true") == 0 && WIFEXITED(job.status) && WEXITSTATUS(job.status) == 0,
	    "true exits 0");
	ok(job.end_ns >= job.start_ns && job.start_ns > 0, "start and end times are set");
	fr_shell_job_release(&job);
	ok(sh(&job, "exit 3") == 0 && WIFEXITED(job.status) && WEXITSTATUS(job.status) == 3,
	    "exit 3 exits 3");
	fr_shell_job_release(&job);
	ok(sh(&job, "false") == 0 && WIFEXITED(job.status) && WEXITSTATUS(job.status) == 1,
	    "false (exec'd directly) exits 1");
	fr_shell_job_release(&job);
}

static int
stdio_close(int saved[3])
{
	int i;

	fflush(stdout);
	for (i = 0; i < 3; i++)
		if ((saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10)) < 0)
			return -1;
	for (i = 0; i < 3; i++)
		close(i);
	return 0;
}

static void
stdio_restore(int saved[3])
{
	int i;

	for (i = 0; i < 3; i++) {
		dup2(saved[i], i);
		close(saved[i]);
	}
}

static void
test_capture(void)
{
	struct fr_shell_job job;
	struct fr_error err;
	int n, saved[3];

	ok(sh(&job, "echo out; echo err >&2") == 0, "stdout and stderr job ran");
	is_str(fr_buf_str(&job.out), "out\nerr\n", "stdout and stderr captured together");
	is_int(job.out_stdout.len, 0, "nothing in out_stdout without split_stdout");
	fr_shell_job_release(&job);

	memset(&job, 0, sizeof(job));
	job.cmd = "echo out; echo err >&2";
	job.split_stdout = 1;
	ok(run_job(&job, &n, &err) == 0, "split job ran");
	is_str(fr_buf_str(&job.out_stdout), "out\n", "split: stdout in out_stdout");
	is_str(fr_buf_str(&job.out), "err\n", "split: stderr in out");
	fr_shell_job_release(&job);

	/* with 0, 1 and 2 closed, the pipes get those numbers */
	memset(&job, 0, sizeof(job));
	job.cmd = "echo out; echo err >&2";
	job.split_stdout = 1;
	if (stdio_close(saved) == 0) {
		n = run_job(&job, &n, &err);
		stdio_restore(saved);
	} else {
		n = -1;
	}
	ok(n == 0 && strcmp(fr_buf_str(&job.out_stdout), "out\n") == 0 &&
	    strcmp(fr_buf_str(&job.out), "err\n") == 0, "split capture works with stdio closed");
	fr_shell_job_release(&job);

	ok(sh(&job, "cat") == 0 && job.out.len == 0 && WEXITSTATUS(job.status) == 0,
	    "stdin is /dev/null");
	fr_shell_job_release(&job);
}

static void
test_env_dir(void)
{
	struct fr_shell_job job;
	struct fr_error err;
	char path[4096], *envp[3];
	int n;

	snprintf(path, sizeof(path), "PATH=%s", getenv("PATH") ? getenv("PATH") : "/bin:/usr/bin");
	envp[0] = "FOO=bar";
	envp[1] = path;
	envp[2] = NULL;
	memset(&job, 0, sizeof(job));
	job.cmd = "echo $FOO";
	job.envp = envp;
	ok(run_job(&job, &n, &err) == 0, "env job ran");
	is_str(fr_buf_str(&job.out), "bar\n", "envp reaches the shell");
	fr_shell_job_release(&job);

	memset(&job, 0, sizeof(job));
	job.cmd = "env";
	job.envp = envp;
	ok(run_job(&job, &n, &err) == 0, "direct env job ran");
	ok(strstr(fr_buf_str(&job.out), "FOO=bar\n") && !strstr(fr_buf_str(&job.out), "HOME="),
	    "envp is the whole environment of a directly exec'd command");
	fr_shell_job_release(&job);

	memset(&job, 0, sizeof(job));
	job.cmd = "pwd";
	job.dir = tmpdir;
	ok(run_job(&job, &n, &err) == 0, "pwd in dir ran");
	ok(job.out.len > 0 && strncmp(job.out.data, tmpdir, job.out.len - 1) == 0 &&
	    job.out.len == strlen(tmpdir) + 1, "dir respected (direct)");
	fr_shell_job_release(&job);

	memset(&job, 0, sizeof(job));
	job.cmd = "pwd -P && true";
	job.dir = tmpdir;
	ok(run_job(&job, &n, &err) == 0, "pwd in dir through sh ran");
	ok(job.out.len == strlen(tmpdir) + 1 && strncmp(job.out.data, tmpdir, job.out.len - 1) == 0,
	    "dir respected (sh)");
	fr_shell_job_release(&job);

	memset(&job, 0, sizeof(job));
	job.cmd = "false; echo not reached";
	job.shell = "sh  -e\t-c";
	ok(run_job(&job, &n, &err) == 0 && WEXITSTATUS(job.status) == 1 && job.out.len == 0,
	    "a custom shell with options is split on blanks");
	fr_shell_job_release(&job);
}

static int
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

static void
test_errors(void)
{
	struct fr_shell_job job;
	struct fr_error err;
	int n;

	memset(&job, 0, sizeof(job));
	job.cmd = "true";
	job.dir = "/nonexistent/t-shell";
	ok(run_job(&job, &n, &err) == -1, "a missing dir fails to start");
	is_str(err.text, "cannot enter directory /nonexistent/t-shell: No such file or directory",
	    "missing dir message");
	ok(err.code == FR_ESYS && err.errnum == ENOENT, "missing dir code and errno");

	/* valgrind turns posix_spawn's vfork into a fork, which loses exec errors */
	if (under_valgrind()) {
		ok(1, "a missing command fails to start # SKIP under valgrind");
	} else {
		memset(&job, 0, sizeof(job));
		job.cmd = "no-such-command-t-shell --flag";
		ok(run_job(&job, &n, &err) == -1, "a missing command fails to start");
		is_str(err.text, "cannot run 'no-such-command-t-shell': No such file or directory",
		    "missing command message");
		ok(n == 0 && fr_loop_children(loop) == 0, "no callback and no child after a failure");
	}

	memset(&job, 0, sizeof(job));
	job.cmd = "true";
	job.shell = " \t";
	ok(run_job(&job, &n, &err) == -1 && err.code == FR_EPIPELINE, "an empty shell is an error");
	fr_shell_job_release(&job);

	ok(sh(&job, "no-such-command-t-shell && true") == 0 && WEXITSTATUS(job.status) == 127,
	    "a missing command under sh exits 127");
	fr_shell_job_release(&job);
}

static void
test_parallel(void)
{
	enum { N = 20 };
	struct fr_shell_job job[N];
	struct fr_error err;
	char cmd[N][64], want[64];
	int ndone[N], total = 0, i, good = 0, started = 0;
	int64_t t0;

	for (i = 0; i < N; i++) {
		memset(&job[i], 0, sizeof(job[i]));
		if (i % 2)
			snprintf(cmd[i], sizeof(cmd[i]), "sleep 0.0%d; echo job %d >&2; exit %d", i % 10, i, i % 7);
		else
			snprintf(cmd[i], sizeof(cmd[i]), "echo job %d", i);
		job[i].cmd = cmd[i];
		job[i].done = count_done;
		job[i].arg = &ndone[i];
		ndone[i] = 0;
		fr_error_clear(&err);
		started += fr_shell_start(loop, &job[i], &err) == 0;
	}
	is_int(started, N, "20 jobs started");
	is_int(fr_loop_children(loop), N, "the loop watches 20 children");
	t0 = fr_now_ns();
	while (fr_now_ns() - t0 < 20 * SEC) {
		for (total = 0, i = 0; i < N; i++)
			total += ndone[i] > 0;
		if (total == N)
			break;
		fr_error_clear(&err);
		if (fr_loop_run_once(loop, 100 * MS, &err) < 0)
			break;
	}
	fr_loop_run_once(loop, 0, &err);
	for (i = 0; i < N; i++) {
		snprintf(want, sizeof(want), "job %d\n", i);
		good += ndone[i] == 1 && strcmp(fr_buf_str(&job[i].out), want) == 0 &&
		    WIFEXITED(job[i].status) && WEXITSTATUS(job[i].status) == (i % 2 ? i % 7 : 0);
		fr_shell_job_release(&job[i]);
	}
	is_int(good, N, "20 parallel jobs completed once each with the right output and status");
	is_int(fr_loop_children(loop), 0, "no children left");
}

static void
test_large(void)
{
	struct fr_shell_job job;
	struct fr_error err;
	int n;

	ok(sh(&job, "head -c 5000000 /dev/zero") == 0, "5 MB job ran");
	ok(job.out.len == 5000000 && !memchr(job.out.data, 1, job.out.len),
	    "5 MB captured whole (%zu)", job.out.len);
	fr_shell_job_release(&job);

	memset(&job, 0, sizeof(job));
	job.cmd = "head -c 3000000 /dev/zero >&2; head -c 2000000 /dev/zero; head -c 1000 /dev/zero >&2";
	job.split_stdout = 1;
	ok(run_job(&job, &n, &err) == 0, "large split job ran");
	ok(job.out.len == 3001000 && job.out_stdout.len == 2000000,
	    "large stderr and stdout captured apart (%zu, %zu)", job.out.len, job.out_stdout.len);
	fr_shell_job_release(&job);
}

/* Whether pid is gone (or a zombie nobody has reaped yet). */
static int
gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int z = 0;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		z = p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
	fclose(f);
	return z;
}

static void
test_timeout(struct fr_shell_job *job, struct fr_shell_job *termjob)
{
	struct fr_error err;
	char cmd[512], path[300];
	int64_t t0;
	FILE *f;
	int n, gc = 0;

	snprintf(path, sizeof(path), "%s/gc.pid", tmpdir);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; sleep 30", path);
	memset(job, 0, sizeof(*job));
	job->cmd = cmd;
	job->timeout_ns = 200 * MS;
	ok(run_job(job, &n, &err) == 0, "timeout job completed");
	ok(job->timed_out, "timed_out is set");
	ok(WIFSIGNALED(job->status) && WTERMSIG(job->status) == SIGTERM, "killed by SIGTERM");
	ok(job->end_ns - job->start_ns < 1500 * MS, "stopped soon after the timeout (%lld ms)",
	    (long long)((job->end_ns - job->start_ns) / MS));
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%d", &gc) != 1)
			gc = 0;
		fclose(f);
	}
	ok(gc > 0, "the grandchild wrote its pid");
	t0 = fr_now_ns();
	while (gc > 0 && !gone(gc) && fr_now_ns() - t0 < FR_SHELL_GRACE_NS)
		usleep(10000);
	ok(gc > 0 && gone(gc), "the grandchild was killed with the group");
	unlink(path);
	fr_shell_job_release(job);

	/* SIGTERM by hand: the SIGKILL timer must be cancelled at completion
	 * (checked after the next test has run the loop past the grace). */
	memset(termjob, 0, sizeof(*termjob));
	termjob->cmd = "sleep 30";
	termjob->done = count_done;
	termjob->arg = &n;
	n = 0;
	fr_error_clear(&err);
	ok(fr_shell_start(loop, termjob, &err) == 0, "sleep started");
	fr_shell_kill(termjob, SIGTERM);
	ok(run_until(&n, 1, 5 * SEC) && WIFSIGNALED(termjob->status) &&
	    WTERMSIG(termjob->status) == SIGTERM && !termjob->timed_out,
	    "fr_shell_kill SIGTERM stops a job, timed_out stays 0");
	fr_shell_kill(termjob, SIGKILL);	/* a no-op now */
	fr_shell_job_release(termjob);
}

/* Two slow jobs at once: one ignores SIGTERM; in the other, the leader exits
 * but a process that left the group keeps the pipes open. */
static void
test_term_ignored(void)
{
	struct fr_shell_job job, held;
	struct fr_error err;
	char cmd[512], path[300];
	int64_t ms;
	int n = 0, pid = 0, started = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/held.pid", tmpdir);
	snprintf(cmd, sizeof(cmd), "setsid sleep 30 & echo $! > %s", path);
	memset(&job, 0, sizeof(job));
	memset(&held, 0, sizeof(held));
	job.cmd = "trap '' TERM; sleep 30";
	held.cmd = cmd;
	job.timeout_ns = held.timeout_ns = 200 * MS;
	job.done = held.done = count_done;
	job.arg = held.arg = &n;
	fr_error_clear(&err);
	started += fr_shell_start(loop, &job, &err) == 0;
	started += fr_shell_start(loop, &held, &err) == 0;
	ok(started == 2 && run_until(&n, 2, 20 * SEC), "TERM-ignoring and pipe-holding jobs completed");
	ms = (job.end_ns - job.start_ns) / MS;
	ok(job.timed_out && WIFSIGNALED(job.status) && WTERMSIG(job.status) == SIGKILL,
	    "SIGKILLed after the grace");
	ok(ms >= 200 + FR_SHELL_GRACE_NS / MS - 50 && ms < 200 + FR_SHELL_GRACE_NS / MS + 1500,
	    "SIGKILL came after the grace (%lld ms)", (long long)ms);
	ms = (held.end_ns - held.start_ns) / MS;
	ok(held.timed_out && WIFEXITED(held.status) && WEXITSTATUS(held.status) == 0,
	    "a job whose pipes outlive its group still times out");
	ok(ms >= 200 + 2 * FR_SHELL_GRACE_NS / MS - 50 && ms < 200 + 2 * FR_SHELL_GRACE_NS / MS + 1500,
	    "its pipes were abandoned two graces after the timeout (%lld ms)", (long long)ms);
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%d", &pid) == 1 && pid > 0)
			kill(pid, SIGKILL);
		fclose(f);
	}
	ok(pid > 0, "the pipe holder wrote its pid");
	unlink(path);
	fr_shell_job_release(&job);
	fr_shell_job_release(&held);
}

static int
pgrp_of(const char *stat)
{
	const char *p = strrchr(stat, ')');
	int pgrp = -1;

	if (!p || sscanf(p + 1, " %*c %*d %d", &pgrp) != 1)
		return -1;
	return pgrp;
}

static void
test_pgroup(void)
{
	struct fr_shell_job job;

	ok(sh(&job, "cut -d' ' -f5 /proc/$$/stat") == 0, "pgid job ran");
	ok(job.pid > 0 && atoi(fr_buf_str(&job.out)) == job.pid && job.pid != getpgrp(),
	    "a shell job leads its own process group");
	fr_shell_job_release(&job);
	ok(sh(&job, "cat /proc/self/stat") == 0, "direct pgid job ran");
	ok(job.pid > 0 && pgrp_of(fr_buf_str(&job.out)) == job.pid,
	    "a direct job leads its own process group");
	fr_shell_job_release(&job);
}

static char order[16];
static size_t norder;

static void
on_timer(void *arg)
{
	if (norder < sizeof(order) - 1)
		order[norder++] = *(const char *)arg;
}

static void
test_timers(void)
{
	int64_t now = fr_now_ns();
	uint64_t a, b, c, d;
	int fired = 0;

	a = fr_loop_timer(loop, now + 40 * MS, on_timer, "A");
	b = fr_loop_timer(loop, now + 10 * MS, on_timer, "B");
	c = fr_loop_timer(loop, now + 20 * MS, on_timer, "C");
	d = fr_loop_timer(loop, now + 10 * MS, on_timer, "D");
	fr_loop_timer(loop, now - 5 * MS, on_timer, "E");
	ok(a > 0 && b > 0 && c > 0 && d > 0 && a != b && b != c && c != d, "timer ids are distinct and > 0");
	fr_loop_cancel_timer(loop, c);
	fr_loop_cancel_timer(loop, 0);
	fr_loop_cancel_timer(loop, 999999);
	while (norder < 4 && fr_now_ns() - now < 2 * SEC) {
		struct fr_error err;
		fr_error_clear(&err);
		fr_loop_run_once(loop, -1, &err);
	}
	order[norder] = '\0';
	is_str(order, "EBDA", "timers fire in order and a cancelled one does not");
	fired = (int)norder;
	fr_loop_cancel_timer(loop, a);
	is_int(fired, 4, "four timers fired");
}

static void *
waker(void *arg)
{
	usleep(100000);
	fr_loop_wake(arg);
	return NULL;
}

static int got_signal[3];

static void
on_signal(void *arg, int signo)
{
	(void)arg;
	if (signo == SIGINT)
		got_signal[0]++;
	else if (signo == SIGTERM)
		got_signal[1]++;
	else if (signo == SIGHUP)
		got_signal[2]++;
}

static void
test_wake_signals(void)
{
	struct fr_error err;
	pthread_t th;
	int64_t t0;
	int p[2], i;

	fr_error_clear(&err);
	t0 = fr_now_ns();
	if (pthread_create(&th, NULL, waker, loop) == 0) {
		ok(fr_loop_run_once(loop, 5 * SEC, &err) == 0, "run_once returned 0");
		ok(fr_now_ns() - t0 < 2 * SEC, "fr_loop_wake from a thread ends the wait");
		pthread_join(th, NULL);
	} else {
		ok(0, "pthread_create");
	}

	/* more wakes than one read of the self-pipe takes: one round drains
	 * them all, and the next one waits */
	for (i = 0; i < 1000; i++)
		fr_loop_wake(loop);
	fr_loop_run_once(loop, 0, &err);
	t0 = fr_now_ns();
	fr_loop_run_once(loop, 200 * MS, &err);
	ok(fr_now_ns() - t0 >= 150 * MS, "1000 wakes are drained in one round");

	fr_loop_on_signal(loop, on_signal, NULL);
	kill(getpid(), SIGINT);
	kill(getpid(), SIGHUP);
	t0 = fr_now_ns();
	while (!(got_signal[0] && got_signal[2]) && fr_now_ns() - t0 < 2 * SEC)
		fr_loop_run_once(loop, 500 * MS, &err);
	ok(got_signal[0] == 1, "SIGINT reached the signal callback");
	ok(got_signal[2] == 1, "SIGHUP reached the signal callback");
	kill(getpid(), SIGTERM);
	t0 = fr_now_ns();
	while (!got_signal[1] && fr_now_ns() - t0 < 2 * SEC)
		fr_loop_run_once(loop, 500 * MS, &err);
	ok(got_signal[1] == 1, "SIGTERM reached the signal callback");
	fr_loop_on_signal(loop, NULL, NULL);

	if (pipe(p) == 0) {
		close(p[0]);
		errno = 0;
		ok(write(p[1], "x", 1) < 0 && errno == EPIPE, "SIGPIPE is ignored");
		close(p[1]);
	}
}

static int rd_calls[2], rd_fd[2];

static void
on_readable(void *arg, int fd, short revents)
{
	int i = *(int *)arg;
	char c;

	rd_calls[i]++;
	if ((revents & POLLIN) && read(fd, &c, 1) != 1)
		rd_calls[i] += 100;
	/* the first callback unwatches both: the second must not run */
	fr_loop_unwatch_fd(loop, rd_fd[0]);
	fr_loop_unwatch_fd(loop, rd_fd[1]);
}

static void
test_fds(void)
{
	static int idx[2] = { 0, 1 };
	struct fr_error err;
	int p[2], q[2];

	fr_error_clear(&err);
	if (pipe(p) < 0 || pipe(q) < 0) {
		ok(0, "pipe");
		return;
	}
	rd_fd[0] = p[0];
	rd_fd[1] = q[0];
	fr_loop_watch_fd(loop, p[0], POLLIN, on_readable, &idx[0]);
	fr_loop_watch_fd(loop, q[0], POLLIN, on_readable, &idx[0]);
	fr_loop_watch_fd(loop, q[0], POLLIN, on_readable, &idx[1]);	/* replaces */
	ok(write(p[1], "ab", 2) == 2 && write(q[1], "c", 1) == 1, "wrote to both pipes");
	fr_loop_run_once(loop, 1 * SEC, &err);
	ok(rd_calls[0] == 1 && rd_calls[1] == 0, "one callback, the unwatched fd was skipped");
	fr_loop_run_once(loop, 50 * MS, &err);
	ok(rd_calls[0] == 1 && rd_calls[1] == 0, "no callback after unwatch");
	fr_loop_unwatch_fd(loop, p[0]);	/* no-op */
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static int child_status = -1, child_calls;

static void
on_child(void *arg, pid_t pid, int status, const struct rusage *ru)
{
	(void)ru;
	if (pid == *(pid_t *)arg)
		child_status = status;
	child_calls++;
}

static void
test_early_child(void)
{
	static char *argv[] = { "sh", "-c", "exit 7", NULL };
	struct fr_error err;
	int64_t t0;
	pid_t pid;

	fr_error_clear(&err);
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		pid = -1;
	ok(pid > 0, "spawned a child outside exec_shell");
	t0 = fr_now_ns();
	while (pid > 0 && !(kill(pid, 0) < 0 && errno == ESRCH) && fr_now_ns() - t0 < 2 * SEC)
		fr_loop_run_once(loop, 50 * MS, &err);
	ok(kill(pid, 0) < 0 && errno == ESRCH, "the loop reaped an unwatched child");
	is_int(fr_loop_children(loop), 0, "no watched children");
	fr_loop_watch_child(loop, pid, on_child, &pid);
	is_int(fr_loop_children(loop), 1, "one watched child");
	ok(child_calls == 0, "not delivered from inside watch_child");
	t0 = fr_now_ns();
	fr_loop_run_once(loop, 5 * SEC, &err);
	ok(fr_now_ns() - t0 < 1 * SEC, "the next run_once does not wait");
	ok(child_calls == 1 && WIFEXITED(child_status) && WEXITSTATUS(child_status) == 7,
	    "the kept status is delivered");
	is_int(fr_loop_children(loop), 0, "no watched children left");
}

/* Run cmd (split: stdout apart); 1 when out (and stdout) are as wanted. */
static int
outputs(const char *cmd, int split, const char *dir, const char *out, const char *std)
{
	struct fr_shell_job job;
	struct fr_error err;
	int n, good;

	memset(&job, 0, sizeof(job));
	job.cmd = cmd;
	job.split_stdout = split;
	job.dir = dir;
	good = run_job(&job, &n, &err) == 0 && strcmp(fr_buf_str(&job.out), out) == 0 &&
	    (!std || strcmp(fr_buf_str(&job.out_stdout), std) == 0);
	if (!good)
		printf("# '%s': out '%s' stdout '%s'\n", cmd, fr_buf_str(&job.out),
		    fr_buf_str(&job.out_stdout));
	fr_shell_job_release(&job);
	return good;
}

/* The file actions are kept per pair of pipe descriptors: jobs whose pipes
 * get other numbers, split or not, in a dir or not, each get theirs. */
static void
test_reuse(void)
{
	char want[300], here[4096], herenl[4200];
	int held[40], i, good;

	snprintf(want, sizeof(want), "%s\n", tmpdir);
	snprintf(herenl, sizeof(herenl), "%s\n", getcwd(here, sizeof(here)) ? here : "?");
	ok(outputs("echo o; echo e >&2", 0, NULL, "o\ne\n", NULL), "plain job: both in out");
	ok(outputs("echo o; echo e >&2", 1, NULL, "e\n", "o\n"), "split job: stdout apart");
	ok(outputs("echo o; echo e >&2", 0, NULL, "o\ne\n", NULL), "plain job again");
	ok(outputs("pwd -P", 0, tmpdir, want, NULL), "a dir job after plain ones");
	ok(outputs("pwd -P", 0, NULL, herenl, NULL), "a plain job after it stays here");
	ok(outputs("echo o; echo e >&2", 1, tmpdir, "e\n", "o\n"), "split job in a dir");
	/* hold descriptors so each job's pipes get numbers of their own: more
	 * pairs than are kept, then the first ones again */
	for (i = 0, good = 1; i < 40; i++) {
		held[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		good &= held[i] >= 0 && outputs("echo o; echo e >&2", i % 2, NULL,
		    i % 2 ? "e\n" : "o\ne\n", i % 2 ? "o\n" : NULL);
	}
	ok(good, "40 jobs with other descriptors each");
	for (i = 39, good = 1; i >= 0; i--) {
		close(held[i]);
		good &= outputs("echo o; echo e >&2", i % 2, NULL, i % 2 ? "e\n" : "o\ne\n",
		    i % 2 ? "o\n" : NULL);
	}
	ok(good, "and as they are given back");
	fr_shell_cleanup();
	ok(outputs("echo o; echo e >&2", 1, NULL, "e\n", "o\n"), "a job after the cleanup");
}

int
main(void)
{
	struct fr_shell_job *tjob = fr_xcalloc(2, sizeof(*tjob));
	struct fr_error err;
	int fds0, fds1;

	fds0 = count_fds();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/t-shell.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	fr_error_clear(&err);
	loop = fr_loop_new(&err);
	ok(loop != NULL, "loop created");
	if (!loop)
		return 1;
	ok(fr_loop_new(&err) == NULL && fr_error_isset(&err), "only one loop at a time");

	test_simple();
	test_status();
	test_capture();
	test_env_dir();
	test_reuse();
	test_errors();
	test_parallel();
	test_large();
	test_timeout(&tjob[0], &tjob[1]);
	test_pgroup();
	test_timers();
	test_wake_signals();
	test_fds();
	test_early_child();
	test_term_ignored();	/* runs the loop past the grace */
	ok(tjob[0].killing == 1 && tjob[1].killing == 1 && tjob[0].timer == 0 && tjob[1].timer == 0,
	    "the SIGKILL timers of completed jobs were cancelled");
	free(tjob);

	fr_loop_free(loop);
	fr_shell_cleanup();
	rmdir(tmpdir);
	fds1 = count_fds();
	ok(fds0 > 0 && fds0 == fds1, "no fd leaked (%d before, %d after)", fds0, fds1);
	return done_testing();
}
