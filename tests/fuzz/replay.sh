#!/bin/sh
# SPDX-License-Identifier: MIT
# Replay the fuzzing corpus (tests/fuzz/corpus/*, kept by `make fuzz-merge`) on
# the real binary, as CI does with any build: each file becomes flowrun.yaml in
# an empty scratch directory and `flowrun --list` must end within 5 s without
# being killed by a signal, with exit status 0, or 1 or 2 and a message (2, a
# rejected pipeline, is the common outcome). Output is TAP.
# FLOWRUN and FLOWRUN_SRCDIR come from the environment as `make check` sets them.

LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd) || exit 99
FLOWRUN=${FLOWRUN:-$here/../../flowrun}
FLOWRUN_SRCDIR=${FLOWRUN_SRCDIR:-$here/../..}
corpus=$FLOWRUN_SRCDIR/tests/fuzz/corpus
limit=${FLOWRUN_REPLAY_TIMEOUT:-5}

case $FLOWRUN in
/*) ;;
*) FLOWRUN=$(pwd)/$FLOWRUN ;;
esac
if [ ! -x "$FLOWRUN" ]; then
	echo "Bail out! $FLOWRUN is not an executable (build it, or set FLOWRUN)"
	exit 99
fi
if ! command -v timeout >/dev/null 2>&1; then
	echo "1..0 # SKIP timeout(1) is not installed"
	exit 0
fi
# valgrind is some 50 times slower than the binary
[ -n "${FLOWRUN_UNDER_VALGRIND-}" ] && limit=$((limit * 20))

scratch=$(mktemp -d "${TMPDIR:-/tmp}/flowrun-replay.XXXXXX") || exit 99
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM HUP

n=0
for f in "$corpus"/*; do
	[ -f "$f" ] && n=$((n + 1))
done
echo "1..$n"

i=0
failed=0
for f in "$corpus"/*; do
	[ -f "$f" ] || continue
	i=$((i + 1))
	name=${f#"$corpus"/}
	work=$scratch/$i
	mkdir "$work" && cp "$f" "$work/flowrun.yaml" || {
		echo "not ok $i - $name"
		echo "# cannot copy the input to $work"
		failed=$((failed + 1))
		continue
	}
	(cd "$work" && exec timeout -k 1 "$limit" "$FLOWRUN" --list) \
		>"$scratch/stdout" 2>"$scratch/stderr" </dev/null
	status=$?
	rm -rf "$work"
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		bad="did not end within $limit s"
	elif [ "$status" -ge 128 ]; then
		bad="killed by signal $((status - 128))"
	elif [ "$status" -gt 2 ]; then
		bad="exit status $status (expected 0, or 2 for a rejected pipeline)"
	elif [ "$status" -ne 0 ] && ! grep -q '^flowrun: .*[^[:space:]:]$' "$scratch/stderr"; then
		bad="exit status $status without a message"
	else
		echo "ok $i - $name"
		continue
	fi
	failed=$((failed + 1))
	echo "not ok $i - $name"
	echo "# $bad; command: (cd DIR && flowrun --list) with DIR/flowrun.yaml = tests/fuzz/corpus/$name"
	sed 's/^/# stderr: /' "$scratch/stderr" | head -20
done

[ "$failed" -eq 0 ] || exit 1
exit 0
