/* SPDX-License-Identifier: MIT */
/* state: what flowrun remembers between runs, in the .flowrun/ directory
 * beside the pipeline: for each task instance its last successful key with the
 * parts the key was made of (for --explain), its outputs' digests and its
 * result; and a stat cache of every file hashed. The on-disk format is
 * documented at the top of state.c, the records' bytes at the top of staterec.c.
 *
 * Crash safety: records are appended whole, one batch per write(2), to the open
 * state file, so a kill at any moment leaves at worst a torn last record, which
 * the next load drops (those tasks run again). Compaction writes a new file to
 * a temporary name, fsyncs it and renames it over the old one.
 *
 * Concurrency: an open state holds an exclusive flock(2) on .flowrun/lock; the
 * kernel drops it when the process dies, so a crashed run's lock is taken over. */
#ifndef FR_STATE_H
#define FR_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "error.h"

/* A named digest: an input or output path, or an upstream task's name. The
 * digest is held by pointer, borrowed like the name: a task reading the
 * outputs of 100k others holds 16 bytes an item, not 40, and its items point
 * at digests the plan keeps anyway (struct fr_digest is bytes, alignment 1,
 * so a record's items point straight into its bytes). */
struct fr_state_item {
	const char *name;
	const struct fr_digest *digest;
};
_Static_assert(_Alignof(struct fr_digest) == 1, "digests are pointed at inside records");

enum fr_items { FR_ITEMS_INPUT, FR_ITEMS_DEP };

/* The record of a task instance's last success. Strings, arrays and the
 * digests items point at are borrowed from the state for records it returns
 * (for as long as fr_state_get says), and from the caller for records given
 * to fr_state_put. */
struct fr_state_rec {
	const char *name;		/* task instance name, e.g. "square[x=30]" */
	struct fr_digest key;		/* hash of every part below but outputs */
	struct fr_digest cmd;		/* hash of the action after templating */
	struct fr_digest env;		/* hash of the environment the task got */
	int64_t duration_ns;
	const char *result;		/* compact JSON text, or NULL for none */
	struct fr_state_item *input;	/* input paths and content digests, in order */
	size_t ninput;
	struct fr_state_item *output;	/* output paths and content digests */
	size_t noutput;
	struct fr_state_item *dep;	/* needed tasks and the digest of what they handed on */
	size_t ndep;
	int lean;			/* read from a big record: input and dep are NULL
					 * (their counts are right); fr_state_items
					 * goes through them */
	/* a record made to be put may leave input or dep NULL, its count set,
	 * and say each item through item(itemarg, ...) (fr_state_rec_item):
	 * a task of 100,000 inputs need not hold 200,000 items */
	void (*item)(const void *itemarg, enum fr_items which, size_t i,
	    struct fr_state_item *it);
	const void *itemarg;
};

/* Input (FR_ITEMS_INPUT) or dep i of r, which is not lean. */
static inline struct fr_state_item
fr_state_rec_item(const struct fr_state_rec *r, enum fr_items which, size_t i)
{
	const struct fr_state_item *a = which == FR_ITEMS_INPUT ? r->input : r->dep;
	struct fr_state_item it;

	if (a)
		return a[i];
	r->item(r->itemarg, which, i, &it);
	return it;
}

enum fr_lock_mode {
	FR_LOCK_WAIT,		/* wait for another flowrun to finish, calling waiting() once */
	FR_LOCK_FAIL,		/* fail at once (FR_ESTATE) when another flowrun holds the lock */
	FR_LOCK_READONLY,	/* no lock, no directory creation, nothing ever written (-n) */
};

struct fr_state;

/* Open (creating with mode != FR_LOCK_READONLY) the state directory dir, take
 * the lock and load the records. An unknown version or a damaged record is not
 * an error: it is reported through fr_warn and those records are dropped.
 * waiting(holder_pid, arg) is called once if the lock is busy (holder_pid 0 if
 * unknown). NULL with err set if the directory or lock cannot be used. */
struct fr_state *fr_state_open(const char *dir, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, struct fr_error *err);
/* The same, for a dir that messages call shown (an absolute dir, opened before
 * the process enters the pipeline's directory, shown as the relative one). */
struct fr_state *fr_state_open_as(const char *dir, const char *shown, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, struct fr_error *err);
/* Only take the lock of dir as fr_state_open_as does, loading nothing: the
 * result has no records and writes none. */
struct fr_state *fr_state_lock(const char *dir, const char *shown, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, struct fr_error *err);
/* The last success of the named task instance, or NULL; borrowed, and valid
 * only until the next fr_state_get (records are parsed into one buffer). A
 * big record (over 256 KB: a task of thousands of inputs) comes lean: its
 * input and dep items are left in the file, for fr_state_items. */
const struct fr_state_rec *fr_state_get(struct fr_state *s, const char *name);

/* Call fn with each input or dep item of the named task's record, in order,
 * until fn returns nonzero (positive): returns that, 0 after the last, or -1
 * if the record is gone or damaged. The names and digests are valid only
 * during the call: a lean record's items are read a few thousand at a time.
 * It asks fr_state_get for the record: the one of name stays valid. */
int fr_state_items(struct fr_state *s, const char *name, enum fr_items which,
    int (*fn)(void *arg, const char *name, const struct fr_digest *d), void *arg);
/* Record a success (copied), replacing any earlier record of rec->name, and
 * append it to the file at once (with any pending records), or in batch mode
 * with the next fr_state_flush. 0, or -1 with err set (the file is cut back to
 * what it was; the records stay pending, for the next flush or close). */
int fr_state_put(struct fr_state *s, const struct fr_state_rec *rec, struct fr_error *err);
/* Batch mode (on != 0): puts wait for fr_state_flush, so records finished
 * together cost one write; a kill before the flush loses only their records
 * (those tasks run again). */
void fr_state_batch(struct fr_state *s, int on);
/* Append every pending record with one write. 0, or -1 with err set (the
 * file is cut back to what it was; the records stay pending). */
int fr_state_flush(struct fr_state *s, struct fr_error *err);
/* The cached stat data and digest of path: 0 if known, -1 if not. */
int fr_state_file_get(struct fr_state *s, const char *path, struct fr_stat *st,
    struct fr_digest *d);
/* Remember path's stat data and digest; written with the next put or at close. */
void fr_state_file_set(struct fr_state *s, const char *path, const struct fr_stat *st,
    const struct fr_digest *d);
/* Number of task records. */
size_t fr_state_count(const struct fr_state *s);
/* Write what is pending, compact the file when most of it is superseded,
 * release the lock and free s. Returns 0 or -1 with err set; s is freed either way.
 * NULL is a no-op. */
int fr_state_close(struct fr_state *s, struct fr_error *err);
/* fr_state_close, and *final gets the stat data of the state file as the lock
 * is released (size -1: there is none). */
int fr_state_close_stat(struct fr_state *s, struct fr_stat *final, struct fr_error *err);

#endif
