#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Seeing a run: the status line on a terminal and plain lines elsewhere,
# colour, --events, --trace, --junit, --report in a real browser, pictures of
# the graph coloured by the last run, GitHub Actions folding and annotations,
# failure logs, and the --status gate.
load helpers

bats_require_minimum_version 1.5.0

PY=${PYTHON3:-python3}

# Three tasks with output, one without, one that needs them all.
small() {
	pipeline <<'EOF'
flowrun: 1
name: small
tasks:
  a:
    run: echo "a says 1"; echo "a says 2"
  b:
    run: echo "b says 1"
  quiet:
    run: "true"
  all:
    needs: [a, b, quiet]
    run: echo done > all.out
    outputs: all.out
EOF
}

# A fan-out where one instance fails with a long output, and a task after it.
failing() {
	pipeline <<'EOF'
flowrun: 1
name: failing
tasks:
  prep:
    run: touch prep.txt
    outputs: prep.txt
  sq:
    foreach: {x: [1, 2, 3]}
    inputs: prep.txt
    run: if [ ${{ x }} -eq 2 ]; then for i in $(seq 15); do echo "sq2 line $i"; done; exit 3; fi; echo ok ${{ x }}
  after:
    needs: sq
    run: touch after.out
EOF
}

# on_tty [ENV=VALUE...] -- ARGS...: flowrun on a pseudo-terminal of $COLS
# (default 100) columns made by script(1), with TERM=xterm. Its raw output is
# in tty.raw, the screen it leaves in tty.screen, its exit status in $status.
on_tty() {
	local envs=() cmd
	command -v script > /dev/null || skip "script(1) (bsdutils) is not installed"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	cmd="stty sane cols ${COLS:-100} rows 50; exec $(printf '%q ' env TERM=xterm "${envs[@]}" "$FLOWRUN" "$@")"
	status=0
	script -qec "$cmd" /dev/null < /dev/null > tty.raw || status=$?
	screen tty.raw > tty.screen
	cat tty.screen
}

# screen FILE: the screen a terminal shows after receiving FILE: \r returns to
# the start of the line, \n goes down, ESC [ K clears to the end of the line,
# other escape sequences change nothing on the screen.
screen() {
	"$PY" - "$1" <<'EOF'
import re, sys
data = open(sys.argv[1], encoding="utf-8", errors="replace", newline="").read()
rows, r, c, i = [[]], 0, 0, 0
while i < len(data):
    ch = data[i]
    if ch == "\x1b":
        m = re.match(r"\x1b\[([0-9;?]*)([A-Za-z])", data[i:])
        if m:
            if m.group(2) == "K":
                del rows[r][c:]
            i += m.end()
            continue
    if ch == "\r":
        c = 0
    elif ch == "\n":
        r += 1
        if r == len(rows):
            rows.append([])
    else:
        row = rows[r]
        row.extend(" " * (c - len(row)))
        if c < len(row):
            row[c] = ch
        else:
            row.append(ch)
        c += 1
    i += 1
while rows and not rows[-1]:
    rows.pop()
print("\n".join("".join(row).rstrip() for row in rows))
EOF
}

# pyrun CODE ARGS...: run a Python check; its output is shown on failure.
pyrun() {
	local code=$1
	shift
	"$PY" -c "$code" "$@"
}

# A command that marks its task as started and waits (at most ~5 s) for the
# other task's mark: both run at the same time or it fails.
rendezvous() {
	echo "touch $1.started; i=0; while [ ! -e $2.started ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done; [ -e $2.started ]"
}

# ---------------------------------------------------------------- terminal

@test "on a terminal one status line is redrawn in place, output blocks print whole above it" {
	small
	on_tty NO_COLOR=1 -- -j 1
	[ "$status" -eq 0 ]
	# the raw stream draws a status line in place (\r, the line, clear to its end)
	grep -q $'^\r\[0/4\] 0 running, 0 failed, 0 up to date, [0-9.]*s elapsed\033\[K' tty.raw
	# and takes it away before each block it prints, then draws it again
	[ "$(grep -c $'\r\033\[K\[[12]/4\] [ab]\r$' tty.raw)" -eq 2 ]
	grep -q $'^\r\[2/4\] 0 running' tty.raw
	# what stays on the screen: the blocks, whole, then the last status line
	expected=$(printf '%s\n' '[1/4] a' 'a says 1' 'a says 2' '[2/4] b' 'b says 1')
	[ "$(head -n 5 tty.screen)" = "$expected" ]
	[ "$(wc -l < tty.screen)" -eq 6 ]
	[[ "$(tail -n 1 tty.screen)" =~ ^\[4/4\]\ 4\ ran,\ 0\ failed,\ 0\ up\ to\ date,\ [0-9.]+s$ ]]
	# a task without output (quiet, all) has no line of its own on a terminal
	! grep -q '^\[[0-9]/4\] quiet' tty.screen
	! grep -q elapsed tty.screen
}

@test "on a terminal the status line never mixes with output of tasks running in parallel" {
	pipeline <<EOF
flowrun: 1
tasks:
  a:
    run: $(rendezvous a b) || exit 1; for i in \$(seq 100); do echo "a line \$i"; done
  b:
    run: $(rendezvous b a) || exit 1; for i in \$(seq 100); do echo "b line \$i"; done
EOF
	on_tty -- -j 2
	[ "$status" -eq 0 ]
	for t in a b; do
		start=$(grep -n "^\[[12]/2\] $t\$" tty.screen | cut -d: -f1)
		[ -n "$start" ]
		diff <(sed -n "$((start + 1)),$((start + 100))p" tty.screen) \
			<(for i in $(seq 100); do echo "$t line $i"; done)
	done
	[ "$(wc -l < tty.screen)" -eq 203 ]
	! grep -q 'running,' tty.screen
}

@test "the status line names the running tasks when the terminal is wide enough" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  slowpoke:
    run: sleep 1.5
EOF
	on_tty -- -j 1
	[ "$status" -eq 0 ]
	grep -q '1 running, 0 failed, 0 up to date, [0-9.]*s elapsed: slowpoke' tty.raw
	COLS=45 on_tty -- -j 1 -B
	[ "$status" -eq 0 ]
	grep -q '1 running' tty.raw
	! grep -q slowpoke tty.raw
	# nothing is drawn wider than the terminal
	tr '\r' '\n' < tty.raw | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | awk 'length > 44 { bad = 1 } END { exit bad }'
}

@test "the ETA comes from the durations of earlier runs" {
	small
	on_tty -- -j 1
	[ "$status" -eq 0 ]
	! grep -q ETA tty.raw
	on_tty -- -j 1 -B
	[ "$status" -eq 0 ]
	grep -q ', ETA [0-9.]*s' tty.raw
	# the last line, kept on the screen, has no ETA
	! grep -q ETA tty.screen
}

@test "--progress=plain on a terminal prints a line per finished task and no status line" {
	small
	on_tty -- -j 1 --progress=plain
	[ "$status" -eq 0 ]
	! grep -q 'running,' tty.raw
	grep -qx '\[3/4\] quiet' tty.screen
	grep -qx '\[4/4\] all' tty.screen
}

@test "--progress=none prints output blocks only; --progress=tty draws a status line anywhere" {
	small
	run_ok -j 1 --progress=none
	[ "${lines[0]}" = "[1/4] a" ]
	[ "${#lines[@]}" -eq 5 ]
	refute_line --regexp 'quiet|all'
	run_ok -j 1 -B --progress=tty
	[[ "$output" == *$'\r'* ]]
	assert_output --partial '[4/4] 4 ran, 0 failed, 0 up to date'
}

@test "--progress and --color take only their words" {
	small
	run_fails_with 2 '^flowrun: --progress=bar: expected auto, tty, plain or none$' --progress=bar
	run_fails_with 2 '^flowrun: --color=yes: expected auto, always or never$' --color=yes
	[ ! -e .flowrun ]
}

@test "-q on a terminal shows no status line and no successful task" {
	small
	on_tty -- -j 1 -q
	[ "$status" -eq 0 ]
	[ -z "$(cat tty.screen)" ]
	! grep -q running tty.raw
}

@test "colour: off when not a terminal, on with --color=always or CLICOLOR_FORCE, off with NO_COLOR or --color=never" {
	failing
	esc=$'\033['
	run -1 "$FLOWRUN" -k -j 1
	[[ "$output" != *"$esc"* ]]
	run -1 "$FLOWRUN" -k -j 1 -B --color=always
	[[ "$output" == *"${esc}1;31m[3/5] FAILED:${esc}0m sq[x=2]: exit status 3"* ]]
	[[ "$output" == *"${esc}32m["* ]]
	run -1 env CLICOLOR_FORCE=1 "$FLOWRUN" -k -j 1
	[[ "$output" == *"$esc"* ]]
	run -1 env CLICOLOR_FORCE=1 NO_COLOR=1 "$FLOWRUN" -k -j 1
	[[ "$output" != *"$esc"* ]]
	run -1 env CLICOLOR_FORCE=1 "$FLOWRUN" -k -j 1 --color=never
	[[ "$output" != *"$esc"* ]]
	run -1 env NO_COLOR=1 "$FLOWRUN" -k -j 1 --color=always
	[[ "$output" == *"$esc"* ]]
	# on a terminal colour is the default, and NO_COLOR turns it off
	on_tty -- -k -j 1
	grep -q $'\033\[1m\[' tty.raw
	on_tty NO_COLOR=1 -- -k -j 1
	! grep -q $'\033\[[0-9;]*m' tty.raw
	grep -q 'FAILED: sq\[x=2\]' tty.screen
}

# ---------------------------------------------------------------- failures

@test "a failure's full output goes to .flowrun/logs, and the summary says where" {
	failing
	run --separate-stderr "$FLOWRUN" -k -j 1
	[ "$status" -eq 1 ]
	echo "$stderr"
	log=$(echo "$stderr" | sed -n 's/^    full log: //p')
	[[ "$log" =~ ^\.flowrun/logs/sq_x=2_-[0-9a-f]{8}\.log$ ]]
	[ -f "$log" ]
	diff "$log" <(for i in $(seq 15); do echo "sq2 line $i"; done)
	# the summary itself keeps only the last lines
	[ "$(echo "$stderr" | grep -c '^    | sq2 line')" -eq 10 ]
	# the path is given from where flowrun was started
	here=$(pwd -P)
	mkdir -p sub && cd sub
	run --separate-stderr "$FLOWRUN" -f ../flowrun.yaml -k -j 1
	echo "$stderr" | grep -qx "    full log: $here/$log"
	cd "$here"
	cd ..
	run --separate-stderr "$FLOWRUN" -C "${here##*/}" -k -j 1
	echo "$stderr" | grep -qx "    full log: ${here##*/}/$log"
	cd "$here"
	# a success removes the log of the earlier failure
	sed -i 's/-eq 2 ]/-eq 9 ]/' flowrun.yaml
	run_ok -j 1
	[ ! -e "$log" ]
}

@test "log names are safe file names, distinct for distinct instances" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {p: ["a/b", "a_b", "../up", "x y"]}
    run: echo "${{ p }}"; exit 1
EOF
	run -1 "$FLOWRUN" -k -j 1
	[ "$(ls .flowrun/logs | wc -l)" -eq 4 ]
	! ls .flowrun/logs | grep -q '[/ ]'
	[ ! -e .flowrun/up.log ] && [ ! -e up.log ]
	for f in .flowrun/logs/*.log; do
		case $(cat "$f") in "a/b"|"a_b"|"../up"|"x y") ;; *) echo "bad log $f"; return 1 ;; esac
	done
}

@test "GITHUB_ACTIONS=true folds each task's output into a group and annotates failures" {
	failing
	run -1 env GITHUB_ACTIONS=true "$FLOWRUN" -k -j 1
	echo "$output"
	assert_line '::group::[2/5] sq[x=1]'
	assert_line '::group::[3/5] FAILED: sq[x=2]: exit status 3'
	assert_line '::error title=flowrun task sq[x=2]::exit status 3'
	# the group holds the output, whole, and closes before the annotation
	block=$(echo "$output" | sed -n '/^::group::\[3\/5\]/,/^::error/p')
	[ "$(echo "$block" | sed -n 2p)" = "sq2 line 1" ]
	[ "$(echo "$block" | tail -n 2 | head -n 1)" = "::endgroup::" ]
	[ "$(echo "$block" | grep -c '^sq2 line')" -eq 15 ]
	# a task without output is one plain line
	assert_line '[1/5] prep'
	run -1 env GITHUB_ACTIONS=false "$FLOWRUN" -k -j 1
	refute_output --partial '::'
}

@test "an ::error:: annotation escapes what GitHub would read as syntax" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {a: [1], b: ["x:y"]}
    run: exit 4
EOF
	run -1 env GITHUB_ACTIONS=true "$FLOWRUN" -j 1
	assert_line '::error title=flowrun task t[a=1%2Cb=x%3Ay]::exit status 4'
}

# ---------------------------------------------------------------- events

@test "--events writes one JSON object a line for every event, with times, tasks and costs" {
	failing
	run -1 "$FLOWRUN" -k -j 1 --events events.jsonl
	pyrun '
import json, sys
ev = [json.loads(l) for l in open("events.jsonl")]
kinds = [e["event"] for e in ev]
assert kinds[0] == "run_start" and kinds[-1] == "run_end", kinds
assert ev[0]["total"] == 5 and ev[0]["pipeline"] == "flowrun.yaml" and ev[0]["dry_run"] is False
for e in ev:
    assert e["time"].endswith("Z") and len(e["time"]) == 24, e
    assert isinstance(e["elapsed"], (int, float)) and e["elapsed"] >= 0
    if e["event"] not in ("run_start", "run_end"):
        assert "task" in e and "instance" in e, e
by = lambda k, i: [e for e in ev if e["event"] == k and e["instance"] == i]
assert len(by("task_queued", "sq[x=1]")) == 1
st = by("task_started", "sq[x=1]")[0]
assert st["task"] == "sq" and st["reason"] == "no record of an earlier run", st
assert st["command"].startswith("if [ 1 -eq 2 ]"), st
fin = by("task_finished", "sq[x=1]")[0]
assert fin["exit_status"] == 0 and fin["attempt"] == 1, fin
assert fin["duration"] >= 0 and fin["cpu"] >= 0 and fin["max_rss"] > 100000, fin
assert fin["done"] == 2 and fin["total"] == 5, fin
out = by("output", "sq[x=1]")[0]
assert out["text"] == "ok 1\n", out
assert ev.index(out) < ev.index(fin)
fail = by("task_failed", "sq[x=2]")[0]
assert fail["exit_status"] == 3 and fail["message"] == "exit status 3", fail
assert fail["max_rss"] > 0 and "cpu" in fail and "duration" in fail, fail
assert by("output", "sq[x=2]")[0]["text"].count("sq2 line") == 15
end = ev[-1]
assert (end["ran"], end["failed"], end["up_to_date"], end["not_run"]) == (3, 1, 0, 1), end
'
	# a second run: skipped with the reason, a retried task with its attempt
	sed -i 's/-eq 2 ]/-eq 9 ]/' flowrun.yaml
	cat >> flowrun.yaml <<'EOF'
  flaky:
    run: n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; echo "try $n"; [ $n -ge 1 ]
    retries: 1
EOF
	run_ok -j 1 --events events.jsonl
	pyrun '
import json
ev = [json.loads(l) for l in open("events.jsonl")]
sk = [e for e in ev if e["event"] == "task_skipped"]
assert [e["instance"] for e in sk] == ["prep"], sk
assert all(e["reason"] == "up to date" for e in sk)
rt = [e for e in ev if e["event"] == "task_retried"]
assert len(rt) == 1 and rt[0]["instance"] == "flaky", rt
assert rt[0]["attempt"] == 1 and rt[0]["next_attempt"] == 2 and rt[0]["exit_status"] == 1, rt
assert "duration" in rt[0]
out = [e for e in ev if e["event"] == "output" and e["instance"] == "flaky"]
assert [o["text"] for o in out] == ["try 0\n", "try 1\n"] and [o["attempt"] for o in out] == [1, 2], out
fin = [e for e in ev if e["event"] == "task_finished" and e["instance"] == "flaky"][0]
assert fin["attempt"] == 2, fin
'
}

@test "--events is a stream: each line is in the file as its event happens" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  first:
    run: "true"
  peek:
    needs: first
    run: grep -q '"event":"task_started","time":"[^"]*","elapsed":[0-9.e-]*,"task":"peek"' events.jsonl && grep -q '"event":"task_finished".*"instance":"first"' events.jsonl
EOF
	run_ok -j 1 --events events.jsonl
	assert_ran peek
}

@test "--events with -n says what would run; output that is not UTF-8 stays valid JSON" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  bin:
    run: printf 'ok\377\376 end\n'
EOF
	run_ok -j 1 -n --events events.jsonl
	pyrun '
import json
ev = [json.loads(l) for l in open("events.jsonl")]
assert ev[0]["dry_run"] is True
w = [e for e in ev if e["event"] == "task_would_run"]
assert w[0]["instance"] == "bin" and w[0]["reason"] == "no record of an earlier run", w
assert ev[-1]["would_run"] == 1
'
	run_ok -j 1 --events events.jsonl
	pyrun '
import json
ev = [json.loads(l) for l in open("events.jsonl", encoding="utf-8")]
out = [e for e in ev if e["event"] == "output"][0]
assert out["text"] == "ok\ufffd\ufffd end\n", out
'
}

@test "--events to a file that cannot be written fails the run with a message" {
	small
	[ -w /dev/full ] || skip "no /dev/full"
	run_fails_with 1 '^flowrun: cannot write /dev/full: No space left on device$' -j 1 --events /dev/full
	run_fails_with 1 '^flowrun: cannot create /.*/no/such/dir/e.jsonl: No such file or directory$' --events no/such/dir/e.jsonl
}

# ---------------------------------------------------------------- trace

@test "--trace writes a Chrome trace: complete events, pid 1, overlapping tasks on different lanes" {
	pipeline <<EOF
flowrun: 1
name: traced
tasks:
  a:
    run: $(rendezvous a b)
  b:
    run: $(rendezvous b a)
  c:
    needs: [a, b]
    run: n=\$(cat n 2>/dev/null || echo 0); echo \$((n+1)) > n; [ \$n -ge 1 ]
    retries: 1
EOF
	run_ok -j 2 --trace trace.json
	pyrun '
import json
tr = json.load(open("trace.json"))
assert isinstance(tr, list)
x = [e for e in tr if e["ph"] == "X"]
assert sorted(e["name"] for e in x) == ["a", "b", "c", "c"], x
for e in x:
    assert e["pid"] == 1 and e["tid"] >= 1 and e["dur"] >= 0 and e["ts"] >= 0, e
    assert e["cat"] == e["name"]
a, b = [e for e in x if e["name"] in "ab"]
assert a["ts"] < b["ts"] + b["dur"] and b["ts"] < a["ts"] + a["dur"], "a and b overlap"
assert a["tid"] != b["tid"]
c1, c2 = [e for e in x if e["name"] == "c"]
assert (c1["args"]["attempt"], c1["args"]["status"]) == (1, "retried"), c1
assert (c2["args"]["attempt"], c2["args"]["status"]) == (2, "done"), c2
assert c1["tid"] == c2["tid"]
names = {e["tid"]: e["args"]["name"] for e in tr if e["ph"] == "M" and e["name"] == "thread_name"}
assert names == {1: "slot 1", 2: "slot 2"}, names
proc = [e for e in tr if e["ph"] == "M" and e["name"] == "process_name"][0]
assert proc["args"]["name"] == "flowrun traced"
'
	[ -z "$(ls | grep tmp)" ]
}

@test "--trace of tasks one after another keeps them on one lane" {
	small
	run_ok -j 1 --trace trace.json
	pyrun '
import json
x = [e for e in json.load(open("trace.json")) if e["ph"] == "X"]
assert len(x) == 4 and {e["tid"] for e in x} == {1}, x
'
}

# ---------------------------------------------------------------- JUnit

@test "--junit writes well-formed JUnit XML: a testcase per instance, failures with their last lines" {
	failing
	run -1 "$FLOWRUN" -k -j 1 --junit junit.xml
	pyrun '
import xml.etree.ElementTree as ET
root = ET.parse("junit.xml").getroot()
assert root.tag == "testsuites", root.tag
suite = root.find("testsuite")
assert suite.get("name") == "failing"
assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "1"), suite.attrib
cases = {c.get("name"): c for c in suite.findall("testcase")}
assert sorted(cases) == ["after", "prep", "sq[x=1]", "sq[x=2]", "sq[x=3]"], sorted(cases)
assert cases["sq[x=1]"].get("classname") == "sq"
f = cases["sq[x=2]"].find("failure")
assert f.get("message") == "exit status 3" and f.get("type") == "exit status", f.attrib
assert f.text.splitlines() == ["sq2 line %d" % i for i in range(1, 16)], f.text
assert cases["after"].find("skipped") is not None
assert cases["prep"].find("failure") is None and cases["prep"].find("skipped") is None
for c in cases.values():
    float(c.get("time"))
'
	run -1 "$FLOWRUN" -k -j 1 --junit junit.xml
	pyrun '
import xml.etree.ElementTree as ET
cases = {c.get("name"): c for c in ET.parse("junit.xml").getroot().iter("testcase")}
assert cases["prep"].find("skipped").get("message") == "up to date"
'
}

@test "--junit escapes what XML forbids in names and output" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    foreach: {v: ["<&\"'>"]}
    run: printf 'bell\007 <tag> & \377\n'; exit 1
EOF
	run -1 "$FLOWRUN" -j 1 --junit junit.xml
	pyrun '
import xml.etree.ElementTree as ET
c = ET.parse("junit.xml").getroot().find("testsuite").find("testcase")
assert c.get("name") == "t[v=<&\"'"'"'>]", c.get("name")
assert c.find("failure").text == "bell <tag> & \ufffd", repr(c.find("failure").text)
'
	# the last-run record is JSON whatever the names hold
	pyrun '
import json
assert json.load(open(".flowrun/last-run.json"))["tasks"] == {"t[v=<&\"'"'"'>]": "failed"}
'
}

# ---------------------------------------------------------------- pictures

# fill NODE: the fillcolor --dot gives NODE ("" when none).
fill() {
	"$FLOWRUN" --dot > graph.dot
	dot -Tplain graph.dot > /dev/null	# valid DOT
	"$PY" - "$1" <<'EOF'
import re, sys
text = open("graph.dot").read()
name = re.escape(sys.argv[1])
m = re.search(r'(?m)^\s*"?' + name + r'"?\s*\[([^\]]*)\]', text)
c = re.search(r'fillcolor="?([^",\]\s]+)', m.group(1)) if m else None
print(c.group(1) if c else "")
EOF
}

@test "--dot colours nodes by the last run: done, up to date, failed, not run" {
	failing
	run_ok --dot
	refute_output --partial fillcolor
	run -1 "$FLOWRUN" -k -j 1
	[ -f .flowrun/last-run.json ]
	[ "$(fill prep)" = "#b7e4b0" ]
	[ "$(fill 'sq[x=1]')" = "#b7e4b0" ]
	[ "$(fill 'sq[x=2]')" = "#f4a3a3" ]
	[ "$(fill after)" = "white" ]
	grep -q 'after.*style="filled,dashed"' <(tr -d '\n\t' < graph.dot | sed 's/;/;\n/g')
	run -1 "$FLOWRUN" -k -j 1
	[ "$(fill prep)" = "#d6e4f0" ]
	[ "$(fill 'sq[x=2]')" = "#f4a3a3" ]
	"$PY" -c '
import json
d = json.load(open(".flowrun/last-run.json"))
assert d["flowrun_last_run"] == 1 and d["time"].endswith("Z")
assert d["tasks"] == {"prep": "up_to_date", "sq[x=1]": "up_to_date", "sq[x=2]": "failed",
    "sq[x=3]": "up_to_date", "after": "not_run"}, d
'
}

@test "the last-run record of thousands of tasks is whole, written a piece at a time" {
	cat > flowrun.yaml <<'EOF'
flowrun: 1
tasks:
  g:
    foreach: {i: {range: 6000}}
EOF
	run_ok -j 2
	"$PY" -c '
import json
d = json.load(open(".flowrun/last-run.json"))
assert d["tasks"] == {"g[i=%d]" % i: "done" for i in range(6000)}, len(d["tasks"])
'
	[ "$(stat -c %s .flowrun/last-run.json)" -gt 100000 ]
}

@test "-n and --status leave the last-run record alone; a damaged one is a warning" {
	small
	run_ok -n
	[ ! -e .flowrun ]
	run_ok -j 1
	cp .flowrun/last-run.json saved.json
	run_ok -B -n
	run_ok --status
	cmp .flowrun/last-run.json saved.json
	echo '{ nope' > .flowrun/last-run.json
	run --separate-stderr "$FLOWRUN" --dot
	[ "$status" -eq 0 ]
	[[ "$stderr" == "flowrun: warning: .flowrun/last-run.json: not a last-run record: "* ]]
	refute_output --partial fillcolor
}

@test "--dot=groups collapses each foreach into one node with its count" {
	failing
	run_ok --dot=groups
	echo "$output" > groups.dot
	dot -Tplain groups.dot > groups.plain
	[ "$(awk '$1 == "node" { print $2 }' groups.plain | sort | tr '\n' ' ')" = "after prep sq " ]
	[ "$(awk '$1 == "edge" { print $2 ">" $3 }' groups.plain | sort | tr '\n' ' ')" = "prep>sq sq>after " ]
	grep -q 'label="sq\\n3 instances"' groups.dot
	run_ok --dot --groups
	[ "$output" = "$(cat groups.dot)" ]
	run -1 "$FLOWRUN" -k -j 1
	run_ok --dot=groups
	echo "$output" | tr -d '\n\t' | grep -q 'sq\s*\[fillcolor="#f4a3a3"'
	run_fails_with 2 '^flowrun: --dot=many: expected instances or groups$' --dot=many
}

@test "--dot=groups of a large fan-out stays one node" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  many:
    foreach: {i: {range: 2000}}
    run: "true"
  sum:
    needs: many
    run: "true"
EOF
	run_ok --dot=groups
	[ "$(echo "$output" | grep -c -- '->')" -eq 1 ]
	[[ "$output" == *'many\n2000 instances'* ]]
}

@test "--graph renders SVG, PNG and PDF in-process, without the dot program" {
	failing
	run -1 "$FLOWRUN" -k -j 1
	run env PATH=/nonexistent "$FLOWRUN" --graph g.svg
	[ "$status" -eq 0 ]
	grep -q '<svg' g.svg
	grep -q '<title>sq\[x=2\]</title>' g.svg
	grep -qi 'fill="#f4a3a3"' g.svg
	run env PATH=/nonexistent "$FLOWRUN" --graph g.png
	[ "$status" -eq 0 ]
	[ "$(head -c 8 g.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
	run env PATH=/nonexistent "$FLOWRUN" --graph g.pdf --groups
	[ "$status" -eq 0 ]
	[ "$(head -c 5 g.pdf)" = "%PDF-" ]
	[ -z "$(ls | grep tmp)" ]
	run_fails_with 2 '^flowrun: --graph g.jpg: the file name must end in .svg, .png or .pdf$' --graph g.jpg
	[ ! -e g.jpg ]
}

# ---------------------------------------------------------------- HTML

@test "--report writes one self-contained page: graph, timeline, a row per task with why" {
	failing
	run -1 "$FLOWRUN" -k -j 1 --report report.html
	[ -s report.html ]
	# nothing is loaded from anywhere: no src, no link, no url(), no import
	! grep -Eiq '<(link|img|iframe|object|embed)\b|\bsrc=|url\(|@import' report.html
	grep -q "Content-Security-Policy\" content=\"default-src 'none'" report.html
	grep -q '<svg width=' report.html			# the graph, inline
	grep -q '<svg class="timeline"' report.html
	grep -q '<table id="task-table">' report.html
	grep -q '<td>sq\[x=2\]</td><td class="st s-failed">failed</td>' report.html
	grep -q '<td>prep</td><td class="st s-done">done</td>' report.html
	grep -q '<td>after</td><td class="st s-not_run">not run</td>' report.html
	grep -q '>exit status 3</td></tr>' report.html
	grep -q '>no record of an earlier run</td></tr>' report.html
	grep -q 'sq2 line 15' report.html
	pyrun '
import html.parser
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.rows = 0; self.stack = []
    def handle_starttag(self, tag, a):
        if tag == "tr": self.rows += 1
p = P(); p.feed(open("report.html").read())
assert p.rows == 6, p.rows
'
	run -1 "$FLOWRUN" -k -j 1 --report report.html
	grep -q '<td>prep</td><td class="st s-up_to_date">up to date</td>' report.html
	grep -q 'Nothing ran in this run\|class="bar failed"' report.html
}

# chromium ARGS...: headless Chromium with the flags this machine needs; its
# log (console messages included) goes to chrome.log.
chromium_run() {
	local profile
	profile=$(mktemp -d)
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$profile" --enable-logging=stderr --v=0 "$@" 2>> chrome.log
	local rc=$?
	rm -rf "$profile"
	return $rc
}

@test "the HTML report renders in a real browser: not blank, no console errors, the table sorts" {
	command -v chromium > /dev/null ||
		skip "chromium is not installed (apt-get install chromium)"
	failing
	run -1 "$FLOWRUN" -k -j 1 --report report.html
	chromium_run --window-size=1280,1400 --screenshot="$PWD/shot.png" "file://$PWD/report.html"
	[ -s shot.png ]
	[ "$(stat -c %s shot.png)" -gt 20000 ]
	pyrun '
import struct, zlib, sys
data = open("shot.png", "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", data[16:24])
idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
    for i in range(8, len(data)) if data[i + 4:i + 8] == b"IDAT")
raw = zlib.decompress(idat)
assert w >= 1000 and h >= 1000, (w, h)
# many distinct byte values: a blank page compresses to almost nothing
assert len(set(raw[::97])) > 20, len(set(raw[::97]))
'
	chromium_run --dump-dom "file://$PWD/report.html#sort=-duration" > dom.html
	grep -q 'data-sorted="duration:desc"' dom.html
	grep -q 'aria-sort="descending"' dom.html
	# every row is still there, longest first
	pyrun '
import re
dom = open("dom.html").read()
body = dom[dom.index("<tbody>"):dom.index("</tbody>")]
rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
assert len(rows) == 5, len(rows)
dur = [float(re.findall(r"data-v=\"([-0-9.]+)\"", r)[1]) for r in rows]
assert dur == sorted(dur, reverse=True), dur
'
	! grep -q 'Uncaught' chrome.log
	! grep -q 'Refused to load' chrome.log
}

# ---------------------------------------------------------------- --status

@test "--status says what is up to date and what would run and why, and changes nothing" {
	small
	run_fails_with 1 'would run: a \(no record of an earlier run\)' --status
	assert_line 'status: 4 would run, 0 up to date'
	[ ! -e .flowrun ]
	run_ok -j 1
	cp -r .flowrun state.before
	run_ok --status
	assert_line 'up to date: a'
	assert_line 'up to date: all'
	assert_line 'status: 0 would run, 4 up to date'
	refute_output --partial 'would run:'
	sed -i 's/echo "b says 1"/echo "b says one"/' flowrun.yaml
	run_fails_with 1 '^would run: b \(command changed\)$' --status
	assert_line 'would run: all (upstream b would run)'
	assert_line 'up to date: a'
	assert_line 'status: 2 would run, 2 up to date'
	diff -r .flowrun state.before
	run_fails_with 1 '^would run: b' --status -q
	refute_output --partial 'up to date: a'
	# nothing ran: b still says what it said
	run_ok -j 1
	assert_line 'b says one'
}

@test "--status of a task that cannot be planned exits 1 and says why" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  t:
    inputs: missing.txt
    run: cat missing.txt
EOF
	run_fails_with 1 'FAILED: t: ' --status
	[ ! -e .flowrun ]
}

@test "--help lists the new options" {
	run_ok --help
	for opt in --status --progress=MODE --color=WHEN --events --trace --junit --report --graph --groups; do
		echo "$output" | grep -q -- "^  $opt[ ,]" || { echo "usage lacks $opt"; return 1; }
	done
}
