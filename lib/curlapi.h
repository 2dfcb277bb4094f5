/* SPDX-License-Identifier: MIT */
/* curlapi: libcurl, loaded with dlopen when the first fetch task starts rather
 * than linked, so that a run with no fetch task does not pay for loading
 * libcurl and the two dozen libraries it needs (TLS, Kerberos, LDAP, SSH...)
 * at every start. The functions exec_fetch calls are reached through a table
 * filled once; curl's headers still give the types and constants.
 *
 * The library is FR_CURL_SONAME, the name configure found flowrun would have
 * been linked against, or the name or path in the environment variable
 * FLOWRUN_LIBCURL when it is set and not empty. */
#ifndef FR_CURLAPI_H
#define FR_CURLAPI_H

#include <curl/curl.h>

#include "error.h"

/* The environment variable that overrides the library's name or path. */
#define FR_CURLAPI_ENV "FLOWRUN_LIBCURL"

/* curl_FIELD of libcurl, for each FIELD. */
struct fr_curlapi {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *easy);
	void (*easy_reset)(CURL *easy);
	CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *multi);
	CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
	CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
	CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
	CURLMcode (*multi_socket_action)(CURLM *multi, curl_socket_t s, int ev_bitmask,
	    int *running_handles);
	CURLMsg *(*multi_info_read)(CURLM *multi, int *msgs_in_queue);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
	void (*slist_free_all)(struct curl_slist *list);
};

/* libcurl's functions, loaded and curl_global_init'ed on the first call (the
 * others return the same table, or the same error: a library that could not be
 * loaded is not tried again). NULL with err set ("cannot load libcurl NAME:
 * why") when the library cannot be loaded, lacks one of the functions, or does
 * not initialise. Safe to call from any thread. */
const struct fr_curlapi *fr_curlapi_load(struct fr_error *err);

#endif
