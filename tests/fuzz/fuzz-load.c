/* SPDX-License-Identifier: MIT */
/* fuzz-load: a libFuzzer harness over flowrun's whole front end: the YAML
 * loader, the pipeline validator, template parsing, the graph builder
 * (foreach expansion, edges, order, target selection) and the expansion of
 * each needed instance's command, env, dir and call args, as a run would.
 * Built by `make fuzz`, run by `make fuzz-run` (see tests/fuzz/README.md). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "graph.h"
#include "htab.h"
#include "load.h"
#include "pipeline.h"
#include "template.h"
#include "treecache.h"

/* instances whose templates are expanded, at most: enough to reach every
 * path, few enough to keep a foreach of a million instances quick */
#define MAX_EXPAND 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[4096];	/* the pipeline's directory, and the cwd */
static char path[4096 + 32];	/* scratch/flowrun.yaml */
static char imgpath[4096 + 32];	/* scratch/image: the parse's image */
static int home = -1;		/* the starting directory, where libFuzzer's paths point */

static void
cleanup(void)
{
	unlink(path);
	unlink(imgpath);
	rmdir(scratch);
}

static void
die(const char *what)
{
	fprintf(stderr, "fuzz-load: %s: %s\n", what, strerror(errno));
	exit(1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(scratch, sizeof(scratch), "%s/fuzz-load.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch))
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/flowrun.yaml", scratch);
	snprintf(imgpath, sizeof(imgpath), "%s/image", scratch);
	if ((home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die("cannot open the current directory");
	atexit(cleanup);
	return 0;
}

static void
writeinput(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		die(path);
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(path);
		off += (size_t)n;
	}
	if (close(fd) < 0)
		die(path);
}

struct look {
	struct fr_graph *g;
	struct fr_task *t;
	json_t *scratch;
	json_t *result;		/* what every tasks.X.result stands for */
};

/* As the planner does, with a made-up result for tasks.X.result. */
static json_t *
lookup(void *arg, const struct fr_ref *ref, struct fr_error *err)
{
	struct look *c = arg;

	if (ref->kind == FR_REF_RESULT)
		return c->result;
	return fr_graph_lookup(c->g, c->t, ref, &c->scratch, err);
}

/* Every template a run of t would expand; an error must carry a message. */
static void
expand(struct fr_graph *g, struct fr_task *t, json_t *result)
{
	const struct fr_taskdecl *d = t->decl;
	struct look c = { g, t, NULL, result };
	struct fr_error err = {0};
	char *s;
	json_t *v;
	size_t i;

#define TEXT(tmpl) do { \
		fr_error_clear(&err); \
		if ((s = fr_tmpl_text((tmpl), lookup, &c, &err))) \
			free(s); \
		else if (!err.text[0]) \
			abort(); \
	} while (0)
	if (d->run && !fr_tmpl_isbare(d->run))
		TEXT(fr_tmpl_of(d->run));
	if (d->opt->library)
		TEXT(d->opt->library);
	if (d->opt->dir)
		TEXT(d->opt->dir);
	for (i = 0; i < d->opt->nenv; i++)
		TEXT(d->opt->env[i].value);
#undef TEXT
	if (d->opt->args) {
		fr_error_clear(&err);
		if ((v = fr_tree_eval(d->opt->args, lookup, &c, &err)))
			json_decref(v);
		else if (!err.text[0])
			abort();
	}
	json_decref(c.scratch);
}

/* Whether two trees are the same, node by node: kinds, scalars with their
 * type, style and source, and marks. */
static int
sametree(const struct fr_node *a, const struct fr_node *b)
{
	uint32_t i;

	if (!a || !b)
		return a == b;
	if (a->kind != b->kind || a->mark.line != b->mark.line || a->mark.col != b->mark.col ||
	    a->nitem != b->nitem)
		return 0;
	if (a->kind == FR_NODE_SCALAR)
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0 &&
		    a->type == b->type && a->plain == b->plain && a->style == b->style &&
		    !a->src == !b->src && a->srclen == b->srclen &&
		    (!a->src || memcmp(a->src, b->src, a->srclen) == 0);
	for (i = 0; i < a->nitem; i++)
		if (!sametree(a->item[i], b->item[i]))
			return 0;
	return 1;
}

/* The tree cache's way: a parse writes its image, and the image read back
 * must be the tree the parse built. */
static void
imageroundtrip(void)
{
	struct fr_load_image img = { -1, 0, 0 };
	struct fr_error err = {0};
	struct fr_doc *doc, *back;

	if ((img.fd = open(imgpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		die(imgpath);
	doc = fr_load_file_with(path, NULL, &img, &err);
	if (doc && img.ok) {
		if (lseek(img.fd, 0, SEEK_SET) < 0)
			die(imgpath);
		fr_error_clear(&err);
		back = fr_load_image(path, img.fd, img.len, NULL, &err);
		if (!back || !sametree(doc->root, back->root))
			abort();
		fr_doc_free(back);
	}
	fr_doc_free(doc);
	close(img.fd);
}

/* Streaming: each task a hook is handed must be the task a whole parse has
 * at the same place, and a file a whole parse refuses is refused streamed,
 * the hook finding duplicate tasks as its contract says. */
struct stream {
	const struct fr_node *tasks;	/* the whole parse's root 'tasks' map */
	uint32_t n;			/* tasks handed over so far */
	struct fr_htab *seen;		/* their names (copies, in names) */
	char **names;
	size_t nnames, capnames;
};

static int
stream_head(void *arg, const struct fr_node *root, struct fr_error *err)
{
	(void)arg;
	(void)root;
	(void)err;
	return 0;
}

static int
stream_task(void *arg, const struct fr_node *key, const struct fr_node *value,
    struct fr_error *err)
{
	struct stream *st = arg;
	uint32_t i = 2 * st->n++;
	char *name;

	if (fr_htab_get(st->seen, key->str))
		return fr_error_set(err, FR_EPIPELINE, &key->mark, "duplicate task");
	name = fr_xstrdup(key->str);
	FR_PUSH(st->names, st->nnames, st->capnames, name);
	fr_htab_put(st->seen, name, name);
	if (!st->tasks)
		return 0;	/* the whole parse failed further on: so must this one */
	if (i + 1 >= st->tasks->nitem || !sametree(key, st->tasks->item[i]) ||
	    !sametree(value, st->tasks->item[i + 1]))
		abort();
	return 0;
}

static void
streamsame(void)
{
	struct fr_error err = {0};
	struct stream st = { NULL, 0, fr_htab_new(16), NULL, 0, 0 };
	struct fr_load_hook hook = { stream_head, stream_task, &st, 0 };
	struct fr_doc *whole, *doc;
	size_t i;

	whole = fr_load_file(path, &err);
	if (whole && whole->root && whole->root->kind == FR_NODE_MAP)
		st.tasks = fr_node_get(whole->root, "tasks");
	fr_error_clear(&err);
	doc = fr_load_file_with(path, &hook, NULL, &err);
	if (doc && !whole)
		abort();
	if (doc && doc->streamed && st.tasks && 2 * st.n != st.tasks->nitem)
		abort();
	fr_doc_free(doc);
	fr_doc_free(whole);
	for (i = 0; i < st.nnames; i++)
		free(st.names[i]);
	free(st.names);
	fr_htab_free(st.seen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fr_error err = {0};
	struct fr_pipeline *p;
	struct fr_graph *g;

	writeinput(data, size);
	imageroundtrip();
	streamsame();
	p = fr_pipeline_load(path, NULL, 0, FR_CACHE_OFF, &err);
	if (!p) {
		/* every failure must say what is wrong */
		if (!fr_error_isset(&err) || !err.text[0])
			abort();
		return 0;
	}
	/* relative inputs, outputs and globs resolve in the scratch directory,
	 * which holds only the input; back home for libFuzzer afterwards */
	if (chdir(p->dir) < 0)
		die(p->dir);
	fr_error_clear(&err);
	if ((g = fr_graph_build(p, &err))) {
		size_t i, n = 0;
		json_t *result = json_pack("{s:[i,s,n]}", "r", 1, "two");

		fr_error_clear(&err);
		if (fr_graph_select(g, NULL, 0, &err) < 0 && !fr_error_isset(&err))
			abort();
		for (i = 0; i < g->ntask && n < MAX_EXPAND; i++) {
			if (g->order[i]->needed) {
				expand(g, g->order[i], result);
				n++;
			}
		}
		json_decref(result);
		fr_graph_free(g);
	} else if (!fr_error_isset(&err) || !err.text[0]) {
		abort();
	}
	fr_pipeline_free(p);
	if (fchdir(home) < 0)
		die("fchdir");
	return 0;
}
