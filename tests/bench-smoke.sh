#!/bin/sh
# SPDX-License-Identifier: MIT
# The benchmark smoke run (bench/run.py --smoke) works and writes its tables, and
# flowrun reruns nothing on a no-op or a touch (TAP; no timing is asserted).
srcdir=${FLOWRUN_SRCDIR:-$(dirname "$0")/..}
flowrun=${FLOWRUN:-$srcdir/flowrun}
py=${PYTHON3:-python3}
for tool in ninja make; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done
if ! command -v "$py" >/dev/null 2>&1 || [ "$py" = no ]; then
	echo "1..0 # SKIP python3 is not installed"
	exit 0
fi
if ! command -v "${CC:-cc}" >/dev/null 2>&1 && [ ! -x /usr/bin/time ]; then
	echo "1..0 # SKIP neither a C compiler nor /usr/bin/time to meter the runs"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..7"
n=0 fail=0
check() {	# check DESCRIPTION COMMAND...: one TAP line
	desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		fail=1
	fi
}
table() {	# table SHAPE: the results table of SHAPE at 1k
	cat "$tmp"/results/*-"$1"-1000.md 2>/dev/null
}
row() {	# row SHAPE CASE TOOL: wall, CPU, RSS and tasks ran of that row, blank-separated
	table "$1" | awk -F'|' -v c="$2" -v t="$3" '
		{ for (i = 2; i < NF; i++) gsub(/^ +| +$/, "", $i) }
		$2 == "case" && $3 == "tool" { for (i = 4; i < NF; i++) col[$i] = i }
		$2 == c && $3 == t {
			print $col["wall s"], $col["CPU s"], $col["peak RSS MiB"], $col["tasks ran"]
			exit
		}'
}
numbers() {	# numbers SHAPE: every tool's full-run row has four numbers
	for tool in flowrun ninja make floor; do
		row "$1" full $tool | grep -Eq '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' || return 1
	done
}
ran() {	# ran SHAPE CASE TOOL EXPECTED: the tasks-ran cell is EXPECTED
	[ "$(row "$1" "$2" "$3" | awk '{ print $4 }')" = "$4" ]
}

if "$py" "$srcdir/bench/run.py" --smoke --flowrun "$flowrun" --work "$tmp/work" \
    --results "$tmp/results" >"$tmp/out" 2>&1; then
	echo "ok 1 - run.py --smoke exits 0"
	n=1
else
	echo "not ok 1 - run.py --smoke exits 0"
	n=1 fail=1
fi
both_numbers() { numbers wide && numbers chain; }
ratios() { table wide | grep -q '^| full | wall | [0-9]'; }
full_all() { ran wide full flowrun 1001 && ran chain full flowrun 1000; }
noop_zero() { ran wide noop flowrun 0 && ran chain noop flowrun 0; }
touch_zero() { ran wide touch flowrun 0 && ran chain touch flowrun 0; }
check "wide and chain tables have numbers for flowrun, ninja, make, floor" both_numbers
check "the tables give the ratios" ratios
check "flowrun ran every task from clean (1001 wide, 1000 chain)" full_all
check "flowrun's no-op reran 0 tasks" noop_zero
check "flowrun reran 0 tasks after a touch" touch_zero
check "make reran the whole chain after a touch (the marker counts)" ran chain touch make 1000
[ $fail -eq 0 ] || { echo "# run.py output:"; sed 's/^/# /' "$tmp/out" | tail -60; }
exit $fail
