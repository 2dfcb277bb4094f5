/* SPDX-License-Identifier: MIT */
/* digest: SHA-256 of bytes and files (OpenSSL libcrypto), the stat data
 * that tells whether a file may have changed since it was last hashed, and
 * content pins (a fetch task's sha256 or SRI integrity: SHA-256, -384, -512). */
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
	_Alignas(8) unsigned char ctx[128];	/* libcrypto's SHA256_CTX */
};

/* Start a SHA-256 computation. */
void fr_hasher_init(struct fr_hasher *h);
/* Add n bytes. */
void fr_hasher_add(struct fr_hasher *h, const void *p, size_t n);
/* Add a string with its length in front, so that ("ab","c") != ("a","bc"). */
void fr_hasher_addstr(struct fr_hasher *h, const char *s);
/* Finish into out. */
void fr_hasher_final(struct fr_hasher *h, struct fr_digest *out);
/* SHA-256 of n bytes. */
void fr_digest_bytes(const void *p, size_t n, struct fr_digest *out);
/* SHA-256 of a file's content, and its stat data taken on the same open file
 * descriptor (before reading). Returns 0, or -1 with err set (ENOENT included). */
int fr_digest_file(const char *path, struct fr_digest *out, struct fr_stat *st,
    struct fr_error *err);
struct stat;
/* SHA-256 of the rest of fd, whose fstat(2) data are sb (a regular file is
 * read up to its size without a read to see the end). 0, or -1 with errno set. */
int fr_digest_fd(int fd, const struct stat *sb, struct fr_digest *out);
/* stat(2) a path into st: 0, or -1 with errno set (no error record: a missing
 * file is an answer, not a failure). */
int fr_stat_path(const char *path, struct fr_stat *st);
/* st from what fstat(2) or stat(2) put in sb. */
void fr_stat_from(struct fr_stat *st, const struct stat *sb);
/* Whether two stat records are equal in every field. */
int fr_stat_equal(const struct fr_stat *a, const struct fr_stat *b);
/* Lowercase hex of d into out (65 bytes). */
void fr_digest_hex(const struct fr_digest *d, char out[2 * FR_DIGEST_LEN + 1]);
/* Parse 64 hex digits; 0 or -1. */
int fr_digest_parse(const char *hex, size_t len, struct fr_digest *d);

/* The digest a downloaded body must have. */
enum fr_pin_algo { FR_PIN_NONE, FR_PIN_SHA256, FR_PIN_SHA384, FR_PIN_SHA512 };

#define FR_PIN_MAXLEN 64

struct fr_pin {
	enum fr_pin_algo algo;
	unsigned char b[FR_PIN_MAXLEN];	/* the first fr_pin_len(algo) bytes */
};

/* An incremental hash in a pin's algorithm; init, add, then final. */
struct fr_pinhasher {
	void *ctx;	/* EVP_MD_CTX */
	enum fr_pin_algo algo;
};

/* The digest length of algo in bytes (0 for FR_PIN_NONE). */
size_t fr_pin_len(enum fr_pin_algo algo);
/* "sha256", "sha384", "sha512" (or "none"). */
const char *fr_pin_name(enum fr_pin_algo algo);
/* Parse a sha256 pin: 64 hex digits. 0, or -1 leaving pin alone. */
int fr_pin_parse_hex(const char *s, size_t len, struct fr_pin *pin);
/* Parse a Subresource Integrity value: sha256-, sha384- or sha512- and the
 * standard base64 of the digest (padding optional). 0, or -1 leaving pin alone
 * with *why saying what is wrong ("an unknown algorithm", "bad base64"...). */
int fr_pin_parse_sri(const char *s, size_t len, struct fr_pin *pin, const char **why);
/* Write pin as lowercase hex (sri 0) or as ALGO-BASE64 (sri 1) into out. */
void fr_pin_format(const struct fr_pin *pin, int sri, char *out, size_t n);
/* Whether a and b are the same algorithm and digest. */
int fr_pin_equal(const struct fr_pin *a, const struct fr_pin *b);
/* Start hashing in algo (not FR_PIN_NONE). */
void fr_pinhasher_init(struct fr_pinhasher *h, enum fr_pin_algo algo);
/* Add n bytes. */
void fr_pinhasher_add(struct fr_pinhasher *h, const void *p, size_t n);
/* Finish into out (NULL: discard) and release the context; a hasher that was
 * never initialised (ctx NULL) is left alone. */
void fr_pinhasher_final(struct fr_pinhasher *h, struct fr_pin *out);
/* Hash the content of path in algo into out. 0, or -1 with err set. */
int fr_pin_file(const char *path, enum fr_pin_algo algo, struct fr_pin *out,
    struct fr_error *err);

#endif
