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

int
fr_staterec_task(const unsigned char *p, struct fr_state_rec **rec, size_t *reccap)
{
	const unsigned char *end = p + fr_staterec_rd32(p + 4) - 4, *q, *lens, *digs;
	struct fr_state_item *it;
	struct fr_state_rec *r;
	const char *str;
	size_t cnt[3], nitem, i, l;
	uint32_t rlen;

	/* fr_staterec_valid() saw TFIX bytes here */
	q = p + FR_STATEREC_NAMEOFF + fr_staterec_rd32(p + 8) + 1;
	for (i = 0; i < 3; i++)
		cnt[i] = fr_staterec_rd32(q + 104 + 4 * i);
	rlen = fr_staterec_rd32(q + 116);
	if ((uint64_t)cnt[0] + cnt[1] + cnt[2] > (size_t)(end - q - TFIX) / 36)
		return -1;	/* before allocating for absurd counts */
	nitem = cnt[0] + cnt[1] + cnt[2];
	lens = q + TFIX;
	digs = lens + 4 * nitem;
	str = (const char *)(digs + FR_DIGEST_LEN * nitem);
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
	return 0;
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

int
fr_staterec_addtask(struct fr_staterec_out *o, const struct fr_state_rec *r)
{
	const struct fr_state_item *arr[3] = { r->input, r->output, r->dep };
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
			OUT32(o, strlen(arr[j][i].name));
	}
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			emit(o, arr[j][i].digest->b, FR_DIGEST_LEN);
	}
	if (r->result)
		emit(o, r->result, strlen(r->result) + 1);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			emit(o, arr[j][i].name, strlen(arr[j][i].name) + 1);
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