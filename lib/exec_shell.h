/* SPDX-License-Identifier: MIT */
/* exec_shell: run a command with posix_spawn in a process group of its own,
 * capture its output through pipes watched by the loop, enforce a timeout on
 * the whole group, and report the exit through a callback from the loop. */
#ifndef FR_EXEC_SHELL_H
#define FR_EXEC_SHELL_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "buf.h"
#include "error.h"
#include "loop.h"

/* Grace between SIGTERM and SIGKILL when a timeout or fr_shell_kill stops a job. */
#define FR_SHELL_GRACE_NS (2 * 1000000000LL)

struct fr_shell_job {
	/* set by the caller */
	const char *cmd;		/* command text */
	const char *shell;		/* NULL: "/bin/sh -c", or exec'd directly when
					 * cmd has no shell syntax; else e.g. "bash -eu -c"
					 * (split on blanks, cmd appended as the last argument) */
	char *const *envp;		/* the whole environment of the command */
	const char *dir;		/* working directory, or NULL for the current one */
	int split_stdout;		/* 1: stdout goes to out_stdout, stderr to out;
					 * 0: both go, interleaved, to out */
	int64_t timeout_ns;		/* 0 = none */
	void (*done)(struct fr_shell_job *job, void *arg);	/* called once, from the loop */
	void *arg;

	/* filled by exec_shell; valid in done() */
	pid_t pid;			/* also the process group id */
	int status;			/* wait status (WIFEXITED...) */
	int timed_out;			/* the timeout stopped it */
	struct fr_buf out;		/* captured output (stderr only when split_stdout) */
	struct fr_buf out_stdout;	/* captured stdout when split_stdout */
	struct rusage ru;
	int64_t start_ns, end_ns;	/* fr_now_ns() at spawn and at completion */

	/* private */
	struct fr_loop *loop;
	int fd_out, fd_stdout;
	int exited;
	uint64_t timer;
	int killing;
};

/* Start job on loop. done() is called from the loop once the process has
 * exited and its pipes are closed. Returns 0, or -1 with err set when it could
 * not be started (the command was not found, the directory is missing...). */
int fr_shell_start(struct fr_loop *loop, struct fr_shell_job *job, struct fr_error *err);
/* Send sig to the job's process group; unless sig is SIGKILL, a SIGKILL
 * follows after FR_SHELL_GRACE_NS if the job has not completed, and whatever
 * is left of the group is SIGKILLed when it completes. No-op once complete. */
void fr_shell_kill(struct fr_shell_job *job, int sig);
/* Free what fr_shell_start keeps from job to job (the spawn attributes and
 * file actions); the next fr_shell_start makes them again. */
void fr_shell_cleanup(void);
/* Release the captured output buffers. */
void fr_shell_job_release(struct fr_shell_job *job);
/* Whether cmd can be exec'd directly: no shell syntax at all, only words. */
int fr_shell_is_simple(const char *cmd);

#endif
