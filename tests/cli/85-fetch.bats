#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Fetch tasks against real servers on loopback that this file starts and stops:
# Debian's nginx (HTTP, HTTPS with a CA made here, redirects, gzip, ETag and
# Last-Modified, large files) and tests/services/fault_server.py for what nginx
# cannot do (a reset mid-body, a truncated body, failing N times, hanging).
# The servers' addresses reach the pipelines as vars (-D), as users would pass
# a mirror's.
load helpers

setup_file() {
	local nginx
	nginx=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$nginx" ] || skip "nginx is not installed (apt-get install nginx-light)"
	SRV=$(mktemp -d "${TMPDIR:-/tmp}/flowrun-http.XXXXXX")
	export SRV
	"$FLOWRUN_SRCDIR/tests/services/http-up.sh" "$SRV" >/dev/null
	# shellcheck source=/dev/null
	. "$SRV/env.sh"
	export HTTP_URL HTTPS_URL FAULT_URL CA_CERT WWW ACCESS_LOG
}

teardown_file() {
	[ -z "${SRV-}" ] || "$FLOWRUN_SRCDIR/tests/services/http-down.sh" "$SRV" --clean
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	T=t$BATS_TEST_NUMBER		# this test's directory on the server, and its fault key
	mkdir -p "$WWW/$T"
}

# serve NAME: put stdin on nginx as /files/$T/NAME.
serve() {
	cat > "$WWW/$T/$1"
}

# fr ARGS...: run flowrun with the servers as vars: http, https, fault, ca,
# and t (this test's directory on nginx and key on the fault server).
fr() {
	run "$FLOWRUN" -D http="$HTTP_URL" -D https="$HTTPS_URL" -D fault="$FAULT_URL" \
		-D ca="$CA_CERT" -D t="$T" "$@"
	echo "$output"
}

# requests PATTERN: how many requests nginx logged whose line matches PATTERN (ERE).
requests() {
	grep -Ec -- "$1" "$ACCESS_LOG" || true
}

# hits KEY: how many requests the fault server counted for KEY.
hits() {
	curl -s "$FAULT_URL/__counts" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1"
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# no_leftovers: no temporary download file anywhere under here.
no_leftovers() {
	local left
	left=$(find . -name '*.flowrun-tmp*')
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

# events_count KIND [FILE]: how many events of KIND the events file holds.
events_count() {
	grep -c "\"event\":\"$1\"" "${2:-events.jsonl}" || true
}

# checked NAME COMMAND: a pipeline whose task NAME downloads /files/$T/NAME.txt
# to NAME.txt on every run (always: true) and whose task use runs COMMAND,
# which reads it and writes use.txt.
checked() {
	pipeline <<EOF
flowrun: 1
tasks:
  $1:
    fetch: {url: "\${{ http }}/files/\${{ t }}/$1.txt"}
    outputs: $1.txt
    always: true
  use:
    run: $2
    inputs: $1.txt
    outputs: use.txt
EOF
}

@test "an HTTP download: the body is the output, the result its metadata" {
	printf 'id,length\n1,300\n' | serve tracks.csv
	pipeline <<'EOF'
flowrun: 1
tasks:
  download:
    fetch: {url: "${{ http }}/files/${{ t }}/tracks.csv"}
    outputs: data/tracks.csv
EOF
	fr
	[ "$status" -eq 0 ]
	assert_ran download
	cmp data/tracks.csv "$WWW/$T/tracks.csv"
	fr --result download
	[ "$status" -eq 0 ]
	echo "$output" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
assert set(r) == {"url", "status", "bytes", "sha256", "etag", "last_modified", "seconds"}, r
assert r["url"] == sys.argv[1] and r["status"] == 200 and r["bytes"] == 16, r
assert r["sha256"] == sys.argv[2] and r["etag"].strip("W/").startswith("\""), r
assert r["last_modified"].endswith(" GMT") and isinstance(r["seconds"], float), r
' "$HTTP_URL/files/$T/tracks.csv" "$(sha data/tracks.csv)"
	[ "$(requests "GET /files/$T/tracks.csv .*ua=\"flowrun/[0-9.]+\"")" -eq 1 ]
	no_leftovers
}

@test "a second run is up to date and asks the server nothing" {
	echo one | serve a.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  a:
    fetch: {url: "${{ http }}/files/${{ t }}/a.txt"}
    outputs: a.txt
EOF
	fr
	[ "$status" -eq 0 ]
	fr
	[ "$status" -eq 0 ]
	assert_ran_count 0
	[ "$(requests "/files/$T/a.txt")" -eq 1 ]
}

@test "HTTPS is verified: against the test CA through cacert, and without it a TLS error" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  good:
    fetch: {url: "${{ https }}/files/hello.txt", cacert: "${{ ca }}"}
    outputs: good.txt
  bad:
    fetch: {url: "${{ https }}/files/hello.txt", retries: 2}
    outputs: bad.txt
EOF
	fr -k --events events.jsonl
	[ "$status" -eq 1 ]
	assert_ran good
	cmp good.txt "$WWW/hello.txt"
	assert_line --partial "FAILED: bad: $HTTPS_URL/files/hello.txt: TLS failure: SSL certificate problem"
	[ "$(events_count task_retried)" -eq 0 ]
	[ ! -e bad.txt ]
}

@test "redirects are followed, across schemes, and the result names the final URL" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  chain:
    fetch: {url: "${{ http }}/redirect/chain"}
    outputs: chain.txt
  tohttps:
    fetch: {url: "${{ http }}/redirect/https", cacert: "${{ ca }}"}
    outputs: https.txt
  loop:
    fetch: {url: "${{ http }}/redirect/loop"}
    outputs: loop.txt
EOF
	fr -k
	[ "$status" -eq 1 ]
	assert_line --partial "FAILED: loop: $HTTP_URL/redirect/loop: more than 10 redirects"
	[ ! -e loop.txt ]
	fr --result chain --result tohttps
	cmp chain.txt "$WWW/hello.txt"
	cmp https.txt "$WWW/hello.txt"
	assert_line --partial "\"url\":\"$HTTP_URL/files/hello.txt\""
	assert_line --partial "\"url\":\"$HTTPS_URL/files/hello.txt\""
}

@test "a gzip-encoded body is stored decoded" {
	seq 1 20000 | serve numbers.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  numbers:
    fetch: {url: "${{ http }}/files/${{ t }}/numbers.txt"}
    outputs: numbers.txt
EOF
	fr
	[ "$status" -eq 0 ]
	cmp numbers.txt "$WWW/$T/numbers.txt"
	# nginx sent far fewer bytes than the file has: the body was compressed
	sent=$(grep "/files/$T/numbers.txt" "$ACCESS_LOG" | cut -d' ' -f4)
	echo "sent $sent of $(wc -c < numbers.txt) bytes"
	[ "$sent" -lt $(($(wc -c < numbers.txt) / 2)) ]
	grep "/files/$T/numbers.txt" "$ACCESS_LOG" | grep -q 'ae="[^"]*gzip'
}

@test "a 64 MiB download arrives whole, checked against a sha512 pin as it goes" {
	head -c 64M /dev/urandom > "$WWW/$T/big.bin"
	pin=$(openssl dgst -sha512 -binary "$WWW/$T/big.bin" | base64 -w0)
	pipeline <<EOF
flowrun: 1
tasks:
  big:
    fetch: {url: "\${{ http }}/files/\${{ t }}/big.bin", integrity: "sha512-$pin"}
    outputs: big.bin
EOF
	fr --result big
	[ "$status" -eq 0 ]
	cmp big.bin "$WWW/$T/big.bin"
	assert_line --partial "\"bytes\":67108864"
	assert_line --partial "\"sha256\":\"$(sha big.bin)\""
	rm -f "$WWW/$T/big.bin"
}

@test "a large download stopped halfway leaves nothing behind" {
	head -c 64M /dev/urandom > "$WWW/$T/big.bin"
	pipeline <<'EOF'
flowrun: 1
tasks:
  big:
    fetch: {url: "${{ http }}/rate/${{ t }}/big.bin"}
    outputs: big.bin
EOF
	"$FLOWRUN" -D http="$HTTP_URL" -D t="$T" -q &
	pid=$!
	for _ in $(seq 200); do
		[ "$(stat -c %s .big.bin.flowrun-tmp 2>/dev/null || echo 0)" -gt 8000000 ] && break
		sleep 0.05
	done
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	[ ! -e big.bin ]
	no_leftovers
	rm -f "$WWW/$T/big.bin"
}

@test "a pinned output is never fetched again: not after the state is lost, not from a new URL" {
	echo pinned | serve p.txt
	sum=$(sha "$WWW/$T/p.txt")
	pipeline <<EOF
flowrun: 1
vars: {path: p.txt}
tasks:
  p:
    fetch:
      url: "\${{ http }}/files/\${{ t }}/\${{ path }}"
      sha256: $sum
    outputs: p.txt
EOF
	fr
	[ "$status" -eq 0 ]
	assert_ran p
	[ "$(requests "/files/$T/")" -eq 1 ]
	rm -rf .flowrun
	fr --explain
	[ "$status" -eq 0 ]
	assert_line "explain: p: output p.txt matches its sha256 pin"
	fr -D path=mirror/p.txt --explain
	[ "$status" -eq 0 ]
	assert_line "explain: p: output p.txt matches its sha256 pin"
	[ "$(requests "/files/$T/")" -eq 1 ]
	# what it needs still gets a result
	fr --result p
	assert_line --partial "\"sha256\":\"$sum\""
	# -B forces a download
	fr -B
	[ "$status" -eq 0 ]
	[ "$(requests "/files/$T/")" -eq 2 ]
}

@test "a pin mismatch fails with expected and actual, leaves no file, keeps a good one" {
	echo version-1 | serve v.txt
	good=$(sha "$WWW/$T/v.txt")
	# a pin is part of the file, never a template
	pipeline <<'EOF'
flowrun: 1
tasks:
  v:
    fetch: {url: "${{ http }}/files/${{ t }}/v.txt", sha256: "${{ pin }}"}
    outputs: v.txt
EOF
	fr -D pin="$good"
	[ "$status" -eq 2 ]
	pipeline <<EOF
flowrun: 1
tasks:
  v:
    fetch: {url: "\${{ http }}/files/\${{ t }}/v.txt", sha256: $good}
    outputs: v.txt
EOF
	fr
	[ "$status" -eq 0 ]
	cp v.txt v.before
	echo version-2 | serve v.txt
	bad=$(sha "$WWW/$T/v.txt")
	new=$(echo version-3 | sha256sum | cut -d' ' -f1)
	# v is told to expect version 3 and fresh version 1; the server has version 2
	pipeline <<EOF
flowrun: 1
tasks:
  v:
    fetch: {url: "\${{ http }}/files/\${{ t }}/v.txt", sha256: $new}
    outputs: v.txt
  fresh:
    fetch: {url: "\${{ http }}/files/\${{ t }}/v.txt", sha256: $good}
    outputs: fresh.txt
EOF
	fr -k
	[ "$status" -eq 1 ]
	assert_line --partial "FAILED: v: $HTTP_URL/files/$T/v.txt: checksum mismatch: expected sha256 $new, got $bad (10 bytes)"
	assert_line --partial "FAILED: fresh: $HTTP_URL/files/$T/v.txt: checksum mismatch: expected sha256 $good, got $bad"
	cmp v.txt v.before		# the good file is untouched
	[ ! -e fresh.txt ]		# and nothing is left where there was nothing
	no_leftovers
}

@test "integrity: sha384 and sha512 pins, a mismatch shown in the same form" {
	echo sri | serve s.txt
	s384=$(openssl dgst -sha384 -binary "$WWW/$T/s.txt" | base64 -w0)
	pipeline <<EOF
flowrun: 1
tasks:
  ok:
    fetch: {url: "\${{ http }}/files/\${{ t }}/s.txt", integrity: "sha384-$s384"}
    outputs: ok.txt
  wrong:
    fetch:
      url: "\${{ http }}/files/\${{ t }}/s.txt"
      integrity: sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==
    outputs: wrong.txt
EOF
	fr -k
	[ "$status" -eq 1 ]
	assert_ran ok
	s512=$(openssl dgst -sha512 -binary "$WWW/$T/s.txt" | base64 -w0)
	assert_line --partial "checksum mismatch: expected integrity sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==, got sha512-$s512"
	[ ! -e wrong.txt ]
	rm -rf .flowrun		# verified against a sha384 pin without downloading
	fr --explain ok
	assert_line "explain: ok: output ok.txt matches its sha384 pin"
	[ "$(requests "/files/$T/s.txt")" -eq 2 ]
}

@test "always: a 304 keeps the task and what needs it skipped, the output untouched" {
	echo same | serve e.txt
	checked e 'cat e.txt > use.txt'
	fr
	[ "$status" -eq 0 ]
	ino=$(stat -c %i.%Y e.txt)
	fr --explain --events events.jsonl
	[ "$status" -eq 0 ]
	assert_line "explain: e: not modified on the server (HTTP 304)"
	assert_line "explain: use: up to date"
	assert_ran_count 0
	[ "$(stat -c %i.%Y e.txt)" = "$ino" ]
	# the second request was conditional: the stored ETag and Last-Modified went back
	last=$(grep "/files/$T/e.txt" "$ACCESS_LOG" | tail -1)
	echo "$last"
	[[ $last == "304 "* ]]
	[[ $last == *'inm="\x22'* ]]
	[[ $last == *'ims="'*' GMT"'* ]]
	[ "$(events_count task_skipped)" -eq 2 ]
	[ "$(events_count task_finished)" -eq 0 ]
}

@test "always: a changed file on the server is downloaded and what needs it reruns" {
	echo short | serve c.txt
	checked c 'wc -c < c.txt > use.txt'
	fr
	[ "$status" -eq 0 ]
	echo 'a longer line now' | serve c.txt	# another size: another ETag
	fr
	[ "$status" -eq 0 ]
	assert_ran c
	assert_ran use
	cmp c.txt "$WWW/$T/c.txt"
	[ "$(cat use.txt)" -eq 18 ]
}

@test "always: 200 with identical content keeps what needs it skipped (early cutoff)" {
	echo identical | serve i.txt
	checked i 'cat i.txt > use.txt'
	fr
	[ "$status" -eq 0 ]
	ino=$(stat -c %i.%Y i.txt)
	touch -d '+3 sec' "$WWW/$T/i.txt"	# a new ETag and Last-Modified, the same bytes
	fr --explain
	[ "$status" -eq 0 ]
	assert_ran i
	assert_line "explain: use: up to date"
	[[ $(grep "/files/$T/i.txt" "$ACCESS_LOG" | tail -1) == "200 "* ]]
	[ "$(stat -c %i.%Y i.txt)" = "$ino" ]	# the same content is not even rewritten
}

@test "an output changed locally is downloaded again, unconditionally" {
	echo original | serve l.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  l:
    fetch: {url: "${{ http }}/files/${{ t }}/l.txt"}
    outputs: l.txt
    always: true
EOF
	fr
	[ "$status" -eq 0 ]
	echo edited > l.txt
	fr
	[ "$status" -eq 0 ]
	cmp l.txt "$WWW/$T/l.txt"
	last=$(grep "/files/$T/l.txt" "$ACCESS_LOG" | tail -1)
	echo "$last"
	[[ $last == "200 "*'inm="-" ims="-"'* ]]
	rm l.txt
	fr
	[ "$status" -eq 0 ]
	cmp l.txt "$WWW/$T/l.txt"
	[[ $(grep "/files/$T/l.txt" "$ACCESS_LOG" | tail -1) == "200 "*'inm="-" ims="-"'* ]]
}

@test "a 4xx fails at once, never retried, naming the task and the URL" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  missing:
    fetch: {url: "${{ http }}/status/404?${{ t }}", retries: 3}
    outputs: missing.txt
EOF
	fr --events events.jsonl
	[ "$status" -eq 1 ]
	assert_line "[1/1] FAILED: missing: $HTTP_URL/status/404?$T: HTTP 404 Not Found"
	[ "$(events_count task_retried)" -eq 0 ]
	[ "$(requests "/status/404\\?$T ")" -eq 1 ]
	[ ! -e missing.txt ]
}

@test "a 5xx is retried with a growing backoff, every retry reported, then fails" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  busy:
    fetch: {url: "${{ fault }}/flaky?n=99&mode=500&key=${{ t }}"}
    outputs: busy.txt
    retries: 2
EOF
	start=$(date +%s%N)
	fr --events events.jsonl
	[ "$status" -eq 1 ]
	took=$((($(date +%s%N) - start) / 1000000))
	echo "took $took ms"
	[ "$(events_count task_retried)" -eq 2 ]
	grep '"event":"task_retried"' events.jsonl | grep -q 'HTTP 500 Internal Server Error; next try in 0.5s'
	grep '"event":"task_retried"' events.jsonl | grep -q 'HTTP 500 Internal Server Error; next try in 1s'
	assert_line --partial "busy failed ($FAULT_URL/flaky?n=99&mode=500&key=$T: HTTP 500 Internal Server Error; next try in 0.5s), retry 1 of 2"
	assert_line "[1/1] FAILED: busy: $FAULT_URL/flaky?n=99&mode=500&key=$T: HTTP 500 Internal Server Error"
	[ "$(hits "$T")" -eq 3 ]
	[ "$took" -ge 1500 ]		# 0.5 s, then 1 s
	[ ! -e busy.txt ]
}

@test "failing twice, then succeeding: two retries, one output" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  flaky:
    fetch: {url: "${{ fault }}/flaky?n=2&mode=503&size=1000&key=${{ t }}", retries: 3}
    outputs: flaky.bin
EOF
	fr --events events.jsonl
	[ "$status" -eq 0 ]
	[ "$(events_count task_retried)" -eq 2 ]
	[ "$(hits "$T")" -eq 3 ]
	[ "$(wc -c < flaky.bin)" -eq 1000 ]
	# the server's Retry-After (1 s) lengthens the first backoff
	grep '"event":"task_retried"' events.jsonl | head -1 | grep -q 'next try in 1s'
}

@test "a reset in the middle of the body is retried, and leaves nothing behind" {
	echo good > r.bin
	pipeline <<'EOF'
flowrun: 1
tasks:
  r:
    fetch: {url: "${{ fault }}/flaky?n=99&mode=reset&key=${{ t }}", retries: 1}
    outputs: r.bin
    always: true
EOF
	fr --events events.jsonl
	[ "$status" -eq 1 ]
	assert_line --regexp "FAILED: r: $FAULT_URL/flaky\\?n=99&mode=reset&key=$T: connection reset by the server after [0-9]+ bytes"
	[ "$(events_count task_retried)" -eq 1 ]
	[ "$(hits "$T")" -eq 2 ]
	[ "$(cat r.bin)" = good ]
	no_leftovers
}

@test "a truncated body fails and never replaces the previous output" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  tr:
    fetch: {url: "${{ fault }}/truncated?len=100000&send=5000&key=${{ t }}"}
    outputs: out/tr.bin
EOF
	mkdir out
	echo previous > out/tr.bin
	fr
	[ "$status" -eq 1 ]
	assert_line --partial "FAILED: tr: $FAULT_URL/truncated?len=100000&send=5000&key=$T: truncated body: the connection closed after 5000 of 100000 bytes"
	[ "$(cat out/tr.bin)" = previous ]
	rm out/tr.bin
	fr
	[ "$status" -eq 1 ]
	[ ! -e out/tr.bin ]
	no_leftovers
}

@test "timeouts: a hanging server, a connection refused, a name that does not resolve, a stalled body" {
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	pipeline <<EOF
flowrun: 1
tasks:
  hang:
    fetch: {url: "\${{ fault }}/hang?key=\${{ t }}", timeout: 1s}
    outputs: hang.txt
  refused:
    fetch: {url: "http://127.0.0.1:$port/x"}
    outputs: refused.txt
  nodns:
    fetch: {url: "http://flowrun-test.invalid/x"}
    outputs: nodns.txt
  stalled:
    fetch:
      url: "\${{ fault }}/slow?n=100&interval=1&key=\${{ t }}-slow"
      low_speed_limit: 100
      low_speed_time: 2s
    outputs: stalled.txt
EOF
	fr -k -j 4
	[ "$status" -eq 1 ]
	assert_line "[1/4] FAILED: refused: http://127.0.0.1:$port/x: connection refused (Failed to connect to 127.0.0.1 port $port after 0 ms: Couldn't connect to server)" ||
		assert_line --partial "FAILED: refused: http://127.0.0.1:$port/x: connection refused"
	assert_line --partial "FAILED: nodns: http://flowrun-test.invalid/x: cannot resolve the host name"
	assert_line --partial "FAILED: hang: $FAULT_URL/hang?key=$T: timed out (timeout 1s) with 0 bytes received"
	assert_line --regexp "FAILED: stalled: .*: too slow: less than 100 bytes/s for 2s \\(low_speed_limit, low_speed_time\\) with [0-9]+ bytes received"
	no_leftovers
	ls
	[ "$(ls)" = flowrun.yaml ]
}

@test "-j holds with fetches: never more running than jobs, fetches beside shell tasks" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  get:
    foreach: {i: [1, 2, 3, 4, 5, 6]}
    fetch: {url: "${{ fault }}/slow?n=3&interval=0.2&key=${{ t }}-${{ i }}"}
    outputs: "got/${{ i }}.bin"
  work:
    foreach: {i: [1, 2, 3]}
    run: sleep 0.3; echo ${{ i }} > work-${{ i }}.txt
    outputs: "work-${{ i }}.txt"
    priority: 1		# the three start first, and get[i=1] with them
EOF
	fr -j 4 --events events.jsonl
	[ "$status" -eq 0 ]
	max=$(awk '/"event":"task_started"/ {n++; if (n > m) m = n} /"event":"task_finished"/ {n--} END {print m}' events.jsonl)
	echo "at most $max at once"
	[ "$max" -eq 4 ]
	# downloads and shell tasks ran at the same time
	/usr/bin/python3 - events.jsonl <<'EOF'
import json, sys
running, beside = set(), False
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "task_started":
        running.add(e["instance"])
        kinds = {r.split("[")[0] for r in running}
        beside = beside or kinds == {"get", "work"}
    elif e["event"] in ("task_finished", "task_failed"):
        running.discard(e["instance"])
assert beside, "no shell task ran beside a download"
EOF
	for i in 1 2 3 4 5 6; do [ "$(wc -c < "got/$i.bin")" -eq 3 ]; done
}

@test "a pool holds fetches too, and --host-connections makes one host's downloads take turns" {
	pipeline <<'EOF'
flowrun: 1
pools: {mirror: 1}
tasks:
  pooled:
    foreach: {i: [1, 2, 3]}
    fetch: {url: "${{ fault }}/slow?n=2&interval=0.3&key=${{ t }}-p${{ i }}"}
    outputs: "pooled/${{ i }}.bin"
    pool: mirror
EOF
	fr -j 3 --events events.jsonl
	[ "$status" -eq 0 ]
	max=$(awk '/"event":"task_started"/ {n++; if (n > m) m = n} /"event":"task_finished"/ {n--} END {print m}' events.jsonl)
	[ "$max" -eq 1 ]
	pipeline <<'EOF'
flowrun: 1
tasks:
  turns:
    foreach: {i: [1, 2, 3]}
    fetch: {url: "${{ fault }}/slow?n=2&interval=0.4&key=${{ t }}-h${{ i }}"}
    outputs: "turns/${{ i }}.bin"
EOF
	start=$(date +%s%N)
	fr -j 3 --host-connections 1
	[ "$status" -eq 0 ]
	took=$((($(date +%s%N) - start) / 1000000))
	echo "took $took ms"
	[ "$took" -ge 1100 ]		# three downloads of 0.4 s, one after the other
	run "$FLOWRUN" --host-connections 0
	[ "$status" -eq 2 ]
}

@test "the result feeds later tasks; -n downloads nothing" {
	echo data | serve d.txt
	pipeline <<'EOF'
flowrun: 1
tasks:
  d:
    fetch:
      url: "${{ http }}/files/${{ t }}/d.txt"
      headers: {X-Test: "run ${{ t }}"}
    outputs: d.txt
  report:
    run: echo '${{ tasks.d.result }}' > report.json
    outputs: report.json
EOF
	fr -n
	[ "$status" -eq 0 ]
	assert_line "would run: d (no record of an earlier run)"
	[ ! -e d.txt ]
	[ "$(requests "/files/$T/d.txt")" -eq 0 ]
	fr
	[ "$status" -eq 0 ]
	/usr/bin/python3 -c 'import json, sys; r = json.load(open("report.json")); assert r["bytes"] == 5 and r["status"] == 200, r'
	grep "/files/$T/d.txt" "$ACCESS_LOG" | grep -q "x=\"run $T\""
}

@test "proxies come from the task's environment" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  viaproxy:
    fetch: {url: "http://flowrun-proxy-test.invalid/ok?size=7&key=${{ t }}"}
    outputs: proxied.bin
    env: {http_proxy: "${{ fault }}"}
EOF
	fr
	[ "$status" -eq 0 ]
	[ "$(wc -c < proxied.bin)" -eq 7 ]
	[ "$(hits "$T")" -eq 1 ]
}

@test "a stopped run leaves neither a temporary file nor an output" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  slow:
    fetch: {url: "${{ fault }}/slow?n=30&interval=0.2&key=${{ t }}"}
    outputs: slow.bin
EOF
	"$FLOWRUN" -D fault="$FAULT_URL" -D t="$T" -q &
	pid=$!
	for _ in $(seq 100); do [ -e .slow.bin.flowrun-tmp ] && break; sleep 0.05; done
	[ -e .slow.bin.flowrun-tmp ]
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	[ ! -e slow.bin ]
	no_leftovers
}

@test "a temporary file left by a crash is replaced, and the download completes" {
	pipeline <<'EOF'
flowrun: 1
tasks:
  crash:
    fetch: {url: "${{ fault }}/ok?size=5000&key=${{ t }}"}
    outputs: crash.bin
EOF
	echo leftover > .crash.bin.flowrun-tmp
	fr
	[ "$status" -eq 0 ]
	[ "$(wc -c < crash.bin)" -eq 5000 ]
	no_leftovers
}

@test "a body in several pieces replaces a temporary file left by a crash too" {
	# one in a single piece never takes the temporary name (an anonymous file
	# is linked in place), one in several does, as it arrives
	pipeline <<'EOF'
flowrun: 1
tasks:
  pieces:
    fetch: {url: "${{ fault }}/slow?n=4&interval=0.05&key=${{ t }}"}
    outputs: sub/pieces.bin
EOF
	mkdir sub
	echo leftover > sub/.pieces.bin.flowrun-tmp
	fr
	[ "$status" -eq 0 ]
	[ "$(wc -c < sub/pieces.bin)" -eq 4 ]
	no_leftovers
}

@test "the downloads example: downloads beside CPU work, then a report that uses both" {
	cp -R "$FLOWRUN_SRCDIR/examples/downloads" downloads
	rm -rf downloads/.flowrun downloads/data downloads/out
	cp downloads/mirror/* "$WWW/$T/"
	run_ok -C downloads -D mirror="$HTTP_URL/files/$T" -j 8 --events "$PWD/events.jsonl"
	assert_ran_count 7
	longest=$(awk -F, 'FNR > 1 && $2 + 0 > m { m = $2 + 0 } END { print m }' downloads/mirror/tracks-*.csv)
	long=$(awk -F, 'FNR > 1 && $2 >= 60000 { n++ } END { print n }' downloads/mirror/tracks-*.csv)
	cat downloads/out/report.txt
	grep -Fx "tracks: 1200" downloads/out/report.txt
	grep -Fx "longest: $longest (the model expects 90028)" downloads/out/report.txt
	grep -Fx "long: $long" downloads/out/report.txt
	[ "$longest" -eq 90055 ]
	# the model started before the last download finished
	started=$(grep -n '"event":"task_started".*"task":"model"' events.jsonl | cut -d: -f1)
	last=$(grep -n '"event":"task_finished".*"task":"tracks"' events.jsonl | tail -1 | cut -d: -f1)
	[ "$started" -lt "$last" ]
	n=$(requests "/files/$T/")
	run_ok -C downloads -D mirror="$HTTP_URL/files/$T"
	assert_ran_count 0
	[ "$(requests "/files/$T/")" -eq "$n" ]
}

@test "libcurl is loaded only when a fetch task starts; FLOWRUN_LIBCURL names another" {
	# a task's parent is flowrun: its memory map says which libraries it has
	cat > flowrun.yaml <<'EOF'
flowrun: 1
tasks:
  plain:
    run: grep -c libcurl /proc/$PPID/maps > plain.txt || true
    outputs: plain.txt
  get:
    fetch: {url: "${{ http }}/files/${{ t }}/a.txt"}
    outputs: a.txt
  after:
    needs: get
    run: grep -c libcurl /proc/$PPID/maps > after.txt || true
    outputs: after.txt
EOF
	echo hello | serve a.txt
	fr plain
	[ "$status" -eq 0 ]
	[ "$(cat plain.txt)" = 0 ]
	fr after
	[ "$status" -eq 0 ]
	[ "$(cat after.txt)" -gt 0 ]
	[ "$(cat a.txt)" = hello ]
	# a library that cannot be loaded fails the fetch task, saying which and why
	rm -rf .flowrun a.txt
	FLOWRUN_LIBCURL=/nonexistent/libcurl.so.4 fr get
	[ "$status" -eq 1 ]
	[[ "$output" == *"get: cannot load libcurl /nonexistent/libcurl.so.4 (FLOWRUN_LIBCURL), which fetch tasks need:"* ]]
	[[ "$output" == *"No such file or directory"* ]]
	[ ! -e a.txt ]
}
