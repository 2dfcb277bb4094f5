/* SPDX-License-Identifier: MIT */
/* load: libyaml events become a tree of marked nodes, built with an explicit
 * stack of open collections; every node and string lives in a bump arena.
 * The builder (b_scalar, b_begin, b_end) is fed either by libyaml or by an
 * image of an earlier parse, which it also writes: an image is the nodes in
 * the order the parse met them (depth first), each a struct rec, a scalar's
 * followed by its len bytes, a NUL, and srclen bytes of its source text; a
 * collection's children follow it, then an OP_END. Host byte order: a cache
 * of one machine, checked by its owner (treecache). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"
#include "htab.h"
#include "load.h"
#include "util.h"

#define SMALLMAP 8		/* keys checked by linear scan before a map gets a htab */
#define IMGCHUNK (1u << 20)	/* image bytes written, or read, at once */

enum { OP_SCALAR = 1, OP_SEQ, OP_MAP, OP_END };

struct rec {
	uint8_t op, type, plain, style;
	uint32_t line, col, len, srclen;
};


struct frame {
	struct fr_node *node;	/* the open collection */
	size_t base;		/* its first child in ctx.kid */
	struct fr_htab *keys;	/* key text -> key node, once the map is large */
	const char *anchor;	/* registered when the collection ends */
};

struct ctx {
	struct fr_doc *doc;
	struct fr_error *err;
	struct fr_htab *anchors;	/* name -> node */
	struct frame stack[FR_LOAD_MAX_DEPTH];
	size_t depth;
	struct fr_node **kid;	/* children of every open collection */
	size_t nkid, capkid;
	int ndoc;
	const char *text;	/* the whole input (NULL: an image) */
	size_t textlen;
	size_t *linestart;	/* byte offset of each line, made on first need */
	size_t nline;
	struct fr_load_hook *hook;	/* NULL: no streaming */
	size_t tasksat;		/* 1 + the stack index of the 'tasks' map being
				 * streamed, or 0 */
	struct fr_arena scratch;	/* the streamed task being built */
	struct fr_load_image *img;	/* NULL: no image */
	struct fr_buf out;	/* image bytes not yet written */
};

void *
fr_doc_alloc(struct fr_doc *doc, size_t n)
{
	return fr_arena_alloc(&doc->arena, n, _Alignof(max_align_t));
}

/* Whether what is being built belongs to a streamed task, its key or its
 * value (which live in the scratch arena until the hook has seen them): it
 * is inside the 'tasks' map, which is itself made before its frame has a
 * node. */
static int
streaming(const struct ctx *c)
{
	size_t at = c->tasksat;

	return at && c->depth >= at && c->stack[at - 1].node != NULL;
}

/* n bytes aligned to align (a power of two) for the node being built. */
static void *
nalloc(struct ctx *c, size_t n, size_t align)
{
	return fr_arena_alloc(streaming(c) ? &c->scratch : &c->doc->arena, n, align);
}

static char *
nstrndup(struct ctx *c, const char *s, size_t n)
{
	return fr_arena_strndup(streaming(c) ? &c->scratch : &c->doc->arena, s, n);
}

void
fr_doc_free(struct fr_doc *doc)
{
	if (!doc)
		return;
	fr_arena_free(&doc->arena);
	free(doc->file);
	free(doc);
}

/* Add n bytes to the image, writing it out a chunk at a time. */
static void
imgput(struct ctx *c, const void *p, size_t n)
{
	if (!c->img || !c->img->ok)
		return;
	fr_buf_add(&c->out, p, n);
	c->img->len += n;
	if (c->out.len >= IMGCHUNK) {
		if (fr_write_full(c->img->fd, c->out.data, c->out.len) < 0)
			c->img->ok = 0;
		fr_buf_reset(&c->out);
	}
}

/* The image record of node n (op OP_END: the end of collection n). */
static void
imgrec(struct ctx *c, int op, const struct fr_node *n)
{
	struct rec r = {0};

	if (!c->img || !c->img->ok)
		return;
	r.op = (uint8_t)op;
	r.line = n->mark.line;
	r.col = n->mark.col;
	if (op == OP_SCALAR) {
		r.type = n->type;
		r.plain = n->plain;
		r.style = n->style;
		r.len = n->len;
		r.srclen = n->src ? n->srclen : 0;
	}
	imgput(c, &r, sizeof(r));
	if (op == OP_SCALAR) {
		imgput(c, n->str, (size_t)n->len + 1);
		if (r.srclen)
			imgput(c, n->src, r.srclen);
	}
}

/* Write what the image still holds; its ok says whether all of it went. */
static void
imgflush(struct ctx *c)
{
	if (c->img && c->img->ok && c->out.len &&
	    fr_write_full(c->img->fd, c->out.data, c->out.len) < 0)
		c->img->ok = 0;
	fr_buf_free(&c->out);
}

static int
eq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static int
oneof(const char *s, size_t len, const char *const *words)
{
	for (; *words; words++) {
		if (eq(s, len, *words))
			return 1;
	}
	return 0;
}

/* Skip the characters of s[*i..len) that are in set; return how many. */
static size_t
span(const char *s, size_t len, size_t *i, const char *set)
{
	size_t start = *i;

	while (*i < len && s[*i] && strchr(set, s[*i]))
		(*i)++;
	return *i - start;
}

#define DIGITS "0123456789"

static int
isint(const char *s, size_t len)
{
	size_t i = 2;

	if (len > 2 && s[0] == '0' && s[1] == 'o')
		return span(s, len, &i, "01234567") && i == len;
	if (len > 2 && s[0] == '0' && s[1] == 'x')
		return span(s, len, &i, DIGITS "abcdefABCDEF") && i == len;
	i = 0;
	span(s, len, &i, "-+");
	return i <= 1 && span(s, len, &i, DIGITS) && i == len;
}

static int
isfloat(const char *s, size_t len)
{
	static const char *const inf[] = { ".inf", ".Inf", ".INF", NULL };
	static const char *const nan[] = { ".nan", ".NaN", ".NAN", NULL };
	size_t i = 0, whole;

	if (oneof(s, len, nan))
		return 1;
	if (len > 0 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	if (oneof(s + i, len - i, inf))
		return 1;
	whole = span(s, len, &i, DIGITS);
	if (i < len && s[i] == '.') {
		i++;
		if (!span(s, len, &i, DIGITS) && !whole)
			return 0;
	} else if (!whole) {
		return 0;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		if (!span(s, len, &i, DIGITS))
			return 0;
	}
	return i == len;
}

enum fr_scalar_type
fr_scalar_resolve(const char *s, size_t len)
{
	static const char *const null[] = { "~", "null", "Null", "NULL", NULL };
	static const char *const boolw[] = {
		"true", "True", "TRUE", "false", "False", "FALSE", NULL
	};

	/* most scalars are words: only these first characters can start a
	 * null, bool, int or float */
	if (len > 0 && !strchr("~nNtTfF0123456789+-.", s[0]))
		return FR_SCALAR_STR;
	if (len == 0 || oneof(s, len, null))
		return FR_SCALAR_NULL;
	if (oneof(s, len, boolw))
		return FR_SCALAR_BOOL;
	if (isint(s, len))
		return FR_SCALAR_INT;
	if (isfloat(s, len))
		return FR_SCALAR_FLOAT;
	return FR_SCALAR_STR;
}

const char *
fr_node_describe(const struct fr_node *n)
{
	if (!n)
		return "nothing";
	if (n->kind == FR_NODE_SEQ)
		return "a list";
	if (n->kind == FR_NODE_MAP)
		return "a map";
	switch (n->type) {
	case FR_SCALAR_NULL:
		return "null";
	case FR_SCALAR_BOOL:
		return "a boolean";
	case FR_SCALAR_INT:
	case FR_SCALAR_FLOAT:
		return "a number";
	case FR_SCALAR_STR:
		break;
	}
	return "a string";
}

const struct fr_node *
fr_node_get(const struct fr_node *map, const char *key)
{
	size_t i, len;

	if (!map || map->kind != FR_NODE_MAP || !key)
		return NULL;
	len = strlen(key);
	for (i = 0; i + 1 < map->nitem; i += 2) {
		const struct fr_node *k = map->item[i];
		if (k->len == len && memcmp(k->str, key, len) == 0)
			return map->item[i + 1];
	}
	return NULL;
}

static struct fr_mark
mark(const struct ctx *c, const yaml_mark_t *m)
{
	struct fr_mark fm = { c->doc->file, (unsigned)m->line + 1, (unsigned)m->column + 1 };
	return fm;
}

static struct fr_node *
newnode(struct ctx *c, enum fr_node_kind kind, const struct fr_mark *m)
{
	struct fr_node *n = nalloc(c, sizeof(*n), _Alignof(struct fr_node));

	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->mark = *m;
	n->nodes = 1;
	return n;
}

/* The key's text as a NUL-free htab key: bytes 0 and 1 become 1,1 and 1,2. */
static const char *
hkey(struct ctx *c, const struct fr_node *k)
{
	size_t i, extra = 0;
	char *s, *p;

	for (i = 0; i < k->len; i++)
		extra += (unsigned char)k->str[i] <= 1;
	if (!extra)
		return k->str;
	p = s = nalloc(c, k->len + extra + 1, 1);
	for (i = 0; i < k->len; i++) {
		if ((unsigned char)k->str[i] <= 1) {
			*p++ = 1;
			*p++ = (char)(k->str[i] + 1);
		} else {
			*p++ = k->str[i];
		}
	}
	*p = '\0';
	return s;
}

/* Check key k about to join the map of frame f; m is where k is written. */
static int
checkkey(struct ctx *c, struct frame *f, struct fr_node *k, const struct fr_mark *m)
{
	struct fr_node *first = NULL;
	size_t i;

	if (k->kind != FR_NODE_SCALAR)
		return fr_error_set(c->err, FR_EPIPELINE, m, "mapping keys must be plain strings");
	if (!f->keys && (c->nkid - f->base) / 2 >= SMALLMAP) {
		f->keys = fr_htab_new(4 * SMALLMAP);
		for (i = f->base; i < c->nkid; i += 2)
			fr_htab_put(f->keys, hkey(c, c->kid[i]), c->kid[i]);
	}
	if (f->keys) {
		const char *h = hkey(c, k);
		if (!(first = fr_htab_get(f->keys, h)))
			fr_htab_put(f->keys, h, k);
	} else {
		for (i = f->base; i < c->nkid && !first; i += 2) {
			if (c->kid[i]->len == k->len && memcmp(c->kid[i]->str, k->str, k->len) == 0)
				first = c->kid[i];
		}
	}
	if (first)
		return fr_error_set(c->err, FR_EPIPELINE, m, "duplicate key '%s' (first at line %u)",
		    k->str, first->mark.line);
	return 0;
}

/* Hand the streamed task just whole (the last key and value of the 'tasks'
 * map) to the hook, then free both. */
static int
handover(struct ctx *c)
{
	int rc = c->hook->task(c->hook->arg, c->kid[c->nkid - 2], c->kid[c->nkid - 1], c->err);

	c->nkid -= 2;
	fr_arena_reset(&c->scratch);
	return rc;
}

/* Add node n, written at m, to the innermost open collection (or make it the root). */
static int
add(struct ctx *c, struct fr_node *n, const struct fr_mark *m)
{
	struct frame *f;
	struct fr_node *p;

	if (c->depth == 0) {
		c->doc->root = n;
		return 0;
	}
	f = &c->stack[c->depth - 1];
	p = f->node;
	if (c->tasksat && f == &c->stack[c->tasksat - 1] && (c->nkid - f->base) % 2 == 0 &&
	    n->kind != FR_NODE_SCALAR)	/* a streamed key: the hook finds duplicates */
		return fr_error_set(c->err, FR_EPIPELINE, m, "mapping keys must be plain strings");
	else if (p->kind == FR_NODE_MAP && (c->nkid - f->base) % 2 == 0 &&
	    !(c->tasksat && f == &c->stack[c->tasksat - 1]) && checkkey(c, f, n, m) < 0)
		return -1;
	p->nodes += n->nodes;	/* each at most FR_LOAD_MAX_NODES + 1: no overflow */
	if (p->nodes > FR_LOAD_MAX_NODES) {
		p->nodes = FR_LOAD_MAX_NODES + 1;
		return fr_error_set(c->err, FR_EPIPELINE, &p->mark,
		    "alias expansion too large (more than %u nodes)", FR_LOAD_MAX_NODES);
	}
	p->bytes = n->bytes > UINT32_MAX - p->bytes ? UINT32_MAX : p->bytes + n->bytes;
	if (c->doc->aliases && p->bytes > FR_LOAD_MAX_EXPANDED) {
		p->bytes = FR_LOAD_MAX_EXPANDED + 1;
		return fr_error_set(c->err, FR_EPIPELINE, &p->mark,
		    "alias expansion too large (more than %u MiB of text)",
		    FR_LOAD_MAX_EXPANDED >> 20);
	}
	FR_PUSH(c->kid, c->nkid, c->capkid, n);
	if (c->tasksat && f == &c->stack[c->tasksat - 1] && (c->nkid - f->base) % 2 == 0)
		return handover(c);
	return 0;
}

/* name (an anchor, or NULL) copied for the anchor table, which outlives any
 * streamed task: an anchor in one fails the parse. NULL with *rc -1 then. */
static const char *
anchor(struct ctx *c, const char *name, const struct fr_mark *m, int *rc)
{
	*rc = 0;
	if (!name)
		return NULL;
	if (streaming(c)) {
		*rc = fr_error_set(c->err, FR_EPIPELINE, m, "an anchor in a streamed task");
		return NULL;
	}
	return fr_arena_strndup(&c->doc->arena, name, strlen(name));
}

/* The byte offset of a libyaml mark (whose column counts characters). */
static size_t
byteat(struct ctx *c, const yaml_mark_t *m)
{
	size_t off, col;

	if (!c->linestart) {
		size_t i, cap = 0;
		FR_PUSH(c->linestart, c->nline, cap, 0);
		for (i = 0; i < c->textlen; i++)
			if (c->text[i] == '\n')
				FR_PUSH(c->linestart, c->nline, cap, i + 1);
	}
	if (m->line >= c->nline)
		return c->textlen;
	off = c->linestart[m->line];
	for (col = 0; col < m->column && off < c->textlen && c->text[off] != '\n'; col++) {
		off++;
		while (off < c->textlen && ((unsigned char)c->text[off] & 0xc0) == 0x80)
			off++;	/* UTF-8 continuation bytes */
	}
	return off;
}


static int
isblank_nl(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

struct fr_mark
fr_node_mark_at(const struct fr_node *n, size_t off)
{
	struct fr_mark m = n->mark;
	const char *s = n->src, *v = n->str;
	size_t p = 0, i = 0, len = n->srclen;

#define STEP() do { if (s[p] == '\n') { m.line++; m.col = 1; } else m.col++; p++; } while (0)
	if (!s) {
		m.col += (unsigned)off + (n->plain ? 0 : 1);
		return m;
	}
	if (n->style == FR_STYLE_SINGLE || n->style == FR_STYLE_DOUBLE)
		STEP();			/* the opening quote */
	else if (n->style == FR_STYLE_LITERAL || n->style == FR_STYLE_FOLDED) {
		while (p < len && s[p] != '\n')
			STEP();		/* the | or > header line */
		if (p < len)
			STEP();
	}
	while (i < off && p < len) {
		if (isblank_nl(v[i]) && isblank_nl(s[p])) {
			while (i < off && isblank_nl(v[i]))
				i++;
			while (p < len && isblank_nl(s[p]))
				STEP();
		} else if (s[p] == v[i]) {
			STEP();
			i++;
		} else if (n->style == FR_STYLE_DOUBLE && s[p] == '\\') {
			STEP();
			STEP();		/* an escape stands for one character */
			i++;
		} else if (n->style == FR_STYLE_SINGLE && s[p] == '\'') {
			STEP();
			STEP();		/* '' stands for ' */
			i++;
		} else {
			STEP();
		}
	}
	while (p < len && s[p] != v[off])
		STEP();			/* indentation before the character itself */
#undef STEP
	return m;
}

/* A scalar node: len bytes of str, its resolved type and style, src (srclen
 * bytes, or NULL) the text it was written as, name its anchor or NULL. */
static int
b_scalar(struct ctx *c, const struct fr_mark *m, const char *str, size_t len, int type,
    int plain, int style, const char *src, size_t srclen, const char *name)
{
	struct fr_node *n;
	const char *aname;
	int rc;

	if (len > FR_LOAD_MAX_SCALAR)
		return fr_error_set(c->err, FR_EPIPELINE, m, "scalar longer than %u MiB",
		    FR_LOAD_MAX_SCALAR >> 20);
	if (!(aname = anchor(c, name, m, &rc)) && rc < 0)
		return -1;
	n = newnode(c, FR_NODE_SCALAR, m);
	n->len = (uint32_t)len;
	n->bytes = n->len;
	n->str = nstrndup(c, str, len);
	n->plain = (unsigned char)plain;
	n->style = (unsigned char)style;
	n->type = (unsigned char)type;
	if (src) {
		n->src = nstrndup(c, src, srclen);
		n->srclen = (uint32_t)srclen;
	}
	imgrec(c, OP_SCALAR, n);
	if (aname)
		fr_htab_put(c->anchors, aname, n);
	return add(c, n, &n->mark);
}

/* Whether a map beginning now is the value of the root map's key 'tasks'. */
static int
tasksnext(const struct ctx *c)
{
	const struct frame *r = &c->stack[0];
	const struct fr_node *k;

	if (c->depth != 1 || r->node->kind != FR_NODE_MAP || (c->nkid - r->base) % 2 == 0)
		return 0;
	k = c->kid[c->nkid - 1];
	return k->kind == FR_NODE_SCALAR && k->len == 5 && memcmp(k->str, "tasks", 5) == 0;
}

/* At the 'tasks' map: show the hook the root so far, and stream if it agrees. */
static int
streamtasks(struct ctx *c)
{
	const struct frame *r = &c->stack[0];
	struct fr_node root = *r->node;

	root.item = c->kid + r->base;
	root.nitem = (uint32_t)(c->nkid - r->base - 1);
	c->hook->engaged = 1;
	if (c->hook->head(c->hook->arg, &root, c->err) < 0)
		return -1;
	c->tasksat = 2;		/* the frame about to open */
	c->doc->streamed = 1;
	return 0;
}

/* A collection opens at m, anchored as name (or NULL). */
static int
b_begin(struct ctx *c, enum fr_node_kind kind, const struct fr_mark *m, const char *name)
{
	struct frame *f, *top = c->depth ? &c->stack[c->depth - 1] : NULL;
	const char *aname;
	int rc;

	if (top && top->node->kind == FR_NODE_MAP && (c->nkid - top->base) % 2 == 0)
		return fr_error_set(c->err, FR_EPIPELINE, m, "mapping keys must be plain strings");
	if (c->depth >= FR_LOAD_MAX_DEPTH)
		return fr_error_set(c->err, FR_EPIPELINE, m, "nesting deeper than %d levels",
		    FR_LOAD_MAX_DEPTH);
	if (!(aname = anchor(c, name, m, &rc)) && rc < 0)
		return -1;
	if (c->hook && !c->tasksat && !c->doc->streamed && !name && kind == FR_NODE_MAP &&
	    tasksnext(c) && streamtasks(c) < 0)
		return -1;
	f = &c->stack[c->depth];
	f->base = c->nkid;	/* before the node: streaming() reads it */
	f->keys = NULL;
	f->anchor = aname;
	f->node = NULL;
	c->depth++;
	f->node = newnode(c, kind, m);
	imgrec(c, kind == FR_NODE_MAP ? OP_MAP : OP_SEQ, f->node);
	return 0;
}

/* The innermost open collection closes. */
static int
b_end(struct ctx *c)
{
	struct frame *f = &c->stack[--c->depth];
	struct fr_node *n = f->node;

	n->nitem = (uint32_t)(c->nkid - f->base);
	if (n->nitem) {
		n->item = nalloc(c, n->nitem * sizeof(*n->item), _Alignof(struct fr_node *));
		memcpy(n->item, c->kid + f->base, n->nitem * sizeof(*n->item));
	}
	c->nkid = f->base;
	fr_htab_free(f->keys);
	f->keys = NULL;
	imgrec(c, OP_END, n);
	if (c->tasksat == c->depth + 1)
		c->tasksat = 0;		/* the 'tasks' map is whole */
	if (f->anchor)
		fr_htab_put(c->anchors, f->anchor, n);
	return add(c, n, &n->mark);
}

static int
scalar(struct ctx *c, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *str = (const char *)ev->data.scalar.value, *src = NULL;
	size_t len = ev->data.scalar.length, srclen = 0, a, b;
	struct fr_mark m = mark(c, &ev->start_mark);
	int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, style, type;

	style = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ? FR_STYLE_SINGLE :
	    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? FR_STYLE_DOUBLE :
	    ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ? FR_STYLE_LITERAL :
	    ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE ? FR_STYLE_FOLDED : FR_STYLE_PLAIN;
	if (len <= FR_LOAD_MAX_SCALAR && strstr(str, "${{")) {
		/* the source text, so that template errors can point into it */
		a = byteat(c, &ev->start_mark);
		b = byteat(c, &ev->end_mark);
		if (b > a) {
			src = c->text + a;
			srclen = b - a;
		}
	}
	if (tag && (strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, "!") == 0))
		type = FR_SCALAR_STR;
	else
		type = plain ? (int)fr_scalar_resolve(str, len) : FR_SCALAR_STR;
	return b_scalar(c, &m, str, len, type, plain, style, src, srclen,
	    (const char *)ev->data.scalar.anchor);
}

static int
alias(struct ctx *c, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct fr_mark m = mark(c, &ev->start_mark);
	struct fr_node *n = fr_htab_get(c->anchors, name);

	if (c->img)
		c->img->ok = 0;		/* an image holds no aliases */
	if (!n)
		return fr_error_set(c->err, FR_EPIPELINE, &m, "unknown anchor '%s'", name);
	c->doc->aliases = 1;
	return add(c, n, &m);
}

static int
begin(struct ctx *c, enum fr_node_kind kind, const yaml_event_t *ev, const yaml_char_t *name)
{
	struct fr_mark m = mark(c, &ev->start_mark);

	return b_begin(c, kind, &m, (const char *)name);
}

static int
event(struct ctx *c, const yaml_event_t *ev)
{
	struct fr_mark m;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		m = mark(c, &ev->start_mark);
		if (++c->ndoc > 1)
			return fr_error_set(c->err, FR_EPIPELINE, &m, "only one YAML document is allowed");
		return 0;
	case YAML_SCALAR_EVENT:
		return scalar(c, ev);
	case YAML_ALIAS_EVENT:
		return alias(c, ev);
	case YAML_SEQUENCE_START_EVENT:
		return begin(c, FR_NODE_SEQ, ev, ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return begin(c, FR_NODE_MAP, ev, ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return b_end(c);
	default:
		return 0;
	}
}

/* Report libyaml's error; reader errors carry a byte offset, not a mark. */
static int
syntax(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
	struct fr_mark m = mark(c, &p->problem_mark);
	const char *problem = p->problem ? p->problem : "invalid YAML";
	size_t i, off;

	if (p->error == YAML_MEMORY_ERROR)
		return fr_error_set(c->err, FR_EPIPELINE, NULL, "out of memory parsing %s",
		    c->doc->file);
	if (p->error == YAML_READER_ERROR) {
		off = p->problem_offset < len ? p->problem_offset : len;
		m.line = m.col = 1;
		for (i = 0; i < off; i++) {
			m.col = text[i] == '\n' ? 1 : m.col + 1;
			m.line += text[i] == '\n';
		}
	}
	if (p->context)
		return fr_error_set(c->err, FR_EPIPELINE, &m, "%s (%s at line %u)", problem,
		    p->context, (unsigned)p->context_mark.line + 1);
	return fr_error_set(c->err, FR_EPIPELINE, &m, "%s", problem);
}

/* A context for building file's tree; with no text, from an image. */
static struct ctx *
newctx(const char *file, const char *text, size_t len, struct fr_load_hook *hook,
    struct fr_load_image *img, struct fr_error *err)
{
	struct ctx *c = fr_xcalloc(1, sizeof(*c));

	c->doc = fr_xcalloc(1, sizeof(*c->doc));
	c->doc->file = fr_xstrdup(file);
	c->err = err;
	c->anchors = fr_htab_new(16);
	c->text = text;
	c->textlen = len;
	c->hook = hook;
	if (hook)
		hook->engaged = 0;
	c->img = img;
	if (img) {
		img->len = 0;
		img->ok = img->fd >= 0;
	}
	return c;
}

/* Free c; its doc too unless ok, else return the doc. */
static struct fr_doc *
endctx(struct ctx *c, int ok)
{
	struct fr_doc *doc = c->doc;

	while (c->depth > 0)
		fr_htab_free(c->stack[--c->depth].keys);
	if (ok)
		imgflush(c);
	else if (c->img)
		c->img->ok = 0;
	fr_buf_free(&c->out);
	fr_htab_free(c->anchors);
	fr_arena_free(&c->scratch);
	free(c->kid);
	free(c->linestart);
	free(c);
	if (ok) {
		/* a document with no content ("---" alone) is empty, like an empty file */
		if (doc->root && doc->root->kind == FR_NODE_SCALAR && doc->root->plain &&
		    doc->root->len == 0 && doc->root->type == FR_SCALAR_NULL)
			doc->root = NULL;
		return doc;
	}
	fr_doc_free(doc);
	return NULL;
}

static struct fr_doc *
parse(const char *file, const char *text, size_t len, struct fr_load_hook *hook,
    struct fr_load_image *img, struct fr_error *err)
{
	struct ctx *c = newctx(file, text, len, hook, img, err);
	yaml_parser_t parser;
	yaml_event_t ev;
	yaml_event_type_t type;
	int rc;

	if (!yaml_parser_initialize(&parser)) {
		fr_error_set(err, FR_EPIPELINE, NULL, "out of memory parsing %s", file);
		return endctx(c, 0);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	do {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax(c, &parser, text, len);
			yaml_parser_delete(&parser);
			return endctx(c, 0);
		}
		rc = event(c, &ev);
		type = ev.type;
		yaml_event_delete(&ev);
		if (rc < 0) {
			yaml_parser_delete(&parser);
			return endctx(c, 0);
		}
	} while (type != YAML_STREAM_END_EVENT);
	yaml_parser_delete(&parser);
	return endctx(c, 1);
}

struct fr_doc *
fr_load_string(const char *file, const char *text, size_t len, struct fr_error *err)
{
	return parse(file, text, len, NULL, NULL, err);
}

struct fr_doc *
fr_load_file(const char *path, struct fr_error *err)
{
	return fr_load_file_with(path, NULL, NULL, err);
}

struct fr_doc *
fr_load_file_with(const char *path, struct fr_load_hook *hook, struct fr_load_image *img,
    struct fr_error *err)
{
	struct fr_mark m = { path, 0, 0 };
	struct fr_doc *doc = NULL;
	struct stat sb;
	char *text;
	long n;
	int fd;

	if (img)
		img->ok = 0;
	if (hook)
		hook->engaged = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		fr_error_set(err, FR_EPIPELINE, &m, "cannot read:");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* checked before reading: the whole text is held in memory */
	if (sb.st_size > (off_t)FR_LOAD_MAX_FILE) {
		close(fd);
		fr_error_set(err, FR_EPIPELINE, &m, "file larger than %u MiB", FR_LOAD_MAX_FILE >> 20);
		return NULL;
	}
	text = fr_xmalloc((size_t)sb.st_size + 1);
	if ((n = fr_read_full(fd, text, (size_t)sb.st_size)) < 0)
		fr_error_set(err, FR_EPIPELINE, &m, "cannot read:");
	else
		doc = parse(path, text, (size_t)n, hook, img, err);
	if (img && doc && !doc->root)
		img->ok = 0;	/* an image holds one root: an empty file has none */
	close(fd);
	free(text);
	return doc;
}

/* An image being read through a window. */
struct reader {
	int fd;
	unsigned char *buf;
	size_t cap, at, end;	/* buf[at..end) read, not yet used */
	uint64_t left;		/* bytes of the image not yet read */
};

/* Have n bytes at r->buf + r->at: 0, or -1 when the image ends first or a
 * read fails. */
static int
need(struct reader *r, size_t n)
{
	size_t want;

	if (r->end - r->at >= n)
		return 0;
	if (n - (r->end - r->at) > r->left)
		return -1;
	memmove(r->buf, r->buf + r->at, r->end - r->at);
	r->end -= r->at;
	r->at = 0;
	if (n > r->cap) {
		r->cap = n;
		r->buf = fr_xrealloc(r->buf, r->cap);
	}
	want = r->cap - r->end < r->left ? r->cap - r->end : (size_t)r->left;
	if (fr_read_full(r->fd, r->buf + r->end, want) != (long)want)
		return -1;
	r->end += want;
	r->left -= want;
	return 0;
}

struct fr_doc *
fr_load_image(const char *file, int fd, uint64_t len, struct fr_load_hook *hook,
    struct fr_error *err)
{
	struct ctx *c = newctx(file, NULL, 0, hook, NULL, err);
	struct reader r = { fd, NULL, IMGCHUNK, 0, 0, len };
	struct rec h;
	int rc = 0;

	r.buf = fr_xmalloc(r.cap);
	while (rc == 0 && (r.left || r.at < r.end)) {
		struct fr_mark m;
		const char *str;
		if (need(&r, sizeof(h)) < 0)
			goto damaged;
		memcpy(&h, r.buf + r.at, sizeof(h));
		r.at += sizeof(h);
		m.file = c->doc->file;
		m.line = h.line;
		m.col = h.col;
		if (c->depth == 0 && c->doc->root && h.op != OP_END)
			goto damaged;		/* a second root */
		switch (h.op) {
		case OP_SCALAR:
			if (h.type > FR_SCALAR_FLOAT || h.plain > 1 || h.style > FR_STYLE_FOLDED ||
			    h.len > FR_LOAD_MAX_SCALAR || h.srclen > FR_LOAD_MAX_FILE ||
			    need(&r, (size_t)h.len + 1 + h.srclen) < 0 ||
			    r.buf[r.at + h.len] != '\0')
				goto damaged;
			str = (const char *)r.buf + r.at;
			rc = b_scalar(c, &m, str, h.len, h.type, h.plain, h.style,
			    h.srclen ? str + h.len + 1 : NULL, h.srclen, NULL);
			r.at += (size_t)h.len + 1 + h.srclen;
			break;
		case OP_SEQ:
		case OP_MAP:
			rc = b_begin(c, h.op == OP_MAP ? FR_NODE_MAP : FR_NODE_SEQ, &m, NULL);
			break;
		case OP_END:
			if (c->depth == 0)
				goto damaged;
			rc = b_end(c);
			break;
		default:
			goto damaged;
		}
	}
	if (rc == 0 && (c->depth || !c->doc->root))
		goto damaged;
	free(r.buf);
	return endctx(c, rc == 0);
damaged:
	free(r.buf);
	fr_error_set(err, FR_EPIPELINE, NULL, "%s: damaged image", file);
	return endctx(c, 0);
}
