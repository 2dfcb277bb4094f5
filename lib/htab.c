/* SPDX-License-Identifier: MIT */
/* htab: a string-keyed hash table (open addressing, linear probing). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "util.h"

struct slot {
	const char *key;
	void *val;
	uint32_t klen;		/* keys are shorter than 4 GiB */
	uint32_t hash;		/* the low half of fr_hash */
};

struct fr_htab {
	struct slot *slot;
	size_t cap, count;	/* cap is a power of two */
};

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

struct fr_htab *
fr_htab_new(size_t hint)
{
	struct fr_htab *h = fr_xcalloc(1, sizeof(*h));
	size_t cap = 16;

	while (cap < hint * 2)
		cap *= 2;
	h->slot = fr_xcalloc(cap, sizeof(*h->slot));
	h->cap = cap;
	return h;
}

void
fr_htab_free(struct fr_htab *h)
{
	if (!h)
		return;
	free(h->slot);
	free(h);
}

static struct slot *
find(const struct fr_htab *h, const char *k, size_t n, uint32_t hash)
{
	size_t i = (size_t)hash & (h->cap - 1);

	for (;;) {
		struct slot *s = &h->slot[i];
		if (!s->key)
			return s;
		if (s->hash == hash && s->klen == n && memcmp(s->key, k, n) == 0)
			return s;
		i = (i + 1) & (h->cap - 1);
	}
}

void *
fr_htab_getn(const struct fr_htab *h, const char *k, size_t n)
{
	struct slot *s = find(h, k, n, (uint32_t)fr_hash(k, n));
	return s->key ? s->val : NULL;
}

void *
fr_htab_get(const struct fr_htab *h, const char *k)
{
	return fr_htab_getn(h, k, strlen(k));
}

static void
rehash(struct fr_htab *h)
{
	struct slot *old = h->slot;
	size_t oldcap = h->cap, i;

	h->cap *= 2;
	h->slot = fr_xcalloc(h->cap, sizeof(*h->slot));
	for (i = 0; i < oldcap; i++) {
		if (old[i].key)
			*find(h, old[i].key, old[i].klen, old[i].hash) = old[i];
	}
	free(old);
}

void *
fr_htab_put(struct fr_htab *h, const char *k, void *v)
{
	size_t n = strlen(k);
	uint32_t hash = (uint32_t)fr_hash(k, n);
	struct slot *s;
	void *prev;

	if ((h->count + 1) * 4 > h->cap * 3)
		rehash(h);
	s = find(h, k, n, hash);
	prev = s->key ? s->val : NULL;
	if (!s->key) {
		s->key = k;
		s->klen = (uint32_t)n;
		s->hash = hash;
		h->count++;
	}
	s->val = v;
	return prev;
}

size_t
fr_htab_count(const struct fr_htab *h)
{
	return h->count;
}

int
fr_htab_next(const struct fr_htab *h, size_t *pos, const char **k, void **v)
{
	while (*pos < h->cap) {
		struct slot *s = &h->slot[(*pos)++];
		if (s->key) {
			if (k)
				*k = s->key;
			if (v)
				*v = s->val;
			return 1;
		}
	}
	return 0;
}
