#!/bin/sh
# SPDX-License-Identifier: MIT
# flowrun under valgrind memcheck: `make check-valgrind` sets FLOWRUN to this
# script and FLOWRUN_REAL to the binary. A memory error, or a definite or
# indirect leak, makes the run exit 99, which fails the test that ran it; the
# report goes to standard error. Tasks (children) are not traced.
exec valgrind --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect -q ${FLOWRUN_VALGRIND_FLAGS-} \
	"${FLOWRUN_REAL:?FLOWRUN_REAL must name the flowrun binary}" "$@"
