#!/bin/sh
# callgrind-pair.sh: instructions per malloc+free pair on the fast path.
#
#	callgrind-pair.sh [-p pairloop] [-l libgomem.so] [-s size] [-o out]
#
# For each allocator, runs pairloop with N1=100000 and N2=200000 pairs of
# malloc(size)/free() under valgrind --tool=callgrind and reports
# (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, warm-up and exit cancel out;
# what is left is the pair plus a few instructions of loop.  Callgrind
# does not replace malloc, so the LD_PRELOADed allocator is the one
# measured.  Instruction counts are deterministic: one run each suffices.

set -u

pairloop=./pairloop
lib=
size=32
out=callgrind-results.txt
libdir=/usr/lib/x86_64-linux-gnu
n1=100000
n2=200000

while getopts p:l:s:o: opt; do
	case $opt in
	p) pairloop=$OPTARG ;;
	l) lib=$OPTARG ;;
	s) size=$OPTARG ;;
	o) out=$OPTARG ;;
	*) echo "usage: $0 [-p pairloop] [-l libgomem.so] [-s size] [-o out]" >&2; exit 1 ;;
	esac
done

if ! command -v valgrind >/dev/null 2>&1; then
	echo "callgrind-pair: valgrind not installed (apt-get install valgrind)" >&2
	exit 1
fi
if [ ! -x "$pairloop" ]; then
	echo "callgrind-pair: no pairloop binary at $pairloop (make -C bench pairloop)" >&2
	exit 1
fi
if [ -z "$lib" ]; then
	here=$(dirname "$pairloop")
	for c in "$here/../lib/.libs/libgomem.so" $(ls -t /tmp/build-*/lib/.libs/libgomem.so 2>/dev/null); do
		if [ -e "$c" ]; then lib=$c; break; fi
	done
fi

tmp=$(mktemp -d /tmp/callgrind-pair.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# total_ir PRELOAD N: total instructions of one pairloop run, or "" on failure.
total_ir() {
	f=$tmp/cg.$$.$2
	rm -f "$f"
	if [ -n "$1" ]; then
		LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file="$f" \
		    "$pairloop" "$2" "$size" >"$tmp/log" 2>&1
	else
		valgrind --tool=callgrind --callgrind-out-file="$f" \
		    "$pairloop" "$2" "$size" >"$tmp/log" 2>&1
	fi
	[ -s "$f" ] || return 0
	sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$f" | head -n 1
}

{
	echo "### Instructions per malloc($size)+free pair (callgrind, Ir($n2)-Ir($n1) / $((n2 - n1)))"
	echo
	echo "| allocator | Ir per pair | library |"
	echo "|---|---:|---|"
} >"$tmp/table"

for a in glibc jemalloc tcmalloc mimalloc gomem; do
	case $a in
	glibc) l= ;;
	jemalloc) l=$libdir/libjemalloc.so.2 ;;
	tcmalloc) l=$libdir/libtcmalloc_minimal.so.4 ;;
	mimalloc) l=$libdir/libmimalloc.so.2 ;;
	gomem) l=$lib ;;
	esac
	if [ "$a" != glibc ] && { [ -z "$l" ] || [ ! -e "$l" ]; }; then
		echo "| $a | not found | ${l:-give -l} |" >>"$tmp/table"
		continue
	fi
	t1=$(total_ir "$l" $n1)
	t2=$(total_ir "$l" $n2)
	if [ -z "$t1" ] || [ -z "$t2" ]; then
		echo "| $a | FAILED ($(tail -n 1 "$tmp/log")) | ${l:-libc.so.6} |" >>"$tmp/table"
		continue
	fi
	per=$(awk -v a="$t1" -v b="$t2" -v n=$((n2 - n1)) 'BEGIN { printf "%.1f", (b - a) / n }')
	echo "| $a | $per | ${l:-libc.so.6} |" >>"$tmp/table"
done

cat "$tmp/table"
cp "$tmp/table" "$out" 2>/dev/null && echo "(written to $out)" >&2
exit 0
