#!/bin/sh
# otel-test.sh: the otel_memory USDT probes are in libgomem.so (readelf -n)
# and BPF reading them estimates a workload's bytes within 10% (otel_sum.c).
set -eu
B=${top_builddir:-../..}
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for p in alloc free; do
	readelf -n "$LIB" | grep -A1 'Provider: otel_memory' | grep -q "Name: $p$" ||
		{ echo "FAIL: readelf -n shows no otel_memory:$p in $LIB"; exit 1; }
done
exec ./otel_sum "$LIB"
