/* SPDX-License-Identifier: MIT */
/* buf: a growable byte buffer, always NUL-terminated after its length. */
#ifndef FR_BUF_H
#define FR_BUF_H

#include <stddef.h>

struct fr_buf {
	char *data;	/* NULL until the first append */
	size_t len, cap;
};

/* Append n bytes of p. */
void fr_buf_add(struct fr_buf *b, const void *p, size_t n);
/* Append the string s. */
void fr_buf_addstr(struct fr_buf *b, const char *s);
/* Append one byte. */
void fr_buf_addc(struct fr_buf *b, char c);
/* Append printf output. */
void fr_buf_printf(struct fr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empty b, keeping its memory. */
void fr_buf_reset(struct fr_buf *b);
/* Release b's memory and empty it. */
void fr_buf_free(struct fr_buf *b);
/* Hand b's string to the caller (never NULL) and empty b. */
char *fr_buf_steal(struct fr_buf *b);
/* The contents as a string ("" when empty); borrowed. */
const char *fr_buf_str(const struct fr_buf *b);

#endif
