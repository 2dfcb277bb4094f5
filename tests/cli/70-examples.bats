#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The examples the README runs: each one copied to a fresh directory, run,
# its answer checked against the one worked out here independently, then
# rerun to see that nothing runs twice.
load helpers

# example NAME: copy examples/NAME here, without state or results left over
# from running it in the source tree.
example() {
	cp -R "$FLOWRUN_SRCDIR/examples/$1" "$1"
	rm -rf "$1/.flowrun" "$1/data" "$1/out" "$1/text" "$1/chunks" "$1/counts"
}

# longest_of FILE...: the largest length in the CSVs, computed apart from flowrun.
longest_of() {
	awk -F, 'FNR == 1 { next } $2 + 0 > m { m = $2 + 0 } END { print m + 0 }' "$@"
}

@test "tracks: the longest track of all years, 90087" {
	example tracks
	run_ok -C tracks
	assert_ran_count 9
	assert_ran 'generate[year=2019]'
	assert_ran 'longest[year=2022]'
	assert_ran maximum
	for y in 2019 2020 2021 2022; do
		[ "$(head -n 1 "tracks/data/$y.csv")" = "id,length" ]
		[ "$(wc -l < "tracks/data/$y.csv")" -eq 4001 ]
	done
	want=$(longest_of tracks/data/*.csv)
	assert_equal "$want" 90087
	run grep -Fx "longest overall: $want" tracks/out/report.txt
	assert_success
	run grep -Fx 'longest per year (2019-2022): [90082,90040,90087,90067]' tracks/out/report.txt
	assert_success
}

@test "tracks: --result maximum prints the number" {
	example tracks
	run_ok -C tracks -q
	run_ok -C tracks --result maximum
	assert_output "$(longest_of tracks/data/*.csv)"
	assert_output 90087
}

@test "tracks: a second run runs nothing" {
	example tracks
	run_ok -C tracks
	run_ok -C tracks
	assert_ran_count 0
}

@test "tracks: a longer track in one year reruns that year's longest and the maximum" {
	example tracks
	run_ok -C tracks
	old=$(longest_of tracks/data/*.csv)
	new=$((old + 1000))
	echo "4001,$new" >> tracks/data/2021.csv
	run_ok -C tracks
	assert_ran 'longest[year=2021]'
	assert_ran maximum
	assert_ran_count 2
	assert_equal "$(longest_of tracks/data/*.csv)" "$new"
	run grep -Fx "longest overall: $new" tracks/out/report.txt
	assert_success
	run_ok -C tracks --result maximum
	assert_output "$new"
	# the edited data was not generated over
	[ "$(tail -n 1 tracks/data/2021.csv)" = "4001,$new" ]
}

@test "wordcount: the 10 most frequent words" {
	example wordcount
	run_ok -C wordcount
	assert_ran_count 7
	assert_ran text
	assert_ran split
	assert_ran 'count[k=0]'
	assert_ran 'count[k=3]'
	assert_ran reduce
	for k in 0 1 2 3; do
		[ -s "wordcount/chunks/$k" ]
		[ -s "wordcount/counts/$k.txt" ]
	done
	# the text is 5250 words; the chunks hold all of them, split by lines
	[ "$(wc -w < wordcount/text/input.txt)" -eq 5250 ]
	[ "$(cat wordcount/chunks/* | wc -w)" -eq 5250 ]
	# the answer, counted apart from flowrun
	export LC_ALL=C
	want=$(tr -s ' ' '\n' < wordcount/text/input.txt | grep -v '^$' | sort | uniq -c |
		sort -k1,1nr -k2,2 | head -n 10 | awk '{ print $2, $1 }')
	run cat wordcount/out/top.txt
	assert_output "$want"
	assert_output "alpha 500
beta 475
gamma 450
delta 425
epsilon 400
zeta 375
eta 350
theta 325
iota 300
kappa 275"
}

@test "wordcount: a second run runs nothing" {
	example wordcount
	run_ok -C wordcount
	run_ok -C wordcount
	assert_ran_count 0
}
