#!/bin/sh
# profile-perf.sh: where a sample's time goes, from outside the process.
# perf record -e cpu-clock (no hardware counters needed) of allocrate at
# the default GOMEM_PROFILE_RATE; the heap profile's functions (the
# sample, the sampled free, the stack walk, the frees of other blocks of
# sampled spans; not the mcentral lock or the clock, which allocrate uses
# with sampling off as well) as a share of the run, and that share over the samples
# taken (bytes / 512 KiB) as ns per sample.
#
#   bench/profile-perf.sh BUILDDIR [RUNS] [SECONDS]     (default 3 runs of 8 s)
#
# ALLOCRATE_PASSES (see allocrate.c) passes through.  perf's own sampling
# is at 20 kHz; a run's share moves by a few percent of itself.
set -eu
B=$(cd "${1:-.}" && pwd)
RUNS=${2:-3}
SECS=${3:-8}
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0")
RATE=$B/bench/allocrate
command -v perf >/dev/null || { echo "profile-perf.sh: needs perf"; exit 2; }
[ -x "$RATE" ] && [ -f "$LIB" ] || { echo "usage: $0 BUILDDIR [RUNS] [SECONDS] (make first)"; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
r=0
while [ $r -lt "$RUNS" ]; do
	env LD_PRELOAD="$LIB" perf record -q -e cpu-clock -F 20000 -o "$T/perf.data" \
		"$RATE" "$SECS" >"$T/out" 2>&1
	bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$T/out")
	perf report -i "$T/perf.data" --no-children --sort symbol -q 2>/dev/null |
		awk -v b="$bytes" -v secs="$SECS" '
		/gm_prof|gm_unwind|gm_uw_|gm_free_slow|gm_free_checked|gm_lock_|gm_span_sampled/ {
			s += $1; printf "  %-8s %s\n", $1, $3 }
		END {
			n = b / 524288
			printf "PROFILE_PERF share_pct=%.2f samples=%.0f ns_per_sample=%.0f GBps=%.2f\n",
			       s, n, s / 100 * secs * 1e9 / n, b / secs / 1e9 }'
	r=$((r + 1))
done
