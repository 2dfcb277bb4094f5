/* SPDX-License-Identifier: MIT */
/* treecache: keep a parse's image (load.c) beside the state, and rebuild the
 * tree from it instead of parsing YAML again.
 *
 * The file cachedir/tree.BASENAME is a struct hdr (magic, layout check, the
 * source's stat data, the image's length) and the image, in host byte order.
 * The image is written while the file is parsed (a big tree is never
 * serialized from memory), to a temporary name renamed once the parse is
 * whole, so a reader sees a whole file or none; a file whose length does not
 * match its header is ignored. Trees that share nodes through aliases are not
 * cached (an image holds no aliases). */
#define _GNU_SOURCE		/* O_TMPFILE */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "treecache.h"
#include "util.h"

#define MAGIC "FRTREE\0\3"

struct hdr {
	char magic[8];
	uint32_t nodesize, pad;		/* layout check */
	struct fr_stat st;		/* of the pipeline file the tree came from */
	uint64_t len;			/* of the image that follows */
};

static char *
cachepath(const char *path, const char *cachedir)
{
	const char *base = strrchr(path, '/');
	return fr_xasprintf("%s/tree.%s", cachedir, base ? base + 1 : path);
}

/* The tree from the cache file, if it was made from path with stat data st:
 * 1 with *doc set; 0 when there is no usable cache (missing, stale, damaged);
 * -1 (err set) when the image broke off after tasks went to hook, which a
 * caller must undo (hook->engaged says so). */
static int
readcache(const char *file, const char *path, const struct fr_stat *st,
    struct fr_load_hook *hook, struct fr_doc **doc, struct fr_error *err)
{
	struct hdr h;
	struct stat sb;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || fr_read_full(fd, &h, sizeof(h)) != (long)sizeof(h) ||
	    memcmp(h.magic, MAGIC, 8) != 0 || h.nodesize != sizeof(struct fr_node) ||
	    !fr_stat_equal(&h.st, st) || (uint64_t)sb.st_size != sizeof(h) + h.len) {
		close(fd);
		return 0;
	}
	*doc = fr_load_image(path, fd, h.len, hook, err);
	close(fd);
	if (*doc)
		return 1;
	if (hook && hook->engaged)
		return -1;
	fr_error_clear(err);	/* a damaged cache is no cache */
	return 0;
}

/* A file to write the image into, with room for the header: a temporary
 * file beside the cache when cachedir exists (*tmp its name), else, when
 * unsaved is wanted, an anonymous one in path's directory (*tmp NULL), else
 * none. The fd, or -1. */
static int
openimage(const char *path, const char *file, const char *cachedir, int unsaved, char **tmp)
{
	struct stat sb;
	struct hdr h = {0};
	int fd = -1;

	*tmp = NULL;
	if (stat(cachedir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		*tmp = fr_xasprintf("%s.tmp.%ld", file, (long)getpid());
		fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	} else if (unsaved) {
		const char *slash = strrchr(path, '/');
		char *dir = slash ? fr_xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) :
		    fr_xstrdup(".");
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
		free(dir);
	}
	if (fd >= 0 && fr_write_full(fd, &h, sizeof(h)) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 && *tmp) {
		unlink(*tmp);
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

/* Finish the image in fd (its header last, so that a half-written one never
 * looks whole): 1 if it is whole, else 0. */
static int
finishimage(int fd, const struct fr_load_image *img, const struct fr_stat *st)
{
	struct hdr h = {0};

	if (!img->ok)
		return 0;
	memcpy(h.magic, MAGIC, 8);
	h.nodesize = sizeof(struct fr_node);
	h.st = *st;
	h.len = img->len;
	return pwrite(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h);
}

struct fr_doc *
fr_treecache_load(const char *path, const char *cachedir, enum fr_cache_mode mode,
    struct fr_treecache_unsaved *unsaved, struct fr_load_hook *hook, struct fr_error *err)
{
	struct fr_load_image img = { -1, 0, 0 };
	struct fr_stat before, after;
	struct fr_doc *doc = NULL;
	char *file, *tmp = NULL;
	int rc, keep;

	if (unsaved)
		unsaved->fd = -1;
	if (mode == FR_CACHE_OFF || fr_stat_path(path, &before) < 0)
		return fr_load_file_with(path, hook, NULL, err);
	file = cachepath(path, cachedir);
	if ((rc = readcache(file, path, &before, hook, &doc, err)) != 0) {
		free(file);
		return doc;
	}
	if (mode == FR_CACHE_WRITE)
		img.fd = openimage(path, file, cachedir, unsaved != NULL, &tmp);
	doc = fr_load_file_with(path, hook, img.fd >= 0 ? &img : NULL, err);
	/* cache only a tree that surely came from the file as stat saw it */
	/* img.ok says the tree is whole, with a root and no aliases */
	keep = img.fd >= 0 && doc && fr_stat_path(path, &after) == 0 &&
	    fr_stat_equal(&before, &after) && finishimage(img.fd, &img, &before);
	if (tmp) {
		if (close(img.fd) < 0 || !keep || rename(tmp, file) < 0)
			unlink(tmp);
		free(tmp);
	} else if (img.fd >= 0) {
		if (keep)
			unsaved->fd = img.fd;
		else
			close(img.fd);
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
