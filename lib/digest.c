/* SPDX-License-Identifier: MIT */
/* digest: SHA-256 of bytes and files through OpenSSL's libcrypto (the only
 * module that includes OpenSSL), and the stat data that identifies a file. */
#define _POSIX_C_SOURCE 200809L
#define OPENSSL_SUPPRESS_DEPRECATED	/* SHA256_Init and co.: see fr_hasher_init */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "digest.h"
#include "util.h"

#define BLOCK (64 * 1024)

/* libcrypto fails to hash only when it cannot allocate: treat it like fr_xmalloc does. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* The pins of downloads (SHA-256, -384, -512) go through EVP, fetched once:
 * OpenSSL 3 looks an algorithm up in its providers on every implicit
 * EVP_sha256() init. Only a run that checks a pin pays for that. */
static EVP_MD *sha256, *sha384, *sha512;
static pthread_once_t fetched = PTHREAD_ONCE_INIT;

static void
fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
	check(sha256 != NULL && sha384 != NULL && sha512 != NULL);
}

/* Every other SHA-256 (a task's key, a file's content) goes through the
 * low-level functions, deprecated since OpenSSL 3.0 but kept in it. They need
 * no provider: EVP's first use initialises the default provider and reads
 * the configuration, about 1.9 MB of a process's memory at its peak, and a
 * context per hash from the heap; these hash in a context on the stack. */
_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct fr_hasher *)0)->ctx),
    "struct fr_hasher holds a SHA256_CTX");
_Static_assert(_Alignof(SHA256_CTX) <= _Alignof(struct fr_hasher),
    "struct fr_hasher is aligned for a SHA256_CTX");

static SHA256_CTX *
ctxof(struct fr_hasher *h)
{
	return (SHA256_CTX *)(void *)h->ctx;
}

void
fr_hasher_init(struct fr_hasher *h)
{
	check(SHA256_Init(ctxof(h)));
}

void
fr_hasher_add(struct fr_hasher *h, const void *p, size_t n)
{
	if (n > 0)
		check(SHA256_Update(ctxof(h), p, n));
}

void
fr_hasher_addstr(struct fr_hasher *h, const char *s)
{
	uint64_t n = strlen(s);
	unsigned char len[8];
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(n >> (8 * i));
	fr_hasher_add(h, len, sizeof(len));
	fr_hasher_add(h, s, (size_t)n);
}

void
fr_hasher_final(struct fr_hasher *h, struct fr_digest *out)
{
	check(SHA256_Final(out->b, ctxof(h)));
}

void
fr_digest_bytes(const void *p, size_t n, struct fr_digest *out)
{
	struct fr_hasher h;

	fr_hasher_init(&h);
	fr_hasher_add(&h, p, n);
	fr_hasher_final(&h, out);
}

void
fr_stat_from(struct fr_stat *st, const struct stat *sb)
{
	st->size = (int64_t)sb->st_size;
	st->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	st->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
	st->ino = (uint64_t)sb->st_ino;
	st->dev = (uint64_t)sb->st_dev;
}

static void
addsha(void *h, const void *p, size_t n)
{
	fr_hasher_add(h, p, n);
}

static void
addpin(void *h, const void *p, size_t n)
{
	fr_pinhasher_add(h, p, n);
}

/* Add the rest of fd to h with add: 0, or -1 with errno set.
 * size: that of a regular file (fstat's), else -1. A regular file ends at a
 * short read once size bytes came: no read is spent to see the end. Any
 * other file (and one that came out shorter) is read until read says 0. */
static int
hashfd(int fd, void (*add)(void *h, const void *p, size_t n), void *h, int64_t size)
{
	char *buf = fr_xmalloc(BLOCK);
	int64_t total = 0;
	ssize_t n;

	for (;;) {
		if ((n = read(fd, buf, BLOCK)) < 0) {
			int saved = errno;
			if (saved == EINTR)
				continue;
			free(buf);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		add(h, buf, (size_t)n);
		total += n;
		if (n < BLOCK && size > 0 && total >= size)
			break;
	}
	free(buf);
	return 0;
}

int
fr_digest_fd(int fd, const struct stat *sb, struct fr_digest *out)
{
	struct fr_hasher h;

	fr_hasher_init(&h);
	if (hashfd(fd, addsha, &h, S_ISREG(sb->st_mode) ? (int64_t)sb->st_size : -1) < 0)
		return -1;
	fr_hasher_final(&h, out);
	return 0;
}

int
fr_digest_file(const char *path, struct fr_digest *out, struct fr_stat *st,
    struct fr_error *err)
{
	struct stat sb;
	int fd, saved, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fr_error_set(err, FR_ESYS, NULL, "cannot read %s:", path);
	if (fstat(fd, &sb) < 0)
		goto fail;
	fr_stat_from(st, &sb);
	if (fr_digest_fd(fd, &sb, out) < 0)
		goto fail;
	ret = 0;
	goto cleanup;
fail:
	saved = errno;
	fr_error_set(err, FR_ESYS, NULL, "cannot read %s:", path);
	errno = saved;
cleanup:
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int
fr_stat_path(const char *path, struct fr_stat *st)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return -1;
	fr_stat_from(st, &sb);
	return 0;
}

int
fr_stat_equal(const struct fr_stat *a, const struct fr_stat *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns &&
	    a->ctime_ns == b->ctime_ns && a->ino == b->ino && a->dev == b->dev;
}

void
fr_digest_hex(const struct fr_digest *d, char out[2 * FR_DIGEST_LEN + 1])
{
	fr_hex(out, d->b, FR_DIGEST_LEN);
}

/* Hex digit values, -1 for anything else. */
static const signed char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
	['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
	['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
	['F'] = 16,
};	/* stored +1 so that 0 means "not a digit" */

int
fr_digest_parse(const char *hex, size_t len, struct fr_digest *d)
{
	struct fr_digest tmp;
	size_t i;
	int hi, lo;

	if (len != 2 * FR_DIGEST_LEN)
		return -1;
	for (i = 0; i < FR_DIGEST_LEN; i++) {
		hi = hexval[(unsigned char)hex[2 * i]] - 1;
		lo = hexval[(unsigned char)hex[2 * i + 1]] - 1;
		if (hi < 0 || lo < 0)
			return -1;
		tmp.b[i] = (unsigned char)(hi << 4 | lo);
	}
	*d = tmp;
	return 0;
}

/* --- pins ---------------------------------------------------------------- */

size_t
fr_pin_len(enum fr_pin_algo algo)
{
	switch (algo) {
	case FR_PIN_SHA256: return 32;
	case FR_PIN_SHA384: return 48;
	case FR_PIN_SHA512: return 64;
	case FR_PIN_NONE: break;
	}
	return 0;
}

const char *
fr_pin_name(enum fr_pin_algo algo)
{
	switch (algo) {
	case FR_PIN_SHA256: return "sha256";
	case FR_PIN_SHA384: return "sha384";
	case FR_PIN_SHA512: return "sha512";
	case FR_PIN_NONE: break;
	}
	return "none";
}

int
fr_pin_parse_hex(const char *s, size_t len, struct fr_pin *pin)
{
	struct fr_digest d;

	if (fr_digest_parse(s, len, &d) < 0)
		return -1;
	memset(pin, 0, sizeof(*pin));
	pin->algo = FR_PIN_SHA256;
	memcpy(pin->b, d.b, FR_DIGEST_LEN);
	return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int
fr_pin_parse_sri(const char *s, size_t len, struct fr_pin *pin, const char **why)
{
	static const enum fr_pin_algo algos[] = { FR_PIN_SHA256, FR_PIN_SHA384, FR_PIN_SHA512 };
	struct fr_pin tmp = { FR_PIN_NONE, { 0 } };
	size_t i, n = 0, want, chars, pad = 0;
	uint32_t acc = 0;
	int bits = 0, v;

	for (i = 0; i < FR_NELEM(algos); i++) {
		const char *name = fr_pin_name(algos[i]);
		if (len > 7 && strncmp(s, name, 6) == 0 && s[6] == '-') {
			tmp.algo = algos[i];
			break;
		}
	}
	if (tmp.algo == FR_PIN_NONE) {
		*why = "it must start with sha256-, sha384- or sha512-";
		return -1;
	}
	s += 7;
	len -= 7;
	while (pad < 2 && len > 0 && s[len - 1] == '=') {
		len--;
		pad++;
	}
	want = fr_pin_len(tmp.algo);
	chars = (want * 8 + 5) / 6;	/* base64 characters without padding */
	for (i = 0; i < len; i++) {
		if ((v = b64val(s[i])) < 0) {
			*why = s[i] == '-' || s[i] == '_' ? "it uses base64url; SRI is standard "
			    "base64 (+ and /)" : "it is not valid base64";
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < want)
				tmp.b[n] = (unsigned char)(acc >> bits);
			n++;
		}
	}
	if (len != chars || n != want || (pad && (len + pad) % 4 != 0) ||
	    (acc & ((1u << bits) - 1)) != 0) {
		static const char *const lenwhy[] = {
			"its base64 is not the 32 bytes of a SHA-256 digest",
			"its base64 is not the 48 bytes of a SHA-384 digest",
			"its base64 is not the 64 bytes of a SHA-512 digest",
		};
		*why = lenwhy[tmp.algo - FR_PIN_SHA256];
		return -1;
	}
	*pin = tmp;
	return 0;
}

void
fr_pin_format(const struct fr_pin *pin, int sri, char *out, size_t n)
{
	size_t len = fr_pin_len(pin->algo), i, o = 0;
	char buf[2 * FR_PIN_MAXLEN + 16];
	uint32_t acc = 0;
	int bits = 0;

	if (!sri) {
		fr_hex(buf, pin->b, len);
		snprintf(out, n, "%s", buf);
		return;
	}
	o = (size_t)snprintf(buf, sizeof(buf), "%s-", fr_pin_name(pin->algo));
	for (i = 0; i < len; i++) {
		acc = acc << 8 | pin->b[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			buf[o++] = b64[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		buf[o++] = b64[(acc << (6 - bits)) & 63];
	while ((o - 7) % 4 != 0)
		buf[o++] = '=';
	buf[o] = '\0';
	snprintf(out, n, "%s", buf);
}

int
fr_pin_equal(const struct fr_pin *a, const struct fr_pin *b)
{
	return a->algo == b->algo && memcmp(a->b, b->b, fr_pin_len(a->algo)) == 0;
}

void
fr_pinhasher_init(struct fr_pinhasher *h, enum fr_pin_algo algo)
{
	const EVP_MD *md;

	pthread_once(&fetched, fetch);
	md = algo == FR_PIN_SHA512 ? sha512 : algo == FR_PIN_SHA384 ? sha384 : sha256;
	h->algo = algo;
	h->ctx = EVP_MD_CTX_new();
	check(h->ctx != NULL);
	check(EVP_DigestInit_ex2(h->ctx, md, NULL));
}

void
fr_pinhasher_add(struct fr_pinhasher *h, const void *p, size_t n)
{
	if (n > 0)
		check(EVP_DigestUpdate(h->ctx, p, n));
}

void
fr_pinhasher_final(struct fr_pinhasher *h, struct fr_pin *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!h->ctx)
		return;
	check(EVP_DigestFinal_ex(h->ctx, md, &len) && len == fr_pin_len(h->algo));
	if (out) {
		memset(out, 0, sizeof(*out));
		out->algo = h->algo;
		memcpy(out->b, md, len);
	}
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int
fr_pin_file(const char *path, enum fr_pin_algo algo, struct fr_pin *out, struct fr_error *err)
{
	struct fr_pinhasher h = { NULL, algo };
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fr_error_set(err, FR_ESYS, NULL, "cannot read %s:", path);
	fr_pinhasher_init(&h, algo);
	if (hashfd(fd, addpin, &h, -1) < 0) {
		saved = errno;
		fr_pinhasher_final(&h, NULL);
		close(fd);
		errno = saved;
		return fr_error_set(err, FR_ESYS, NULL, "cannot read %s:", path);
	}
	fr_pinhasher_final(&h, out);
	close(fd);
	return 0;
}
