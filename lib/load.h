/* SPDX-License-Identifier: MIT */
/* load: a YAML file becomes a tree of nodes, each with the file:line:col where
 * it starts. Only libyaml's event parser is used; the tree is built without
 * recursion, so depth is bounded only by FR_LOAD_MAX_DEPTH.
 *
 * What load rejects (FR_EPIPELINE, at the offending node's position):
 *   a file larger than FR_LOAD_MAX_FILE bytes (before reading it), YAML
 *   syntax errors (libyaml's problem text and mark), more than one document,
 *   duplicate keys in a mapping ("duplicate key 'x' (first at line L)"),
 *   non-scalar mapping keys, nesting deeper than FR_LOAD_MAX_DEPTH,
 *   a scalar longer than FR_LOAD_MAX_SCALAR bytes, and alias expansion that
 *   would make the tree larger than FR_LOAD_MAX_NODES nodes ("billion laughs")
 *   or, in a file with aliases, hold more than FR_LOAD_MAX_EXPANDED bytes of
 *   scalars (one long string repeated by aliases).
 * An alias becomes a pointer to the anchored node, so the tree may be a DAG. */
#ifndef FR_LOAD_H
#define FR_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define FR_LOAD_MAX_DEPTH 256
#define FR_LOAD_MAX_SCALAR (16u << 20)
#define FR_LOAD_MAX_FILE (256u << 20)
#define FR_LOAD_MAX_NODES 20000000u
#define FR_LOAD_MAX_EXPANDED (64u << 20)

enum fr_node_kind { FR_NODE_SCALAR, FR_NODE_SEQ, FR_NODE_MAP };

/* The type a scalar resolves to under YAML 1.2's core schema. A quoted,
 * literal or folded scalar, or one tagged !!str, is always FR_SCALAR_STR. */
enum fr_scalar_type {
	FR_SCALAR_STR, FR_SCALAR_NULL, FR_SCALAR_BOOL, FR_SCALAR_INT, FR_SCALAR_FLOAT
};

enum fr_scalar_style {
	FR_STYLE_PLAIN, FR_STYLE_SINGLE, FR_STYLE_DOUBLE, FR_STYLE_LITERAL, FR_STYLE_FOLDED
};

/* 64 bytes: a pipeline of 100,000 tasks has a million of them. Counts fit in
 * 32 bits because of the limits above (a file of at most FR_LOAD_MAX_FILE
 * bytes, scalars of at most FR_LOAD_MAX_SCALAR, FR_LOAD_MAX_NODES nodes). */
struct fr_node {
	struct fr_mark mark;		/* where the node starts; file is the doc's */
	/* FR_NODE_SCALAR */
	char *str;			/* NUL-terminated (may also contain NULs) */
	const char *src;		/* the scalar as written in the file, only for
					 * values holding "${{" (else NULL), so that
					 * template errors can point into it */
	/* FR_NODE_SEQ: items; FR_NODE_MAP: key, value, key, value, ... */
	struct fr_node **item;
	uint32_t len;			/* of str */
	uint32_t srclen;
	uint32_t nitem;
	uint32_t nodes;			/* nodes in this subtree, aliases expanded (saturating) */
	uint32_t bytes;			/* bytes of its scalars, aliases expanded (saturating) */
	unsigned char kind;		/* enum fr_node_kind */
	unsigned char type;		/* enum fr_scalar_type */
	unsigned char plain;		/* plain (unquoted) style */
	unsigned char style;		/* enum fr_scalar_style */
};

struct fr_doc {
	char *file;			/* the name marks point to; a caller that keeps
					 * marks past fr_doc_free takes it (and sets it NULL) */
	struct fr_node *root;		/* NULL for an empty document */
	int aliases;			/* the tree shares nodes through aliases */
	int streamed;			/* the keys and values of the root's 'tasks'
					 * map went to a hook (fr_load_hook) and were
					 * freed: the map is now empty */
	struct fr_arena arena;		/* private: every node and string lives here */
};

/* Streaming: a parse can hand each task of the root map's 'tasks' map to the
 * caller as soon as the task is whole, and free it, so that a pipeline of
 * 100,000 tasks is never a whole tree in memory, not even its keys. The
 * hook, which keeps what it needs of each task, finds duplicate keys among
 * them. A task holding an anchor fails the parse (its aliases could not
 * outlive it); the caller then parses again without a hook. */
struct fr_load_hook {
	/* At the map that is the value of the root key 'tasks', root being the
	 * root map so far (the keys and values before 'tasks'). 0 to have the
	 * tasks streamed, -1 (err set) to fail the parse. */
	int (*head)(void *arg, const struct fr_node *root, struct fr_error *err);
	/* Each task's key and value, once the value is whole; both, and
	 * everything under them, are freed when this returns. The parse does
	 * not check the keys for duplicates: the hook does. 0, or -1 (err set). */
	int (*task)(void *arg, const struct fr_node *key, const struct fr_node *value,
	    struct fr_error *err);
	void *arg;
	int engaged;			/* set by the parse: head was called */
};

/* A parse's image: every node as the parse met it, written to fd as it goes
 * (the image of a big tree is never built in memory), for fr_load_image to
 * rebuild the same tree without YAML. See load.c for the layout. */
struct fr_load_image {
	int fd;				/* where to write; -1: no image */
	uint64_t len;			/* out: bytes written */
	int ok;				/* out: the image is whole (no write failed, no
					 * aliases: an image holds none; a root: an
					 * empty document makes no image) */
};

/* Parse the file at path; on failure NULL with err set. The caller owns the doc. */
struct fr_doc *fr_load_file(const char *path, struct fr_error *err);
/* Parse len bytes of text, reporting positions as coming from file. */
struct fr_doc *fr_load_string(const char *file, const char *text, size_t len,
    struct fr_error *err);
/* fr_load_file, streaming tasks to hook and writing an image to img, either
 * of which may be NULL. */
struct fr_doc *fr_load_file_with(const char *path, struct fr_load_hook *hook,
    struct fr_load_image *img, struct fr_error *err);
/* Rebuild the tree whose image (from fr_load_file_with) is the next len
 * bytes of fd, as parsed from file, streaming tasks to hook (NULL: none),
 * reading through a small window. A damaged image is an error (FR_EPIPELINE,
 * "damaged image"), and so is whatever a parse would refuse in the tree. */
struct fr_doc *fr_load_image(const char *file, int fd, uint64_t len,
    struct fr_load_hook *hook, struct fr_error *err);
/* n bytes from doc's arena (freed with the doc), aligned for any type. */
void *fr_doc_alloc(struct fr_doc *doc, size_t n);
/* Free the doc and every node in it; NULL is a no-op. */
void fr_doc_free(struct fr_doc *doc);
/* The value of key in a mapping node, or NULL (also NULL when map is not a map). */
const struct fr_node *fr_node_get(const struct fr_node *map, const char *key);
/* Resolve a plain scalar's text under the core schema (null, bool, int, float, str). */
enum fr_scalar_type fr_scalar_resolve(const char *s, size_t len);
/* The position of byte off of scalar n's value in the file (exact for
 * plain, quoted, literal and folded scalars whose src is kept). */
struct fr_mark fr_node_mark_at(const struct fr_node *n, size_t off);
/* A human name for a node's kind and type: "a string", "a list", "a map", "a number", ... */
const char *fr_node_describe(const struct fr_node *n);

#endif
