/* SPDX-License-Identifier: MIT */
/* t-load: YAML loading, scalar resolution, marks, and every rejection load.h
 * promises, including the limits against hostile input. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "load.h"
#include "tap.h"
#include "util.h"

static struct fr_error err;

static struct fr_doc *
loadn(const char *text, size_t len)
{
	fr_error_clear(&err);
	return fr_load_string("t.yaml", text, len, &err);
}

static struct fr_doc *
load(const char *text)
{
	return loadn(text, strlen(text));
}

/* Loading text must fail at line:col with exactly msg. */
static void
fails(const char *what, const char *text, size_t len, unsigned line, unsigned col,
    const char *msg)
{
	struct fr_doc *doc = loadn(text, len);

	ok(!doc, "%s: rejected", what);
	is_int(err.code, FR_EPIPELINE, "%s: code", what);
	is_str(err.text, msg, "%s: message", what);
	is_str(err.file, "t.yaml", "%s: file", what);
	ok(err.line == line && err.col == col, "%s: at %u:%u (got %u:%u)", what, line, col,
	    err.line, err.col);
	fr_doc_free(doc);
}

#define FAILS(what, text, line, col, msg) fails(what, text, strlen(text), line, col, msg)

static const char *
str(const struct fr_node *n)
{
	return n && n->kind == FR_NODE_SCALAR ? n->str : NULL;
}

static int
at(const struct fr_node *n, unsigned line, unsigned col)
{
	return n && n->mark.line == line && n->mark.col == col;
}

static void
test_resolve(void)
{
	static const struct { const char *s; enum fr_scalar_type t; } cases[] = {
		{ "", FR_SCALAR_NULL }, { "~", FR_SCALAR_NULL }, { "null", FR_SCALAR_NULL },
		{ "Null", FR_SCALAR_NULL }, { "NULL", FR_SCALAR_NULL }, { "nULL", FR_SCALAR_STR },
		{ "true", FR_SCALAR_BOOL }, { "True", FR_SCALAR_BOOL }, { "TRUE", FR_SCALAR_BOOL },
		{ "false", FR_SCALAR_BOOL }, { "False", FR_SCALAR_BOOL }, { "FALSE", FR_SCALAR_BOOL },
		{ "yes", FR_SCALAR_STR }, { "on", FR_SCALAR_STR }, { "tRUE", FR_SCALAR_STR },
		{ "0", FR_SCALAR_INT }, { "123", FR_SCALAR_INT }, { "-7", FR_SCALAR_INT },
		{ "+7", FR_SCALAR_INT }, { "007", FR_SCALAR_INT }, { "0o17", FR_SCALAR_INT },
		{ "0x1F", FR_SCALAR_INT }, { "0xff", FR_SCALAR_INT }, { "0o8", FR_SCALAR_STR },
		{ "0x", FR_SCALAR_STR }, { "0xg", FR_SCALAR_STR }, { "-0x1", FR_SCALAR_STR },
		{ "+-1", FR_SCALAR_STR }, { "-", FR_SCALAR_STR }, { "1_000", FR_SCALAR_STR },
		{ "1.5", FR_SCALAR_FLOAT }, { "1.", FR_SCALAR_FLOAT }, { ".5", FR_SCALAR_FLOAT },
		{ "-.5e-3", FR_SCALAR_FLOAT }, { "1e5", FR_SCALAR_FLOAT }, { "+2E+10", FR_SCALAR_FLOAT },
		{ ".", FR_SCALAR_STR }, { "1e", FR_SCALAR_STR }, { "e5", FR_SCALAR_STR },
		{ ".e5", FR_SCALAR_STR }, { "1.2.3", FR_SCALAR_STR }, { "1.5s", FR_SCALAR_STR },
		{ ".inf", FR_SCALAR_FLOAT }, { "-.Inf", FR_SCALAR_FLOAT }, { "+.INF", FR_SCALAR_FLOAT },
		{ ".nan", FR_SCALAR_FLOAT }, { ".NaN", FR_SCALAR_FLOAT }, { ".NAN", FR_SCALAR_FLOAT },
		{ "-.nan", FR_SCALAR_STR }, { ".iNf", FR_SCALAR_STR }, { "inf", FR_SCALAR_STR },
		{ "hello", FR_SCALAR_STR }, { "12 34", FR_SCALAR_STR },
	};
	size_t i;

	for (i = 0; i < FR_NELEM(cases); i++)
		is_int(fr_scalar_resolve(cases[i].s, strlen(cases[i].s)), cases[i].t,
		    "resolve '%s'", cases[i].s);
	is_int(fr_scalar_resolve("12\0" "3", 4), FR_SCALAR_STR, "resolve: an embedded NUL is a string");
}

static void
test_scalars(void)
{
	static const char text[] =
	    "s: hello\n"
	    "n: ~\n"
	    "b: true\n"
	    "i: 123\n"
	    "f: 1.5\n"
	    "q: \"123\"\n"
	    "sq: '123'\n"
	    "lit: |\n"
	    "  123\n"
	    "tagged: !!str 123\n"
	    "bang: ! 123\n"
	    "empty:\n"
	    "<<: merge\n"
	    "outer:\n"
	    "  list:\n"
	    "    - x\n"
	    "    - {k: v, k2: [1, 2]}\n";
	struct fr_doc *doc = load(text);
	const struct fr_node *r = doc ? doc->root : NULL, *n, *list, *inner;

	ok(doc && r && r->kind == FR_NODE_MAP, "scalars: loads as a map");
	is_str(doc ? doc->file : NULL, "t.yaml", "doc->file is the name given");
	n = fr_node_get(r, "s");
	ok(n && n->type == FR_SCALAR_STR && n->plain, "plain hello is a plain string");
	is_str(str(n), "hello", "hello's text");
	ok(n && n->len == 5, "hello's length");
	ok(at(n, 1, 4), "hello at 1:4");
	ok(n && doc && n->mark.file == doc->file, "a mark's file is doc->file");
	n = fr_node_get(r, "n");
	ok(n && n->type == FR_SCALAR_NULL, "~ is null");
	is_str(fr_node_describe(n), "null", "describe null");
	n = fr_node_get(r, "b");
	ok(n && n->type == FR_SCALAR_BOOL, "true is a bool");
	is_str(fr_node_describe(n), "a boolean", "describe bool");
	n = fr_node_get(r, "i");
	ok(n && n->type == FR_SCALAR_INT && n->plain, "plain 123 is an int");
	is_str(fr_node_describe(n), "a number", "describe int");
	n = fr_node_get(r, "f");
	ok(n && n->type == FR_SCALAR_FLOAT, "1.5 is a float");
	is_str(fr_node_describe(n), "a number", "describe float");
	n = fr_node_get(r, "q");
	ok(n && n->type == FR_SCALAR_STR && !n->plain, "double-quoted \"123\" is a string");
	is_str(str(n), "123", "quoted text has no quotes");
	ok(at(n, 6, 4), "quoted scalar's mark is at its opening quote");
	is_str(fr_node_describe(n), "a string", "describe string");
	n = fr_node_get(r, "sq");
	ok(n && n->type == FR_SCALAR_STR, "single-quoted '123' is a string");
	n = fr_node_get(r, "lit");
	ok(n && n->type == FR_SCALAR_STR, "literal 123 is a string");
	is_str(str(n), "123\n", "literal block text");
	n = fr_node_get(r, "tagged");
	ok(n && n->type == FR_SCALAR_STR, "!!str 123 is a string");
	n = fr_node_get(r, "bang");
	ok(n && n->type == FR_SCALAR_STR, "! 123 is a string");
	n = fr_node_get(r, "empty");
	ok(n && n->type == FR_SCALAR_NULL && n->len == 0 && n->str && !n->str[0],
	    "a missing value is an empty null scalar");
	is_str(str(fr_node_get(r, "<<")), "merge", "<< is a plain key");

	list = fr_node_get(fr_node_get(r, "outer"), "list");
	ok(list && list->kind == FR_NODE_SEQ && list->nitem == 2, "nested list of 2");
	is_str(fr_node_describe(list), "a list", "describe list");
	ok(at(list, 16, 5), "a block sequence starts at its first '-'");
	is_str(str(list && list->nitem > 0 ? list->item[0] : NULL), "x", "list[0]");
	inner = list && list->nitem > 1 ? list->item[1] : NULL;
	ok(inner && inner->kind == FR_NODE_MAP && inner->nitem == 4, "list[1] is a flow map");
	is_str(fr_node_describe(inner), "a map", "describe map");
	ok(at(inner, 17, 7), "flow map at 17:7");
	n = fr_node_get(inner, "k");
	is_str(str(n), "v", "nested k");
	ok(at(n, 17, 11), "nested value v at 17:11 (got %u:%u)", n ? n->mark.line : 0,
	    n ? n->mark.col : 0);
	n = fr_node_get(inner, "k2");
	ok(n && n->kind == FR_NODE_SEQ && n->nitem == 2 && n->nodes == 3, "k2 is [1, 2], 3 nodes");
	ok(n && n->nitem == 2 && at(n->item[1], 17, 22), "2 at 17:22");
	ok(inner && inner->nodes == 1 + 1 + 1 + 1 + 3, "flow map counts its nodes");
	ok(fr_node_get(inner, "missing") == NULL, "get: missing key");
	ok(fr_node_get(n, "1") == NULL, "get: not a map");
	ok(fr_node_get(NULL, "k") == NULL, "get: NULL map");
	ok(r && r->nitem == 2 * 13, "the root has 13 pairs");
	fr_doc_free(doc);
}

static void
test_aliases(void)
{
	struct fr_doc *doc = load("a: &x [1, {b: 2}]\nc: *x\nd: &s hi\ne: *s\n");
	const struct fr_node *r = doc ? doc->root : NULL;
	const struct fr_node *a = fr_node_get(r, "a"), *c = fr_node_get(r, "c");

	ok(a && a == c, "an alias is the anchored node itself");
	ok(a && a->nodes == 5, "[1, {b: 2}] has 5 nodes");
	ok(r && r->nodes == 1 + 4 + 5 + 5 + 1 + 1, "aliases count again in the root");
	ok(fr_node_get(r, "d") && fr_node_get(r, "d") == fr_node_get(r, "e"), "scalar alias");
	fr_doc_free(doc);

	doc = load("&k a: 1\n*k : 2\n");
	ok(!doc, "an aliased key duplicating its anchor is rejected");
	is_str(err.text, "duplicate key 'a' (first at line 1)", "aliased duplicate key message");
	ok(err.line == 2 && err.col == 1, "aliased duplicate key at the alias");
	fr_doc_free(doc);

	doc = load("a: &x 1\nb: *x\na2: &x 2\nc: *x\n");
	is_str(str(fr_node_get(doc ? doc->root : NULL, "c")), "2", "a redefined anchor wins");
	fr_doc_free(doc);

	FAILS("unknown anchor", "a: 1\nb: *nope\n", 2, 4, "unknown anchor 'nope'");
	FAILS("self-reference", "a: &x [1, *x]\n", 1, 11, "unknown anchor 'x'");
	FAILS("alias as key", "a: &x [1]\n*x : 2\n", 2, 1, "mapping keys must be plain strings");
}

static void
test_errors(void)
{
	static const char bad_utf8[] = "a: b\nc: \xff\n";

	FAILS("duplicate key", "a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n", 5, 3,
	    "duplicate key 'x' (first at line 3)");
	FAILS("duplicate flow key", "{a: 1, b: 2, a: 3}", 1, 14,
	    "duplicate key 'a' (first at line 1)");
	FAILS("syntax error", "a: 1\nb: c: d\n", 2, 5,
	    "mapping values are not allowed in this context");
	FAILS("syntax error with context", "a: [1, 2\nb: 3\n", 2, 2,
	    "did not find expected ',' or ']' (while parsing a flow sequence at line 1)");
	FAILS("two documents", "a: 1\n---\nb: 2\n", 2, 1, "only one YAML document is allowed");
	FAILS("two explicit documents", "--- 1\n--- 2\n", 2, 1, "only one YAML document is allowed");
	FAILS("sequence key", "? [a]\n: 1\n", 1, 3, "mapping keys must be plain strings");
	FAILS("flow map key", "{{a: 1}: 2}", 1, 2, "mapping keys must be plain strings");
	fails("invalid UTF-8", bad_utf8, sizeof(bad_utf8) - 1, 2, 4, "invalid leading UTF-8 octet");
}

static void
test_depth(void)
{
	struct fr_buf b = { 0 };
	struct fr_doc *doc;
	const struct fr_node *n;
	size_t i, depth = 0;

	for (i = 0; i < FR_LOAD_MAX_DEPTH; i++)
		fr_buf_addc(&b, '[');
	for (i = 0; i < FR_LOAD_MAX_DEPTH; i++)
		fr_buf_addc(&b, ']');
	doc = loadn(b.data, b.len);
	for (n = doc ? doc->root : NULL; n && n->kind == FR_NODE_SEQ; n = n->nitem ? n->item[0] : NULL)
		depth++;
	is_int(depth, FR_LOAD_MAX_DEPTH, "256 levels of nesting load");
	fr_doc_free(doc);

	fr_buf_reset(&b);
	for (i = 0; i < 300; i++)
		fr_buf_addc(&b, '[');
	for (i = 0; i < 300; i++)
		fr_buf_addc(&b, ']');
	fails("300 levels", b.data, b.len, 1, 257, "nesting deeper than 256 levels");

	fr_buf_reset(&b);
	for (i = 0; i < 300; i++)
		fr_buf_printf(&b, "%*sk:\n", (int)i, "");
	fails("300 block levels", b.data, b.len, 257, 257, "nesting deeper than 256 levels");
	fr_buf_free(&b);
}

static void
test_bomb(void)
{
	struct fr_buf b = { 0 };
	int64_t t0;
	int lvl, i;

	fr_buf_addstr(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
	for (lvl = 1; lvl < 9; lvl++) {
		fr_buf_printf(&b, "%c: &%c [", 'a' + lvl, 'a' + lvl);
		for (i = 0; i < 10; i++)
			fr_buf_printf(&b, "%s*%c", i ? "," : "", 'a' + lvl - 1);
		fr_buf_addstr(&b, "]\n");
	}
	t0 = fr_now_ns();
	fails("billion laughs", b.data, b.len, 8, 4,
	    "alias expansion too large (more than 20000000 nodes)");
	ok(fr_now_ns() - t0 < 5000000000, "billion laughs fails fast");
	fr_buf_free(&b);
}

static void
test_bigmap(void)
{
	enum { N = 100000 };
	struct fr_buf b = { 0 };
	struct fr_doc *doc;
	const struct fr_node *r;
	char key[32];
	int64_t t0;
	int i;

	for (i = 0; i < N; i++)
		fr_buf_printf(&b, "k%d: %d\n", i, i);
	t0 = fr_now_ns();
	doc = loadn(b.data, b.len);
	r = doc ? doc->root : NULL;
	ok(r && r->kind == FR_NODE_MAP && r->nitem == 2 * N, "a 100,000-key map loads");
	ok(fr_now_ns() - t0 < 10000000000, "and in reasonable time");
	ok(r && r->nodes == 1 + 2 * N, "its node count");
	snprintf(key, sizeof(key), "k%d", N - 1);
	is_str(str(fr_node_get(r, key)), "99999", "the last key's value");
	ok(at(fr_node_get(r, key), N, 9), "the last value's mark");
	fr_doc_free(doc);

	fr_buf_addstr(&b, "k5000: again\n");
	fails("duplicate among many", b.data, b.len, N + 1, 1,
	    "duplicate key 'k5000' (first at line 5001)");
	fr_buf_free(&b);
}

static void
test_nul_keys(void)
{
	/* keys differing only after an embedded NUL, in a small and a large map */
	static const char small[] = "\"a\\0b\": 1\n\"a\\0c\": 2\n\"a\\x01\": 3\n\"a\": 4\n";
	static const char dup[] = "\"a\\0b\": 1\n\"a\\0b\": 2\n";
	struct fr_buf b = { 0 };
	struct fr_doc *doc = load(small);
	int i;

	ok(doc && doc->root && doc->root->nitem == 8, "keys with NULs are distinct (small map)");
	ok(doc && doc->root && doc->root->item[0]->len == 3, "a key with a NUL keeps its length");
	fr_doc_free(doc);
	FAILS("duplicate NUL key (small map)", dup, 2, 1, "duplicate key 'a' (first at line 1)");

	for (i = 0; i < 20; i++)
		fr_buf_printf(&b, "k%d: x\n", i);
	fr_buf_addstr(&b, small);
	doc = loadn(b.data, b.len);
	ok(doc && doc->root && doc->root->nitem == 48, "keys with NULs are distinct (large map)");
	fr_doc_free(doc);
	fr_buf_addstr(&b, "\"a\\x01\": 5\n");
	fails("duplicate NUL key (large map)", b.data, b.len, 25, 1,
	    "duplicate key 'a\x01' (first at line 23)");
	fr_buf_free(&b);
}

static void
test_empty(void)
{
	static const char *const empty[] = { "", "# just a comment\n", "---\n", "--- \n...\n", "\n\n" };
	struct fr_doc *doc;
	size_t i;

	for (i = 0; i < FR_NELEM(empty); i++) {
		doc = load(empty[i]);
		ok(doc && !doc->root && !fr_error_isset(&err), "empty document %zu: root NULL", i);
		fr_doc_free(doc);
	}
	doc = load("~\n");
	ok(doc && doc->root && doc->root->type == FR_SCALAR_NULL, "an explicit ~ is a null root");
	fr_doc_free(doc);
	doc = load("--- hello\n");
	is_str(str(doc ? doc->root : NULL), "hello", "a scalar root");
	fr_doc_free(doc);
	fr_doc_free(NULL);
	ok(1, "fr_doc_free(NULL) is a no-op");
	is_str(fr_node_describe(NULL), "nothing", "describe NULL");
}

static void
test_long_scalar(void)
{
	size_t n = FR_LOAD_MAX_SCALAR + 1;
	char *text = fr_xmalloc(n + 4);

	memcpy(text, "a: ", 3);
	memset(text + 3, 'x', n);
	text[n + 3] = '\n';
	fails("long scalar", text, n + 4, 1, 4, "scalar longer than 16 MiB");
	free(text);
}

static void
test_file(void)
{
	char path[] = "/tmp/t-load-XXXXXX";
	static const char text[] = "x:\n  - 1\n";
	struct fr_doc *doc;
	const struct fr_node *x;
	int fd = mkstemp(path);

	ok(fd >= 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1,
	    "write a temporary file");
	if (fd >= 0)
		close(fd);
	fr_error_clear(&err);
	doc = fr_load_file(path, &err);
	x = fr_node_get(doc ? doc->root : NULL, "x");
	ok(x && x->nitem == 1 && at(x->item[0], 2, 5), "load a file");
	is_str(doc ? doc->file : NULL, path, "the file's doc->file is its path");
	ok(x && doc && x->mark.file == doc->file, "marks point to doc->file");
	fr_doc_free(doc);
	unlink(path);

	fr_error_clear(&err);
	doc = fr_load_file(path, &err);
	ok(!doc, "a missing file fails");
	is_int(err.code, FR_EPIPELINE, "missing file: code");
	is_int(err.errnum, ENOENT, "missing file: errno");
	is_str(err.file, path, "missing file: error names the file");
	is_int(err.line, 0, "missing file: no line");
	is_str(err.text, "cannot read: No such file or directory", "missing file: message");

	fr_error_clear(&err);
	doc = fr_load_file("/", &err);
	ok(!doc && err.errnum == EISDIR, "a directory fails with EISDIR");
}

/* A tree as text: kinds, scalars (with type, style, source), marks. Two
 * trees that print the same are the same tree. */
static void
dump(struct fr_buf *b, const struct fr_node *n)
{
	uint32_t i;

	if (!n) {
		fr_buf_addstr(b, "~");
		return;
	}
	fr_buf_printf(b, "@%u:%u", n->mark.line, n->mark.col);
	switch (n->kind) {
	case FR_NODE_SCALAR:
		fr_buf_printf(b, "s%d%d%d'", n->type, n->plain, n->style);
		fr_buf_add(b, n->str, n->len);
		fr_buf_addc(b, '\'');
		if (n->src) {
			fr_buf_addstr(b, "<");
			fr_buf_add(b, n->src, n->srclen);
			fr_buf_addstr(b, ">");
		}
		break;
	default:
		fr_buf_addstr(b, n->kind == FR_NODE_MAP ? "{" : "[");
		for (i = 0; i < n->nitem; i++) {
			dump(b, n->item[i]);
			fr_buf_addc(b, ',');
		}
		fr_buf_addstr(b, n->kind == FR_NODE_MAP ? "}" : "]");
	}
}

static char *
dumped(const struct fr_node *n)
{
	struct fr_buf b = { 0 };

	dump(&b, n);
	fr_buf_addc(&b, '\0');
	return fr_buf_steal(&b);
}

/* A temporary file holding text; its path in path (a mkstemp template). */
static int
tmpfile_with(char *path, const char *text)
{
	int fd = mkstemp(path);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* What a hook saw: the root so far at 'tasks', each task's key and value. */
struct seen {
	int heads;
	char *head;
	struct fr_buf tasks;		/* "key=value;" per task, values dumped */
	int ntask;
	int failat;			/* fail the hook at this task (1-based); 0: never */
};

static int
seen_head(void *arg, const struct fr_node *root, struct fr_error *e)
{
	struct seen *s = arg;

	(void)e;
	s->heads++;
	free(s->head);
	s->head = dumped(root);
	return 0;
}

static int
seen_task(void *arg, const struct fr_node *key, const struct fr_node *value, struct fr_error *e)
{
	struct seen *s = arg;
	char *v = dumped(value);

	s->ntask++;
	fr_buf_printf(&s->tasks, "%s=%s;", key->str, v);
	free(v);
	if (s->failat == s->ntask)
		return fr_error_set(e, FR_EPIPELINE, &key->mark, "hook says no");
	return 0;
}

static void
seen_free(struct seen *s)
{
	free(s->head);
	fr_buf_free(&s->tasks);
	memset(s, 0, sizeof(*s));
}

/* The tasks of the root map of doc, as a hook would have seen them. */
static char *
tasks_of(const struct fr_doc *doc)
{
	const struct fr_node *t = fr_node_get(doc ? doc->root : NULL, "tasks");
	struct fr_buf b = { 0 };
	uint32_t i;

	for (i = 0; t && t->kind == FR_NODE_MAP && i + 1 < t->nitem; i += 2) {
		char *v = dumped(t->item[i + 1]);
		fr_buf_printf(&b, "%s=%s;", t->item[i]->str, v);
		free(v);
	}
	fr_buf_addc(&b, '\0');
	return fr_buf_steal(&b);
}

static const char streamtext[] =
    "flowrun: 1\n"
    "vars: {a: &va 1, tasks: {not: streamed}}\n"
    "tasks:\n"
    "  one:\n"
    "    run: echo ${{ a }}\n"
    "    inputs: [x, 'y', \"z\"]\n"
    "    tasks: {inner: map}\n"
    "  two:\n"
    "    run: |\n"
    "      literal\n"
    "      text\n"
    "    n: {v: *va}\n"
    "  three: {run: last}\n"
    "other: [1, 2.5, true, ~]\n";

/* The same without aliases, for an image (which holds none). */
static const char imagetext[] =
    "flowrun: 1\n"
    "vars: {a: 1}\n"
    "tasks:\n"
    "  one:\n"
    "    run: echo ${{ a }}\n"
    "    inputs: [x, 'y', \"z\"]\n"
    "  two:\n"
    "    run: >-\n"
    "      folded\n"
    "      text\n"
    "    n: {v: 0x1F, w: -.5e-3}\n"
    "  three:\n"
    "other: [1, 2.5, true, ~]\n";

static void
test_stream(void)
{
	char path[] = "/tmp/t-load-XXXXXX";
	struct seen s = { 0 };
	struct fr_load_hook hook = { seen_head, seen_task, &s, 0 };
	struct fr_doc *whole, *doc;
	const struct fr_node *t;
	char *want, *root;
	ok(tmpfile_with(path, streamtext) == 0, "stream: write a pipeline");
	fr_error_clear(&err);
	whole = fr_load_file(path, &err);
	ok(whole != NULL, "stream: loads whole");
	want = tasks_of(whole);

	fr_error_clear(&err);
	doc = fr_load_file_with(path, &hook, NULL, &err);
	ok(doc != NULL, "stream: loads streamed (%s)", err.text);
	ok(hook.engaged, "stream: the hook was engaged");
	is_int(s.heads, 1, "stream: head called once, for the root's tasks only");
	root = s.head ? strstr(s.head, "'vars'") : NULL;
	ok(root && !strstr(s.head, "'tasks'@3") && !strstr(s.head, "'other'"),
	    "stream: head saw the root so far: %s", s.head ? s.head : "(none)");
	is_int(s.ntask, 3, "stream: every task handed over");
	is_str(fr_buf_str(&s.tasks), want, "stream: each task whole, as a whole load has it");
	ok(doc && doc->streamed && !whole->streamed, "stream: doc->streamed set");
	t = fr_node_get(doc ? doc->root : NULL, "tasks");
	ok(t && t->kind == FR_NODE_MAP && t->nitem == 0,
	    "stream: the tasks map keeps nothing, not even the keys");
	ok(fr_node_get(doc ? doc->root : NULL, "other") != NULL, "stream: keys after tasks kept");
	fr_doc_free(doc);
	seen_free(&s);

	/* The hook can refuse a task: the parse fails with its error. */
	s.failat = 2;
	fr_error_clear(&err);
	hook.engaged = 0;
	doc = fr_load_file_with(path, &hook, NULL, &err);
	ok(!doc && hook.engaged, "stream: a hook's failure fails the parse");
	is_str(err.text, "hook says no", "stream: with the hook's error");
	is_int(err.line, 8, "stream: at the hook's mark");
	seen_free(&s);
	fr_doc_free(whole);
	free(want);
	unlink(path);
}

/* A streamed key is the hook's to check: the parse hands a duplicate on as
 * it is (and frees both), where a whole load refuses it. A key that is not
 * a scalar is still refused. */
static void
test_stream_keys(void)
{
	char path[] = "/tmp/t-load-XXXXXX";
	struct seen s = { 0 };
	struct fr_load_hook hook = { seen_head, seen_task, &s, 0 };
	struct fr_doc *doc;

	ok(tmpfile_with(path, "tasks:\n  a: {run: x}\n  b: {run: y}\n  a: {run: z}\n") == 0,
	    "keys: write a pipeline");
	fr_error_clear(&err);
	doc = fr_load_file_with(path, &hook, NULL, &err);
	ok(doc != NULL && s.ntask == 3, "keys: a duplicate task goes to the hook (%s)", err.text);
	is_str(fr_buf_str(&s.tasks), "a=@2:6{@2:7s010'run',@2:12s010'x',};"
	    "b=@3:6{@3:7s010'run',@3:12s010'y',};a=@4:6{@4:7s010'run',@4:12s010'z',};",
	    "keys: in order, as written");
	fr_doc_free(doc);
	fr_error_clear(&err);
	doc = fr_load_file(path, &err);
	ok(!doc && strstr(err.text, "duplicate key 'a' (first at line 2)"),
	    "keys: a whole load refuses it: %s", err.text);
	seen_free(&s);
	unlink(path);
	strcpy(path, "/tmp/t-load-XXXXXX");
	ok(tmpfile_with(path, "v: &k x\ntasks:\n  a: {run: x}\n  *k : {run: y}\n") == 0,
	    "keys: write another");
	fr_error_clear(&err);
	hook.engaged = 0;
	doc = fr_load_file_with(path, &hook, NULL, &err);
	ok(doc != NULL, "keys: an alias to a scalar is a key (%s)", err.text);
	fr_doc_free(doc);
	seen_free(&s);
	unlink(path);
	strcpy(path, "/tmp/t-load-XXXXXX");
	ok(tmpfile_with(path, "v: &k [x]\ntasks:\n  a: {run: x}\n  *k : {run: y}\n") == 0,
	    "keys: write a third");
	fr_error_clear(&err);
	hook.engaged = 0;
	doc = fr_load_file_with(path, &hook, NULL, &err);
	ok(!doc && strcmp(err.text, "mapping keys must be plain strings") == 0 && err.line == 4,
	    "keys: an alias to a list is no key (%s, line %u)", err.text, err.line);
	seen_free(&s);
	unlink(path);
}

static void
test_stream_anchor(void)
{
	char path[] = "/tmp/t-load-XXXXXX";
	struct seen s = { 0 };
	struct fr_load_hook hook = { seen_head, seen_task, &s, 0 };
	struct fr_doc *doc;

	ok(tmpfile_with(path, "tasks:\n  a: {run: &r hi}\n  b: {run: *r}\n") == 0,
	    "anchor: write a pipeline");
	fr_error_clear(&err);
	doc = fr_load_file_with(path, &hook, NULL, &err);
	ok(!doc && hook.engaged, "anchor: an anchor inside a streamed task fails the parse");
	is_str(err.text, "an anchor in a streamed task", "anchor: message");
	ok(err.line == 2 && err.col == 12, "anchor: at the anchor (%u:%u)", err.line, err.col);
	fr_doc_free(doc);
	fr_error_clear(&err);
	doc = fr_load_file(path, &err);
	ok(doc != NULL, "anchor: the same file loads without a hook");
	fr_doc_free(doc);
	seen_free(&s);
	unlink(path);
}

/* An image written by a parse rebuilds the same tree, and streams the same
 * tasks; a damaged image is refused. */
static void
test_image(void)
{
	char path[] = "/tmp/t-load-XXXXXX", ipath[] = "/tmp/t-load-img-XXXXXX";
	struct fr_load_image img = { -1, 0, 0 };
	struct seen s = { 0 };
	struct fr_load_hook hook = { seen_head, seen_task, &s, 0 };
	struct fr_doc *doc, *back;
	char *want, *got, *wanttasks;
	int fd;

	ok(tmpfile_with(path, imagetext) == 0, "image: write a pipeline");
	img.fd = fd = mkstemp(ipath);
	fr_error_clear(&err);
	doc = fr_load_file_with(path, NULL, &img, &err);
	ok(doc && img.ok && img.len > 0, "image: written by the parse (%llu bytes)",
	    (unsigned long long)img.len);
	is_int(lseek(fd, 0, SEEK_END), (long long)img.len, "image: its length is what the file holds");
	want = dumped(doc ? doc->root : NULL);
	wanttasks = tasks_of(doc);

	lseek(fd, 0, SEEK_SET);
	fr_error_clear(&err);
	back = fr_load_image(path, fd, img.len, NULL, &err);
	got = dumped(back ? back->root : NULL);
	is_str(got, want, "image: rebuilds the same tree");
	is_str(back ? back->file : NULL, path, "image: marks name the file given");
	free(got);
	fr_doc_free(back);

	lseek(fd, 0, SEEK_SET);
	fr_error_clear(&err);
	back = fr_load_image(path, fd, img.len, &hook, &err);
	ok(back && back->streamed && s.ntask == 3, "image: streams tasks to a hook");
	is_str(fr_buf_str(&s.tasks), wanttasks, "image: the same tasks as the parse");
	fr_doc_free(back);
	seen_free(&s);

	lseek(fd, 0, SEEK_SET);
	fr_error_clear(&err);
	back = fr_load_image(path, fd, img.len - 1, NULL, &err);
	ok(!back, "image: a short image is refused");
	ok(strstr(err.text, "damaged image") != NULL, "image: as damaged (%s)", err.text);

	/* An op no writer writes, over the first record. */
	lseek(fd, 0, SEEK_SET);
	ok(write(fd, "\x7f\x7f\x7f\x7f", 4) == 4, "image: damage the first record");
	lseek(fd, 0, SEEK_SET);
	fr_error_clear(&err);
	back = fr_load_image(path, fd, img.len, NULL, &err);
	ok(!back && strstr(err.text, "damaged image"), "image: a damaged record is refused");
	fr_doc_free(back);
	fr_doc_free(doc);
	free(want);
	free(wanttasks);
	close(fd);
	unlink(ipath);

	/* An empty document makes no image (an image holds one root). */
	img.fd = fd = open("/dev/null", O_WRONLY);
	ok(tmpfile_with(strcpy(ipath, "/tmp/t-load-img-XXXXXX"), "# nothing\n") == 0,
	    "image: write an empty file");
	fr_error_clear(&err);
	doc = fr_load_file_with(ipath, NULL, &img, &err);
	ok(doc && !doc->root && !img.ok, "image: an empty document is no whole image");
	fr_doc_free(doc);
	close(fd);
	unlink(ipath);

	/* A tree with aliases makes no image. */
	img.fd = fd = open("/dev/null", O_WRONLY);
	fr_error_clear(&err);
	ok(tmpfile_with(strcpy(ipath, "/tmp/t-load-img-XXXXXX"), "a: &x 1\nb: *x\n") == 0,
	    "image: write an aliased file");
	doc = fr_load_file_with(ipath, NULL, &img, &err);
	ok(doc && !img.ok, "image: a tree with aliases is no whole image");
	fr_doc_free(doc);
	close(fd);
	unlink(ipath);
	unlink(path);
}

int
main(void)
{
	test_resolve();
	test_scalars();
	test_aliases();
	test_errors();
	test_depth();
	test_bomb();
	test_bigmap();
	test_nul_keys();
	test_empty();
	test_long_scalar();
	test_file();
	test_stream();
	test_stream_keys();
	test_stream_anchor();
	test_image();
	return done_testing();
}
