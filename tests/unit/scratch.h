/* SPDX-License-Identifier: MIT */
/* scratch: a unit test's own temporary directory to work in, and files
 * written into it, for the tests of lib/ that load pipelines from disk. */
#ifndef FR_SCRATCH_H
#define FR_SCRATCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write text to path, or bail out of the whole test. */
static inline void
writefile(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* Make a directory named after the test under $TMPDIR (or /tmp) and go into
 * it; its path in dir (size bytes), or bail out. */
static inline void
scratch_enter(const char *test, char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, size, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", test);
	if (!mkdtemp(dir) || chdir(dir) < 0) {
		printf("Bail out! cannot make a temporary directory: %s\n", strerror(errno));
		exit(1);
	}
}

/* Leave dir and remove it with all it holds. */
static inline void
scratch_leave(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (chdir("/") < 0 || system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

#endif
