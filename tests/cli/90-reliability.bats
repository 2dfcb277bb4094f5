#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Reliability: hostile input gets a clear error (exit 2) in bounded time and
# memory; a very large pipeline loads and dry-runs in bounded memory; flowrun
# killed with SIGKILL at random moments, again and again, never takes a task as
# done without its complete outputs; a full disk and a state directory that
# cannot be written give a clear error and keep the previous state.
#
# The bounds are enforced with `ulimit -v` (address space) and timeout(1), so a
# regression fails the test instead of eating the machine. Under valgrind
# (FLOWRUN_UNDER_VALGRIND=1, `make check-valgrind`) the tests that need a
# tight address space or many fast runs are skipped.
load helpers

bats_require_minimum_version 1.5.0

MiB=1024	# ulimit -v counts KiB

teardown() {
	local p
	for p in $(cat "$BATS_TEST_TMPDIR/bg.pids" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null || true
	done
	cd "$BATS_TEST_TMPDIR" || true
	if [ -f "$BATS_TEST_TMPDIR/mounted" ]; then
		umount "$BATS_TEST_TMPDIR/disk" 2>/dev/null || umount -l "$BATS_TEST_TMPDIR/disk" || true
	fi
	if [ -f "$BATS_TEST_TMPDIR/shared" ]; then
		rm -rf "$(cat "$BATS_TEST_TMPDIR/shared")"
	fi
}

no_valgrind() {
	[ -z "${FLOWRUN_UNDER_VALGRIND-}" ] || skip "$1 (under valgrind)"
}

# limited KIB SECONDS ARGS...: run flowrun with at most KIB KiB of address
# space and SECONDS seconds. AddressSanitizer reserves terabytes of address
# space, so an ASan build is bounded by its resident size instead, with room
# for ASan's own (hard_rss_limit_mb, which kills it).
limited() {
	local kib=$1 secs=$2
	shift 2
	if grep -aq __asan_init "$FLOWRUN" 2>/dev/null; then
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=$((kib * 3 / 1024))" \
			timeout -k 5 "$secs" "$FLOWRUN" "$@"
	else
		(ulimit -v "$kib" && exec timeout -k 5 "$secs" "$FLOWRUN" "$@")
	fi
}

# run_bounded KIB SECONDS ARGS...: run limited; its output is shown.
run_bounded() {
	run limited "$@"
	echo "$output" | cut -c1-300 | head -20
	[ "$status" -ne 124 ] && [ "$status" -ne 137 ] ||
		{ echo "flowrun did not end within $2 s"; return 1; }
}

# expect_rejected PATTERN: the bounded run failed with exit 2 and a message
# matching the extended regex PATTERN.
expect_rejected() {
	[ "$status" -eq 2 ] || { echo "expected exit 2, got $status"; return 1; }
	echo "$output" | grep -Eq -- "$1" || { echo "no line matches: $1"; return 1; }
}

# aliases FIRST NAME...: a vars line for each NAME, a list of ten aliases of
# the one before (FIRST, then each NAME in turn)
aliases() {
	local prev=$1 l
	shift
	for l in "$@"; do
		echo "  $l: &$l [*$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev]"
		prev=$l
	done
}

# wrap TEXT: a pipeline whose var x is TEXT, written as it is.
with_var() {
	{ printf 'flowrun: 1\nvars:\n  x: '; cat; printf '\ntasks:\n  a:\n    run: "true"\n'; } > flowrun.yaml
}

# --- hostile input: a clear error, exit 2, in bounded time and memory

@test "100,000 nested flow sequences: exit 2, nesting too deep" {
	no_valgrind "address-space bound"
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]" }' |
		with_var
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:3:260: nesting deeper than 256 levels$'
}

@test "100,000 nested flow maps: exit 2, nesting too deep" {
	no_valgrind "address-space bound"
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "{a: "; printf "1"; for (i = 0; i < 100000; i++) printf "}" }' |
		with_var
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:3:[0-9]+: nesting deeper than 256 levels$'
}

@test "5,000 levels of block indentation: exit 2, nesting too deep" {
	no_valgrind "address-space bound"
	awk 'BEGIN {
		print "flowrun: 1"; print "vars:"; ind = "  "
		for (i = 0; i < 5000; i++) { print ind "k:"; ind = ind " " }
		print ind "v"; print "tasks:"; print "  a:"; print "    run: \"true\""
	}' > flowrun.yaml
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:[0-9]+:[0-9]+: nesting deeper than 256 levels$'
}

@test "a 17 MiB quoted scalar: exit 2, scalar too long" {
	no_valgrind "address-space bound"
	{ printf '"'; head -c $((17 << 20)) /dev/zero | tr '\0' a; printf '"'; } | with_var
	run_bounded $((512 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:3:6: scalar longer than 16 MiB$'
}

@test "a 17 MiB plain scalar in a command: exit 2, scalar too long" {
	no_valgrind "address-space bound"
	{ printf 'flowrun: 1\ntasks:\n  a:\n    run: echo '; head -c $((17 << 20)) /dev/zero | tr '\0' a; echo; } > flowrun.yaml
	run_bounded $((512 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:4:10: scalar longer than 16 MiB$'
}

@test "a template of more than 65,535 parts: exit 2, said where; 65,535 load" {
	for n in 32768 32767; do	# each a text and a reference: 2n parts
		awk -v n=$n 'BEGIN {
			printf "flowrun: 1\nvars:\n  x: 1\ntasks:\n  a:\n    run: \"true"
			for (i = 0; i < n; i++) printf " ${{ x }}"
			print "\""
		}' > flowrun.yaml
		run "$FLOWRUN" --list
		if [ $n = 32768 ]; then
			expect_rejected '^flowrun: flowrun\.yaml:6:10: a template of more than 65535 parts$'
		else
			[ "$status" -eq 0 ]
		fi
	done
}

@test "a 4 GiB pipeline file is refused before it is read" {
	no_valgrind "address-space bound"
	printf 'flowrun: 1\ntasks: {}\n# ' > flowrun.yaml
	truncate -s 4G flowrun.yaml	# sparse: no disk space used
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml: file larger than 256 MiB$'
}

# nine levels of ten aliases each: 10^9 nodes once expanded
@test "billion laughs (aliases of aliases): exit 2, alias expansion too large" {
	no_valgrind "address-space bound"
	{
		echo 'flowrun: 1'; echo 'vars:'
		echo '  a: &a [x, x, x, x, x, x, x, x, x, x]'
		aliases a b c d e f g h i
		echo 'tasks:'; echo '  a:'; echo '    run: echo ${{ i }}'
	} > flowrun.yaml
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:10:6: alias expansion too large \(more than [0-9]+ nodes\)$'
}

# 10^6 nodes: under the loader's bound, but too large a value for a template
@test "an alias bomb of a million nodes used in a command: exit 2, value too large" {
	no_valgrind "address-space bound"
	{
		echo 'flowrun: 1'; echo 'vars:'
		echo '  a: &a [x, x, x, x, x, x, x, x, x, x]'
		aliases a b c d e f g
		echo 'tasks:'; echo '  a:'; echo '    run: echo ${{ g }}'
	} > flowrun.yaml
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:[0-9]+:[0-9]+: value too large \([0-9]+ nodes\)$'
}

# a 100 KB string repeated 10,000 times by aliases: few nodes, a gigabyte of text
@test "one long string repeated by aliases: exit 2 in bounded memory" {
	no_valgrind "address-space bound"
	{
		echo 'flowrun: 1'; echo 'vars:'
		printf '  s: &s %s\n' "$(head -c 100000 /dev/zero | tr '\0' y)"
		aliases s a b c d
		echo 'tasks:'; echo '  a:'; echo '    run: echo ${{ d }}'
	} > flowrun.yaml
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:6:6: alias expansion too large \(more than 64 MiB of text\)$'
}

# 5,000 repeats of 10 KB: 50 MB of text, under the loader's bound; a command
# made of it is refused when its text passes 16 MiB, not after making all of it
@test "a value standing for 50 MB of text in a command: the task fails in bounded memory" {
	no_valgrind "address-space bound"
	{
		echo 'flowrun: 1'; echo 'vars:'
		printf '  s: &s %s\n' "$(head -c 10000 /dev/zero | tr '\0' y)"
		aliases s a b c
		echo '  d: &d [*c, *c, *c, *c, *c]'
		echo 'tasks:'; echo '  a:'; echo '    run: echo ${{ d }}'
		echo '  b:'; echo '    run: "${{ d }}"'
	} > flowrun.yaml
	run_bounded $((200 * MiB)) 30 -k
	[ "$status" -eq 1 ]
	assert_line '  a: template value longer than 16 MiB'
	assert_line '  b: template value longer than 16 MiB'
}

@test "an alias bomb as a foreach list: exit 2 in bounded memory" {
	no_valgrind "address-space bound"
	{
		echo 'flowrun: 1'; echo 'vars:'
		echo '  a: &a [x, x, x, x, x, x, x, x, x, x]'
		aliases a b c d e f g h i
		echo 'tasks:'; echo '  t:'; echo '    foreach: {v: *i}'; echo '    run: "true"'
	} > flowrun.yaml
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:[0-9]+:[0-9]+: '
}

@test "a foreach product of a million by a million: exit 2 at once" {
	no_valgrind "address-space bound"
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {x: {range: 1000000}, y: {range: 1000000}}
    run: "true"
EOF
	run_bounded $((256 * MiB)) 30 --list
	expect_rejected '^flowrun: flowrun\.yaml:4:14: foreach makes more than [0-9]+ instances$'
}

@test "a foreach product of three lists of a thousand: exit 2 at once" {
	no_valgrind "address-space bound"
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {x: {range: 1000}, y: {range: 1000}, z: {range: 1000}}
    run: "true"
EOF
	run_bounded $((256 * MiB)) 30 -n
	expect_rejected '^flowrun: flowrun\.yaml:4:14: foreach makes more than [0-9]+ instances$'
}

@test "foreach over several tasks, millions of instances in all: exit 2 in bounded memory" {
	no_valgrind "address-space bound"
	awk 'BEGIN {
		print "flowrun: 1"; print "tasks:"
		for (i = 0; i < 4; i++) {
			print "  t" i ":"; print "    foreach: {x: {range: 3000000}}"; print "    run: \"true\""
		}
	}' > flowrun.yaml
	run_bounded $((1024 * MiB)) 60 --list
	expect_rejected '^flowrun: flowrun\.yaml:[0-9]+:[0-9]+: .*more than [0-9]+ (task )?instances$'
}

# each var doubles the one before: 32 << 39 bytes in the end
@test "vars that double each other's text 40 times: exit 2 in bounded memory" {
	no_valgrind "address-space bound"
	{
		echo 'flowrun: 1'; echo 'vars:'
		echo '  v0: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
		for i in $(seq 39); do
			echo "  v$i: \"\${{ v$((i - 1)) }}\${{ v$((i - 1)) }}\""
		done
		echo 'tasks:'; echo '  a:'; echo '    run: echo ${{ v39 }}'
	} > flowrun.yaml
	run_bounded $((1024 * MiB)) 60 --list
	expect_rejected '^flowrun: flowrun\.yaml:[0-9]+:[0-9]+: .*(too long|longer than|too large)'
}

# --- scale: 1,000,000 tasks are measured by hand (see the issue's note); the
# suite checks 200,000 with about twice the address space they need today.

@test "200,000 foreach instances with an output each load and dry-run in bounded memory" {
	no_valgrind "200,000 tasks"
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {i: {range: 200000}}
    run: "true"
    outputs: ["out/${{ i }}"]
EOF
	rc=0
	limited $((512 * MiB)) 120 -n > out.txt 2> err.txt || rc=$?
	cat err.txt
	[ "$rc" -eq 0 ] || { echo "exit $rc"; return 1; }
	[ "$(grep -c '^would run: t\[i=[0-9]*\] ' out.txt)" -eq 200000 ]
	grep -Fxq 'would run: t[i=199999] (no record of an earlier run)' out.txt
	[ ! -e out ]
}

@test "200,000 declared tasks with an output each load and dry-run in bounded memory" {
	no_valgrind "200,000 tasks"
	awk 'BEGIN {
		print "flowrun: 1"; print "tasks:"
		for (i = 0; i < 200000; i++) {
			print "  t" i ":"; print "    run: \"true\""; print "    outputs: [out/" i "]"
		}
	}' > flowrun.yaml
	rc=0
	limited $((768 * MiB)) 120 -n > out.txt 2> err.txt || rc=$?
	cat err.txt
	[ "$rc" -eq 0 ] || { echo "exit $rc"; return 1; }
	[ "$(grep -c '^would run: t[0-9]* ' out.txt)" -eq 200000 ]
	grep -Fxq 'would run: t199999 (no record of an earlier run)' out.txt
	[ ! -e out ]
}

# --- crash safety

# steps_pipeline N: N tasks, each writing its output in two steps with a pause
# of 0.01 to 0.09 s between, and a task that joins them, writing its output in
# N steps.
steps_pipeline() {
	pipeline <<EOF
flowrun: 1
tasks:
  t:
    foreach: {n: {range: $1}}
    run: echo a > out/\${{ n }}; sleep 0.0\$((\${{ n }} % 9 + 1)); echo b >> out/\${{ n }}
    outputs: ["out/\${{ n }}"]
  join:
    needs: [t]
    run: ': > all.txt; for n in \$(seq 0 $(($1 - 1))); do cat out/\$n >> all.txt; done'
    outputs: [all.txt]
EOF
	mkdir -p out
}

# wait_gone SID: wait up to ~10 s for every process of session SID to end
# (the tasks a killed flowrun left behind finish on their own); zombies do not
# count, since whoever adopted them may reap them late.
wait_gone() {
	local i
	for i in $(seq 200); do
		ps -o stat= -s "$1" | grep -qv '^Z' || return 0
		sleep 0.05
	done
	echo "processes of session $1 still running:"
	ps -o pid,stat,args -s "$1" || true
	return 1
}

# check_done_complete N: a dry run loads the state; every task it would not
# run has its complete output (one awk reads them all: this runs 20 times).
check_done_complete() {
	local bad
	run "$FLOWRUN" -n
	[ "$status" -eq 0 ] || { echo "$output"; echo "the dry run exited $status"; return 1; }
	if echo "$output" | grep -q 'unknown format'; then
		echo "$output"
		echo "the state was lost"
		return 1
	fi
	bad=$(echo "$output" | awk -v n="$1" '
		function content(f,   s, line) {
			s = ""
			while ((getline line < f) > 0)
				s = s line "\n"
			close(f)
			return s
		}
		/^would run: / { todo[$3] = 1 }
		END {
			for (i = 0; i < n; i++) {
				all = all "a\nb\n"
				if (!(("t[n=" i "]") in todo) && (s = content("out/" i)) != "a\nb\n")
					printf "t[n=%d] is taken as done, but out/%d holds: %s\n", i, i, s
			}
			if (!("join" in todo) && content("all.txt") != all)
				print "join is taken as done, but all.txt is incomplete"
		}')
	[ -z "$bad" ] || { echo "$bad"; return 1; }
}

@test "SIGKILL at random moments, 20 times in a row: nothing is taken as done without its outputs" {
	no_valgrind "20 runs killed at random moments"
	command -v setsid >/dev/null || skip "needs setsid"
	local n=300 round pid sid rc killed=0

	# a clean run elsewhere, for the final comparison
	mkdir clean && cd clean
	steps_pipeline $n
	run_ok -j 8
	cd ..

	mkdir killed && cd killed
	steps_pipeline $n
	for round in $(seq 20); do
		# its own session, so that the tasks it leaves behind can be waited for
		setsid "$FLOWRUN" -j 3 > "round$round.out" 2>&1 &
		pid=$!
		echo "$pid" > "$BATS_TEST_TMPDIR/bg.pids"	# for teardown, while it lives
		sleep "$(printf '0.%02d' $((RANDOM % 46 + 5)))"
		sid=$(ps -o sid= -p "$pid" | tr -d ' ' || true)
		kill -9 "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		: > "$BATS_TEST_TMPDIR/bg.pids"
		echo "round $round at $SECONDS s: exit $rc, $(grep -c '^\[' "round$round.out" || true) tasks reported"
		[ "$rc" -ne 137 ] || killed=$((killed + 1))
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 137 ]; then
			cat "round$round.out"
			echo "round $round: flowrun exited $rc (expected 0, or 137 for the kill)"
			return 1
		fi
		[ "$sid" != "$pid" ] || wait_gone "$sid"
		check_done_complete $n
	done
	# the tasks sleep 5 s in all at -j 3, so at least the first kill (within
	# 0.5 s) lands in the middle of the run
	[ "$killed" -ge 1 ]

	run_ok -j 3
	run_ok -j 3
	assert_ran_count 0
	for i in $(seq 0 $((n - 1))); do
		[ "$(cat "out/$i")" = "$(printf 'a\nb')" ] || { echo "out/$i: $(cat "out/$i")"; return 1; }
	done
	diff -r ../clean/out out
	cmp ../clean/all.txt all.txt
}

# --- a full disk and a state directory that cannot be written

# result_pipeline: two tasks whose results live only in the state, so that the
# state is the only thing a run writes; -D x=... changes a's command, and a's
# result of 16 KiB cannot fit in what is left of a page the state already has.
result_pipeline() {
	pipeline <<'EOF'
flowrun: 1
vars: {x: 1}
tasks:
  a:
    run: head -c 16384 /dev/zero | tr '\0' ${{ x }}
    result: stdout
  b:
    run: echo b
    result: stdout
EOF
}

@test "a full disk: exit 1 naming the state; after freeing space only what is needed reruns" {
	[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
	mkdir disk
	mount -t tmpfs -o size=200k tmpfs disk 2>/dev/null || skip "cannot mount a tmpfs here"
	touch mounted
	cd disk
	result_pipeline
	run_ok -D x=1
	assert_ran a
	assert_ran b
	# fill the disk
	head -c 1M /dev/zero > fill 2>/dev/null || true
	! (echo more >> fill) 2>/dev/null || { echo "the disk is not full"; return 1; }
	run_fails_with 1 '(\.flowrun|state).*No space left on device' -D x=2
	# the previous state is intact: with space again, x=1 runs nothing and
	# x=2 runs a alone
	rm fill
	run_ok -D x=1
	refute_output --partial 'unknown format'
	assert_ran_count 0
	run_ok -D x=2
	assert_ran a
	assert_ran_count 1
	run_ok -D x=2
	assert_ran_count 0
}

# as_other CMD...: run CMD as nobody (root ignores permissions), or as the
# current user when that is not root.
as_other() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
	else
		"$@"
	fi
}

@test "a state directory that cannot be written: exit 1 naming it; the previous state is kept" {
	local dir
	if [ "$(id -u)" -eq 0 ]; then
		command -v setpriv >/dev/null || skip "needs setpriv to run as nobody"
		as_other test -x "$FLOWRUN" 2>/dev/null || skip "nobody cannot run $FLOWRUN"
	fi
	# a directory the other user owns, outside the test's private one
	dir=$(mktemp -d "${TMPDIR:-/tmp}/flowrun-ro.XXXXXX")
	echo "$dir" > shared
	chmod 755 "$dir"
	cd "$dir"
	result_pipeline
	[ "$(id -u)" -ne 0 ] || chown -R nobody "$dir"
	run as_other "$FLOWRUN" -D x=1
	echo "$output"
	[ "$status" -eq 0 ]
	assert_ran a
	chmod -R a-w .flowrun
	cp -a .flowrun "$BATS_TEST_TMPDIR/before"
	run as_other "$FLOWRUN" -D x=2
	echo "$output"
	[ "$status" -eq 1 ] || { echo "expected exit 1, got $status"; return 1; }
	echo "$output" | grep -Eq '\.flowrun.*Permission denied'
	diff -r "$BATS_TEST_TMPDIR/before" .flowrun
	# a dry run only reads the state
	run as_other "$FLOWRUN" -n -D x=2
	echo "$output"
	[ "$status" -eq 0 ]
	assert_line 'would run: a (command changed)'
	chmod -R u+w .flowrun
	run as_other "$FLOWRUN" -D x=1
	echo "$output"
	[ "$status" -eq 0 ]
	assert_ran_count 0
	run as_other "$FLOWRUN" -D x=2
	echo "$output"
	[ "$status" -eq 0 ]
	assert_ran a
	assert_ran_count 1
}
