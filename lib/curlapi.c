/* SPDX-License-Identifier: MIT */
/* curlapi: dlopen libcurl once and look up the functions exec_fetch calls. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlapi.h"
#include "util.h"

#ifndef FR_CURL_SONAME
#error "FR_CURL_SONAME is not defined: run configure"
#endif

/* A function pointer is stored from dlsym's void * by copying its bytes. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
    "object and function pointers differ in size");

#define SYM(f) { "curl_" #f, offsetof(struct fr_curlapi, f) }
static const struct {
	const char *name;
	size_t off;
} syms[] = {
	SYM(global_init), SYM(easy_init), SYM(easy_cleanup), SYM(easy_reset), SYM(easy_setopt),
	SYM(easy_getinfo), SYM(easy_strerror), SYM(multi_init), SYM(multi_cleanup),
	SYM(multi_add_handle), SYM(multi_remove_handle), SYM(multi_setopt),
	SYM(multi_socket_action), SYM(multi_info_read), SYM(slist_append),
	SYM(slist_free_all),
};
#undef SYM

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct fr_curlapi api;
static int loaded;
static char why[768];		/* why not, when not loaded */

static void
load(void)
{
	const char *name = getenv(FR_CURLAPI_ENV), *e;
	int fromenv = name && *name;
	CURLcode rc;
	void *h, *p;
	size_t i;

	if (!fromenv)
		name = FR_CURL_SONAME;
	dlerror();
	if (!(h = dlopen(name, RTLD_NOW | RTLD_LOCAL))) {
		e = dlerror();
		snprintf(why, sizeof(why), "cannot load libcurl %s%s, which fetch tasks need: %s",
		    name, fromenv ? " (" FR_CURLAPI_ENV ")" : "", e ? e : "dlopen failed");
		return;
	}
	for (i = 0; i < FR_NELEM(syms); i++) {
		dlerror();
		if (!(p = dlsym(h, syms[i].name))) {
			e = dlerror();
			snprintf(why, sizeof(why), "cannot load libcurl %s%s, which fetch tasks "
			    "need: it has no %s (%s)", name, fromenv ? " (" FR_CURLAPI_ENV ")" : "",
			    syms[i].name, e ? e : "dlsym failed");
			dlclose(h);
			return;
		}
		memcpy((char *)&api + syms[i].off, &p, sizeof(p));
	}
	if ((rc = api.global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		snprintf(why, sizeof(why), "cannot initialise libcurl %s: %s (curl error %d)",
		    name, api.easy_strerror(rc), (int)rc);
		return;		/* the handle is kept: libcurl may have started threads */
	}
	loaded = 1;	/* the handle is never closed: libcurl stays until exit */
}

const struct fr_curlapi *
fr_curlapi_load(struct fr_error *err)
{
	pthread_once(&once, load);
	if (!loaded) {
		fr_error_set(err, FR_ESYS, NULL, "%s", why);
		return NULL;
	}
	return &api;
}
