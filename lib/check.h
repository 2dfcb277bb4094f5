/* SPDX-License-Identifier: MIT */
/* check: typed reads of YAML values for the validators (the pipeline and its
 * fetch declarations): a string, a whole number in a range, a boolean, a
 * duration, a map's keys against the allowed ones with "did you mean". Each
 * failing read sets err (FR_EPIPELINE) at the value's position and returns -1;
 * err's first error wins, as everywhere. */
#ifndef FR_CHECK_H
#define FR_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "load.h"

/* The closest of the n candidates to s within a small edit distance, or NULL. */
const char *fr_didyoumean(const char *s, const char *const *cand, size_t n);
/* Reject key (not among the n allowed) of a map described as what ("a task"). -1. */
int fr_check_unknown_key(struct fr_error *err, const struct fr_node *key, const char *what,
    const char *const *allowed, size_t n);
/* Every key of map is one of the n allowed: 0, else -1 at the first other one. */
int fr_check_keys(struct fr_error *err, const struct fr_node *map, const char *what,
    const char *const *allowed, size_t n);
/* "'key' must be WANT, not <what v is>" at v. Returns -1. */
int fr_check_type(struct fr_error *err, const struct fr_node *v, const char *key,
    const char *want);
/* Whether v is a string scalar. */
int fr_check_isstr(const struct fr_node *v);
/* A string: a new copy in *out. */
int fr_check_str(struct fr_error *err, const struct fr_node *v, const char *key, char **out);
/* A whole number within [min, max]. */
int fr_check_int(struct fr_error *err, const struct fr_node *v, const char *key, long long min,
    long long max, long long *out);
/* true or false. */
int fr_check_bool(struct fr_error *err, const struct fr_node *v, const char *key, int *out);
/* A duration: seconds as a number, or a number with ms, s, m or h; in ns. */
int fr_check_duration(struct fr_error *err, const struct fr_node *v, const char *key,
    int64_t *ns);

#endif
