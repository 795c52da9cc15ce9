#!/bin/sh
# load.sh: gomemd serving /memstats while watching 100 idle processes.
#
#   tests/daemon/load.sh [BUILDDIR] [NPROC]      (root; needs wrk)
#
# Starts NPROC (100) idle processes with libgomem preloaded (stats interval
# 1 s), gomemd on a free loopback port, waits until every process has a
# snapshot, then runs a bounded `wrk -t2 -c32 -d5s` on /memstats (all
# processes) and on /memstats?pid=N (--per-ip-limit 0: a loopback user may
# otherwise hold 16 connections), and prints req/s and gomemd's RSS
# before and after.  Everything it starts is stopped by pid at the end.
set -eu
B=${1:-.}
N=${2:-100}
B=$(cd "$B" && pwd)
GOMEMD=$B/daemon/gomemd
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v wrk >/dev/null || { echo "SKIP: wrk not installed"; exit 77; }
[ -x "$GOMEMD" ] && [ -f "$LIB" ] || { echo "usage: $0 BUILDDIR [NPROC]"; exit 2; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PIDS=""
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null || true
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

i=0
while [ $i -lt "$N" ]; do
	LD_PRELOAD=$LIB sleep 110 &
	PIDS="$PIDS $!"
	i=$((i + 1))
done
"$GOMEMD" --listen 127.0.0.1:"$PORT" --library "$LIB" --state-dir "" --per-ip-limit 0 >/tmp/gomemd-load.$$.log 2>&1 &
DPID=$!
rss() { awk '/^VmRSS/ {print $2 " kB"}' /proc/"$DPID"/status; }

# wait until every process has a snapshot (stats interval 1 s)
t=0
while :; do
	n=$(curl -s "http://127.0.0.1:$PORT/memstats" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["Totals"]["WithSnapshot"])' 2>/dev/null || echo 0)
	[ "$n" -ge "$N" ] && break
	t=$((t + 1))
	[ $t -lt 100 ] || { echo "only $n of $N processes seen"; exit 1; }
	sleep 0.1
done
ONE=$(echo $PIDS | awk '{print $1}')
BYTES=$(curl -s "http://127.0.0.1:$PORT/memstats" | wc -c)
echo "processes watched: $n; /memstats body: $BYTES bytes"
echo "gomemd RSS before: $(rss)"
echo "--- wrk -t2 -c32 -d5s /memstats"
wrk -t2 -c32 -d5s --timeout 5s "http://127.0.0.1:$PORT/memstats" | grep -E "Requests/sec|Latency|Non-2xx|Socket errors|requests in"
echo "gomemd RSS after /memstats: $(rss)"
echo "--- wrk -t2 -c32 -d5s /memstats?pid=$ONE"
wrk -t2 -c32 -d5s --timeout 5s "http://127.0.0.1:$PORT/memstats?pid=$ONE" | grep -E "Requests/sec|Latency|Non-2xx|Socket errors|requests in"
echo "gomemd RSS after /memstats?pid: $(rss)"
curl -s "http://127.0.0.1:$PORT/healthz"; echo
rm -f /tmp/gomemd-load.$$.log
