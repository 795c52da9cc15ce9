#!/bin/sh
# profile-overhead.sh: what the always-on heap profile costs a program that
# allocates about 5 GB/s, with gomemd attached: allocrate (libgomem
# preloaded) at the default GOMEM_PROFILE_RATE against GOMEM_PROFILE_RATE=0,
# PAIRS interleaved pairs (the order alternates), CPU time of each run; prints
# the median ratio and the overhead in percent.
#
#   bench/profile-overhead.sh BUILDDIR [PAIRS] [SECONDS]     (root for gomemd)
#   bench/profile-overhead.sh BUILDDIR slices [PAIRS] [SLICE_MS] [RUNS]
#
# Without root (or without gomemd) it measures unattached and says so.  On a
# shared machine single runs are noisy (about 20% here): read the median.
# `slices` measures inside one process instead (allocrate -s: sampling
# switched on and off in adjacent slices of SLICE_MS, default 2000 pairs of
# 20 ms, RUNS runs, default 3), which a machine's drift does not bias; see
# bench/README.md.
set -eu
B=$(cd "${1:-.}" && pwd)
MODE=pairs
if [ "${2:-}" = slices ]; then
	MODE=slices
	shift
fi
PAIRS=${2:-7}
SECS=${3:-3}
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0")
RATE=$B/bench/allocrate
GOMEMD=$B/daemon/gomemd
[ -x "$RATE" ] && [ -f "$LIB" ] || { echo "usage: $0 BUILDDIR [PAIRS] [SECONDS] (make first)"; exit 2; }
DPID=""
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; wait 2>/dev/null || true' EXIT INT TERM
if [ "$(id -u)" = 0 ] && [ -x "$GOMEMD" ]; then
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"$GOMEMD" --listen 127.0.0.1:"$PORT" --library "$LIB" --state-dir "" >/dev/null 2>&1 &
	DPID=$!
	until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
		kill -0 "$DPID" 2>/dev/null || { echo "gomemd did not start"; exit 1; }
		sleep 0.05
	done
	echo "gomemd attached (pid $DPID)"
else
	echo "gomemd not attached (needs root and a built daemon)"
fi
if [ "$MODE" = slices ]; then
	# gomemd pulls the table every stats interval (1 s) as it does by default.
	r=0
	while [ $r -lt "${4:-3}" ]; do
		env LD_PRELOAD="$LIB" "$RATE" -s "${2:-2000}" "${3:-20}"
		r=$((r + 1))
	done
	exit 0
fi
run() { env LD_PRELOAD="$LIB" GOMEM_PROFILE_RATE="$1" "$RATE" "$SECS"; }
# cpu ns per byte of one run: "ALLOCRATE cpu_ns=.. bytes=.. allocs=.. GBps=.."
nspb() { echo "$1" | sed 's/.*cpu_ns=\([0-9]*\) bytes=\([0-9]*\).*/\1 \2/' | awk '{print $1 / $2}'; }
RATIOS="" GB=""
i=0
while [ $i -lt "$PAIRS" ]; do
	if [ $((i % 2)) = 0 ]; then off=$(run 0); on=$(run 524288); else on=$(run 524288); off=$(run 0); fi
	r=$(awk -v a="$(nspb "$on")" -v b="$(nspb "$off")" 'BEGIN { print a / b }')
	g=$(echo "$off" | sed 's/.*GBps=//')
	echo "pair $i: off ${g} GB/s; on $(echo "$on" | sed 's/.*GBps=//') GB/s; CPU per byte on/off $r"
	RATIOS="$RATIOS $r" GB="$GB $g"
	i=$((i + 1))
done
python3 - "$RATIOS" "$GB" <<'PY'
import statistics, sys
r = [float(x) for x in sys.argv[1].split()]
g = [float(x) for x in sys.argv[2].split()]
m = statistics.median(r)
print("median over %d pairs: %.2f GB/s unprofiled, CPU ratio %.4f, overhead %.2f%%"
      % (len(r), statistics.median(g), m, (m - 1) * 100))
PY
