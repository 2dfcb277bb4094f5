#!/bin/sh
# SPDX-License-Identifier: MIT
# flowrun under valgrind memcheck: `make check-valgrind` sets FLOWRUN to this
# script and FLOWRUN_REAL to the binary. A memory error, or a definite or
# indirect leak, makes the run exit 99, which fails the test that ran it; the
# report goes to standard error. Tasks (children) are not traced. Leaks in
# Graphviz and fontconfig are suppressed by graphviz.supp beside this script.
# Some tests run flowrun with PATH=/nonexistent: find valgrind without it.
vg=$(PATH="$PATH:/usr/local/bin:/usr/bin:/bin" && command -v valgrind) || {
	echo "valgrind.sh: valgrind is not installed" >&2
	exit 99
}
# worker processes of call tasks run under valgrind too (not under valgrind's
# own binary, which is what /proc/self/exe would be)
FLOWRUN_CALL_WORKER=${FLOWRUN_CALL_WORKER:-$(cd "${0%/*}" && pwd)/${0##*/}}
export FLOWRUN_CALL_WORKER
# free the model at exit, so that what is not freed is a leak
FLOWRUN_FREE_AT_EXIT=1
export FLOWRUN_FREE_AT_EXIT
exec "$vg" --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect -q \
	--suppressions="${0%/*}/graphviz.supp" ${FLOWRUN_VALGRIND_FLAGS-} \
	"${FLOWRUN_REAL:?FLOWRUN_REAL must name the flowrun binary}" "$@"
