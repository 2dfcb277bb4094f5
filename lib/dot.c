/* SPDX-License-Identifier: MIT */
/* dot: build a cgraph graph of the needed task instances (or tasks), colour it
 * by status, and write it as DOT or render it through gvc. */
#define _POSIX_C_SOURCE 200809L
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <stdlib.h>
#include <string.h>

#include "dot.h"
#include "util.h"

static char *
s(const char *str)
{
	return (char *)str;	/* cgraph's API is not const-correct */
}

static const char *const fill[] = {
	[FR_RS_NOTRUN] = "white", [FR_RS_DONE] = "#b7e4b0", [FR_RS_UPTODATE] = "#d6e4f0",
	[FR_RS_FAILED] = "#f4a3a3", [FR_RS_WOULDRUN] = "#ffe08a", [FR_RS_RUNNING] = "#ffe08a",
};

static void
colour(Agnode_t *n, enum fr_rstatus st, const char *desc)
{
	char *tip;

	agset(n, s("style"), s(st == FR_RS_NOTRUN ? "filled,dashed" : "filled"));
	agset(n, s("fillcolor"), s(fill[st]));
	if (st == FR_RS_NOTRUN)
		agset(n, s("fontcolor"), s("gray40"));
	tip = fr_xasprintf("%s: %s%s%s", agnameof(n), fr_rstatus_name(st), desc ? " - " : "",
	    desc ? desc : "");
	agset(n, s("tooltip"), tip);
	free(tip);
}

/* A group's status: failed if any failed, else not run if any was not run,
 * else done if any ran, else up to date. */
static enum fr_rstatus
merge(enum fr_rstatus a, enum fr_rstatus b)
{
	static const int rank[] = {
		[FR_RS_UPTODATE] = 0, [FR_RS_DONE] = 1, [FR_RS_WOULDRUN] = 2,
		[FR_RS_RUNNING] = 3, [FR_RS_NOTRUN] = 4, [FR_RS_FAILED] = 5,
	};
	return rank[b] > rank[a] ? b : a;
}

static Agraph_t *
build(const struct fr_graph *g, const struct fr_dot_opts *o, struct fr_error *err)
{
	const struct fr_pipeline *p = g->p;
	Agraph_t *dg;
	Agnode_t **node;
	size_t i, j, *count = NULL;
	enum fr_rstatus *gst = NULL;

	dg = agopen(s(p->name ? p->name : "flowrun"), Agstrictdirected, NULL);
	if (!dg) {
		fr_error_set(err, FR_ESYS, NULL, "cannot create the graph");
		return NULL;
	}
	agattr(dg, AGRAPH, s("rankdir"), s("LR"));
	agattr(dg, AGNODE, s("shape"), s("box"));
	agattr(dg, AGNODE, s("tooltip"), s(""));
	if (o->status) {
		agattr(dg, AGNODE, s("style"), s(""));
		agattr(dg, AGNODE, s("fillcolor"), s(""));
		agattr(dg, AGNODE, s("fontcolor"), s(""));
	}
	if (o->groups)
		agattr(dg, AGNODE, s("label"), s("\\N"));
	node = fr_xcalloc(o->groups ? p->ntask : g->ntask, sizeof(*node));
	if (o->groups) {
		count = fr_xcalloc(p->ntask, sizeof(*count));
		gst = fr_xcalloc(p->ntask, sizeof(*gst));
	}
	for (i = 0; i < g->ntask; i++) {
		const struct fr_task *t = g->task[i];
		if (!t->needed)
			continue;
		if (!o->groups) {
			node[i] = agnode(dg, s(fr_task_name(t)), 1);
			if (t->decl->opt->desc)
				agset(node[i], s("tooltip"), t->decl->opt->desc);
			if (o->status)
				colour(node[i], o->status[i], t->decl->opt->desc);
			continue;
		}
		j = t->decl->index;
		if (!node[j]) {
			node[j] = agnode(dg, t->decl->name, 1);
			gst[j] = o->status ? o->status[i] : FR_RS_NOTRUN;
		} else if (o->status) {
			gst[j] = merge(gst[j], o->status[i]);
		}
		count[j]++;
	}
	for (j = 0; o->groups && j < p->ntask; j++) {
		char *label;
		if (!node[j])
			continue;
		if (p->task[j]->opt->nforeach > 0) {
			label = fr_xasprintf("%s\\n%zu instance%s", p->task[j]->name, count[j],
			    count[j] == 1 ? "" : "s");
			agset(node[j], s("label"), label);
			free(label);
		}
		if (o->status)
			colour(node[j], gst[j], p->task[j]->opt->desc);
		else if (p->task[j]->opt->desc)
			agset(node[j], s("tooltip"), p->task[j]->opt->desc);
	}
	for (i = 0; i < g->ntask; i++) {
		const struct fr_task *t = g->task[i];
		if (!t->needed)
			continue;
		for (j = 0; j < t->ndep; j++) {
			const struct fr_task *d = fr_task_dep(t)[j];
			size_t from = o->groups ? d->decl->index : d->id;
			size_t to = o->groups ? t->decl->index : i;
			if (from != to)
				agedge(dg, node[from], node[to], NULL, 1);
		}
	}
	free(node);
	free(count);
	free(gst);
	return dg;
}

int
fr_dot_write(const struct fr_graph *g, const struct fr_dot_opts *o, FILE *f,
    struct fr_error *err)
{
	Agraph_t *dg = build(g, o, err);
	int rc = 0;

	if (!dg)
		return -1;
	if (agwrite(dg, f) != 0 || fflush(f) != 0 || ferror(f))
		rc = fr_error_set(err, FR_ESYS, NULL, "cannot write the graph:");
	agclose(dg);
	return rc;
}

/* Graphviz reports through agerr to stderr unless given a function: keep the
 * first message for the error instead (lib/ never prints). */
static char gvmsg[512];

static int
gverr(char *msg)
{
	size_t n;

	if (gvmsg[0] == '\0') {
		snprintf(gvmsg, sizeof(gvmsg), "%s", msg);
		n = strlen(gvmsg);
		while (n > 0 && (gvmsg[n - 1] == '\n' || gvmsg[n - 1] == ' '))
			gvmsg[--n] = '\0';
	}
	return 0;
}

int
fr_dot_render(const struct fr_graph *g, const struct fr_dot_opts *o, const char *format,
    char **data, size_t *len, struct fr_error *err)
{
	agusererrf prevf = agseterrf(gverr);
	agerrlevel_t prevl = agseterr(AGERR);
	GVC_t *gvc = gvContext();
	Agraph_t *dg = NULL;
	char *out = NULL;
	unsigned int n = 0;
	int rc = -1;

	gvmsg[0] = '\0';
	*data = NULL;
	*len = 0;
	if (!gvc) {
		fr_error_set(err, FR_ESYS, NULL, "cannot start Graphviz");
		goto out;
	}
	if (!(dg = build(g, o, err)))
		goto out;
	if (gvLayout(gvc, dg, "dot") != 0) {
		fr_error_set(err, FR_ESYS, NULL, "cannot lay out the graph%s%s",
		    gvmsg[0] ? ": " : "", gvmsg);
		goto out;
	}
	if (gvRenderData(gvc, dg, format, &out, &n) != 0 || !out) {
		fr_error_set(err, FR_ESYS, NULL, "cannot render the graph as %s%s%s", format,
		    gvmsg[0] ? ": " : "", gvmsg);
	} else {
		*data = fr_xmalloc((size_t)n + 1);
		memcpy(*data, out, n);
		(*data)[n] = '\0';
		*len = n;
		rc = 0;
	}
	if (out)
		gvFreeRenderData(out);
	gvFreeLayout(gvc, dg);
out:
	if (dg)
		agclose(dg);
	if (gvc)
		gvFreeContext(gvc);
	agseterr(prevl);
	agseterrf(prevf);
	return rc;
}

const char *
fr_dot_format(const char *path)
{
	static const char *const fmt[] = { "svg", "png", "pdf" };
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot && i < FR_NELEM(fmt); i++)
		if (strcmp(dot + 1, fmt[i]) == 0)
			return fmt[i];
	return NULL;
}
