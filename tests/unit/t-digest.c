/* SPDX-License-Identifier: MIT */
/* t-digest: SHA-256 vectors, file digests with their stat data, stat
 * comparison, the hex round trip, and pins (hex, SRI, SHA-384/512). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
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

/* Write "hello " and, a while later, "world" into the FIFO arg. */
static void *
fifowriter(void *arg)
{
	struct timespec pause = { 0, 50 * 1000000L };
	int fd = open(arg, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "hello ", 6) != 6)
			perror("write");
		nanosleep(&pause, NULL);
		if (write(fd, "world", 5) != 5)
			perror("write");
		close(fd);
	}
	return NULL;
}

/* Regular files end at their size; what is not a regular file ends only
 * where read says so, whatever short reads come before. */
static void
test_file_ends(const char *dir)
{
	char *path = fr_xasprintf("%s/blocks", dir), *fifo = fr_xasprintf("%s/fifo", dir);
	size_t sizes[] = { 0, 1, 65535, 65536, 65537, 131072 }, i, j;
	struct fr_digest d, want;
	struct fr_stat st;
	struct fr_error err;
	pthread_t th;
	char *buf;
	int fd, good = 1;

	buf = fr_xmalloc(131072);
	for (j = 0; j < 131072; j++)
		buf[j] = (char)(j * 13 + j / 241);
	for (i = 0; i < FR_NELEM(sizes); i++) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		good &= fd >= 0 && write(fd, buf, sizes[i]) == (ssize_t)sizes[i] && close(fd) == 0;
		fr_digest_bytes(buf, sizes[i], &want);
		fr_error_clear(&err);
		good &= fr_digest_file(path, &d, &st, &err) == 0 &&
		    memcmp(d.b, want.b, FR_DIGEST_LEN) == 0 && st.size == (int64_t)sizes[i];
	}
	ok(good, "files of 0, 1, 64 KiB - 1, 64 KiB, 64 KiB + 1 and 128 KiB");
	free(buf);
	unlink(path);

	ok(mkfifo(fifo, 0644) == 0 && pthread_create(&th, NULL, fifowriter, fifo) == 0,
	    "a FIFO with a writer");
	fr_digest_bytes("hello world", 11, &want);
	fr_error_clear(&err);
	ok(fr_digest_file(fifo, &d, &st, &err) == 0 && memcmp(d.b, want.b, FR_DIGEST_LEN) == 0,
	    "a FIFO is read to its end, past a short read");
	pthread_join(th, NULL);
	unlink(fifo);
	free(path);
	free(fifo);
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

static void
sri_roundtrip(const char *sri, enum fr_pin_algo algo, const char *hex, const char *what)
{
	struct fr_pinhasher h;
	struct fr_pin pin, got;
	const char *why = NULL;
	char out[200];

	ok(fr_pin_parse_sri(sri, strlen(sri), &pin, &why) == 0 && pin.algo == algo,
	    "%s: parses", what);
	fr_pin_format(&pin, 0, out, sizeof(out));
	is_str(out, hex, "%s: as hex", what);
	fr_pin_format(&pin, 1, out, sizeof(out));
	is_str(out, sri, "%s: formats back", what);
	fr_pinhasher_init(&h, algo);
	fr_pinhasher_add(&h, "a", 1);
	fr_pinhasher_add(&h, "bc", 2);
	fr_pinhasher_final(&h, &got);
	ok(fr_pin_equal(&pin, &got), "%s: equals the incremental hash of abc", what);
}

static void
test_pins(const char *dir)
{
	static const char s256[] = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
	struct fr_pin pin, other;
	struct fr_error err;
	const char *why;
	char *path = fr_xasprintf("%s/pinned", dir);
	int fd;

	sri_roundtrip(s256, FR_PIN_SHA256,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256");
	sri_roundtrip("sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn",
	    FR_PIN_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
	    "8086072ba1e7cc2358baeca134c825a7", "sha384");
	sri_roundtrip("sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1E"
	    "I2Q86A4qmslPpUyknw==", FR_PIN_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97e"
	    "a20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	    "sha512");
	ok(fr_pin_parse_sri(s256, strlen(s256) - 1, &pin, &why) == 0,
	    "padding is optional");
	ok(fr_pin_parse_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 64,
	    &other) == 0 && fr_pin_equal(&pin, &other), "a hex pin equals the same SRI pin");
	why = NULL;
	ok(fr_pin_parse_sri("md5-kAFQmDzST7DWlj99KOF/cg==", 28, &pin, &why) == -1 && why &&
	    strstr(why, "sha256-"), "an unknown algorithm is rejected: %s", why ? why : "");
	why = NULL;
	ok(fr_pin_parse_sri("sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAF", 49, &pin,
	    &why) == -1 && why, "a short digest is rejected: %s", why ? why : "");
	why = NULL;
	ok(fr_pin_parse_sri("sha256-ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=", 51, &pin,
	    &why) == -1 && why && strstr(why, "base64url"), "base64url is rejected: %s",
	    why ? why : "");
	why = NULL;
	ok(fr_pin_parse_sri("sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa1=", 51, &pin,
	    &why) == -1 && why, "stray bits in the last character are rejected");
	ok(fr_pin_parse_sri("sha256-", 7, &pin, &why) == -1, "an empty digest is rejected");

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok(fd >= 0 && write(fd, "abc", 3) == 3 && close(fd) == 0, "write a file to pin");
	fr_error_clear(&err);
	ok(fr_pin_file(path, FR_PIN_SHA384, &other, &err) == 0 && other.algo == FR_PIN_SHA384,
	    "hash a file in sha384");
	fr_pin_parse_sri("sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn",
	    71, &pin, &why);
	ok(fr_pin_equal(&pin, &other), "the file's sha384 equals the pin");
	unlink(path);
	ok(fr_pin_file(path, FR_PIN_SHA512, &other, &err) == -1 && err.errnum == ENOENT,
	    "a missing file fails with ENOENT");
	free(path);
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
	test_file_ends(dir);
	test_stat_equal();
	test_hex();
	test_pins(dir);
	rmdir(dir);
	return done_testing();
}
