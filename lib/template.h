/* SPDX-License-Identifier: MIT */
/* template: ${{ expr }} strings. Parsing happens at load time (so an error can
 * point at the exact ${{ ); evaluation happens when the values are known, through
 * a lookup callback, so this module knows nothing of graphs or state.
 * Values are Jansson values: a string that is exactly one ${{ }} evaluates to
 * the referenced JSON value; anything longer is text. */
#ifndef FR_TEMPLATE_H
#define FR_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "load.h"

struct fr_arena;

enum fr_ref_kind {
	FR_REF_NAME,		/* a foreach variable or a var */
	FR_REF_ENV,		/* env.NAME */
	FR_REF_RESULT,		/* tasks.NAME.result */
	FR_REF_OUTPUTS,		/* tasks.NAME.outputs */
};

struct fr_ref {
	enum fr_ref_kind kind;
	char *name;		/* var, env, or task name */
	struct fr_mark mark;	/* of the ${{ */
	int slot;		/* set by the resolver: foreach index, or -1 for a var */
	void *target;		/* set by the resolver: the referenced task declaration */
};

struct fr_tmpl_seg {
	const char *text;	/* literal text, len bytes, not terminated (NULL for a reference) */
	size_t len;
	struct fr_ref *ref;	/* or a reference */
};

/* The longest text a template may make: anything longer is an error, so that
 * templates feeding each other cannot double their way through memory. */
#define FR_TMPL_MAX_TEXT (16u << 20)

/* One allocation holds a template, its segments, references and strings.
 * There are a few templates per task, most of them plain paths, so the header
 * is 12 bytes, 4-aligned, and the source text follows it at once; the
 * segments, when there are any, come before the header (fr_tmpl_segs) and the
 * references and unescaped texts after the source. A template's text thus
 * lies at a fixed place from it: fr_tmpl_of goes back from the one to the other.
 * A template keeps the line and column of its scalar, not the file: all the
 * templates of a pipeline are in its file, which fr_tmpl_mark is given. */
struct fr_tmpl {
	unsigned line, col;	/* of the scalar; 0: unknown */
	unsigned short nseg;	/* 0: the text is src as it is (no reference, no $${{) */
	unsigned char whole;	/* exactly one reference and nothing else */
	unsigned char bare;	/* 0: see fr_tmpl_isbare */
	char src[];		/* the original text, NUL-terminated */
};
_Static_assert(offsetof(struct fr_tmpl, src) == 12, "a template per path: keep it small");
_Static_assert(offsetof(struct fr_tmpl, bare) == 11, "the byte before a template's text");
#define FR_TMPL_MAXSEG 65535u	/* a template of more parts is an error */

/* A task's paths are its templates' texts, and nearly all of them are plain
 * text: those are kept bare, a text after one byte FR_TMPL_BARE where a
 * template's header would end, without line, column or header (the pipeline
 * keeps their marks until the graph is built: fr_pipeline_pathmark). */
#define FR_TMPL_BARE 1
static inline int
fr_tmpl_isbare(const char *s)
{
	return ((const unsigned char *)s)[-1] == FR_TMPL_BARE;
}

/* The segments of t (nseg of them), just before it. */
static inline const struct fr_tmpl_seg *
fr_tmpl_segs(const struct fr_tmpl *t)
{
	return (const struct fr_tmpl_seg *)(const void *)t - t->nseg;
}

/* The template whose src is s (a text that is not bare). */
static inline struct fr_tmpl *
fr_tmpl_of(const char *s)
{
	return (struct fr_tmpl *)(void *)(s - offsetof(struct fr_tmpl, src));
}

/* Where t's scalar is, in file (the pipeline's). */
static inline struct fr_mark
fr_tmpl_mark(const struct fr_tmpl *t, const char *file)
{
	struct fr_mark m = { file, t->line, t->col };
	return m;
}

/* Parse node (a scalar) into a template. NULL with err set on a syntax error
 * (unterminated ${{, an empty or malformed expression). Caller frees. */
struct fr_tmpl *fr_tmpl_parse(const struct fr_node *node, struct fr_error *err);
/* The same, the template allocated in a (it goes with the arena: never
 * fr_tmpl_free it). */
struct fr_tmpl *fr_tmpl_parse_in(struct fr_arena *a, const struct fr_node *node,
    struct fr_error *err);
/* The text of node's template in a: bare when the scalar is plain text (no
 * '$', no NUL), else a template's src. NULL with err set as fr_tmpl_parse. */
char *fr_tmpl_text_in(struct fr_arena *a, const struct fr_node *node, struct fr_error *err);
/* Parse a plain string with no position (for -D and internal use). */
struct fr_tmpl *fr_tmpl_parse_str(const char *s, const struct fr_mark *m, struct fr_error *err);
/* Free t; NULL is a no-op. */
void fr_tmpl_free(struct fr_tmpl *t);
/* Whether t holds any reference. */
int fr_tmpl_has_refs(const struct fr_tmpl *t);
/* The same for the template whose text is s, bare or not. */
static inline int
fr_tmpl_text_has_refs(const char *s)
{
	return !fr_tmpl_isbare(s) && fr_tmpl_has_refs(fr_tmpl_of(s));
}

/* A YAML value whose strings may hold templates (a call task's args). */
struct fr_tree {
	json_t *skel;		/* the value; a template's place holds "\x01N" */
	struct fr_tmpl **tmpl;
	size_t ntmpl;
};

/* Parse node (any kind) into a tree. NULL with err set. Caller frees. */
struct fr_tree *fr_tree_parse(const struct fr_node *node, struct fr_error *err);
/* Free t; NULL is a no-op. */
void fr_tree_free(struct fr_tree *t);

/* Return the value of ref, borrowed, or NULL after setting err. */
typedef json_t *fr_ref_lookup(void *arg, const struct fr_ref *ref, struct fr_error *err);

/* Evaluate t: a whole template gives the referenced value, anything else a
 * string. Returns a new reference, or NULL with err set. */
json_t *fr_tmpl_eval(const struct fr_tmpl *t, fr_ref_lookup *lookup, void *arg,
    struct fr_error *err);
/* Evaluate t as text (a non-string whole value becomes compact JSON). New string. */
char *fr_tmpl_text(const struct fr_tmpl *t, fr_ref_lookup *lookup, void *arg,
    struct fr_error *err);
/* The same for the template whose text is s, bare or not (fr_tmpl_text_in). */
char *fr_tmpl_textof(const char *s, fr_ref_lookup *lookup, void *arg, struct fr_error *err);
/* Evaluate t: a copy of its value with every template evaluated (whole ones
 * keep their JSON type). New reference, or NULL with err set. */
json_t *fr_tree_eval(const struct fr_tree *t, fr_ref_lookup *lookup, void *arg,
    struct fr_error *err);
/* v as text: a string as it is, anything else as compact JSON with sorted
 * keys. New string, or NULL when longer than FR_TMPL_MAX_TEXT bytes. */
char *fr_json_text(const json_t *v);
/* The JSON value of a YAML node (scalars typed by the core schema). New reference;
 * NULL with err set when a float does not parse or the tree is too large. */
json_t *fr_node_json(const struct fr_node *n, struct fr_error *err);
/* Parse text as JSON (any value); if that fails, a JSON string of the text. New reference. */
json_t *fr_json_from_output(const char *text, size_t len);

#endif
