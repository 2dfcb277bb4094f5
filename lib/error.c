/* SPDX-License-Identifier: MIT */
/* error: the caller-supplied error record; the first error set wins. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

void
fr_error_clear(struct fr_error *e)
{
	memset(e, 0, sizeof(*e));
}

int
fr_error_isset(const struct fr_error *e)
{
	return e && e->code != FR_EOK;
}

int
fr_error_set(struct fr_error *e, enum fr_errcode code, const struct fr_mark *m,
    const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t len, flen;

	if (!e || e->code != FR_EOK)
		return -1;
	e->code = code;
	e->errnum = 0;
	e->file[0] = '\0';
	e->line = e->col = 0;
	if (m && m->file) {
		snprintf(e->file, sizeof(e->file), "%s", m->file);
		e->line = m->line;
		e->col = m->col;
	}
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	flen = strlen(fmt);
	if (flen > 0 && fmt[flen - 1] == ':') {
		e->errnum = saved;
		len = strlen(e->text);
		snprintf(e->text + len, sizeof(e->text) - len, " %s", strerror(saved));
	}
	errno = saved;
	return -1;
}

void
fr_error_format(const struct fr_error *e, char *buf, unsigned long n)
{
	if (e->file[0] && e->line)
		snprintf(buf, n, "%s:%u:%u: %s", e->file, e->line, e->col, e->text);
	else if (e->file[0])
		snprintf(buf, n, "%s: %s", e->file, e->text);
	else
		snprintf(buf, n, "%s", e->text);
}
