/* SPDX-License-Identifier: MIT */
/* fetchspec: a fetch task's declaration, read and validated from its fetch:
 * mapping: the URL and request headers (templates), the content pin, the CA
 * file, the connect timeout and low-speed limit, and the timeout and retries
 * when they are given inside fetch:. The download itself is exec_fetch's. */
#ifndef FR_FETCHSPEC_H
#define FR_FETCHSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "load.h"
#include "template.h"

/* Defaults (documented in flowrun-pipeline(5)). */
#define FR_FETCH_CONNECT_TIMEOUT_NS (30 * 1000000000LL)
#define FR_FETCH_LOW_SPEED_LIMIT 1000			/* bytes per second */
#define FR_FETCH_LOW_SPEED_TIME_NS (60 * 1000000000LL)

struct fr_header {
	char *name;
	struct fr_tmpl *value;
	struct fr_mark mark;		/* of the name */
};

struct fr_fetchspec {
	struct fr_tmpl *url;
	struct fr_pin pin;		/* algo FR_PIN_NONE: not pinned */
	int pin_sri;			/* given as integrity: (and so shown that way) */
	struct fr_header *header;
	size_t nheader;
	struct fr_tmpl *cacert;		/* NULL: the system's CA certificates */
	int64_t connect_timeout_ns;
	long long low_speed_limit;	/* bytes per second; 0: no limit */
	int64_t low_speed_time_ns;
	/* timeout: and retries: given inside fetch: (has_* 0: not given there) */
	int has_timeout, has_retries;
	int64_t timeout_ns;
	int retries;
	struct fr_mark timeout_mark, retries_mark;
};

/* Read the fetch: value v. NULL with err set (FR_EPIPELINE, at the offending
 * key or value) when it is not a map, lacks url, has an unknown key, a URL
 * that is not http(s), a malformed pin, both sha256 and integrity, a bad
 * header name or a header flowrun sets itself. Caller frees. */
struct fr_fetchspec *fr_fetchspec_load(const struct fr_node *v, struct fr_error *err);
/* Free f; NULL is a no-op. */
void fr_fetchspec_free(struct fr_fetchspec *f);
/* Whether url (after templating) is one flowrun may fetch: http:// or
 * https://, then a host, and no blank or control character. */
int fr_fetchspec_url_ok(const char *url);
/* url with the password of its userinfo replaced by ***, for messages,
 * results and the shown command. New string. */
char *fr_fetchspec_redact(const char *url);
/* Whether a header value (after templating) is allowed: no CR, LF or NUL. */
int fr_fetchspec_value_ok(const char *value);

#endif
