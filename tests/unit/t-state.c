/* SPDX-License-Identifier: MIT */
/* t-state: the state file's round trip, damage handling, compaction, locking
 * and write failures, and the time to load 100,000 records. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE		/* mount */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
		dig(&b->item[i].digest, seed, 10 + (unsigned)i);
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
		    memcmp(a[i].digest.b, b[i].digest.b, FR_DIGEST_LEN) != 0)
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

static size_t
nlines(const char *path)
{
	size_t len, n = 0, i;
	char *p = slurp(path, &len);

	for (i = 0; p && i < len; i++)
		n += p[i] == '\n';
	free(p);
	return n;
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
	ok(text && strncmp(text, "flowrun-state 1\n", 16) == 0, "file starts with the header");
	is_int(nlines(state), 6, "header and five lines");
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
	ok(receq(fr_state_get(s, "t"), &b2.r), "a put supersedes in memory");
	ok(receq(old, &b1.r), "a record got earlier stays valid until close");
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
	is_int(nlines(state), 6, "every put appended a line");
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
	is_int(nlines(state), 4, "file records are written at close");
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
	is_int(nlines(state), 6, "put appends the pending file record and its own");
	sclose(s);
	is_int(nlines(state), 6, "nothing left to write at close");
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
	ok(truncate(state, (off_t)len - 20) == 0, "truncate the file mid-line");
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
	size_t len;
	char *text, *line;

	fill(dir, "r", 4, 20);
	text = slurp(state, &len);
	line = strchr(text, '\n') + 1;	/* r0 */
	line = strchr(line, '\n') + 1;	/* r1 */
	line[100] ^= 1;
	line = strchr(line, '\n') + 1;	/* r2 */
	line[3] ^= 0x20;		/* in the name */
	spit(state, text, len);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(nwarn, 1, "one warning for the whole file");
	ok(strstr(lastwarn, "dropped 2 damaged records") != NULL, "naming the count: %s", lastwarn);
	is_int(fr_state_count(s), 2, "two records left");
	ok(fr_state_get(s, "r1") == NULL && fr_state_get(s, "r2") == NULL, "damaged records dropped");
	ok(receq(fr_state_get(s, "r0"), build(&b, "r0", "{\"n\":1}", 20, 0)) &&
	    receq(fr_state_get(s, "r3"), build(&b, "r3", "{\"n\":1}", 23, 1)),
	    "intact records kept");
	sclose(s);
	free(text);
	rmstate(dir, state);
}

static void
test_unknown(void)
{
	char *state, *dir = newdir("unknown", &state);
	static const char junk[] = "flowrun-state 2\nT\tx\tfuture\n";
	struct fr_state *s;
	struct rb b;
	size_t len;
	char *text;

	mkdir(dir, 0777);
	spit(state, junk, sizeof(junk) - 1);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	is_int(nwarn, 1, "unknown header warns");
	ok(strstr(lastwarn, "has an unknown format; starting afresh") != NULL, "%s", lastwarn);
	is_int(s ? fr_state_count(s) : 9, 0, "and starts empty");
	sclose(s);
	text = slurp(state, &len);
	ok(len == sizeof(junk) - 1 && memcmp(text, junk, len) == 0, "a no-op run leaves it alone");
	free(text);
	s = sopen(dir, FR_LOCK_FAIL);
	sput(s, build(&b, "new", "1", 1, 1));
	text = slurp(state, &len);
	ok(strncmp(text, "flowrun-state 1\nT\tnew\t", 22) == 0 && nlines(state) == 2,
	    "the first put rewrites the file");
	free(text);
	sclose(s);
	nwarn = 0;
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && fr_state_count(s) == 1 && receq(fr_state_get(s, "new"), &b.r),
	    "which then loads cleanly");
	sclose(s);
	rmstate(dir, state);
}

static uint32_t
fnv(const char *p)
{
	uint32_t h = 2166136261u;

	while (*p)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

/* Lines with good sums whose fields do not parse are dropped when first used. */
static void
test_badfields(void)
{
	static const char *bad[] = {
		"T\tt1\tnothex\t-\t0\t0\t0",
		"T\tt2\t%s\t%s\t%s\t5\t-\t2\tonly-one\t%s\t0\t0",
		"F\tf1\t1\t2\t3\t-4\t5\t%s",
	};
	char *state, *dir = newdir("badfields", &state), hex[65], line[600];
	struct fr_buf b = { NULL, 0, 0 };
	struct fr_state *s;
	struct rb r;
	size_t i;

	memset(hex, 'a', 64);
	hex[64] = '\0';
	fr_buf_addstr(&b, "flowrun-state 1\n");
	for (i = 0; i < FR_NELEM(bad); i++) {
		snprintf(line, sizeof(line), bad[i], hex, hex, hex, hex);
		fr_buf_printf(&b, "%s\t#%08x\n", line, (unsigned)fnv(line));
	}
	mkdir(dir, 0777);
	spit(state, b.data, b.len);
	nwarn = 0;
	fill(dir, "r", 2, 1);	/* appends r0 and r1 */
	s = sopen(dir, FR_LOCK_FAIL);
	ok(nwarn == 0 && fr_state_count(s) == 4, "good sums: no warning at load");
	ok(fr_state_get(s, "t1") == NULL && nwarn == 1 && strstr(lastwarn, "record of t1"),
	    "a bad T record is dropped when got: %s", lastwarn);
	ok(fr_state_get(s, "t2") == NULL && nwarn == 2, "a T record with too few items too");
	ok(fr_state_file_get(s, "f1", NULL, NULL) == -1 && nwarn == 3, "a bad F record too");
	ok(fr_state_get(s, "t1") == NULL && nwarn == 3, "warned about once");
	is_int(fr_state_count(s), 2, "they are not counted");
	ok(receq(fr_state_get(s, "r1"), build(&r, "r1", "{\"n\":1}", 2, 1)), "good records kept");
	sput(s, build(&r, "t1", NULL, 7, 0));
	sclose(s);
	is_int(nlines(state), 4, "the next writing run compacts them away");
	fr_buf_free(&b);
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
	is_int(nlines(state), 3001, "3000 lines before close");
	sclose(s);
	is_int(nlines(state), 12, "compacted to 10 task and 1 file records");
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
	is_int(nlines(state), 612, "a mostly live file is not compacted");
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
	ok(nwarn == 0 && fr_state_count(s) == 4 && !fr_state_get(s, "big"),
	    "the file still loads, with the records written before");
	sclose(s);
	rmstate(dir, state);
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

static void
test_big(void)
{
	char *state, *dir = newdir("big", &state), name[64], path[3][64];
	struct fr_state_item item[4];
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
	for (j = 0; j < 4; j++)
		item[j].name = j < 3 ? path[j] : "prepare";
	dig(&item[3].digest, 9, 9);
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
			dig(&item[j].digest, (unsigned)i, 4 + (unsigned)j);
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
	test_compact();
	test_noop();
	test_lock();
	test_readonly();
	test_fsize();
	test_full();
	test_big();
	rmdir(top);
	return done_testing();
}
