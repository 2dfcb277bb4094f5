/* SPDX-License-Identifier: MIT */
/* error: the caller-supplied error record every fallible lib/ function fills.
 * The first error set wins; later ones are ignored, so callers can report the
 * root cause after unwinding. */
#ifndef FR_ERROR_H
#define FR_ERROR_H

/* A position in a source file; file is borrowed from whoever loaded it. */
struct fr_mark {
	const char *file;
	unsigned line, col;	/* 1-based; 0 = unknown */
};

/* What kind of failure, which cmd/ maps to an exit status. */
enum fr_errcode {
	FR_EOK = 0,
	FR_EPIPELINE,	/* the pipeline file is wrong (exit 2) */
	FR_EUSAGE,	/* the command line is wrong (exit 2) */
	FR_ESYS,	/* an operating-system call failed */
	FR_ESTATE,	/* the state directory is unusable */
};

struct fr_error {
	enum fr_errcode code;
	int errnum;		/* errno when the cause was a system call, else 0 */
	char file[512];		/* empty when there is no position */
	unsigned line, col;
	char text[1024];
};

/* Clear e so it can be reused. */
void fr_error_clear(struct fr_error *e);
/* Record an error at mark m (may be NULL) unless one is already recorded;
 * a format ending in ':' appends ' ' and strerror(errno). Returns -1. */
int fr_error_set(struct fr_error *e, enum fr_errcode code, const struct fr_mark *m,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Whether e holds an error. */
int fr_error_isset(const struct fr_error *e);
/* Format e as "FILE:LINE:COL: text" (or just text) into buf of size n. */
void fr_error_format(const struct fr_error *e, char *buf, unsigned long n);

#endif
