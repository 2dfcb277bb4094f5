# SPDX-License-Identifier: MIT
# Shared helpers for flowrun's CLI tests: each test runs in a fresh directory
# of its own, writes a pipeline with `pipeline <<EOF`, and checks what the
# real binary did through these domain words.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

FLOWRUN=${FLOWRUN:-$BATS_TEST_DIRNAME/../../flowrun}
FLOWRUN_SRCDIR=${FLOWRUN_SRCDIR:-$BATS_TEST_DIRNAME/../..}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

# flowrun ARGS...: the binary under test.
flowrun() {
	"$FLOWRUN" "$@"
}

# pipeline [FILE] <<EOF ... EOF: write a pipeline (default flowrun.yaml).
pipeline() {
	cat > "${1:-flowrun.yaml}"
}

# run_ok ARGS...: flowrun succeeds (exit 0); its output is shown on failure.
run_ok() {
	run "$FLOWRUN" "$@"
	echo "$output"
	[ "$status" -eq 0 ] || { echo "expected exit 0, got $status"; return 1; }
}

# run_fails_with STATUS PATTERN ARGS...: flowrun exits STATUS and prints
# something matching the extended regex PATTERN.
run_fails_with() {
	local want=$1 pattern=$2
	shift 2
	run "$FLOWRUN" "$@"
	echo "$output"
	[ "$status" -eq "$want" ] || { echo "expected exit $want, got $status"; return 1; }
	echo "$output" | grep -Eq -- "$pattern" || { echo "no line matches: $pattern"; return 1; }
}

# assert_ran TASK: the last run ran TASK (its "[n/N] TASK" line is there).
assert_ran() {
	echo "$output" | grep -Fxq -- "] $1" 2>/dev/null ||
		echo "$output" | grep -Eq -- "^\[[0-9]+/[0-9]+\] $(printf '%s' "$1" | sed 's/[][\.*^$]/\\&/g')\$" ||
		{ echo "task $1 did not run"; return 1; }
}

# assert_skipped TASK: the last run did not run TASK.
assert_skipped() {
	if echo "$output" | grep -Eq -- "^\[[0-9]+/[0-9]+\] $(printf '%s' "$1" | sed 's/[][\.*^$]/\\&/g')\$"; then
		echo "task $1 ran"
		return 1
	fi
}

# assert_ran_count N: the last run ran exactly N tasks.
assert_ran_count() {
	local n
	n=$(echo "$output" | grep -Ec '^\[[0-9]+/[0-9]+\] [^ ]+$' || true)
	[ "$n" -eq "$1" ] || { echo "expected $1 tasks to run, $n did"; return 1; }
}
