#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# http-down.sh DIR [--clean]: stop what http-up.sh started in DIR, by pid file
# only, and only a pid whose command line still names DIR (a recycled pid is
# left alone); --clean also removes DIR.
set -uo pipefail
DIR=${1:?usage: http-down.sh DIR [--clean]}
DIR=$(cd "$DIR" 2>/dev/null && pwd) || exit 0
rc=0

# alive PID: running and not a zombie (an init that reaps late leaves zombies
# for which kill -0 still succeeds)
alive() {
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

stop_pid() {
	local pf=$1 marker=$2 pid
	[ -s "$pf" ] || return 0
	pid=$(cat "$pf")
	if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$marker"; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 250); do alive "$pid" || break; sleep 0.02; done
		if alive "$pid"; then
			echo "http-down: $pid ignored TERM, sending KILL" >&2
			kill -KILL "$pid" 2>/dev/null
			rc=1
		fi
	fi
	rm -f "$pf"
}

# nginx: TERM is the fast shutdown (QUIT would wait for slow clients)
stop_pid "$DIR/nginx.pid" "$DIR/nginx.conf"
stop_pid "$DIR/fault.pid" "$DIR/fault.port"

[ "${2:-}" = --clean ] && rm -rf "$DIR"
exit $rc
