#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Running tasks: parallelism under -j, whole output blocks, failures with and
# without -k, the failure summary, signals, timeouts, retries, exit statuses,
# env, dir, shell, outputs, inputs, interruption and results.
load helpers

bats_require_minimum_version 1.5.0

# Processes started in the background by a test, and the sleeps its tasks
# started (their pids in *.pid files), are killed by pid when the test ends,
# so that none outlives a failing test.
teardown() {
	local p
	for p in $(cat bg.pids 2>/dev/null); do
		kill -9 "$p" 2>/dev/null || true
	done
	for p in $(cat ./*.pid 2>/dev/null); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && kill -9 "$p" 2>/dev/null
	done
	return 0
}

# gone PID: the process no longer runs (it does not exist, or it is a zombie
# waiting for a parent that does not reap it).
gone() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ]
}

# wait_gone PID: wait up to ~5 s for PID to be gone.
wait_gone() {
	local i
	for i in $(seq 50); do
		gone "$1" && return 0
		sleep 0.1
	done
	echo "process $1 is still running"
	return 1
}

# wait_sleeping PID: wait up to ~5 s for PID to have become a sleep(1)
# (forked and exec'd, with the signal dispositions it will keep).
wait_sleeping() {
	local i
	for i in $(seq 50); do
		[ "$(cat "/proc/$1/comm" 2>/dev/null)" = sleep ] && return 0
		sleep 0.1
	done
	echo "process $1 is not a sleep"
	return 1
}

# wait_file FILE: wait up to ~5 s for FILE to exist.
wait_file() {
	local i
	for i in $(seq 50); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "$1 never appeared"
	return 1
}

# block_after TASK N: the N lines printed after TASK's "[n/N] TASK" line.
block_after() {
	echo "$output" | awk -v name="$1" -v n="$2" '
		found && n-- > 0 { print; next }
		found { exit }
		$0 ~ /^\[[0-9]+\/[0-9]+\] / && substr($0, index($0, "] ") + 2) == name { found = 1 }'
}

# A command that marks its task as started and waits (at most ~5 s) for the
# other task's mark: it succeeds only when both run at the same time.
rendezvous() {
	echo "touch $1.started; i=0; while [ ! -e $2.started ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done; [ -e $2.started ]"
}

@test "-j 2 runs two independent tasks at the same time" {
	pipeline <<EOF
flowrun: 1
tasks:
  a:
    run: $(rendezvous a b)
  b:
    run: $(rendezvous b a)
EOF
	run_ok -j 2
	assert_ran a
	assert_ran b
	assert_ran_count 2
}

@test "-j 1 runs one task at a time" {
	# Each task counts the tasks running (under a mkdir lock) and keeps the
	# highest count seen in max.
	cat > track.sh <<'EOF'
lock() { while ! mkdir cnt.lock 2>/dev/null; do sleep 0.01; done; }
unlock() { rmdir cnt.lock; }
lock
n=$(cat cnt 2>/dev/null || echo 0); n=$((n + 1)); echo $n > cnt
m=$(cat max 2>/dev/null || echo 0); if [ $n -gt $m ]; then echo $n > max; fi
unlock
sleep 0.2
lock
n=$(cat cnt); echo $((n - 1)) > cnt
unlock
EOF
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {i: [1, 2, 3, 4]}
    run: sh track.sh ${{ i }}
EOF
	run_ok -j 1
	assert_ran_count 4
	[ "$(cat max)" -eq 1 ]
	[ "$(cat cnt)" -eq 0 ]
}

@test "each task's output is printed whole under its name, never interleaved" {
	# Both tasks wait for each other first, so they print at the same time.
	pipeline <<EOF
flowrun: 1
tasks:
  a:
    run: $(rendezvous a b) || exit 1; for i in \$(seq 200); do echo "a line \$i"; sleep 0.002; done
  b:
    run: $(rendezvous b a) || exit 1; for i in \$(seq 200); do echo "b line \$i"; sleep 0.002; done
EOF
	run_ok -j 2
	assert_ran a
	assert_ran b
	[ "$(echo "$output" | grep -c '^a line')" -eq 200 ]
	[ "$(echo "$output" | grep -c '^b line')" -eq 200 ]
	diff <(block_after a 200) <(for i in $(seq 200); do echo "a line $i"; done)
	diff <(block_after b 200) <(for i in $(seq 200); do echo "b line $i"; done)
}

@test "ready tasks start by priority, then in the order they are declared" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  a: {run: echo a >> order}
  b: {run: echo b >> order, priority: 5}
  c: {run: echo c >> order, priority: -1}
  d: {run: echo d >> order, priority: 5}
  e: {run: echo e >> order}
  f:
    foreach: {i: [1, 2, 3]}
    run: echo f${{ i }} >> order
    priority: 3
  g: {run: echo g >> order, priority: 2000000000}
EOF
	run_ok -j 1
	[ "$(tr '\n' ' ' < order)" = "g b d f1 f2 f3 a e c " ]
}

@test "stdout and stderr of a task are captured together, in order" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: echo one; echo two >&2; echo three
EOF
	run_ok
	diff <(block_after t 3) <(printf '%s\n' one two three)
}

@test "without -k the first failure starts nothing new but lets running tasks finish" {
	# bad fails only once slow has started; slow finishes after bad failed.
	pipeline <<'EOF'
flowrun: 1
tasks:
  bad:
    run: i=0; while [ ! -e slow.started ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; touch bad.failing; exit 3
  slow:
    run: touch slow.started; i=0; while [ ! -e bad.failing ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; sleep 0.3; echo done > slow.out
    outputs: slow.out
  later:
    run: touch later.out
    outputs: later.out
  after_slow:
    needs: slow
    run: touch after_slow.out
    outputs: after_slow.out
EOF
	run_fails_with 1 'FAILED: bad: exit status 3' -j 2
	assert_ran slow
	assert_skipped later
	assert_skipped after_slow
	assert_output --partial '2 tasks were not run'
	[ -e slow.out ]
	[ ! -e later.out ]
	[ ! -e after_slow.out ]
	# slow's success was recorded even though the run failed
	run flowrun -n --explain
	assert_line 'explain: slow: up to date'
	assert_line 'would run: bad (no record of an earlier run)'
}

@test "-k runs everything that does not depend on the failure" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  bad:
    run: exit 1
  dep1:
    needs: bad
    run: touch dep1.out
  dep2:
    needs: dep1
    run: touch dep2.out
  free1:
    run: touch free1.out
  free2:
    needs: free1
    run: touch free2.out
  mixed:
    needs: [free1, bad]
    run: touch mixed.out
EOF
	run_fails_with 1 'FAILED: bad: exit status 1' -k -j 1
	assert_ran free1
	assert_ran free2
	assert_skipped dep1
	assert_skipped dep2
	assert_skipped mixed
	assert_ran_count 2
	assert_output --partial '3 tasks were not run'
	[ -e free1.out ] && [ -e free2.out ]
	[ ! -e dep1.out ] && [ ! -e dep2.out ] && [ ! -e mixed.out ]
}

@test "the failure summary names each failed task, its exit status and its last lines" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  bad:
    run: for i in $(seq 15); do echo "bad line $i"; done; exit 7
  worse:
    run: echo "only line" >&2; exit 4
  fine:
    run: echo fine
EOF
	run --separate-stderr "$FLOWRUN" -k -j 1
	echo "stdout: $output"
	echo "stderr: $stderr"
	[ "$status" -eq 1 ]
	assert_line --regexp '^\[[0-9]+/3\] FAILED: bad: exit status 7$'
	assert_line --regexp '^\[[0-9]+/3\] FAILED: worse: exit status 4$'
	# the whole output goes to stdout with the FAILED line
	[ "$(echo "$output" | grep -c '^bad line')" -eq 15 ]
	# the summary is on stderr, with the last 10 lines
	output=$stderr
	lines=("${stderr_lines[@]}")
	assert_line 'flowrun: 2 tasks failed:'
	assert_line '  bad: exit status 7'
	assert_line '  worse: exit status 4'
	assert_line '    | only line'
	for i in $(seq 6 15); do
		assert_line "    | bad line $i"
	done
	refute_line '    | bad line 5'
	refute_output --partial fine
}

@test "a task killed by a signal says so" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: echo before; kill -9 $$
EOF
	run_fails_with 1 'FAILED: t: killed by signal 9' -j 1
	assert_output --partial '  t: killed by signal 9'
	assert_line before
}

@test "a timeout kills the task's whole process group" {
	# one grandchild holds the task's output pipe, the other does not
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: sleep 60 & echo $! > piped.pid; sleep 60 > /dev/null 2>&1 & echo $! > detached.pid; sleep 60
    timeout: 1s
EOF
	run_fails_with 1 'FAILED: t: timed out' -j 1
	assert_output --partial '  t: timed out'
	[ -s piped.pid ] && [ -s detached.pid ]
	wait_gone "$(cat piped.pid)"
	wait_gone "$(cat detached.pid)"
}

@test "a timeout kills a process of the group that ignores SIGTERM" {
	# SIGKILL follows the grace when the group has not exited, even though
	# the shell has exited and the output pipes are closed
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: (trap '' TERM; exec sleep 60) > /dev/null 2>&1 & echo $! > stubborn.pid; sleep 60
    timeout: 1s
EOF
	run_fails_with 1 'FAILED: t: timed out' -j 1
	[ -s stubborn.pid ]
	wait_gone "$(cat stubborn.pid)"
}

@test "retries run a failing task again; it succeeds when an attempt does" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ $n -gt 2 ]
    retries: 2
EOF
	run_ok -j 1
	assert_line --regexp '^\[[0-9]+/1\] t failed \(exit status 1\), retry 1 of 2$'
	assert_line --regexp '^\[[0-9]+/1\] t failed \(exit status 1\), retry 2 of 2$'
	assert_line 'attempt 1'
	assert_line 'attempt 3'
	assert_ran t
	[ "$(cat count)" -eq 3 ]
}

@test "retries also rerun a task that timed out; each attempt has the whole timeout" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; if [ $n -eq 1 ]; then sleep 60; fi; echo "attempt $n"
    timeout: 1s
    retries: 1
EOF
	run_ok -j 1
	assert_line --regexp '^\[[0-9]+/1\] t failed \(timed out.*\), retry 1 of 1$'
	assert_line 'attempt 2'
	[ "$(cat count)" -eq 2 ]
}

@test "retries fail the task when the last attempt fails" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ $n -gt 2 ]
    retries: 1
EOF
	run_fails_with 1 'FAILED: t: exit status 1' -j 1
	assert_line --regexp '^\[[0-9]+/1\] t failed \(exit status 1\), retry 1 of 1$'
	assert_skipped t
	[ "$(cat count)" -eq 2 ]
}

@test "retries come from defaults too" {
	pipeline <<'EOF'
flowrun: 1
defaults:
  retries: 2
tasks:
  t:
    run: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -gt 2 ]
EOF
	run_ok -j 1
	[ "$(cat count)" -eq 3 ]
}

@test "a bad command line exits 2 and runs nothing" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: touch ran
EOF
	run_fails_with 2 . --no-such-option
	run_fails_with 2 '-j abc' -j abc
	run_fails_with 2 . -j
	run_fails_with 2 'expected NAME=VALUE' -D novalue
	run_fails_with 2 'no-such-task' no-such-task
	[ ! -e ran ]
	[ ! -e .flowrun ]
}

@test "a bad pipeline exits 2 and runs nothing" {
	pipeline <<'EOF'
flowrun: 2
tasks:
  t:
    run: touch ran
EOF
	run_fails_with 2 'flowrun.yaml:1:10: unsupported format version'
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: touch ran
    ouputs: x
EOF
	run_fails_with 2 "unknown key 'ouputs'"
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    needs: b
    run: touch ran
  b:
    needs: a
    run: touch ran
EOF
	run_fails_with 2 'cycle'
	[ ! -e ran ]
	[ ! -e .flowrun ]
}

@test "the pipeline env and the task env reach the command; \${HOME} is the shell's" {
	pipeline <<'EOF'
flowrun: 1
env:
  GREETING: hello
  NUM: 5
  FLAG: true
tasks:
  plain:
    run: echo "$GREETING $NUM $FLAG" > plain.txt
    outputs: plain.txt
  over:
    env:
      GREETING: hi
      WHO: world
    run: echo "$GREETING $WHO $NUM" > over.txt
    outputs: over.txt
  home:
    run: echo ${HOME} > home.txt
    outputs: home.txt
EOF
	run_ok
	[ "$(cat plain.txt)" = "hello 5 true" ]
	[ "$(cat over.txt)" = "hi world 5" ]
	[ "$(cat home.txt)" = "$HOME" ]
}

@test "the task inherits flowrun's environment" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: echo "$FLOWRUN_TEST_INHERITED" > t.txt
    outputs: t.txt
EOF
	FLOWRUN_TEST_INHERITED=from-outside run_ok
	[ "$(cat t.txt)" = from-outside ]
}

@test "dir runs the command in that directory; paths stay relative to the pipeline" {
	mkdir -p sub/deeper
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    dir: sub/deeper
    run: pwd -P > ../../where.txt
    outputs: where.txt
EOF
	run_ok
	[ "$(cat where.txt)" = "$(cd sub/deeper && pwd -P)" ]
}

@test "a dir that does not exist fails the task" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    dir: nowhere
    run: touch ran
EOF
	run_fails_with 1 'FAILED: t: .*nowhere'
	[ ! -e ran ] && [ ! -e nowhere/ran ]
}

@test "shell: bash -c runs a bash-only command" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    shell: bash -c
    run: 'arr=(x y z); [[ ${#arr[@]} == 3 ]] && echo "${arr[1]} ${BASH_VERSION:+bash}" > t.txt'
    outputs: t.txt
EOF
	run_ok
	[ "$(cat t.txt)" = "y bash" ]
}

@test "shell: bash -euo pipefail -c makes a failing pipeline fail" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    shell: bash -euo pipefail -c
    run: false | cat; touch ran
EOF
	run_fails_with 1 'FAILED: t: exit status 1'
	[ ! -e ran ]
}

@test "the parent directories of outputs are created" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: echo x > out/deep/er/t.txt
    outputs: out/deep/er/t.txt
EOF
	run_ok
	[ "$(cat out/deep/er/t.txt)" = x ]
}

@test "a declared output that is not created fails the task" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: touch made
    outputs: [made, x]
  after:
    inputs: x
    run: touch after.out
EOF
	run_fails_with 1 "FAILED: t: output 'x' was not created"
	assert_output --partial "  t: output 'x' was not created"
	assert_skipped after
	[ ! -e after.out ]
	# not recorded: it runs again
	run flowrun -n --explain
	assert_line 'would run: t (no record of an earlier run)'
}

@test "an output under a file is not created; an output that is a directory cannot be read" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    run: rm -r f && touch f
    outputs: [f/x]
  b:
    run: mkdir -p d
    outputs: [d]
EOF
	run_fails_with 1 "FAILED: a: output 'f/x' was not created" -k
	assert_output --partial "FAILED: b: cannot read d: Is a directory"
}

@test "a missing input fails the task" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    inputs: not-here.txt
    run: touch ran
EOF
	run_fails_with 1 "FAILED: t: missing input 'not-here.txt'"
	[ ! -e ran ]
}

@test "a command that is not found fails (exit 127 from sh)" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: no-such-command-xyz "arg"
EOF
	run_fails_with 1 'FAILED: t: exit status 127'
	assert_output --partial 'no-such-command-xyz'
}

@test "a command without shell syntax that is not found fails" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: no-such-command-xyz arg
EOF
	# valgrind runs posix_spawn as a plain fork, which cannot report a failed exec
	[ -z "${FLOWRUN_UNDER_VALGRIND-}" ] || skip "valgrind loses posix_spawn's exec error"
	run_fails_with 1 'FAILED: t: .*no-such-command-xyz'
}

# interrupt SIGNAL STATUS COMMAND: flowrun gets SIGNAL while its task runs
# COMMAND (which writes the pids of its sleeps to *.pid and then the file
# started), stops the task's process group and exits STATUS.
interrupt() {
	pipeline <<EOF
flowrun: 1
tasks:
  t:
    run: $3
  later:
    needs: t
    run: touch later.out
EOF
	"$FLOWRUN" -j 1 > flowrun.out 2>&1 3>&- &
	local pid=$! rc=0 p
	echo "$pid" >> bg.pids
	wait_file started
	for p in $(cat ./*.pid); do
		wait_sleeping "$p"
	done
	kill "-$1" "$pid"
	wait "$pid" || rc=$?
	cat flowrun.out
	[ "$rc" -eq "$2" ] || { echo "expected exit $2, got $rc"; return 1; }
	grep -q 'FAILED: t: ' flowrun.out
	for p in $(cat ./*.pid); do
		wait_gone "$p"
	done
	[ ! -e later.out ]
}

@test "SIGINT stops flowrun with 130 and kills the task's process group" {
	interrupt INT 130 'sleep 60 & echo $! > sleep.pid; touch started; wait'
}

@test "SIGTERM stops flowrun with 143 and kills the task's process group" {
	interrupt TERM 143 'sleep 60 & echo $! > sleep.pid; sleep 60 > /dev/null 2>&1 & echo $! > detached.pid; touch started; wait'
}

@test "SIGHUP stops flowrun with 129" {
	interrupt HUP 129 'sleep 60 & echo $! > sleep.pid; touch started; wait'
}

@test "SIGINT also stops a background process of the task that holds no output pipe" {
	# sh starts 'cmd &' with SIGINT ignored: flowrun must still stop it
	interrupt INT 130 'sleep 60 > /dev/null 2>&1 & echo $! > detached.pid; touch started; wait'
}

@test "a result feeds tasks.X.result with its JSON type; a fan-out gives a list in instance order" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  num:
    run: echo 42
    result: stdout
  str:
    run: echo hello world
    result: stdout
  obj:
    run: >-
      echo '{"b": [1, 2], "a": "x"}'
    result: stdout
  sq:
    foreach: {x: [3, 1, 2]}
    run: sleep 0.${{ x }}; echo $(( ${{ x }} * ${{ x }} ))
    result: stdout
  use:
    env:
      N: ${{ tasks.num.result }}
      O: ${{ tasks.obj.result }}
      S: ${{ tasks.str.result }}
    run: echo "n=$N o=$O s=$S sq=${{ tasks.sq.result }} num=${{ tasks.num.result }}" > use.txt
    outputs: use.txt
EOF
	run_ok -j 4
	[ "$(cat use.txt)" = 'n=42 o={"a":"x","b":[1,2]} s=hello world sq=[9,1,4] num=42' ]
	# a task with result: stdout prints only its stderr
	refute_line 42
	refute_line 'hello world'
}

@test "--result prints a task's result as JSON" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  num:
    run: echo 42
    result: stdout
  str:
    run: echo hello world
    result: stdout
  sq:
    foreach: {x: [3, 1, 2]}
    run: echo $(( ${{ x }} * ${{ x }} ))
    result: stdout
  none:
    run: echo nothing
  unrelated:
    run: touch unrelated.out
EOF
	run --separate-stderr "$FLOWRUN" --result num --result str --result sq --result none
	echo "$output"
	[ "$status" -eq 0 ]
	# the results are the last lines of stdout, in the order asked
	diff <(echo "$output" | tail -n 4) <(printf '%s\n' 42 '"hello world"' '[9,1,4]' null)
	# --result makes the task a target: nothing else ran
	[ ! -e unrelated.out ]
	# and it prints the recorded result when the task is skipped
	run --separate-stderr "$FLOWRUN" --result sq
	[ "$status" -eq 0 ]
	assert_ran_count 0
	assert_output '[9,1,4]'
}

@test "files a task writes without declaring them are seen afresh by the tasks that need it" {
	# flowrun stats the files tasks name ahead, on other threads (600 readers
	# make enough for that); a task after one that ran must not use those
	# stat data: here the files do not exist yet, then they change.
	cat > flowrun.yaml <<'EOF'
flowrun: 1
vars: {v: one}
tasks:
  write:
    run: mkdir -p data && for i in $(seq 0 599); do echo ${{ v }}-$i > data/$i.txt; done
  read:
    needs: write
    foreach: {i: {range: 600}}
    inputs: data/${{ i }}.txt
    outputs: out/${{ i }}.txt
    run: mkdir -p out && cp data/${{ i }}.txt out/${{ i }}.txt
EOF
	run_ok -q
	[ "$(cat out/599.txt)" = one-599 ]
	run_ok -D v=two
	assert_ran_count 601
	[ "$(cat out/0.txt)" = two-0 ]
	[ "$(cat out/599.txt)" = two-599 ]
	run_ok -D v=two
	assert_ran_count 0
}
