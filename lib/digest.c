/* SPDX-License-Identifier: MIT */
/* digest: SHA-256 of bytes and files through OpenSSL's EVP interface (the only
 * module that includes OpenSSL), and the stat data that identifies a file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "digest.h"
#include "util.h"

#define BLOCK (64 * 1024)

/* EVP fails only when it cannot allocate: treat it like fr_xmalloc does. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* OpenSSL 3 looks the algorithm up in its providers on every implicit
 * EVP_sha256() init, which costs more than hashing a short string: fetch it
 * once, and keep one finished context per thread for the next hash. */
static EVP_MD *sha256;
static pthread_once_t fetched = PTHREAD_ONCE_INIT;
static _Thread_local EVP_MD_CTX *spare;

static void
fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	check(sha256 != NULL);
}

void
fr_hasher_init(struct fr_hasher *h)
{
	EVP_MD_CTX *ctx = spare;

	pthread_once(&fetched, fetch);
	spare = NULL;
	if (!ctx)
		ctx = EVP_MD_CTX_new();
	check(ctx != NULL);
	check(EVP_DigestInit_ex2(ctx, sha256, NULL));
	h->ctx = ctx;
}

void
fr_hasher_add(struct fr_hasher *h, const void *p, size_t n)
{
	if (n > 0)
		check(EVP_DigestUpdate(h->ctx, p, n));
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
	unsigned int len = 0;

	check(EVP_DigestFinal_ex(h->ctx, out->b, &len) && len == FR_DIGEST_LEN);
	if (spare)
		EVP_MD_CTX_free(h->ctx);
	else
		spare = h->ctx;
	h->ctx = NULL;
}

void
fr_digest_bytes(const void *p, size_t n, struct fr_digest *out)
{
	struct fr_hasher h;

	fr_hasher_init(&h);
	fr_hasher_add(&h, p, n);
	fr_hasher_final(&h, out);
}

static void
fromstat(struct fr_stat *st, const struct stat *sb)
{
	st->size = (int64_t)sb->st_size;
	st->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	st->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
	st->ino = (uint64_t)sb->st_ino;
	st->dev = (uint64_t)sb->st_dev;
}

int
fr_digest_file(const char *path, struct fr_digest *out, struct fr_stat *st,
    struct fr_error *err)
{
	struct fr_hasher h = { NULL };
	struct stat sb;
	char *buf = NULL;
	ssize_t n;
	int fd, saved, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fr_error_set(err, FR_ESYS, NULL, "cannot read %s:", path);
	if (fstat(fd, &sb) < 0)
		goto fail;
	fromstat(st, &sb);
	buf = fr_xmalloc(BLOCK);
	fr_hasher_init(&h);
	do {
		if ((n = fr_read_full(fd, buf, BLOCK)) < 0)
			goto fail;
		fr_hasher_add(&h, buf, (size_t)n);
	} while (n == BLOCK);
	fr_hasher_final(&h, out);
	ret = 0;
	goto cleanup;
fail:
	saved = errno;
	fr_error_set(err, FR_ESYS, NULL, "cannot read %s:", path);
	errno = saved;
cleanup:
	if (h.ctx)
		EVP_MD_CTX_free(h.ctx);
	free(buf);
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
	fromstat(st, &sb);
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
