/* SPDX-License-Identifier: MIT */
/* state: the records flowrun keeps between runs in .flowrun/, an append-only
 * binary file of checksummed records under an exclusive flock(2). */

/*
 * Files in the state directory DIR:
 *   DIR/state      the records (below)
 *   DIR/lock       flock(2)ed by the running flowrun, which writes its pid into it
 *   DIR/state.tmp  a compacted copy of DIR/state being written, then renamed over it
 *
 * DIR/state is binary, in the byte order of the machine that wrote it (it is
 * machine-local). It starts with the 24-byte header
 *
 *   "flowrun-state 2\n"  u32 0x01020304  u32 0
 *
 * (u32 and the like are host-order integers at any alignment). Any other
 * start (version 1's text, the other byte order) is an unknown format: flowrun
 * warns, starts empty and rewrites the file at its first write. (An empty
 * file is silently empty.) Records follow:
 *
 *   offset  size
 *   0       4        tag: 0xF7 'R' TYPE 0x02 (TYPE 'T' or 'F'; 0xF7 is never in UTF-8)
 *   4       u32      len: the size of the whole record, a multiple of 8
 *   8       u32      namelen
 *   12      namelen  the task instance name or file path, then a NUL
 *   ...              the fields of TYPE (below), then 0 to 7 zero bytes
 *   len-4   u32      CRC32C (Castagnoli, as in iSCSI and ext4) of bytes 0..len-5
 *
 * F, the stat data and content digest of a file that was hashed: i64 size,
 *   i64 mtime_ns, i64 ctime_ns, u64 ino, u64 dev, digest[32] (raw SHA-256).
 * T, the last success of a task instance: i64 duration_ns, key[32], cmd[32],
 *   env[32], u32 ninput, u32 noutput, u32 ndep, u32 resultlen (0xFFFFFFFF: no
 *   result), u32 itemlen[n], digest[n][32] for the n = ninput + noutput + ndep
 *   items (input paths, output paths, needed tasks), the result (compact JSON)
 *   and a NUL unless there is none, then each item's name and a NUL.
 * Item names are inline, not references to F records: a damaged or
 * superseded F record must never take a T record with it.
 *
 * A later T record for the same name, or F record for the same path,
 * supersedes an earlier one. A record whose tag, length, name or checksum is
 * wrong, or which runs past the end of the file (a write torn by a crash), is
 * dropped with a warning, and loading goes on at the next offset where a good
 * record starts (counting as dropped the tags in between, at least one); the
 * tasks they described simply run again. flowrun
 * appends each batch of records (the records of the tasks that finished since
 * the last write, each T record after the F records of its files) with a
 * single write(2), first cutting off whatever follows the last good record;
 * during a run a batch is written before the scheduler waits for anything.
 * At the end of a run that wrote anything, if superseded records outnumber
 * live ones in a file of over 1000 records, or damaged ones were dropped, it
 * writes the live records to DIR/state.tmp, fsyncs it, renames it over
 * DIR/state and fsyncs DIR.
 *
 * In memory the file is one buffer, read with read(2) (not mapped: a reader
 * without the lock must not die of SIGBUS if the file is cut short). Loading
 * checks each record's frame and checksum and indexes it by name; names and
 * strings are used in place. A T record is parsed into one reused struct
 * fr_state_rec each time it is asked for (nothing per record is kept), after
 * checking its counts against its length; if its fields do not fit, which
 * flowrun never writes, it is dropped then, with its own warning. Records put
 * or set are encoded at once and kept in an arena, which is freed at close.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE		/* flock */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define HDRLEN 24
#define TAG0 0xf7
#define TAG1 'R'
#define TAG3 0x02
#define NAMEOFF 12		/* where a record's name starts */
#define FFIX 72			/* an F record's fields after the name */
#define TFIX 120		/* a T record's fixed fields after the name */
#define MINREC 96		/* the smallest record: F with an empty path */
#define AVGREC 128		/* the usual size of a record, give or take */
#define NORESULT 0xffffffffu
#define COMPACT_MIN 1000	/* never compact a file of fewer records */
#define ADD32(b, v) fr_buf_add((b), &(uint32_t){ (uint32_t)(v) }, 4)
#define ADD64(b, v) fr_buf_add((b), &(uint64_t){ (uint64_t)(v) }, 8)
#define HASH(type, name, n) crcfn((uint32_t)(type), (const unsigned char *)(name), (n))

static const struct {
	char magic[16];
	uint32_t bom, zero;
} header = { "flowrun-state 2\n", 0x01020304, 0 };

/* A record: T (task) or F (file). */
struct ent {
	const char *name;		/* task name or file path */
	const unsigned char *raw;	/* the record: in the file as loaded, or in the arena */
	uint32_t hash;			/* of type and name */
	char type, bad, pending, dead;	/* dead: superseded by a later record */
};

struct fr_state {
	char *dir, *path, *tmp;
	char *shown, *shownpath;	/* dir and path as messages name them */
	enum fr_lock_mode mode;
	int lockfd, wfd;
	unsigned char *data;	/* the file as loaded */
	size_t len, goodlen;	/* its length, and up to the end of its last good record */
	struct ent *ents;	/* the records, in the order they were loaded or added */
	size_t nent, capent;
	uint32_t *slot;		/* open addressing on hash: 1 + index in ents, or 0 */
	size_t cap;		/* slots, a power of two */
	size_t nname[2];	/* T and F names in slot */
	size_t nbad;		/* T entries found not to parse */
	size_t nrec;		/* records in the file, dead ones included */
	int64_t wsize;		/* size of the file open for appending */
	struct fr_arena arena;	/* records put or set */
	size_t *pending;	/* indexes in ents of the records to write */
	size_t npending, cappending;
	struct fr_buf wbuf;
	struct fr_state_rec *rec;	/* the last record asked for, parsed (fr_state_get) */
	size_t reccap;		/* bytes at rec */
	int restart;		/* (re)create the file before appending */
	int rewrite;		/* damaged records: compact at close if anything was written */
	int torn;		/* the file may end in garbage that could not be cut off */
	int wrote;		/* something was written during this open */
	int batch;		/* task records wait for fr_state_flush too */
};

/* CRC32C: the SSE4.2 instruction where there is one, else slicing by 8. */
static uint32_t crctab[8][256];
static uint32_t (*crcfn)(uint32_t, const unsigned char *, size_t);
static pthread_once_t crconce = PTHREAD_ONCE_INIT;

static uint32_t
crcsw(uint32_t c, const unsigned char *p, size_t n)
{
	for (; n >= 8; p += 8, n -= 8) {
		c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 24;
		c = crctab[7][c & 0xff] ^ crctab[6][(c >> 8) & 0xff] ^
		    crctab[5][(c >> 16) & 0xff] ^ crctab[4][c >> 24] ^
		    crctab[3][p[4]] ^ crctab[2][p[5]] ^ crctab[1][p[6]] ^ crctab[0][p[7]];
	}
	for (; n > 0; p++, n--)
		c = crctab[0][(c ^ *p) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FR_STATE_SWCRC)
__attribute__((target("sse4.2"))) static uint32_t
crchw(uint32_t c, const unsigned char *p, size_t n)
{
	unsigned long long c64 = c, w[4];
	uint32_t v;

	for (; n >= 32; p += 32, n -= 32) {
		memcpy(w, p, 32);
		c64 = __builtin_ia32_crc32di(c64, w[0]);
		c64 = __builtin_ia32_crc32di(c64, w[1]);
		c64 = __builtin_ia32_crc32di(c64, w[2]);
		c64 = __builtin_ia32_crc32di(c64, w[3]);
	}
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w[0]);
	}
	c = (uint32_t)c64;
	if (n >= 4) {	/* a record's last word, or most of a short name */
		memcpy(&v, p, 4);
		c = __builtin_ia32_crc32si(c, v);
		p += 4, n -= 4;
	}
	for (; n > 0; p++, n--)
		c = __builtin_ia32_crc32qi(c, *p);
	return c;
}
#define HAVE_CRCHW() __builtin_cpu_supports("sse4.2")
#else
#define crchw crcsw
#define HAVE_CRCHW() 0
#endif

static void
crcinit(void)
{
	uint32_t c;
	int i, k;

	if (HAVE_CRCHW()) {
		crcfn = crchw;
		return;
	}
	for (i = 0; i < 256; i++) {
		for (c = (uint32_t)i, k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crctab[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		for (k = 1; k < 8; k++)
			crctab[k][i] = (crctab[k - 1][i] >> 8) ^ crctab[0][crctab[k - 1][i] & 0xff];
	}
	crcfn = crcsw;
}

static uint32_t
crc32c(const unsigned char *p, size_t n)
{
	return ~crcfn(~0u, p, n);
}

static uint32_t
rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t
rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* n bytes from the arena, aligned for any record. */
static void *
alloc(struct fr_state *s, size_t n)
{
	return fr_arena_alloc(&s->arena, n, 8);
}

/* The slot of the entry of type and name, or the empty one where it would go. */
static uint32_t *
find(const struct fr_state *s, char type, const char *name, uint32_t hash)
{
	size_t i = hash & (s->cap - 1);
	const struct ent *e;

	for (;; i = (i + 1) & (s->cap - 1)) {
		if (!s->slot[i])
			return &s->slot[i];
		e = &s->ents[s->slot[i] - 1];
		if (e->hash == hash && e->type == type && strcmp(e->name, name) == 0)
			return &s->slot[i];
	}
}

/* The entry of type and name, or NULL. */
static struct ent *
lookup(const struct fr_state *s, char type, const char *name)
{
	uint32_t *slot = find(s, type, name, HASH(type, name, strlen(name)));

	return *slot ? &s->ents[*slot - 1] : NULL;
}

/* Size the table for n names. */
static void
resize(struct fr_state *s, size_t n)
{
	size_t i;

	free(s->slot);
	for (s->cap = 16; s->cap < n + n / 2; s->cap *= 2)
		;
	s->slot = fr_xcalloc(s->cap, sizeof(*s->slot));
	for (i = 0; i < s->nent; i++) {
		if (!s->ents[i].dead)
			*find(s, s->ents[i].type, s->ents[i].name, s->ents[i].hash) = (uint32_t)i + 1;
	}
}

/* A new entry for type and name (of n bytes), superseding any earlier one;
 * valid until the next add. */
static struct ent *
add(struct fr_state *s, char type, const char *name, size_t n, const unsigned char *raw)
{
	uint32_t hash = HASH(type, name, n), *slot;
	struct ent *e;

	if ((s->nname[0] + s->nname[1] + 1) * 4 > s->cap * 3)
		resize(s, 2 * (s->nname[0] + s->nname[1] + 1));
	fr_grow(&s->ents, s->nent + 1, &s->capent, sizeof(*s->ents));
	e = &s->ents[s->nent++];
	*e = (struct ent){ name, raw, hash, type, 0, 0, 0 };
	slot = find(s, type, name, hash);
	if (*slot)
		s->ents[*slot - 1].dead = 1;
	else
		s->nname[type == 'F']++;
	*slot = (uint32_t)s->nent;
	return e;
}

static int
tagged(const unsigned char *p, const unsigned char *end)
{
	return end - p >= 4 && p[0] == TAG0 && p[1] == TAG1 && (p[2] == 'T' || p[2] == 'F') &&
	    p[3] == TAG3;
}

/* The length of the record at p if its tag and length are plausible, else 0. */
static size_t
framed(const unsigned char *p, const unsigned char *end)
{
	uint32_t len;

	if (end - p < MINREC || !tagged(p, end))
		return 0;
	len = rd32(p + 4);
	return len % 8 || len < MINREC || len > (size_t)(end - p) ? 0 : len;
}

/* The length of the record at p if it is whole, its name and fixed fields in
 * it and its checksum right, else 0. */
static size_t
valid(const unsigned char *p, const unsigned char *end)
{
	size_t len = framed(p, end), nl;

	if (!len)
		return 0;
	nl = rd32(p + 8);
	if ((uint64_t)nl + NAMEOFF + 1 + (p[2] == 'T' ? TFIX : FFIX) + 4 > len ||
	    p[NAMEOFF + nl] != '\0' || crc32c(p, len - 4) != rd32(p + len - 4))
		return 0;
	return len;
}

/* Index the loaded file. */
static void
index_data(struct fr_state *s)
{
	const unsigned char *start, *end, *p, *q;
	size_t n, damaged = 0, len, k;

	if (s->len < HDRLEN || memcmp(s->data, &header, HDRLEN) != 0) {
		if (s->len > 0)
			fr_warn("state file %s has an unknown format; starting afresh", s->shownpath);
		s->restart = 1;
		resize(s, 0);
		return;
	}
	start = s->data + HDRLEN;
	end = s->data + s->len;
	n = (s->len - HDRLEN) / AVGREC;	/* a guess to size the arrays */
	s->ents = fr_xmalloc(n * sizeof(*s->ents));
	s->capent = n;
	resize(s, n);
	s->goodlen = HDRLEN;
	for (p = start; p < end; ) {
		if ((len = valid(p, end)) > 0) {
			add(s, (char)p[2], (const char *)p + NAMEOFF, rd32(p + 8), p);
			s->nrec++;
			p += len;
			s->goodlen = (size_t)(p - s->data);
			continue;
		}
		/* skip to the next good record, counting the tags on the way */
		for (q = p, k = 0; (q = memchr(q, TAG0, (size_t)(end - q))); q++) {
			if (q > p && valid(q, end))
				break;
			k += tagged(q, end);
		}
		k = k > 0 ? k : 1;
		damaged += k;
		s->nrec += k;
		p = q ? q : end;
	}
	if (damaged > 0) {
		fr_warn("state file %s: dropped %zu damaged records", s->shownpath, damaged);
		s->rewrite = 1;
	}
}

static int
load(struct fr_state *s, struct fr_error *err)
{
	struct stat sb;
	long n;
	int fd;

	pthread_once(&crconce, crcinit);
	fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		index_data(s);
		return 0;
	}
	if (fd < 0 || fstat(fd, &sb) < 0)
		goto fail;
	s->data = fr_xmalloc((size_t)sb.st_size);
	if ((n = fr_read_full(fd, s->data, (size_t)sb.st_size)) < 0)
		goto fail;
	s->len = (size_t)n;
	close(fd);
	index_data(s);
	return 0;
fail:
	fr_error_set(err, FR_ESTATE, NULL, "cannot read state %s:", s->shownpath);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Parse a T entry's record from its bytes into s->rec. */
static int
tparse(struct fr_state *s, struct ent *e)
{
	const unsigned char *p = e->raw, *end = p + rd32(p + 4) - 4, *q, *lens, *digs;
	struct fr_state_item *it;
	struct fr_state_rec *r;
	const char *str;
	size_t cnt[3], nitem, i, l;
	uint32_t rlen;

	q = p + NAMEOFF + rd32(p + 8) + 1;	/* valid() saw TFIX bytes here */
	for (i = 0; i < 3; i++)
		cnt[i] = rd32(q + 104 + 4 * i);
	rlen = rd32(q + 116);
	if ((uint64_t)cnt[0] + cnt[1] + cnt[2] > (size_t)(end - q - TFIX) / 36)
		return -1;	/* before allocating for absurd counts */
	nitem = cnt[0] + cnt[1] + cnt[2];
	lens = q + TFIX;
	digs = lens + 4 * nitem;
	str = (const char *)(digs + FR_DIGEST_LEN * nitem);
	if (s->reccap < sizeof(*r) + nitem * sizeof(*it)) {
		s->reccap = sizeof(*r) + nitem * sizeof(*it);
		s->rec = fr_xrealloc(s->rec, s->reccap);
	}
	r = s->rec;
	it = (struct fr_state_item *)(r + 1);
	r->name = e->name;
	r->duration_ns = (int64_t)rd64(q);
	memcpy(r->key.b, q + 8, FR_DIGEST_LEN);
	memcpy(r->cmd.b, q + 40, FR_DIGEST_LEN);
	memcpy(r->env.b, q + 72, FR_DIGEST_LEN);
	r->result = NULL;
	if (rlen != NORESULT) {
		if (rlen >= (size_t)((const char *)end - str) || str[rlen] != '\0')
			return -1;
		r->result = str;
		str += rlen + 1;
	}
	for (i = 0; i < nitem; i++) {
		l = rd32(lens + 4 * i);
		if (l >= (size_t)((const char *)end - str) || str[l] != '\0')
			return -1;
		it[i].name = str;
		memcpy(it[i].digest.b, digs + FR_DIGEST_LEN * i, FR_DIGEST_LEN);
		str += l + 1;
	}
	if ((const char *)end - str >= 8)
		return -1;	/* more than padding left */
	r->input = it;
	r->ninput = cnt[0];
	r->output = it + cnt[0];
	r->noutput = cnt[1];
	r->dep = it + cnt[0] + cnt[1];
	r->ndep = cnt[2];
	return 0;
}

/* The record of a T entry, parsed into s->rec; NULL if damaged. */
static struct fr_state_rec *
ready(struct fr_state *s, struct ent *e)
{
	if (!e->bad && tparse(s, e) < 0) {
		e->bad = 1;
		s->nbad++;
		s->rewrite = 1;
		fr_warn("state file %s: dropped damaged record of %s", s->shownpath, e->name);
	}
	return e->bad ? NULL : s->rec;
}

/* The stat data and digest of an F entry. */
static void
fileval(const struct ent *e, struct fr_stat *st, struct fr_digest *d)
{
	const unsigned char *q = e->raw + NAMEOFF + rd32(e->raw + 8) + 1;

	st->size = (int64_t)rd64(q);
	st->mtime_ns = (int64_t)rd64(q + 8);
	st->ctime_ns = (int64_t)rd64(q + 16);
	st->ino = rd64(q + 24);
	st->dev = rd64(q + 32);
	memcpy(d->b, q + 40, FR_DIGEST_LEN);
}

/* Start a record: its tag, a length filled in by finish(), its name. */
static size_t
start(struct fr_buf *b, char type, const char *name)
{
	unsigned char tag[4] = { TAG0, TAG1, (unsigned char)type, TAG3 };
	size_t at = b->len, n = strlen(name);

	fr_buf_add(b, tag, sizeof(tag));
	ADD32(b, 0);
	ADD32(b, n);
	fr_buf_add(b, name, n + 1);
	return at;
}

/* Pad the record begun at at, fill in its length and add its checksum; -1 if
 * it is too long to be written (then it is taken back). */
static int
finish(struct fr_buf *b, size_t at)
{
	static const char zero[8];
	size_t len = b->len - at + 4;
	uint32_t n;

	fr_buf_add(b, zero, (8 - len % 8) % 8);
	len = b->len - at + 4;
	if (len > 0xfffffff8u) {
		b->len = at;
		return -1;
	}
	n = (uint32_t)len;
	memcpy(b->data + at + 4, &n, sizeof(n));
	ADD32(b, crc32c((const unsigned char *)b->data + at, b->len - at));
	return 0;
}

static int
addtask(struct fr_buf *b, const struct fr_state_rec *r)
{
	const struct fr_state_item *arr[3] = { r->input, r->output, r->dep };
	size_t cnt[3] = { r->ninput, r->noutput, r->ndep }, at, i;
	int j;

	at = start(b, 'T', r->name);
	ADD64(b, r->duration_ns);
	fr_buf_add(b, r->key.b, FR_DIGEST_LEN);
	fr_buf_add(b, r->cmd.b, FR_DIGEST_LEN);
	fr_buf_add(b, r->env.b, FR_DIGEST_LEN);
	for (j = 0; j < 3; j++)
		ADD32(b, cnt[j]);
	ADD32(b, r->result ? strlen(r->result) : NORESULT);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			ADD32(b, strlen(arr[j][i].name));
	}
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			fr_buf_add(b, arr[j][i].digest.b, FR_DIGEST_LEN);
	}
	if (r->result)
		fr_buf_add(b, r->result, strlen(r->result) + 1);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			fr_buf_add(b, arr[j][i].name, strlen(arr[j][i].name) + 1);
	}
	return finish(b, at);
}

static int
addfile(struct fr_buf *b, const char *path, const struct fr_stat *st, const struct fr_digest *d)
{
	size_t at = start(b, 'F', path);

	ADD64(b, st->size);
	ADD64(b, st->mtime_ns);
	ADD64(b, st->ctime_ns);
	ADD64(b, st->ino);
	ADD64(b, st->dev);
	fr_buf_add(b, d->b, FR_DIGEST_LEN);
	return finish(b, at);
}

/* A copy in the arena of the record just encoded alone in wbuf (ok 0), or
 * NULL if it was too long (ok -1). */
static const unsigned char *
stored(struct fr_state *s, int ok)
{
	return ok < 0 ? NULL : memcpy(alloc(s, s->wbuf.len), s->wbuf.data, s->wbuf.len);
}

/* Write the header and, if all, every live record to the temporary file, sync
 * it and rename it over the state file. */
static int
compact(struct fr_state *s, int all, struct fr_error *err)
{
	struct fr_buf b = { NULL, 0, 0 };
	struct ent *e;
	size_t i;
	int fd, dfd, ret = -1;

	fr_buf_add(&b, &header, HDRLEN);
	for (i = 0; all && i < s->nent; i++) {
		e = &s->ents[i];
		if (!e->dead && (e->type == 'F' || ready(s, e)))
			fr_buf_add(&b, e->raw, rd32(e->raw + 4));
	}
	fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || fr_write_full(fd, b.data, b.len) < 0 || fsync(fd) < 0)
		goto fail;
	ret = close(fd);
	fd = -1;
	if (ret < 0 || rename(s->tmp, s->path) < 0)
		goto fail;
	if ((dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);	/* best effort: not every file system can */
		close(dfd);
	}
	ret = 0;
	goto cleanup;
fail:
	ret = fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->shownpath);
	if (fd >= 0)
		close(fd);
	unlink(s->tmp);
cleanup:
	fr_buf_free(&b);
	return ret;
}

/* Open the state file for appending, creating it if need be. */
static int
openwriter(struct fr_state *s, struct fr_error *err)
{
	struct stat sb;

	if (s->wfd >= 0)
		return 0;
	if (!s->restart) {
		s->wfd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (s->wfd < 0 && errno != ENOENT)
			goto fail;
		if (s->wfd < 0) {	/* removed since it was loaded */
			s->restart = 1;
			s->rewrite = s->nrec > 0;
		}
	}
	if (s->restart) {
		if (compact(s, 0, err) < 0)
			return -1;
		s->restart = 0;
		s->nrec = 0;
		if ((s->wfd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
			goto fail;
	} else if (s->goodlen < s->len && ftruncate(s->wfd, (off_t)s->goodlen) < 0) {
		s->torn = 1;	/* cannot cut the damaged tail off: append after it */
	}
	if (fstat(s->wfd, &sb) < 0)
		goto fail;
	s->wsize = (int64_t)sb.st_size;
	return 0;
fail:
	return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->shownpath);
}

/* Append the pending records and the T record rec (if not NULL) with one write. */
static int
flush(struct fr_state *s, const unsigned char *rec, struct fr_error *err)
{
	const unsigned char *raw;
	struct stat sb;
	size_t i;

	if (openwriter(s, err) < 0)
		return -1;
	if (s->torn && fstat(s->wfd, &sb) < 0)
		return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->shownpath);
	if (s->torn)
		s->wsize = (int64_t)sb.st_size;
	fr_buf_reset(&s->wbuf);
	for (i = 0; i < s->npending; i++) {
		raw = s->ents[s->pending[i]].raw;
		fr_buf_add(&s->wbuf, raw, rd32(raw + 4));
	}
	if (rec)
		fr_buf_add(&s->wbuf, rec, rd32(rec + 4));
	if (fr_write_full(s->wfd, s->wbuf.data, s->wbuf.len) < 0) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->shownpath);
		if (ftruncate(s->wfd, (off_t)s->wsize) < 0)
			s->torn = 1;
		return -1;
	}
	s->rewrite |= s->torn;
	s->torn = 0;
	s->wsize += (int64_t)s->wbuf.len;
	s->nrec += s->npending + (rec != NULL);
	s->wrote = 1;
	for (i = 0; i < s->npending; i++)
		s->ents[s->pending[i]].pending = 0;
	s->npending = 0;
	return 0;
}

static int
lock(struct fr_state *s, void (*waiting)(pid_t, void *), void *arg, struct fr_error *err)
{
	char *path = fr_xasprintf("%s/lock", s->dir), buf[32];
	char *shown = fr_xasprintf("%s/lock", s->shown);
	long holder = 0;
	ssize_t n;
	int ret = -1;

	if (mkdir(s->dir, 0777) < 0 && errno != EEXIST) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot create state directory %s:", s->shown);
		goto cleanup;
	}
	if ((s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot open lock %s:", shown);
		goto cleanup;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			fr_error_set(err, FR_ESTATE, NULL, "cannot lock %s:", shown);
			goto cleanup;
		}
		if ((n = pread(s->lockfd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			holder = strtol(buf, NULL, 10);
		}
		if (s->mode == FR_LOCK_FAIL) {
			snprintf(buf, sizeof(buf), " (pid %ld)", holder);
			fr_error_set(err, FR_ESTATE, NULL, "another flowrun%s is running "
			    "on this pipeline", holder > 0 ? buf : "");
			goto cleanup;
		}
		if (waiting)
			waiting(holder > 0 ? (pid_t)holder : 0, arg);
		/* EINTR fails: a handler installed without SA_RESTART means to
		 * interrupt the wait. */
		if (flock(s->lockfd, LOCK_EX) < 0) {
			fr_error_set(err, FR_ESTATE, NULL, "cannot lock %s:", shown);
			goto cleanup;
		}
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(s->lockfd, 0) < 0 || pwrite(s->lockfd, buf, (size_t)n, 0) != n) {
		/* the pid is only for the message of whoever waits */
	}
	ret = 0;
cleanup:
	free(path);
	free(shown);
	return ret;
}

static void
freeall(struct fr_state *s)
{

	if (s->wfd >= 0)
		close(s->wfd);
	if (s->lockfd >= 0)
		close(s->lockfd);	/* releases the lock */
	fr_arena_free(&s->arena);
	free(s->pending);
	free(s->rec);
	free(s->slot);
	free(s->ents);
	free(s->data);
	fr_buf_free(&s->wbuf);
	free(s->dir);
	free(s->path);
	free(s->tmp);
	free(s->shown);
	free(s->shownpath);
	free(s);
}

struct fr_state *
fr_state_open(const char *dir, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, struct fr_error *err)
{
	return fr_state_open_as(dir, dir, mode, waiting, arg, err);
}

/* Open as fr_state_open_as says, loading the records unless noload. */
static struct fr_state *
open_state(const char *dir, const char *shown, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, int noload, struct fr_error *err)
{
	struct fr_state *s = fr_xcalloc(1, sizeof(*s));

	s->shown = fr_xstrdup(shown);
	s->shownpath = fr_xasprintf("%s/state", shown);
	s->dir = fr_xstrdup(dir);
	s->path = fr_xasprintf("%s/state", dir);
	s->tmp = fr_xasprintf("%s/state.tmp", dir);
	s->mode = mode;
	s->lockfd = s->wfd = -1;
	if ((mode != FR_LOCK_READONLY && lock(s, waiting, arg, err) < 0) ||
	    (!noload && load(s, err) < 0)) {
		freeall(s);
		return NULL;
	}
	return s;
}

struct fr_state *
fr_state_open_as(const char *dir, const char *shown, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, struct fr_error *err)
{
	return open_state(dir, shown, mode, waiting, arg, 0, err);
}

struct fr_state *
fr_state_lock(const char *dir, const char *shown, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, struct fr_error *err)
{
	return open_state(dir, shown, mode, waiting, arg, 1, err);
}

const struct fr_state_rec *
fr_state_get(struct fr_state *s, const char *name)
{
	struct ent *e = lookup(s, 'T', name);

	return e ? ready(s, e) : NULL;
}

/* The entry of type and name (a string that lives until close), a new one if
 * there is none, given the record raw. */
static struct ent *
entry(struct fr_state *s, char type, const char *name, const unsigned char *raw)
{
	struct ent *e = lookup(s, type, name);

	if (!e) {
		e = add(s, type, name, strlen(name), raw);
	} else if (e->bad) {
		e->bad = 0;
		s->nbad--;
	}
	e->raw = raw;
	return e;
}

int
fr_state_put(struct fr_state *s, const struct fr_state_rec *rec, struct fr_error *err)
{
	const unsigned char *raw;
	struct ent *e;

	fr_buf_reset(&s->wbuf);
	if (!(raw = stored(s, addtask(&s->wbuf, rec))))
		return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s: a record "
		    "of over 4 GB", s->shownpath);
	e = entry(s, 'T', (const char *)raw + NAMEOFF, raw);
	if (s->mode == FR_LOCK_READONLY)
		return 0;
	if (!s->batch)
		return flush(s, raw, err);
	if (!e->pending) {
		e->pending = 1;
		FR_PUSH(s->pending, s->npending, s->cappending, (size_t)(e - s->ents));
	}
	return 0;
}

void
fr_state_batch(struct fr_state *s, int on)
{
	s->batch = on;
}

int
fr_state_flush(struct fr_state *s, struct fr_error *err)
{
	if (s->mode == FR_LOCK_READONLY || s->npending == 0)
		return 0;
	return flush(s, NULL, err);
}

int
fr_state_file_get(struct fr_state *s, const char *path, struct fr_stat *st,
    struct fr_digest *d)
{
	struct ent *e = lookup(s, 'F', path);
	struct fr_stat cst;
	struct fr_digest cd;

	if (!e)
		return -1;
	fileval(e, st ? st : &cst, d ? d : &cd);
	return 0;
}

void
fr_state_file_set(struct fr_state *s, const char *path, const struct fr_stat *st,
    const struct fr_digest *d)
{
	struct ent *e = lookup(s, 'F', path);
	const unsigned char *raw;
	struct fr_stat cst;
	struct fr_digest cd;

	if (e) {
		fileval(e, &cst, &cd);
		if (fr_stat_equal(&cst, st) && memcmp(cd.b, d->b, FR_DIGEST_LEN) == 0)
			return;
	}
	fr_buf_reset(&s->wbuf);
	if (!(raw = stored(s, addfile(&s->wbuf, path, st, d))))
		return;		/* a path of over 4 GB */
	e = entry(s, 'F', e ? e->name : (const char *)raw + NAMEOFF, raw);
	if (s->mode != FR_LOCK_READONLY && !e->pending) {
		e->pending = 1;
		FR_PUSH(s->pending, s->npending, s->cappending, (size_t)(e - s->ents));
	}
}

size_t
fr_state_count(const struct fr_state *s)
{
	return s->nname[0] - s->nbad;
}

int
fr_state_close(struct fr_state *s, struct fr_error *err)
{
	return fr_state_close_stat(s, NULL, err);
}

int
fr_state_close_stat(struct fr_state *s, struct fr_stat *final, struct fr_error *err)
{
	size_t live;
	int ret = 0;

	if (final)
		final->size = -1;
	if (!s)
		return 0;
	if (s->mode != FR_LOCK_READONLY) {
		if (s->npending > 0 && flush(s, NULL, err) < 0)
			ret = -1;
		live = fr_state_count(s) + s->nname[1];
		if (ret == 0 && s->wrote && (s->restart || s->rewrite ||
		    (s->nrec > COMPACT_MIN && s->nrec > 2 * live)))
			ret = compact(s, 1, err);
	}
	if (final && fr_stat_path(s->path, final) < 0)
		final->size = -1;	/* still under the lock: no other run wrote it since */
	freeall(s);
	return ret;
}
