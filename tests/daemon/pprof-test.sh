#!/bin/sh
# pprof-test.sh: the in-process heap profile, read from outside, as go tool
# pprof reads it, with no binary at hand (-symbolize=none):
#   1. sites.c (6:3:1 bytes, half kept) is ranked right and each site is
#      within 10% of the truth, for alloc_space and inuse_space;
#   2. -lines shows sites.c:LINE, and libc's frames get lines (libc6-dbg);
#   3. a C++ allocation shows its demangled method, operator new[] dropped;
#   4. two processes in one profile carry their pid labels (-tags);
#   5. a ?seconds=N style delta of an idle process is empty.
# GOMEM_PROFILE_RATE=4096 keeps the sampling error near 1% at 200 MiB (at the
# default 512 KiB the smallest site would carry about 16%: see the report).
set -eu
B=${top_builddir:-../..}
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (process_vm_readv)"; exit 77; }
command -v go >/dev/null || { echo "SKIP: no go tool pprof"; exit 77; }
T=$(mktemp -d)
P1=""; P2=""; P3=""
cleanup() {
	for p in $P1 $P2 $P3; do kill "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
export GOCACHE="$T/gocache" HOME="$T"
fail() { echo "FAIL: $*"; exit 1; }

mkfifo "$T/s1.in" "$T/s2.in" "$T/cx.in"
(GOMEM_PROFILE_RATE=4096 LD_PRELOAD="$LIB" exec ./sites 200 <"$T/s1.in" >"$T/s1.out") &
(GOMEM_PROFILE_RATE=4096 LD_PRELOAD="$LIB" exec ./sites 20 <"$T/s2.in" >"$T/s2.out") &
(GOMEM_PROFILE_RATE=1 LD_PRELOAD="$LIB" exec ./cxxsite <"$T/cx.in" >"$T/cx.out") &
exec 4>"$T/s1.in" 5>"$T/s2.in" 6>"$T/cx.in"
i=0
until [ -s "$T/s1.out" ] && [ -s "$T/s2.out" ] && [ -s "$T/cx.out" ]; do
	i=$((i + 1)); [ $i -lt 400 ] || fail "workloads did not start"; sleep 0.05
done
P1=$(awk '{print $2}' "$T/s1.out")
P2=$(awk '{print $2}' "$T/s2.out")
P3=$(pgrep -n -x cxxsite)

pp() { go tool pprof -symbolize=none "$@" 2>/dev/null; }
./profdump -o "$T/one.pb.gz" "$P1" || fail "profdump"

# 1. ranking and accuracy, as go tool pprof -top reads them.
for idx in alloc_space inuse_space; do
	pp -unit=MB -sample_index=$idx -top "$T/one.pb.gz" >"$T/top.$idx"
	python3 "${srcdir:-.}/pprof_sites.py" "$T/top.$idx" $idx 200 || fail "$idx: see above"
done

# 2. lines without binaries; libc with its separate debug info.
pp -lines -top "$T/one.pb.gz" | grep -q 'site_a .*sites.c:[0-9]' || fail "-lines shows no sites.c:LINE"
if dpkg-query -W -f='${Status}' libc6-dbg 2>/dev/null | grep -q "ok installed"; then
	pp -lines -traces "$T/one.pb.gz" | grep -q '__libc_start_call_main .*\.h:[0-9]' ||
		fail "libc frame without a line although libc6-dbg is installed"
else
	echo "libc6-dbg not installed: libc lines not checked"
fi

# 3. C++: demangled, the allocator's wrapper dropped.
./profdump -o "$T/cxx.pb.gz" "$P3" || fail "profdump cxxsite"
pp -sample_index=alloc_space -traces "$T/cxx.pb.gz" >"$T/cxx.traces"
grep -q '^ *64B *store::Cache::grow(int)$' "$T/cxx.traces" ||
	fail "no store::Cache::grow(int) at the top of a C++ stack"
grep -q 'operator new' "$T/cxx.traces" && fail "operator new[] was not dropped"

# 4. merged: one profile, a pid label per process.
./profdump -l -o "$T/both.pb.gz" "$P1" "$P2" || fail "profdump merged"
pp -tags "$T/both.pb.gz" >"$T/tags"
grep -q ": $P1\$" "$T/tags" && grep -q ": $P2\$" "$T/tags" || { cat "$T/tags"; fail "pid labels"; }

# 5. a delta over an idle second is empty.
./profdump -s 1 -o "$T/delta.pb.gz" "$P1" || fail "profdump delta"
pp -sample_index=alloc_space -top "$T/delta.pb.gz" | grep -q 'site_a' && fail "delta of an idle process not empty"

# 6. no symbols (gomemd could not open the objects): every location still
# names a mapping, as in Go's profiles (a fake one when none is known).
./profdump -n -o "$T/nosym.pb.gz" "$P1" || fail "profdump -n"
for f in one nosym; do
	python3 "${srcdir:-.}/pprof_mappings.py" "$T/$f.pb.gz" || fail "$f: a location with no mapping"
done

exec 4>&- 5>&- 6>&-
wait
P1=""; P2=""; P3=""
echo "pprof-test: ok"
