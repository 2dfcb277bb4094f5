#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Loading a pipeline from the command line: which file, from where, vars and
# -D, templates left to the shell, error positions, and a very large pipeline.

load helpers

bats_require_minimum_version 1.5.0

# A pipeline in the current directory that writes hello.txt.
hello_pipeline() {
	pipeline "${1:-flowrun.yaml}" <<'EOF'
flowrun: 1
tasks:
  hello:
    run: echo hello > hello.txt
    outputs: hello.txt
EOF
}

@test "flowrun.yaml in the current directory is read by default" {
	hello_pipeline
	run_ok
	assert_ran hello
	assert_ran_count 1
	[ "$(cat hello.txt)" = hello ]
}

@test "no flowrun.yaml here: exit 2 and a hint, nothing created" {
	run_fails_with 2 '^flowrun: no flowrun.yaml here'
	[ ! -e .flowrun ]
}

@test "a first operand ending in .yaml is the pipeline" {
	hello_pipeline other.yaml
	run_ok other.yaml
	assert_ran hello
	[ -f hello.txt ]
	[ -d .flowrun ]
}

@test "a first operand ending in .yml is the pipeline, and targets follow it" {
	hello_pipeline other.yml
	cat >> other.yml <<'EOF'
  bye:
    run: echo bye > bye.txt
EOF
	run_ok other.yml bye
	assert_ran bye
	assert_skipped hello
	assert_ran_count 1
	[ -f bye.txt ]
	[ ! -e hello.txt ]
}

@test "-f FILE reads FILE instead of flowrun.yaml" {
	hello_pipeline
	pipeline pick.yaml <<'EOF'
flowrun: 1
tasks:
  picked:
    run: echo picked > picked.txt
EOF
	run_ok -f pick.yaml
	assert_ran picked
	assert_skipped hello
	[ -f picked.txt ]
	[ ! -e hello.txt ]
}

@test "-f sub/flowrun.yaml from elsewhere: outputs, dir and .flowrun are relative to sub/" {
	mkdir -p sub/data work
	echo 3 > sub/data/in.txt
	pipeline sub/flowrun.yaml <<'EOF'
flowrun: 1
tasks:
  copy:
    run: cp data/in.txt out.txt
    inputs: data/in.txt
    outputs: out.txt
  indir:
    dir: data
    run: pwd > ../where.txt
    outputs: where.txt
EOF
	cd work
	run_ok -f ../sub/flowrun.yaml
	assert_ran copy
	assert_ran indir
	cd ..
	[ "$(cat sub/out.txt)" = 3 ]
	[ "$(cat sub/where.txt)" = "$(cd sub/data && pwd -P)" ] ||
		[ "$(cat sub/where.txt)" = "$(cd sub/data && pwd)" ]
	[ -d sub/.flowrun ]
	[ ! -e work/.flowrun ]
	[ ! -e work/out.txt ]
	[ ! -e .flowrun ]
	# the state is found again from anywhere: nothing to do
	run_ok -f sub/flowrun.yaml
	assert_ran_count 0
}

@test "-C DIR changes to DIR first and reads its flowrun.yaml" {
	mkdir sub
	hello_pipeline sub/flowrun.yaml
	run_ok -C sub
	assert_ran hello
	[ -f sub/hello.txt ]
	[ -d sub/.flowrun ]
	[ ! -e hello.txt ]
	[ ! -e .flowrun ]
}

@test "-C DIR with -f: the file is relative to DIR" {
	mkdir -p top/deep
	hello_pipeline top/deep/p.yaml
	run_ok -C top -f deep/p.yaml
	assert_ran hello
	[ -f top/deep/hello.txt ]
	[ -d top/deep/.flowrun ]
	[ ! -e top/.flowrun ]
}

@test "-C to a missing directory: exit 2" {
	run_fails_with 2 '^flowrun: cannot enter nowhere' -C nowhere
}

@test "-f with a missing file: exit 2 and the file named" {
	run_fails_with 2 '^flowrun: missing\.yaml: cannot read: No such file or directory$' -f missing.yaml
	[ ! -e .flowrun ]
}

@test "a missing pipeline given as operand: exit 2 and the file named" {
	run_fails_with 2 '^flowrun: gone\.yaml: cannot read' gone.yaml
}

@test "vars are templated into run, and vars may use earlier vars" {
	pipeline <<'EOF'
flowrun: 1
vars:
  who: world
  greeting: "hello ${{ who }}"
  shout: "${{ greeting }}!"
tasks:
  greet:
    run: echo "${{ shout }}" > greet.txt
    outputs: greet.txt
EOF
	run_ok
	[ "$(cat greet.txt)" = "hello world!" ]
}

@test "a var that is exactly one template keeps the JSON value (a list stays a list)" {
	pipeline <<'EOF'
flowrun: 1
vars:
  years: [2019, 2020]
  same: "${{ years }}"
  text: "years ${{ years }}"
tasks:
  show:
    run: echo '${{ same }} ${{ text }}' > same.txt
EOF
	run_ok
	[ "$(cat same.txt)" = "[2019,2020] years [2019,2020]" ]
}

@test "-D overrides a var; the value is a YAML scalar, so -D n=5 is the number 5" {
	pipeline <<'EOF'
flowrun: 1
vars:
  n: 2
tasks:
  calc:
    run: echo $(( ${{ n }} * 3 )) > calc.txt
EOF
	run_ok
	[ "$(cat calc.txt)" = 6 ]
	run_ok -D n=5
	assert_ran calc
	[ "$(cat calc.txt)" = 15 ]
	# a YAML integer, not the text "0x10"
	run_ok -D n=0x10
	[ "$(cat calc.txt)" = 48 ]
}

@test "-D adds a var the file does not declare; -D s=abc is a string" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  say:
    run: echo "${{ s }}-${{ b }}" > say.txt
EOF
	run_ok -D s=abc -D b=true
	[ "$(cat say.txt)" = abc-true ]
}

@test "-D overrides a var that later vars are built from" {
	pipeline <<'EOF'
flowrun: 1
vars:
  n: 2
  label: "n is ${{ n }}"
tasks:
  show:
    run: echo "${{ label }}" > label.txt
EOF
	run_ok
	[ "$(cat label.txt)" = "n is 2" ]
	run_ok -D n=5
	[ "$(cat label.txt)" = "n is 5" ]
}

@test "-D with a bad var name or without = : exit 2" {
	hello_pipeline
	run_fails_with 2 '^flowrun: -D 9x: not a valid var name$' -D 9x=1
	run_fails_with 2 '^flowrun: -D x: expected NAME=VALUE$' -D x
	[ ! -e hello.txt ]
}

@test "env.NAME comes from flowrun's environment when the pipeline env lacks it" {
	pipeline <<'EOF'
flowrun: 1
env:
  FROM_FILE: file-value
  COMBINED: "${{ env.FLOWRUN_T_OUTER }}+x"
tasks:
  show:
    run: echo "${{ env.FLOWRUN_T_OUTER }} ${{ env.FROM_FILE }} $COMBINED" > env.txt
EOF
	FLOWRUN_T_OUTER=outer run_ok
	[ "$(cat env.txt)" = "outer file-value outer+x" ]
}

@test "env.NAME set nowhere is an error at load time, at the \${{" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  show:
    run: echo ${{ env.FLOWRUN_T_NOT_SET_ANYWHERE }} > never.txt
EOF
	unset FLOWRUN_T_NOT_SET_ANYWHERE
	run_fails_with 2 "^flowrun: flowrun\.yaml:4:15: environment variable 'FLOWRUN_T_NOT_SET_ANYWHERE' is not set$"
	[ ! -e never.txt ]
}

@test "\$HOME and \${HOME} are left to the shell" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  home:
    run: echo "$HOME ${HOME}" > home.txt
EOF
	HOME=/some/where run_ok
	[ "$(cat home.txt)" = "/some/where /some/where" ]
}

@test "\$\${{ is a literal \${{" {
	pipeline <<'EOF'
flowrun: 1
vars:
  x: no
tasks:
  lit:
    run: echo '$${{ x }} and ${{ x }}' > lit.txt
EOF
	run_ok
	[ "$(cat lit.txt)" = '${{ x }} and no' ]
}

@test "errors read flowrun: FILE:LINE:COL: message, FILE as given" {
	mkdir sub
	pipeline sub/p.yaml <<'EOF'
flowrun: 1
tasks:
  build:
    run: make
    ouputs: [prog]
EOF
	run_fails_with 2 "^flowrun: sub/p\.yaml:5:5: unknown key 'ouputs' in a task \(did you mean 'outputs'\?\)$" -f sub/p.yaml
	[ "${#lines[@]}" -eq 1 ]

	pipeline <<'EOF'
flowrun: 1
vars:
  name: world
tasks:
  hello:
    run: echo hello ${{ nmae }}
EOF
	run --separate-stderr "$FLOWRUN"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "flowrun: flowrun.yaml:6:21: unknown name 'nmae' (did you mean 'name'?)" ]
}

@test "a YAML error late in the file runs nothing, not even the tasks before it" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  first:
    run: touch first-ran.txt
    outputs: first-ran.txt
  second:
    run: touch second-ran.txt
   outputs: [second-ran.txt]
EOF
	run_fails_with 2 '^flowrun: flowrun\.yaml:8:4: did not find expected key'
	[ "${#lines[@]}" -eq 1 ]
	[ ! -e first-ran.txt ]
	[ ! -e second-ran.txt ]
	[ ! -e .flowrun ]
}

@test "a pipeline error late in the file runs nothing either" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  first:
    run: touch first-ran.txt
  second:
    run: echo ${{ nothing_like_this }}
EOF
	run_fails_with 2 "^flowrun: flowrun\.yaml:6:15: unknown name 'nothing_like_this'"
	[ ! -e first-ran.txt ]
	[ ! -e .flowrun ]
}

# Cost tag: 100,000 processes take about a minute here, so the suite runs a
# 10,000-task chain unless FLOWRUN_SLOW_TESTS=1; the chain below without
# commands proves 100,000 tasks load and run without recursion every time.
@test "a long chain of shell tasks runs in order with -j2; its rerun runs nothing" {
	n=10000
	[ "${FLOWRUN_SLOW_TESTS:-0}" = 1 ] && n=100000
	awk -v n="$n" 'BEGIN {
		print "flowrun: 1"; print "tasks:"
		print "  t0:"; print "    run: \"true\""
		for (i = 1; i < n; i++) {
			print "  t" i ":"; print "    run: \"true\""; print "    needs: t" (i - 1)
		}
	}' > flowrun.yaml
	run "$FLOWRUN" -j2
	[ "$status" -eq 0 ] || { echo "exit $status"; echo "$output" | tail -5; return 1; }
	assert_ran_count "$n"
	# a chain runs in its order: the last task is the last to finish
	[ "${lines[${#lines[@]} - 1]}" = "[$n/$n] t$((n - 1))" ]
	[ "${lines[0]}" = "[1/$n] t0" ]
	run "$FLOWRUN" -j2
	[ "$status" -eq 0 ] || { echo "exit $status"; echo "$output" | tail -5; return 1; }
	assert_ran_count 0
}

@test "a 100,000-task chain of tasks without a command (needs only) runs without crashing" {
	awk 'BEGIN {
		print "flowrun: 1"; print "tasks:"
		print "  t0:"; print "    run: touch start.txt"
		for (i = 1; i < 100000; i++)
			print "  t" i ": {needs: t" (i - 1) "}"
		print "  end:"; print "    run: touch end.txt"; print "    needs: t99999"
	}' > flowrun.yaml
	run "$FLOWRUN" -j2 end
	[ "$status" -eq 0 ] || { echo "exit $status"; echo "$output" | tail -5; return 1; }
	[ -f start.txt ]
	[ -f end.txt ]
}

# The parsed tree of the pipeline is cached in .flowrun/tree.FILE so that a
# rerun does not parse YAML again; the cache must never be trusted after the
# file changed, nor when it is damaged.
@test "an unchanged pipeline is read from the tree cache, a changed one is parsed again" {
	export FLOWRUN_UPTODATE=0	# no-op reruns load the pipeline (and so its cache)
	pipeline <<'EOF2'
flowrun: 1
tasks:
  t:
    run: echo MARKER-one > out.txt
    outputs: [out.txt]
EOF2
	run_ok                       # creates .flowrun
	run_ok                       # writes the cache
	[ -s .flowrun/tree.flowrun.yaml ]
	# patch the command inside the cache: if the cache is read, the patch runs
	sed -i 's/MARKER-one/MARKER-two/' .flowrun/tree.flowrun.yaml
	run_ok
	assert_ran t
	[ "$(cat out.txt)" = MARKER-two ]
	# editing the file (even to the same size) invalidates the cache
	sed -i 's/MARKER-one/MARKER-six/' flowrun.yaml
	run_ok
	assert_ran t
	[ "$(cat out.txt)" = MARKER-six ]
}

@test "a tree cache image of several write chunks (over 1 MB) is read back" {
	export FLOWRUN_UPTODATE=0	# no-op reruns load the pipeline (and so its cache)
	{
		printf 'flowrun: 1\ntasks:\n'
		for i in $(seq 1 400); do
			printf '  t%d:\n    run: "echo MARKER-one-%d > out%d.txt; true %03000d"\n' "$i" "$i" "$i" 0
		done
	} > flowrun.yaml
	run_ok                       # creates .flowrun
	run_ok                       # writes the cache
	[ "$(stat -c %s .flowrun/tree.flowrun.yaml)" -gt 1048576 ]
	sed -i 's/MARKER-one-399 /MARKER-two-399 /' .flowrun/tree.flowrun.yaml
	run_ok
	assert_ran t399
	[ "$(cat out399.txt)" = MARKER-two-399 ]
}

@test "a damaged tree cache is ignored" {
	export FLOWRUN_UPTODATE=0	# no-op reruns load the pipeline (and so its cache)
	pipeline <<'EOF2'
flowrun: 1
tasks:
  t:
    run: echo ok > out.txt
    outputs: [out.txt]
EOF2
	run_ok
	run_ok
	[ -s .flowrun/tree.flowrun.yaml ]
	head -c 100 .flowrun/tree.flowrun.yaml > cut && mv cut .flowrun/tree.flowrun.yaml
	run_ok
	assert_ran_count 0
	head -c 4000 /dev/urandom > .flowrun/tree.flowrun.yaml
	run_ok --explain
	assert_line 'explain: t: up to date'
}

@test "-n, --list and --dot never write the tree cache" {
	pipeline <<'EOF2'
flowrun: 1
tasks:
  t:
    run: echo ok > out.txt
    outputs: [out.txt]
EOF2
	run_ok
	rm -f .flowrun/tree.flowrun.yaml
	run_ok -n
	run_ok --list
	run_ok --dot
	[ ! -e .flowrun/tree.flowrun.yaml ]
}

@test "keys after tasks (defaults, env, vars) still apply to every task" {
	pipeline <<'EOF2'
flowrun: 1
tasks:
  a:
    run: echo "$X" > a.txt; exit 1
    outputs: a.txt
  b:
    run: echo "$X-b" > b.txt
    outputs: b.txt
defaults: {retries: 1}
env: {X: late}
EOF2
	run_fails_with 1 'retry 1 of 1'
	assert_ran b
	[ "$(cat a.txt)" = late ]
	[ "$(cat b.txt)" = late-b ]
	printf 'vars: {x: var}\n' >> flowrun.yaml
	sed -i 's/\$X-b/${{ x }}/' flowrun.yaml
	run_fails_with 1 'retry 1 of 1'
	[ "$(cat b.txt)" = var ]
}

@test "an error is the same whichever order the keys come in" {
	pipeline <<'EOF2'
tasks:
  a:
    run: "true"
  b:
    rnu: x
flowrun: 2
EOF2
	run_fails_with 2 'flowrun.yaml:6:10: unsupported format version'
	refute_output --partial "unknown key"
	sed -i '$d' flowrun.yaml && sed -i '1i flowrun: 1' flowrun.yaml
	run_fails_with 2 "^flowrun: flowrun.yaml:6:5: unknown key 'rnu' in a task$"
}

@test "an anchor in one task can be used by another" {
	pipeline <<'EOF2'
flowrun: 1
tasks:
  a:
    run: &r echo shared >> out.txt
  b:
    run: *r
EOF2
	run_ok
	assert_ran_count 2
	[ "$(grep -c shared out.txt)" -eq 2 ]
}

@test "a tree cache damaged midway through its tasks: each task is still loaded once" {
	export FLOWRUN_UPTODATE=0	# no-op reruns load the pipeline (and so its cache)
	{
		printf 'flowrun: 1\ntasks:\n'
		for i in $(seq 1 200); do
			printf '  t%d: {run: "echo %d > out%d.txt", outputs: [out%d.txt]}\n' "$i" "$i" "$i" "$i"
		done
	} > flowrun.yaml
	run_ok
	run_ok
	size=$(stat -c %s .flowrun/tree.flowrun.yaml)
	[ "$size" -gt 4000 ]
	# 200 bytes of 0x7f (no record's op) over the middle of the tasks
	head -c 200 /dev/zero | tr '\0' '\177' |
		dd of=.flowrun/tree.flowrun.yaml bs=1 seek=$((size / 2)) conv=notrunc status=none
	run_ok --list
	[ "${#lines[@]}" -eq 200 ]
	[ "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" -eq 200 ]
	run_ok
	assert_ran_count 0
}
