#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Graph semantics: which tasks a run needs, where edges come from, fan-out
# instances and their names, targets, cycles.

load helpers

bats_require_minimum_version 1.5.0

# Three tasks: b needs a; c stands alone. Each appends its name to log.txt.
abc_pipeline() {
	pipeline <<EOF
flowrun: 1
${1:-}
tasks:
  a:
    run: echo a >> log.txt
  b:
    run: echo b >> log.txt
    needs: a
  c:
    run: echo c >> log.txt
EOF
}

# lines_of FILE: the lines of FILE joined by spaces.
lines_of() {
	tr '\n' ' ' < "$1" | sed 's/ $//'
}

@test "only what the targets need runs" {
	abc_pipeline
	run_ok -j4 b
	assert_ran a
	assert_ran b
	assert_skipped c
	assert_ran_count 2
	[ "$(lines_of log.txt)" = "a b" ]
}

@test "default: chooses the targets when none is named" {
	abc_pipeline "default: c"
	run_ok -j4
	assert_ran c
	assert_skipped a
	assert_skipped b
	assert_ran_count 1
	[ "$(lines_of log.txt)" = "c" ]
}

@test "default: as a list; a target on the command line wins over it" {
	abc_pipeline "default: [b, c]"
	run_ok -j1
	assert_ran_count 3
	rm log.txt
	run_ok -j1 -B a
	assert_ran_count 1
	[ "$(lines_of log.txt)" = "a" ]
}

@test "without default every task is a target" {
	abc_pipeline
	run_ok -j4
	assert_ran a
	assert_ran b
	assert_ran c
	assert_ran_count 3
	[ "$(sort log.txt | lines_of /dev/stdin)" = "a b c" ]
}

@test "a task needed by two targets runs once" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  shared:
    run: echo shared >> log.txt
  left:
    run: echo left >> log.txt
    needs: shared
  right:
    run: echo right >> log.txt
    needs: [shared]
  other:
    run: echo other >> log.txt
EOF
	run_ok -j4 left right
	assert_ran_count 3
	assert_skipped other
	[ "$(grep -c '^shared$' log.txt)" -eq 1 ]
	[ "$(head -n 1 log.txt)" = shared ]
	[ "$(wc -l < log.txt)" -eq 3 ]
}

@test "an edge from needs: the needed task runs first" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  first:
    run: echo first >> log.txt
  second:
    run: echo second >> log.txt
    needs: [first]
  third:
    run: echo third >> log.txt
    needs: second
EOF
	run_ok -j4 third
	assert_ran_count 3
	[ "$(lines_of log.txt)" = "first second third" ]
}

@test "an edge from an input that another task lists as an output" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  make-data:
    run: mkdir -p out && echo 41 > out/data.txt
    outputs: out/data.txt
  use-data:
    run: echo $(( $(cat out/data.txt) + 1 )) > answer.txt
    inputs: [./out/data.txt]
    outputs: answer.txt
  unrelated:
    run: touch unrelated.txt
    outputs: [other.txt]
EOF
	run_ok -j4 use-data
	assert_ran make-data
	assert_ran use-data
	assert_skipped unrelated
	[ "$(cat answer.txt)" = 42 ]
}

@test "an edge from \${{ tasks.X.outputs }}" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  gen:
    run: echo generated > gen.txt; echo second > gen2.txt
    outputs: [gen.txt, gen2.txt]
  use:
    run: echo '${{ tasks.gen.outputs }}' > use.txt
  use-inputs:
    run: cat gen.txt > use-inputs.txt
    inputs: ["${{ tasks.gen.outputs }}"]
EOF
	run_ok -j4 use
	assert_ran gen
	assert_ran use
	assert_ran_count 2
	[ "$(cat use.txt)" = '["gen.txt","gen2.txt"]' ]
	rm gen.txt gen2.txt
	run_ok -j4 use-inputs
	assert_ran gen
	assert_ran use-inputs
	[ "$(cat use-inputs.txt)" = generated ]
}

@test "an edge from \${{ tasks.X.result }}" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  answer:
    run: echo 42
    result: stdout
  report:
    run: echo "the answer is ${{ tasks.answer.result }}" > report.txt
  env-report:
    env:
      ANSWER: "${{ tasks.answer.result }}"
    run: echo "env $ANSWER" > env-report.txt
EOF
	run_ok -j4 report
	assert_ran answer
	assert_ran report
	assert_ran_count 2
	[ "$(cat report.txt)" = "the answer is 42" ]
	run_ok -j4 -B env-report
	assert_ran answer
	[ "$(cat env-report.txt)" = "env 42" ]
}

@test "foreach over a list: one instance per value, named task[x=value]" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  sq:
    foreach: {x: [1, 2, 3]}
    run: echo $(( ${{ x }} * ${{ x }} )) > sq-${{ x }}.txt
EOF
	run_ok -j4
	assert_ran 'sq[x=1]'
	assert_ran 'sq[x=2]'
	assert_ran 'sq[x=3]'
	assert_ran_count 3
	[ "$(cat sq-1.txt sq-2.txt sq-3.txt | lines_of /dev/stdin)" = "1 4 9" ]
}

@test "foreach over {range: 3} gives 0, 1 and 2" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  r:
    foreach:
      i: {range: 3}
    run: echo ${{ i }}
    result: stdout
  all:
    run: echo '${{ tasks.r.result }}' > all.txt
EOF
	run_ok -j4
	assert_ran 'r[i=0]'
	assert_ran 'r[i=1]'
	assert_ran 'r[i=2]'
	assert_ran all
	assert_ran_count 4
	[ "$(cat all.txt)" = "[0,1,2]" ]
}

@test "foreach over {range: 0} gives no instance" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  none:
    foreach: {i: {range: 0}}
    run: touch never.txt
  after:
    needs: none
    run: echo '${{ tasks.none.result }}' > after.txt
EOF
	run_ok -j4
	assert_ran after
	assert_ran_count 1
	[ ! -e never.txt ]
	[ "$(cat after.txt)" = "[]" ]
}

@test "foreach over {glob: \"data/*.csv\"}: the matching paths, sorted" {
	mkdir data
	touch data/b.csv data/a.csv data/c.txt data/z.csv
	pipeline <<'EOF'
flowrun: 1
tasks:
  rows:
    foreach: {f: {glob: "data/*.csv"}}
    run: echo ${{ f }}
    result: stdout
  list:
    run: echo '${{ tasks.rows.result }}' > list.txt
EOF
	run_ok -j4
	assert_ran 'rows[f=data/a.csv]'
	assert_ran 'rows[f=data/b.csv]'
	assert_ran 'rows[f=data/z.csv]'
	assert_ran_count 4
	[ "$(cat list.txt)" = '["data/a.csv","data/b.csv","data/z.csv"]' ]
}

@test "foreach over two lists is their product, the last varying fastest" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach:
      a: [1, 2]
      b: [x, y, z]
    run: echo ${{ a }}${{ b }}
    result: stdout
  all:
    run: echo '${{ tasks.t.result }}' > all.txt
EOF
	run_ok -j4
	for n in 't[a=1,b=x]' 't[a=1,b=y]' 't[a=1,b=z]' 't[a=2,b=x]' 't[a=2,b=y]' 't[a=2,b=z]'; do
		assert_ran "$n"
	done
	assert_ran_count 7
	[ "$(cat all.txt)" = '["1x","1y","1z","2x","2y","2z"]' ]
}

@test "needs: [fan] waits for every instance of the fan-out" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  fan:
    foreach: {n: [1, 2, 3, 4, 5]}
    run: mkdir -p parts && echo ${{ n }} > parts/${{ n }}.txt
    outputs: ["parts/${{ n }}.txt"]
  join:
    needs: [fan]
    run: for n in 1 2 3 4 5; do cat parts/$n.txt || exit 1; done > joined.txt
EOF
	run_ok -j8 join
	assert_ran_count 6
	assert_ran join
	[ "$(lines_of joined.txt)" = "1 2 3 4 5" ]
	# join's line comes after every fan line
	[ "${lines[${#lines[@]} - 1]}" = "[6/6] join" ]
}

@test "an input of one instance needs only the matching instance of another fan-out" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  make:
    foreach: {y: [2019, 2020]}
    run: echo ${{ y }} > ${{ y }}.csv
    outputs: ["${{ y }}.csv"]
  use:
    foreach: {y: [2019, 2020]}
    run: cat ${{ y }}.csv > use-${{ y }}.txt
    inputs: ["${{ y }}.csv"]
EOF
	run_ok -j4 'use[y=2020]'
	assert_ran 'make[y=2020]'
	assert_ran 'use[y=2020]'
	assert_skipped 'make[y=2019]'
	assert_ran_count 2
	[ ! -e 2019.csv ]
}

@test "a target can be an instance name" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  sq:
    foreach: {x: [1, 2, 3]}
    run: echo $(( ${{ x }} * ${{ x }} )) > sq-${{ x }}.txt
EOF
	run_ok 'sq[x=3]'
	assert_ran 'sq[x=3]'
	assert_ran_count 1
	[ "$(cat sq-3.txt)" = 9 ]
	[ ! -e sq-1.txt ]
	[ ! -e sq-2.txt ]
}

@test "default: may name an instance" {
	pipeline <<'EOF'
flowrun: 1
default: "sq[x=2]"
tasks:
  sq:
    foreach: {x: [1, 2, 3]}
    run: echo ${{ x }} > sq-${{ x }}.txt
EOF
	run_ok
	assert_ran 'sq[x=2]'
	assert_ran_count 1
	[ -f sq-2.txt ]
}

@test "a target can be an output path" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    run: mkdir -p out && echo a > out/a.txt
    outputs: out/a.txt
  b:
    run: cat out/a.txt > out/b.txt
    inputs: out/a.txt
    outputs: out/b.txt
  c:
    run: touch c.txt
    outputs: c.txt
EOF
	run_ok out/b.txt
	assert_ran a
	assert_ran b
	assert_skipped c
	assert_ran_count 2
	[ "$(cat out/b.txt)" = a ]
	run_ok -B ./out//a.txt
	assert_ran a
	assert_ran_count 1
}

@test "a cycle exits 2 and prints its path" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    run: touch a.txt
    needs: [c]
  b:
    run: touch b.txt
    needs: [a]
  c:
    run: touch c.txt
    needs: [b]
  free:
    run: touch free.txt
EOF
	run_fails_with 2 '^flowrun: flowrun\.yaml:3:3: dependency cycle: a -> b -> c -> a ' free
	[ ! -e free.txt ]
	[ ! -e a.txt ]
}

@test "a cycle through inputs and outputs is a cycle too" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  up:
    run: cp y.txt x.txt
    inputs: y.txt
    outputs: x.txt
  down:
    run: cp x.txt y.txt
    inputs: x.txt
    outputs: y.txt
EOF
	run_fails_with 2 'dependency cycle: up -> down -> up'
}

@test "an unknown target exits 2 with a did-you-mean" {
	abc_pipeline
	run_fails_with 2 "^flowrun: unknown target 'bb' \(did you mean 'b'\?\)$" bb
	[ ! -e log.txt ]
	run_fails_with 2 "^flowrun: unknown target 'nothing/like/this': not a task, an instance or an output$" a nothing/like/this
	[ ! -e log.txt ]
}

@test "an unknown instance of a known task is an unknown target" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  sq:
    foreach: {x: [1, 2]}
    run: touch sq-${{ x }}.txt
EOF
	run_fails_with 2 "^flowrun: unknown target 'sq\[x=9\]'" 'sq[x=9]'
	[ ! -e sq-1.txt ]
}
