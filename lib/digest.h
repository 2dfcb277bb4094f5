/* SPDX-License-Identifier: MIT */
/* digest: SHA-256 of bytes and files (OpenSSL libcrypto), and the stat data
 * that tells whether a file may have changed since it was last hashed. */
#ifndef FR_DIGEST_H
#define FR_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define FR_DIGEST_LEN 32

struct fr_digest {
	unsigned char b[FR_DIGEST_LEN];
};

/* What identifies a file's content cheaply: equal stat data means unchanged. */
struct fr_stat {
	int64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ino;
	uint64_t dev;
};

/* An incremental hash; fr_hasher_init then any number of add, then final. */
struct fr_hasher {
	void *ctx;	/* EVP_MD_CTX */
};

/* Start a SHA-256 computation. */
void fr_hasher_init(struct fr_hasher *h);
/* Add n bytes. */
void fr_hasher_add(struct fr_hasher *h, const void *p, size_t n);
/* Add a string with its length in front, so that ("ab","c") != ("a","bc"). */
void fr_hasher_addstr(struct fr_hasher *h, const char *s);
/* Finish into out and release the context. */
void fr_hasher_final(struct fr_hasher *h, struct fr_digest *out);
/* SHA-256 of n bytes. */
void fr_digest_bytes(const void *p, size_t n, struct fr_digest *out);
/* SHA-256 of a file's content, and its stat data taken on the same open file
 * descriptor (before reading). Returns 0, or -1 with err set (ENOENT included). */
int fr_digest_file(const char *path, struct fr_digest *out, struct fr_stat *st,
    struct fr_error *err);
/* stat(2) a path into st: 0, or -1 with errno set (no error record: a missing
 * file is an answer, not a failure). */
int fr_stat_path(const char *path, struct fr_stat *st);
/* Whether two stat records are equal in every field. */
int fr_stat_equal(const struct fr_stat *a, const struct fr_stat *b);
/* Lowercase hex of d into out (65 bytes). */
void fr_digest_hex(const struct fr_digest *d, char out[2 * FR_DIGEST_LEN + 1]);
/* Parse 64 hex digits; 0 or -1. */
int fr_digest_parse(const char *hex, size_t len, struct fr_digest *d);

#endif
