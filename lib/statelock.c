/* SPDX-License-Identifier: MIT */
/* statelock: the exclusive flock(2) on DIR/lock that an open state holds,
 * with the holder's pid written into the file for whoever waits. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE		/* flock */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statelock.h"
#include "util.h"

int
fr_statelock(const char *dir, const char *shown_dir, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, int *fd, struct fr_error *err)
{
	char *path = fr_xasprintf("%s/lock", dir), buf[32];
	char *shown = fr_xasprintf("%s/lock", shown_dir);
	long holder = 0;
	ssize_t n;
	int ret = -1;

	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot create state directory %s:", shown_dir);
		goto cleanup;
	}
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot open lock %s:", shown);
		goto cleanup;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			fr_error_set(err, FR_ESTATE, NULL, "cannot lock %s:", shown);
			goto cleanup;
		}
		if ((n = pread(*fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			holder = strtol(buf, NULL, 10);
		}
		if (mode == FR_LOCK_FAIL) {
			snprintf(buf, sizeof(buf), " (pid %ld)", holder);
			fr_error_set(err, FR_ESTATE, NULL, "another flowrun%s is running "
			    "on this pipeline", holder > 0 ? buf : "");
			goto cleanup;
		}
		if (waiting)
			waiting(holder > 0 ? (pid_t)holder : 0, arg);
		/* EINTR fails: a handler installed without SA_RESTART means to
		 * interrupt the wait. */
		if (flock(*fd, LOCK_EX) < 0) {
			fr_error_set(err, FR_ESTATE, NULL, "cannot lock %s:", shown);
			goto cleanup;
		}
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) < 0 || pwrite(*fd, buf, (size_t)n, 0) != n) {
		/* the pid is only for the message of whoever waits */
	}
	ret = 0;
cleanup:
	free(path);
	free(shown);
	return ret;
}
