/* SPDX-License-Identifier: MIT */
/* htab: a string-keyed hash table (open addressing, linear probing over
 * 8-byte slots that point into a dense, insertion-ordered entry array). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "util.h"

/* A slot is 0 (empty) or (hash bits << 32 | entry index + 1): comparing the
 * hash bits first keeps a probe from touching other entries' keys, and the
 * key length need not be stored (the key ends where k does). */
struct entry {
	const char *key;
	void *val;
};

struct fr_htab {
	uint64_t *slot;
	size_t cap;		/* slots, a power of two, at most 7/8 full */
	struct entry *ent;	/* in insertion order (a value's key not at keyoff) */
	void **val;		/* in insertion order (values that hold their key) */
	size_t keyoff;		/* where a value holds its key, or NOKEYOFF */
	size_t count, entcap;
};

#define NOKEYOFF ((size_t)-1)

/* The key and the value of entry i. */
static const char *
keyof(const struct fr_htab *h, size_t i)
{
	return h->keyoff == NOKEYOFF ? h->ent[i].key :
	    *(const char *const *)((const char *)h->val[i] + h->keyoff);
}

static void *
valof(const struct fr_htab *h, size_t i)
{
	return h->keyoff == NOKEYOFF ? h->ent[i].val : h->val[i];
}

#define MAXLOAD(cap) ((cap) - (cap) / 8)

uint64_t
fr_hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Whether the string key is the n bytes at k (which may hold a NUL: then
 * it is no string's, and never read past key's end). */
static int
keyeq(const char *key, const char *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (key[i] != k[i] || key[i] == '\0')
			return 0;
	return key[n] == '\0';
}

/* The slot holding key k (n bytes, hash bits hash), or the empty one where
 * it would go. */
static uint64_t *
find(const struct fr_htab *h, const char *k, size_t n, uint32_t hash)
{
	size_t i = (size_t)hash & (h->cap - 1);

	for (;;) {
		uint64_t s = h->slot[i];
		if (!s)
			return &h->slot[i];
		if ((uint32_t)(s >> 32) == hash) {
			const char *key = keyof(h, (uint32_t)s - 1);
			if (keyeq(key, k, n))
				return &h->slot[i];
		}
		i = (i + 1) & (h->cap - 1);
	}
}

/* Spread the entries over cap slots. */
static void
rehash(struct fr_htab *h, size_t cap)
{
	size_t i;

	free(h->slot);
	h->slot = fr_xcalloc(cap, sizeof(*h->slot));
	h->cap = cap;
	for (i = 0; i < h->count; i++) {
		const char *k = keyof(h, i);
		size_t n = strlen(k);
		uint32_t hash = (uint32_t)fr_hash(k, n);
		*find(h, k, n, hash) = (uint64_t)hash << 32 | (uint64_t)(i + 1);
	}
}

void
fr_htab_reserve(struct fr_htab *h, size_t n)
{
	size_t cap = h->cap ? h->cap : 8;

	if (n > UINT32_MAX - 1)
		abort();	/* entry indexes are 32 bits */
	while (MAXLOAD(cap) < n)
		cap *= 2;
	if (cap != h->cap)
		rehash(h, cap);
	if (n > h->entcap && h->keyoff == NOKEYOFF)
		h->ent = fr_xrealloc(h->ent, n * sizeof(*h->ent));
	else if (n > h->entcap)
		h->val = fr_xrealloc(h->val, n * sizeof(*h->val));
	if (n > h->entcap)
		h->entcap = n;
}

struct fr_htab *
fr_htab_new(size_t hint)
{
	return fr_htab_new_at(hint, NOKEYOFF);
}

struct fr_htab *
fr_htab_new_at(size_t hint, size_t keyoff)
{
	struct fr_htab *h = fr_xcalloc(1, sizeof(*h));

	h->keyoff = keyoff;
	fr_htab_reserve(h, hint);
	return h;
}

void
fr_htab_free(struct fr_htab *h)
{
	if (!h)
		return;
	free(h->slot);
	free(h->ent);
	free(h->val);
	free(h);
}

void *
fr_htab_getn(const struct fr_htab *h, const char *k, size_t n)
{
	uint64_t s = *find(h, k, n, (uint32_t)fr_hash(k, n));
	return s ? valof(h, (uint32_t)s - 1) : NULL;
}

void *
fr_htab_get(const struct fr_htab *h, const char *k)
{
	return fr_htab_getn(h, k, strlen(k));
}

void *
fr_htab_put(struct fr_htab *h, const char *k, void *v)
{
	size_t n = strlen(k);
	uint32_t hash = (uint32_t)fr_hash(k, n);
	uint64_t *s = find(h, k, n, hash);
	void *prev;

	if (*s) {
		prev = valof(h, (uint32_t)*s - 1);
		if (h->keyoff == NOKEYOFF)
			h->ent[(uint32_t)*s - 1].val = v;
		else
			h->val[(uint32_t)*s - 1] = v;
		return prev;
	}
	if (h->count + 1 > MAXLOAD(h->cap)) {
		fr_htab_reserve(h, h->count + 1);
		s = find(h, k, n, hash);
	}
	if (h->keyoff != NOKEYOFF) {
		if (h->count == h->entcap)
			fr_grow(&h->val, h->count + 1, &h->entcap, sizeof(*h->val));
		h->val[h->count] = v;
	} else {
		if (h->count == h->entcap)
			fr_grow(&h->ent, h->count + 1, &h->entcap, sizeof(*h->ent));
		h->ent[h->count].key = k;
		h->ent[h->count].val = v;
	}
	*s = (uint64_t)hash << 32 | (uint64_t)(++h->count);
	return NULL;
}

size_t
fr_htab_count(const struct fr_htab *h)
{
	return h->count;
}

int
fr_htab_next(const struct fr_htab *h, size_t *pos, const char **k, void **v)
{
	if (*pos >= h->count)
		return 0;
	if (k)
		*k = keyof(h, *pos);
	if (v)
		*v = valof(h, *pos);
	(*pos)++;
	return 1;
}
