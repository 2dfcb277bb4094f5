/* SPDX-License-Identifier: MIT */
/* log: diagnostics from lib/ go to a sink that cmd/ installs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static fr_log_sink *sink;
static void *sinkarg;

void
fr_log_set_sink(fr_log_sink *s, void *arg)
{
	sink = s;
	sinkarg = arg;
}

void
fr_log(enum fr_loglevel level, const char *fmt, ...)
{
	char msg[2048];
	int saved = errno;
	size_t flen = strlen(fmt), len;
	va_list ap;

	if (!sink)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (flen > 0 && fmt[flen - 1] == ':') {
		len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, " %s", strerror(saved));
	}
	sink(level, msg, sinkarg);
	errno = saved;
}
