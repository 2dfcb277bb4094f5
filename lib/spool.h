/* SPDX-License-Identifier: MIT */
/* spool: a downloaded body on its way to its output. The bytes are written as
 * they come to a temporary file in the output's directory and hashed:
 * SHA-256, and SHA-384 or SHA-512 too for such a pin. The temporary file is
 * made anonymous (O_TMPFILE) where the file system allows it: a body that
 * arrives in one piece (a small file, usually) is then linked at the output
 * when it is put in place, which costs about what creating the output would,
 * where creating a named file and renaming it costs twice that in a large
 * directory. One that comes in more pieces is given the temporary name
 * .NAME.flowrun-tmp with its second piece, so that it can be watched as it
 * grows, and is renamed over the output; so is one whose output exists, since
 * a link cannot replace a file. Without O_TMPFILE (or /proc, through which it
 * is linked), the named file is made at once. An output has one writer: a
 * file a crashed run left under its temporary name is replaced, or removed
 * when the new body never takes the name (the output's directory is read
 * once for such files). An anonymous file vanishes with the process.
 *
 * The first FR_SPOOL_INLINE bytes are hashed on the loop thread as they come;
 * past that, one helper thread shared by every spool of the spooler maps the
 * written bytes (from the page cache) and hashes them, while the loop
 * goes on receiving and writing: hashing costs about as much CPU as the
 * transfer itself, and this way the loop does no more per byte than curl -o.
 *
 * Only the loop thread calls these functions; the helper never calls back
 * into the caller, it wakes the loop through a pipe the loop watches. */
#ifndef FR_SPOOL_H
#define FR_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "loop.h"

/* Bodies up to this size are hashed on the loop thread. */
#define FR_SPOOL_INLINE (1024 * 1024)

struct fr_spooler;
struct fr_spool;

/* A spooler on loop; its helper thread starts with the first large body. Never NULL. */
struct fr_spooler *fr_spooler_new(struct fr_loop *loop);
/* Stop the helper and free the spooler; every spool must have been closed
 * (fr_spool_commit or fr_spool_abort). NULL is a no-op. */
void fr_spooler_free(struct fr_spooler *sr);

/* A spool for the body of output path, with a second digest in extra
 * (FR_PIN_SHA384, FR_PIN_SHA512, or FR_PIN_NONE). ready(arg) is called from
 * the loop when the hashing fr_spool_end waits for is done. No file is made
 * before the first byte (or fr_spool_end). Never NULL. */
struct fr_spool *fr_spool_new(struct fr_spooler *sr, const char *path, enum fr_pin_algo extra,
    void (*ready)(void *arg), void *arg);
/* Write n bytes: 0, or -1 when the temporary file cannot be made or written
 * (fr_spool_error says why). */
int fr_spool_add(struct fr_spool *sp, const void *p, size_t n);
/* The body is complete: write what is left. 0 when its digests are ready,
 * 1 when the helper is still hashing (ready follows), -1 on a write error. */
int fr_spool_end(struct fr_spool *sp);
/* After fr_spool_end (and ready): the body's SHA-256 and the extra digest
 * (untouched when extra is FR_PIN_NONE); closes the temporary file, -1 with
 * fr_spool_error set when closing reports a write error. */
int fr_spool_digests(struct fr_spool *sp, struct fr_digest *sha256, struct fr_pin *extra);
/* Bytes taken so far. */
uint64_t fr_spool_bytes(const struct fr_spool *sp);
/* Why the last call failed: "cannot write PATH: ...". Borrowed. */
const char *fr_spool_error(const struct fr_spool *sp);
/* Put the body in place: link or rename the temporary file at the output
 * (replace 0: remove it instead, the output already holds these bytes), take
 * the output's stat data into *st (when replace), and free sp. 0; -1 with
 * *errnum set when the body cannot be put in place (the temporary file is
 * then removed); -2 with *errnum set when it was, but cannot be stat'ed. */
int fr_spool_commit(struct fr_spool *sp, int replace, struct fr_stat *st, int *errnum);
/* Remove the temporary file and free sp (once the helper is done with it).
 * NULL is a no-op; ready is never called after this. */
void fr_spool_abort(struct fr_spool *sp);

#endif
