/* SPDX-License-Identifier: MIT */
/* util: allocation that aborts on out-of-memory, and small string helpers. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>

#include "util.h"

static void
oom(void)
{
	static const char msg[] = "flowrun: out of memory\n";
	fwrite(msg, 1, sizeof(msg) - 1, stderr);
	abort();
}

void *
fr_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *
fr_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		oom();
	return p;
}

void *
fr_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *
fr_xstrdup(const char *s)
{
	return fr_xstrndup(s, strlen(s));
}

char *
fr_xstrndup(const char *s, size_t n)
{
	char *p = fr_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
fr_xasprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	p = fr_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
fr_grow(void *arrp, size_t n, size_t *cap, size_t sz)
{
	void **arr = arrp;
	size_t c = *cap;

	if (n <= c)
		return;
	if (c == 0)
		c = n < 2 ? 2 : n;	/* most arrays here hold one or two items */
	while (c < n) {
		if (c > SIZE_MAX / 2 / sz)
			oom();
		c *= 2;
	}
	*arr = fr_xrealloc(*arr, c * sz);
	*cap = c;
}

struct fr_ablock {
	struct fr_ablock *next;
	size_t used, cap;
	_Alignas(max_align_t) unsigned char data[];
};

#define ABLOCK_MIN (64u << 10)
#define ABLOCK_MAX (4u << 20)

void *
fr_arena_alloc(struct fr_arena *a, size_t n, size_t align)
{
	struct fr_ablock *b = a->block, *nb;
	size_t off = b ? (b->used + align - 1) & ~(align - 1) : 0;

	if (!b || off > b->cap || b->cap - off < n) {
		/* blocks grow with the arena; a big request gets a block of its
		 * own behind the current one, whose free space stays in use */
		size_t cap = a->size < ABLOCK_MIN ? ABLOCK_MIN : a->size > ABLOCK_MAX ?
		    ABLOCK_MAX : a->size;
		if (n > cap / 4)
			cap = n;
		if (cap > SIZE_MAX - sizeof(*nb))
			oom();
		nb = fr_xmalloc(sizeof(*nb) + cap);
		nb->used = 0;
		nb->cap = cap;
		a->size += cap;
		if (b && cap == n) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->block = nb;
		}
		b = nb;
		off = 0;
	}
	b->used = off + n;
	return b->data + off;
}

void *
fr_arena_zalloc(struct fr_arena *a, size_t n, size_t align)
{
	return memset(fr_arena_alloc(a, n, align), 0, n);
}

char *
fr_arena_strndup(struct fr_arena *a, const char *s, size_t n)
{
	char *p = fr_arena_alloc(a, n + 1, 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
fr_arena_free(struct fr_arena *a)
{
	struct fr_ablock *b, *next;

	for (b = a->block; b; b = next) {
		next = b->next;
		free(b);
	}
	a->block = NULL;
	a->size = 0;
}

void
fr_arena_reset(struct fr_arena *a)
{
	struct fr_ablock *keep = a->block;

	if (!keep || keep->cap != ABLOCK_MIN) {
		fr_arena_free(a);
		return;
	}
	a->block = keep->next;
	fr_arena_free(a);
	keep->next = NULL;
	keep->used = 0;
	a->block = keep;
	a->size = keep->cap;
}

int64_t
fr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
fr_hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

size_t
fr_editdist(const char *a, const char *b, size_t max)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t *row, best, d;

	if (la > 64 || lb > 64)
		return max + 1;
	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	row = fr_xmalloc((lb + 1) * sizeof(*row));
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			d = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < d)
				d = up + 1;
			if (row[j - 1] + 1 < d)
				d = row[j - 1] + 1;
			row[j] = d;
			diag = up;
			if (d < best)
				best = d;
		}
		if (best > max) {
			free(row);
			return max + 1;
		}
	}
	d = row[lb];
	free(row);
	return d > max ? max + 1 : d;
}

long
fr_read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

int
fr_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

int
fr_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
fr_linkfd(int fd, const char *name)
{
	char proc[40];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
}
