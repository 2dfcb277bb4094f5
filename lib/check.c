/* SPDX-License-Identifier: MIT */
/* check: typed reads of YAML values, each error at the value's file:line:col. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util.h"

const char *
fr_didyoumean(const char *s, const char *const *cand, size_t n)
{
	const char *best = NULL;
	size_t bestd = 3, i, d, max = strlen(s) <= 3 ? 1 : 2;

	for (i = 0; i < n; i++) {
		d = fr_editdist(s, cand[i], max);
		if (d <= max && d < bestd) {
			best = cand[i];
			bestd = d;
		}
	}
	return best;
}

int
fr_check_unknown_key(struct fr_error *err, const struct fr_node *key, const char *what,
    const char *const *allowed, size_t n)
{
	const char *hint = fr_didyoumean(key->str, allowed, n);

	if (hint)
		return fr_error_set(err, FR_EPIPELINE, &key->mark,
		    "unknown key '%s' in %s (did you mean '%s'?)", key->str, what, hint);
	return fr_error_set(err, FR_EPIPELINE, &key->mark, "unknown key '%s' in %s",
	    key->str, what);
}

int
fr_check_keys(struct fr_error *err, const struct fr_node *map, const char *what,
    const char *const *allowed, size_t n)
{
	size_t i, j;

	for (i = 0; i < map->nitem; i += 2) {
		const struct fr_node *k = map->item[i];
		for (j = 0; j < n; j++)
			if (strcmp(k->str, allowed[j]) == 0)
				break;
		if (j == n)
			return fr_check_unknown_key(err, k, what, allowed, n);
	}
	return 0;
}

int
fr_check_type(struct fr_error *err, const struct fr_node *v, const char *key, const char *want)
{
	return fr_error_set(err, FR_EPIPELINE, &v->mark, "'%s' must be %s, not %s", key,
	    want, fr_node_describe(v));
}

int
fr_check_isstr(const struct fr_node *v)
{
	return v->kind == FR_NODE_SCALAR && v->type == FR_SCALAR_STR;
}

int
fr_check_str(struct fr_error *err, const struct fr_node *v, const char *key, char **out)
{
	if (!fr_check_isstr(v))
		return fr_check_type(err, v, key, "a string");
	*out = fr_xstrndup(v->str, v->len);
	return 0;
}

int
fr_check_int(struct fr_error *err, const struct fr_node *v, const char *key, long long min,
    long long max, long long *out)
{
	char *end;
	long long n;

	if (v->kind != FR_NODE_SCALAR || v->type != FR_SCALAR_INT)
		return fr_check_type(err, v, key, "a whole number");
	n = strtoll(v->str, &end, 0);
	if (n < min || n > max)
		return fr_error_set(err, FR_EPIPELINE, &v->mark,
		    "'%s' must be between %lld and %lld, not %s", key, min, max, v->str);
	*out = n;
	return 0;
}

int
fr_check_bool(struct fr_error *err, const struct fr_node *v, const char *key, int *out)
{
	if (v->kind != FR_NODE_SCALAR || v->type != FR_SCALAR_BOOL)
		return fr_check_type(err, v, key, "true or false");
	*out = v->str[0] == 't' || v->str[0] == 'T';
	return 0;
}

/* A duration: seconds as a number, or a number with ms, s, m or h. */
int
fr_check_duration(struct fr_error *err, const struct fr_node *v, const char *key, int64_t *ns)
{
	char *end;
	double d, unit = 1e9;

	if (v->kind != FR_NODE_SCALAR || v->type == FR_SCALAR_NULL || v->type == FR_SCALAR_BOOL ||
	    v->len == 0 || !(isdigit((unsigned char)v->str[0]) || v->str[0] == '.'))
		goto bad;
	d = strtod(v->str, &end);
	if (strcmp(end, "ms") == 0)
		unit = 1e6;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		unit = 1e9;
	else if (strcmp(end, "m") == 0)
		unit = 60e9;
	else if (strcmp(end, "h") == 0)
		unit = 3600e9;
	else
		goto bad;
	if (!(d >= 0) || d * unit > 9e18)
		goto bad;
	*ns = (int64_t)(d * unit);
	return 0;
bad:
	return fr_error_set(err, FR_EPIPELINE, &v->mark,
	    "'%s' must be a duration such as 30, 250ms, 10s, 5m or 2h, not %s", key,
	    v->kind == FR_NODE_SCALAR ? v->str : fr_node_describe(v));
}
