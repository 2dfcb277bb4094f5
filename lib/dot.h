/* SPDX-License-Identifier: MIT */
/* dot: the task graph through Graphviz cgraph: one node per task instance
 * that the targets need, an edge from each task to each task that needs it. */
#ifndef FR_DOT_H
#define FR_DOT_H

#include <stdio.h>

#include "error.h"
#include "graph.h"

/* Write the needed part of g as DOT to f. 0, or -1 with err set. */
int fr_dot_write(const struct fr_graph *g, FILE *f, struct fr_error *err);

#endif
