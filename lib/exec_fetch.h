/* SPDX-License-Identifier: MIT */
/* exec_fetch: fetch tasks. HTTP and HTTPS downloads through one libcurl multi
 * handle whose sockets and timers are watched by the run's event loop (the
 * multi socket API), so downloads go on beside processes and calls with no
 * thread of their own; connections to a host are reused, at most
 * host_connections at a time.
 *
 * A body goes to a spool: a temporary file beside the output, hashed as it
 * arrives (see spool.h), put in place (renamed over the output, or linked at
 * a new one) only when the transfer is complete, the status is 2xx and the
 * pin (if any) matches; on any failure the temporary file is removed, so the
 * output path holds either the previous file or the new one, never a part.
 * The file is not fsync'd: see flowrun-pipeline(5). */
#ifndef FR_EXEC_FETCH_H
#define FR_EXEC_FETCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "loop.h"
#include "spool.h"

/* Redirects followed before giving up. */
#define FR_FETCH_MAX_REDIRECTS 10

enum fr_fetch_outcome {
	FR_FETCH_OK,		/* the output holds the body */
	FR_FETCH_UNCHANGED,	/* 304 Not Modified: the output was left alone */
	FR_FETCH_FAILED,	/* failed for good (4xx, TLS, pin mismatch...) */
	FR_FETCH_TRANSIENT,	/* failed in a way a later try may not (5xx, reset...) */
};

struct fr_fetcher;

struct fr_fetch {
	/* set by the caller; borrowed until done() */
	const char *url;
	char *const *header;		/* "Name: value" lines */
	size_t nheader;
	const char *output;		/* the path the body is renamed to */
	const char *cacert;		/* NULL: the system's CA certificates */
	const struct fr_pin *pin;	/* NULL or FR_PIN_NONE: not pinned */
	int pin_sri;			/* show the pin as ALGO-BASE64 rather than hex */
	const char *etag;		/* a conditional request: If-None-Match, or NULL */
	const char *last_modified;	/* a conditional request: If-Modified-Since, or NULL */
	const struct fr_digest *current;	/* the output's content when known: an
					 * identical body leaves the file untouched */
	char *const *envp;		/* proxies come from its http_proxy, https_proxy,
					 * all_proxy, no_proxy; NULL: flowrun's environment */
	int64_t timeout_ns;		/* the whole transfer; 0: none */
	int64_t connect_timeout_ns;	/* 0: libcurl's */
	long long low_speed_limit;	/* bytes/s; 0: none */
	int64_t low_speed_time_ns;
	void (*done)(struct fr_fetch *f, void *arg);	/* once, from the loop */
	void *arg;

	/* filled by exec_fetch; valid in done() */
	enum fr_fetch_outcome outcome;
	char error[1024];		/* why it failed: "URL: what happened" */
	json_t *result;			/* FR_FETCH_OK: {url, status, bytes, sha256, etag,
					 * last_modified, seconds}, a new reference */
	struct fr_digest sha256;	/* FR_FETCH_OK: of the output's content */
	struct fr_stat st;		/* FR_FETCH_OK: the output's stat data */
	int64_t retry_after_ns;		/* the server's Retry-After, 0 when none */
	int64_t start_ns, end_ns;

	/* private */
	struct fr_fetcher *fetcher;
	void *easy, *slist;
	struct fr_spool *spool;		/* the body, from its first byte */
	int inmulti, spoolfailed, killed;
	long status;
	uint64_t bytes;
	char *etag_got, *lm_got;
	uint64_t timer;
	char errbuf[256];
};

/* A fetcher on loop with at most host_connections connections to one host
 * (0: FR_FETCH_HOST_CONNECTIONS). Never NULL. The first one loads libcurl
 * (see curlapi.h); when it cannot be loaded, fr_fetch_start fails saying why. */
struct fr_fetcher *fr_fetcher_new(struct fr_loop *loop, unsigned host_connections);
/* Free the fetcher; every fetch must have completed. NULL is a no-op. */
void fr_fetcher_free(struct fr_fetcher *fr);
/* Start f. done() is called from the loop when it has ended. Returns 0, or -1
 * with err set when it cannot start (libcurl could not be loaded, or refused
 * an option). */
int fr_fetch_start(struct fr_fetcher *fr, struct fr_fetch *f, struct fr_error *err);
/* Stop a running fetch: its temporary file is removed and done() follows from
 * the loop with FR_FETCH_FAILED. No-op once it has ended. */
void fr_fetch_kill(struct fr_fetch *f);
/* Release the result (done() may keep it by taking the reference). */
void fr_fetch_release(struct fr_fetch *f);

/* The per-host connection limit when none is given. */
#define FR_FETCH_HOST_CONNECTIONS 6
/* Idle connections kept for reuse, over all hosts. */
#define FR_FETCH_IDLE_CONNECTIONS 64

#endif
