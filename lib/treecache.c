/* SPDX-License-Identifier: MIT */
/* treecache: read and write the binary image of a parsed pipeline tree.
 *
 * The file cachedir/tree.BASENAME is, in host byte order:
 *   struct hdr                  magic, layout check, the source's stat data, counts
 *   struct rec[nnode]           the nodes in breadth-first order (node 0 is the root)
 *   uint32_t item[nitem]        children of every collection, as node indices
 *   char blob[nblob]            every string, each followed by a NUL
 * It is written to a temporary name and renamed, so a reader sees a whole file
 * or none; a file whose size does not match its counts is ignored. Trees that
 * share nodes through aliases are not cached (their image could be huge). */
#define _GNU_SOURCE		/* MAP_POPULATE, O_TMPFILE */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"
#include "treecache.h"
#include "util.h"

#define MAGIC "FRTREE\0\2"
#define NONE UINT32_MAX

struct hdr {
	char magic[8];
	uint32_t nodesize, recsize;	/* layout checks */
	struct fr_stat st;		/* of the pipeline file the tree came from */
	uint64_t nnode, nitem, nblob;
};

/* Offsets and counts fit in 32 bits: the file is at most FR_LOAD_MAX_FILE
 * bytes, so its strings and their sources at most twice that. */
struct rec {
	uint32_t line, col, len, str, src, srclen, item, nitem, nodes, bytes;
	uint8_t kind, type, plain, style;
};

/* Drop the pages of the mapping from *done (the start: after its first page,
 * which holds the header) to the last page wholly before end from memory;
 * they are read again from the file if touched. */
static void
release(void *map, uintptr_t *done, const void *end)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t to = (uintptr_t)end & ~(page - 1);

	if (*done == 0)
		*done = (uintptr_t)map + page;
	if (to > *done) {
		madvise((void *)*done, to - *done, MADV_DONTNEED);
		*done = to;
	}
}

static char *
cachepath(const char *path, const char *cachedir)
{
	const char *base = strrchr(path, '/');
	return fr_xasprintf("%s/tree.%s", cachedir, base ? base + 1 : path);
}

/* The cache is mapped, not read: nodes are made from the records in place and
 * strings point into the mapping, which lives as long as the doc. The file is
 * only ever replaced by rename, never truncated, so the mapping stays whole.
 * Records and child lists are let go as soon as they are made into nodes, so
 * that a big tree is not held twice. */
static struct fr_doc *
readcache(const char *file, const char *path, const struct fr_stat *st)
{
	struct fr_doc *doc = NULL;
	const struct hdr *h;
	const struct rec *r;
	const uint32_t *item;
	struct fr_node *node, **items;
	const char *blob;
	struct stat sb;
	uintptr_t done = 0;
	uint64_t i, k;
	void *map;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size < sizeof(*h)) {
		close(fd);
		return NULL;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return NULL;
	h = map;
	if (memcmp(h->magic, MAGIC, 8) != 0 || h->nodesize != sizeof(struct fr_node) ||
	    h->recsize != sizeof(struct rec) || !fr_stat_equal(&h->st, st) || h->nnode == 0 ||
	    h->nnode > FR_LOAD_MAX_NODES || h->nitem >= h->nnode ||
	    h->nblob > (uint64_t)sb.st_size ||
	    h->nblob > UINT32_MAX ||
	    (uint64_t)sb.st_size != sizeof(*h) + h->nnode * sizeof(*r) + h->nitem * 4 + h->nblob ||
	    (h->nblob > 0 && ((const char *)map)[sb.st_size - 1] != '\0')) {
		munmap(map, (size_t)sb.st_size);
		return NULL;
	}
	r = (const struct rec *)(h + 1);
	item = (const uint32_t *)(r + h->nnode);
	blob = (const char *)(item + h->nitem);
	doc = fr_xcalloc(1, sizeof(*doc));
	doc->file = fr_xstrdup(path);
	doc->map = map;
	doc->maplen = (size_t)sb.st_size;
	node = fr_doc_alloc(doc, h->nnode * sizeof(*node));
	items = fr_doc_alloc(doc, (h->nitem ? h->nitem : 1) * sizeof(*items));
	for (i = 0; i < h->nitem; i++) {
		if (item[i] == 0 || item[i] >= h->nnode)
			goto bad;
		items[i] = &node[item[i]];
	}
	for (i = 0; i < h->nnode; i++) {
		struct fr_node *n = &node[i];
		if (i % 8192 == 8191)	/* the records read so far are no longer needed */
			release(map, &done, &r[i]);
		memset(n, 0, sizeof(*n));
		n->kind = r[i].kind;
		n->mark.file = doc->file;
		n->mark.line = r[i].line;
		n->mark.col = r[i].col;
		n->type = r[i].type;
		n->plain = r[i].plain;
		n->style = r[i].style;
		n->nodes = r[i].nodes;
		n->bytes = r[i].bytes;
		if (n->kind == FR_NODE_SCALAR) {
			/* every string is followed by a NUL in the blob */
			if (r[i].str >= h->nblob || r[i].len >= h->nblob - r[i].str ||
			    blob[(size_t)r[i].str + r[i].len] != '\0')
				goto bad;
			n->str = (char *)blob + r[i].str;
			n->len = r[i].len;
			if (r[i].src != NONE) {
				if (r[i].src >= h->nblob || r[i].srclen >= h->nblob - r[i].src)
					goto bad;
				n->src = blob + r[i].src;
				n->srclen = r[i].srclen;
			}
		} else {
			if (r[i].item > h->nitem || r[i].nitem > h->nitem - r[i].item)
				goto bad;
			n->item = items + r[i].item;
			n->nitem = r[i].nitem;
			for (k = 0; k < r[i].nitem; k++)
				if (item[(size_t)r[i].item + k] <= i)
					goto bad;	/* children come after their parent */
		}
	}
	release(map, &done, blob);	/* the records and child lists: the strings stay */
	doc->root = &node[0];
	return doc;
bad:
	fr_doc_free(doc);
	return NULL;
}

/* Bytes written at once while the image streams out. */
#define CHUNK (1u << 20)

/* Add n bytes of p to out, writing out to fd when it is full; 0 or -1. */
static int
put(int fd, struct fr_buf *out, const void *p, size_t n)
{
	fr_buf_add(out, p, n);
	if (out->len < CHUNK)
		return 0;
	if (fr_write_full(fd, out->data, out->len) < 0)
		return -1;
	fr_buf_reset(out);
	return 0;
}

/* Number the nodes breadth-first (no recursion) and write the image to fd,
 * a section at a time through a buffer of CHUNK bytes (the image of a big
 * tree is not built in memory beside it): 1 if all of it was written. */
static int
image(int fd, const struct fr_doc *doc, const struct fr_stat *st)
{
	const struct fr_node **order = NULL;
	size_t norder = 0, ocap = 0, i, j, k;
	uint64_t blob = 0, nitem = 0;
	struct fr_buf out = {0};
	struct hdr h = {0};
	int ok = 0;

	FR_PUSH(order, norder, ocap, doc->root);
	/* breadth-first numbering keeps each collection's children together */
	for (i = 0; i < norder; i++)
		for (k = 0; order[i]->kind != FR_NODE_SCALAR && k < order[i]->nitem; k++)
			FR_PUSH(order, norder, ocap, order[i]->item[k]);
	for (i = 0; i < norder; i++) {
		if (order[i]->kind == FR_NODE_SCALAR)
			blob += order[i]->len + 1 + (order[i]->src ? order[i]->srclen + 1 : 0);
		else
			nitem += order[i]->nitem;
	}
	if (blob > UINT32_MAX)	/* never from a file of FR_LOAD_MAX_FILE bytes */
		goto out;
	memcpy(h.magic, MAGIC, 8);
	h.nodesize = sizeof(struct fr_node);
	h.recsize = sizeof(struct rec);
	h.st = *st;
	h.nnode = norder;
	h.nitem = nitem;
	h.nblob = blob;
	if (put(fd, &out, &h, sizeof(h)) < 0)
		goto out;
	for (i = 0, blob = 0, nitem = 0; i < norder; i++) {	/* the records */
		const struct fr_node *n = order[i];
		struct rec r = {0};
		r.kind = n->kind;
		r.line = n->mark.line;
		r.col = n->mark.col;
		r.type = n->type;
		r.plain = n->plain;
		r.style = n->style;
		r.nodes = n->nodes;
		r.bytes = n->bytes;
		r.src = NONE;
		if (n->kind == FR_NODE_SCALAR) {
			r.str = (uint32_t)blob;
			r.len = n->len;
			blob += n->len + 1;
			if (n->src) {
				r.src = (uint32_t)blob;
				r.srclen = n->srclen;
				blob += n->srclen + 1;
			}
		} else {
			r.item = (uint32_t)nitem;
			r.nitem = n->nitem;
			nitem += n->nitem;
		}
		if (put(fd, &out, &r, sizeof(r)) < 0)
			goto out;
	}
	for (i = 0, k = 1; i < norder; i++) {	/* the child lists */
		for (j = 0; order[i]->kind != FR_NODE_SCALAR && j < order[i]->nitem; j++, k++) {
			uint32_t idx = (uint32_t)k;	/* children were queued in this order */
			if (put(fd, &out, &idx, 4) < 0)
				goto out;
		}
	}
	for (i = 0; i < norder; i++) {	/* the strings */
		const struct fr_node *n = order[i];
		if (n->kind != FR_NODE_SCALAR)
			continue;
		if (put(fd, &out, n->str, n->len) < 0 || put(fd, &out, "", 1) < 0 ||
		    (n->src && (put(fd, &out, n->src, n->srclen) < 0 || put(fd, &out, "", 1) < 0)))
			goto out;
	}
	ok = fr_write_full(fd, out.data, out.len) == 0;
out:
	free(order);
	fr_buf_free(&out);
	return ok;
}

/* Write the image of doc as file, through a temporary name. A cache that
 * cannot be written is no error: the next run parses again. */
static void
writecache(const char *file, const struct fr_doc *doc, const struct fr_stat *st)
{
	char *tmp = fr_xasprintf("%s.tmp.%ld", file, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666), ok;

	ok = fd >= 0 && image(fd, doc, st);
	if (fd >= 0 && close(fd) < 0)
		ok = 0;
	if (!ok || rename(tmp, file) < 0)
		unlink(tmp);
	free(tmp);
}

/* The image of doc in an anonymous file (O_TMPFILE) in path's directory, to
 * be linked into the cache directory later: its fd, or -1. */
static int
anonimage(const char *path, const struct fr_doc *doc, const struct fr_stat *st)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? fr_xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) :
	    fr_xstrdup(".");
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);

	free(dir);
	if (fd >= 0 && !image(fd, doc, st)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

struct fr_doc *
fr_treecache_load(const char *path, const char *cachedir, enum fr_cache_mode mode,
    struct fr_treecache_unsaved *unsaved, struct fr_error *err)
{
	struct fr_stat before, after;
	struct fr_doc *doc;
	struct stat sb;
	char *file;

	if (unsaved)
		unsaved->fd = -1;
	if (mode == FR_CACHE_OFF || fr_stat_path(path, &before) < 0)
		return fr_load_file(path, err);
	file = cachepath(path, cachedir);
	if ((doc = readcache(file, path, &before))) {
		free(file);
		return doc;
	}
	doc = fr_load_file(path, err);
	/* cache only a tree that surely came from the file as stat saw it */
	if (doc && doc->root && !doc->aliases && mode == FR_CACHE_WRITE &&
	    fr_stat_path(path, &after) == 0 && fr_stat_equal(&before, &after)) {
		if (stat(cachedir, &sb) == 0 && S_ISDIR(sb.st_mode))
			writecache(file, doc, &before);
		else if (unsaved)
			unsaved->fd = anonimage(path, doc, &before);
	}
	free(file);
	return doc;
}

void
fr_treecache_save(struct fr_treecache_unsaved *u, const char *path, const char *cachedir)
{
	char *file, *tmp;

	if (u->fd < 0)
		return;
	file = cachepath(path, cachedir);
	tmp = fr_xasprintf("%s.tmp.%ld", file, (long)getpid());
	if ((mkdir(cachedir, 0777) == 0 || errno == EEXIST) && fr_linkfd(u->fd, tmp) == 0 &&
	    rename(tmp, file) < 0)
		unlink(tmp);
	free(tmp);
	free(file);
	close(u->fd);
	u->fd = -1;
}
