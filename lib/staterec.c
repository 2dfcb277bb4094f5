/* SPDX-License-Identifier: MIT */
/* staterec: the records of the state file (state.c keeps the file): encoded
 * into a buffer or straight to a file, and decoded and checked. */

/*
 * DIR/state is binary, in the byte order of the machine that wrote it (it is
 * machine-local). It starts with the 24-byte header
 *
 *   "flowrun-state 2\n"  u32 0x01020304  u32 0
 *
 * (u32 and the like are host-order integers at any alignment). Any other
 * start (version 1's text, the other byte order) is an unknown format: flowrun
 * warns, starts empty and rewrites the file at its first write. (An empty
 * file is silently empty.) state.c writes and checks the header. Records
 * follow:
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
 * What supersedes what, what becomes of a damaged record, how records are
 * appended and the file compacted, and the index kept in memory are described
 * at the top of state.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include <stdlib.h>

#include "crc32c.h"
#include "staterec.h"
#include "util.h"

#define TAG1 'R'
#define TAG3 0x02
#define FFIX 72			/* an F record's fields after the name */
#define TFIX 120		/* a T record's fixed fields after the name */
#define NORESULT 0xffffffffu

uint32_t
fr_staterec_rd32(const unsigned char *p)
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

int
fr_staterec_tagged(const unsigned char *p, size_t avail)
{
	return avail >= 4 && p[0] == FR_STATEREC_TAG0 && p[1] == TAG1 &&
	    (p[2] == 'T' || p[2] == 'F') && p[3] == TAG3;
}

/* The length of the record at p, with avail bytes from p to the end of its
 * file, if its tag and length are plausible, else 0. */
size_t
fr_staterec_framed(const unsigned char *p, uint64_t avail)
{
	uint32_t len;

	if (avail < FR_STATEREC_MINREC || !fr_staterec_tagged(p, 4))
		return 0;
	len = fr_staterec_rd32(p + 4);
	return len % 8 || len < FR_STATEREC_MINREC || len > avail ? 0 : len;
}

/* The length of the record at p, whole in the avail bytes there, if its
 * name and fixed fields are in it and its checksum is right, else 0. */
size_t
fr_staterec_valid(const unsigned char *p, uint64_t avail)
{
	size_t len = fr_staterec_framed(p, avail), nl;

	if (!len)
		return 0;
	nl = fr_staterec_rd32(p + 8);
	if ((uint64_t)nl + FR_STATEREC_NAMEOFF + 1 + (p[2] == 'T' ? TFIX : FFIX) + 4 > len ||
	    p[FR_STATEREC_NAMEOFF + nl] != '\0' || fr_crc32c(p, len - 4) != fr_staterec_rd32(p + len - 4))
		return 0;
	return len;
}

/* Where the parts of a T record of len bytes are, from its fixed fields at
 * t, q bytes into it (after its name). */
struct layout {
	size_t nitem, cnt[3];		/* inputs, outputs, needed tasks */
	uint32_t rlen;			/* NORESULT: no result */
	uint64_t lens, digs, strs;	/* offsets in the record */
	uint64_t end;			/* where its checksum starts */
};

/* Fill *l: 0, or -1 for counts its length cannot hold (checked before
 * anything is allocated for them). len is at least q + TFIX + 4. */
static int
layout(const unsigned char *t, uint64_t q, uint64_t len, struct layout *l)
{
	size_t i;

	for (i = 0; i < 3; i++)
		l->cnt[i] = fr_staterec_rd32(t + 104 + 4 * i);
	l->rlen = fr_staterec_rd32(t + 116);
	l->end = len - 4;
	if ((uint64_t)l->cnt[0] + l->cnt[1] + l->cnt[2] > (l->end - q - TFIX) / 36)
		return -1;
	l->nitem = l->cnt[0] + l->cnt[1] + l->cnt[2];
	l->lens = q + TFIX;
	l->digs = l->lens + 4 * (uint64_t)l->nitem;
	l->strs = l->digs + FR_DIGEST_LEN * (uint64_t)l->nitem;
	return 0;
}

int
fr_staterec_task(const unsigned char *p, struct fr_state_rec **rec, size_t *reccap)
{
	const unsigned char *end = p + fr_staterec_rd32(p + 4) - 4, *q, *lens, *digs;
	struct fr_state_item *it;
	struct fr_state_rec *r;
	struct layout lay;
	const char *str;
	size_t *cnt = lay.cnt, nitem, i, l;
	uint32_t rlen;

	/* fr_staterec_valid() saw TFIX bytes here */
	q = p + FR_STATEREC_NAMEOFF + fr_staterec_rd32(p + 8) + 1;
	if (layout(q, (uint64_t)(q - p), fr_staterec_rd32(p + 4), &lay) < 0)
		return -1;
	nitem = lay.nitem;
	rlen = lay.rlen;
	lens = p + lay.lens;
	digs = p + lay.digs;
	str = (const char *)(p + lay.strs);
	if (*reccap < sizeof(*r) + nitem * sizeof(*it)) {
		*reccap = sizeof(*r) + nitem * sizeof(*it);
		*rec = fr_xrealloc(*rec, *reccap);
	}
	r = *rec;
	it = (struct fr_state_item *)(r + 1);
	r->name = (const char *)p + FR_STATEREC_NAMEOFF;
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
		l = fr_staterec_rd32(lens + 4 * i);
		if (l >= (size_t)((const char *)end - str) || str[l] != '\0')
			return -1;
		it[i].name = str;
		/* into the record, as the name is: it stays as long as they do */
		it[i].digest = (const struct fr_digest *)(digs + FR_DIGEST_LEN * i);
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
	r->lean = 0;
	return 0;
}

/* Big T records, read through a window. */

#define LEANWIN (64u << 10)	/* bytes read at once */
#define LEANITEMS 2048		/* items read at once */

/* Read the head of the T record of len bytes at off in fd into *l, and its
 * name into a new string at *name (NULL: do not keep it): 0, or -1. */
static int
leanhead(int fd, uint64_t off, size_t len, struct layout *l, char **name)
{
	unsigned char fix[FR_STATEREC_NAMEOFF], t[TFIX];
	uint64_t q;
	uint32_t nl;

	if (len < FR_STATEREC_MINREC || fr_pread_full(fd, fix, sizeof(fix), off) < 0 ||
	    fr_staterec_framed(fix, len) != len)
		return -1;
	nl = fr_staterec_rd32(fix + 8);
	q = FR_STATEREC_NAMEOFF + (uint64_t)nl + 1;
	if (q + TFIX + 4 > len || fr_pread_full(fd, t, TFIX, off + q) < 0 ||
	    layout(t, q, len, l) < 0)
		return -1;
	if (name) {
		*name = fr_xmalloc((size_t)nl + 1);
		if (fr_pread_full(fd, *name, (size_t)nl + 1, off + FR_STATEREC_NAMEOFF) < 0 ||
		    (*name)[nl] != '\0') {
			free(*name);
			return -1;
		}
	}
	return 0;
}

/* The sum of the lengths (each with its NUL) of items [a, b), into *sum: 0, or -1. */
static int
leanlens(int fd, uint64_t off, const struct layout *l, size_t a, size_t b, uint64_t *sum)
{
	unsigned char buf[4 * LEANITEMS];
	size_t i, k, n;

	*sum = 0;
	for (i = a; i < b; i += n) {
		n = b - i < LEANITEMS ? b - i : LEANITEMS;
		if (fr_pread_full(fd, buf, 4 * n, off + l->lens + 4 * (uint64_t)i) < 0)
			return -1;
		for (k = 0; k < n; k++)
			*sum += (uint64_t)fr_staterec_rd32(buf + 4 * k) + 1;
	}
	return 0;
}

int
fr_staterec_task_lean(int fd, uint64_t off, size_t len, struct fr_state_rec **rec,
    size_t *reccap)
{
	unsigned char *buf = NULL, *digs;
	struct fr_state_item *it;
	struct fr_state_rec *r;
	struct layout l;
	uint64_t before, after, all, strlen_out, at;
	char *name = NULL, *str;
	uint32_t crc = ~0u;
	size_t i, n, need, nout;
	int ret = -1;

	if (leanhead(fd, off, len, &l, &name) < 0)
		return -1;
	buf = fr_xmalloc(LEANWIN);
	for (at = 0; at < l.end; at += n) {	/* the checksum, through the window */
		n = l.end - at < LEANWIN ? (size_t)(l.end - at) : LEANWIN;
		if (fr_pread_full(fd, buf, n, off + at) < 0)
			goto out;
		crc = fr_crc32c_update(crc, buf, n);
	}
	if (fr_pread_full(fd, buf, 4, off + l.end) < 0 || ~crc != fr_staterec_rd32(buf))
		goto out;
	nout = l.cnt[1];
	/* the names: result, inputs', outputs', needed tasks', then padding */
	if (leanlens(fd, off, &l, 0, l.cnt[0], &before) < 0 ||
	    leanlens(fd, off, &l, l.cnt[0], l.cnt[0] + nout, &strlen_out) < 0 ||
	    leanlens(fd, off, &l, l.cnt[0] + nout, l.nitem, &after) < 0)
		goto out;
	all = (l.rlen != NORESULT ? (uint64_t)l.rlen + 1 : 0) + before + strlen_out + after;
	if (all > l.end - l.strs || l.end - l.strs - all >= 8)
		goto out;	/* the names do not fill the record */
	need = sizeof(*r) + nout * (sizeof(*it) + FR_DIGEST_LEN) + strlen(name) + 1 +
	    (l.rlen != NORESULT ? l.rlen + 1 : 0) + (size_t)strlen_out;
	if (*reccap < need) {
		*reccap = need;
		*rec = fr_xrealloc(*rec, *reccap);
	}
	r = *rec;
	memset(r, 0, sizeof(*r));
	it = (struct fr_state_item *)(r + 1);
	digs = (unsigned char *)(it + nout);
	str = (char *)(digs + FR_DIGEST_LEN * nout);
	r->name = memcpy(str, name, strlen(name) + 1);
	str += strlen(name) + 1;
	if (fr_pread_full(fd, buf, TFIX, off + l.lens - TFIX) < 0)
		goto out;
	r->duration_ns = (int64_t)rd64(buf);
	memcpy(r->key.b, buf + 8, FR_DIGEST_LEN);
	memcpy(r->cmd.b, buf + 40, FR_DIGEST_LEN);
	memcpy(r->env.b, buf + 72, FR_DIGEST_LEN);
	at = l.strs;
	if (l.rlen != NORESULT) {
		if (fr_pread_full(fd, str, (size_t)l.rlen + 1, off + at) < 0 || str[l.rlen] != '\0')
			goto out;
		r->result = str;
		str += l.rlen + 1;
		at += l.rlen + 1;
	}
	at += before;
	if (nout && (fr_pread_full(fd, digs, FR_DIGEST_LEN * nout,
	    off + l.digs + FR_DIGEST_LEN * (uint64_t)l.cnt[0]) < 0 ||
	    fr_pread_full(fd, str, (size_t)strlen_out, off + at) < 0 ||
	    fr_pread_full(fd, buf, 4 * nout, off + l.lens + 4 * (uint64_t)l.cnt[0]) < 0))
		goto out;
	for (i = 0; i < nout; i++) {
		uint32_t il = fr_staterec_rd32(buf + 4 * i);
		if (il >= strlen_out || str[il] != '\0')
			goto out;
		it[i].name = str;
		it[i].digest = (const struct fr_digest *)(digs + FR_DIGEST_LEN * i);
		str += il + 1;
		strlen_out -= il + 1;
	}
	r->output = it;
	r->noutput = nout;
	r->ninput = l.cnt[0];
	r->ndep = l.cnt[2];
	r->lean = 1;
	ret = 0;
out:
	free(buf);
	free(name);
	return ret;
}

int
fr_staterec_items(int fd, uint64_t off, size_t len, int which,
    int (*fn)(void *arg, const char *name, const struct fr_digest *d), void *arg)
{
	unsigned char lens[4 * LEANITEMS], *digs = NULL;
	char *names = NULL;
	struct layout l;
	uint64_t at, skip;
	size_t a, b, i, k, n, tot, used, cap = 0;
	int rc = 0;

	if (leanhead(fd, off, len, &l, NULL) < 0)
		return -1;
	a = which == 0 ? 0 : l.cnt[0] + l.cnt[1];
	b = which == 0 ? l.cnt[0] : l.nitem;
	if (leanlens(fd, off, &l, 0, a, &skip) < 0)
		return -1;
	at = l.strs + (l.rlen != NORESULT ? (uint64_t)l.rlen + 1 : 0) + skip;
	digs = fr_xmalloc(FR_DIGEST_LEN * LEANITEMS);
	for (i = a; i < b && rc == 0; i += n) {
		n = b - i < LEANITEMS ? b - i : LEANITEMS;
		if (fr_pread_full(fd, lens, 4 * n, off + l.lens + 4 * (uint64_t)i) < 0 ||
		    fr_pread_full(fd, digs, FR_DIGEST_LEN * n,
		    off + l.digs + FR_DIGEST_LEN * (uint64_t)i) < 0) {
			rc = -1;
			break;
		}
		for (tot = 0, k = 0; k < n; k++)
			tot += (size_t)fr_staterec_rd32(lens + 4 * k) + 1;
		if (tot > l.end - at) {
			rc = -1;
			break;
		}
		if (tot > cap)
			names = fr_xrealloc(names, cap = tot);
		if (fr_pread_full(fd, names, tot, off + at) < 0) {
			rc = -1;
			break;
		}
		at += tot;
		for (used = 0, k = 0; k < n && rc == 0; k++) {
			uint32_t il = fr_staterec_rd32(lens + 4 * k);
			if (names[used + il] != '\0') {	/* the lengths add up to tot */
				rc = -1;
				break;
			}
			rc = fn(arg, names + used, (const struct fr_digest *)(digs + FR_DIGEST_LEN * k));
			used += il + 1;
		}
	}
	free(digs);
	free(names);
	return rc;
}

/* The stat data and digest of the F record at p. */
void
fr_staterec_file(const unsigned char *p, struct fr_stat *st, struct fr_digest *d)
{
	const unsigned char *q = p + FR_STATEREC_NAMEOFF + fr_staterec_rd32(p + 8) + 1;

	st->size = (int64_t)rd64(q);
	st->mtime_ns = (int64_t)rd64(q + 8);
	st->ctime_ns = (int64_t)rd64(q + 16);
	st->ino = rd64(q + 24);
	st->dev = rd64(q + 32);
	memcpy(d->b, q + 40, FR_DIGEST_LEN);
}

#define OUT32(o, v) emit((o), &(uint32_t){ (uint32_t)(v) }, 4)
#define OUT64(o, v) emit((o), &(uint64_t){ (uint64_t)(v) }, 8)

static void
drain(struct fr_staterec_out *o)
{
	o->crc = fr_crc32c_update(o->crc, o->chunk, o->n);
	if (!o->failed && fr_write_full(o->fd, o->chunk, o->n) < 0)
		o->failed = 1;
	o->n = 0;
}

static void
emit(struct fr_staterec_out *o, const void *p, size_t n)
{
	const unsigned char *q = p;

	o->len += n;
	if (o->b) {
		fr_buf_add(o->b, p, n);
		return;
	}
	while (o->chunk && n) {
		size_t k = FR_STATEREC_CHUNK - o->n < n ? FR_STATEREC_CHUNK - o->n : n;
		memcpy(o->chunk + o->n, q, k);
		o->n += k;
		q += k;
		n -= k;
		if (o->n == FR_STATEREC_CHUNK)
			drain(o);
	}
}

/* Start a record: its tag, its length (filled in by finish() in a buffer),
 * its name. Where it starts in the buffer. */
static size_t
start(struct fr_staterec_out *o, char type, const char *name)
{
	unsigned char tag[4] = { FR_STATEREC_TAG0, TAG1, (unsigned char)type, TAG3 };
	size_t at = o->b ? o->b->len : 0, n = strlen(name);

	emit(o, tag, sizeof(tag));
	OUT32(o, o->total);
	OUT32(o, n);
	emit(o, name, n + 1);
	return at;
}

/* Pad the record begun at at, fill in its length and add its checksum; -1 if
 * it is too long to be written (then it is taken back from a buffer). */
static int
finish(struct fr_staterec_out *o, size_t at)
{
	static const char zero[8];
	uint64_t len = o->len + 4;
	uint32_t n;

	emit(o, zero, (8 - len % 8) % 8);
	len = o->len + 4;
	if (len > 0xfffffff8u) {
		if (o->b)
			o->b->len = at;
		return -1;
	}
	n = (uint32_t)len;
	if (o->b) {
		memcpy(o->b->data + at + 4, &n, sizeof(n));
		OUT32(o, fr_crc32c((const unsigned char *)o->b->data + at, o->b->len - at));
	} else if (o->chunk) {
		drain(o);
		n = ~o->crc;
		if (!o->failed && fr_write_full(o->fd, &n, sizeof(n)) < 0)
			o->failed = 1;
		o->len += 4;
	} else {
		o->len += 4;
	}
	return 0;
}

/* Item i of r's inputs (j 0), outputs (1) or deps (2). */
static struct fr_state_item
itemof(const struct fr_state_rec *r, int j, size_t i)
{
	return j == 1 ? r->output[i] : fr_state_rec_item(r, j ? FR_ITEMS_DEP : FR_ITEMS_INPUT, i);
}

int
fr_staterec_addtask(struct fr_staterec_out *o, const struct fr_state_rec *r)
{
	size_t cnt[3] = { r->ninput, r->noutput, r->ndep }, at, i;
	int j;

	at = start(o, 'T', r->name);
	OUT64(o, r->duration_ns);
	emit(o, r->key.b, FR_DIGEST_LEN);
	emit(o, r->cmd.b, FR_DIGEST_LEN);
	emit(o, r->env.b, FR_DIGEST_LEN);
	for (j = 0; j < 3; j++)
		OUT32(o, cnt[j]);
	OUT32(o, r->result ? strlen(r->result) : NORESULT);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			OUT32(o, strlen(itemof(r, j, i).name));
	}
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			emit(o, itemof(r, j, i).digest->b, FR_DIGEST_LEN);
	}
	if (r->result)
		emit(o, r->result, strlen(r->result) + 1);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++) {
			struct fr_state_item it = itemof(r, j, i);
			emit(o, it.name, strlen(it.name) + 1);
		}
	}
	return finish(o, at);
}

int
fr_staterec_addfile(struct fr_buf *b, const char *path, const struct fr_stat *st,
    const struct fr_digest *d)
{
	struct fr_staterec_out o = { .b = b };
	size_t at = start(&o, 'F', path);

	OUT64(&o, st->size);
	OUT64(&o, st->mtime_ns);
	OUT64(&o, st->ctime_ns);
	OUT64(&o, st->ino);
	OUT64(&o, st->dev);
	emit(&o, d->b, FR_DIGEST_LEN);
	return finish(&o, at);
}