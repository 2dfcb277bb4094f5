/* SPDX-License-Identifier: MIT */
/* util: allocation that aborts on out-of-memory, and small string helpers. */
#ifndef FR_UTIL_H
#define FR_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Allocate n bytes; never returns NULL (aborts on OOM). */
void *fr_xmalloc(size_t n);
/* Allocate n zeroed elements of sz bytes; never returns NULL. */
void *fr_xcalloc(size_t n, size_t sz);
/* Resize p to n bytes; never returns NULL. */
void *fr_xrealloc(void *p, size_t n);
/* Duplicate s; never returns NULL. */
char *fr_xstrdup(const char *s);
/* Duplicate the first n bytes of s and terminate; never returns NULL. */
char *fr_xstrndup(const char *s, size_t n);
/* printf into a new string; never returns NULL. */
char *fr_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Grow *arr (elements of sz bytes) so that index n fits; doubles *cap. */
void fr_grow(void *arrp, size_t n, size_t *cap, size_t sz);
/* Current time from CLOCK_MONOTONIC in nanoseconds. */
int64_t fr_now_ns(void);
/* Hex-encode n bytes of in into out (2n+1 bytes, terminated). */
void fr_hex(char *out, const unsigned char *in, size_t n);
/* Read up to n bytes from fd, retrying short reads and EINTR: the count (less
 * than n only at end of file), or -1 with errno set. */
long fr_read_full(int fd, void *buf, size_t n);
/* Write all n bytes to fd, retrying short writes and EINTR: 0, or -1 with errno set. */
int fr_write_full(int fd, const void *buf, size_t n);
/* Read exactly n bytes at offset off of fd: 0, or -1 (errno set; EIO for an
 * end of file before them). */
int fr_pread_full(int fd, void *buf, size_t n, uint64_t off);
/* Link the open file fd (an O_TMPFILE, say) to name, through /proc with
 * AT_SYMLINK_FOLLOW (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH). 0, or -1
 * with errno set (EEXIST when name exists: a link replaces nothing). */
int fr_linkfd(int fd, const char *name);
/* Levenshtein distance of a and b, capped at max+1 (for "did you mean"). */
size_t fr_editdist(const char *a, const char *b, size_t max);

/* An arena: many small allocations that live until fr_arena_free, carved
 * from big blocks (a few mallocs and frees for a whole graph). Zero it to start. */
struct fr_arena {
	struct fr_ablock *block;	/* the current block, then the ones before */
	size_t size;			/* bytes in blocks so far */
};
/* n bytes aligned to align (a power of two, at most max_align_t's). */
void *fr_arena_alloc(struct fr_arena *a, size_t n, size_t align);
/* The same, zeroed. */
void *fr_arena_zalloc(struct fr_arena *a, size_t n, size_t align);
/* A copy of the n bytes at s with a NUL after them. */
char *fr_arena_strndup(struct fr_arena *a, const char *s, size_t n);
/* Release every allocation of a and empty it. */
void fr_arena_free(struct fr_arena *a);
/* Release every allocation of a, keeping one small block for the next ones
 * (an arena reused for one short-lived thing after another). */
void fr_arena_reset(struct fr_arena *a);

#define FR_NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* Append v to the array arr with count n and capacity cap. */
#define FR_PUSH(arr, n, cap, v) do { \
	fr_grow(&(arr), (n) + 1, &(cap), sizeof(*(arr))); \
	(arr)[(n)++] = (v); \
} while (0)

#endif
