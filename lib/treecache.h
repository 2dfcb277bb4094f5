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

/* A cache image made before there was a directory to put it in. */
struct fr_treecache_unsaved {
	int fd;				/* an anonymous file holding it, or -1 */
};

/* Load path through the cache in cachedir (which is never created here): like
 * fr_load_file_with, streaming tasks to hook (NULL: none), the same errors
 * included. NULL with err set on failure; when hook->engaged is set then, the
 * hook saw tasks of a tree that broke off, and may see them again from a
 * second load without a hook. With FR_CACHE_WRITE, a parsed tree that cannot
 * be cached because cachedir does not exist yet is written to an anonymous
 * file in *unsaved (NULL: not wanted), for fr_treecache_save; else
 * unsaved->fd is -1. */
struct fr_doc *fr_treecache_load(const char *path, const char *cachedir, enum fr_cache_mode mode,
    struct fr_treecache_unsaved *unsaved, struct fr_load_hook *hook, struct fr_error *err);
/* Put the image in u into cachedir (created) as the cache of path, and
 * release u: once the pipeline proved valid, so that one that is not creates
 * nothing. Quietly does nothing when it cannot; u->fd -1 is a no-op. */
void fr_treecache_save(struct fr_treecache_unsaved *u, const char *path, const char *cachedir);

#endif
