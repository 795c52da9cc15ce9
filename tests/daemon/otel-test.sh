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
# Every probe argument is one libbpf can read (a register, a constant or a
# stack slot), not a symbol's GOT slot.
if readelf -n "$LIB" | grep 'Arguments:' | grep -q '@[A-Za-z_]'; then
	readelf -n "$LIB" | grep 'Arguments:' | grep '@[A-Za-z_]'
	echo "FAIL: a probe argument names a symbol; libbpf cannot attach to it"; exit 1
fi
exec ./otel_sum "$LIB"
