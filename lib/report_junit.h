/* SPDX-License-Identifier: MIT */
/* report_junit: the run as JUnit XML (--junit FILE) for CI test reports: one
 * testsuite for the pipeline, one testcase per needed task instance (classname
 * the task, name the instance); a failure carries its message and the last
 * lines of its output; up-to-date, would-run and not-run instances are
 * skipped with the reason. */
#ifndef FR_REPORT_JUNIT_H
#define FR_REPORT_JUNIT_H

#include <stdio.h>

#include "error.h"
#include "report.h"

/* Lines of output a failure keeps. */
#define FR_JUNIT_LINES 50

/* Write the JUnit XML of the finished run r to f. 0, or -1 with err set. */
int fr_junit_write(const struct fr_report *r, FILE *f, struct fr_error *err);

#endif
