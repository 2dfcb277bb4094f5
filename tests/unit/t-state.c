/* SPDX-License-Identifier: MIT */
/* t-state: the state file's round trip, damage handling, compaction, locking
 * and write failures, and the time to load 100,000 records. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE		/* mount */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mount.h>
#endif

#include "buf.h"
#include "log.h"
#include "state.h"
#include "tap.h"
#include "util.h"

static char *top;		/* the temporary directory of this run */
static int nwarn;
static char lastwarn[2048];

static void
sink(enum fr_loglevel level, const char *msg, void *arg)
{
	(void)arg;
	if (level == FR_LOG_WARN) {
		nwarn++;
		snprintf(lastwarn, sizeof(lastwarn), "%s", msg);
	}
}

/* A record and the storage it points into. */
struct rb {
	struct fr_state_rec r;
	struct fr_state_item item[6];
	struct fr_digest idig[6];	/* what the items point at */
	char iname[6][64];
	char name[64], result[128];
};

static void
dig(struct fr_digest *d, unsigned seed, unsigned salt)
{
	size_t i;

	for (i = 0; i < FR_DIGEST_LEN; i++)
		d->b[i] = (unsigned char)(seed * 31 + salt * 7 + i);
}

/* name and result are copied; result NULL for none. Two inputs, one output and
 * (if deps) three deps, with names that need escaping. */
static struct fr_state_rec *
build(struct rb *b, const char *name, const char *result, unsigned seed, int deps)
{
	size_t i, n = deps ? 6 : 3;

	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->r.name = b->name;
	if (result) {
		snprintf(b->result, sizeof(b->result), "%s", result);
		b->r.result = b->result;
	}
	dig(&b->r.key, seed, 1);
	dig(&b->r.cmd, seed, 2);
	dig(&b->r.env, seed, 3);
	b->r.duration_ns = (int64_t)seed * 1000003 - 5;
	for (i = 0; i < n; i++) {
		snprintf(b->iname[i], sizeof(b->iname[i]), "it\t%zu\n%u\\x\r", i, seed);
		b->item[i].name = b->iname[i];
		b->item[i].digest = &b->idig[i];
		dig(&b->idig[i], seed, 10 + (unsigned)i);
	}
	b->r.input = b->item;
	b->r.ninput = 2;
	b->r.output = b->item + 2;
	b->r.noutput = 1;
	b->r.dep = b->item + 3;
	b->r.ndep = n - 3;
	return &b->r;
}

static int
items_eq(const struct fr_state_item *a, const struct fr_state_item *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(a[i].name, b[i].name) != 0 ||
		    memcmp(a[i].digest->b, b[i].digest->b, FR_DIGEST_LEN) != 0)
			return 0;
	}
	return 1;
}

static int
receq(const struct fr_state_rec *a, const struct fr_state_rec *b)
{
	return a && b && strcmp(a->name, b->name) == 0 &&
	    memcmp(a->key.b, b->key.b, FR_DIGEST_LEN) == 0 &&
	    memcmp(a->cmd.b, b->cmd.b, FR_DIGEST_LEN) == 0 &&
	    memcmp(a->env.b, b->env.b, FR_DIGEST_LEN) == 0 &&
	    a->duration_ns == b->duration_ns &&
	    (a->result && b->result ? strcmp(a->result, b->result) == 0 : a->result == b->result) &&
	    a->ninput == b->ninput && a->noutput == b->noutput && a->ndep == b->ndep &&
	    items_eq(a->input, b->input, a->ninput) && items_eq(a->output, b->output, a->noutput) &&
	    items_eq(a->dep, b->dep, a->ndep);
}

static char *
slurp(const char *path, size_t *len)
{
	struct stat sb;
	char *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb) < 0)
		return NULL;
	p = fr_xmalloc((size_t)sb.st_size + 1);
	*len = (size_t)read(fd, p, (size_t)sb.st_size);
	p[*len] = '\0';
	close(fd);
	return p;
}

static void
spit(const char *path, const char *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		printf("# cannot write %s\n", path);
	close(fd);
}

/* The layout of version 2 (see lib/staterec.c), to find and forge records. */
#define HDRLEN 24
#define NAMEOFF 12

/* CRC32C bit by bit: checks the library's table or instruction. */
static uint32_t
crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static uint32_t
get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The offsets of the records of the file text (len bytes), found by their
 * lengths, into off (up to max of them); their number. */
static size_t
records(const char *text, size_t len, size_t *off, size_t max)
{
	size_t at = HDRLEN, n = 0;
	uint32_t l;

	while (text && at + 16 <= len && (l = get32(text + at + 4)) >= 16 && l <= len - at) {
		if (n < max)
			off[n] = at;
		n++;
		at += l;
	}
	return n;
}

static size_t
nrecs(const char *path)
{
	size_t len, n;
	char *p = slurp(path, &len);

	n = records(p, len, NULL, 0);
	free(p);
	return n;
}

/* The offset of the record of type and name in text, or 0. */
static size_t
findrec(const char *text, size_t len, char type, const char *name)
{
	size_t off[4096], n = records(text, len, off, 4096), i;

	for (i = 0; i < n && i < 4096; i++) {
		if (text[off[i] + 2] == type && strcmp(text + off[i] + NAMEOFF, name) == 0)
			return off[i];
	}
	return 0;
}

/* A fresh state directory name (not created) and its state file. */
static char *
newdir(const char *what, char **state)
{
	static int n;
	char *dir = fr_xasprintf("%s/%d-%s", top, ++n, what);

	*state = fr_xasprintf("%s/state", dir);
	return dir;
}

static void
rmstate(char *dir, char *state)
{
	char *p;

	unlink(state);
	p = fr_xasprintf("%s/lock", dir);
	unlink(p);
	free(p);
	p = fr_xasprintf("%s/state.tmp", dir);
	unlink(p);
	free(p);
	rmdir(dir);
	free(dir);
	free(state);
}

static struct fr_state *
sopen(const char *dir, enum fr_lock_mode mode)
{
	struct fr_error err;
	struct fr_state *s;

	fr_error_clear(&err);
	s = fr_state_open(dir, mode, NULL, NULL, &err);
	if (!s)
		printf("# open %s: %s\n", dir, err.text);
	return s;
}

static int
sclose(struct fr_state *s)
{
	struct fr_error err;

	fr_error_clear(&err);
	if (fr_state_close(s, &err) < 0) {
		printf("# close: %s\n", err.text);
		return -1;
	}
	return 0;
}

static int
sput(struct fr_state *s, const struct fr_state_rec *r)
{
	struct fr_error err;

	fr_error_clear(&err);
	if (fr_state_put(s, r, &err) < 0) {
		printf("# put: %s\n", err.text);
		return -1;
	}
	return 0;
}

/* Put n records named prefix0..prefix(n-1) with seeds base+i, and close. */
static void
fill(const char *dir, const char *prefix, int n, unsigned base)
{
	struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
	struct rb b;
	char name[64];
	int i;

	for (i = 0; s && i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		sput(s, build(&b, name, "{\"n\":1}", base + (unsigned)i, i % 2));
	}
	sclose(s);
}

static void
test_roundtrip(void)
{
	char *state, *dir = newdir("roundtrip", &state);
	struct rb b[5];
	struct fr_state *s;
	const struct fr_state_rec *got;
	size_t len, i;
	char *text;

	build(&b[0], "a\tb\nc\\d\re[x=1]", "{\"s\":\"q\\\"uo\\\\te\\tx\",\"n\":[1,2]}", 1, 1);
	build(&b[1], "noresult", NULL, 2, 0);
	build(&b[2], "dash", "-", 3, 1);
	build(&b[3], "empty", "", 4, 0);
	build(&b[4], "-", "\\-", 5, 1);
	b[1].r.ninput = b[1].r.noutput = b[1].r.ndep = 0;
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(s != NULL, "open creates the state directory");
	for (i = 0; s && i < 5; i++)
		sput(s, &b[i].r);
	got = s ? fr_state_get(s, b[0].name) : NULL;
	strcpy(b[0].name, "changed");	/* put copied the record */
	strcpy(b[0].iname[0], "changed");
	build(&b[0], "a\tb\nc\\d\re[x=1]", "{\"s\":\"q\\\"uo\\\\te\\tx\",\"n\":[1,2]}", 1, 1);
	ok(receq(got, &b[0].r), "get before close returns a deep copy");
	ok(s && fr_state_get(s, "nothing") == NULL, "get of an unknown name is NULL");
	ok(sclose(s) == 0, "close");
	text = slurp(state, &len);
	ok(text && len > HDRLEN && memcmp(text, "flowrun-state 2\n", 16) == 0 &&
	    get32(text + 16) == 0x01020304 && get32(text + 20) == 0,
	    "file starts with the header, in host byte order");
	is_int(records(text, len, NULL, 0), 5, "then five records");
	ok(findrec(text, len, 'T', b[0].name) && findrec(text, len, 'T', "-"), "named in place");
	free(text);

	s = sopen(dir, FR_LOCK_FAIL);
	is_int(s ? fr_state_count(s) : 0, 5, "five records after reopening");
	for (i = 0; s && i < 5; i++)
		ok(receq(fr_state_get(s, b[i].name), &b[i].r), "record %zu round trips", i);
	got = s ? fr_state_get(s, "noresult") : NULL;
	ok(got && got->result == NULL && got->ninput == 0, "NULL result stays NULL");
	got = s ? fr_state_get(s, "dash") : NULL;
	is_str(got ? got->result : NULL, "-", "result \"-\" is not taken for none");
	ok(s && fr_state_get(s, "dash") == fr_state_get(s, "dash"), "get caches the parsed record");
	fr_state_close(s, NULL);
	is_int(nwarn, 0, "no warnings");
	ok(fr_state_close(NULL, NULL) == 0, "closing NULL is a no-op");
	rmstate(dir, state);
}

static void
test_supersede(void)
{
	char *state, *dir = newdir("supersede", &state);
	struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
	struct rb b1, b2, b3;
	const struct fr_state_rec *old;

	build(&b1, "t", "1", 1, 1);
	build(&b2, "t", "2", 2, 0);
	sput(s, &b1.r);
	old = fr_state_get(s, "t");
	sput(s, &b2.r);
	ok(receq(old, &b1.r), "a record got earlier stays valid across a put");
	ok(receq(fr_state_get(s, "t"), &b2.r), "a put supersedes in memory");
	sclose(s);
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(fr_state_count(s), 1, "one record");
	ok(receq(fr_state_get(s, "t"), &b2.r), "the later line supersedes on load");
	old = fr_state_get(s, "t");
	build(&b3, "t", "3", 3, 1);
	sput(s, old);	/* put a borrowed record */
	sput(s, &b3.r);
	sput(s, &b2.r);
	sclose(s);
	s = sopen(dir, FR_LOCK_FAIL);
	ok(receq(fr_state_get(s, "t"), &b2.r), "the last of several puts wins");
	sclose(s);
	is_int(nrecs(state), 5, "every put appended a record");
	rmstate(dir, state);
}

static void
test_files(void)
{
	char *state, *dir = newdir("files", &state);
	struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
	struct fr_stat st1 = { 100, -5, 1700000000123456789, 42, 0xffffffffffffffffull }, st2, got;
	struct fr_digest d1, d2, gd;
	struct rb b;
	size_t len1, len2;
	char *before, *after;

	st2 = st1;
	st2.size = 0;
	st2.ino = 7;
	dig(&d1, 1, 1);
	dig(&d2, 2, 2);
	fr_state_file_set(s, "in/a.csv", &st1, &d1);
	fr_state_file_set(s, "tab\there\nnl", &st2, &d2);
	fr_state_file_set(s, "in/b", &st2, &d1);
	fr_state_file_set(s, "in/b", &st1, &d2);
	ok(fr_state_file_get(s, "in/a.csv", &got, &gd) == 0 && fr_stat_equal(&got, &st1) &&
	    memcmp(gd.b, d1.b, FR_DIGEST_LEN) == 0, "file_get before writing");
	ok(fr_state_file_get(s, "in/none", &got, &gd) == -1, "unknown file is -1");
	sclose(s);
	is_int(nrecs(state), 3, "file records are written at close");
	s = sopen(dir, FR_LOCK_FAIL);
	ok(fr_state_file_get(s, "in/a.csv", &got, &gd) == 0 && fr_stat_equal(&got, &st1) &&
	    memcmp(gd.b, d1.b, FR_DIGEST_LEN) == 0, "file record round trips (negative, big values)");
	ok(fr_state_file_get(s, "tab\there\nnl", &got, &gd) == 0 && fr_stat_equal(&got, &st2) &&
	    memcmp(gd.b, d2.b, FR_DIGEST_LEN) == 0, "path with tab and newline round trips");
	ok(fr_state_file_get(s, "in/b", &got, &gd) == 0 && fr_stat_equal(&got, &st1) &&
	    memcmp(gd.b, d2.b, FR_DIGEST_LEN) == 0, "the last set wins");
	is_int(fr_state_count(s), 0, "file records are not task records");
	before = slurp(state, &len1);
	fr_state_file_set(s, "in/a.csv", &st1, &d1);	/* unchanged: nothing to write */
	sclose(s);
	after = slurp(state, &len2);
	ok(len1 == len2 && memcmp(before, after, len1) == 0, "setting an unchanged file writes nothing");
	free(before);
	free(after);

	s = sopen(dir, FR_LOCK_FAIL);
	st1.mtime_ns++;
	fr_state_file_set(s, "in/a.csv", &st1, &d1);
	sput(s, build(&b, "task", NULL, 1, 0));
	is_int(nrecs(state), 5, "put appends the pending file record and its own");
	sclose(s);
	is_int(nrecs(state), 5, "nothing left to write at close");
	s = sopen(dir, FR_LOCK_FAIL);
	ok(fr_state_file_get(s, "in/a.csv", &got, NULL) == 0 && got.mtime_ns == st1.mtime_ns,
	    "the changed stat data was saved");
	sclose(s);
	rmstate(dir, state);
}

static void
test_torn(void)
{
	char *state, *dir = newdir("torn", &state);
	struct fr_state *s, *ro;
	struct rb b;
	size_t len;
	char *text;

	fill(dir, "r", 3, 10);
	text = slurp(state, &len);
	ok(truncate(state, (off_t)len - 20) == 0, "truncate the file mid-record");
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(nwarn, 1, "one warning");
	ok(strstr(lastwarn, "dropped 1 damaged records") && strstr(lastwarn, state),
	    "it says so: %s", lastwarn);
	is_int(fr_state_count(s), 2, "two records left");
	ok(receq(fr_state_get(s, "r0"), build(&b, "r0", "{\"n\":1}", 10, 0)) &&
	    receq(fr_state_get(s, "r1"), build(&b, "r1", "{\"n\":1}", 11, 1)),
	    "the earlier records are kept");
	ok(fr_state_get(s, "r2") == NULL, "the torn one is gone");
	sput(s, build(&b, "r2", "\"again\"", 12, 0));
	nwarn = 0;
	ro = sopen(dir, FR_LOCK_READONLY);
	ok(nwarn == 0 && ro && receq(fr_state_get(ro, "r2"), &b.r),
	    "the torn tail was cut off before appending");
	sclose(ro);
	sclose(s);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(nwarn, 0, "after a write, the file is clean again");
	ok(fr_state_count(s) == 3 && receq(fr_state_get(s, "r2"), &b.r), "and holds all three");
	sclose(s);
	free(text);
	rmstate(dir, state);
}

static void
test_flipped(void)
{
	char *state, *dir = newdir("flipped", &state);
	struct fr_state *s;
	struct rb b;
	size_t len, r1, r2, r4;
	char *text;

	fill(dir, "r", 6, 20);
	text = slurp(state, &len);
	r1 = findrec(text, len, 'T', "r1");
	r2 = findrec(text, len, 'T', "r2");
	r4 = findrec(text, len, 'T', "r4");
	ok(r1 && r2 && r4, "find the records");
	text[r1 + 100] ^= 1;		/* a digest of r1 */
	text[r2 + NAMEOFF] ^= 0x20;	/* the name of r2, just after r1 */
	text[r4 + 5] ^= 0x40;		/* the length of r4: the frame is lost */
	spit(state, text, len);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(nwarn, 1, "one warning for the whole file");
	ok(strstr(lastwarn, "dropped 3 damaged records") != NULL, "naming the count: %s", lastwarn);
	is_int(fr_state_count(s), 3, "three records left");
	ok(!fr_state_get(s, "r1") && !fr_state_get(s, "r2") && !fr_state_get(s, "r4") &&
	    !fr_state_get(s, "R2"), "damaged records dropped");
	ok(receq(fr_state_get(s, "r0"), build(&b, "r0", "{\"n\":1}", 20, 0)) &&
	    receq(fr_state_get(s, "r3"), build(&b, "r3", "{\"n\":1}", 23, 1)) &&
	    receq(fr_state_get(s, "r5"), build(&b, "r5", "{\"n\":1}", 25, 1)),
	    "intact records kept, after a lost frame too");
	sput(s, build(&b, "r1", "\"again\"", 21, 0));
	sclose(s);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && fr_state_count(s) == 4 && receq(fr_state_get(s, "r1"), &b.r),
	    "the writing run compacted the damage away");
	sclose(s);
	is_int(nrecs(state), 4, "four records");
	free(text);
	rmstate(dir, state);
}

static void
test_unknown(void)
{
	char *state, *dir = newdir("unknown", &state);
	static const char junk[] = "flowrun-state 1\nT\tx\tfuture\n";
	struct fr_state *s;
	struct rb b;
	size_t len;
	uint32_t u;
	char *text;

	mkdir(dir, 0777);
	spit(state, junk, sizeof(junk) - 1);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(nwarn, 1, "a version 1 file warns");
	ok(strstr(lastwarn, "has an unknown format; starting afresh") != NULL, "%s", lastwarn);
	is_int(s ? fr_state_count(s) : 9, 0, "and starts empty");
	sclose(s);
	text = slurp(state, &len);
	ok(len == sizeof(junk) - 1 && memcmp(text, junk, len) == 0, "a no-op run leaves it alone");
	free(text);
	s = sopen(dir, FR_LOCK_FAIL);
	sput(s, build(&b, "new", "1", 1, 1));
	text = slurp(state, &len);
	ok(memcmp(text, "flowrun-state 2\n", 16) == 0 && nrecs(state) == 1 &&
	    findrec(text, len, 'T', "new") == HDRLEN, "the first put rewrites the file");
	sclose(s);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && fr_state_count(s) == 1 && receq(fr_state_get(s, "new"), &b.r),
	    "which then loads cleanly");
	sclose(s);
	u = 0x04030201;		/* the other byte order */
	memcpy(text + 16, &u, sizeof(u));
	spit(state, text, len);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_READONLY);
	ok(nwarn == 1 && strstr(lastwarn, "unknown format") && fr_state_count(s) == 0,
	    "a file of the other byte order is foreign");
	sclose(s);
	spit(state, text, HDRLEN - 1);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_READONLY);
	ok(nwarn == 1 && strstr(lastwarn, "unknown format"), "so is a short header");
	sclose(s);
	spit(state, "flowrun-state 2\n\x04\x03\x02\x01\0\0\0\0", HDRLEN);
	memcpy(&u, "\x04\x03\x02\x01", 4);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_READONLY);
	ok(nwarn == (u == 0x01020304 ? 0 : 1) && fr_state_count(s) == 0,
	    "a bare header is an empty state on a little-endian machine");
	sclose(s);
	free(text);
	rmstate(dir, state);
}

/* Forge a record of type and name with the given fields, a good length and
 * checksum; namelen, if not -1, is written for the name's length. */
static void
forge(struct fr_buf *b, char type, const char *name, long namelen, const struct fr_buf *f)
{
	size_t at = b->len, pad;
	uint32_t u;

	fr_buf_add(b, (char[]){ (char)0xf7, 'R', type, 2, 0, 0, 0, 0 }, 8);
	u = namelen >= 0 ? (uint32_t)namelen : (uint32_t)strlen(name);
	fr_buf_add(b, &u, 4);
	fr_buf_add(b, name, strlen(name) + 1);
	fr_buf_add(b, f->data, f->len);
	pad = (8 - (b->len - at + 4) % 8) % 8;
	fr_buf_add(b, "\0\0\0\0\0\0\0", pad);
	u = (uint32_t)(b->len - at + 4);
	memcpy(b->data + at + 4, &u, 4);
	u = crc32c((const unsigned char *)b->data + at, b->len - at);
	fr_buf_add(b, &u, 4);
}

/* The fields of a T record: counts, result length, then raw tail bytes. */
static void
tfields(struct fr_buf *f, uint32_t nin, uint32_t nout, uint32_t ndep, uint32_t rlen,
    const void *tail, size_t ntail)
{
	uint32_t u[4] = { nin, nout, ndep, rlen };
	char zero[104];

	memset(zero, 0, sizeof(zero));
	fr_buf_reset(f);
	fr_buf_add(f, zero, 104);	/* duration, key, cmd, env */
	fr_buf_add(f, u, sizeof(u));
	fr_buf_add(f, tail, ntail);
}

/* Records with good sums whose fields do not fit are dropped: T records when
 * first used, and records whose name or F fields do not fit at load. */
static void
test_badfields(void)
{
	char *state, *dir = newdir("badfields", &state), dig1[36], name[8];
	struct fr_buf b = { NULL, 0, 0 }, f = { NULL, 0, 0 };
	const struct fr_state_rec *got;
	struct fr_state *s;
	struct rb r;
	unsigned char h[HDRLEN] = "flowrun-state 2\n";
	uint32_t bom = 0x01020304, one = 1;
	size_t i;

	memcpy(h + 16, &bom, 4);
	fr_buf_add(&b, h, HDRLEN);
	tfields(&f, 0x40000000, 0, 0, 0xffffffff, "", 0);
	forge(&b, 'T', "t1", -1, &f);			/* absurd count */
	memcpy(dig1, &one, 4);
	memset(dig1 + 4, 'd', 32);
	tfields(&f, 1, 0, 0, 0xffffffff, dig1, 36);
	forge(&b, 'T', "t2", -1, &f);			/* an item without its name */
	tfields(&f, 0, 0, 0, 1000, "{}", 3);
	forge(&b, 'T', "t3", -1, &f);			/* result length past the end */
	tfields(&f, 0, 0, 0, 1, "{}", 3);
	forge(&b, 'T', "t4", -1, &f);			/* result without its NUL */
	tfields(&f, 0, 0, 0, 0xffffffff, "0123456789", 10);
	forge(&b, 'T', "t5", -1, &f);			/* more than padding after */
	mkdir(dir, 0777);
	spit(state, b.data, b.len);
	nwarn = 0;
	fill(dir, "r", 2, 1);	/* appends r0 and r1 */
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && fr_state_count(s) == 7, "good sums: no warning at load");
	ok(fr_state_get(s, "t1") == NULL && nwarn == 1 && strstr(lastwarn, "record of t1"),
	    "a T record with an absurd count is dropped when got: %s", lastwarn);
	for (i = 2; i <= 5; i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		ok(fr_state_get(s, name) == NULL && nwarn == (int)i && strstr(lastwarn, name),
		    "so is %s: %s", name, lastwarn);
	}
	ok(fr_state_get(s, "t1") == NULL && nwarn == 5, "warned about once");
	is_int(fr_state_count(s), 2, "they are not counted");
	ok(receq(fr_state_get(s, "r1"), build(&r, "r1", "{\"n\":1}", 2, 1)), "good records kept");
	sput(s, build(&r, "t1", NULL, 7, 0));
	sclose(s);
	is_int(nrecs(state), 3, "the next writing run compacts them away");
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && fr_state_count(s) == 3 && receq(fr_state_get(s, "t1"), &r.r), "cleanly");
	sclose(s);

	b.len = HDRLEN;
	fr_buf_reset(&f);
	fr_buf_add(&f, dig1, 36);
	forge(&b, 'F', "f1", -1, &f);			/* F fields cut short */
	tfields(&f, 0, 0, 0, 0xffffffff, "", 0);
	forge(&b, 'T', "t6", 100000, &f);		/* name length past the end */
	forge(&b, 'T', "t7", 1, &f);			/* name without its NUL */
	forge(&b, 'T', "ok", -1, &f);			/* a good one */
	spit(state, b.data, b.len);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_READONLY);
	ok(nwarn == 1 && strstr(lastwarn, "dropped 3 damaged records") && fr_state_count(s) == 1,
	    "records whose name or fields do not fit are dropped at load: %s", lastwarn);
	got = fr_state_get(s, "ok");
	ok(got && !got->result && got->ninput + got->noutput + got->ndep == 0 &&
	    got->duration_ns == 0 && nwarn == 1, "the good one is kept");
	ok(fr_state_file_get(s, "f1", NULL, NULL) == -1 && !fr_state_get(s, "t6"), "the others not");
	sclose(s);
	fr_buf_free(&b);
	fr_buf_free(&f);
	rmstate(dir, state);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11) % n;
}

/* Random damage: byte flips, truncations and forged lengths never crash,
 * read out of bounds or return a record that was not put; what survives is
 * intact, and a writing run leaves a file that loads without a warning. */
static void
test_fuzz(void)
{
	char *state, *dir = newdir("fuzz", &state), *orig, *text, name[32];
	struct rb want[40], b;
	struct fr_digest fd;
	struct fr_stat fst, gst;
	struct fr_digest gd;
	struct fr_state *s;
	size_t len, off[128], nrec, cut, i, kept, fkept;
	int iter, k, good = 1, warned = 1, clean = 1, lost = 1;
	uint32_t u;

	s = sopen(dir, FR_LOCK_FAIL);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "task-%zu", i);
		fst = (struct fr_stat){ (int64_t)i, 2, 3, 4, 5 };
		dig(&fd, (unsigned)i, 99);
		snprintf(name, sizeof(name), "file-%zu", i);
		fr_state_file_set(s, name, &fst, &fd);
		snprintf(name, sizeof(name), "task-%zu", i);
		sput(s, build(&want[i], name, i % 3 ? "[\"r\"]" : NULL, (unsigned)i, i % 2));
	}
	sclose(s);
	orig = slurp(state, &len);
	nrec = records(orig, len, off, 128);
	is_int(nrec, 80, "80 records to damage");
	text = fr_xmalloc(len);
	for (iter = 0; iter < 400; iter++) {
		memcpy(text, orig, len);
		cut = len;
		switch (iter % 4) {
		case 0:		/* flip bytes */
			for (k = 0; k <= (int)rnd(4); k++)
				text[rnd((uint32_t)len)] ^= (char)(1 + rnd(255));
			break;
		case 1:		/* truncate */
			cut = rnd((uint32_t)len);
			break;
		case 2:		/* forge a record's length */
			i = off[rnd((uint32_t)nrec)] + 4;
			u = rnd(4) == 0 ? 0xfffffff8u - 8 * rnd(16) : 8 * rnd(1024);
			u += u == get32(text + i) ? 8 : 0;
			memcpy(text + i, &u, 4);
			break;
		default:	/* both, and a record's counts */
			text[off[rnd((uint32_t)nrec)] + NAMEOFF + 10 + rnd(100)] ^= (char)0x80;
			text[rnd((uint32_t)len)] ^= (char)(1 + rnd(255));
			cut = len - rnd(200);
			break;
		}
		spit(state, text, cut);
		nwarn = 0;
		s = sopen(dir, FR_LOCK_READONLY);
		for (i = 0, kept = fkept = 0; s && i < 40; i++) {
			const struct fr_state_rec *g = fr_state_get(s, want[i].name);
			kept += g != NULL;
			good &= !g || receq(g, &want[i].r);
			snprintf(name, sizeof(name), "file-%zu", i);
			if (fr_state_file_get(s, name, &gst, &gd) == 0) {
				fkept++;
				dig(&fd, (unsigned)i, 99);
				good &= gst.size == (int64_t)i && gst.ino == 4 &&
				    memcmp(gd.b, fd.b, FR_DIGEST_LEN) == 0;
			}
		}
		if (iter % 4 == 0 || iter % 4 == 2) {
			warned &= nwarn > 0;	/* every byte is checked */
			lost &= kept + fkept < 80;
		}
		sclose(s);
		s = sopen(dir, FR_LOCK_FAIL);	/* a writing run repairs */
		sput(s, build(&b, "new", "1", 1, 1));
		sclose(s);
		nwarn = 0;
		s = sopen(dir, FR_LOCK_FAIL);
		clean &= nwarn == 0 && s && fr_state_count(s) <= 41 &&
		    receq(fr_state_get(s, "new"), &b.r);
		for (i = 0; s && i < 40; i++)
			good &= !fr_state_get(s, want[i].name) ||
			    receq(fr_state_get(s, want[i].name), &want[i].r);
		sclose(s);
	}
	ok(good, "what survives damage is what was put");
	ok(warned && lost, "a changed byte or length never goes unnoticed");
	ok(clean, "and a writing run leaves a clean file");
	free(orig);
	free(text);
	rmstate(dir, state);
}

static void
test_compact(void)
{
	char *state, *dir = newdir("compact", &state), *tmp;
	struct fr_state *s;
	struct rb b;
	struct stat sb;
	char name[16];
	int i, good = 1;

	s = sopen(dir, FR_LOCK_FAIL);
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "n%d", i % 10);
		sput(s, build(&b, name, "[1]", (unsigned)i, i % 3 == 0));
	}
	fr_state_file_set(s, "f", &(struct fr_stat){ 1, 2, 3, 4, 5 }, &b.r.key);
	is_int(nrecs(state), 3000, "3000 records before close");
	sclose(s);
	is_int(nrecs(state), 11, "compacted to 10 task and 1 file records");
	if (stat(state, &sb) < 0)
		sb.st_size = -1;
	ok(sb.st_size > 0 && sb.st_size < 8000, "file is small (%lld bytes)", (long long)sb.st_size);
	tmp = fr_xasprintf("%s/state.tmp", dir);
	ok(access(tmp, F_OK) < 0, "no temporary file is left");
	free(tmp);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(fr_state_count(s), 10, "ten records");
	for (i = 2990; i < 3000; i++) {
		snprintf(name, sizeof(name), "n%d", i % 10);
		good &= receq(fr_state_get(s, name), build(&b, name, "[1]", (unsigned)i, i % 3 == 0));
	}
	ok(good && nwarn == 0, "each is the last one put");
	ok(fr_state_file_get(s, "f", NULL, NULL) == 0, "the file record survives");
	sclose(s);

	fill(dir, "m", 600, 1);	/* 610 live of 611: no compaction */
	is_int(nrecs(state), 611, "a mostly live file is not compacted");
	rmstate(dir, state);
}

static void
test_noop(void)
{
	char *state, *dir = newdir("noop", &state);
	struct timespec old[2] = { { 1000000000, 123 }, { 1000000000, 123 } };
	struct fr_state *s;
	struct stat sb;
	size_t len1, len2;
	char *before, *after;

	fill(dir, "r", 5, 1);
	ok(utimensat(AT_FDCWD, state, old, 0) == 0, "set an old mtime");
	before = slurp(state, &len1);
	s = sopen(dir, FR_LOCK_FAIL);
	fr_state_get(s, "r1");
	fr_state_get(s, "r3");
	sclose(s);
	after = slurp(state, &len2);
	ok(len1 == len2 && memcmp(before, after, len1) == 0, "a no-op run leaves the file as it was");
	ok(stat(state, &sb) == 0 && sb.st_mtim.tv_sec == old[1].tv_sec &&
	    sb.st_mtim.tv_nsec == old[1].tv_nsec, "and its mtime too");
	free(before);
	free(after);
	rmstate(dir, state);
}

struct waitinfo {
	int calls, fd;
	pid_t pid;
};

static void
waited(pid_t holder, void *arg)
{
	struct waitinfo *w = arg;

	w->calls++;
	w->pid = holder;
	close(w->fd);	/* lets the holder go */
	w->fd = -1;
}

/* Fork a child that holds the lock until *release is closed (or it is killed). */
static pid_t
holder(const char *dir, int *release)
{
	int ready[2], go[2];
	char c;
	pid_t pid;

	if (pipe(ready) < 0 || pipe(go) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		struct fr_state *s = fr_state_open(dir, FR_LOCK_FAIL, NULL, NULL, NULL);
		close(ready[0]);
		close(go[1]);
		if (write(ready[1], s ? "y" : "n", 1) != 1 || !s)
			_exit(1);
		while (read(go[0], &c, 1) > 0)
			;
		fr_state_close(s, NULL);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &c, 1) != 1 || c != 'y')
		pid = -1;
	close(ready[0]);
	*release = go[1];
	return pid;
}

static void
test_lock(void)
{
	char *state, *dir = newdir("lock", &state), want[64];
	struct waitinfo w = { 0, -1, 0 };
	struct fr_error err;
	struct fr_state *s;
	int release, status;
	pid_t pid;

	pid = holder(dir, &release);
	ok(pid > 0, "a child holds the lock");
	fr_error_clear(&err);
	s = fr_state_open(dir, FR_LOCK_FAIL, NULL, NULL, &err);
	snprintf(want, sizeof(want), "another flowrun (pid %ld) is running", (long)pid);
	ok(!s && err.code == FR_ESTATE && strstr(err.text, want), "FR_LOCK_FAIL: %s", err.text);
	fr_state_close(s, NULL);
	w.fd = release;
	s = fr_state_open(dir, FR_LOCK_WAIT, waited, &w, &err);
	ok(s != NULL, "FR_LOCK_WAIT gets the lock once the holder is done");
	ok(w.calls == 1 && w.pid == pid, "waiting() was called once with the holder's pid");
	ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "holder exited");
	fr_state_close(s, NULL);

	pid = holder(dir, &release);
	ok(pid > 0 && kill(pid, SIGKILL) == 0 && waitpid(pid, &status, 0) == pid,
	    "a holder is killed with SIGKILL");
	close(release);
	fr_error_clear(&err);
	s = fr_state_open(dir, FR_LOCK_FAIL, NULL, NULL, &err);
	ok(s != NULL, "its lock is taken over %s", err.text);
	fr_state_close(s, NULL);
	rmstate(dir, state);
}

static void
test_readonly(void)
{
	char *state, *dir = newdir("readonly", &state);
	struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct fr_state *s;
	struct rb b;
	struct stat sb;
	size_t len1, len2;
	char *before, *after;

	s = sopen(dir, FR_LOCK_READONLY);
	ok(s && fr_state_count(s) == 0, "READONLY opens a missing directory as empty");
	ok(s && sput(s, build(&b, "x", "1", 1, 1)) == 0 && receq(fr_state_get(s, "x"), &b.r),
	    "put updates memory");
	ok(sclose(s) == 0, "close");
	ok(access(dir, F_OK) < 0 && errno == ENOENT, "the directory was not created");

	fill(dir, "r", 3, 1);
	utimensat(AT_FDCWD, state, old, 0);
	before = slurp(state, &len1);
	s = sopen(dir, FR_LOCK_READONLY);
	ok(s && fr_state_count(s) == 3, "READONLY reads the records");
	sput(s, build(&b, "x", "1", 1, 1));
	fr_state_file_set(s, "f", &(struct fr_stat){ 1, 2, 3, 4, 5 }, &b.r.key);
	ok(fr_state_file_get(s, "f", NULL, NULL) == 0, "file_set updates memory");
	sclose(s);
	after = slurp(state, &len2);
	ok(len1 == len2 && memcmp(before, after, len1) == 0 && stat(state, &sb) == 0 &&
	    sb.st_mtim.tv_sec == old[1].tv_sec, "and nothing is written");
	free(before);
	free(after);
	rmstate(dir, state);
}

/* Make writes fail with EFBIG beyond the current size plus a little. */
static void
test_fsize(void)
{
	char *state, *dir = newdir("fsize", &state);
	struct fr_state *s;
	struct fr_error err;
	struct rlimit old, lim;
	struct stat sb;
	struct rb b;
	char big[120];
	int r;

	fill(dir, "r", 3, 1);
	s = sopen(dir, FR_LOCK_FAIL);
	sput(s, build(&b, "r3", NULL, 4, 0));
	stat(state, &sb);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 100;
	setrlimit(RLIMIT_FSIZE, &lim);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fr_error_clear(&err);
	r = fr_state_put(s, build(&b, "big", big, 5, 1), &err);
	setrlimit(RLIMIT_FSIZE, &old);
	ok(r == -1 && err.code == FR_ESTATE && strstr(err.text, "cannot write state") &&
	    err.errnum == EFBIG, "a failed write is FR_ESTATE: %s", err.text);
	ok(stat(state, &sb) == 0 && (rlim_t)sb.st_size == lim.rlim_cur - 100, "the partial line was cut off");
	sclose(s);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && fr_state_count(s) == 5 && fr_state_get(s, "big"),
	    "the file still loads, and the record that failed stayed pending for close");
	sclose(s);
	rmstate(dir, state);
}

static off_t
fsize(const char *path)
{
	struct stat sb;

	return stat(path, &sb) < 0 ? -1 : sb.st_size;
}

/* Batch mode: puts wait for the flush, which writes them all at once. */
static void
test_batch(void)
{
	char *state, *dir = newdir("batch", &state);
	struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
	struct fr_error err;
	struct rb b;
	off_t before;
	char name[16];
	int i;

	sput(s, build(&b, "first", "1", 1, 0));
	before = fsize(state);
	ok(before > 0, "a put out of batch mode is written at once (%lld bytes)",
	    (long long)before);
	fr_state_batch(s, 1);
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		sput(s, build(&b, name, "2", (unsigned)i, 1));
	}
	ok(fsize(state) == before && fr_state_get(s, "b2"),
	    "batched puts are seen at once but not written");
	fr_error_clear(&err);
	ok(fr_state_flush(s, &err) == 0 && fsize(state) > before, "the flush writes them");
	before = fsize(state);
	ok(fr_state_flush(s, &err) == 0 && fsize(state) == before, "an empty flush writes nothing");
	sput(s, build(&b, "b0", "3", 7, 0));
	sclose(s);
	s = sopen(dir, FR_LOCK_FAIL);
	ok(s && fr_state_count(s) == 4 && fr_state_get(s, "b0") &&
	    strcmp(fr_state_get(s, "b0")->result, "3") == 0,
	    "closing writes what is pending: 4 records, the last b0");

	/* A batch that grows past 1 MB is written as it goes, in order. */
	fr_state_batch(s, 1);
	before = fsize(state);
	for (i = 0; i < 20000; i++) {
		struct fr_stat st = { i, i, i, i, 1 };
		struct fr_digest d;
		snprintf(name, sizeof(name), "in/%d", i);
		dig(&d, (unsigned)i, 3);
		fr_state_file_set(s, name, &st, &d);
	}
	sput(s, build(&b, "after", "4", 9, 0));
	ok(fsize(state) > before + (1 << 20),
	    "a batch of over 1 MB is written before the flush (%lld bytes more)",
	    (long long)(fsize(state) - before));
	ok(fr_state_file_get(s, "in/0", NULL, NULL) == 0 &&
	    fr_state_file_get(s, "in/19999", NULL, NULL) == 0, "spilled and pending records are seen");
	before = fsize(state);
	sclose(s);
	ok(fsize(state) > before, "the rest waits for the flush");
	s = sopen(dir, FR_LOCK_FAIL);
	{
		struct fr_stat got;
		struct fr_digest gd, d;
		int good = 1;
		for (i = 0; s && i < 20000; i++) {
			snprintf(name, sizeof(name), "in/%d", i);
			dig(&d, (unsigned)i, 3);
			good &= fr_state_file_get(s, name, &got, &gd) == 0 && got.size == i &&
			    memcmp(gd.b, d.b, FR_DIGEST_LEN) == 0;
		}
		ok(good && fr_state_get(s, "after"), "every record of a spilled batch reads back");
	}
	sclose(s);
	rmstate(dir, state);
}

/* The items fr_state_items gives, against names and digests expected. */
struct walk {
	char (*names)[32];
	const struct fr_digest *d;
	size_t i, n, stop;
	int same;
	char last[32];
};

static int
walkitem(void *arg, const char *name, const struct fr_digest *d)
{
	struct walk *w = arg;

	if (w->names)
		w->same &= w->i < w->n && strcmp(name, w->names[w->i]) == 0 &&
		    memcmp(d->b, w->d[w->i].b, FR_DIGEST_LEN) == 0;
	snprintf(w->last, sizeof(w->last), "%s", name);
	return ++w->i == w->stop ? 7 : 0;
}

/* A T record of over 1 MB (a task of 40,000 inputs) is written straight to
 * the file, batch or not, after the records pending before it, and reads
 * back lean: its items stay in the file, for fr_state_items. */
static void
test_bigrecord(void)
{
	char *state, *dir = newdir("bigrec", &state);
	struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
	enum { N = 40000 };
	struct fr_state_item *in = fr_xcalloc(N, sizeof(*in));
	struct fr_digest *ind = fr_xcalloc(N, sizeof(*ind));
	char (*names)[32] = fr_xcalloc(N, sizeof(*names));
	struct fr_state_rec r = { 0 };
	const struct fr_state_rec *got;
	struct fr_stat st = { 1, 2, 3, 4, 5 };
	struct fr_digest d;
	struct rb b;
	off_t before;
	size_t i;

	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "out/part-%zu.csv", i);
		in[i].name = names[i];
		in[i].digest = &ind[i];
		dig(&ind[i], (unsigned)i, 7);
	}
	r.name = "final";
	r.input = in;
	r.ninput = N;
	r.result = "{\"n\": 40000}";
	r.duration_ns = 123;
	dig(&r.key, 1, 1);
	fr_state_batch(s, 1);
	sput(s, build(&b, "small", "1", 1, 0));
	dig(&d, 9, 9);
	fr_state_file_set(s, "in/x", &st, &d);
	before = fsize(state);
	ok(sput(s, &r) == 0, "put a record of 40,000 inputs");
	ok(fsize(state) > before + (1 << 20), "written at once, in batch mode (%lld bytes)",
	    (long long)(fsize(state) - before));
	got = fr_state_get(s, "final");
	ok(got && got->ninput == N, "read back in the same open");
	sclose(s);
	is_int(nrecs(state), 3, "after what was pending before it: 3 records");

	s = sopen(dir, FR_LOCK_FAIL);
	got = s ? fr_state_get(s, "final") : NULL;
	ok(got && got->ninput == N && got->duration_ns == 123 &&
	    strcmp(got->result, "{\"n\": 40000}") == 0 && memcmp(got->key.b, r.key.b, FR_DIGEST_LEN) == 0,
	    "reopened: the big record reads back");
	ok(got && got->lean && !got->input && !got->dep && got->noutput == 0,
	    "lean: its items are left in the file");
	{
		struct walk w = { names, ind, 0, N, 0, 1, "" };
		ok(got && fr_state_items(s, "final", FR_ITEMS_INPUT, walkitem, &w) == 0 &&
		    w.i == N && w.same, "every input of it, name and digest, in order");
		w.i = 0;
		ok(fr_state_items(s, "final", FR_ITEMS_DEP, walkitem, &w) == 0 && w.i == 0,
		    "and no needed task");
		w.i = 0;
		w.stop = 5;
		ok(fr_state_items(s, "final", FR_ITEMS_INPUT, walkitem, &w) == 7 && w.i == 5 &&
		    w.same, "a walk stops where its function says, with what it said");
		ok(got == fr_state_get(s, "final") && got->ninput == N,
		    "the record got stays valid through the walks");
	}
	ok(s && fr_state_get(s, "small") && fr_state_file_get(s, "in/x", NULL, NULL) == 0,
	    "the records pending before it were kept");
	{	/* the lean read checks the checksum again, as a whole one does */
		int fd = open(state, O_WRONLY);
		nwarn = 0;
		ok(fd >= 0 && pwrite(fd, "X", 1, fsize(state) - 100) == 1 && close(fd) == 0 &&
		    s && !fr_state_get(s, "final") && nwarn == 1,
		    "a big record damaged after loading is dropped with a warning");
		ok(fr_state_items(s, "final", FR_ITEMS_INPUT, walkitem,
		    &(struct walk){ NULL, NULL, 0, N, 0, 1, "" }) == -1,
		    "and has no items to go through");
	}
	sclose(s);
	free(in);
	free(ind);
	free(names);
	rmstate(dir, state);
}

/* A big record whose checksum is right but whose fields do not fit, as no
 * flowrun writes (a bug, or a file made by hand): its lean read drops it with
 * a warning, and going through its items does too, never reading out of it. */
static void
test_leanbad(void)
{
	enum { N = 6000, TOFF = 24 };	/* the record follows the 24-byte header */
	char *state, *dir = newdir("leanbad", &state);
	struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
	struct fr_state_item *it = fr_xcalloc(N + 3, sizeof(*it));
	char (*names)[48] = fr_xcalloc(N + 3, sizeof(*names));
	static const struct fr_digest zero;
	struct fr_state_rec r = { 0 };
	unsigned char *orig, *p;
	size_t len, i, q, lens, k;
	uint32_t reclen, v;
	static const struct { const char *what; int item; int64_t delta; int64_t delta2;
	    int getok, walk; } m[] = {
		{ "absurd counts", -1, 0, 0, 0, 0 },
		{ "an input's name far too long", 3, 1 << 30, 0, 0, 0 },
		{ "the output's name without its NUL", N, 1, 0, 0, 0 },
		{ "the result without its NUL", -2, 1, 0, 0, 0 },
		{ "names that leave a gap", 0, -9, 0, 0, 0 },
		{ "two inputs' names moved by a byte", 5, 1, -1, 1, FR_ITEMS_INPUT },
		{ "two needed tasks' names moved by a byte", N + 1, 1, -1, 1, FR_ITEMS_DEP },
	};

	for (i = 0; i < N + 3; i++) {
		snprintf(names[i], sizeof(names[i]), "%s/part-%05zu-of-a-longer-name",
		    i < N ? "in" : i == N ? "out" : "dep", i);
		it[i].name = names[i];
		it[i].digest = &zero;
	}
	r.name = "big";
	r.result = "{\"n\": 1}";
	r.input = it;
	r.ninput = N;
	r.output = it + N;
	r.noutput = 1;
	r.dep = it + N + 1;
	r.ndep = 2;
	ok(s && sput(s, &r) == 0 && sclose(s) == 0, "a record of %d inputs", N);
	orig = (unsigned char *)slurp(state, &len);
	if (orig)
		memcpy(&reclen, orig + TOFF + 4, 4);
	else
		reclen = 0;
	ok(orig && reclen > (256u << 10) && TOFF + reclen == len, "over 256 KB, alone in the file");
	q = TOFF + 12 + strlen("big") + 1;	/* the fixed fields */
	lens = q + 120;
	for (k = 0; orig && k < FR_NELEM(m); k++) {
		int fd, rc;
		p = fr_xmalloc(len);
		memcpy(p, orig, len);
		if (m[k].item == -1) {
			v = 0x7fffffff;
			memcpy(p + q + 104, &v, 4);
		} else {
			size_t at = m[k].item == -2 ? q + 116 : lens + 4 * (size_t)m[k].item;
			memcpy(&v, p + at, 4);
			v = (uint32_t)((int64_t)v + m[k].delta);
			memcpy(p + at, &v, 4);
			if (m[k].delta2) {
				memcpy(&v, p + at + 4, 4);
				v = (uint32_t)((int64_t)v + m[k].delta2);
				memcpy(p + at + 4, &v, 4);
			}
		}
		v = crc32c(p + TOFF, reclen - 4);
		memcpy(p + TOFF + reclen - 4, &v, 4);
		fd = open(state, O_WRONLY | O_TRUNC);
		rc = fd >= 0 && write(fd, p, len) == (ssize_t)len && close(fd) == 0;
		free(p);
		s = rc ? sopen(dir, FR_LOCK_FAIL) : NULL;
		nwarn = 0;
		if (!m[k].getok) {
			ok(s && !fr_state_get(s, "big") && nwarn == 1 &&
			    fr_state_items(s, "big", FR_ITEMS_INPUT, walkitem,
			    &(struct walk){ NULL, NULL, 0, N, 0, 1, "" }) == -1,
			    "%s: dropped, with a warning", m[k].what);
		} else {
			const struct fr_state_rec *g = s ? fr_state_get(s, "big") : NULL;
			ok(g && g->lean && nwarn == 0 && fr_state_items(s, "big", m[k].walk,
			    walkitem, &(struct walk){ NULL, NULL, 0, N, 0, 1, "" }) == -1 &&
			    nwarn == 1 && !fr_state_get(s, "big"),
			    "%s: got lean, then dropped when its items are read", m[k].what);
		}
		sclose(s);
	}
	free(orig);
	free(it);
	free(names);
	rmstate(dir, state);
}

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

#ifndef ASAN
/* The process's address space now, in bytes (VmSize), or 0. */
static size_t
vmsize(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	size_t kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}
#endif

/* A record of 11 MB is written by a process allowed 4 MB more address space
 * than it has: it is never held whole. */
static void
test_bigrecord_memory(void)
{
#ifdef ASAN
	ok(1, "# SKIP address space limits and AddressSanitizer do not mix");
#else
	const char *preload = getenv("LD_PRELOAD");
	char *state, *dir;
	enum { N = 200000 };
	int status = -1;
	pid_t pid;

	if (preload && strstr(preload, "vgpreload")) {
		ok(1, "# SKIP address space limits and valgrind do not mix");
		return;
	}
	dir = newdir("bigmem", &state);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
		static const struct fr_digest zero;
		struct fr_state_item *in = fr_xcalloc(N, sizeof(*in));
		char (*names)[24] = fr_xcalloc(N, sizeof(*names));
		struct fr_state_rec r = { 0 };
		struct rlimit rl;
		struct fr_error err;
		size_t i;

		for (i = 0; i < N; i++) {
			snprintf(names[i], sizeof(names[i]), "out/part-%zu", i);
			in[i].name = names[i];
			in[i].digest = &zero;
		}
		r.name = "final";
		r.input = in;
		r.ninput = N;
		fr_state_batch(s, 1);
		rl.rlim_cur = rl.rlim_max = vmsize() + (4u << 20);
		if (!s || setrlimit(RLIMIT_AS, &rl) < 0)
			_exit(3);
		fr_error_clear(&err);
		_exit(fr_state_put(s, &r, &err) == 0 && fr_state_close(s, &err) == 0 ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "a record of 11 MB is written in 4 MB (status %d)", status);
	{
		struct fr_state *s = sopen(dir, FR_LOCK_FAIL);
		const struct fr_state_rec *got = s ? fr_state_get(s, "final") : NULL;
		struct walk w = { NULL, NULL, 0, N, 0, 1, "" };
		ok(got && got->ninput == N && fr_state_items(s, "final", FR_ITEMS_INPUT,
		    walkitem, &w) == 0 && w.i == N && strcmp(w.last, "out/part-199999") == 0,
		    "and reads back");
		sclose(s);
	}
	rmstate(dir, state);
#endif
}

/* A full file system: a tiny tmpfs, if this process may mount one. */
static void
test_full(void)
{
	char *state, *dir = newdir("full", &state);
	struct fr_state *s;
	struct fr_error err;
	struct rb b;
	char result[100], name[16];
	int i, r = 0, n = 0;

	mkdir(dir, 0777);
#ifdef __linux__
	if (mount("tmpfs", dir, "tmpfs", 0, "size=12k") < 0) {
#else
	if (1) {
#endif
		printf("ok %d # skip cannot mount a tmpfs (%s)\n", ++tap_count, strerror(errno));
		printf("ok %d # skip\n", ++tap_count);
		rmdir(dir);
		free(dir);
		free(state);
		return;
	}
	s = sopen(dir, FR_LOCK_FAIL);
	memset(result, 'y', sizeof(result) - 1);
	result[sizeof(result) - 1] = '\0';
	fr_error_clear(&err);
	for (i = 0; s && i < 1000 && r == 0; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		if ((r = fr_state_put(s, build(&b, name, result, (unsigned)i, 1), &err)) == 0)
			n++;
	}
	ok(r == -1 && err.code == FR_ESTATE && err.errnum == ENOSPC,
	    "ENOSPC after %d records: %s", n, err.text);
	fr_state_close(s, NULL);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(s && nwarn == 0 && fr_state_count(s) == (size_t)n, "the full file loads, %d records",
	    n);
	fr_state_close(s, NULL);
#ifdef __linux__
	umount(dir);
#endif
	rmstate(dir, state);
}

/* A file of several read windows: damage at a window's edge is found and
 * skipped, records are got in any order, and a record bigger than a window
 * round trips and is compacted away by size once superseded. */
static void
test_windows(void)
{
	char *state, *dir = newdir("windows", &state), *text, *big;
	const struct fr_state_rec *g;
	size_t len, n, *off, i, edge = 0, far = 0;
	struct fr_state *s;
	struct rb b;
	char name[64];
	int good = 1, k;

	fill(dir, "w", 20000, 5);
	text = slurp(state, &len);
	off = fr_xmalloc(30000 * sizeof(*off));
	n = records(text, len, off, 30000);
	ok(n == 20000 && len > (3u << 20), "20000 records, over three windows (%zu bytes)", len);
	for (i = 0; i + 1 < n; i++) {
		if (!edge && off[i + 1] > (1u << 20))
			edge = i;	/* the record across the first window's end */
		if (!far && off[i] > (2u << 20))
			far = i;
	}
	text[off[edge] + 100] ^= 1;	/* its digest */
	text[off[far] + 5] ^= 0x40;	/* its length: the frame is lost */
	spit(state, text, len);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 1 && strstr(lastwarn, "dropped 2 damaged records"), "both found: %s",
	    lastwarn);
	is_int(s ? fr_state_count(s) : 0, 19998, "the others kept");
	for (k = 19999; s && k >= 0; k -= 7) {	/* backwards, in jumps */
		snprintf(name, sizeof(name), "w%d", k);
		g = fr_state_get(s, name);
		if (strcmp(text + off[edge] + NAMEOFF, name) == 0 ||
		    strcmp(text + off[far] + NAMEOFF, name) == 0)
			good &= g == NULL;
		else
			good &= receq(g, build(&b, name, "{\"n\":1}", 5 + (unsigned)k, k % 2));
	}
	ok(good, "every record got back to front");
	sclose(s);
	free(text);

	big = fr_xmalloc(1000001);	/* a string of 1 MB as the result */
	memset(big, 'b', 1000000);
	big[1000000] = '\0';
	big[0] = big[999999] = '"';
	s = sopen(dir, FR_LOCK_FAIL);	/* compacts the damage away */
	sput(s, build(&b, "w0", "{\"n\":1}", 5, 0));
	sclose(s);
	text = slurp(state, &len);
	free(text);
	s = sopen(dir, FR_LOCK_FAIL);
	for (k = 0; s && k < 16; k++) {
		big[1 + k] = 'B';
		build(&b, "big", NULL, 77, 1)->result = big;
		sput(s, &b.r);
	}
	ok(s && (g = fr_state_get(s, "big")) && strcmp(g->result, big) == 0,
	    "a record bigger than a window is got");
	sclose(s);
	n = len;
	text = slurp(state, &len);
	ok(len < n + (2u << 20), "15 superseded records of 1 MB compacted away by size "
	    "(%zu bytes left, %zu before)", len, n);
	free(text);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && s && (g = fr_state_get(s, "big")) && strcmp(g->result, big) == 0 &&
	    fr_state_count(s) == 19999, "and loaded again");
	sclose(s);
	free(big);
	free(off);
	rmstate(dir, state);
}

static void
test_big(void)
{
	char *state, *dir = newdir("big", &state), name[64], path[3][64];
	struct fr_state_item item[4];
	struct fr_digest idig[4];
	struct fr_state_rec r;
	struct fr_state *s;
	struct stat sb;
	int64_t t0, load, get;
	int i, n = 100000, good = 1;
	size_t j;

	memset(&r, 0, sizeof(r));
	r.name = name;
	r.result = "{\"x\":12345,\"ok\":true}";
	r.input = item;
	r.ninput = 2;
	r.output = item + 2;
	r.noutput = 1;
	r.dep = item + 3;
	r.ndep = 1;
	for (j = 0; j < 4; j++) {
		item[j].name = j < 3 ? path[j] : "prepare";
		item[j].digest = &idig[j];
	}
	dig(&idig[3], 9, 9);
	s = sopen(dir, FR_LOCK_FAIL);
	for (i = 0; s && i < n; i++) {
		snprintf(name, sizeof(name), "square[x=%d]", i);
		snprintf(path[0], sizeof(path[0]), "data/input-%05d.csv", i);
		snprintf(path[1], sizeof(path[1]), "lib/common.py");
		snprintf(path[2], sizeof(path[2]), "out/square-%05d.txt", i);
		dig(&r.key, (unsigned)i, 1);
		dig(&r.cmd, (unsigned)i, 2);
		dig(&r.env, 0, 3);
		for (j = 0; j < 3; j++)
			dig(&idig[j], (unsigned)i, 4 + (unsigned)j);
		r.duration_ns = i;
		sput(s, &r);
	}
	sclose(s);
	stat(state, &sb);
	t0 = fr_now_ns();
	s = sopen(dir, FR_LOCK_FAIL);
	load = fr_now_ns() - t0;
	is_int(s ? fr_state_count(s) : 0, n, "100000 records loaded");
	t0 = fr_now_ns();
	for (i = 0; s && i < n; i++) {
		snprintf(name, sizeof(name), "square[x=%d]", i);
		const struct fr_state_rec *g = fr_state_get(s, name);
		good &= g && g->duration_ns == i && g->ninput == 2;
	}
	get = fr_now_ns() - t0;
	ok(good, "and each can be got");
	printf("# open+load of %d records (%.1f MB): %.1f ms; get of all: %.1f ms\n", n,
	    (double)sb.st_size / 1e6, (double)load / 1e6, (double)get / 1e6);
	ok(load < 5 * 1000000000ll, "load takes less than 5 s, whatever the build");
	sclose(s);
	rmstate(dir, state);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/t-state.XXXXXX";

	(void)argc;
	(void)argv;
	if (!(top = mkdtemp(tmpl))) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	fr_log_set_sink(sink, NULL);
	alarm(120);	/* a lock that is never released fails the test */
	test_roundtrip();
	test_supersede();
	test_files();
	test_torn();
	test_flipped();
	test_badfields();
	test_unknown();
	test_fuzz();
	test_compact();
	test_noop();
	test_lock();
	test_readonly();
	test_fsize();
	test_batch();
	test_bigrecord();
	test_leanbad();
	test_bigrecord_memory();
	test_full();
	test_windows();
	test_big();
	rmdir(top);
	return done_testing();
}
