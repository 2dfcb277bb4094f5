/* SPDX-License-Identifier: MIT */
/* t-digest: SHA-256 vectors, file digests with their stat data, stat
 * comparison and the hex round trip. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "tap.h"
#include "util.h"

static char *
hexof(const struct fr_digest *d)
{
	static char hex[2 * FR_DIGEST_LEN + 1];

	fr_digest_hex(d, hex);
	return hex;
}

static void
test_vectors(void)
{
	struct fr_digest d;
	struct fr_hasher h;
	struct fr_digest d1, d2;

	fr_digest_bytes("", 0, &d);
	is_str(hexof(&d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "sha256 of empty");
	fr_digest_bytes("abc", 3, &d);
	is_str(hexof(&d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "sha256 of abc");
	fr_digest_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, &d);
	is_str(hexof(&d), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	    "sha256 of the two-block vector");

	fr_hasher_init(&h);
	fr_hasher_add(&h, "a", 1);
	fr_hasher_add(&h, "", 0);
	fr_hasher_add(&h, "bc", 2);
	fr_hasher_final(&h, &d);
	is_str(hexof(&d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "incremental sha256 of abc");

	/* addstr = 8-byte little-endian length, then the bytes */
	fr_hasher_init(&h);
	fr_hasher_addstr(&h, "abc");
	fr_hasher_final(&h, &d1);
	fr_digest_bytes("\3\0\0\0\0\0\0\0abc", 11, &d2);
	ok(memcmp(d1.b, d2.b, FR_DIGEST_LEN) == 0, "addstr hashes the LE length then the bytes");

	fr_hasher_init(&h);
	fr_hasher_addstr(&h, "ab");
	fr_hasher_addstr(&h, "c");
	fr_hasher_final(&h, &d1);
	fr_hasher_init(&h);
	fr_hasher_addstr(&h, "a");
	fr_hasher_addstr(&h, "bc");
	fr_hasher_final(&h, &d2);
	ok(memcmp(d1.b, d2.b, FR_DIGEST_LEN) != 0, "addstr(ab,c) != addstr(a,bc)");
}

static void
test_file(const char *dir)
{
	char *path = fr_xasprintf("%s/data", dir), *big = fr_xasprintf("%s/big", dir);
	char *missing = fr_xasprintf("%s/missing", dir);
	struct fr_digest d, want;
	struct fr_stat st, st2;
	struct fr_error err;
	struct stat sb;
	char *buf;
	size_t n = 200 * 1024 + 17, i;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok(fd >= 0 && write(fd, "abc", 3) == 3 && close(fd) == 0, "write a small file");
	fr_error_clear(&err);
	ok(fr_digest_file(path, &d, &st, &err) == 0, "digest a small file");
	is_str(hexof(&d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "file digest of abc");
	stat(path, &sb);
	is_int(st.size, 3, "stat size");
	is_int(st.mtime_ns, (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec,
	    "stat mtime in ns");
	is_int(st.ctime_ns, (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec,
	    "stat ctime in ns");
	ok(st.ino == (uint64_t)sb.st_ino && st.dev == (uint64_t)sb.st_dev, "stat ino and dev");
	ok(fr_stat_path(path, &st2) == 0 && fr_stat_equal(&st, &st2),
	    "fr_stat_path equals the digest's stat");

	/* a file of several 64 KiB blocks with a partial last one */
	buf = fr_xmalloc(n);
	for (i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + i / 251);
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok(fd >= 0 && write(fd, buf, n) == (ssize_t)n && close(fd) == 0, "write a big file");
	fr_digest_bytes(buf, n, &want);
	ok(fr_digest_file(big, &d, &st, &err) == 0 && memcmp(d.b, want.b, FR_DIGEST_LEN) == 0,
	    "big file digest equals the digest of its bytes");
	is_int(st.size, (long long)n, "big file size");
	free(buf);

	ok(fr_digest_file(missing, &d, &st, &err) == -1, "missing file fails");
	ok(err.code == FR_ESYS && err.errnum == ENOENT, "with FR_ESYS and ENOENT");
	ok(strstr(err.text, "cannot read ") && strstr(err.text, missing) &&
	    strstr(err.text, strerror(ENOENT)), "message names the path and the cause: %s",
	    err.text);
	fr_error_clear(&err);
	ok(fr_digest_file(dir, &d, &st, &err) == -1 && err.code == FR_ESYS &&
	    err.errnum == EISDIR, "a directory fails to read (EISDIR)");
	errno = 0;
	ok(fr_stat_path(missing, &st) == -1 && errno == ENOENT, "fr_stat_path sets errno");

	unlink(path);
	unlink(big);
	free(path);
	free(big);
	free(missing);
}

static void
test_stat_equal(void)
{
	struct fr_stat a = { 10, 20, 30, 40, 50 }, b;

	b = a;
	ok(fr_stat_equal(&a, &b), "equal stats");
	b.size++;
	ok(!fr_stat_equal(&a, &b), "size differs");
	b = a;
	b.mtime_ns++;
	ok(!fr_stat_equal(&a, &b), "mtime differs");
	b = a;
	b.ctime_ns++;
	ok(!fr_stat_equal(&a, &b), "ctime differs");
	b = a;
	b.ino++;
	ok(!fr_stat_equal(&a, &b), "ino differs");
	b = a;
	b.dev++;
	ok(!fr_stat_equal(&a, &b), "dev differs");
}

static void
test_hex(void)
{
	struct fr_digest d, e;
	char hex[2 * FR_DIGEST_LEN + 1], up[2 * FR_DIGEST_LEN + 1];
	size_t i;

	for (i = 0; i < FR_DIGEST_LEN; i++)
		d.b[i] = (unsigned char)(i * 37 + 5);
	fr_digest_hex(&d, hex);
	is_int(strlen(hex), 64, "hex is 64 characters");
	ok(strspn(hex, "0123456789abcdef") == 64, "hex is lowercase");
	memset(&e, 0, sizeof(e));
	ok(fr_digest_parse(hex, 64, &e) == 0 && memcmp(d.b, e.b, FR_DIGEST_LEN) == 0,
	    "hex round trip");
	for (i = 0; i < 64; i++)
		up[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
	up[64] = '\0';
	ok(fr_digest_parse(up, 64, &e) == 0 && memcmp(d.b, e.b, FR_DIGEST_LEN) == 0,
	    "uppercase hex parses");
	ok(fr_digest_parse(hex, 63, &e) == -1, "63 digits rejected");
	ok(fr_digest_parse(hex, 65, &e) == -1, "65 digits rejected");
	hex[10] = 'g';
	e = d;
	ok(fr_digest_parse(hex, 64, &e) == -1 && memcmp(d.b, e.b, FR_DIGEST_LEN) == 0,
	    "a non-hex digit is rejected and leaves the digest alone");
}

int
main(void)
{
	char dir[] = "/tmp/t-digest.XXXXXX";

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	test_vectors();
	test_file(dir);
	test_stat_equal();
	test_hex();
	rmdir(dir);
	return done_testing();
}
