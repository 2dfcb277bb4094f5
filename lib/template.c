/* SPDX-License-Identifier: MIT */
/* template: parse ${{ expr }} strings at load time and evaluate them later
 * through a lookup callback; also the YAML-to-JSON value conversion. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "template.h"
#include "util.h"

/* A YAML value bigger than this is refused where it becomes JSON. */
#define MAX_JSON_NODES 1000000u

static int
isname(int c, int first)
{
	return c == '_' || isalpha(c) || (!first && (isdigit(c) || c == '-'));
}

/* What the first pass of parse finds: a run of literal text (source bytes
 * [a, b), len bytes once each $${{ is unescaped) or a reference. */
struct pseg {
	size_t a, b, len;
	const char *name;	/* a reference's name in the source, or NULL */
	size_t namelen;
	enum fr_ref_kind kind;
	struct fr_mark mark;
};

/* Parse the expression between ${{ and }}: NAME, env.NAME, tasks.NAME.result|outputs.
 * Fills ps's reference (its name pointing into e); 0, or -1 with err set. */
static int
parseexpr(const char *e, size_t n, const struct fr_mark *m, struct pseg *ps,
    struct fr_error *err)
{
	const char *parts[4];
	size_t plen[4], np = 0, i = 0;

	while (n > 0 && isspace((unsigned char)*e)) {
		e++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)e[n - 1]))
		n--;
	if (n == 0)
		return fr_error_set(err, FR_EPIPELINE, m, "empty template expression");
	while (i < n) {
		size_t start = i;
		if (np == FR_NELEM(parts))
			goto bad;
		if (!isname((unsigned char)e[i], 1))
			goto bad;
		while (i < n && isname((unsigned char)e[i], 0))
			i++;
		parts[np] = e + start;
		plen[np++] = i - start;
		if (i < n) {
			if (e[i] != '.' || i + 1 == n)
				goto bad;
			i++;
		}
	}
	ps->mark = *m;
	if (np == 1) {
		if ((plen[0] == 3 && memcmp(parts[0], "env", 3) == 0) ||
		    (plen[0] == 5 && memcmp(parts[0], "tasks", 5) == 0))
			return fr_error_set(err, FR_EPIPELINE, m,
			    "'%.*s' needs a name after it, as in %s", (int)plen[0], parts[0],
			    parts[0][0] == 'e' ? "env.HOME" : "tasks.NAME.result");
		ps->kind = FR_REF_NAME;
		ps->name = parts[0];
		ps->namelen = plen[0];
	} else if (np == 2 && plen[0] == 3 && memcmp(parts[0], "env", 3) == 0) {
		ps->kind = FR_REF_ENV;
		ps->name = parts[1];
		ps->namelen = plen[1];
	} else if (np == 3 && plen[0] == 5 && memcmp(parts[0], "tasks", 5) == 0 &&
	    ((plen[2] == 6 && memcmp(parts[2], "result", 6) == 0) ||
	    (plen[2] == 7 && memcmp(parts[2], "outputs", 7) == 0))) {
		ps->kind = parts[2][0] == 'r' ? FR_REF_RESULT : FR_REF_OUTPUTS;
		ps->name = parts[1];
		ps->namelen = plen[1];
	} else {
		return fr_error_set(err, FR_EPIPELINE, m,
		    "unknown template expression '%.*s' (expected NAME, env.NAME, "
		    "tasks.NAME.result or tasks.NAME.outputs)", (int)n, e);
	}
	return 0;
bad:
	return fr_error_set(err, FR_EPIPELINE, m, "malformed template expression '%.*s'", (int)n, e);
}

/* Append a pseg to *ps (count *n, capacity *cap; *ps starts as the caller's
 * stack array local, moved to the heap when it fills). */
static struct pseg *
newpseg(struct pseg **ps, size_t *n, size_t *cap, struct pseg *local)
{
	if (*n == *cap) {
		size_t c = *cap * 2;
		if (*ps == local) {
			*ps = fr_xcalloc(c, sizeof(**ps));
			memcpy(*ps, local, *n * sizeof(**ps));
		} else {
			*ps = fr_xrealloc(*ps, c * sizeof(**ps));
		}
		*cap = c;
	}
	memset(&(*ps)[*n], 0, sizeof(**ps));
	return &(*ps)[(*n)++];
}

/* Copy the literal source bytes [a, b) of s to out, each $${{ as ${{. */
static void
unescape(char *out, const char *s, size_t a, size_t b)
{
	while (a < b) {
		if (s[a] == '$' && a + 3 < b && s[a + 1] == '$' && s[a + 2] == '{' &&
		    s[a + 3] == '{') {
			memcpy(out, "${{", 3);
			out += 3;
			a += 4;
		} else {
			*out++ = s[a++];
		}
	}
}

/* Templates live as long as the pipeline and there are a few per task, so
 * each is one block: its segments, the header, the source, its references
 * (aligned), then the literal texts that differ from the source (those with a
 * $${{) and the reference names; plain text has no segment at all. A first
 * pass finds the segments, a second fills the block. */
static struct fr_tmpl *
parse(struct fr_arena *a, const char *s, size_t len, const struct fr_mark *base,
    const struct fr_node *node, struct fr_error *err)
{
	struct pseg local[8], *ps = local, *cur = NULL;
	size_t n = 0, cap = FR_NELEM(local), i = 0, nref = 0, chars, k, head, refoff;
	struct fr_tmpl *t = NULL;
	struct fr_tmpl_seg *seg;
	struct fr_ref *ref;
	unsigned char *block;
	char *text;

	while (i < len) {
		if (s[i] == '$' && i + 3 < len && s[i + 1] == '$' && s[i + 2] == '{' &&
		    s[i + 3] == '{') {
			if (!cur)	/* $${{ is a literal ${{ */
				(cur = newpseg(&ps, &n, &cap, local))->a = i;
			cur->len += 3;
			i += 4;
			cur->b = i;
			continue;
		}
		if (s[i] == '$' && i + 2 < len && s[i + 1] == '{' && s[i + 2] == '{') {
			struct fr_mark m = *base;
			if (node)
				m = fr_node_mark_at(node, i);
			else
				m.col += (unsigned)i;
			const char *end = NULL;
			size_t j;

			for (j = i + 3; j + 1 < len; j++) {
				if (s[j] == '}' && s[j + 1] == '}') {
					end = s + j;
					break;
				}
			}
			if (!end) {
				fr_error_set(err, FR_EPIPELINE, &m, "unterminated '${{' (no closing '}}')");
				goto out;
			}
			cur = newpseg(&ps, &n, &cap, local);
			if (parseexpr(s + i + 3, (size_t)(end - (s + i + 3)), &m, cur, err) < 0)
				goto out;
			nref++;
			cur = NULL;
			i = (size_t)(end - s) + 2;
			continue;
		}
		{
			/* take the run of text up to the next '$' at once */
			const char *dollar = memchr(s + i + 1, '$', len - i - 1);
			size_t r = dollar ? (size_t)(dollar - (s + i)) : len - i;
			if (!cur)
				(cur = newpseg(&ps, &n, &cap, local))->a = i;
			cur->len += r;
			i += r;
			cur->b = i;
		}
	}
	/* plain text (the most common template: a path) needs no segment */
	if (nref == 0 && n == 1 && ps[0].len == len && !memchr(s, '\0', len))
		n = 0;
	if (n > FR_TMPL_MAXSEG) {
		fr_error_set(err, FR_EPIPELINE, base, "a template of more than %u parts",
		    FR_TMPL_MAXSEG);
		goto out;
	}
	chars = 0;
	for (k = 0; k < n; k++) {
		if (ps[k].name)
			chars += ps[k].namelen + 1;
		else if (ps[k].len != ps[k].b - ps[k].a)
			chars += ps[k].len;
	}
	head = n * sizeof(*seg);
	refoff = head + offsetof(struct fr_tmpl, src) + len + 1;
	if (nref)
		refoff = (refoff + _Alignof(struct fr_ref) - 1) & ~(_Alignof(struct fr_ref) - 1);
	k = refoff + nref * sizeof(*ref) + chars;
	/* a plain path is 4-aligned; segments and references hold pointers */
	block = a ? fr_arena_alloc(a, k, n ? _Alignof(struct fr_tmpl_seg) :
	    _Alignof(struct fr_tmpl)) : fr_xmalloc(k);
	seg = (struct fr_tmpl_seg *)(void *)block;
	t = (struct fr_tmpl *)(void *)(block + head);
	ref = (struct fr_ref *)(void *)(block + refoff);
	text = (char *)(ref + nref);
	memcpy(t->src, s, len);
	t->src[len] = '\0';
	t->line = base->line;
	t->col = base->col;
	t->nseg = (unsigned short)n;
	t->whole = n == 1 && ps[0].name != NULL;
	t->bare = 0;
	for (k = 0; k < n; k++) {
		struct fr_tmpl_seg *sg = &seg[k];
		if (ps[k].name) {
			ref->kind = ps[k].kind;
			ref->name = memcpy(text, ps[k].name, ps[k].namelen);
			text[ps[k].namelen] = '\0';
			text += ps[k].namelen + 1;
			ref->mark = ps[k].mark;
			ref->slot = -1;
			ref->target = NULL;
			sg->text = NULL;
			sg->len = 0;
			sg->ref = ref++;
			continue;
		}
		sg->ref = NULL;
		sg->len = ps[k].len;
		if (ps[k].len == ps[k].b - ps[k].a) {
			sg->text = t->src + ps[k].a;	/* as in the source: share it */
		} else {
			unescape(text, s, ps[k].a, ps[k].b);
			sg->text = text;
			text += ps[k].len;
		}
	}
out:
	if (ps != local)
		free(ps);
	return t;
}

struct fr_tmpl *
fr_tmpl_parse(const struct fr_node *node, struct fr_error *err)
{
	return parse(NULL, node->str, node->len, &node->mark, node, err);
}

struct fr_tmpl *
fr_tmpl_parse_in(struct fr_arena *a, const struct fr_node *node, struct fr_error *err)
{
	return parse(a, node->str, node->len, &node->mark, node, err);
}

char *
fr_tmpl_text_in(struct fr_arena *a, const struct fr_node *node, struct fr_error *err)
{
	struct fr_tmpl *t;
	char *s;

	if (!memchr(node->str, '$', node->len) && !memchr(node->str, '\0', node->len)) {
		s = fr_arena_alloc(a, node->len + 2, 1);
		*s++ = FR_TMPL_BARE;
		memcpy(s, node->str, node->len);
		s[node->len] = '\0';
		return s;
	}
	return (t = parse(a, node->str, node->len, &node->mark, node, err)) ? t->src : NULL;
}

char *
fr_tmpl_textof(const char *s, fr_ref_lookup *lookup, void *arg, struct fr_error *err)
{
	return fr_tmpl_isbare(s) ? fr_xstrdup(s) : fr_tmpl_text(fr_tmpl_of(s), lookup, arg, err);
}

struct fr_tmpl *
fr_tmpl_parse_str(const char *s, const struct fr_mark *m, struct fr_error *err)
{
	static const struct fr_mark none;
	return parse(NULL, s, strlen(s), m ? m : &none, NULL, err);
}

/* The mark of t for an error in its value, which only a template with a
 * reference can have: the file is its references'. Fills *m, returns it. */
static const struct fr_mark *
evalmark(const struct fr_tmpl *t, struct fr_mark *m)
{
	const struct fr_tmpl_seg *seg = fr_tmpl_segs(t);
	const char *file = NULL;
	unsigned i;

	for (i = 0; i < t->nseg && !file; i++)
		if (seg[i].ref)
			file = seg[i].ref->mark.file;
	*m = fr_tmpl_mark(t, file);
	return m;
}

void
fr_tmpl_free(struct fr_tmpl *t)
{
	if (t)
		free((void *)fr_tmpl_segs(t));	/* the block starts with them */
}

int
fr_tmpl_has_refs(const struct fr_tmpl *t)
{
	size_t i;

	for (i = 0; i < t->nseg; i++)
		if (fr_tmpl_segs(t)[i].ref)
			return 1;
	return 0;
}

/* Append v as text (a string as it is, else canonical JSON) to b: -1 once b
 * holds more than FR_TMPL_MAX_TEXT bytes. */
static int
addtext(struct fr_buf *b, const json_t *v)
{
	if (json_is_string(v))
		fr_buf_add(b, json_string_value(v), json_string_length(v));
	else
		fr_json_canon_max(b, v, FR_TMPL_MAX_TEXT);
	return b->len > FR_TMPL_MAX_TEXT ? -1 : 0;
}

char *
fr_json_text(const json_t *v)
{
	struct fr_buf b = {0};

	if (addtext(&b, v) < 0) {
		fr_buf_free(&b);
		return NULL;
	}
	return fr_buf_steal(&b);
}

json_t *
fr_tmpl_eval(const struct fr_tmpl *t, fr_ref_lookup *lookup, void *arg, struct fr_error *err)
{
	const struct fr_tmpl_seg *seg = fr_tmpl_segs(t);
	struct fr_buf b = {0};
	json_t *v, *r;
	struct fr_mark m;
	size_t i;

	if (t->whole) {
		v = lookup(arg, seg[0].ref, err);
		return v ? json_incref(v) : NULL;
	}
	if (t->nseg == 0)
		fr_buf_add(&b, t->src, strlen(t->src));
	for (i = 0; i < t->nseg; i++) {
		if (!seg[i].ref) {
			fr_buf_add(&b, seg[i].text, seg[i].len);
			continue;
		}
		v = lookup(arg, seg[i].ref, err);
		if (!v) {
			fr_buf_free(&b);
			return NULL;
		}
		if (addtext(&b, v) < 0) {
			fr_buf_free(&b);
			fr_error_set(err, FR_EPIPELINE, evalmark(t, &m),
			    "template value longer than %u MiB", FR_TMPL_MAX_TEXT >> 20);
			return NULL;
		}
	}
	r = json_stringn(b.data ? b.data : "", b.len);
	fr_buf_free(&b);
	if (!r)
		fr_error_set(err, FR_EPIPELINE, evalmark(t, &m), "template value is not valid UTF-8");
	return r;
}

char *
fr_tmpl_text(const struct fr_tmpl *t, fr_ref_lookup *lookup, void *arg, struct fr_error *err)
{
	json_t *v;
	char *s;
	struct fr_mark m;

	if (!fr_tmpl_has_refs(t)) {
		const struct fr_tmpl_seg *seg = fr_tmpl_segs(t);
		struct fr_buf b = {0};
		size_t i;
		if (t->nseg == 0)
			return fr_xstrdup(t->src);
		for (i = 0; i < t->nseg; i++)
			fr_buf_add(&b, seg[i].text, seg[i].len);
		return fr_buf_steal(&b);
	}
	v = fr_tmpl_eval(t, lookup, arg, err);
	if (!v)
		return NULL;
	if (!(s = fr_json_text(v)))
		fr_error_set(err, FR_EPIPELINE, evalmark(t, &m), "template value longer than %u MiB",
		    FR_TMPL_MAX_TEXT >> 20);
	json_decref(v);
	return s;
}

static json_t *
scalarjson(const struct fr_node *n, struct fr_error *err)
{
	char *end;

	switch (n->type) {
	case FR_SCALAR_NULL:
		return json_null();
	case FR_SCALAR_BOOL:
		return json_boolean(n->str[0] == 't' || n->str[0] == 'T');
	case FR_SCALAR_INT: {
		long long v;
		errno = 0;
		if (n->len > 2 && n->str[0] == '0' && (n->str[1] == 'x' || n->str[1] == 'o'))
			v = strtoll(n->str + 2, &end, n->str[1] == 'x' ? 16 : 8);
		else
			v = strtoll(n->str, &end, 10);
		if (errno == 0)
			return json_integer(v);
		{
			double d = strtod(n->str, NULL);	/* too big for an integer */
			if (isfinite(d))
				return json_real(d);
			fr_error_set(err, FR_EPIPELINE, &n->mark,
			    "%s has no JSON value (out of range)", n->str);
			return NULL;
		}
	}
	case FR_SCALAR_FLOAT: {
		double d = strtod(n->str, &end);
		const char *p = n->str + (n->str[0] == '-' || n->str[0] == '+');
		if (*p == '.' && (p[1] == 'i' || p[1] == 'I' || p[1] == 'n' || p[1] == 'N')) {
			fr_error_set(err, FR_EPIPELINE, &n->mark, "infinity and NaN have no JSON value");
			return NULL;
		}
		if (!isfinite(d)) {	/* 1e999 overflows to infinity */
			fr_error_set(err, FR_EPIPELINE, &n->mark, "%s has no JSON value (out of range)",
			    n->str);
			return NULL;
		}
		return json_real(d);
	}
	case FR_SCALAR_STR:
		break;
	}
	{
		json_t *s = json_stringn(n->str, n->len);
		if (!s)
			fr_error_set(err, FR_EPIPELINE, &n->mark, "string is not valid UTF-8");
		return s;
	}
}

/* Recursion is bounded by the loader's depth limit (FR_LOAD_MAX_DEPTH). */
json_t *
fr_node_json(const struct fr_node *n, struct fr_error *err)
{
	json_t *v, *item;
	size_t i;

	if (n->nodes > MAX_JSON_NODES) {
		fr_error_set(err, FR_EPIPELINE, &n->mark, "value too large (%u nodes)", (unsigned)n->nodes);
		return NULL;
	}
	switch (n->kind) {
	case FR_NODE_SCALAR:
		return scalarjson(n, err);
	case FR_NODE_SEQ:
		v = json_array();
		for (i = 0; i < n->nitem; i++) {
			if (!(item = fr_node_json(n->item[i], err)))
				goto fail;
			json_array_append_new(v, item);
		}
		return v;
	case FR_NODE_MAP:
		v = json_object();
		for (i = 0; i + 1 < n->nitem; i += 2) {
			if (!(item = fr_node_json(n->item[i + 1], err)))
				goto fail;
			json_object_setn_new(v, n->item[i]->str, n->item[i]->len, item);
		}
		return v;
	}
	return NULL;
fail:
	json_decref(v);
	return NULL;
}

json_t *
fr_json_from_output(const char *text, size_t len)
{
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	size_t n = len;

	if (v)
		return v;
	while (n > 0 && text[n - 1] == '\n')	/* like $(...): drop trailing newlines */
		n--;
	v = json_stringn(text, n);
	if (!v) {
		/* not UTF-8: keep the bytes escaped rather than fail the task */
		struct fr_buf b = {0};
		size_t i;
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)text[i];
			if (c < 0x80)
				fr_buf_addc(&b, (char)c);
			else
				fr_buf_printf(&b, "\\x%02x", c);
		}
		v = json_stringn(fr_buf_str(&b), b.len);
		fr_buf_free(&b);
	}
	return v;
}

/* Parse the strings of node that hold templates (or could be taken for a
 * placeholder) into t; the rest becomes JSON. Recursion is bounded by the
 * loader's depth limit. */
static json_t *
treenode(struct fr_tree *t, size_t *cap, const struct fr_node *n, struct fr_error *err)
{
	json_t *v, *item;
	size_t i;

	if (n->kind == FR_NODE_SCALAR && n->type == FR_SCALAR_STR &&
	    (strstr(n->str, "${{") || n->str[0] == '\x01')) {
		struct fr_tmpl *tm = fr_tmpl_parse(n, err);
		char place[32];
		if (!tm)
			return NULL;
		FR_PUSH(t->tmpl, t->ntmpl, *cap, tm);
		snprintf(place, sizeof(place), "\x01%zu", t->ntmpl - 1);
		return json_string(place);
	}
	if (n->kind == FR_NODE_SCALAR)
		return fr_node_json(n, err);
	v = n->kind == FR_NODE_SEQ ? json_array() : json_object();
	for (i = 0; i < n->nitem; i += n->kind == FR_NODE_SEQ ? 1 : 2) {
		const struct fr_node *c = n->kind == FR_NODE_SEQ ? n->item[i] : n->item[i + 1];
		if (!(item = treenode(t, cap, c, err))) {
			json_decref(v);
			return NULL;
		}
		if (n->kind == FR_NODE_SEQ)
			json_array_append_new(v, item);
		else
			json_object_setn_new(v, n->item[i]->str, n->item[i]->len, item);
	}
	return v;
}

struct fr_tree *
fr_tree_parse(const struct fr_node *node, struct fr_error *err)
{
	struct fr_tree *t = fr_xcalloc(1, sizeof(*t));
	size_t cap = 0;

	if (node->nodes > MAX_JSON_NODES) {
		fr_error_set(err, FR_EPIPELINE, &node->mark, "value too large (%u nodes)", (unsigned)node->nodes);
		fr_tree_free(t);
		return NULL;
	}
	if (!(t->skel = treenode(t, &cap, node, err))) {
		fr_tree_free(t);
		return NULL;
	}
	return t;
}

void
fr_tree_free(struct fr_tree *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ntmpl; i++)
		fr_tmpl_free(t->tmpl[i]);
	free(t->tmpl);
	json_decref(t->skel);
	free(t);
}

static json_t *
treeeval(const struct fr_tree *t, json_t *v, fr_ref_lookup *lookup, void *arg,
    struct fr_error *err)
{
	json_t *r, *item;
	const char *key;
	size_t i;

	if (json_is_string(v) && json_string_value(v)[0] == '\x01')
		return fr_tmpl_eval(t->tmpl[strtoul(json_string_value(v) + 1, NULL, 10)], lookup,
		    arg, err);
	if (json_is_array(v)) {
		r = json_array();
		json_array_foreach(v, i, item) {
			json_t *e = treeeval(t, item, lookup, arg, err);
			if (!e) {
				json_decref(r);
				return NULL;
			}
			json_array_append_new(r, e);
		}
		return r;
	}
	if (json_is_object(v)) {
		r = json_object();
		json_object_foreach(v, key, item) {
			json_t *e = treeeval(t, item, lookup, arg, err);
			if (!e) {
				json_decref(r);
				return NULL;
			}
			json_object_set_new(r, key, e);
		}
		return r;
	}
	return json_incref(v);
}

json_t *
fr_tree_eval(const struct fr_tree *t, fr_ref_lookup *lookup, void *arg, struct fr_error *err)
{
	if (t->ntmpl == 0)
		return json_incref(t->skel);	/* nothing to evaluate: share it */
	return treeeval(t, t->skel, lookup, arg, err);
}
