#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The state in .flowrun/: damaged or foreign state files are reported and
# rebuilt, a run killed with SIGKILL leaves a state that loads, and the lock
# makes a second flowrun wait (or fail with --no-wait), but never a dead one.
load helpers

bats_require_minimum_version 1.5.0

# Processes started in the background by a test, killed (by pid) if the test
# ends early, so that no stray flowrun outlives it.
teardown() {
	local p
	touch release 2>/dev/null || true
	for p in $(cat bg.pids 2>/dev/null); do
		kill -9 "$p" 2>/dev/null || true
	done
}

# wait_for CMD...: wait up to ~5 s for CMD to succeed.
wait_for() {
	local i
	for i in $(seq 50); do
		"$@" && return 0
		sleep 0.1
	done
	echo "gave up waiting for: $*"
	return 1
}

# background OUTFILE ARGS...: start flowrun in the background; its pid is $bgpid.
background() {
	local out=$1
	shift
	"$FLOWRUN" "$@" > "$out" 2>&1 3>&- &
	bgpid=$!
	echo "$bgpid" >> bg.pids
}

# A chain a -> b -> c through files.
chain() {
	echo a > in.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    inputs: in.txt
    run: (cat in.txt; echo a) > a.out
    outputs: a.out
  b:
    inputs: a.out
    run: (cat a.out; echo b) > b.out
    outputs: b.out
  c:
    inputs: b.out
    run: (cat b.out; echo c) > c.out
    outputs: c.out
EOF
	run_ok -j 1
	assert_ran_count 3
}

# A task that marks that it started, then waits (at most ~5 s) for the test
# to create the file release.
held() {
	pipeline <<'EOF'
flowrun: 1
tasks:
  hold:
    run: touch started; i=0; while [ ! -e release ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; echo held > hold.out
    outputs: hold.out
EOF
}

# state_edit WHAT TASK: edit the last record of TASK in .flowrun/state (format
# 2, documented in lib/staterec.c): "key" flips a bit of its key, which its
# checksum then catches; "count" makes its input count absurd and fixes the
# checksum; "last" only succeeds if it is the last record in the file.
state_edit() {
	python3 - "$1" "$2" <<'EOF'
import struct, sys
what, name = sys.argv[1], sys.argv[2].encode()
path = '.flowrun/state'
d = bytearray(open(path, 'rb').read())
assert d[:16] == b'flowrun-state 2\n'
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
    return c ^ 0xffffffff
at, rec = 24, None
while at + 16 <= len(d):
    size, namelen = struct.unpack_from('=II', d, at + 4)
    if d[at + 2] == ord('T') and d[at + 12:at + 12 + namelen] == name:
        rec = (at, size, at + 12 + namelen + 1)   # start, size, fields
    at += size
assert rec, 'no record of %s' % name
at, size, fields = rec
if what == 'last':
    sys.exit(0 if at + size == len(d) else 1)
if what == 'key':
    d[fields + 8] ^= 1                  # after the duration
elif what == 'count':
    struct.pack_into('=I', d, fields + 104, 0x40000000)   # ninput
    struct.pack_into('=I', d, at + size - 4, crc32c(d[at:at + size - 4]))
open(path, 'wb').write(d)
EOF
}

# The rerun after the state was damaged warns, runs again what was lost,
# succeeds, and leaves a state that the next run uses without complaint.
@test "a state file overwritten with garbage gives a warning and a rebuild" {
	chain
	head -c 4096 /dev/urandom > .flowrun/state
	run_ok -j 1
	assert_output --partial 'warning: state file .flowrun/state has an unknown format'
	assert_ran_count 3
	run_ok -j 1
	refute_output --partial warning
	assert_ran_count 0
}

@test "a state file of garbage lines after the header gives a warning and a rebuild" {
	chain
	{ head -c 24 .flowrun/state; printf 'T\tb\tgarbage\n'; printf 'nonsense\n'; printf '\t#00000000\n'; } > state.new
	mv state.new .flowrun/state
	run_ok -j 1
	assert_output --partial 'warning: state file .flowrun/state: dropped 1 damaged records'
	assert_ran_count 3
	run_ok -j 1
	refute_output --partial warning
	assert_ran_count 0
}

@test "a record with a flipped byte is dropped with a warning; only its task runs again" {
	chain
	state_edit key b
	run_ok -j 1 --explain
	assert_output --partial 'warning: state file .flowrun/state: dropped 1 damaged records'
	assert_line 'explain: b: no record of an earlier run'
	assert_line 'explain: a: up to date'
	# b writes the same b.out again: c is cut off
	assert_line 'explain: c: up to date'
	assert_ran b
	assert_ran_count 1
	run_ok -j 1
	refute_output --partial warning
	assert_ran_count 0
}

@test "a damaged field in a record with a good checksum is dropped, not a crash" {
	chain
	# give b's record an absurd input count and a correct checksum
	state_edit count b
	run_ok -j 1 --explain
	assert_output --partial 'warning: state file .flowrun/state: dropped damaged record of b'
	assert_line 'explain: b: no record of an earlier run'
	assert_ran_count 1
	run_ok -j 1
	refute_output --partial warning
	assert_ran_count 0
}

@test "a state file truncated in the middle of a record gives a warning and a rebuild" {
	chain
	# the last record is c's, the last task to finish
	state_edit last c
	truncate -s -20 .flowrun/state
	run_ok -j 1 --explain
	assert_output --partial 'warning: state file .flowrun/state: dropped 1 damaged records'
	assert_line 'explain: c: no record of an earlier run'
	assert_line 'explain: b: up to date'
	assert_ran c
	assert_ran_count 1
	run_ok -j 1
	refute_output --partial warning
	assert_ran_count 0
}

@test "an empty state file is no record at all, without a warning" {
	chain
	: > .flowrun/state
	run_ok -j 1
	refute_output --partial warning
	assert_ran_count 3
	run_ok -j 1
	assert_ran_count 0
}

@test "a state file with an unknown version gives a warning and a rebuild" {
	chain
	sed -i '1s/.*/flowrun-state 99/' .flowrun/state
	run_ok -j 1 --explain
	assert_output --partial 'warning: state file .flowrun/state has an unknown format'
	assert_line 'explain: a: no record of an earlier run'
	assert_ran_count 3
	[ "$(head -n 1 .flowrun/state)" = 'flowrun-state 2' ]
	run_ok -j 1
	refute_output --partial warning
	assert_ran_count 0
}

@test "a state directory that cannot be used fails with exit 1" {
	chain
	rm -r .flowrun
	echo not a directory > .flowrun
	run_fails_with 1 '\.flowrun' -j 1
	assert_ran_count 0
}

@test "a run killed with SIGKILL leaves a state that loads; the rerun does the rest" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {n: {range: 50}}
    run: sleep 0.05; echo x > out/${{ n }}
    outputs: out/${{ n }}
EOF
	background run1.out -j 2
	wait_for test -e out/10
	kill -9 "$bgpid"
	wait "$bgpid" || true
	cat run1.out
	done_at_kill=$(ls out | wc -l)
	echo "outputs when killed: $done_at_kill"
	run_ok -j 2
	ran=$(echo "$output" | grep -Ec '^\[[0-9]+/[0-9]+\] [^ ]+$' || true)
	echo "rerun ran $ran tasks"
	[ "$ran" -lt 50 ]
	if [ "$done_at_kill" -lt 50 ]; then
		[ "$ran" -gt 0 ]
	fi
	[ "$(ls out | wc -l)" -eq 50 ]
	for n in $(seq 0 49); do
		[ "$(cat "out/$n")" = x ]
	done
	run_ok -j 2
	refute_output --partial warning
	assert_ran_count 0
}

@test "a second flowrun waits for the one that holds the lock, and says so" {
	held
	background first.out -j 1
	first=$bgpid
	wait_for test -e started
	background second.out -j 1
	second=$bgpid
	wait_for grep -q 'waiting for another flowrun' second.out
	touch release
	rc=0
	wait "$first" || rc=$?
	cat first.out
	[ "$rc" -eq 0 ]
	rc=0
	wait "$second" || rc=$?
	cat second.out
	[ "$rc" -eq 0 ]
	grep -Fq "flowrun: waiting for another flowrun (pid $first) on this pipeline to finish" second.out
	# the second run loaded the state the first one left: nothing to do
	output=$(cat second.out)
	assert_ran_count 0
	grep -Fxq '[1/1] hold' first.out
}

@test "--no-wait fails at once naming the flowrun that holds the lock" {
	held
	background first.out -j 1
	first=$bgpid
	wait_for test -e started
	run_fails_with 1 "another flowrun \\(pid $first\\) is running" --no-wait -j 1
	assert_ran_count 0
	touch release
	rc=0
	wait "$first" || rc=$?
	[ "$rc" -eq 0 ]
	# once the first has finished, --no-wait has nothing to wait for
	run_ok --no-wait
	assert_ran_count 0
}

@test "a dry run takes no lock" {
	held
	background first.out -j 1
	first=$bgpid
	wait_for test -e started
	run_ok -n --no-wait
	assert_line 'would run: hold (no record of an earlier run)'
	touch release
	wait "$first"
}

@test "the lock of a flowrun killed with SIGKILL is taken over at once" {
	held
	background first.out -j 1
	first=$bgpid
	wait_for test -e started
	kill -9 "$first"
	wait "$first" || true
	touch release
	run timeout 20 "$FLOWRUN" -j 1
	echo "$output"
	[ "$status" -eq 0 ]
	refute_output --partial 'waiting'
	assert_ran hold
	run_ok --no-wait -j 1
	assert_ran_count 0
}
