#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Looking at a pipeline without running it: --list, --dot, --version, --help.

load helpers

bats_require_minimum_version 1.5.0

view_pipeline() {
	pipeline <<'EOF'
flowrun: 1
name: view-demo
tasks:
  prep:
    desc: Prepare the data
    run: touch prep.txt
    outputs: prep.txt
  sq:
    desc: Square each number
    foreach: {x: [1, 2, 3]}
    run: echo $(( ${{ x }} * ${{ x }} ))
    inputs: prep.txt
    result: stdout
  sum:
    run: echo '${{ tasks.sq.result }}' > sum.txt
  lonely:
    desc: Stands alone
    run: touch lonely.txt
  pair:
    foreach: {a: [1, 2], b: [x, y]}
    run: "true"
EOF
}

# nothing_ran: no command ran and no state was made.
nothing_ran() {
	[ ! -e prep.txt ] && [ ! -e sum.txt ] && [ ! -e lonely.txt ] && [ ! -e .flowrun ]
}

# plain: the --dot output of ARGS laid out by dot -Tplain, for node/edge lines.
plain() {
	"$FLOWRUN" --dot "$@" > graph.dot || return 1
	dot -Tplain graph.dot > graph.plain || return 1
}

# nodes / edges: sorted node names and "from to" pairs of graph.plain.
nodes() {
	awk '$1 == "node" { gsub(/"/, "", $2); print $2 }' graph.plain | sort | tr '\n' ' '
}
edges() {
	awk '$1 == "edge" { gsub(/"/, "", $2); gsub(/"/, "", $3); print $2 ">" $3 }' graph.plain |
		sort | tr '\n' ' '
}

@test "--list prints every task with its desc and the instance count of a fan-out" {
	view_pipeline
	run --separate-stderr "$FLOWRUN" --list
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	echo "$output"
	[ "${#lines[@]}" -eq 5 ]
	[ "${lines[0]}" = "prep    Prepare the data" ]
	[ "${lines[1]}" = "sq      Square each number (3 instances)" ]
	[[ "${lines[2]}" =~ ^sum\ *$ ]]
	[ "${lines[3]}" = "lonely  Stands alone" ]
	[ "${lines[4]}" = "pair    (4 instances)" ]
	nothing_ran
}

@test "--list ignores targets and default: it lists every task" {
	view_pipeline
	sed -i 's/^name: view-demo$/default: lonely/' flowrun.yaml
	run_ok --list sum
	[ "${#lines[@]}" -eq 5 ]
	nothing_ran
}

@test "--list of a broken pipeline fails like a run" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    ruun: "true"
EOF
	run_fails_with 2 "^flowrun: flowrun\.yaml:4:5: unknown key 'ruun' in a task \(did you mean 'run'\?\)$" --list
}

@test "--dot prints one node per needed instance and every edge" {
	view_pipeline
	run --separate-stderr "$FLOWRUN" --dot
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == *digraph* ]]
	plain
	[ "$(nodes)" = "lonely pair[a=1,b=x] pair[a=1,b=y] pair[a=2,b=x] pair[a=2,b=y] prep sq[x=1] sq[x=2] sq[x=3] sum " ]
	[ "$(edges)" = "prep>sq[x=1] prep>sq[x=2] prep>sq[x=3] sq[x=1]>sum sq[x=2]>sum sq[x=3]>sum " ]
	nothing_ran
}

@test "--dot renders with dot -Tsvg to an SVG naming the tasks" {
	view_pipeline
	run_ok --dot
	"$FLOWRUN" --dot | dot -Tsvg > graph.svg
	[ -s graph.svg ]
	grep -q '<svg' graph.svg
	for name in prep 'sq\[x=1\]' 'sq\[x=2\]' 'sq\[x=3\]' sum lonely 'pair\[a=2,b=y\]'; do
		grep -q "<title>$name</title>" graph.svg || { echo "no node $name in the SVG"; return 1; }
	done
	nothing_ran
}

@test "--dot of a target shows only what the target needs" {
	view_pipeline
	plain sum
	[ "$(nodes)" = "prep sq[x=1] sq[x=2] sq[x=3] sum " ]
	[ "$(edges)" = "prep>sq[x=1] prep>sq[x=2] prep>sq[x=3] sq[x=1]>sum sq[x=2]>sum sq[x=3]>sum " ]
	plain 'sq[x=2]'
	[ "$(nodes)" = "prep sq[x=2] " ]
	[ "$(edges)" = "prep>sq[x=2] " ]
	plain lonely
	[ "$(nodes)" = "lonely " ]
	[ "$(edges)" = "" ]
	nothing_ran
}

@test "--dot follows default: when no target is named" {
	view_pipeline
	sed -i 's/^name: view-demo$/default: "sq[x=1]"/' flowrun.yaml
	plain
	[ "$(nodes)" = "prep sq[x=1] " ]
	nothing_ran
}

@test "--dot of an unknown target exits 2 with a did-you-mean" {
	view_pipeline
	run --separate-stderr "$FLOWRUN" --dot summ
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "flowrun: unknown target 'summ' (did you mean 'sum'?)" ]
}

@test "--version and -V print the version and exit 0" {
	run --separate-stderr "$FLOWRUN" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^flowrun\ [0-9]+\.[0-9]+ ]]
	[ "${#lines[@]}" -eq 1 ]
	[ -z "$stderr" ]
	version=$output
	run_ok -V
	[ "$output" = "$version" ]
}

@test "--help and -h print the usage on stdout and exit 0, even without a pipeline" {
	run --separate-stderr "$FLOWRUN" --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == usage:\ flowrun* ]]
	for opt in -f -C -j -k -n -B -D --explain --list --dot --result --no-wait; do
		echo "$output" | grep -q -- "^  $opt[ ,]" || { echo "usage lacks $opt"; return 1; }
	done
	help=$output
	run_ok -h
	[ "$output" = "$help" ]
}

@test "an unknown option prints the usage on stderr and exits 2" {
	run --separate-stderr "$FLOWRUN" --no-such-option
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *usage:\ flowrun* ]]
}
