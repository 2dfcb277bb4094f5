#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Skipping by content: what runs again, what stays skipped, and why
# (--explain), dry runs (-n), -B, always, -D, globs, results and targets.
load helpers

bats_require_minimum_version 1.5.0

# A chain a -> b -> c through files, and an unrelated d.
chain() {
	printf 'a1\na2\n' > in_a.txt
	echo d > in_d.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    inputs: in_a.txt
    run: head -n 1 in_a.txt > a.out
    outputs: a.out
  b:
    inputs: a.out
    run: (cat a.out; echo b) > b.out
    outputs: b.out
  c:
    inputs: b.out
    run: (cat b.out; echo c) > c.out
    outputs: c.out
  d:
    inputs: in_d.txt
    run: (cat in_d.txt; echo d) > d.out
    outputs: d.out
EOF
}

# state_snapshot: a copy of the state to compare with later.
state_snapshot() {
	cp .flowrun/state state.before
}

@test "a rerun with nothing changed runs nothing" {
	chain
	run_ok -j 1
	assert_ran_count 4
	run_ok -j 1
	assert_ran_count 0
	run_ok -j 1 --explain
	assert_ran_count 0
	for t in a b c d; do
		assert_line "explain: $t: up to date"
	done
}

@test "touching an input without changing it runs nothing" {
	chain
	run_ok -j 1
	touch -d '2001-02-03 04:05:06' in_a.txt in_d.txt a.out
	run_ok -j 1
	assert_ran_count 0
	touch in_a.txt in_d.txt a.out b.out
	run_ok -j 1 --explain
	assert_ran_count 0
	assert_line 'explain: a: up to date'
}

@test "changing an input's content reruns exactly the tasks whose key changed" {
	chain
	run_ok -j 1
	printf 'A1\na2\n' > in_a.txt
	run_ok -j 1 --explain
	assert_ran a
	assert_ran b
	assert_ran c
	assert_skipped d
	assert_ran_count 3
	assert_line 'explain: a: input in_a.txt changed'
	assert_line 'explain: b: input a.out changed'
	assert_line 'explain: c: input b.out changed'
	assert_line 'explain: d: up to date'
	[ "$(cat c.out)" = "$(printf 'A1\nb\nc')" ]
	echo D > in_d.txt
	run_ok -j 1
	assert_ran d
	assert_ran_count 1
}

@test "early cutoff: a rerun that writes the same output leaves the tasks after it skipped" {
	chain
	run_ok -j 1
	# a only reads the first line: changing the second reruns a, whose
	# output stays byte-identical (make and ninja would rerun b and c)
	printf 'a1\nchanged\n' > in_a.txt
	run_ok -j 1 --explain
	assert_ran a
	assert_skipped b
	assert_skipped c
	assert_skipped d
	assert_ran_count 1
	assert_line 'explain: a: input in_a.txt changed'
	assert_line 'explain: b: up to date'
	assert_line 'explain: c: up to date'
}

@test "early cutoff also holds for a result that stays the same" {
	echo 1 > n.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  parity:
    inputs: n.txt
    run: echo $(( $(cat n.txt) % 2 ))
    result: stdout
  use:
    run: echo "parity ${{ tasks.parity.result }}" > use.out
    outputs: use.out
EOF
	run_ok
	assert_ran_count 2
	echo 3 > n.txt
	run_ok
	assert_ran parity
	assert_skipped use
	echo 4 > n.txt
	run_ok
	assert_ran use
	[ "$(cat use.out)" = "parity 0" ]
}

@test "changing the command reruns the task (command changed)" {
	chain
	run_ok -j 1
	sed -i 's/echo d) > d.out/echo dd) > d.out/' flowrun.yaml
	run_ok -j 1 --explain
	assert_line 'explain: d: command changed'
	assert_ran d
	assert_ran_count 1
}

@test "changing the shell reruns the task (command changed)" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    run: echo x > t.out
    outputs: t.out
EOF
	run_ok
	sed -i 's/^    run:/    shell: bash -c\n    run:/' flowrun.yaml
	run_ok --explain
	assert_line 'explain: t: command changed'
	assert_ran_count 1
}

@test "changing the env reruns the tasks it reaches (environment changed)" {
	pipeline <<'EOF'
flowrun: 1
env:
  TOP: one
tasks:
  a:
    run: echo "$TOP" > a.out
    outputs: a.out
  b:
    env:
      MINE: x
    run: echo "$MINE" > b.out
    outputs: b.out
EOF
	run_ok -j 1
	assert_ran_count 2
	sed -i 's/MINE: x/MINE: y/' flowrun.yaml
	run_ok -j 1 --explain
	assert_line 'explain: b: environment changed'
	assert_line 'explain: a: up to date'
	assert_ran_count 1
	[ "$(cat b.out)" = y ]
	sed -i 's/TOP: one/TOP: two/' flowrun.yaml
	run_ok -j 1 --explain
	assert_line 'explain: a: environment changed'
	assert_line 'explain: b: environment changed'
	assert_ran_count 2
}

@test "changing dir reruns the task (environment changed)" {
	mkdir d1 d2
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    dir: d1
    run: echo x > ../t.out
    outputs: t.out
EOF
	run_ok
	sed -i 's/dir: d1/dir: d2/' flowrun.yaml
	run_ok --explain
	assert_line 'explain: t: environment changed'
	assert_ran_count 1
}

@test "flowrun's own environment is not part of the key, \${{ env.NAME }} is" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  inherits:
    run: echo "$FLOWRUN_TEST_VAR" > inherits.out
    outputs: inherits.out
  names:
    run: echo "${{ env.FLOWRUN_TEST_VAR }}" > names.out
    outputs: names.out
EOF
	FLOWRUN_TEST_VAR=one run_ok -j 1
	assert_ran_count 2
	FLOWRUN_TEST_VAR=two run_ok -j 1 --explain
	assert_line 'explain: inherits: up to date'
	assert_line 'explain: names: command changed'
	assert_ran_count 1
}

@test "an output deleted by hand reruns its task (output X is missing)" {
	chain
	run_ok -j 1
	rm b.out
	run_ok -j 1 --explain
	assert_line 'explain: b: output b.out is missing'
	assert_ran b
	# b wrote the same b.out again: c stays skipped
	assert_skipped c
	assert_ran_count 1
	[ -e b.out ]
}

@test "an output edited by hand reruns its task (output X was modified)" {
	chain
	run_ok -j 1
	echo tampered > d.out
	run_ok -j 1 --explain
	assert_line 'explain: d: output d.out was modified'
	assert_ran d
	assert_ran_count 1
	[ "$(cat d.out)" = "$(printf 'd\nd')" ]
}

@test "-B runs every needed task (forced)" {
	chain
	run_ok -j 1
	run_ok -j 1 -B --explain
	assert_ran_count 4
	for t in a b c d; do
		assert_line "explain: $t: forced (-B)"
	done
	run_ok -j 1
	assert_ran_count 0
}

@test "-n on a fresh pipeline says what would run and creates nothing" {
	chain
	run_ok -j 1 -n
	assert_ran_count 0
	assert_line 'would run: a (no record of an earlier run)'
	assert_line 'would run: b (upstream a would run)'
	assert_line 'would run: c (upstream b would run)'
	assert_line 'would run: d (no record of an earlier run)'
	[ ! -e a.out ] && [ ! -e b.out ] && [ ! -e c.out ] && [ ! -e d.out ]
	[ ! -e .flowrun ]
}

@test "-n after a run changes nothing in the state" {
	chain
	run_ok -j 1
	state_snapshot
	ls -l --full-time .flowrun > dir.before
	printf 'A1\na2\n' > in_a.txt
	touch -d '2001-02-03 04:05:06' in_d.txt
	rm c.out
	run_ok -j 1 -n --explain
	assert_ran_count 0
	assert_line 'would run: a (input in_a.txt changed)'
	assert_line 'would run: b (upstream a would run)'
	assert_line 'would run: c (upstream b would run)'
	refute_line --partial 'would run: d'
	assert_line 'explain: d: up to date'
	cmp .flowrun/state state.before
	ls -l --full-time .flowrun > dir.after
	diff dir.before dir.after
	[ "$(cat a.out)" = a1 ]
	[ ! -e c.out ]
	# the real run then does what -n said
	run_ok -j 1
	assert_ran_count 3
}

@test "-n -v shows each command that would run" {
	chain
	run_ok -j 1 -n -v
	assert_line '  $ head -n 1 in_a.txt > a.out'
}

@test "--explain: no record of an earlier run" {
	chain
	run_ok -j 1 --explain
	for t in a b c d; do
		assert_line "explain: $t: no record of an earlier run"
	done
	rm -r .flowrun
	run_ok -j 1 --explain
	assert_line 'explain: a: no record of an earlier run'
	assert_ran_count 4
}

@test "--explain: input X is new, when a glob input gains a file" {
	mkdir src
	echo 1 > src/one.txt
	echo 2 > src/two.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  cat:
    inputs: "src/*.txt"
    run: cat src/*.txt > all.out
    outputs: all.out
EOF
	run_ok
	run_ok
	assert_ran_count 0
	echo 3 > src/three.txt
	echo ignored > src/other.dat
	run_ok --explain
	assert_line 'explain: cat: input src/three.txt is new'
	assert_ran_count 1
	run_ok
	assert_ran_count 0
	echo ignored too > src/another.dat
	run_ok
	assert_ran_count 0
	echo changed > src/one.txt
	run_ok --explain
	assert_line 'explain: cat: input src/one.txt changed'
}

@test "--explain on a task of 8000 inputs, whose record is read lean" {
	# its record (over 256 KB) is compared item by item from the file
	mkdir src
	for i in $(seq -w 1 8000); do echo "$i" > "src/file-$i-with-a-longer-name.txt"; done
	echo 1 > in.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  up:
    inputs: in.txt
    run: cp in.txt up.out
    outputs: up.out
  cat:
    needs: up
    inputs: "src/*.txt"
    run: cat src/*.txt | wc -l > all.out
    outputs: all.out
EOF
	run_ok -j 1
	[ "$(stat -c %s .flowrun/state)" -gt 262144 ]
	echo changed > src/file-4000-with-a-longer-name.txt
	run_ok -j 1 --explain
	assert_line 'explain: cat: input src/file-4000-with-a-longer-name.txt changed'
	echo new > src/file-4000a-with-a-longer-name.txt
	run_ok -j 1 --explain
	assert_line 'explain: cat: input src/file-4000a-with-a-longer-name.txt is new'
	rm src/file-8000-with-a-longer-name.txt
	run_ok -j 1 --explain
	assert_line 'explain: cat: input src/file-8000-with-a-longer-name.txt is gone'
	rm src/file-0001-with-a-longer-name.txt
	run_ok -j 1 --explain
	assert_line 'explain: cat: input src/file-0001-with-a-longer-name.txt is gone'
	echo 2 > in.txt
	run_ok -j 1 --explain
	assert_line 'explain: cat: upstream up changed'
	run_ok -j 1
	assert_ran_count 0
	[ "$(cat all.out)" = 7999 ]
}

@test "--explain: upstream X changed" {
	echo 1 > in.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  up:
    inputs: in.txt
    run: cp in.txt up.out
    outputs: up.out
  down:
    needs: up
    run: cp up.out down.out
    outputs: down.out
EOF
	run_ok -j 1
	echo 2 > in.txt
	run_ok -j 1 --explain
	assert_line 'explain: up: input in.txt changed'
	assert_line 'explain: down: upstream up changed'
	assert_ran_count 2
	[ "$(cat down.out)" = 2 ]
}

@test "always: true runs every time (always runs)" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  stamp:
    always: true
    run: echo x >> stamps
  quiet:
    run: echo y >> quiet.log
EOF
	run_ok -j 1
	assert_ran_count 2
	run_ok -j 1 --explain
	assert_line 'explain: stamp: always runs (always: true)'
	assert_line 'explain: quiet: up to date'
	assert_ran stamp
	assert_ran_count 1
	run_ok -j 1
	assert_ran_count 1
	[ "$(wc -l < stamps)" -eq 3 ]
	[ "$(wc -l < quiet.log)" -eq 1 ]
}

@test "-D with a new value reruns the tasks whose command uses the var" {
	pipeline <<'EOF'
flowrun: 1
vars:
  greeting: hi
tasks:
  uses:
    run: echo "${{ greeting }}" > uses.out
    outputs: uses.out
  other:
    run: echo other > other.out
    outputs: other.out
EOF
	run_ok -j 1
	run_ok -j 1 -D greeting=hello --explain
	assert_line 'explain: uses: command changed'
	assert_line 'explain: other: up to date'
	assert_ran_count 1
	[ "$(cat uses.out)" = hello ]
	run_ok -j 1 -D greeting=hello
	assert_ran_count 0
	run_ok -j 1
	assert_ran uses
	assert_ran_count 1
	[ "$(cat uses.out)" = hi ]
}

@test "a skipped task still hands on its result" {
	echo 27 > value.txt
	echo first > own.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  producer:
    inputs: value.txt
    run: >-
      echo "{\"v\": $(cat value.txt)}"
    result: stdout
  consumer:
    inputs: own.txt
    run: echo '${{ tasks.producer.result }}' "$(cat own.txt)" > consumer.out
    outputs: consumer.out
EOF
	run_ok -j 1
	[ "$(cat consumer.out)" = '{"v":27} first' ]
	echo second > own.txt
	run_ok -j 1 --explain
	assert_line 'explain: producer: up to date'
	assert_line 'explain: consumer: input own.txt changed'
	assert_skipped producer
	assert_ran consumer
	[ "$(cat consumer.out)" = '{"v":27} second' ]
	run --separate-stderr "$FLOWRUN" --result producer
	[ "$status" -eq 0 ]
	assert_output '{"v":27}'
}

@test "a named target runs only what it needs" {
	chain
	run_ok -j 1 b
	assert_ran a
	assert_ran b
	assert_skipped c
	assert_skipped d
	assert_ran_count 2
	[ ! -e c.out ] && [ ! -e d.out ]
	# an output path names the task that writes it
	run_ok -j 1 d.out
	assert_ran d
	assert_ran_count 1
	run_ok -j 1
	assert_ran c
	assert_ran_count 1
}

@test "a task needed by two targets runs once" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  base:
    run: echo run >> base.log; echo base > base.out
    outputs: base.out
  left:
    inputs: base.out
    run: cp base.out left.out
    outputs: left.out
  right:
    inputs: base.out
    run: cp base.out right.out
    outputs: right.out
  unused:
    run: touch unused.out
EOF
	run_ok -j 2 left right
	assert_ran base
	assert_ran left
	assert_ran right
	assert_ran_count 3
	[ "$(echo "$output" | grep -Ec '^\[[0-9]+/3\] base$')" -eq 1 ]
	[ "$(wc -l < base.log)" -eq 1 ]
	[ ! -e unused.out ]
}

@test "the default targets are built when none is named" {
	pipeline <<'EOF'
flowrun: 1
default: [wanted]
tasks:
  wanted:
    run: touch wanted.out
  other:
    run: touch other.out
EOF
	run_ok
	assert_ran wanted
	assert_ran_count 1
	[ ! -e other.out ]
	run_ok other
	assert_ran other
	assert_ran_count 1
}

@test "a fan-out instance is a target of its own" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  sq:
    foreach: {x: [1, 2, 3]}
    run: echo $(( ${{ x }} * ${{ x }} )) > sq-${{ x }}.out
    outputs: sq-${{ x }}.out
EOF
	run_ok 'sq[x=2]'
	assert_ran 'sq[x=2]'
	assert_ran_count 1
	[ "$(cat sq-2.out)" = 4 ] && [ ! -e sq-1.out ]
	run_ok
	assert_ran 'sq[x=1]'
	assert_ran 'sq[x=3]'
	assert_ran_count 2
}
