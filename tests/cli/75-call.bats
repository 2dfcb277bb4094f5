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

@test "-j bounds shell tasks, thread calls and process calls together, running side by side" {
	# each job makes its entry in held/, lists held/ into seen.log on entry and
	# after a while, then leaves: a line with more than 3 entries breaks -j 3
	plugin busy <<'EOF'
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <flowrun/task.h>
FLOWRUN_TASK_PLUGIN;
static void
observe(void)
{
	char line[4096];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir("held");
	int fd;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && n < sizeof(line) - 300)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s ", e->d_name);
	if (d)
		closedir(d);
	line[n++] = '\n';
	if ((fd = open("seen.log", O_WRONLY | O_APPEND | O_CREAT, 0666)) >= 0) {
		if (write(fd, line, n) < 0)
			n = 0;
		close(fd);
	}
}
json_t *
occupy(const json_t *args, struct flowrun_ctx *ctx)
{
	char path[512];
	struct timespec ts = {0, 150000000};
	(void)ctx;
	snprintf(path, sizeof(path), "held/%s", json_string_value(json_object_get(args, "name")));
	mkdir(path, 0777);
	observe();
	nanosleep(&ts, NULL);
	observe();
	rmdir(path);
	return json_true();
}
EOF
	cat > occupy.sh <<'EOF'
observe() { printf '%s\n' "$(ls held | tr '\n' ' ')" >> seen.log; }	# one write
mkdir "held/$1"; observe; sleep "$2"; observe; rmdir "held/$1"
EOF
	mkdir held
	pipeline <<'EOF'
flowrun: 1
tasks:
  sh:
    foreach: {s: [0.05, 0.15, 0.25, 1.5]}
    run: sh occupy.sh sh-${{ s }} ${{ s }}
  process:
    foreach: {i: {range: 4}}
    isolation: process
    call: {library: busy.so, function: occupy, args: {name: "process-${{ i }}"}}
  thread:
    foreach: {i: {range: 12}}
    call: {library: busy.so, function: occupy, args: {name: "thread-${{ i }}"}}
EOF
	run_ok -j 3
	assert_ran_count 20
	[ "$(wc -l < seen.log)" -eq 40 ]
	awk 'NF > 3 { print "over -j 3: " $0; bad = 1 } END { exit bad }' seen.log
	# they ran side by side: some moment saw three jobs, and shell tasks with
	# thread calls and with process calls
	awk 'NF == 3' seen.log | grep -q .
	grep -E 'sh-' seen.log | grep -q 'thread-'
	grep -E 'sh-' seen.log | grep -q 'process-'
}

@test "a signal leaves queued thread calls unstarted and keeps what finished" {
	plugin nap <<'EOF'
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <flowrun/task.h>
FLOWRUN_TASK_PLUGIN;
json_t *
nap(const json_t *args, struct flowrun_ctx *ctx)
{
	struct timespec ts = {0, 200000000};
	int fd;
	(void)args;
	(void)ctx;
	nanosleep(&ts, NULL);
	if ((fd = open("naps.log", O_WRONLY | O_APPEND | O_CREAT, 0666)) >= 0) {
		if (write(fd, "x\n", 2) < 0)
			ts.tv_sec = 0;
		close(fd);
	}
	return json_true();
}
EOF
	pipeline <<'EOF'
flowrun: 1
tasks:
  n:
    foreach: {i: {range: 100}}
    call: {library: nap.so, function: nap, args: {i: "${{ i }}"}}
EOF
	"$FLOWRUN" -j 2 > out.txt 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -s naps.log ] && break; sleep 0.05; done
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	cat out.txt
	[ "$status" -eq 130 ]
	# two threads were busy when ^C came; the calls queued behind them never ran
	napped=$(wc -l < naps.log)
	echo "napped: $napped"
	[ "$napped" -le 8 ]
	run_ok -j 8
	assert_ran_count $((100 - napped))
}

@test "a thread call is reported started when a thread picks it up, not when it queues" {
	plugin slow <<'EOF'
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <flowrun/task.h>
FLOWRUN_TASK_PLUGIN;
json_t *
slow(const json_t *args, struct flowrun_ctx *ctx)
{
	struct timespec ts = {0, 200000000};
	(void)ctx;
	nanosleep(&ts, NULL);
	return json_incref((json_t *)json_object_get(args, "i"));
}
EOF
	pipeline <<'EOF'
flowrun: 1
tasks:
  s:
    foreach: {i: {range: 3}}
    call: {library: slow.so, function: slow, args: {i: "${{ i }}"}}
EOF
	run_ok -j 1 --events ev.jsonl
	python3 - <<'EOF'
import json
ev = [json.loads(l) for l in open("ev.jsonl")]
st = {e["instance"]: e["elapsed"] for e in ev if e["event"] == "task_started"}
fin = {e["instance"]: e["elapsed"] for e in ev if e["event"] == "task_finished"}
names = ["s[i=%d]" % i for i in range(3)]
print(st, fin)
assert sorted(st) == names and sorted(fin) == names
for a, b in zip(names, names[1:]):
    # one thread at -j 1: each starts after the one before it finished
    assert st[b] >= fin[a] - 0.01 and st[b] - st[a] >= 0.15, (a, b)
for n in names:
    assert 0.15 <= fin[n] - st[n] < 1.5, n
EOF
}

@test "FLOWRUN_CALL_WORKER names the program that serves process calls" {
	cp "$PLUGINS/libmath.so" .
	real=$(readlink -f "${FLOWRUN_REAL:-$FLOWRUN}")
	printf '#!/bin/sh\necho "worker $*" >> worker.log\nexec %s "$@"\n' "$real" > worker.sh
	chmod +x worker.sh
	pipeline <<'EOF'
flowrun: 1
tasks:
  p:
    isolation: process
    call: {library: libmath.so, function: inc, args: {x: 41}}
EOF
	FLOWRUN_CALL_WORKER=$PWD/worker.sh run_ok -q --result p
	[ "$output" = 42 ]
	[ "$(cat worker.log)" = "worker --call-worker" ]
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
