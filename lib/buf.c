/* SPDX-License-Identifier: MIT */
/* buf: a growable byte buffer, always NUL-terminated after its length. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

static void
reserve(struct fr_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap = b->cap ? b->cap : 64;

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	b->data = fr_xrealloc(b->data, cap);
	b->cap = cap;
}

void
fr_buf_add(struct fr_buf *b, const void *p, size_t n)
{
	reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
fr_buf_addstr(struct fr_buf *b, const char *s)
{
	fr_buf_add(b, s, strlen(s));
}

void
fr_buf_addc(struct fr_buf *b, char c)
{
	fr_buf_add(b, &c, 1);
}

void
fr_buf_printf(struct fr_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
fr_buf_reset(struct fr_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
fr_buf_free(struct fr_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
fr_buf_steal(struct fr_buf *b)
{
	char *s = b->data ? b->data : fr_xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

const char *
fr_buf_str(const struct fr_buf *b)
{
	return b->data ? b->data : "";
}
