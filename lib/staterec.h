/* SPDX-License-Identifier: MIT */
/* staterec: the records of the state file, whose bytes are specified at the
 * top of staterec.c: encoded, and decoded and checked in place. Internal to
 * lib/, for state.c. A record read is borrowed from the caller's bytes. */
#ifndef FR_STATEREC_H
#define FR_STATEREC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "state.h"

#define FR_STATEREC_TAG0 0xf7	/* a record's first byte (never in UTF-8) */
#define FR_STATEREC_NAMEOFF 12	/* where a record's name starts */
#define FR_STATEREC_MINREC 96	/* the smallest record: F with an empty path */
#define FR_STATEREC_CHUNK (64u << 10)	/* the chunk of a record streamed to a file */

/* Where a record goes as it is encoded: appended to a buffer; or, for one
 * too big to hold (the T record of a task of 100,000 inputs), written to a
 * file through a small chunk, its length known beforehand and its checksum
 * kept as it goes; or, with neither, only counted. */
struct fr_staterec_out {
	struct fr_buf *b;	/* append here; or */
	int fd;			/* write here through chunk (NULL: only count) */
	unsigned char *chunk;
	size_t n;		/* bytes in chunk */
	uint32_t crc;		/* running, of what went through chunk */
	uint64_t len;		/* bytes of the record so far */
	uint64_t total;		/* streaming: the record's whole length */
	int failed;		/* a write failed */
};

/* The host-order u32 at p, at any alignment. */
uint32_t fr_staterec_rd32(const unsigned char *p);
/* Whether the avail bytes at p start with a record's tag. */
int fr_staterec_tagged(const unsigned char *p, size_t avail);
/* The length of the record at p, avail bytes before its file ends, if its tag
 * and length are plausible, else 0. */
size_t fr_staterec_framed(const unsigned char *p, uint64_t avail);
/* The length of the record at p, whole in the avail bytes there, if its name
 * and fixed fields are in it and its checksum is right, else 0. */
size_t fr_staterec_valid(const unsigned char *p, uint64_t avail);
/* Parse the valid T record at p into *rec, of *reccap bytes, grown as needed
 * (its strings and item digests point into p): 0, or -1 if its fields do not
 * fit its length. */
int fr_staterec_task(const unsigned char *p, struct fr_state_rec **rec, size_t *reccap);
/* The same for a T record too big to hold whole: the len bytes at off in fd,
 * read through a small window. Checks its frame and checksum and decodes all
 * but the items of its inputs and needed tasks, which keep their counts with
 * input and dep NULL and lean set; its strings and output digests are copied
 * into *rec. 0, or -1 if it is damaged or cannot be read. */
int fr_staterec_task_lean(int fd, uint64_t off, size_t len, struct fr_state_rec **rec,
    size_t *reccap);
/* Call fn with each input (which 0) or needed task (which 2) of the T record
 * of len bytes at off in fd, as fr_staterec_task_lean read it, in order,
 * until fn returns nonzero: returns that, 0 after the last, or -1 if the
 * record cannot be read or an item's name does not fit. */
int fr_staterec_items(int fd, uint64_t off, size_t len, int which,
    int (*fn)(void *arg, const char *name, const struct fr_digest *d), void *arg);
/* The stat data and digest of the valid F record at p. */
void fr_staterec_file(const unsigned char *p, struct fr_stat *st, struct fr_digest *d);
/* Encode r's T record through o: 0, or -1 if it would be over 4 GB (then none
 * of it stays in o's buffer). */
int fr_staterec_addtask(struct fr_staterec_out *o, const struct fr_state_rec *r);
/* Append the F record of path, st and d to b: 0, or -1 if it would be over
 * 4 GB (then b is as it was). */
int fr_staterec_addfile(struct fr_buf *b, const char *path, const struct fr_stat *st,
    const struct fr_digest *d);

#endif
