#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The no-op rerun answered from .flowrun/uptodate: taken only when nothing the
# last run decided from has changed, presented as the long way presents it, and
# given up for the long way by every kind of change.
load helpers

bats_require_minimum_version 1.5.0

# Two tasks through a file and a glob input, with a var and an env reference.
two() {
	mkdir -p in
	echo 1 > in/a.csv
	echo 2 > in/b.csv
	pipeline <<'EOF'
flowrun: 1
vars: {tag: x}
tasks:
  cat:
    inputs: ["in/*.csv"]
    run: cat in/*.csv > all.txt; echo ${{ tag }}-${{ env.FLOWRUN_T_STAMP }} >> all.txt
    outputs: [all.txt]
  count:
    inputs: [all.txt]
    run: wc -l < all.txt > n.txt
    outputs: [n.txt]
EOF
	export FLOWRUN_T_STAMP=one
}

# opened ARGS...: run flowrun under strace; $opened lists the files it opened.
opened() {
	command -v strace >/dev/null || skip "strace is not installed (apt-get install strace)"
	# LeakSanitizer cannot work under ptrace: an ASan build checks leaks elsewhere
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    run strace -f -qq -e trace=open,openat -o trace.txt "$FLOWRUN" "$@"
	echo "$output"
	[ "$status" -eq 0 ]
	opened=$(sed -n 's/.*open[a-z]*(.*"\([^"]*\)".*/\1/p' trace.txt)
}

# Whether the last strace'd run read the pipeline or the state.
assert_answered_from_stamp() {
	echo "$opened" | grep -qx '.flowrun/uptodate' || { echo "the stamp was not read"; return 1; }
	if echo "$opened" | grep -Eqx 'flowrun.yaml|.*/?\.flowrun/state|.*tree\.flowrun\.yaml'; then
		echo "the long way was taken:"; echo "$opened"; return 1
	fi
}

@test "a no-op rerun is answered from the stamp without reading the pipeline or the state" {
	two
	run_ok
	assert_ran cat
	assert_ran count
	[ -s .flowrun/uptodate ]
	opened
	assert_answered_from_stamp
	assert_ran_count 0
	# the stamp holds the stat data the files had: none of them is hashed
	if echo "$opened" | grep -Eqx 'in/.*|all.txt|n.txt'; then
		echo "a file was hashed:"; echo "$opened"; return 1
	fi
}

@test "the answer from the stamp looks like the long way's: progress line, last-run record, exit status" {
	two
	run_ok
	run_ok --progress=tty --color=never
	fast=$(printf '%s\n' "$output" | tr '\r' '\n' | grep . | tail -n 1 | sed 's/, [0-9.]*s[^,]*$//')
	grep -v '"time"' .flowrun/last-run.json > fast.json
	tail -n +2 .flowrun/last-run.json > fast.tasks
	FLOWRUN_UPTODATE=0 run_ok --progress=tty --color=never
	slow=$(printf '%s\n' "$output" | tr '\r' '\n' | grep . | tail -n 1 | sed 's/, [0-9.]*s[^,]*$//')
	tail -n +2 .flowrun/last-run.json > slow.tasks
	echo "fast: $fast"; echo "slow: $slow"
	[ "$fast" = "$slow" ]
	[ "$fast" = "[2/2] 0 ran, 0 failed, 2 up to date" ]
	diff fast.tasks slow.tasks
	grep -q '"count": "up_to_date"' fast.tasks
	run_ok --progress=plain
	[ -z "$output" ]
}

@test "every kind of change takes the long way: input content, a glob's new match, the pipeline, -D, env.NAME, targets" {
	two
	run_ok
	run_ok
	assert_ran_count 0
	echo 3 > in/a.csv			# same size, other content
	run_ok
	assert_ran cat
	assert_ran count
	echo 4 > in/c.csv			# a new match of the glob
	run_ok
	assert_ran cat
	assert_ran count
	run_ok -D tag=y
	assert_ran cat
	run_ok -D tag=y
	assert_ran_count 0
	run_ok					# back to the pipeline's tag
	assert_ran cat
	FLOWRUN_T_STAMP=two run_ok
	assert_ran cat
	run_ok
	assert_ran cat
	sed -i 's/wc -l/wc -l -c/' flowrun.yaml
	run_ok
	assert_ran count
	assert_skipped cat
	run_ok
	assert_ran_count 0
	rm n.txt				# an output removed
	run_ok
	assert_ran count
	run_ok count				# another target: what it needs is up to date
	assert_ran_count 0
	run_ok
	assert_ran_count 0
	rm .flowrun/state			# no records: everything runs
	run_ok
	assert_ran cat
	assert_ran count
}

@test "an unset env.NAME is still an error when nothing else changed" {
	two
	run_ok
	unset FLOWRUN_T_STAMP
	run_fails_with 2 "environment variable 'FLOWRUN_T_STAMP' is not set"
}

@test "a foreach glob that gains a file runs the new instance" {
	mkdir -p data
	echo a > data/1.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  up:
    foreach: {f: {glob: "data/*.txt"}}
    run: tr a-z A-Z < ${{ f }} > ${{ f }}.up
    outputs: ["${{ f }}.up"]
EOF
	run_ok
	run_ok
	assert_ran_count 0
	echo b > data/2.txt
	run_ok
	assert_ran 'up[f=data/2.txt]'
	assert_ran_count 1
}

@test "a failed run leaves no stamp, and what failed runs again" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  ok:
    run: echo ok > ok.txt
    outputs: [ok.txt]
  flaky:
    run: test -e go && echo yes > f.txt
    outputs: [f.txt]
EOF
	run_fails_with 1 'flaky'
	[ ! -e .flowrun/uptodate ]
	run_fails_with 1 'flaky'
	touch go
	run_ok
	assert_ran flaky
	[ -e .flowrun/uptodate ]
}

@test "a task that always runs is never answered from the stamp" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  tick:
    always: true
    run: echo tick >> ticks.txt
EOF
	run_ok
	run_ok
	assert_ran tick
	[ ! -e .flowrun/uptodate ]
	[ "$(wc -l < ticks.txt)" -eq 2 ]
}

@test "a damaged stamp is no stamp: the long way decides, and writes a good one" {
	two
	run_ok
	head -c 100 .flowrun/uptodate > cut && mv cut .flowrun/uptodate
	run_ok
	assert_ran_count 0
	head -c 5000 /dev/urandom > .flowrun/uptodate
	run_ok
	assert_ran_count 0
	opened
	assert_answered_from_stamp
}

@test "a rebuilt plugin library reruns its call task" {
	command -v cc >/dev/null || skip "no C compiler"
	cat > p.c <<'EOF'
#include <flowrun/task.h>
FLOWRUN_TASK_PLUGIN;
json_t *v(const json_t *args, struct flowrun_ctx *ctx)
{ (void)args; (void)ctx; return json_integer(VAL); }
EOF
	build() {
		cc -std=c11 -shared -fPIC -DVAL="$1" -I"$FLOWRUN_SRCDIR/include" \
		    $(pkg-config --cflags jansson) -o p.so p.c $(pkg-config --libs jansson)
	}
	build 1
	pipeline <<'EOF'
flowrun: 1
tasks:
  v:
    call: {library: ./p.so, function: v}
EOF
	run_ok -q --result v
	[ "$output" = 1 ]
	run_ok
	run_ok
	assert_ran_count 0
	build 2
	run_ok
	assert_ran v
	run_ok -q --result v
	[ "$output" = 2 ]
}

@test "--no-wait fails on a held lock whether or not the stamp could answer" {
	command -v flock >/dev/null || skip "flock(1) is not installed"
	two
	run_ok
	flock .flowrun/lock sleep 5 &
	holder=$!
	sleep 0.3
	run_fails_with 1 'another flowrun' --no-wait
	kill $holder
	wait $holder || true
}

@test "-n on a no-op is answered without writing the last-run record" {
	two
	run_ok
	cp .flowrun/last-run.json before.json
	opened -n
	assert_answered_from_stamp
	cmp before.json .flowrun/last-run.json
	[ -z "$output" ]
}

@test "a touched input is hashed once from the stamp: same content, still no load, and the stamp learns its new stat data" {
	two
	run_ok
	sleep 0.05
	touch in/a.csv
	opened
	assert_answered_from_stamp
	assert_ran_count 0
	echo "$opened" | grep -qx 'in/a.csv' || { echo "in/a.csv was not hashed"; return 1; }
	opened
	assert_answered_from_stamp
	if echo "$opened" | grep -qx 'in/a.csv'; then echo "in/a.csv was hashed again"; return 1; fi
	cp in/b.csv b.keep; echo 9 > in/b.csv; cp b.keep in/b.csv	# new inode data, same bytes
	opened
	assert_answered_from_stamp
	echo 7 > in/b.csv					# same size, other bytes
	run_ok
	assert_ran cat
}

@test "the first run caches the parsed pipeline, since the no-ops after it may never load it" {
	two
	run_ok
	[ -s .flowrun/tree.flowrun.yaml ]
	echo 5 > in/a.csv
	opened
	assert_ran cat
	if echo "$opened" | grep -qx 'flowrun.yaml'; then echo "the pipeline was parsed again"; return 1; fi
}
