/* SPDX-License-Identifier: MIT */
/* fetchspec: the fetch: mapping of a task, checked key by key so that every
 * mistake is reported at its own line and column. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "fetchspec.h"
#include "util.h"

static const char *const fetchkeys[] = {
	"url", "sha256", "integrity", "headers", "timeout", "retries", "cacert",
	"connect_timeout", "low_speed_limit", "low_speed_time",
};

/* Request headers flowrun sets itself: a conditional request's, and Range
 * (a part of the body could never match a pin). */
static const char *const ownheaders[] = { "If-None-Match", "If-Modified-Since", "Range" };

int
fr_fetchspec_url_ok(const char *url)
{
	const char *p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return 0;
	if (*p == '\0' || *p == '/')
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

char *
fr_fetchspec_redact(const char *url)
{
	const char *host = strstr(url, "://"), *end, *at = NULL, *colon, *p;

	if (!host)
		return fr_xstrdup(url);
	host += 3;
	end = host + strcspn(host, "/?#");
	for (p = host; p < end; p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
	if (!colon)
		return fr_xstrdup(url);
	return fr_xasprintf("%.*s:***%s", (int)(colon - url), url, at);
}

int
fr_fetchspec_value_ok(const char *value)
{
	return strpbrk(value, "\r\n") == NULL;
}

/* RFC 9110 token characters, what a header name is made of. */
static int
istoken(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

static int
loadheaders(struct fr_fetchspec *f, const struct fr_node *v, struct fr_error *err)
{
	size_t i, j, cap = 0;

	if (v->kind != FR_NODE_MAP)
		return fr_check_type(err, v, "headers", "a map of header names to values");
	for (i = 0; i < v->nitem; i += 2) {
		const struct fr_node *k = v->item[i], *val = v->item[i + 1];
		struct fr_header h;
		if (!istoken(k->str))
			return fr_error_set(err, FR_EPIPELINE, &k->mark,
			    "'%s' is not a valid HTTP header name", k->str);
		for (j = 0; j < FR_NELEM(ownheaders); j++)
			if (strcasecmp(k->str, ownheaders[j]) == 0)
				return fr_error_set(err, FR_EPIPELINE, &k->mark,
				    "header '%s' is set by flowrun itself (conditional requests "
				    "and whole bodies only)", k->str);
		if (val->kind != FR_NODE_SCALAR || val->type == FR_SCALAR_NULL)
			return fr_check_type(err, val, k->str, "a string, number or boolean");
		if (!fr_fetchspec_value_ok(val->str))
			return fr_error_set(err, FR_EPIPELINE, &val->mark,
			    "header '%s' has a line break in its value", k->str);
		h.name = fr_xstrndup(k->str, k->len);
		h.mark = k->mark;
		if (!(h.value = fr_tmpl_parse(val, err))) {
			free(h.name);
			return -1;
		}
		FR_PUSH(f->header, f->nheader, cap, h);
	}
	return 0;
}

static int
loadpin(struct fr_fetchspec *f, const struct fr_node *map, struct fr_error *err)
{
	const struct fr_node *hex = fr_node_get(map, "sha256"), *sri = fr_node_get(map, "integrity");
	const char *why = NULL;

	if (hex && sri)
		return fr_error_set(err, FR_EPIPELINE, &(hex->mark.line > sri->mark.line ||
		    (hex->mark.line == sri->mark.line && hex->mark.col > sri->mark.col) ?
		    hex : sri)->mark, "give one pin: 'sha256' or 'integrity', not both");
	if (hex && (hex->kind != FR_NODE_SCALAR || fr_pin_parse_hex(hex->str, hex->len, &f->pin) < 0))
		return fr_error_set(err, FR_EPIPELINE, &hex->mark,
		    "'sha256' must be the 64 hex digits of the content's SHA-256, not %s",
		    hex->kind == FR_NODE_SCALAR ? hex->str : fr_node_describe(hex));
	if (sri) {
		if (!fr_check_isstr(sri))
			return fr_check_type(err, sri, "integrity", "a string such as sha256-BASE64");
		if (fr_pin_parse_sri(sri->str, sri->len, &f->pin, &why) < 0)
			return fr_error_set(err, FR_EPIPELINE, &sri->mark,
			    "'integrity' must be sha256-, sha384- or sha512- and the base64 of "
			    "the digest, as in Subresource Integrity: %s", why);
		f->pin_sri = 1;
	}
	return 0;
}

struct fr_fetchspec *
fr_fetchspec_load(const struct fr_node *v, struct fr_error *err)
{
	struct fr_fetchspec *f;
	const struct fr_node *x;
	long long n;

	if (v->kind != FR_NODE_MAP)
		return fr_check_type(err, v, "fetch", "a map with a url"), NULL;
	if (fr_check_keys(err, v, "fetch", fetchkeys, FR_NELEM(fetchkeys)) < 0)
		return NULL;
	f = fr_xcalloc(1, sizeof(*f));
	f->connect_timeout_ns = FR_FETCH_CONNECT_TIMEOUT_NS;
	f->low_speed_limit = FR_FETCH_LOW_SPEED_LIMIT;
	f->low_speed_time_ns = FR_FETCH_LOW_SPEED_TIME_NS;
	if (!(x = fr_node_get(v, "url"))) {
		fr_error_set(err, FR_EPIPELINE, &v->mark, "'fetch' needs a 'url'");
		goto fail;
	}
	if (!fr_check_isstr(x) || x->len == 0) {
		fr_check_type(err, x, "url", "an http:// or https:// URL");
		goto fail;
	}
	if (!(f->url = fr_tmpl_parse(x, err)))
		goto fail;
	if (!fr_tmpl_has_refs(f->url) && !fr_fetchspec_url_ok(x->str)) {
		fr_error_set(err, FR_EPIPELINE, &x->mark,
		    "'url' must be an http:// or https:// URL without blanks, not '%s'", x->str);
		goto fail;
	}
	if (loadpin(f, v, err) < 0)
		goto fail;
	if ((x = fr_node_get(v, "headers")) && loadheaders(f, x, err) < 0)
		goto fail;
	if ((x = fr_node_get(v, "cacert"))) {
		if (!fr_check_isstr(x) || x->len == 0) {
			fr_check_type(err, x, "cacert", "the path of a file of CA certificates");
			goto fail;
		}
		if (!(f->cacert = fr_tmpl_parse(x, err)))
			goto fail;
	}
	if ((x = fr_node_get(v, "timeout"))) {
		if (fr_check_duration(err, x, "timeout", &f->timeout_ns) < 0)
			goto fail;
		f->has_timeout = 1;
		f->timeout_mark = x->mark;
	}
	if ((x = fr_node_get(v, "retries"))) {
		if (fr_check_int(err, x, "retries", 0, 1000, &n) < 0)
			goto fail;
		f->retries = (int)n;
		f->has_retries = 1;
		f->retries_mark = x->mark;
	}
	if ((x = fr_node_get(v, "connect_timeout")) &&
	    fr_check_duration(err, x, "connect_timeout", &f->connect_timeout_ns) < 0)
		goto fail;
	if ((x = fr_node_get(v, "low_speed_limit"))) {
		if (fr_check_int(err, x, "low_speed_limit", 0, (1LL << 40), &n) < 0)
			goto fail;
		f->low_speed_limit = n;
	}
	if ((x = fr_node_get(v, "low_speed_time")) &&
	    fr_check_duration(err, x, "low_speed_time", &f->low_speed_time_ns) < 0)
		goto fail;
	return f;
fail:
	fr_fetchspec_free(f);
	return NULL;
}

void
fr_fetchspec_free(struct fr_fetchspec *f)
{
	size_t i;

	if (!f)
		return;
	fr_tmpl_free(f->url);
	for (i = 0; i < f->nheader; i++) {
		free(f->header[i].name);
		fr_tmpl_free(f->header[i].value);
	}
	free(f->header);
	fr_tmpl_free(f->cacert);
	free(f);
}
