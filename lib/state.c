/* SPDX-License-Identifier: MIT */
/* state: the records flowrun keeps between runs in .flowrun/, an append-only
 * binary file of checksummed records under an exclusive flock(2). */

/*
 * Files in the state directory DIR:
 *   DIR/state      the records (below)
 *   DIR/lock       flock(2)ed by the running flowrun, which writes its pid into it
 *                  (statelock.c)
 *   DIR/state.tmp  a compacted copy of DIR/state being written, then renamed over it
 *
 * DIR/state starts with a 24-byte header naming its version and byte order;
 * checksummed records follow, each a task's (T) or a file's (F). Their bytes
 * are specified at the top of staterec.c, which encodes and decodes them
 * (this module writes and checks the header); the checksum, CRC32C, is
 * computed in crc32c.c.
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
 * during a run a batch is written before the scheduler waits for anything,
 * and whenever it reaches 1 MB (the file records of the inputs hashed up
 * front), so that a batch never waits in memory whole.
 * At the end of a run that wrote anything, if superseded records outnumber
 * live ones in a file of over 1000 records, or outweigh them in a file of
 * over 1 MB (a task of many inputs rewrites a big record each time), or
 * damaged ones were dropped, it writes the live records to DIR/state.tmp,
 * fsyncs it, renames it over DIR/state and fsyncs DIR.
 *
 * In memory there is only an index: for each name, where its latest record
 * is (16 bytes a record, and a slot in an open-addressing table at most 3/4
 * full), keyed by 48 bits of a hash of its type and name. The file is read once, in windows of
 * SCANAHEAD bytes, to check each record's frame and checksum and index it;
 * after that, a record asked for is read again with pread(2) (not mapped: a
 * reader without the lock must not die of SIGBUS if the file is cut short)
 * through a window that reads further ahead while the reads go forward
 * through the file, as a run asking in the order of the last run does. The
 * record read is checked again and its name compared with the name asked for:
 * two names of the same hash share an entry, so the one whose record is not
 * there is simply unknown, and that task runs again. A T record is parsed
 * into one reused struct fr_state_rec each time it is asked for, after
 * checking its counts against its length; if its fields do not fit, which
 * flowrun never writes, it is dropped then, with its own warning. Records put
 * or set are encoded at once into a buffer of pending records, written whole
 * by the next flush (or once it holds 1 MB) and then read back from the file
 * like the others; a T record of over 1 MB (a task of 100,000 inputs) is
 * written straight to the file through a 64 KB chunk, its length counted
 * first and its checksum kept as it goes. So a run's memory does not grow
 * with the records it writes.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crc32c.h"
#include "log.h"
#include "state.h"
#include "statelock.h"
#include "staterec.h"
#include "util.h"

#define HDRLEN 24
#define COMPACT_MIN 1000	/* never compact a file of fewer records */
#define COMPACT_MINLEN (1u << 20)	/* nor, by its size, one of fewer bytes */
#define SCANAHEAD (1u << 20)	/* read at once when indexing or compacting */
#define READPAGE 4096		/* read at once for a record asked for out of order */
#define READMAX (256u << 10)	/* read at once at most, reading forward */
#define PENDKEEP (1u << 20)	/* a pending buffer larger than this is freed once written */

static const struct {
	char magic[16];
	uint32_t bom, zero;
} header = { "flowrun-state 2\n", 0x01020304, 0 };

/* Where a record is: in the file as loaded, in the file as appended by this
 * run (another file once the state file was created again), or in the
 * buffer of records not yet written. */
enum { SRC_LOADED, SRC_WRITTEN, SRC_PENDING };

/* The latest record of a name: T (task) or F (file). 16 bytes, as there is
 * one for every task and every file: 48 bits of the hash of type and name
 * (two names that share them share an entry, as if they shared a hash), and
 * the record's place in 42 bits (a state file of up to 4 TB). */
struct ent {
	uint64_t hash : 48;		/* namehash() >> 16 */
	uint64_t offhi : 10;		/* where the record starts in its source, >> 32 */
	uint64_t file : 1;		/* an F record, else T */
	uint64_t bad : 1;
	uint64_t pending : 1;		/* in fr_state.pending */
	uint64_t src : 2;
	uint32_t offlo;			/* where it starts, the low 32 bits */
	uint32_t len;			/* its length */
};
_Static_assert(sizeof(struct ent) == 16, "an entry per task and per file: keep it small");
#define OFFMAX (1ull << 42)		/* no record starts at or after this offset */
#define TYPE(e) ((e)->file ? 'F' : 'T')

static uint64_t
offof(const struct ent *e)
{
	return (uint64_t)e->offhi << 32 | e->offlo;
}

static void
setoff(struct ent *e, uint64_t off)
{
	e->offhi = off >> 32;
	e->offlo = (uint32_t)off;
}

/* Bytes [base, base + n) of a file. */
struct win {
	unsigned char *buf;
	size_t cap, n, ahead;
	uint64_t base;
};

struct fr_state {
	char *dir, *path, *tmp;
	char *shown, *shownpath;	/* dir and path as messages name them */
	enum fr_lock_mode mode;
	int lockfd, wfd, rfd;	/* rfd: the file loaded, open for reading to the end */
	uint64_t len, goodlen;	/* its length, and up to the end of its last good record */
	struct win win[2];	/* on rfd (SRC_LOADED) and wfd (SRC_WRITTEN) */
	struct ent *ents;	/* the records, in the order their names were first seen */
	size_t nent, capent;
	uint32_t *slot;		/* open addressing on hash: 1 + index in ents, or 0 */
	size_t cap;		/* slots, a power of two, at most 3/4 full */
	size_t nname[2];	/* T and F names in slot */
	size_t nbad;		/* T entries found not to parse */
	size_t nrec;		/* records in the file, superseded ones included */
	uint64_t livelen;	/* bytes of the latest records */
	int64_t wsize;		/* size of the file open for appending */
	struct fr_buf pend;	/* records put or set, encoded, not yet written */
	size_t npendrec;	/* records in pend */
	size_t *pending;	/* indexes in ents of the records in pend */
	size_t npending, cappending;
	unsigned char *tbuf;	/* a copy of the T record last asked for */
	size_t tcap;
	size_t recent;		/* 1 + index in ents of the record in rec, or 0 */
	struct fr_state_rec *rec;	/* the last record asked for, parsed (fr_state_get) */
	size_t reccap;		/* bytes at rec */
	int restart;		/* (re)create the file before appending */
	int rewrite;		/* damaged records: compact at close if anything was written */
	int torn;		/* the file may end in garbage that could not be cut off */
	int wrote;		/* something was written during this open */
	int batch;		/* task records wait for fr_state_flush too */
	int spillfail;		/* a spill failed: pend waits for fr_state_flush */
};
/* The hash of type and the n bytes of name: FNV-1a, then mixed (MurmurHash3's
 * finalizer) so that every bit of it can index the table. */
static uint64_t
namehash(char type, const char *name, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	h = (h ^ (unsigned char)type) * 0x100000001b3ull;
	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return (h ^ (h >> 33)) >> 16;	/* the 48 bits an entry keeps */
}

/* The slot of the entry of type and hash (48 bits), or the empty one where
 * it would go. */
static uint32_t *
find(const struct fr_state *s, char type, uint64_t hash)
{
	size_t i = (size_t)hash & (s->cap - 1);
	const struct ent *e;

	for (;; i = (i + 1) & (s->cap - 1)) {
		if (!s->slot[i])
			return &s->slot[i];
		e = &s->ents[s->slot[i] - 1];
		if (e->hash == hash && TYPE(e) == type)
			return &s->slot[i];
	}
}

/* The entry of type and name, or NULL. */
static struct ent *
lookup(const struct fr_state *s, char type, const char *name)
{
	uint32_t *slot = find(s, type, namehash(type, name, strlen(name)));

	return *slot ? &s->ents[*slot - 1] : NULL;
}

/* Size the table for n names (at most 3/4 full). */
static void
resize(struct fr_state *s, size_t n)
{
	size_t i;

	free(s->slot);
	for (s->cap = 16; s->cap / 4 * 3 < n; s->cap *= 2)
		;
	s->slot = fr_xcalloc(s->cap, sizeof(*s->slot));
	for (i = 0; i < s->nent; i++)
		*find(s, TYPE(&s->ents[i]), s->ents[i].hash) = (uint32_t)i + 1;
}

/* The entry of type and hash, made if there is none, its record now the one
 * of len bytes at off in src; valid until the next call. */
static struct ent *
entry(struct fr_state *s, char type, uint64_t hash, int src, uint64_t off, size_t len)
{
	uint32_t *slot;
	struct ent *e;

	if (s->nname[0] + s->nname[1] + 1 > s->cap / 4 * 3)
		resize(s, s->nname[0] + s->nname[1] + 1);
	slot = find(s, type, hash);
	if (*slot) {
		e = &s->ents[*slot - 1];
		if (e->bad && type == 'T')
			s->nbad--;
		if (s->recent == *slot)
			s->recent = 0;
	} else {
		fr_grow(&s->ents, s->nent + 1, &s->capent, sizeof(*s->ents));
		e = &s->ents[s->nent++];
		*e = (struct ent){ .hash = hash, .file = type == 'F' };
		*slot = (uint32_t)s->nent;
		s->nname[type == 'F']++;
	}
	s->livelen = s->livelen - e->len + len;	/* a new entry's len is 0 */
	e->bad = 0;
	e->src = (unsigned)src & 3;
	setoff(e, off);
	e->len = (uint32_t)len;
	return e;
}

/* Bytes [off, off + len) of fd through w, reading at least ahead bytes
 * when it must read; NULL if the file ends first or cannot be read. Valid
 * until the next read through w. */
static const unsigned char *
winread(struct win *w, int fd, uint64_t off, size_t len, size_t ahead)
{
	size_t keep = 0, want = len > ahead ? len : ahead;
	ssize_t r;

	if (off >= w->base && off - w->base <= w->n && len <= w->n - (off - w->base))
		return w->buf + (off - w->base);
	if (off >= w->base && off - w->base < w->n) {	/* keep what is there */
		keep = w->n - (size_t)(off - w->base);
		memmove(w->buf, w->buf + (off - w->base), keep);
	}
	if (want > w->cap) {
		w->cap = want;
		w->buf = fr_xrealloc(w->buf, w->cap);
	}
	w->base = off;
	w->n = keep;
	while (w->n < len) {
		r = pread(fd, w->buf + w->n, want - w->n, (off_t)(off + w->n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		w->n += (size_t)r;
	}
	return w->buf;
}

/* The file e's record is in (not pending). */
static int
srcfd(const struct fr_state *s, const struct ent *e)
{
	return e->src == SRC_LOADED ? s->rfd : s->wfd;
}

/* The record of e (valid until the next fetch), checked again; NULL if it
 * cannot be read or is not what was indexed. */
static const unsigned char *
fetch(struct fr_state *s, const struct ent *e)
{
	const unsigned char *p;
	uint64_t off = offof(e);
	struct win *w;

	if (e->src == SRC_PENDING) {
		p = (const unsigned char *)s->pend.data + offof(e);
	} else if (e->len > READMAX) {
		/* a big record (a task of many inputs) is read into tbuf, so that
		 * a window never grows to its size */
		if (s->tcap < e->len) {
			free(s->tbuf);
			s->tcap = e->len;
			s->tbuf = fr_xmalloc(s->tcap);
		}
		s->recent = 0;
		p = fr_pread_full(srcfd(s, e), s->tbuf, e->len,
		    off) == 0 ? s->tbuf : NULL;
	} else {
		w = &s->win[e->src];
		if (off < w->base || off - w->base + e->len > w->n) {
			/* reading forward: read further ahead each time */
			if (off >= w->base + w->n && off - (w->base + w->n) < READMAX)
				w->ahead = w->ahead * 2 > READMAX ? READMAX : w->ahead * 2;
			else
				w->ahead = READPAGE;
		}
		p = winread(w, srcfd(s, e), off, e->len, w->ahead);
	}
	return p && fr_staterec_valid(p, e->len) == e->len ? p : NULL;
}

/* Drop e's record as damaged, naming name. */
static void
damaged(struct fr_state *s, struct ent *e, const char *name)
{
	if (e->bad)
		return;
	e->bad = 1;
	s->nbad += !e->file;
	s->rewrite = 1;
	fr_warn("state file %s: dropped damaged record of %s", s->shownpath, name);
}

/* The record of e, an entry for name, (valid until the next fetch), or
 * NULL: no entry, or its record is damaged (then dropped with a warning) or
 * is another name's of the same hash. */
static const unsigned char *
named(struct fr_state *s, struct ent *e, const char *name)
{
	const unsigned char *p;

	if (!e || e->bad)
		return NULL;
	if (!(p = fetch(s, e))) {
		damaged(s, e, name);
		return NULL;
	}
	/* another name of the same hash: this one is unknown */
	return strcmp((const char *)p + FR_STATEREC_NAMEOFF, name) == 0 ? p : NULL;
}

/* The length of the good record at pos in the loaded file, else 0. */
static size_t
recat(struct fr_state *s, uint64_t pos)
{
	struct win *w = &s->win[SRC_LOADED];
	const unsigned char *p;
	size_t len;

	if (s->len - pos < FR_STATEREC_MINREC ||
	    !(p = winread(w, s->rfd, pos, FR_STATEREC_MINREC, SCANAHEAD)) ||
	    !(len = fr_staterec_framed(p, s->len - pos)) ||
	    !(p = winread(w, s->rfd, pos, len, SCANAHEAD)))
		return 0;
	return fr_staterec_valid(p, len);
}

/* The first offset from pos on of a byte FR_STATEREC_TAG0 in the loaded file,
 * or its length. */
static uint64_t
nexttag(struct fr_state *s, uint64_t pos)
{
	const unsigned char *p, *q;
	size_t n;

	for (; pos < s->len; pos += n) {
		n = s->len - pos < SCANAHEAD ? (size_t)(s->len - pos) : SCANAHEAD;
		if (!(p = winread(&s->win[SRC_LOADED], s->rfd, pos, n, SCANAHEAD)))
			break;
		if ((q = memchr(p, FR_STATEREC_TAG0, n)))
			return pos + (uint64_t)(q - p);
	}
	return s->len;
}

/* Index the loaded file, reading it through a window. */
static void
index_file(struct fr_state *s)
{
	struct win *w = &s->win[SRC_LOADED];
	const unsigned char *p;
	size_t damaged = 0, len, k;
	uint64_t pos, q;

	p = s->len >= HDRLEN ? winread(w, s->rfd, 0, HDRLEN, SCANAHEAD) : NULL;
	if (!p || memcmp(p, &header, HDRLEN) != 0) {
		if (s->len > 0)
			fr_warn("state file %s has an unknown format; starting afresh", s->shownpath);
		s->restart = 1;
		resize(s, 0);
		return;
	}
	resize(s, 0);	/* grown as names come: sizing from the file's length would
			 * count superseded records too */
	s->goodlen = HDRLEN;
	for (pos = HDRLEN; pos < s->len; ) {
		if (pos >= OFFMAX) {	/* what follows is dropped: tasks run again */
			fr_warn("state file %s: over 4 TB; starting over past it", s->shownpath);
			break;
		}
		if ((len = recat(s, pos)) > 0) {
			p = w->buf + (pos - w->base);
			entry(s, (char)p[2], namehash((char)p[2], (const char *)p + FR_STATEREC_NAMEOFF,
			    fr_staterec_rd32(p + 8)), SRC_LOADED, pos, len);
			s->nrec++;
			pos += len;
			s->goodlen = pos;
			continue;
		}
		/* skip to the next good record, counting the tags on the way */
		for (q = pos, k = 0; (q = nexttag(s, q)) < s->len; q++) {
			if (q > pos && recat(s, q))
				break;
			p = winread(w, s->rfd, q, s->len - q < 4 ? (size_t)(s->len - q) : 4,
			    SCANAHEAD);
			k += p && fr_staterec_tagged(p, s->len - q);
		}
		k = k > 0 ? k : 1;
		damaged += k;
		s->nrec += k;
		pos = q;
	}
	if (damaged > 0) {
		fr_warn("state file %s: dropped %zu damaged records", s->shownpath, damaged);
		s->rewrite = 1;
	}
	if (s->capent > s->nent + s->nent / 8 + 16) {
		s->capent = s->nent + s->nent / 8 + 16;
		s->ents = fr_xrealloc(s->ents, s->capent * sizeof(*s->ents));
	}
	if (s->cap > 16 && (s->nname[0] + s->nname[1]) * 3 < s->cap)
		resize(s, s->nname[0] + s->nname[1]);
	/* the window of a whole-file scan is not needed to answer what is asked */
	free(w->buf);
	*w = (struct win){ .ahead = READPAGE };
}

static int
load(struct fr_state *s, struct fr_error *err)
{
	struct stat sb;

	fr_crc32c_init();
	s->rfd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (s->rfd < 0 && errno == ENOENT) {
		index_file(s);
		return 0;
	}
	if (s->rfd < 0 || fstat(s->rfd, &sb) < 0)
		return fr_error_set(err, FR_ESTATE, NULL, "cannot read state %s:", s->shownpath);
	s->len = (uint64_t)sb.st_size;
	index_file(s);
	return 0;
}

/* Order entries by where their records are. */
static int
bysource(const void *a, const void *b)
{
	const struct ent *x = *(struct ent *const *)a, *y = *(struct ent *const *)b;

	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	return offof(x) < offof(y) ? -1 : offof(x) > offof(y);
}

/* Write the header and, if all, every live record to the temporary file, sync
 * it and rename it over the state file. The records are read in the order
 * they are in their files and written in windows of SCANAHEAD bytes. */
static int
compact(struct fr_state *s, int all, struct fr_error *err)
{
	struct fr_buf b = { NULL, 0, 0 };
	struct ent **live = NULL, *e;
	const unsigned char *p;
	size_t i, n = 0;
	int fd, dfd, ret = -1;

	fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		goto fail;
	fr_buf_add(&b, &header, HDRLEN);
	if (all) {
		live = fr_xmalloc((s->nent ? s->nent : 1) * sizeof(*live));
		for (i = 0; i < s->nent; i++) {
			if (!s->ents[i].bad)
				live[n++] = &s->ents[i];
		}
		qsort(live, n, sizeof(*live), bysource);
		for (i = 0; i < n; i++) {
			e = live[i];
			if (!(p = fetch(s, e)) ||
			    (!e->file && fr_staterec_task(p, &s->rec, &s->reccap) < 0)) {
				damaged(s, e, p ? (const char *)p + FR_STATEREC_NAMEOFF : "a task or file");
				continue;
			}
			fr_buf_add(&b, p, e->len);
			if (b.len >= SCANAHEAD) {
				if (fr_write_full(fd, b.data, b.len) < 0)
					goto fail;
				fr_buf_reset(&b);
			}
		}
	}
	if (fr_write_full(fd, b.data, b.len) < 0 || fsync(fd) < 0)
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
	free(live);
	fr_buf_free(&b);
	return ret;
}

/* Open the state file for appending (and reading back), creating it if need be. */
static int
openwriter(struct fr_state *s, struct fr_error *err)
{
	struct stat sb;

	if (s->wfd >= 0)
		return 0;
	if (!s->restart) {
		s->wfd = open(s->path, O_RDWR | O_APPEND | O_CLOEXEC);
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
		if ((s->wfd = open(s->path, O_RDWR | O_APPEND | O_CLOEXEC)) < 0)
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

/* Order entries by where their records are in pend. */
static int
bypend(const void *a, const void *b)
{
	const struct ent *x = *(struct ent *const *)a, *y = *(struct ent *const *)b;

	return offof(x) < offof(y) ? -1 : offof(x) > offof(y);
}

/* Drop from pend the records superseded by later ones: moving each live
 * record down in the order they are in, none overwrites one still to move. */
static void
squeeze(struct fr_state *s)
{
	struct ent **order = fr_xmalloc(s->npending * sizeof(*order));
	size_t i, to = 0;

	for (i = 0; i < s->npending; i++)
		order[i] = &s->ents[s->pending[i]];
	qsort(order, s->npending, sizeof(*order), bypend);
	for (i = 0; i < s->npending; i++) {
		memmove(s->pend.data + to, s->pend.data + offof(order[i]), order[i]->len);
		setoff(order[i], to);
		to += order[i]->len;
		s->pending[i] = (size_t)(order[i] - s->ents);
	}
	s->pend.len = to;
	s->npendrec = s->npending;
	free(order);
}

/* Open the state file for appending n bytes; after a write that could not
 * be cut off, append after whatever it left. */
static int
openappend(struct fr_state *s, uint64_t n, struct fr_error *err)
{
	struct stat sb;

	if (openwriter(s, err) < 0)
		return -1;
	if (s->torn && fstat(s->wfd, &sb) < 0)
		return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->shownpath);
	if (s->torn)
		s->wsize = (int64_t)sb.st_size;
	if ((uint64_t)s->wsize + n > OFFMAX) {	/* an entry could not say where */
		errno = EFBIG;
		return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->shownpath);
	}
	return 0;
}

/* A write failed (errno says why): cut off what it left, and say so. -1. */
static int
cutback(struct fr_state *s, struct fr_error *err)
{
	fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->shownpath);
	if (ftruncate(s->wfd, (off_t)s->wsize) < 0)
		s->torn = 1;
	return -1;
}

/* Append the pending records with one write; from then on they are read
 * back from the file. */
static int
flush(struct fr_state *s, struct fr_error *err)
{
	struct ent *e;
	size_t i;

	if (s->npendrec > s->npending)
		squeeze(s);
	if (openappend(s, s->pend.len, err) < 0)
		return -1;
	if (fr_write_full(s->wfd, s->pend.data, s->pend.len) < 0)
		return cutback(s, err);
	for (i = 0; i < s->npending; i++) {
		e = &s->ents[s->pending[i]];
		e->pending = 0;
		if (e->src == SRC_PENDING) {
			e->src = SRC_WRITTEN;
			setoff(e, offof(e) + (uint64_t)s->wsize);
		}
	}
	s->npending = 0;
	s->rewrite |= s->torn;
	s->torn = 0;
	s->wsize += (int64_t)s->pend.len;
	s->nrec += s->npendrec;
	s->npendrec = 0;
	s->wrote = 1;
	if (s->pend.cap > PENDKEEP)
		fr_buf_free(&s->pend);
	fr_buf_reset(&s->pend);
	return 0;
}

static void
freeall(struct fr_state *s)
{
	if (s->wfd >= 0)
		close(s->wfd);
	if (s->rfd >= 0)
		close(s->rfd);
	if (s->lockfd >= 0)
		close(s->lockfd);	/* releases the lock */
	free(s->win[0].buf);
	free(s->win[1].buf);
	fr_buf_free(&s->pend);
	free(s->pending);
	free(s->tbuf);
	free(s->rec);
	free(s->slot);
	free(s->ents);
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
	s->lockfd = s->wfd = s->rfd = -1;
	s->win[0].ahead = s->win[1].ahead = READPAGE;
	if ((mode != FR_LOCK_READONLY &&
	    fr_statelock(s->dir, s->shown, mode, waiting, arg, &s->lockfd, err) < 0) ||
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

/* e's big record, read lean: the items of its inputs and needed tasks stay
 * in the file (fr_state_items), so that a task of 100,000 inputs is not
 * held whole to compare its key. */
static const struct fr_state_rec *
getlean(struct fr_state *s, struct ent *e, const char *name)
{
	s->recent = 0;
	if (fr_staterec_task_lean(srcfd(s, e), offof(e), e->len, &s->rec, &s->reccap) < 0) {
		damaged(s, e, name);
		return NULL;
	}
	if (strcmp(s->rec->name, name) != 0)
		return NULL;	/* another name of the same hash: this one is unknown */
	s->recent = (size_t)(e - s->ents) + 1;
	return s->rec;
}

const struct fr_state_rec *
fr_state_get(struct fr_state *s, const char *name)
{
	struct ent *e = lookup(s, 'T', name);
	const unsigned char *p;

	if (e && !e->bad && s->recent == (size_t)(e - s->ents) + 1)
		return s->rec;	/* asked for again: parsed already */
	if (e && !e->bad && e->src != SRC_PENDING && e->len > READMAX)
		return getlean(s, e, name);
	if (!(p = named(s, e, name)))
		return NULL;
	if (p != s->tbuf) {	/* away from the window an F record may move */
		if (s->tcap < e->len) {
			free(s->tbuf);
			s->tcap = e->len;
			s->tbuf = fr_xmalloc(s->tcap);
		}
		memcpy(s->tbuf, p, e->len);
	}
	s->recent = 0;
	if (fr_staterec_task(s->tbuf, &s->rec, &s->reccap) < 0) {
		damaged(s, e, name);
		return NULL;
	}
	s->recent = (size_t)(e - s->ents) + 1;
	return s->rec;
}

int
fr_state_items(struct fr_state *s, const char *name, enum fr_items which,
    int (*fn)(void *arg, const char *name, const struct fr_digest *d), void *arg)
{
	const struct fr_state_rec *r = fr_state_get(s, name);
	const struct fr_state_item *it;
	struct ent *e;
	size_t i, n;
	int rc;

	if (!r)
		return -1;
	if (r->lean) {
		e = lookup(s, 'T', name);
		rc = fr_staterec_items(srcfd(s, e), offof(e), e->len,
		    which == FR_ITEMS_INPUT ? 0 : 2, fn, arg);
		if (rc < 0)
			damaged(s, e, name);
		return rc;
	}
	it = which == FR_ITEMS_INPUT ? r->input : r->dep;
	n = which == FR_ITEMS_INPUT ? r->ninput : r->ndep;
	for (i = 0; i < n; i++)
		if ((rc = fn(arg, it[i].name, it[i].digest)) != 0)
			return rc;
	return 0;
}

/* Write pend once it holds PENDKEEP bytes, batch or not: the file records
 * of 100,000 inputs hashed up front would otherwise wait in memory (16 MB)
 * for the first flush. Records stay in order, each T record after its F
 * records. A failure leaves them pending for fr_state_flush, which says why. */
static void
spill(struct fr_state *s)
{
	struct fr_error err;

	if (s->pend.len < PENDKEEP || s->mode == FR_LOCK_READONLY || s->spillfail)
		return;
	fr_error_clear(&err);
	if (flush(s, &err) < 0)
		s->spillfail = 1;
}

/* e's record is now the one just encoded at off in pend: note it for the next flush. */
static void
pending(struct fr_state *s, struct ent *e)
{
	s->npendrec++;
	if (s->mode != FR_LOCK_READONLY && !e->pending) {
		e->pending = 1;
		FR_PUSH(s->pending, s->npending, s->cappending, (size_t)(e - s->ents));
	}
}

/* Write a T record of len bytes, too big to hold, straight to the file after
 * what is pending (which its F records are in). */
static int
putbig(struct fr_state *s, const struct fr_state_rec *rec, uint64_t len, struct fr_error *err)
{
	struct fr_staterec_out o = { .fd = -1, .crc = ~0u, .total = len };

	if (s->npendrec > 0 && flush(s, err) < 0)
		return -1;
	if (openappend(s, len, err) < 0)
		return -1;
	o.fd = s->wfd;
	o.chunk = fr_xmalloc(FR_STATEREC_CHUNK);
	fr_staterec_addtask(&o, rec);
	free(o.chunk);
	if (o.failed || o.len != len) {
		if (!o.failed)
			errno = EIO;	/* the record changed under us: never */
		return cutback(s, err);
	}
	entry(s, 'T', namehash('T', rec->name, strlen(rec->name)), SRC_WRITTEN,
	    (uint64_t)s->wsize, len);
	s->rewrite |= s->torn;
	s->torn = 0;
	s->wsize += (int64_t)len;
	s->nrec++;
	s->wrote = 1;
	return 0;
}

int
fr_state_put(struct fr_state *s, const struct fr_state_rec *rec, struct fr_error *err)
{
	struct fr_staterec_out o = { .b = &s->pend };
	size_t at = s->pend.len;

	if (s->mode != FR_LOCK_READONLY) {
		struct fr_staterec_out count = { .fd = -1 };
		if (fr_staterec_addtask(&count, rec) == 0 && count.len > PENDKEEP)
			return putbig(s, rec, count.len, err);
	}
	if (fr_staterec_addtask(&o, rec) < 0)
		return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s: a record "
		    "of over 4 GB", s->shownpath);
	pending(s, entry(s, 'T', namehash('T', rec->name, strlen(rec->name)), SRC_PENDING, at,
	    s->pend.len - at));
	if (s->mode == FR_LOCK_READONLY || s->batch) {
		spill(s);
		return 0;
	}
	return flush(s, err);
}

void
fr_state_batch(struct fr_state *s, int on)
{
	s->batch = on;
}

int
fr_state_flush(struct fr_state *s, struct fr_error *err)
{
	if (s->mode == FR_LOCK_READONLY || s->npendrec == 0)
		return 0;
	s->spillfail = 0;
	return flush(s, err);
}

int
fr_state_file_get(struct fr_state *s, const char *path, struct fr_stat *st,
    struct fr_digest *d)
{
	const unsigned char *p;
	struct fr_stat cst;
	struct fr_digest cd;

	if (!(p = named(s, lookup(s, 'F', path), path)))
		return -1;
	fr_staterec_file(p, st ? st : &cst, d ? d : &cd);
	return 0;
}

void
fr_state_file_set(struct fr_state *s, const char *path, const struct fr_stat *st,
    const struct fr_digest *d)
{
	const unsigned char *p;
	struct fr_stat cst;
	struct fr_digest cd;
	size_t at = s->pend.len;

	if ((p = named(s, lookup(s, 'F', path), path))) {
		fr_staterec_file(p, &cst, &cd);
		if (fr_stat_equal(&cst, st) && memcmp(cd.b, d->b, FR_DIGEST_LEN) == 0)
			return;
	}
	if (fr_staterec_addfile(&s->pend, path, st, d) < 0)
		return;		/* a path of over 4 GB */
	pending(s, entry(s, 'F', namehash('F', path, strlen(path)), SRC_PENDING, at,
	    s->pend.len - at));
	spill(s);
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
		if (s->npendrec > 0 && flush(s, err) < 0)
			ret = -1;
		live = fr_state_count(s) + s->nname[1];
		if (ret == 0 && s->wrote && (s->restart || s->rewrite ||
		    (s->nrec > COMPACT_MIN && s->nrec > 2 * live) ||
		    ((uint64_t)s->wsize > COMPACT_MINLEN && (uint64_t)s->wsize > 2 * s->livelen)))
			ret = compact(s, 1, err);
	}
	if (final && fr_stat_path(s->path, final) < 0)
		final->size = -1;	/* still under the lock: no other run wrote it since */
	freeall(s);
	return ret;
}
