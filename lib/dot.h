/* SPDX-License-Identifier: MIT */
/* dot: the task graph through Graphviz cgraph: one node per task instance
 * that the targets need (or one per task, its instances counted), an edge
 * from each task to each task that needs it, nodes coloured by a run's
 * status; written as DOT, or laid out and rendered in-process through gvc. */
#ifndef FR_DOT_H
#define FR_DOT_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "graph.h"
#include "report.h"

struct fr_dot_opts {
	int groups;			/* one node per task: a foreach's instances collapsed */
	const enum fr_rstatus *status;	/* per task id, to colour nodes; NULL: no colours */
};

/* Write the needed part of g as DOT to f. 0, or -1 with err set. */
int fr_dot_write(const struct fr_graph *g, const struct fr_dot_opts *o, FILE *f,
    struct fr_error *err);
/* Lay out the needed part of g with dot and render it as format ("svg", "png",
 * "pdf") into *data (*len bytes, NUL-terminated, caller frees). 0, or -1 with
 * err set (Graphviz's own message when it gave one). */
int fr_dot_render(const struct fr_graph *g, const struct fr_dot_opts *o, const char *format,
    char **data, size_t *len, struct fr_error *err);
/* The render format a file name asks for by its extension ("svg", "png" or
 * "pdf"), or NULL. Borrowed. */
const char *fr_dot_format(const char *path);

#endif
