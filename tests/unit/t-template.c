/* SPDX-License-Identifier: MIT */
/* t-template: ${{ }} parsing and evaluation, the marks of template errors, and
 * the YAML/JSON/text conversions of template.h. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "load.h"
#include "tap.h"
#include "template.h"
#include "util.h"

static struct fr_error err;

/* The values the lookup callback knows, by reference name. */
static json_t *vals;
static int lookups;

static json_t *
lookup(void *arg, const struct fr_ref *ref, struct fr_error *e)
{
	json_t *v;

	(void)arg;
	lookups++;
	if ((v = json_object_get(vals, ref->name)))
		return v;
	fr_error_set(e, FR_EPIPELINE, &ref->mark, "no value for '%s'", ref->name);
	return NULL;
}

/* A scalar node as the loader would make it. */
static struct fr_node
scalar(const char *s, enum fr_scalar_type type, int plain, unsigned line, unsigned col)
{
	struct fr_node n;

	memset(&n, 0, sizeof(n));
	n.kind = FR_NODE_SCALAR;
	n.mark.file = "t.yaml";
	n.mark.line = line;
	n.mark.col = col;
	n.str = (char *)s;
	n.len = strlen(s);
	n.type = type;
	n.plain = plain;
	n.nodes = 1;
	return n;
}

static struct fr_tmpl *
parse(const char *s)
{
	static const struct fr_mark m = { "t.yaml", 1, 1 };

	fr_error_clear(&err);
	return fr_tmpl_parse_str(s, &m, &err);
}

/* eval s and return its compact JSON text (sorted keys), or NULL. */
static char *
evaljson(const char *s)
{
	struct fr_tmpl *t = parse(s);
	json_t *v;
	char *r;

	if (!t)
		return NULL;
	v = fr_tmpl_eval(t, lookup, NULL, &err);
	fr_tmpl_free(t);
	if (!v)
		return NULL;
	r = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(v);
	return r;
}

/* fr_tmpl_text of s, or NULL. */
static char *
text(const char *s)
{
	struct fr_tmpl *t = parse(s);
	char *r;

	if (!t)
		return NULL;
	r = fr_tmpl_text(t, lookup, NULL, &err);
	fr_tmpl_free(t);
	return r;
}

static void
is_json(const char *s, const char *want, const char *what)
{
	char *got = evaljson(s);
	is_str(got, want, "eval %s", what);
	free(got);
}

static void
is_text(const char *s, const char *want, const char *what)
{
	char *got = text(s);
	is_str(got, want, "text %s", what);
	free(got);
}

static void
test_literal(void)
{
	struct fr_tmpl *t = parse("echo hello world");
	json_t *v;
	char *s;

	ok(t != NULL, "literal: parses");
	if (!t)
		return;
	is_int(t->nseg, 0, "literal: no segment (the text is src)");
	ok(!t->whole, "literal: not whole");
	ok(!fr_tmpl_has_refs(t), "literal: no references");
	is_str(t->src, "echo hello world", "literal: src kept");
	lookups = 0;
	v = fr_tmpl_eval(t, lookup, NULL, &err);
	ok(json_is_string(v) && strcmp(json_string_value(v), "echo hello world") == 0,
	    "literal: evaluates to the same string");
	json_decref(v);
	s = fr_tmpl_text(t, NULL, NULL, &err);
	is_str(s, "echo hello world", "literal: text without a lookup function");
	free(s);
	is_int(lookups, 0, "literal: no lookups made");
	fr_tmpl_free(t);

	t = parse("");
	ok(t && t->nseg == 0 && !t->whole, "empty string: no segments");
	if (t) {
		v = fr_tmpl_eval(t, lookup, NULL, &err);
		ok(json_is_string(v) && json_string_length(v) == 0, "empty string: evaluates to \"\"");
		json_decref(v);
	}
	fr_tmpl_free(t);

	is_text("$ {{ x }} ${ x } $x {{ x }}", "$ {{ x }} ${ x } $x {{ x }}",
	    "shell syntax and near misses are literal");
	fr_tmpl_free(NULL);
	ok(1, "fr_tmpl_free(NULL) is a no-op");
}

static void
test_whole(void)
{
	struct fr_tmpl *t;
	json_t *v;

	t = parse("${{ n }}");
	ok(t && t->whole && t->nseg == 1 && fr_tmpl_has_refs(t), "whole: one reference");
	if (t) {
		v = fr_tmpl_eval(t, lookup, NULL, &err);
		ok(json_is_integer(v) && json_integer_value(v) == 30, "whole: a number stays a number");
		ok(v == json_object_get(vals, "n"), "whole: the looked-up value itself");
		json_decref(v);
	}
	fr_tmpl_free(t);
	is_json("${{n}}", "30", "whole without blanks");
	is_json("${{ \t n  }}", "30", "whole with tabs and blanks");
	is_json("${{ list }}", "[1,\"a\",2.5]", "whole list stays a list");
	is_json("${{ obj }}", "{\"a\":[1,2],\"b\":\"x\"}", "whole object stays an object");
	is_json("${{ s }}", "\"str\"", "whole string");
	is_json("${{ t }}", "true", "whole bool");
	is_json("${{ nul }}", "null", "whole null");
	is_json("${{ f }}", "1.5", "whole real");
	is_json(" ${{ n }}", "\" 30\"", "a blank before makes it text");
	is_json("${{ n }} ", "\"30 \"", "a blank after makes it text");
	is_json("${{ n }}${{ n }}", "\"3030\"", "two references are text");
	is_text("${{ n }}", "30", "of a whole number");
	is_text("${{ s }}", "str", "of a whole string");
	is_text("${{ list }}", "[1,\"a\",2.5]", "of a whole list");
}

static void
test_interpolation(void)
{
	is_json("a-${{ s }}-b", "\"a-str-b\"", "string as is");
	is_text("a-${{ s }}-b", "a-str-b", "string as is");
	is_text("n=${{ n }}", "n=30", "number as JSON");
	is_text("-${{ neg }}-", "--7-", "negative number");
	is_text("f=${{ f }}", "f=1.5", "real as JSON");
	is_text("x ${{ list }}", "x [1,\"a\",2.5]", "list as compact JSON");
	is_text("x ${{ obj }}", "x {\"a\":[1,2],\"b\":\"x\"}", "object as compact JSON, keys sorted");
	is_text("${{ unsorted }}!", "{\"a\":2,\"m\":3,\"z\":1}!", "object keys sorted");
	is_text("t=${{ t }} nul=${{ nul }}", "t=true nul=null", "true and null");
	is_text("q=${{ quote }}", "q=it's \"so\"", "strings are not quoted or escaped");
	is_text("${{ s }}${{ n }}${{ s }}", "str30str", "adjacent references");
	is_text("${{ empty }}x", "x", "empty string");
	is_text("é ${{ s }} ü", "é str ü", "UTF-8 around references");
}

static void
test_literal_dollars(void)
{
	struct fr_tmpl *t;

	t = parse("$${{ n }}");
	ok(t && !fr_tmpl_has_refs(t) && !t->whole, "$${{: no reference");
	fr_tmpl_free(t);
	is_text("$${{ n }}", "${{ n }}", "$${{ is a literal ${{");
	is_json("$${{ n }}", "\"${{ n }}\"", "$${{ evaluates to a string");
	is_text("echo $${{ n }} ${{ n }}", "echo ${{ n }} 30", "$${{ then a reference");
	is_text("${{ n }}$${{", "30${{", "$${{ at the end");
	is_text("$${{", "${{", "$${{ alone");
	is_text("$$ and $", "$$ and $", "other dollars stay");
	is_text("$${{ unterminated", "${{ unterminated", "$${{ needs no closing }}");
}

/* fr_tmpl_parse on node must fail with msg at line:col. */
static void
parse_fails(const char *what, const struct fr_node *n, unsigned line, unsigned col,
    const char *msg)
{
	struct fr_tmpl *t;

	fr_error_clear(&err);
	t = fr_tmpl_parse(n, &err);
	ok(!t, "%s: rejected", what);
	is_int(err.code, FR_EPIPELINE, "%s: code", what);
	is_str(err.text, msg, "%s: message", what);
	is_str(err.file, "t.yaml", "%s: file", what);
	ok(err.line == line && err.col == col, "%s: at %u:%u (got %u:%u)", what, line, col,
	    err.line, err.col);
	fr_tmpl_free(t);
}

/* The segments of a template written back out: literal text as it is, a
 * reference as <kind:name>; src when there are none. New string. */
static char *
segtext(const struct fr_tmpl *t)
{
	static const char *const kinds[] = { "name", "env", "result", "outputs" };
	char *out = fr_xstrdup(t->nseg ? "" : t->src), *o;
	unsigned i;

	for (i = 0; i < t->nseg; i++) {
		o = out;
		if (fr_tmpl_segs(t)[i].ref)
			out = fr_xasprintf("%s<%s:%s>", o, kinds[fr_tmpl_segs(t)[i].ref->kind],
			    fr_tmpl_segs(t)[i].ref->name);
		else
			out = fr_xasprintf("%s%.*s", o, (int)fr_tmpl_segs(t)[i].len, fr_tmpl_segs(t)[i].text);
		free(o);
	}
	return out;
}

/* Each template is one block: what it holds must come back whole, however
 * its literal text, escapes and references interleave. */
static void
test_roundtrip(void)
{
	static const struct {
		const char *src, *segs;
		unsigned nseg;
	} cases[] = {
		{ "in/L0", "in/L0", 0 },
		{ "", "", 0 },
		{ "$", "$", 0 },
		{ "a$b$", "a$b$", 0 },
		{ "a\x01b", "a\x01b", 0 },
		{ "${{ n }}", "<name:n>", 1 },
		{ "x${{env.HOME}}y", "x<env:HOME>y", 3 },
		{ "${{ tasks.a-b.result }}${{ tasks.c.outputs }}", "<result:a-b><outputs:c>", 2 },
		{ "$${{ n }}", "${{ n }}", 1 },
		{ "$$${{ n }}", "$${{ n }}", 1 },
		{ "p $${{ q }} ${{ s }} $${{r}}$${{", "p ${{ q }} <name:s> ${{r}}${{", 3 },
		{ "${{ s }}$${{ t }}${{ s }}", "<name:s>${{ t }}<name:s>", 3 },
		{ "é${{ s }}ü", "é<name:s>ü", 3 },
		/* more segments than parse keeps on its stack */
		{ "0${{a}}1${{b}}2${{c}}3${{d}}4${{e}}5${{f}}6${{g}}7${{h}}8$${{i}}9${{j}}",
		  "0<name:a>1<name:b>2<name:c>3<name:d>4<name:e>5<name:f>6<name:g>7<name:h>"
		  "8${{i}}9<name:j>", 18 },
	};
	size_t i;

	for (i = 0; i < FR_NELEM(cases); i++) {
		struct fr_tmpl *t = parse(cases[i].src);
		char *got, *txt;
		unsigned j;
		int refsok = 1;

		if (!ok(t != NULL, "round trip '%s': parses", cases[i].src))
			continue;
		is_int(strcmp(t->src, cases[i].src), 0, "round trip '%s': src kept", cases[i].src);
		is_int(t->nseg, cases[i].nseg, "round trip '%s': segments", cases[i].src);
		got = segtext(t);
		is_str(got, cases[i].segs, "round trip '%s': segments hold it", cases[i].src);
		free(got);
		for (j = 0; j < t->nseg; j++) {
			const struct fr_tmpl_seg *sg = &fr_tmpl_segs(t)[j];
			if (sg->ref && (sg->ref->slot != -1 || sg->ref->target || sg->text ||
			    sg->ref->mark.line != 1))
				refsok = 0;
		}
		ok(refsok, "round trip '%s': references unresolved, with marks", cases[i].src);
		if (!fr_tmpl_has_refs(t)) {
			txt = fr_tmpl_text(t, NULL, NULL, &err);
			is_str(txt, cases[i].segs, "round trip '%s': its text", cases[i].src);
			free(txt);
		}
		fr_tmpl_free(t);
	}
	{
		/* a NUL inside: its text is not src as a C string */
		struct fr_node n = scalar("a\0b", FR_SCALAR_STR, 0, 1, 1);
		struct fr_tmpl *t;
		json_t *v;
		n.len = 3;
		t = fr_tmpl_parse(&n, &err);
		v = t ? fr_tmpl_eval(t, lookup, NULL, &err) : NULL;
		ok(v && json_string_length(v) == 3 && !memcmp(json_string_value(v), "a\0b", 3),
		    "round trip: a NUL in plain text is kept");
		json_decref(v);
		fr_tmpl_free(t);
	}
}

static void
test_marks(void)
{
	static const char unterminated[] = "unterminated '${{' (no closing '}}')";
	struct fr_node n;
	struct fr_tmpl *t;

	n = scalar("ab ${{ x", FR_SCALAR_STR, 1, 3, 10);
	parse_fails("unterminated, plain", &n, 3, 13, unterminated);
	n = scalar("ab ${{ x", FR_SCALAR_STR, 0, 3, 10);
	parse_fails("unterminated, quoted", &n, 3, 14, unterminated);
	n = scalar("${{ x }", FR_SCALAR_STR, 1, 3, 10);
	parse_fails("one closing brace", &n, 3, 10, unterminated);
	n = scalar("${{", FR_SCALAR_STR, 0, 3, 10);
	parse_fails("${{ alone", &n, 3, 11, unterminated);
	n = scalar("${{ a }} and ${{ b", FR_SCALAR_STR, 1, 3, 10);
	parse_fails("the second is unterminated", &n, 3, 23, unterminated);
	n = scalar("$${{ a }} ${{ b", FR_SCALAR_STR, 1, 3, 10);
	parse_fails("after a literal $${{", &n, 3, 20, unterminated);
	n = scalar("x ${{ }}", FR_SCALAR_STR, 1, 3, 10);
	parse_fails("empty expression", &n, 3, 12, "empty template expression");

	/* the marks of references: at their ${{ */
	n = scalar("a ${{ x }} b ${{ env.Y }}", FR_SCALAR_STR, 1, 3, 10);
	fr_error_clear(&err);
	t = fr_tmpl_parse(&n, &err);
	ok(t && t->nseg == 4, "two references: four segments");
	if (t && t->nseg == 4) {
		const struct fr_tmpl_seg *sg = fr_tmpl_segs(t);
		ok(t->line == 3 && t->col == 10, "the template keeps the scalar's mark");
		ok(sg[1].ref && sg[1].ref->mark.line == 3 && sg[1].ref->mark.col == 12,
		    "first reference at 3:12 (got %u:%u)", sg[1].ref ? sg[1].ref->mark.line : 0,
		    sg[1].ref ? sg[1].ref->mark.col : 0);
		ok(sg[3].ref && sg[3].ref->mark.col == 23,
		    "second reference at 3:23 (got %u)", sg[3].ref ? sg[3].ref->mark.col : 0);
		ok(sg[1].ref && sg[1].ref->mark.file && !strcmp(sg[1].ref->mark.file, "t.yaml"),
		    "reference marks name the file");
	}
	fr_tmpl_free(t);
	n = scalar("a ${{ x }}", FR_SCALAR_STR, 0, 3, 10);
	fr_error_clear(&err);
	t = fr_tmpl_parse(&n, &err);
	ok(t && t->nseg == 2 && fr_tmpl_segs(t)[1].ref && fr_tmpl_segs(t)[1].ref->mark.col == 13,
	    "quoted: reference at 3:13");
	fr_tmpl_free(t);

	/* without a mark: no position */
	fr_error_clear(&err);
	t = fr_tmpl_parse_str("${{ x", NULL, &err);
	ok(!t && err.code == FR_EPIPELINE && err.file[0] == '\0' && err.line == 0,
	    "parse_str with no mark: an error without a position");
	fr_tmpl_free(t);
}

/* Marks of real nodes from the loader, as a pipeline file would have them. */
static void
test_marks_loaded(void)
{
	static const struct {
		const char *what, *yaml;
		unsigned line, col;
	} cases[] = {
		{ "plain", "run: echo ${{ x\n", 1, 11 },
		{ "double-quoted", "run: \"echo ${{ x\"\n", 1, 12 },
		{ "single-quoted", "run: 'echo ${{ x'\n", 1, 12 },
		{ "indented plain", "a:\n  run: echo ${{ x\n", 2, 13 },
		/* a literal block's text starts on the line after '|', indented */
		{ "literal block", "run: |\n  echo hi\n  echo ${{ x\n", 3, 8 },
		{ "literal block, first line", "a:\n  run: |\n    ${{ x\n", 3, 5 },
		/* a plain scalar continued on the next line */
		{ "multi-line plain", "run: echo a\n  b ${{ x\n", 2, 5 },
		/* a folded block */
		{ "folded block", "run: >\n  echo a\n  b ${{ x\n", 3, 5 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fr_doc *doc;
		const struct fr_node *run;
		struct fr_tmpl *t;

		fr_error_clear(&err);
		doc = fr_load_string("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &err);
		run = doc ? fr_node_get(doc->root, "run") : NULL;
		if (!run && doc)
			run = fr_node_get(fr_node_get(doc->root, "a"), "run");
		if (!ok(run != NULL, "%s: loads", cases[i].what)) {
			fr_doc_free(doc);
			continue;
		}
		t = fr_tmpl_parse(run, &err);
		ok(!t && err.line == cases[i].line && err.col == cases[i].col,
		    "%s: unterminated ${{ reported at %u:%u (got %u:%u)", cases[i].what,
		    cases[i].line, cases[i].col, err.line, err.col);
		fr_tmpl_free(t);
		fr_doc_free(doc);
	}
}

/* The reference s parses to. */
static void
is_ref(const char *s, enum fr_ref_kind kind, const char *name)
{
	struct fr_tmpl *t = parse(s);
	const struct fr_ref *r = t && t->nseg == 1 ? fr_tmpl_segs(t)[0].ref : NULL;

	ok(r && r->kind == kind && r->name && strcmp(r->name, name) == 0 && r->slot == -1 &&
	    r->target == NULL, "%s: kind %d, name '%s' (got %d, '%s')", s, (int)kind, name,
	    r ? (int)r->kind : -1, r && r->name ? r->name : "(none)");
	fr_tmpl_free(t);
}

static void
test_kinds(void)
{
	is_ref("${{ x }}", FR_REF_NAME, "x");
	is_ref("${{ _under-score_9 }}", FR_REF_NAME, "_under-score_9");
	is_ref("${{ environment }}", FR_REF_NAME, "environment");
	is_ref("${{ taskset }}", FR_REF_NAME, "taskset");
	is_ref("${{ env.HOME }}", FR_REF_ENV, "HOME");
	is_ref("${{env.PATH}}", FR_REF_ENV, "PATH");
	is_ref("${{ env.tasks }}", FR_REF_ENV, "tasks");
	is_ref("${{ tasks.build.result }}", FR_REF_RESULT, "build");
	is_ref("${{ tasks.build-2.outputs }}", FR_REF_OUTPUTS, "build-2");
	is_ref("${{ tasks.env.result }}", FR_REF_RESULT, "env");
}

static void
malformed(const char *s, const char *msg)
{
	struct fr_tmpl *t = parse(s);

	ok(!t && err.code == FR_EPIPELINE, "%s: rejected", s);
	is_str(err.text, msg, "%s: message", s);
	fr_tmpl_free(t);
}

static void
test_malformed(void)
{
	const char *bad;

	malformed("${{}}", "empty template expression");
	malformed("${{   }}", "empty template expression");
	bad = "malformed template expression '%s'";
	{
		static const char *const exprs[] = {
			"a b", "1x", "a.", ".a", "a..b", "x-1 + 2", "a[0]", "\"a\"", "-a", "a.1b",
			"a.b.c.d.e", "$x", "a}",
		};
		size_t i;
		for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
			char src[64], msg[128];
			snprintf(src, sizeof(src), "${{ %s }}", exprs[i]);
			snprintf(msg, sizeof(msg), bad, exprs[i]);
			malformed(src, msg);
		}
	}
	malformed("${{ env }}", "'env' needs a name after it, as in env.HOME");
	malformed("${{ tasks }}", "'tasks' needs a name after it, as in tasks.NAME.result");
	malformed("${{ tasks.x }}", "unknown template expression 'tasks.x' (expected NAME, "
	    "env.NAME, tasks.NAME.result or tasks.NAME.outputs)");
	malformed("${{ tasks.x.stdout }}", "unknown template expression 'tasks.x.stdout' "
	    "(expected NAME, env.NAME, tasks.NAME.result or tasks.NAME.outputs)");
	malformed("${{ env.A.B }}", "unknown template expression 'env.A.B' (expected NAME, "
	    "env.NAME, tasks.NAME.result or tasks.NAME.outputs)");
	malformed("${{ a.b }}", "unknown template expression 'a.b' (expected NAME, env.NAME, "
	    "tasks.NAME.result or tasks.NAME.outputs)");
	malformed("${{ vars.a }}", "unknown template expression 'vars.a' (expected NAME, env.NAME, "
	    "tasks.NAME.result or tasks.NAME.outputs)");
	malformed("${{ tasks.x.result.y }}", "unknown template expression 'tasks.x.result.y' "
	    "(expected NAME, env.NAME, tasks.NAME.result or tasks.NAME.outputs)");
}

static void
test_eval_errors(void)
{
	struct fr_tmpl *t;
	json_t *v;
	char *s;

	t = parse("${{ missing }}");
	v = t ? fr_tmpl_eval(t, lookup, NULL, &err) : NULL;
	ok(t && !v, "whole: a failed lookup fails the evaluation");
	is_str(err.text, "no value for 'missing'", "whole: the lookup's error is kept");
	ok(err.line == 1 && err.col == 1, "whole: at the ${{");
	fr_tmpl_free(t);

	t = parse("a ${{ n }} ${{ missing }}");
	v = t ? fr_tmpl_eval(t, lookup, NULL, &err) : NULL;
	ok(t && !v, "text: a failed lookup fails the evaluation");
	ok(err.line == 1 && err.col == 12, "text: at the failing ${{ (got %u:%u)", err.line, err.col);
	s = t ? fr_tmpl_text(t, lookup, NULL, &err) : NULL;
	ok(t && !s, "fr_tmpl_text fails too");
	fr_tmpl_free(t);

	t = parse("\xff ${{ s }}");
	v = t ? fr_tmpl_eval(t, lookup, NULL, &err) : NULL;
	ok(t && !v, "text that is not UTF-8 fails");
	is_str(err.text, "template value is not valid UTF-8", "not UTF-8: message");
	fr_tmpl_free(t);
}

static void
is_jtext(json_t *v, const char *want, const char *what)
{
	char *s = fr_json_text(v);
	is_str(s, want, "fr_json_text: %s", what);
	free(s);
	json_decref(v);
}

static void
test_json_text(void)
{
	is_jtext(json_string("a b\n\"c\""), "a b\n\"c\"", "a string as it is");
	is_jtext(json_string(""), "", "the empty string");
	is_jtext(json_integer(-42), "-42", "an integer");
	is_jtext(json_integer(9007199254740993LL), "9007199254740993", "a big integer");
	is_jtext(json_real(0.25), "0.25", "a real");
	is_jtext(json_real(3.0), "3.0", "a whole real keeps its point");
	is_jtext(json_true(), "true", "true");
	is_jtext(json_false(), "false", "false");
	is_jtext(json_null(), "null", "null");
	is_jtext(json_pack("[i,s,[],{}]", 1, "x"), "[1,\"x\",[],{}]", "a list, compact");
	is_jtext(json_pack("{s:i,s:{s:b,s:n}}", "z", 1, "a", "y", 1, "b"),
	    "{\"a\":{\"b\":null,\"y\":true},\"z\":1}", "an object, keys sorted at every level");
	is_jtext(json_pack("[s]", "é\"\n"), "[\"é\\\"\\n\"]", "strings in a list are JSON-escaped");
}

/* Whether fr_json_canon writes what json_dumps does (the keys of records
 * written by earlier versions depend on it); says what differed if not. */
static int
sameasjansson(json_t *v)
{
	struct fr_buf b = {0};
	char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	int same;

	fr_json_canon(&b, v);
	same = want && strcmp(want, fr_buf_str(&b)) == 0;
	if (!same)
		printf("# want %s\n# got  %s\n", want ? want : "(null)", fr_buf_str(&b));
	free(want);
	fr_buf_free(&b);
	json_decref(v);
	return same;
}

/* A random value for the comparison: nested, with awkward numbers and strings. */
static json_t *
randval(unsigned *seed, int depth)
{
	static const double reals[] = { 0.1, -0.0, 1e300, -1e-300, 5e-324, 1.7976931348623157e308,
	    123456789012345678.0, 1e21, 1e-7, 2.5, 100.0, 3.14159265358979 };
	static const char *const strs[] = { "", "a", "\x01\x1f\x7f", "tab\there", "q\"b\\s/",
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\b\f\n\r", "z", "aa", "a\x01" };
	unsigned r = (*seed = *seed * 1103515245u + 12345u) >> 16;
	json_t *v;
	int i, n;

	switch (depth > 3 ? r % 5 : r % 7) {
	case 0: return json_integer((json_int_t)((r % 2 ? -1 : 1) * (long long)r * 2654435761LL));
	case 1: return json_real(reals[r % FR_NELEM(reals)] * (r % 3 ? 1 : -3));
	case 2: return json_string(strs[r % FR_NELEM(strs)]);
	case 3: return r % 2 ? json_true() : json_false();
	case 4: return json_null();
	case 5:
		v = json_array();
		for (i = 0, n = (int)(r % 5); i < n; i++)
			json_array_append_new(v, randval(seed, depth + 1));
		return v;
	default:
		v = json_object();
		for (i = 0, n = (int)(r % 6); i < n; i++)
			json_object_set_new(v, strs[(r + (unsigned)i * 7) % FR_NELEM(strs)],
			    randval(seed, depth + 1));
		return v;
	}
}

static void
test_json_canon(void)
{
	unsigned seed = 42;
	int i, bad = 0;

	ok(sameasjansson(json_pack("{s:i,s:{s:b,s:n},s:s}", "z", 1, "a", "y", 1, "b", "ab", "c")),
	    "canonical text: keys sorted at every level");
	ok(sameasjansson(json_pack("[f,f,f,f,f,f]", 1e20, 1e-5, -0.0, 3.0, 0.1, 1e300)),
	    "canonical text: reals as Jansson writes them");
	ok(sameasjansson(json_stringn("nul\0inside", 10)), "canonical text: a NUL in a string");
	ok(sameasjansson(json_pack("{s:i,s:i}", "b", 1, "b\x01", 2)),
	    "canonical text: a key that is a prefix of another");
	for (i = 0; i < 2000; i++)
		if (!sameasjansson(randval(&seed, 0)))
			bad++;
	is_int(bad, 0, "canonical text: 2000 random values as json_dumps writes them");
}

/* fr_node_json of one scalar, as compact JSON text, or NULL. */
static char *
nodejson(const char *s, enum fr_scalar_type type, int plain)
{
	struct fr_node n = scalar(s, type, plain, 7, 3);
	json_t *v;
	char *r;

	fr_error_clear(&err);
	if (!(v = fr_node_json(&n, &err)))
		return NULL;
	r = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(v);
	return r;
}

static void
is_node(const char *s, enum fr_scalar_type type, const char *want)
{
	char *got = nodejson(s, type, 1);
	is_str(got, want, "fr_node_json: '%s' (type %d)", s, (int)type);
	free(got);
}

static void
test_node_json(void)
{
	struct fr_doc *doc;
	json_t *v;
	char *s;
	static const char yaml[] =
	    "a: [1, -2, 0x1F, 0o17, 1.5, true, False, ~, null, '', \"7\", x, '1.5', !!str 8]\n"
	    "b: {k: v, n: 3, m: {deep: [yes, on]}}\n";

	is_node("", FR_SCALAR_NULL, "null");
	is_node("~", FR_SCALAR_NULL, "null");
	is_node("null", FR_SCALAR_NULL, "null");
	is_node("true", FR_SCALAR_BOOL, "true");
	is_node("True", FR_SCALAR_BOOL, "true");
	is_node("TRUE", FR_SCALAR_BOOL, "true");
	is_node("false", FR_SCALAR_BOOL, "false");
	is_node("FALSE", FR_SCALAR_BOOL, "false");
	is_node("0", FR_SCALAR_INT, "0");
	is_node("42", FR_SCALAR_INT, "42");
	is_node("-7", FR_SCALAR_INT, "-7");
	is_node("+7", FR_SCALAR_INT, "7");
	is_node("007", FR_SCALAR_INT, "7");
	is_node("0x1F", FR_SCALAR_INT, "31");
	is_node("0xff", FR_SCALAR_INT, "255");
	is_node("0o17", FR_SCALAR_INT, "15");
	is_node("9223372036854775807", FR_SCALAR_INT, "9223372036854775807");
	is_node("99999999999999999999", FR_SCALAR_INT, "1e20");
	is_node("1.5", FR_SCALAR_FLOAT, "1.5");
	is_node(".5", FR_SCALAR_FLOAT, "0.5");
	is_node("-.5e1", FR_SCALAR_FLOAT, "-5.0");
	is_node("6.25e-2", FR_SCALAR_FLOAT, "0.0625");
	is_node("1e5", FR_SCALAR_FLOAT, "100000.0");
	is_node("+2E+1", FR_SCALAR_FLOAT, "20.0");
	is_node("hello", FR_SCALAR_STR, "\"hello\"");
	is_node("42", FR_SCALAR_STR, "\"42\"");
	is_node("true", FR_SCALAR_STR, "\"true\"");
	is_node("", FR_SCALAR_STR, "\"\"");

	s = nodejson(".inf", FR_SCALAR_FLOAT, 1);
	ok(!s, "fr_node_json: .inf is refused");
	is_str(err.text, "infinity and NaN have no JSON value", ".inf: message");
	ok(err.line == 7 && err.col == 3, ".inf: at the node's mark");
	free(s);
	s = nodejson("-.Inf", FR_SCALAR_FLOAT, 1);
	ok(!s && err.code == FR_EPIPELINE, "fr_node_json: -.Inf is refused");
	free(s);
	s = nodejson(".NaN", FR_SCALAR_FLOAT, 1);
	ok(!s && err.code == FR_EPIPELINE, "fr_node_json: .NaN is refused");
	free(s);
	s = nodejson("\xc3\x28", FR_SCALAR_STR, 0);
	ok(!s, "fr_node_json: a string that is not UTF-8 is refused");
	is_str(err.text, "string is not valid UTF-8", "not UTF-8: message");
	free(s);

	/* sequences and maps, from the loader */
	fr_error_clear(&err);
	doc = fr_load_string("t.yaml", yaml, strlen(yaml), &err);
	ok(doc != NULL, "fr_node_json: the document loads");
	v = doc ? fr_node_json(doc->root, &err) : NULL;
	s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	is_str(s, "{\"a\":[1,-2,31,15,1.5,true,false,null,null,\"\",\"7\",\"x\",\"1.5\",\"8\"],"
	    "\"b\":{\"k\":\"v\",\"m\":{\"deep\":[\"yes\",\"on\"]},\"n\":3}}",
	    "fr_node_json: lists and maps of every scalar type");
	free(s);
	json_decref(v);
	fr_doc_free(doc);
}

static void
is_output(const char *text, size_t len, const char *want, const char *what)
{
	json_t *v = fr_json_from_output(text, len);
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

	is_str(s, want, "fr_json_from_output: %s", what);
	free(s);
	json_decref(v);
}

#define OUTPUT(text, want, what) is_output(text, sizeof(text) - 1, want, what)

static void
test_json_from_output(void)
{
	OUTPUT("42\n", "42", "a number with a newline");
	OUTPUT("42", "42", "a number");
	OUTPUT("  -1.5e3  \n", "-1500.0", "a real with blanks around");
	OUTPUT("[1, 2, \"x\"]\n", "[1,2,\"x\"]", "a list");
	OUTPUT("{\"b\": 1, \"a\": [true, null]}\n", "{\"a\":[true,null],\"b\":1}", "an object");
	OUTPUT("\"quoted\"\n", "\"quoted\"", "a JSON string");
	OUTPUT("true\n", "true", "true");
	OUTPUT("null", "null", "null");
	OUTPUT("hello\n", "\"hello\"", "plain text, trailing newline stripped");
	OUTPUT("hello\n\n\n", "\"hello\"", "every trailing newline stripped");
	OUTPUT("two\nlines\n", "\"two\\nlines\"", "inner newlines kept");
	OUTPUT("  text  \n", "\"  text  \"", "blanks kept");
	OUTPUT("1 2\n", "\"1 2\"", "two numbers are text");
	OUTPUT("[1, 2\n", "\"[1, 2\"", "broken JSON is text");
	OUTPUT("", "\"\"", "no output: the empty string");
	OUTPUT("\n", "\"\"", "just a newline: the empty string");
	OUTPUT("\xff\xfeok\n", "\"\\\\xff\\\\xfeok\"", "bytes that are not UTF-8 are escaped");
	is_output("a\0b\n", 4, "\"a\\u0000b\"", "a NUL is kept");
}

int
main(void)
{
	vals = json_pack("{s:i,s:i,s:[i,s,f],s:{s:[i,i],s:s},s:{s:i,s:i,s:i},s:s,s:b,s:n,s:f,"
	    "s:s,s:s}",
	    "n", 30, "neg", -7, "list", 1, "a", 2.5, "obj", "a", 1, 2, "b", "x",
	    "unsorted", "z", 1, "a", 2, "m", 3, "s", "str", "t", 1, "nul", "f", 1.5,
	    "quote", "it's \"so\"", "empty", "");
	if (!vals) {
		printf("Bail out! cannot build the test values\n");
		return 1;
	}
	test_literal();
	test_whole();
	test_interpolation();
	test_literal_dollars();
	test_roundtrip();
	test_marks();
	test_marks_loaded();
	test_kinds();
	test_malformed();
	test_eval_errors();
	test_json_text();
	test_json_canon();
	test_node_json();
	test_json_from_output();
	json_decref(vals);
	return done_testing();
}
