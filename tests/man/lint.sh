#!/bin/sh
# SPDX-License-Identifier: MIT
# The man pages pass mandoc's linter at warning level (TAP; skipped without mandoc).
srcdir=${FLOWRUN_SRCDIR:-$(dirname "$0")/../..}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "1..0 # SKIP mandoc is not installed"
	exit 0
fi
n=0 fail=0
echo "1..3"
for page in man/flowrun.1 man/flowrun-pipeline.5 man/flowrun-task.3; do
	n=$((n + 1))
	if out=$(mandoc -Tlint -Wwarning "$srcdir/$page" 2>&1) && [ -z "$out" ]; then
		echo "ok $n - $page"
	else
		echo "not ok $n - $page"
		echo "$out" | sed 's/^/# /'
		fail=1
	fi
done
exit $fail
