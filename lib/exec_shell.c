/* SPDX-License-Identifier: MIT */
/* exec_shell: run a command with posix_spawn in a process group of its own,
 * capture its output through pipes watched by the loop, enforce timeouts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_shell.h"
#include "util.h"

extern char **environ;

/* Words that name shell builtins or reserved words, which cannot be exec'd. */
static const char *const builtins[] = {
	".", ":", "alias", "bg", "break", "case", "cd", "command", "continue",
	"declare", "do", "done", "elif", "else", "esac", "eval", "exec", "exit",
	"export", "fc", "fg", "fi", "for", "function", "getopts", "hash", "if",
	"in", "jobs", "kill", "let", "local", "read", "readonly", "return", "select",
	"set", "shift", "source", "then", "times", "trap", "type", "typeset",
	"ulimit", "umask", "unalias", "unset", "until", "wait", "while",
};

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_plain(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    is_blank(c) || (c && strchr("_-./,:=+@%", c));
}

int
fr_shell_is_simple(const char *cmd)
{
	const char *p;
	size_t n, i;

	for (p = cmd; *p; p++)
		if (!is_plain((unsigned char)*p))
			return 0;
	while (is_blank(*cmd))
		cmd++;
	if (!*cmd)
		return 0;
	n = strcspn(cmd, " \t");
	if (memchr(cmd, '=', n))
		return 0;
	for (i = 0; i < FR_NELEM(builtins); i++)
		if (strlen(builtins[i]) == n && memcmp(builtins[i], cmd, n) == 0)
			return 0;
	return 1;
}

/* Split s on blanks into a NULL-terminated argv, extra (if any) appended;
 * the words live in *store. */
static char **
split(const char *s, const char *extra, char **store, size_t *nwords)
{
	char *p = *store = fr_xstrdup(s);
	char **argv = NULL;
	size_t n = 0, cap = 0;

	for (;;) {
		while (is_blank(*p))
			*p++ = '\0';
		if (!*p)
			break;
		FR_PUSH(argv, n, cap, p);
		while (*p && !is_blank(*p))
			p++;
	}
	*nwords = n;
	if (extra)
		FR_PUSH(argv, n, cap, (char *)extra);
	FR_PUSH(argv, n, cap, NULL);
	return argv;
}

static const char *
env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* posix_spawnp searches the caller's PATH: exec directly only when the
 * command's PATH is the same, so both ways find the same program. */
static int
same_path(char *const *envp)
{
	const char *a = env_get(envp, "PATH"), *b = getenv("PATH");

	return a && b ? strcmp(a, b) == 0 : a == b;
}

static int
check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return access(dir, X_OK);
}

static int
is_complete(const struct fr_shell_job *job)
{
	return job->exited && job->fd_out < 0 && job->fd_stdout < 0;
}

static void
finish(struct fr_shell_job *job)
{
	if (!is_complete(job))
		return;
	job->end_ns = fr_now_ns();
	fr_loop_cancel_timer(job->loop, job->timer);
	job->timer = 0;
	/* A job that was told to stop leaves nothing behind: members of its
	 * group that ignored the signal or never held a pipe die with it. */
	if (job->killing)
		kill(-job->pid, SIGKILL);
	if (job->done)
		job->done(job, job->arg);
}

static void
close_pipe(struct fr_shell_job *job, int fd)
{
	fr_loop_unwatch_fd(job->loop, fd);
	close(fd);
	if (fd == job->fd_out)
		job->fd_out = -1;
	else
		job->fd_stdout = -1;
}

/* Read what is there; returns 1 at end of file or on an error, 0 otherwise.
 * The pipes block: once poll says one is readable, one read cannot wait
 * (there are bytes, or no writer is left), and one read a wake is what
 * slurp does (a pipe that still holds bytes wakes poll again). all: the
 * pipe was made non-blocking, read until it is empty (at most 1 MiB). */
static int
slurp(struct fr_shell_job *job, int fd, int all)
{
	struct fr_buf *b = fd == job->fd_stdout ? &job->out_stdout : &job->out;
	char chunk[65536];
	ssize_t n;
	int i;

	for (i = 0; i < 16; i++) {
		n = read(fd, chunk, sizeof(chunk));
		if (n > 0)
			fr_buf_add(b, chunk, (size_t)n);
		else if (!(n < 0 && errno == EINTR))
			return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		if (!all)
			return 0;
	}
	return 0;
}

/* A pipe poll says is hung up and not readable is empty with no writer
 * left: at its end, without a read to say so. */
static void
on_read(void *arg, int fd, short revents)
{
	struct fr_shell_job *job = arg;

	if ((revents & (POLLIN | POLLHUP)) != POLLHUP && !slurp(job, fd, 0))
		return;
	close_pipe(job, fd);
	finish(job);
}

/* Take what a pipe holds now, without waiting for more, and close it. */
static void
abandon(struct fr_shell_job *job, int fd)
{
	if (fcntl(fd, F_SETFL, O_RDONLY | O_NONBLOCK) == 0)
		slurp(job, fd, 1);
	close_pipe(job, fd);
}

static void
on_child(void *arg, pid_t pid, int status, const struct rusage *ru)
{
	struct fr_shell_job *job = arg;

	(void)pid;
	job->status = status;
	job->ru = *ru;
	job->exited = 1;
	finish(job);
}

/* The grace after SIGTERM is over: SIGKILL the group. If the pipes are still
 * open after another grace, they are held by processes that left the group:
 * take what they hold and abandon them. */
static void
on_kill_timer(void *arg)
{
	struct fr_shell_job *job = arg;

	job->timer = 0;
	if (job->killing == 1) {
		job->killing = 2;
		kill(-job->pid, SIGKILL);
		job->timer = fr_loop_timer(job->loop, fr_now_ns() + FR_SHELL_GRACE_NS,
		    on_kill_timer, job);
		return;
	}
	if (job->fd_stdout >= 0)
		abandon(job, job->fd_stdout);
	if (job->fd_out >= 0)
		abandon(job, job->fd_out);
	finish(job);
}

static void
on_timeout(void *arg)
{
	struct fr_shell_job *job = arg;

	job->timer = 0;
	job->timed_out = 1;
	fr_shell_kill(job, SIGTERM);
}

void
fr_shell_kill(struct fr_shell_job *job, int sig)
{
	/* The group outlives its leader while others in it hold the pipes;
	 * the pgid cannot be reused while any member is alive. */
	if (job->pid <= 0 || is_complete(job))
		return;
	kill(-job->pid, sig);
	if (sig == SIGKILL)
		return;
	kill(-job->pid, SIGCONT);
	if (job->killing)
		return;
	job->killing = 1;
	fr_loop_cancel_timer(job->loop, job->timer);
	job->timer = fr_loop_timer(job->loop, fr_now_ns() + FR_SHELL_GRACE_NS, on_kill_timer, job);
}

/* Move fd above the standard descriptors, so the dup2 actions cannot clobber it. */
static int
high_fd(int *fd)
{
	int nfd;

	if (*fd > 2)
		return 0;
	if ((nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

/* A pipe for the child's output. Both ends block: the child's stdout and
 * stderr must, and the loop reads its end once per wake (see slurp). */
static int
make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0 || high_fd(&p[0]) < 0 || high_fd(&p[1]) < 0)
		return -1;
	return 0;
}

/* The file actions: stdin from /dev/null, stdout to std (or out), stderr to
 * out, then into dir if any. */
static int
setup_actions(posix_spawn_file_actions_t *fa, int out, int std, const char *dir)
{
	int rc;

	if ((rc = posix_spawn_file_actions_init(fa)))
		return rc;
	if ((rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0)) ||
	    (rc = posix_spawn_file_actions_adddup2(fa, std >= 0 ? std : out, 1)) ||
	    (rc = posix_spawn_file_actions_adddup2(fa, out, 2)) ||
	    (dir && (rc = posix_spawn_file_actions_addchdir_np(fa, dir))))
		posix_spawn_file_actions_destroy(fa);
	return rc;
}

/*
 * Building the file actions costs a getrlimit per descriptor named (glibc
 * checks each against RLIMIT_NOFILE): five per job. Those of a job without a
 * dir depend only on the two descriptor numbers, and the kernel hands out the
 * lowest free ones, so the same few pairs come back job after job: keep the
 * actions of the last NACTIONS pairs. The spawn attributes are the same for
 * every job: made once. fr_shell_start runs on one thread (the loop's);
 * fr_shell_cleanup frees the cache.
 */
#define NACTIONS 16

static struct actions {
	int valid;
	int out, std;
	posix_spawn_file_actions_t fa;
} cache[NACTIONS];
static size_t nextslot;		/* the entry to replace next */
static posix_spawnattr_t attr;
static int have_attr;

static int
setup_attr(void)
{
	static const int dflt[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE };
	sigset_t set;
	size_t i;
	int rc;

	if (have_attr)
		return 0;
	if ((rc = posix_spawnattr_init(&attr)))
		return rc;
	sigemptyset(&set);
	if ((rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) ||
	    (rc = posix_spawnattr_setpgroup(&attr, 0)) ||
	    (rc = posix_spawnattr_setsigmask(&attr, &set)))
		goto fail;
	for (i = 0; i < FR_NELEM(dflt); i++)
		sigaddset(&set, dflt[i]);
	if ((rc = posix_spawnattr_setsigdefault(&attr, &set)))
		goto fail;
	have_attr = 1;
	return 0;
fail:
	posix_spawnattr_destroy(&attr);
	return rc;
}

/* The cached file actions for (out, std), made if need be: 0, or an errno. */
static int
cached_actions(int out, int std, posix_spawn_file_actions_t **fap)
{
	struct actions *a = NULL;
	size_t i;
	int rc;

	for (i = 0; i < NACTIONS; i++) {
		if (cache[i].valid && cache[i].out == out && cache[i].std == std) {
			*fap = &cache[i].fa;
			return 0;
		}
		if (!a && !cache[i].valid)
			a = &cache[i];
	}
	if (!a) {
		a = &cache[nextslot];
		nextslot = (nextslot + 1) % NACTIONS;
		posix_spawn_file_actions_destroy(&a->fa);
		a->valid = 0;
	}
	if ((rc = setup_actions(&a->fa, out, std, NULL)))
		return rc;
	a->valid = 1;
	a->out = out;
	a->std = std;
	*fap = &a->fa;
	return 0;
}

void
fr_shell_cleanup(void)
{
	size_t i;

	for (i = 0; i < NACTIONS; i++) {
		if (cache[i].valid)
			posix_spawn_file_actions_destroy(&cache[i].fa);
		cache[i].valid = 0;
	}
	nextslot = 0;
	if (have_attr)
		posix_spawnattr_destroy(&attr);
	have_attr = 0;
}

int
fr_shell_start(struct fr_loop *loop, struct fr_shell_job *job, struct fr_error *err)
{
	static const char *const sh[] = { "/bin/sh", "-c" };
	int pout[2] = { -1, -1 }, pstd[2] = { -1, -1 };
	char *const *envp = job->envp ? job->envp : environ;
	posix_spawn_file_actions_t own, *fa = NULL;
	int rc, ret = -1;
	char **argv = NULL, *store = NULL;
	size_t nwords = 0;

	job->loop = loop;
	job->pid = -1;
	job->status = job->timed_out = job->exited = job->killing = 0;
	job->fd_out = job->fd_stdout = -1;
	job->timer = 0;
	job->start_ns = job->end_ns = 0;
	memset(&job->ru, 0, sizeof(job->ru));
	fr_buf_reset(&job->out);
	fr_buf_reset(&job->out_stdout);

	if (job->dir && check_dir(job->dir) < 0)
		return fr_error_set(err, FR_ESYS, NULL, "cannot enter directory %s:", job->dir);
	if (job->shell) {
		argv = split(job->shell, job->cmd, &store, &nwords);
		if (!nwords) {
			fr_error_set(err, FR_EPIPELINE, NULL, "the shell '%s' is empty", job->shell);
			goto out;
		}
	} else if (fr_shell_is_simple(job->cmd) && same_path(envp)) {
		argv = split(job->cmd, NULL, &store, &nwords);
	} else {
		argv = fr_xcalloc(4, sizeof(*argv));
		argv[0] = (char *)sh[0];
		argv[1] = (char *)sh[1];
		argv[2] = (char *)job->cmd;
	}

	if (make_pipe(pout) < 0 || (job->split_stdout && make_pipe(pstd) < 0)) {
		fr_error_set(err, FR_ESYS, NULL, "cannot create a pipe:");
		goto out;
	}
	if (!(rc = setup_attr())) {
		if (!job->dir)
			rc = cached_actions(pout[1], pstd[1], &fa);
		else if (!(rc = setup_actions(&own, pout[1], pstd[1], job->dir)))
			fa = &own;
	}
	if (rc) {
		errno = rc;
		fr_error_set(err, FR_ESYS, NULL, "cannot prepare to run '%s':", argv[0]);
		goto out;
	}
	job->start_ns = fr_now_ns();
	rc = posix_spawnp(&job->pid, argv[0], fa, &attr, argv, envp);
	if (rc) {
		job->pid = -1;
		errno = rc;
		fr_error_set(err, FR_ESYS, NULL, "cannot run '%s':", argv[0]);
		goto out;
	}

	job->fd_out = pout[0];
	job->fd_stdout = pstd[0];
	pout[0] = pstd[0] = -1;
	fr_loop_watch_fd(loop, job->fd_out, POLLIN, on_read, job);
	if (job->fd_stdout >= 0)
		fr_loop_watch_fd(loop, job->fd_stdout, POLLIN, on_read, job);
	fr_loop_watch_child(loop, job->pid, on_child, job);
	if (job->timeout_ns > 0)
		job->timer = fr_loop_timer(loop, job->start_ns + job->timeout_ns, on_timeout, job);
	ret = 0;

out:
	if (fa == &own)
		posix_spawn_file_actions_destroy(&own);
	for (rc = 0; rc < 2; rc++) {
		if (pout[rc] >= 0)
			close(pout[rc]);
		if (pstd[rc] >= 0)
			close(pstd[rc]);
	}
	free(argv);
	free(store);
	return ret;
}

void
fr_shell_job_release(struct fr_shell_job *job)
{
	fr_buf_free(&job->out);
	fr_buf_free(&job->out_stdout);
}
