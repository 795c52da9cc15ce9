#!/bin/bash
# churn.sh: gomemd under process churn, per-pid attach/detach races, HTTP load
# and SIGHUP reloads (not in make check: ~40-60 s; root, real BPF).
#
#   tests/daemon/churn.sh [BUILDDIR] [SECONDS]
#
# For SECONDS (30) it keeps starting and killing short-lived processes with
# libgomem preloaded (sleep, true, the test workload), some loading a copy of
# the library from another path so that POST /processes/N/attach and
# DELETE /processes/N race with their exits; hammers every route (good and
# malformed requests, /events clients that hang up) with bounded curls; and
# reloads every second with a changing config (HTTP restarts included, the
# copy becoming a configured library and back).  Then it checks that gomemd
# still answers, stops it with SIGTERM and requires exit status 0 and no
# sanitizer report.  Build with ./configure --enable-asan to make it a
# memory-safety test; ASAN_OPTIONS is passed on (log_path is added).
# Everything it starts is bounded in time and stopped by pid.
set -u
B=${1:-.}
DUR=${2:-30}
B=$(cd "$B" && pwd)
GOMEMD=$B/daemon/gomemd
WORKLOAD=$B/tests/daemon/workload
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0" 2>/dev/null)

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
[ -r /sys/kernel/btf/vmlinux ] || { echo "SKIP: kernel has no BTF"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
[ -x "$GOMEMD" ] && [ -f "$LIB" ] || { echo "usage: $0 BUILDDIR [SECONDS] (gomemd and lib/.libs/libgomem.so.0 built)"; exit 2; }
[ -x "$WORKLOAD" ] || WORKLOAD=""

TMPD=$(mktemp -d /tmp/gomemd-churn.XXXXXX)
mkdir -p "$TMPD/copy"
COPY=$TMPD/copy/libgomem.so.0
cp "$LIB" "$COPY"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + RANDOM % 20000)))
BASE=http://127.0.0.1:$PORT
DPID=""
WATCHDOG=""
WORKERS=""

cleanup() {
	for p in $WORKERS; do kill "$p" 2>/dev/null; done
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	echo "--- gomemd log (tail) ---"
	tail -n 40 "$TMPD/gomemd.log"
	for f in "$TMPD"/asan.*; do [ -f "$f" ] && { echo "--- $f"; head -n 60 "$f"; }; done
	exit 1
}

write_conf() { # $1: round number
	{
		echo "library = $LIB"
		[ $(($1 % 4)) = 2 ] && echo "library = $COPY"
		echo "threads = $((2 + $1 % 2))" # a change restarts the HTTP server
		echo "history-interval = $((10 + $1 % 3 * 10))"
		echo "grace = 1"
	} >"$TMPD/conf"
}

write_conf 0
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}:log_path=$TMPD/asan"
# timeout bounds gomemd's life; signals go to gomemd itself (timeout's child)
timeout -s KILL $((DUR + 120)) "$GOMEMD" --listen 127.0.0.1:"$PORT" --config "$TMPD/conf" \
	--history 32 >"$TMPD/gomemd.log" 2>&1 </dev/null &
WATCHDOG=$!
for _ in $(seq 50); do
	DPID=$(pgrep -P "$WATCHDOG" | head -n 1)
	[ -n "$DPID" ] && break
	sleep 0.1
done
[ -n "$DPID" ] || fail "gomemd did not start"
for _ in $(seq 100); do
	curl -s -o /dev/null --max-time 1 "$BASE/healthz" && break
	kill -0 "$DPID" 2>/dev/null || fail "gomemd exited at start"
	sleep 0.1
done
curl -s -o /dev/null --max-time 2 "$BASE/healthz" || fail "gomemd does not answer"

END=$((SECONDS + DUR))
export GOMEM_STATS_INTERVAL_MS=10
C="curl -s -o /dev/null --max-time 3"

# Short-lived processes on the configured library.
spawn_lib() {
	local n=0
	while [ $SECONDS -lt $END ]; do
		LD_PRELOAD=$LIB sleep "0.0$((RANDOM % 10))" &
		LD_PRELOAD=$LIB true
		if [ -n "$WORKLOAD" ] && [ $((RANDOM % 4)) = 0 ]; then
			LD_PRELOAD=$LIB timeout 5 "$WORKLOAD" "$TMPD/w.$BASHPID" 64x2000,4096x50 &
			(sleep "0.$((RANDOM % 5))" && kill $! 2>/dev/null) &
		fi
		n=$((n + 1))
		[ $((n % 8)) = 0 ] && wait
	done
	wait
}

# Processes on the copy (per-pid links): attach, detach, exit, in any order.
spawn_copy() {
	local p
	while [ $SECONDS -lt $END ]; do
		LD_PRELOAD=$COPY sleep "0.$((RANDOM % 6))" &
		p=$!
		[ $((RANDOM % 2)) = 0 ] && sleep "0.0$((RANDOM % 5))"
		$C -X POST "$BASE/processes/$p/attach"
		case $((RANDOM % 4)) in
		0) $C -X DELETE "$BASE/processes/$p" ;;
		1) kill "$p" 2>/dev/null; $C -X POST "$BASE/processes/$p/attach" ;;
		2) $C -X DELETE "$BASE/processes/$p" & $C -X POST "$BASE/processes/$p/attach" ;;
		3) $C "$BASE/processes/$p"; $C "$BASE/memstats?pid=$p" ;;
		esac
		wait
	done
}

# Every route, good and malformed.
hammer() {
	local pids p u
	while [ $SECONDS -lt $END ]; do
		pids=$(curl -s --max-time 3 "$BASE/processes" | grep -o '"Pid":[0-9]*' | cut -d: -f2 | head -n 20)
		p=$(echo $pids | tr ' ' '\n' | shuf -n 1 2>/dev/null)
		p=${p:-1}
		for u in /memstats "/memstats?full=1" /processes /metrics /healthz \
			"/memstats?pid=$p" "/processes/$p" "/memstats/history?pid=$p" "/debug/vars?pid=$p" \
			/debug/vars /memstats/history "/memstats?pid=0" "/memstats?pid=-1" "/memstats?pid=%00" \
			"/memstats?pid=99999999999999999999" "/processes/abc" "/processes/$p/attach/x" \
			"/processes/" "/processes//attach" "/../../etc/passwd" "/%2e%2e/%2e%2e/etc/passwd" \
			"/index.html" "/.hidden" "/nonexistent" "/events?pid=abc" "/events?pid=4194304"; do
			$C "$BASE$u"
		done
		$C -X DELETE "$BASE/memstats"
		$C -X PUT --data x "$BASE/processes/$p"
		$C -X POST --data-binary @/dev/null "$BASE/processes/1/attach"
		$C -I "$BASE/metrics"
	done
}

# /events clients that go away after a while (some never read).
sse() {
	while [ $SECONDS -lt $END ]; do
		curl -s -N -o /dev/null --max-time "0.$((RANDOM % 9 + 1))" "$BASE/events"
		curl -s -N -o /dev/null --max-time 1 "$BASE/events?pid=$((RANDOM % 4194304 + 1))"
	done
}

# Reloads with a changing configuration.
reloads() {
	local r=0
	while [ $SECONDS -lt $END ]; do
		r=$((r + 1))
		write_conf $r
		kill -HUP "$DPID" 2>/dev/null || return
		sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	done
}

spawn_lib & WORKERS="$WORKERS $!"
spawn_lib & WORKERS="$WORKERS $!"
spawn_copy & WORKERS="$WORKERS $!"
spawn_copy & WORKERS="$WORKERS $!"
hammer & WORKERS="$WORKERS $!"
hammer & WORKERS="$WORKERS $!"
sse & WORKERS="$WORKERS $!"
sse & WORKERS="$WORKERS $!"
reloads & WORKERS="$WORKERS $!"

while [ $SECONDS -lt $END ]; do
	kill -0 "$DPID" 2>/dev/null || fail "gomemd died during the churn"
	sleep 1
done
for p in $WORKERS; do wait "$p" 2>/dev/null; done
WORKERS=""
echo "churn done after $((SECONDS - END + DUR)) s"

kill -0 "$DPID" 2>/dev/null || fail "gomemd died during the churn"
# a reload may be restarting the server: give it a moment
for _ in $(seq 50); do
	H=$(curl -s --max-time 2 "$BASE/healthz") && break
	sleep 0.1
done
echo "$H" | grep -q '"Status":"ok"' || fail "/healthz after the churn: $H"
echo "after ${DUR}s of churn: $H"
# Some per-pid links at shutdown too.
LP=""
for _ in 1 2 3; do
	LD_PRELOAD=$COPY sleep 30 >/dev/null 2>&1 &
	LP="$LP $!"
	$C -X POST "$BASE/processes/$!/attach"
done
T0=$SECONDS
kill -TERM "$DPID"
wait "$WATCHDOG"
RC=$?
DPID=""
WATCHDOG=""
kill $LP 2>/dev/null
echo "stopped in $((SECONDS - T0)) s"
[ "$RC" = 0 ] || fail "gomemd exit status $RC after SIGTERM"
grep -E "AddressSanitizer|LeakSanitizer|double free|corrupted|runtime error" "$TMPD/gomemd.log" && fail "sanitizer report in the log"
ls "$TMPD"/asan.* >/dev/null 2>&1 && fail "sanitizer report"
echo "ok: reloads: $(grep -c 'configuration reloaded' "$TMPD/gomemd.log"), attached by pid: $(grep -c 'attached to process' "$TMPD/gomemd.log")"
exit 0
