/* SPDX-License-Identifier: MIT */
/* t-htab: the string-keyed table: lookups, replacement, growth, reserve,
 * iteration in insertion order, and values that hold their keys. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "tap.h"

#define N 5000

/* A value that holds its key, not first. */
struct item {
	int n;
	const char *name;
};

int
main(void)
{
	static char keys[N][16];
	struct fr_htab *h = fr_htab_new(0);
	const char *k;
	void *v;
	size_t i, pos, bad;
	int inorder;

	ok(fr_htab_get(h, "x") == NULL, "empty table finds nothing");
	is_int(fr_htab_count(h), 0, "empty table counts 0");
	pos = 0;
	ok(!fr_htab_next(h, &pos, &k, &v), "empty table iterates nothing");

	/* keys whose bytes are prefixes of each other */
	ok(fr_htab_put(h, "ab", "AB") == NULL, "put ab");
	ok(fr_htab_put(h, "abc", "ABC") == NULL, "put abc");
	ok(fr_htab_put(h, "a", "A") == NULL, "put a");
	is_str(fr_htab_get(h, "ab"), "AB", "ab found");
	is_str(fr_htab_get(h, "abc"), "ABC", "abc found");
	is_str(fr_htab_get(h, "a"), "A", "a found");
	ok(fr_htab_get(h, "abcd") == NULL, "a longer key is another key");
	ok(fr_htab_get(h, "") == NULL, "the empty key is not there");
	is_str(fr_htab_getn(h, "abcdef", 2), "AB", "getn takes n bytes: ab");
	is_str(fr_htab_getn(h, "abcdef", 3), "ABC", "getn takes n bytes: abc");
	ok(fr_htab_getn(h, "abcdef", 4) == NULL, "getn of 4 bytes: none");

	/* replacing keeps the place and the count */
	is_str(fr_htab_put(h, "ab", "AB2"), "AB", "put again returns the previous value");
	is_str(fr_htab_get(h, "ab"), "AB2", "put again replaces the value");
	is_int(fr_htab_count(h), 3, "replacing adds no entry");
	pos = 0;
	fr_htab_next(h, &pos, &k, &v);
	is_str(k, "ab", "a replaced key keeps its place (first)");
	is_str(v, "AB2", "and iterates its new value");
	fr_htab_free(h);

	/* many keys, through several growths: all found, in insertion order */
	h = fr_htab_new(4);
	for (i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", (i * 7919) % 100003);
		fr_htab_put(h, keys[i], (void *)(uintptr_t)(i + 1));
	}
	is_int(fr_htab_count(h), N, "%d keys counted", N);
	for (i = 0, bad = 0; i < N; i++)
		if (fr_htab_get(h, keys[i]) != (void *)(uintptr_t)(i + 1))
			bad++;
	is_int(bad, 0, "every key finds its value after growing");
	ok(fr_htab_get(h, "k100004") == NULL, "an absent key among many");
	inorder = 1;
	for (pos = 0, i = 0; fr_htab_next(h, &pos, &k, &v); i++)
		if (i >= N || k != keys[i] || v != (void *)(uintptr_t)(i + 1))
			inorder = 0;
	ok(inorder && i == N, "iteration gives the keys in insertion order");

	/* reserve changes no content, and keeps the order */
	fr_htab_reserve(h, 4 * N);
	for (i = 0, bad = 0; i < N; i++)
		if (fr_htab_get(h, keys[i]) != (void *)(uintptr_t)(i + 1))
			bad++;
	is_int(bad, 0, "every key found after reserve");
	pos = 0;
	fr_htab_next(h, &pos, &k, NULL);
	ok(k == keys[0], "the first key is still first after reserve");
	fr_htab_reserve(h, 1);
	is_int(fr_htab_count(h), N, "a smaller reserve drops nothing");
	fr_htab_free(h);
	fr_htab_free(NULL);

	/* values that hold their keys: the same answers through growth */
	{
		static struct item it[N], again;
		h = fr_htab_new_at(2, offsetof(struct item, name));
		for (i = 0; i < N; i++) {
			it[i].n = (int)i;
			it[i].name = keys[i];
			ok(i > 0 || fr_htab_put(h, it[i].name, &it[i]) == NULL, "a first value");
			if (i > 0)
				fr_htab_put(h, it[i].name, &it[i]);
		}
		is_int(fr_htab_count(h), N, "%d values that hold their keys", N);
		for (i = 0, bad = 0; i < N; i++)
			if (fr_htab_get(h, keys[i]) != &it[i])
				bad++;
		is_int(bad, 0, "each found by its own key after growing");
		ok(fr_htab_get(h, "k100004") == NULL, "an absent key");
		is_int(((struct item *)fr_htab_getn(h, "k0zzz", 2))->n, 0, "getn: k0");
		again.name = keys[7];
		ok(fr_htab_put(h, again.name, &again) == &it[7], "replaced: the previous value");
		ok(fr_htab_get(h, keys[7]) == &again, "and the new one found");
		inorder = 1;
		for (pos = 0, i = 0; fr_htab_next(h, &pos, &k, &v); i++)
			if (i >= N || strcmp(k, keys[i]) != 0 || v != (i == 7 ? &again : &it[i]))
				inorder = 0;
		ok(inorder && i == N, "iterated in insertion order, keys from the values");
		fr_htab_free(h);
	}
	return done_testing();
}
