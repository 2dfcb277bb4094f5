/* SPDX-License-Identifier: MIT */
/* json: the canonical JSON text of a value, written straight into a buffer:
 * what Jansson's json_dumps gives with JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY, byte for byte, without its callback per piece. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* Deeper than this, Jansson writes the rest (it refuses what it cannot). */
#define MAXDEPTH 1000

struct key {
	const char *s;
	size_t n;
	json_t *v;
};

static void value(struct fr_buf *b, const json_t *v, int depth, size_t max);

/* Jansson's order for sorted keys: bytes, then length. */
static int
keycmp(const void *x, const void *y)
{
	const struct key *a = x, *b = y;
	int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);

	return c ? c : (a->n > b->n) - (a->n < b->n);
}

static void
string(struct fr_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, run = 0;

	fr_buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
		size_t elen = 2;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		fr_buf_add(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		fr_buf_add(b, esc, elen);
	}
	fr_buf_add(b, s + run, n - run);
	fr_buf_addc(b, '"');
}

/* A real as Jansson writes it: %.17g, a ".0" when it would read back as an
 * integer, and the exponent without '+' or leading zeros. */
static void
real(struct fr_buf *b, double d)
{
	char buf[40], *e;
	int n = snprintf(buf, sizeof(buf) - 2, "%.17g", d);

	if (n < 0 || (size_t)n >= sizeof(buf) - 2)
		n = 0;
	buf[n] = '\0';
	if (!strchr(buf, '.') && !strchr(buf, 'e')) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	if ((e = strchr(buf, 'e'))) {
		char *start = e + 1, *end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, (size_t)(buf + n - end) + 1);
			n -= (int)(end - start);
		}
	}
	fr_buf_add(b, buf, (size_t)n);
}

static void
object(struct fr_buf *b, const json_t *v, int depth, size_t max)
{
	struct key one[16], *keys = one;
	size_t n = json_object_size(v), i = 0;
	const char *k;
	size_t klen;
	json_t *m;

	if (n > FR_NELEM(one))
		keys = fr_xcalloc(n, sizeof(*keys));
	json_object_keylen_foreach((json_t *)v, k, klen, m) {
		keys[i].s = k;
		keys[i].n = klen;
		keys[i].v = m;
		i++;
	}
	if (n > 1)
		qsort(keys, n, sizeof(*keys), keycmp);
	fr_buf_addc(b, '{');
	for (i = 0; i < n && b->len <= max; i++) {
		if (i)
			fr_buf_addc(b, ',');
		string(b, keys[i].s, keys[i].n);
		fr_buf_addc(b, ':');
		value(b, keys[i].v, depth + 1, max);
	}
	fr_buf_addc(b, '}');
	if (keys != one)
		free(keys);
}

/* Stops early (leaving b->len > max) once the text is longer than max. */
static void
value(struct fr_buf *b, const json_t *v, int depth, size_t max)
{
	char num[24];
	size_t i, n;

	if (b->len > max)
		return;
	if (depth > MAXDEPTH) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		fr_buf_addstr(b, s ? s : "null");
		free(s);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		object(b, v, depth, max);
		break;
	case JSON_ARRAY:
		fr_buf_addc(b, '[');
		n = json_array_size(v);
		for (i = 0; i < n && b->len <= max; i++) {
			if (i)
				fr_buf_addc(b, ',');
			value(b, json_array_get(v, i), depth + 1, max);
		}
		fr_buf_addc(b, ']');
		break;
	case JSON_STRING:
		string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		fr_buf_add(b, num, (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v)));
		break;
	case JSON_REAL:
		real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		fr_buf_add(b, "true", 4);
		break;
	case JSON_FALSE:
		fr_buf_add(b, "false", 5);
		break;
	case JSON_NULL:
		fr_buf_add(b, "null", 4);
		break;
	}
}

void
fr_json_canon(struct fr_buf *b, const json_t *v)
{
	fr_json_canon_max(b, v, SIZE_MAX - 1);
}

int
fr_json_canon_max(struct fr_buf *b, const json_t *v, size_t max)
{
	if (v)
		value(b, v, 0, max);
	else
		fr_buf_add(b, "null", 4);
	return b->len > max ? -1 : 0;
}
