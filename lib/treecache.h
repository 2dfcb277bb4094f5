/* SPDX-License-Identifier: MIT */
/* treecache: the parsed tree of a pipeline file, kept in binary beside the
 * state, so that a rerun of an unchanged pipeline does not parse YAML again.
 * A cache is used only when it was made from a file with the same stat data
 * (size, mtime and ctime in ns, inode, device) by a flowrun with the same
 * node layout; anything else, a damaged cache included, means a parse. */
#ifndef FR_TREECACHE_H
#define FR_TREECACHE_H

#include "error.h"
#include "load.h"

enum fr_cache_mode {
	FR_CACHE_OFF,		/* always parse */
	FR_CACHE_READ,		/* use a valid cache, never write one (-n, --list, --dot) */
	FR_CACHE_WRITE,		/* also write the cache after a parse, if cachedir exists */
};

/* Load path through the cache in cachedir (which is never created here): like
 * fr_load_file, the same errors included. NULL with err set on failure. With
 * FR_CACHE_WRITE, a parsed tree that could not be cached because cachedir
 * does not exist leaves the file's stat data in *unsaved (NULL: not wanted),
 * for fr_treecache_save; else unsaved->size is -1. */
struct fr_doc *fr_treecache_load(const char *path, const char *cachedir, enum fr_cache_mode mode,
    struct fr_stat *unsaved, struct fr_error *err);
/* Cache doc, parsed from path when it had the stat data before (size -1:
 * nothing to do), creating cachedir: once the pipeline proved valid, so that
 * one that is not creates nothing. Quietly does nothing when it cannot. */
void fr_treecache_save(const char *path, const char *cachedir, const struct fr_doc *doc,
    const struct fr_stat *before);

#endif
