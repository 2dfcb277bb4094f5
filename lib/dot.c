/* SPDX-License-Identifier: MIT */
/* dot: build a cgraph graph of the needed task instances and write it as DOT. */
#define _POSIX_C_SOURCE 200809L
#include <graphviz/cgraph.h>
#include <stdlib.h>

#include "dot.h"

static char *
s(const char *str)
{
	return (char *)str;	/* cgraph's API is not const-correct */
}

int
fr_dot_write(const struct fr_graph *g, FILE *f, struct fr_error *err)
{
	Agraph_t *dg;
	Agnode_t **node;
	size_t i, j;
	int rc = 0;

	dg = agopen(s(g->p->name ? g->p->name : "flowrun"), Agstrictdirected, NULL);
	if (!dg)
		return fr_error_set(err, FR_ESYS, NULL, "cannot create the graph");
	agattr(dg, AGRAPH, s("rankdir"), s("LR"));
	agattr(dg, AGNODE, s("shape"), s("box"));
	agattr(dg, AGNODE, s("tooltip"), s(""));
	node = calloc(g->ntask ? g->ntask : 1, sizeof(*node));
	if (!node) {
		agclose(dg);
		return fr_error_set(err, FR_ESYS, NULL, "out of memory:");
	}
	for (i = 0; i < g->ntask; i++) {
		struct fr_task *t = g->task[i];
		if (!t->needed)
			continue;
		node[i] = agnode(dg, t->name, 1);
		if (t->decl->desc)
			agset(node[i], s("tooltip"), t->decl->desc);
	}
	for (i = 0; i < g->ntask; i++) {
		struct fr_task *t = g->task[i];
		if (!t->needed)
			continue;
		for (j = 0; j < t->ndep; j++)
			agedge(dg, node[t->dep[j]->id], node[i], NULL, 1);
	}
	if (agwrite(dg, f) != 0 || fflush(f) != 0 || ferror(f))
		rc = fr_error_set(err, FR_ESYS, NULL, "cannot write the graph:");
	free(node);
	agclose(dg);
	return rc;
}
