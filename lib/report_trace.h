/* SPDX-License-Identifier: MIT */
/* report_trace: the run as Chrome trace-event JSON (--trace FILE), which
 * Perfetto and chrome://tracing open: an array of complete ("X") events, one
 * per attempt of each task that ran, pid 1, tid the worker lane it held (tasks
 * that overlap in time never share a lane), times in microseconds from the
 * start of the run; metadata ("M") events name the process and the lanes. */
#ifndef FR_REPORT_TRACE_H
#define FR_REPORT_TRACE_H

#include <stdio.h>

#include "error.h"
#include "report.h"

/* Write the trace of the finished run r to f. 0, or -1 with err set. */
int fr_trace_write(const struct fr_report *r, FILE *f, struct fr_error *err);

#endif
