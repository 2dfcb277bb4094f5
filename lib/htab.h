/* SPDX-License-Identifier: MIT */
/* htab: a string-keyed hash table. Open addressing with linear probing over
 * 8-byte slots (an entry's index and 32 bits of its key's hash), the entries
 * themselves kept densely in insertion order, which is the iteration order.
 * Keys are borrowed: they must outlive the table. Values are opaque. */
#ifndef FR_HTAB_H
#define FR_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct fr_htab;

/* A new empty table with room for hint entries; never NULL. */
struct fr_htab *fr_htab_new(size_t hint);
/* The same for values that hold their own key: the string pointer at byte
 * offset keyoff in each value (fr_htab_put's k must be that very string).
 * Such a table spends 8 bytes an entry fewer. */
struct fr_htab *fr_htab_new_at(size_t hint, size_t keyoff);
/* Free the table (not keys or values); NULL is a no-op. */
void fr_htab_free(struct fr_htab *h);
/* Make room for n entries in all, so that adding up to n grows nothing. */
void fr_htab_reserve(struct fr_htab *h, size_t n);
/* The value stored under the n-byte key k, or NULL. */
void *fr_htab_getn(const struct fr_htab *h, const char *k, size_t n);
/* The value stored under the string k, or NULL. */
void *fr_htab_get(const struct fr_htab *h, const char *k);
/* Store v (not NULL) under the string k; returns the previous value or NULL
 * (a key already there keeps its place and its first key pointer). */
void *fr_htab_put(struct fr_htab *h, const char *k, void *v);
/* Number of entries. */
size_t fr_htab_count(const struct fr_htab *h);
/* Iterate in insertion order: start with *pos = 0; returns 0 at the end. */
int fr_htab_next(const struct fr_htab *h, size_t *pos, const char **k, void **v);
/* FNV-1a hash of n bytes. */
uint64_t fr_hash(const void *p, size_t n);

#endif
