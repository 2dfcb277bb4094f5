/* SPDX-License-Identifier: MIT */
/* load: libyaml events become a tree of marked nodes, built with an explicit
 * stack of open collections; every node and string lives in a bump arena. */
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
	const char *text;	/* the whole input */
	size_t textlen;
	size_t *linestart;	/* byte offset of each line, made on first need */
	size_t nline;
};

/* Allocate n bytes aligned to align (a power of two) from doc's arena. */
static void *
aalloc(struct fr_doc *doc, size_t n, size_t align)
{
	return fr_arena_alloc(&doc->arena, n, align);
}

void *
fr_doc_alloc(struct fr_doc *doc, size_t n)
{
	return aalloc(doc, n, _Alignof(max_align_t));
}

static char *
astrndup(struct fr_doc *doc, const char *s, size_t n)
{
	return fr_arena_strndup(&doc->arena, s, n);
}

void
fr_doc_free(struct fr_doc *doc)
{
	if (!doc)
		return;
	fr_arena_free(&doc->arena);
	if (doc->map)
		munmap(doc->map, doc->maplen);
	free(doc->file);
	free(doc);
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
newnode(struct ctx *c, enum fr_node_kind kind, const yaml_mark_t *m)
{
	struct fr_node *n = aalloc(c->doc, sizeof(*n), _Alignof(struct fr_node));

	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->mark = mark(c, m);
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
	p = s = aalloc(c->doc, k->len + extra + 1, 1);
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
	if (p->kind == FR_NODE_MAP && (c->nkid - f->base) % 2 == 0 && checkkey(c, f, n, m) < 0)
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
	return 0;
}

static const char *
anchor(struct ctx *c, const yaml_char_t *name)
{
	return name ? astrndup(c->doc, (const char *)name, strlen((const char *)name)) : NULL;
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

static void
keepsource(struct ctx *c, struct fr_node *n, const yaml_mark_t *start, const yaml_mark_t *end)
{
	size_t a = byteat(c, start), b = byteat(c, end);

	if (b > a) {
		n->src = astrndup(c->doc, c->text + a, b - a);
		n->srclen = (uint32_t)(b - a);
	}
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

static int
scalar(struct ctx *c, const yaml_event_t *ev)
{
	struct fr_node *n;
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *name;

	n = newnode(c, FR_NODE_SCALAR, &ev->start_mark);
	if (ev->data.scalar.length > FR_LOAD_MAX_SCALAR)
		return fr_error_set(c->err, FR_EPIPELINE, &n->mark, "scalar longer than %u MiB",
		    FR_LOAD_MAX_SCALAR >> 20);
	n->len = (uint32_t)ev->data.scalar.length;
	n->bytes = n->len;
	n->str = astrndup(c->doc, (const char *)ev->data.scalar.value, n->len);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	n->style = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ? FR_STYLE_SINGLE :
	    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? FR_STYLE_DOUBLE :
	    ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ? FR_STYLE_LITERAL :
	    ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE ? FR_STYLE_FOLDED : FR_STYLE_PLAIN;
	if (strstr(n->str, "${{"))
		keepsource(c, n, &ev->start_mark, &ev->end_mark);
	if (tag && (strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, "!") == 0))
		n->type = FR_SCALAR_STR;
	else
		n->type = n->plain ? fr_scalar_resolve(n->str, n->len) : FR_SCALAR_STR;
	if ((name = anchor(c, ev->data.scalar.anchor)))
		fr_htab_put(c->anchors, name, n);
	return add(c, n, &n->mark);
}

static int
alias(struct ctx *c, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct fr_mark m = mark(c, &ev->start_mark);
	struct fr_node *n = fr_htab_get(c->anchors, name);

	if (!n)
		return fr_error_set(c->err, FR_EPIPELINE, &m, "unknown anchor '%s'", name);
	c->doc->aliases = 1;
	return add(c, n, &m);
}

static int
begin(struct ctx *c, enum fr_node_kind kind, const yaml_event_t *ev, const yaml_char_t *name)
{
	struct fr_mark m = mark(c, &ev->start_mark);
	struct frame *f, *top = c->depth ? &c->stack[c->depth - 1] : NULL;

	if (top && top->node->kind == FR_NODE_MAP && (c->nkid - top->base) % 2 == 0)
		return fr_error_set(c->err, FR_EPIPELINE, &m, "mapping keys must be plain strings");
	if (c->depth >= FR_LOAD_MAX_DEPTH)
		return fr_error_set(c->err, FR_EPIPELINE, &m, "nesting deeper than %d levels",
		    FR_LOAD_MAX_DEPTH);
	f = &c->stack[c->depth++];
	f->node = newnode(c, kind, &ev->start_mark);
	f->base = c->nkid;
	f->keys = NULL;
	f->anchor = anchor(c, name);
	return 0;
}

static int
end(struct ctx *c)
{
	struct frame *f = &c->stack[--c->depth];
	struct fr_node *n = f->node;

	n->nitem = (uint32_t)(c->nkid - f->base);
	if (n->nitem) {
		n->item = aalloc(c->doc, n->nitem * sizeof(*n->item), _Alignof(struct fr_node *));
		memcpy(n->item, c->kid + f->base, n->nitem * sizeof(*n->item));
	}
	c->nkid = f->base;
	fr_htab_free(f->keys);
	f->keys = NULL;
	if (f->anchor)
		fr_htab_put(c->anchors, f->anchor, n);
	return add(c, n, &n->mark);
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
		return end(c);
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

struct fr_doc *
fr_load_string(const char *file, const char *text, size_t len, struct fr_error *err)
{
	struct ctx *c = fr_xcalloc(1, sizeof(*c));
	struct fr_doc *doc = fr_xcalloc(1, sizeof(*doc));
	yaml_parser_t parser;
	yaml_event_t ev;
	yaml_event_type_t type;
	int rc;

	c->doc = doc;
	c->err = err;
	c->anchors = fr_htab_new(16);
	c->text = text;
	c->textlen = len;
	doc->file = fr_xstrdup(file);
	if (!yaml_parser_initialize(&parser)) {
		fr_error_set(err, FR_EPIPELINE, NULL, "out of memory parsing %s", file);
		goto fail_parser;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	do {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax(c, &parser, text, len);
			goto fail;
		}
		rc = event(c, &ev);
		type = ev.type;
		yaml_event_delete(&ev);
		if (rc < 0)
			goto fail;
	} while (type != YAML_STREAM_END_EVENT);
	/* a document with no content ("---" alone) is empty, like an empty file */
	if (doc->root && doc->root->kind == FR_NODE_SCALAR && doc->root->plain &&
	    doc->root->len == 0 && doc->root->type == FR_SCALAR_NULL)
		doc->root = NULL;
	yaml_parser_delete(&parser);
	fr_htab_free(c->anchors);
	free(c->kid);
	free(c->linestart);
	free(c);
	return doc;
fail:
	yaml_parser_delete(&parser);
fail_parser:
	while (c->depth > 0)
		fr_htab_free(c->stack[--c->depth].keys);
	fr_htab_free(c->anchors);
	free(c->kid);
	free(c->linestart);
	free(c);
	fr_doc_free(doc);
	return NULL;
}

struct fr_doc *
fr_load_file(const char *path, struct fr_error *err)
{
	struct fr_mark m = { path, 0, 0 };
	struct fr_doc *doc = NULL;
	struct stat sb;
	char *text;
	long n;
	int fd;

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
		doc = fr_load_string(path, text, (size_t)n, err);
	close(fd);
	free(text);
	return doc;
}
