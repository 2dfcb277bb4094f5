#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Call tasks: C functions from plugins or built-ins, on threads or in worker
# processes, their JSON results flowing into later tasks (the Dask numbers).
load helpers

BUILDDIR=${FLOWRUN_BUILDDIR:-$BATS_TEST_DIRNAME/../..}
PLUGINS=$BUILDDIR/examples/plugins

# plugin NAME <<EOF ... EOF: build a plugin from C source on stdin into ./NAME.so.
plugin() {
	cat > "$1.c"
	cc -std=c11 -shared -fPIC -I"$FLOWRUN_SRCDIR/include" $(pkg-config --cflags jansson) \
		-o "$1.so" "$1.c" $(pkg-config --libs jansson)
}

# delayed ARGS...: run the delayed example (a copy) with this build's plugins.
delayed() {
	[ -d delayed ] || cp -r "$FLOWRUN_SRCDIR/examples/delayed" .
	run "$FLOWRUN" -C delayed -D plugins="$PLUGINS" "$@"
	echo "$output"
}

@test "the Dask numbers: 47, 27268, 100, and sum_to_n(1000) on a thread and in a process" {
	delayed -q --result total --result sum --result expression --result threaded \
		--result processes --result minus --result plus
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '47\n27268\n100\n500500\n500500\n4\n13')" ]
}

@test "a shared intermediate is computed once when both its users are asked for" {
	delayed -D log="$PWD/calls.log" minus plus
	[ "$status" -eq 0 ]
	[ "$(grep -c '^nine$' calls.log)" -eq 1 ]
	assert_ran nine
}

@test "a fan-out's results reach a built-in as a list in instance order" {
	delayed --result square --result sum
	[ "$status" -eq 0 ]
	assert_line '[900,7225,196,144,729,3844,7921,225,6084,0]'
	assert_line 27268
}

@test "a skipped call task still hands on its result" {
	delayed -q total
	[ "$status" -eq 0 ]
	delayed --result total
	[ "$status" -eq 0 ]
	assert_ran_count 0
	assert_line 47
}

@test "the key covers the library's content: a rebuilt library reruns its tasks, a touched one does not" {
	cp "$PLUGINS/libmath.so" .
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    call: {library: libmath.so, function: inc, args: {x: 1}}
  b:
    call: {function: len, args: {values: [1, 2]}}
EOF
	run_ok
	assert_ran a
	touch libmath.so
	run_ok
	assert_ran_count 0
	printf 'X' >> libmath.so
	run_ok --explain
	assert_ran a
	assert_line 'explain: a: input libmath.so changed'
	assert_skipped b
}

@test "an unchanged result stops the rerun wave (early cutoff on results)" {
	cp "$PLUGINS/libmath.so" .
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    call: {library: libmath.so, function: add, args: {x: 10, y: 6}}
  b:
    call: {library: libmath.so, function: inc, args: {x: "${{ tasks.a.result }}"}}
EOF
	run_ok --result b
	assert_line 17
	sed -i 's/x: 10, y: 6/x: 8, y: 8/' flowrun.yaml
	run_ok --explain --result b
	assert_ran a
	assert_skipped b
	assert_line 'explain: a: command changed'
	assert_line 17
}

@test "the args are part of the key, canonically: reordered keys run nothing" {
	cp "$PLUGINS/libmath.so" .
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    call: {library: libmath.so, function: add, args: {x: 1, y: 2}}
EOF
	run_ok
	sed -i 's/{x: 1, y: 2}/{y: 2, x: 1}/' flowrun.yaml
	run_ok
	assert_ran_count 0
}

@test "a missing library, a missing function, a library that is no plugin, or one for another ABI: clear failures" {
	plugin notaplugin <<'EOF'
int nothing(void) { return 0; }
EOF
	plugin oldabi <<'EOF'
const int flowrun_task_abi = 99;
EOF
	cp "$PLUGINS/libmath.so" .
	for iso in thread process; do
		pipeline <<EOF
flowrun: 1
tasks:
  missing:
    isolation: $iso
    call: {library: nowhere.so, function: inc}
  nofunction:
    isolation: $iso
    call: {library: libmath.so, function: nope}
  noplugin:
    isolation: $iso
    call: {library: notaplugin.so, function: nothing}
  old:
    isolation: $iso
    call: {library: oldabi.so, function: f}
EOF
		run_fails_with 1 'FAILED: missing: (cannot load library nowhere.so|missing input)' -k
		assert_line --partial "FAILED: nofunction: library libmath.so has no function 'nope'"
		assert_line --partial "FAILED: noplugin: library notaplugin.so is not a flowrun plugin: it has no symbol flowrun_task_abi"
		assert_line --partial "FAILED: old: library oldabi.so was built for plugin ABI 99; this flowrun speaks ABI 1"
	done
}

@test "an error a function reports fails its task with the message" {
	cp "$PLUGINS/libmath.so" .
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    call: {library: libmath.so, function: inc, args: {x: "one"}}
  p:
    isolation: process
    call: {library: libmath.so, function: inc, args: {x: "two"}}
EOF
	run_fails_with 1 'FAILED: t: args.x must be an integer' -k
	assert_line --partial 'FAILED: p: args.x must be an integer'
}

@test "a crash in a worker process fails that task alone, naming the signal; the worker is replaced" {
	# under a sanitizer build, let the signal kill the worker as it would
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
	export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}handle_segv=0"
	cp "$PLUGINS/libmath.so" .
	pipeline <<'EOF'
flowrun: 1
tasks:
  boom:
    isolation: process
    priority: 10
    call: {library: libmath.so, function: crash}
  after:
    isolation: process
    call: {library: libmath.so, function: sum_to_n, args: {n: 10}}
EOF
	run_fails_with 1 'FAILED: boom: the worker process was killed by signal 11 \(Segmentation fault\)' -k -j 1 boom after
	assert_ran after
	run "$FLOWRUN" -q --result after after
	[ "$output" = 55 ]
}

@test "a timeout kills a call task's worker process" {
	cp "$PLUGINS/libmath.so" .
	pipeline <<'EOF'
flowrun: 1
tasks:
  forever:
    isolation: process
    timeout: 500ms
    call: {library: libmath.so, function: spin}
EOF
	run_fails_with 1 'FAILED: forever: timed out after 0.5s \(worker process killed\)'
}

@test "built-ins: sum, min, max and len keep their JSON types" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  s:
    call: {function: sum, args: {values: [1, 2, 3]}}
  f:
    call: {function: sum, args: {values: [1, 2.5]}}
  lo:
    call: {function: min, args: {values: [3, -2, 7]}}
  hi:
    call: {function: max, args: {values: [3, 9.5, 7]}}
  n:
    call: {function: len, args: {values: [a, b, c, d]}}
  bad:
    call: {function: max, args: {values: [1, x]}}
EOF
	run_fails_with 1 'FAILED: bad: args.values\[1\] is not a number' -k
	run_ok -q --result s --result f --result lo --result hi --result n
	[ "$output" = "$(printf '6\n3.5\n-2\n9.5\n4')" ]
}

@test "shell and call tasks share one -j budget and results flow between them" {
	cp "$PLUGINS/libmath.so" .
	pipeline <<'EOF'
flowrun: 1
tasks:
  count:
    run: echo 41
    result: stdout
  next:
    call: {library: libmath.so, function: inc, args: {x: "${{ tasks.count.result }}"}}
  show:
    run: echo "answer=${{ tasks.next.result }}"
EOF
	run_ok -j 1 show
	assert_line 'answer=42'
}

@test "the track-length pipeline with a C function per file and the built-in max" {
	cp -r "$FLOWRUN_SRCDIR/examples/tracks-c" .
	run_ok -C tracks-c -D plugins="$PLUGINS" --result longest --result maximum
	want=$(awk -F, 'FNR > 1 && $2 + 0 > m { m = $2 + 0 } END { print m }' tracks-c/data/*.csv)
	assert_line "$want"
	assert_line '[90082,90040,90087,90067]'
	run_ok -C tracks-c -D plugins="$PLUGINS"
	assert_ran_count 0
}

@test "a plugin builds against an installed flowrun through pkg-config" {
	make -s -C "$BUILDDIR" install DESTDIR="$PWD/root" prefix=/usr >/dev/null
	export PKG_CONFIG_PATH="$PWD/root/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$PWD/root"
	cc -shared -fPIC -o libmath.so "$FLOWRUN_SRCDIR/examples/plugins/math.c" \
		$(pkg-config --cflags --libs flowrun-task)
	[ -f root/usr/include/flowrun/task.h ]
	cp -r "$FLOWRUN_SRCDIR/examples/delayed" .
	run "$FLOWRUN" -q -C delayed -D plugins="$PWD" --result total
	echo "$output"
	[ "$output" = 47 ]
}

@test "call tasks held back by a pool start when it frees up (no other event comes)" {
	pipeline <<'EOF'
flowrun: 1
pools: {p: 1}
tasks:
  t:
    foreach: {i: [1, 2, 3]}
    call: {function: len, args: {values: ["${{ i }}"]}}
    pool: p
EOF
	run timeout 20 "$FLOWRUN" -j 3
	echo "$output"
	[ "$status" -eq 0 ]
	assert_ran_count 3
}
