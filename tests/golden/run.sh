#!/bin/sh
# SPDX-License-Identifier: MIT
# Golden error cases: every directory AREA/CASE/ beside this script holds
#   flowrun.yaml     the pipeline
#   expected         the exact standard error of `flowrun -f flowrun.yaml ARGS`
#                    run from inside the case directory
#   args             optional: extra command-line arguments, one line
#   status           optional: the expected exit status (default 2)
#   schema-rejects   optional, empty: schema/flowrun.schema.json must reject the
#                    file too (checked by tests/schema/check.py, not here)
# Output is TAP; the exit status is 1 when a case fails.
#
# Usage: run.sh            check every case
#        run.sh --update   rewrite each case's expected (and status) from the
#                          binary; for maintainers after an intended change of a
#                          message. Review the diff: never use it to hide a bug.
# FLOWRUN (the binary) and FLOWRUN_SRCDIR (the source tree) come from the
# environment, as `make check` sets them; by default ../../flowrun and ../..
# relative to this script.

LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd) || exit 99
FLOWRUN=${FLOWRUN:-$here/../../flowrun}
FLOWRUN_SRCDIR=${FLOWRUN_SRCDIR:-$here/../..}
cases=$FLOWRUN_SRCDIR/tests/golden

case $FLOWRUN in
/*) ;;
*) FLOWRUN=$(pwd)/$FLOWRUN ;;
esac

update=0
case ${1-} in
--update) update=1 ;;
'') ;;
*)
	echo "usage: $0 [--update]" >&2
	exit 99
	;;
esac

if [ ! -x "$FLOWRUN" ]; then
	echo "Bail out! $FLOWRUN is not an executable (build it, or set FLOWRUN)"
	exit 99
fi

# Each case runs in a scratch copy of its directory, so a flowrun that wrongly
# accepts a pipeline cannot leave outputs or .flowrun/ in the source tree.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/flowrun-golden.XXXXXX") || exit 99
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM HUP

n=0
for d in "$cases"/*/*/; do
	[ -d "$d" ] && n=$((n + 1))
done
echo "1..$n"

i=0
failed=0
for d in "$cases"/*/*/; do
	[ -d "$d" ] || continue
	d=${d%/}
	name=${d#"$cases"/}
	i=$((i + 1))
	work=$scratch/$i
	mkdir "$work" && cp -R "$d"/. "$work"/ || {
		echo "not ok $i - $name"
		echo "# cannot copy the case to $work"
		failed=$((failed + 1))
		continue
	}
	if [ ! -f "$work/flowrun.yaml" ]; then
		echo "not ok $i - $name"
		echo "# the case has no flowrun.yaml"
		failed=$((failed + 1))
		continue
	fi
	args=
	[ -f "$work/args" ] && args=$(cat "$work/args")
	want_status=2
	[ -f "$work/status" ] && want_status=$(cat "$work/status")
	# args is split into words on purpose, without pathname expansion
	set -f
	(cd "$work" && exec "$FLOWRUN" -f flowrun.yaml $args) \
		>"$scratch/stdout" 2>"$scratch/stderr" </dev/null
	status=$?
	set +f

	if [ "$update" -eq 1 ]; then
		cp "$scratch/stderr" "$d/expected"
		if [ "$status" -ne 2 ]; then
			echo "$status" >"$d/status"
		else
			rm -f "$d/status"
		fi
		echo "ok $i - $name # updated"
		continue
	fi

	bad=
	if [ ! -f "$work/expected" ]; then
		bad="the case has no expected file"
	elif ! cmp -s "$work/expected" "$scratch/stderr"; then
		bad="standard error differs from expected"
	fi
	if [ "$status" != "$want_status" ]; then
		bad="${bad:+$bad; }exit status $status, expected $want_status"
	fi
	if [ -z "$bad" ]; then
		echo "ok $i - $name"
		continue
	fi
	failed=$((failed + 1))
	echo "not ok $i - $name"
	echo "# $bad"
	echo "# command: (cd $name && flowrun -f flowrun.yaml${args:+ $args})"
	if [ -f "$work/expected" ]; then
		diff -u "$work/expected" "$scratch/stderr" | sed 's/^/# /'
	else
		sed 's/^/# got: /' "$scratch/stderr"
	fi
	if [ -s "$scratch/stdout" ]; then
		echo "# standard output:"
		sed 's/^/#   /' "$scratch/stdout"
	fi
done

[ "$failed" -eq 0 ] || exit 1
exit 0
