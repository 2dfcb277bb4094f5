/* SPDX-License-Identifier: MIT */
/* exec_fetch: downloads through the libcurl multi socket API, driven by the
 * run's poll loop: curl says which sockets to watch and when to wake it, the
 * loop calls curl_multi_socket_action when they are ready. libcurl is reached
 * through curlapi, which loads it when the first fetcher is made. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "curlapi.h"
#include "exec_fetch.h"
#include "fetchspec.h"
#include "util.h"

/* libcurl's receive buffer: fewer, larger reads of a large body. */
#define RECVBUF (512 * 1024)
/* Easy handles kept for the next transfers: making one and freeing it cost
 * more than the reset that readies it again. */
#define SPARE 16

struct fr_fetcher {
	struct fr_loop *loop;
	CURLM *multi;
	uint64_t timer;
	struct fr_spooler *spooler;
	CURL *spare[SPARE];
	size_t nspare;
};

/* libcurl's functions, set by the first fr_fetcher_new that could load them;
 * nothing here calls them before a fetcher has a multi handle. */
static const struct fr_curlapi *curl;

/* --- the loop drives curl ------------------------------------------------- */

static void reap(struct fr_fetcher *fr);


static void ready(void *arg);

static void
onready(void *arg, int fd, short revents)
{
	struct fr_fetcher *fr = arg;
	int flags = 0, running;

	if (revents & (POLLIN | POLLHUP))
		flags |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLNVAL))
		flags |= CURL_CSELECT_ERR;
	curl->multi_socket_action(fr->multi, fd, flags, &running);
	reap(fr);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl wants, or stop. */
static int
onsocket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct fr_fetcher *fr = userp;
	short ev = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		fr_loop_unwatch_fd(fr->loop, s);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= POLLIN;
	if (what & CURL_POLL_OUT)
		ev |= POLLOUT;
	fr_loop_watch_fd(fr->loop, s, ev, onready, fr);
	return 0;
}

static void
ontimeout(void *arg)
{
	struct fr_fetcher *fr = arg;
	int running;

	fr->timer = 0;
	curl->multi_socket_action(fr->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	reap(fr);
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle. */
static int
ontimer(CURLM *multi, long timeout_ms, void *userp)
{
	struct fr_fetcher *fr = userp;

	(void)multi;
	fr_loop_cancel_timer(fr->loop, fr->timer);
	fr->timer = 0;
	if (timeout_ms >= 0)
		fr->timer = fr_loop_timer(fr->loop, fr_now_ns() + (int64_t)timeout_ms * 1000000,
		    ontimeout, fr);
	return 0;
}

struct fr_fetcher *
fr_fetcher_new(struct fr_loop *loop, unsigned host_connections)
{
	struct fr_fetcher *fr = fr_xcalloc(1, sizeof(*fr));
	struct fr_error err = {0};

	fr->loop = loop;
	fr->spooler = fr_spooler_new(loop);
	if (!(curl = fr_curlapi_load(&err)))
		return fr;	/* no multi handle: fr_fetch_start says why */
	if (!(fr->multi = curl->multi_init()))
		abort();	/* libcurl fails here only when it cannot allocate */
	curl->multi_setopt(fr->multi, CURLMOPT_SOCKETFUNCTION, onsocket);
	curl->multi_setopt(fr->multi, CURLMOPT_SOCKETDATA, fr);
	curl->multi_setopt(fr->multi, CURLMOPT_TIMERFUNCTION, ontimer);
	curl->multi_setopt(fr->multi, CURLMOPT_TIMERDATA, fr);
	curl->multi_setopt(fr->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)(host_connections ? host_connections : FR_FETCH_HOST_CONNECTIONS));
	/* libcurl keeps by default four idle connections per easy handle in the
	 * multi; between two tasks there may be one or none, and it would close
	 * the connections the next tasks are about to reuse */
	curl->multi_setopt(fr->multi, CURLMOPT_MAXCONNECTS, (long)FR_FETCH_IDLE_CONNECTIONS);
	return fr;
}

void
fr_fetcher_free(struct fr_fetcher *fr)
{
	if (!fr)
		return;
	fr_loop_cancel_timer(fr->loop, fr->timer);
	while (fr->nspare > 0)
		curl->easy_cleanup(fr->spare[--fr->nspare]);
	if (fr->multi)
		curl->multi_cleanup(fr->multi);
	fr_spooler_free(fr->spooler);
	free(fr);
}

/* --- one transfer ------------------------------------------------------- */

static int
status2xx(CURL *easy)
{
	long code = 0;

	curl->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	return code >= 200 && code < 300;
}

/* CURLOPT_WRITEFUNCTION: the body goes to the spool (not that of an error
 * status). Returning less than n aborts the transfer. */
static size_t
onwrite(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fr_fetch *f = arg;
	size_t n = size * nmemb;

	if (!status2xx(f->easy))
		return n;
	if (!f->spool)
		f->spool = fr_spool_new(f->fetcher->spooler, f->output,
		    f->pin && f->pin->algo > FR_PIN_SHA256 ? f->pin->algo : FR_PIN_NONE, ready, f);
	if (fr_spool_add(f->spool, p, n) == 0)
		return n;
	f->spoolfailed = 1;
	return 0;
}

static void
setstr(char **dst, const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	free(*dst);
	*dst = fr_xstrndup(p, n);
}

/* CURLOPT_HEADERFUNCTION: keep the final response's ETag and Last-Modified. */
static size_t
onheader(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fr_fetch *f = arg;
	size_t n = size * nmemb;

	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {	/* a new response: forget the last */
		free(f->etag_got);
		free(f->lm_got);
		f->etag_got = f->lm_got = NULL;
	} else if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
		setstr(&f->etag_got, p + 5, n - 5);
	} else if (n > 14 && strncasecmp(p, "last-modified:", 14) == 0) {
		setstr(&f->lm_got, p + 14, n - 14);
	}
	return n;
}

/* The proxy variables libcurl reads, in the order of the fields of struct proxyenv. */
static const char *const proxyvars[] = {
	"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
	"NO_PROXY",
};

/* Their values in one environment, NULL when unset or empty. */
struct proxyenv {
	const char *v[FR_NELEM(proxyvars)];
};

/* The proxy variables of envp, in one pass over it: most variables are
 * passed over on their first letter. */
static void
proxyenv(char *const *envp, struct proxyenv *pe)
{
	const char *e, *eq;
	size_t i, n;

	memset(pe, 0, sizeof(*pe));
	for (; *envp; envp++) {
		e = *envp;
		if (!strchr("hHaAnN", e[0]) || !(eq = strchr(e, '=')) || !eq[1])
			continue;
		n = (size_t)(eq - e);
		for (i = 0; i < FR_NELEM(proxyvars); i++)
			if (!pe->v[i] && strncmp(e, proxyvars[i], n) == 0 && !proxyvars[i][n])
				pe->v[i] = eq + 1;
	}
}

/* The proxy for the URL from the task's environment, as libcurl would take it
 * from a process environment: http_proxy (lower case only) or https_proxy,
 * else all_proxy; and no_proxy. */
static void
setproxy(struct fr_fetch *f)
{
	struct proxyenv pe;
	const char *p = NULL, *no;

	if (!f->envp)
		return;
	proxyenv(f->envp, &pe);
	if (strncasecmp(f->url, "https:", 6) == 0)
		p = pe.v[1] ? pe.v[1] : pe.v[2];
	else
		p = pe.v[0];
	if (!p)
		p = pe.v[3] ? pe.v[3] : pe.v[4];
	no = pe.v[5] ? pe.v[5] : pe.v[6];
	curl->easy_setopt(f->easy, CURLOPT_PROXY, p ? p : "");	/* "": none, not getenv */
	if (no)
		curl->easy_setopt(f->easy, CURLOPT_NOPROXY, no);
}

static int
setup(struct fr_fetch *f, struct fr_error *err)
{
	CURL *e = f->easy;
	struct curl_slist *sl = NULL;
	CURLcode rc = CURLE_OK;
	size_t i;
	char *h;

	for (i = 0; i < f->nheader; i++)
		sl = curl->slist_append(sl, f->header[i]);
	if (f->etag) {
		h = fr_xasprintf("If-None-Match: %s", f->etag);
		sl = curl->slist_append(sl, h);
		free(h);
	}
	if (f->last_modified) {
		h = fr_xasprintf("If-Modified-Since: %s", f->last_modified);
		sl = curl->slist_append(sl, h);
		free(h);
	}
	f->slist = sl;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl->easy_setopt(e, opt, val)
	SET(CURLOPT_URL, f->url);
	SET(CURLOPT_PRIVATE, f);
	SET(CURLOPT_ERRORBUFFER, f->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_WRITEFUNCTION, onwrite);
	SET(CURLOPT_WRITEDATA, f);
	SET(CURLOPT_HEADERFUNCTION, onheader);
	SET(CURLOPT_HEADERDATA, f);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)FR_FETCH_MAX_REDIRECTS);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_ACCEPT_ENCODING, "");	/* every encoding libcurl decodes */
	SET(CURLOPT_USERAGENT, "flowrun/" PACKAGE_VERSION);
	SET(CURLOPT_BUFFERSIZE, (long)RECVBUF);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->cacert)
		SET(CURLOPT_CAINFO, f->cacert);
	if (sl)
		SET(CURLOPT_HTTPHEADER, sl);
	if (f->timeout_ns > 0)
		SET(CURLOPT_TIMEOUT_MS, (long)((f->timeout_ns + 999999) / 1000000));
	if (f->connect_timeout_ns > 0)
		SET(CURLOPT_CONNECTTIMEOUT_MS, (long)((f->connect_timeout_ns + 999999) / 1000000));
	if (f->low_speed_limit > 0 && f->low_speed_time_ns > 0) {
		SET(CURLOPT_LOW_SPEED_LIMIT, (long)f->low_speed_limit);
		SET(CURLOPT_LOW_SPEED_TIME, (long)((f->low_speed_time_ns + 999999999) / 1000000000));
	}
#undef SET
	if (rc != CURLE_OK)
		return fr_error_set(err, FR_ESYS, NULL, "%s: cannot set up the download: %s",
		    f->url, curl->easy_strerror(rc));
	setproxy(f);
	return 0;
}

/* Free what the transfer holds; a spool still there is removed. */
static void
teardown(struct fr_fetch *f)
{
	fr_spool_abort(f->spool);
	f->spool = NULL;
	if (f->easy) {
		if (f->inmulti)
			curl->multi_remove_handle(f->fetcher->multi, f->easy);
		f->inmulti = 0;
		if (f->fetcher->nspare < SPARE) {	/* its options back to the defaults */
			curl->easy_reset(f->easy);
			f->fetcher->spare[f->fetcher->nspare++] = f->easy;
		} else {
			curl->easy_cleanup(f->easy);
		}
		f->easy = NULL;
	}
	curl->slist_free_all(f->slist);
	f->slist = NULL;
	free(f->etag_got);
	free(f->lm_got);
	f->etag_got = f->lm_got = NULL;
}

int
fr_fetch_start(struct fr_fetcher *fr, struct fr_fetch *f, struct fr_error *err)
{
	f->fetcher = fr;
	f->outcome = FR_FETCH_FAILED;
	f->error[0] = f->errbuf[0] = '\0';
	f->result = NULL;
	f->spool = NULL;
	f->bytes = 0;
	f->status = 0;
	f->spoolfailed = f->killed = 0;
	f->retry_after_ns = 0;
	f->start_ns = fr_now_ns();
	if (!fr->multi) {	/* libcurl could not be loaded: say why */
		fr_curlapi_load(err);
		return -1;
	}
	if (fr->nspare > 0)
		f->easy = fr->spare[--fr->nspare];
	else if (!(f->easy = curl->easy_init()))
		abort();
	if (setup(f, err) < 0) {
		teardown(f);
		return -1;
	}
	if (curl->multi_add_handle(fr->multi, f->easy) != CURLM_OK) {
		teardown(f);
		return fr_error_set(err, FR_ESYS, NULL, "%s: cannot start the download", f->url);
	}
	return 0;
}

/* --- what happened, in words --------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void
say(struct fr_fetch *f, const char *fmt, ...)
{
	char *u = fr_fetchspec_redact(f->url), what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(f->error, sizeof(f->error), "%s: %s", u, what);
	free(u);
}

static long long
received(struct fr_fetch *f)
{
	curl_off_t n = 0;

	curl->easy_getinfo(f->easy, CURLINFO_SIZE_DOWNLOAD_T, &n);
	return (long long)n;
}

static void
timedout(struct fr_fetch *f, const char *eb)
{
	if (f->timeout_ns > 0 && f->end_ns - f->start_ns >= f->timeout_ns - 20000000)
		say(f, "timed out (timeout %.3gs) with %lld bytes received",
		    (double)f->timeout_ns / 1e9, received(f));
	else if (strstr(eb, "too slow"))
		say(f, "too slow: less than %lld bytes/s for %.3gs (low_speed_limit, "
		    "low_speed_time) with %lld bytes received", f->low_speed_limit,
		    (double)f->low_speed_time_ns / 1e9, received(f));
	else
		say(f, "cannot connect within %.3gs (connect_timeout): %s",
		    (double)f->connect_timeout_ns / 1e9, eb);
}

/* A transfer that libcurl ended with code. */
static void
describe(struct fr_fetch *f, CURLcode code)
{
	const char *eb = f->errbuf[0] ? f->errbuf : curl->easy_strerror(code);
	curl_off_t len = -1;
	long oserr = 0;

	curl->easy_getinfo(f->easy, CURLINFO_OS_ERRNO, &oserr);
	f->outcome = FR_FETCH_TRANSIENT;
	switch (code) {
	case CURLE_COULDNT_CONNECT:
		say(f, "%s (%s)", oserr == ECONNREFUSED ? "connection refused" : "cannot connect", eb);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		timedout(f, eb);
		return;
	case CURLE_PARTIAL_FILE:
		curl->easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		if (len >= 0)
			say(f, "truncated body: the connection closed after %lld of %lld bytes (%s)",
			    received(f), (long long)len, eb);
		else
			say(f, "truncated body: the connection closed after %lld bytes (%s)",
			    received(f), eb);
		return;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (oserr == ECONNRESET || strstr(eb, "reset"))
			say(f, "connection reset by the server after %lld bytes (%s)", received(f), eb);
		else
			say(f, "network error after %lld bytes (%s)", received(f), eb);
		return;
	case CURLE_GOT_NOTHING:
		say(f, "the server closed the connection without a reply (%s)", eb);
		return;
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		say(f, "HTTP/2 error (%s)", eb);
		return;
	default:
		break;
	}
	f->outcome = FR_FETCH_FAILED;
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		say(f, "cannot resolve the host name (%s)", eb);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		say(f, "TLS failure: %s", eb);
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		say(f, "more than %d redirects (%s)", FR_FETCH_MAX_REDIRECTS, eb);
		break;
	case CURLE_BAD_CONTENT_ENCODING:
		say(f, "cannot decode the body (%s)", eb);
		break;
	case CURLE_WRITE_ERROR:
		if (f->spoolfailed)
			say(f, "%s", fr_spool_error(f->spool));
		else
			say(f, "cannot write the body (%s)", eb);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		say(f, "only http and https are fetched (%s)", eb);
		break;
	default:
		say(f, "%s (curl error %d)", eb, (int)code);
		break;
	}
}

static const char *
reason(long status)
{
	static const struct { long code; const char *text; } r[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
		{ 407, "Proxy Authentication Required" }, { 408, "Request Timeout" },
		{ 410, "Gone" }, { 429, "Too Many Requests" }, { 451, "Unavailable For Legal Reasons" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" }, { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};
	size_t i;

	for (i = 0; i < FR_NELEM(r); i++)
		if (r[i].code == status)
			return r[i].text;
	return "";
}

/* A response that is not 2xx: 5xx, 408 and 429 may pass, the rest will not. */
static void
badstatus(struct fr_fetch *f, long status)
{
	const char *final = NULL, *why = reason(status);
	curl_off_t after = -1;

	curl->easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &final);
	curl->easy_getinfo(f->easy, CURLINFO_RETRY_AFTER, &after);
	if (final && strcmp(final, f->url) != 0) {
		char *u = fr_fetchspec_redact(final);
		say(f, "HTTP %ld%s%s (redirected to %s)", status, *why ? " " : "", why, u);
		free(u);
	} else {
		say(f, "HTTP %ld%s%s", status, *why ? " " : "", why);
	}
	f->outcome = status >= 500 || status == 408 || status == 429 ? FR_FETCH_TRANSIENT :
	    FR_FETCH_FAILED;
	if (after > 0)
		f->retry_after_ns = (int64_t)(after < 3600 ? after : 3600) * 1000000000;
}

/* s as a JSON string; null when absent or not UTF-8 (a header may be Latin-1). */
static json_t *
jstr(const char *s)
{
	json_t *v = s ? json_string(s) : NULL;
	return v ? v : json_null();
}

/* A 2xx body was received whole and hashed: check the pin and put it in place. */
static void
complete(struct fr_fetch *f)
{
	const char *final = NULL;
	struct fr_pin got;
	char want[160], have[160], hex[2 * FR_DIGEST_LEN + 1];
	int same, rc, errnum = 0;
	char *u;

	memset(&got, 0, sizeof(got));
	f->bytes = fr_spool_bytes(f->spool);
	if (fr_spool_digests(f->spool, &f->sha256, &got) < 0) {
		say(f, "%s", fr_spool_error(f->spool));
		return;
	}
	if (got.algo == FR_PIN_NONE) {
		got.algo = FR_PIN_SHA256;
		memcpy(got.b, f->sha256.b, FR_DIGEST_LEN);
	}
	if (f->pin && f->pin->algo != FR_PIN_NONE && !fr_pin_equal(f->pin, &got)) {
		fr_pin_format(f->pin, f->pin_sri, want, sizeof(want));
		fr_pin_format(&got, f->pin_sri, have, sizeof(have));
		say(f, "checksum mismatch: expected %s %s, got %s (%llu bytes)",
		    f->pin_sri ? "integrity" : "sha256", want, have, (unsigned long long)f->bytes);
		return;
	}
	/* the output already holds these very bytes: leave it alone */
	same = f->current && memcmp(f->current->b, f->sha256.b, FR_DIGEST_LEN) == 0 &&
	    fr_stat_path(f->output, &f->st) == 0;
	rc = fr_spool_commit(f->spool, !same, &f->st, &errnum);
	f->spool = NULL;
	if (rc == -1) {
		say(f, "cannot put the download in place at %s: %s", f->output, strerror(errnum));
		return;
	}
	if (rc < 0) {
		say(f, "cannot stat %s: %s", f->output, strerror(errnum));
		return;
	}
	curl->easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &final);
	u = fr_fetchspec_redact(final ? final : f->url);
	fr_digest_hex(&f->sha256, hex);
	f->result = json_object();
	json_object_set_new(f->result, "url", jstr(u));
	json_object_set_new(f->result, "status", json_integer(f->status));
	json_object_set_new(f->result, "bytes", json_integer((json_int_t)f->bytes));
	json_object_set_new(f->result, "sha256", json_string(hex));
	json_object_set_new(f->result, "etag", jstr(f->etag_got));
	json_object_set_new(f->result, "last_modified", jstr(f->lm_got));
	json_object_set_new(f->result, "seconds",
	    json_real((double)((f->end_ns - f->start_ns) / 1000) / 1e6));
	free(u);
	f->outcome = FR_FETCH_OK;
}

static void
end(struct fr_fetch *f)
{
	teardown(f);
	f->done(f, f->arg);
}

/* The transfer ended with code: decide, and put the body in place once the
 * spool has hashed it (now, or when ready() says so). */
static void
finish(struct fr_fetch *f, CURLcode code)
{
	int rc;

	f->end_ns = fr_now_ns();
	curl->easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &f->status);
	curl->multi_remove_handle(f->fetcher->multi, f->easy);
	f->inmulti = 0;
	if (code != CURLE_OK) {
		describe(f, code);
	} else if (f->status == 304 && (f->etag || f->last_modified)) {
		f->outcome = FR_FETCH_UNCHANGED;
	} else if (f->status < 200 || f->status >= 300) {
		badstatus(f, f->status);
	} else {
		if (!f->spool)	/* an empty body */
			f->spool = fr_spool_new(f->fetcher->spooler, f->output, f->pin &&
			    f->pin->algo > FR_PIN_SHA256 ? f->pin->algo : FR_PIN_NONE, ready, f);
		if ((rc = fr_spool_end(f->spool)) > 0)
			return;		/* ready() goes on */
		if (rc < 0)
			say(f, "%s", fr_spool_error(f->spool));
		else
			complete(f);
	}
	end(f);
}

/* The spool has hashed the whole body. */
static void
ready(void *arg)
{
	struct fr_fetch *f = arg;

	complete(f);
	end(f);
}

static void
reap(struct fr_fetcher *fr)
{
	struct fr_fetch *f;
	CURLMsg *m;
	int left;

	while ((m = curl->multi_info_read(fr->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl->easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		finish(f, m->data.result);
	}
}

static void
ondeath(void *arg)
{
	struct fr_fetch *f = arg;

	f->timer = 0;
	f->done(f, f->arg);
}

void
fr_fetch_kill(struct fr_fetch *f)
{
	if (!f->easy || f->killed)
		return;
	f->killed = 1;
	f->end_ns = fr_now_ns();
	f->outcome = FR_FETCH_FAILED;
	snprintf(f->error, sizeof(f->error), "%s: download stopped", f->url);
	teardown(f);
	f->timer = fr_loop_timer(f->fetcher->loop, 0, ondeath, f);
}

void
fr_fetch_release(struct fr_fetch *f)
{
	json_decref(f->result);
	f->result = NULL;
}
