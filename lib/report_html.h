/* SPDX-License-Identifier: MIT */
/* report_html: the run as one self-contained HTML page (--report FILE.html):
 * the graph picture (an SVG given by the caller, inlined), a timeline of the
 * attempts on their worker lanes, a sortable table of every needed instance
 * with its status, times, memory and why it ran or was skipped, and the output
 * of each failure. No network and no external asset: CSS, the timeline and
 * the sorting script are inline, and a Content-Security-Policy forbids loads. */
#ifndef FR_REPORT_HTML_H
#define FR_REPORT_HTML_H

#include <stdio.h>

#include "error.h"
#include "report.h"

/* Write the page of the finished run r to f. svg: the graph as SVG (NULL when
 * it could not be drawn; note then says why, or is NULL). 0, or -1 with err set. */
int fr_html_write(const struct fr_report *r, const char *svg, const char *note, FILE *f,
    struct fr_error *err);

#endif
