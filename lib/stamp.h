/* SPDX-License-Identifier: MIT */
/* stamp: what a run that left every needed task up to date decided from,
 * written to .flowrun/uptodate, so that the same invocation with none of it
 * changed can say "nothing to do" without loading the pipeline or the state
 * (the no-op rerun, made as cheap as statting the files). */
#ifndef FR_STAMP_H
#define FR_STAMP_H

#include <stddef.h>

#include "digest.h"
#include "error.h"

/* What a run's decisions read besides files, recorded as they are read: the
 * environment variables ${{ env.NAME }} fell through to, and each glob pattern
 * with what it matched. Single-threaded (the loop's). */
struct fr_seen {
	struct fr_htab *envat, *globat;	/* name, pattern (the copies below) -> 1 + slot */
	char **envname, **envval;	/* envval NULL: unset */
	size_t nenv, envcap;
	char **glob;
	struct fr_digest *globd;	/* of the matches, in order */
	size_t nglob, globcap;
	int unstable;			/* one pattern matched different things in one run */
};

/* A new, empty recorder; never NULL. */
struct fr_seen *fr_seen_new(void);
/* Free s; NULL is a no-op. */
void fr_seen_free(struct fr_seen *s);
/* The variable name had value (NULL: unset) in flowrun's environment. */
void fr_seen_env(struct fr_seen *s, const char *name, const char *value);
/* glob(3) of pattern (flags 0) matched the n paths in match, in its order. */
void fr_seen_glob(struct fr_seen *s, const char *pattern, char *const *match, size_t n);

/* A stamp being made. */
struct fr_stamp;

/* A new stamp for the invocation digest inv (fr_stamp_invocation), to be
 * written as DIR/uptodate; never NULL. Once they are many, its file records
 * go to DIR/uptodate.tmp as they come, and its task records and strings each
 * to a file in DIR with no name (so a big stamp is never whole in memory; a
 * small one makes no file before fr_stamp_write): fr_stamp_free without a
 * successful fr_stamp_write removes DIR/uptodate.tmp, and the others never
 * outlive the stamp. */
struct fr_stamp *fr_stamp_new(const struct fr_digest *inv, const char *dir);
/* Free s; NULL is a no-op. */
void fr_stamp_free(struct fr_stamp *s);
/* A file the decisions read, with its stat data and content digest as they
 * read it (st NULL: it did not exist). path is copied. */
void fr_stamp_file(struct fr_stamp *s, const char *path, const struct fr_stat *st,
    const struct fr_digest *d);
/* A needed task instance, in declaration order; group: it has no action. */
void fr_stamp_task(struct fr_stamp *s, const char *name, int group);
/* Write s as DIR/uptodate (temporary file, then rename) with what seen read,
 * the stat data of the pipeline file and of the state file as the run left it
 * (size -1: no such file). 0, or -1 with err set (a failure to write records
 * spilled earlier included). */
int fr_stamp_write(struct fr_stamp *s, const struct fr_seen *seen,
    const struct fr_stat *pipeline, const struct fr_stat *state, struct fr_error *err);
/* Remove DIR/uptodate, if there is one. */
void fr_stamp_remove(const char *dir);

/* The digest of an invocation: flowrun's version and binary, the pipeline
 * file's name, the targets and the -D definitions ("NAME=VALUE"), in order. */
void fr_stamp_invocation(const char *pipeline, char *const *targets, size_t ntargets,
    char *const *defs, size_t ndefs, struct fr_digest *inv);

/* A stamp read back: the needed task instances it lists. */
struct fr_stamp_view {
	void *data;			/* the file */
	size_t ntask;
	const char **name;		/* into data */
	unsigned char *group;
};

/* Whether nothing the stamp in DIR records has changed, paths being relative
 * to the current directory: the invocation is inv, the pipeline file and the
 * state file (statepath) have the recorded stat data, the files have the
 * recorded stat data or content (checked by up to threads threads), the
 * environment variables have the recorded values and the globs match what
 * they matched. Files with new stat data over the same content are written
 * back into the stamp when rewrite is set. 1 with *v filled (free it with
 * fr_stamp_view_free), or 0 when anything differs or there is no usable
 * stamp, with *why saying what (a static string). */
int fr_stamp_check(const char *dir, const struct fr_digest *inv, const char *pipeline,
    const char *statepath, unsigned threads, int rewrite, struct fr_stamp_view *v,
    const char **why);
/* Release what v holds. */
void fr_stamp_view_free(struct fr_stamp_view *v);

#endif
