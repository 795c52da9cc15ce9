#!/bin/sh
# ext-suite.sh: build the small programs of an external allocator benchmark
# suite (a checkout of mimalloc-bench, given as DIR) and run each under
# glibc, jemalloc, tcmalloc, mimalloc and libgomem, interleaved.
#
#   bench/ext-suite.sh [-r ROUNDS] [-l LIBGOMEM] [-o OUTDIR] [-p PROCS]
#                      [-s SECONDS] [-t TESTS] [-a ALLOCATORS] [-n] [-S] DIR
#
# DIR is the suite's top directory (it holds bench/larson/larson.cpp etc.).
# Nothing from it is copied into this tree; programs whose sources are
# missing are skipped with a note.  The arguments are bench.sh's, with
# PROCS threads (default: the number of CPUs) and the time-based programs
# (larson, xmalloc-test) run for SECONDS (default 5, as bench.sh).
#
# -n: do not rebuild (use OUTDIR/bin); -S: only summarize OUTDIR/runs.txt.
# -a: of glibc, jemalloc, tcmalloc, mimalloc and gomem (the default: all),
# and gomem2, the same library again: a control, never a peer, whose
# ratio to gomem is the noise of the measure.
#
# Output: OUTDIR/runs.txt (one line per run), OUTDIR/linelat.txt (the
# cross-CPU cache line round trip before each program's runs, if the build
# tree has bench/linelat), then per program the median
# over ROUNDS of time and max RSS per allocator, gomem's ratio to the best
# peer, and the geometric means.  Time is the program's own relative time
# where bench.sh uses one (larson, xmalloc-test, rptest, glibc-thread),
# else wall seconds; "cpu" is user+sys seconds (for the fixed-duration
# larson, xmalloc-test and glibc-thread, times the relative time: CPU per
# operation, up to a constant).  On a loaded machine wall time carries other
# jobs' load: compare cpu as well.  "by round" pairs the runs of one round,
# seconds apart where rounds are minutes apart: per round, gomem's time over
# the best peer's, and the median of that over the rounds (on a guest whose
# speed drifts, the best peer's median alone is the luckiest of four).
# Last, every allocator's geomean over the best of the others, and gomem's
# without cache-thrash and cache-scratch, whose timed loops the compiler
# leaves without an allocation (bench/README, "Four rows time no
# allocation").
set -eu

rounds=3
lib=
out=ext-suite-out
procs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
secs=5
tests="cfrac espresso barnes alloc-test1 alloc-testN larsonN larsonN-sized mstressN rptestN
xmalloc-testN cache-thrash1 cache-thrashN cache-scratch1 cache-scratchN glibc-simple
glibc-thread malloc-large sh6benchN sh8benchN"
allocs="glibc jemalloc tcmalloc mimalloc gomem"
build=yes
run=yes

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}
while getopts r:l:o:p:s:t:a:nSh opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	l) lib=$OPTARG ;;
	o) out=$OPTARG ;;
	p) procs=$OPTARG ;;
	s) secs=$OPTARG ;;
	t) tests=$OPTARG ;;
	a) allocs=$OPTARG ;;
	n) build=no ;;
	S) build=no run=no ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
case $rounds in '' | *[!0-9]* | 0) echo "ext-suite: -r wants a positive number" >&2; exit 2 ;; esac
case $procs in '' | *[!0-9]* | 0) echo "ext-suite: -p wants a positive number" >&2; exit 2 ;; esac
case $secs in '' | *[!0-9]* | 0) echo "ext-suite: -s wants a positive number" >&2; exit 2 ;; esac
[ -d "$1/bench" ] || { echo "ext-suite: $1 has no bench/ directory" >&2; exit 2; }
src=$(cd "$1/bench" && pwd)

here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$lib" ]; then
	for l in "${GOMEM_BUILD:-$here/../_build}/lib/.libs/libgomem.so.0" "$here/../lib/.libs/libgomem.so.0"; do
		[ -e "$l" ] && { lib=$l; break; }
	done
fi
libdir=/usr/lib/x86_64-linux-gnu
lib_of() {
	case $1 in
	glibc) echo "" ;;
	jemalloc) echo "$libdir/libjemalloc.so.2" ;;
	tcmalloc) echo "$libdir/libtcmalloc_minimal.so.4" ;;
	mimalloc) echo "$libdir/libmimalloc.so.2" ;;
	gomem | gomem2) echo "$lib" ;;
	*) echo "ext-suite: unknown allocator $1" >&2; exit 2 ;;
	esac
}
# The runs start in OUTDIR: a relative -l would not be found there, and
# ld.so only warns and runs the program on glibc's malloc, under gomem's name.
case $lib in
'' | /*) ;;
*) [ -e "$lib" ] && lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib") ;;
esac
for a in $allocs; do
	l=$(lib_of "$a")
	if [ -n "$l" ] && [ ! -e "$l" ]; then
		echo "ext-suite: $a: $l not found" >&2
		exit 1
	fi
	if [ -n "$l" ] && [ -n "$(cd / && LD_PRELOAD=$l /bin/true 2>&1)" ]; then
		echo "ext-suite: $a: $l cannot be preloaded:" >&2
		(cd / && LD_PRELOAD=$l /bin/true) >&2
		exit 1
	fi
done
[ -x /usr/bin/time ] || { echo "ext-suite: needs /usr/bin/time (Debian package time)" >&2; exit 1; }

mkdir -p "$out/bin"
out=$(cd "$out" && pwd)
bin=$out/bin
CC=${CC:-cc}
CXX=${CXX:-c++}
# bench's CMakeLists: Release (-O3 -DNDEBUG), warnings off.
CFLAGS_X="-O3 -DNDEBUG -w"

# compile NAME LANG FLAGS... -- SOURCES... : build bin/NAME if every source exists
compile() {
	name=$1 lang=$2
	shift 2
	flags=
	while [ "$1" != -- ]; do
		flags="$flags $1"
		shift
	done
	shift
	files=
	for f in "$@"; do
		if [ ! -e "$src/$f" ]; then
			echo "ext-suite: skip $name: $src/$f missing" >&2
			return 0
		fi
		files="$files $src/$f"
	done
	if [ "$lang" = c ]; then cc=$CC; else cc="$CXX -std=gnu++17"; fi
	# shellcheck disable=SC2086 # word splitting of the flag and file lists
	if ! $cc $CFLAGS_X $flags -o "$bin/$name" $files -lpthread -lm 2>"$bin/$name.log"; then
		echo "ext-suite: build of $name failed (see $bin/$name.log)" >&2
		rm -f "$bin/$name"
	fi
}

if [ $build = yes ]; then
	cfrac="cfrac.c pops.c pconst.c pio.c pabs.c pneg.c pcmp.c podd.c phalf.c padd.c psub.c
pmul.c pdivmod.c psqrt.c ppowmod.c atop.c ptoa.c itop.c utop.c ptou.c errorp.c pfloat.c
pidiv.c pimod.c picmp.c primes.c pcfrac.c pgcd.c"
	espresso="cofactor.c cols.c compl.c contain.c cubestr.c cvrin.c cvrm.c cvrmisc.c cvrout.c
dominate.c equiv.c espresso.c essen.c exact.c expand.c gasp.c getopt.c gimpel.c globals.c
hack.c indep.c irred.c main.c map.c matrix.c mincov.c opo.c pair.c part.c primes.c reduce.c
rows.c set.c setc.c sharp.c sminterf.c solution.c sparse.c unate.c utility.c verify.c"
	# shellcheck disable=SC2046,SC2086
	compile cfrac c -std=gnu89 -DNOMEMOPT=1 -- $(for f in $cfrac; do echo cfrac/$f; done)
	# shellcheck disable=SC2046,SC2086
	compile espresso c -std=gnu89 -- $(for f in $espresso; do echo espresso/$f; done)
	compile barnes c -- barnes/code.c barnes/code_io.c barnes/load.c barnes/grav.c \
		barnes/getparam.c barnes/util.c
	compile larson cxx -DCPP=1 -- larson/larson.cpp
	compile larson-sized cxx -DCPP=1 -DSIZED=1 -fsized-deallocation -- larson/larson.cpp
	compile alloc-test cxx -DBENCH=4 -- alloc-test/test_common.cpp alloc-test/allocator_tester.cpp
	compile sh6bench c -DBENCH=1 -DSYS_MULTI_THREAD=1 -- shbench/sh6bench-new.c
	compile sh8bench c -DBENCH=1 -DSYS_MULTI_THREAD=1 -- shbench/sh8bench-new.c
	compile cache-scratch cxx -- cache-scratch/cache-scratch.cpp
	compile cache-thrash cxx -- cache-thrash/cache-thrash.cpp
	compile xmalloc-test c -- xmalloc-test/xmalloc-test.c
	compile malloc-large cxx -- malloc-large/malloc-large.cpp
	compile mstress c -- mstress/mstress.c
	compile rptest c -I"$src/rptest" -- rptest/rptest.c rptest/thread.c rptest/timer.c
	compile glibc-simple c -- glibc-bench/bench-malloc-simple.c
	compile glibc-thread c -- glibc-bench/bench-malloc-thread.c
fi

# cmd_of TEST: prints "binary args..." (bench.sh's command line), or nothing
cmd_of() {
	p=$procs
	case $1 in
	cfrac) echo "cfrac 17545186520507317056371138836327483792789528" ;;
	espresso) echo "espresso $src/espresso/largest.espresso" ;;
	barnes) echo "barnes" ;;
	alloc-test1) echo "alloc-test 1" ;;
	alloc-testN) echo "alloc-test $p" ;;
	larsonN) echo "larson $secs 8 1000 5000 100 4141 $p" ;;
	larsonN-sized) echo "larson-sized $secs 8 1000 5000 100 4141 $p" ;;
	sh6benchN) echo "sh6bench $((p * 2))" ;;
	sh8benchN) echo "sh8bench $((p * 2))" ;;
	xmalloc-testN) echo "xmalloc-test -w $p -t $secs -s 64" ;;
	cache-thrash1) echo "cache-thrash 1 1000 1 2000000 $p" ;;
	cache-thrashN) echo "cache-thrash $p 1000 1 2000000 $p" ;;
	cache-scratch1) echo "cache-scratch 1 1000 1 2000000 $p" ;;
	cache-scratchN) echo "cache-scratch $p 1000 1 2000000 $p" ;;
	mstressN) echo "mstress $p 50 25" ;;
	rptestN) echo "rptest $p 0 1 2 500 1000 100 8 16000" ;;
	glibc-simple) echo "glibc-simple" ;;
	glibc-thread) echo "glibc-thread $p" ;;
	malloc-large) echo "malloc-large" ;;
	*) echo "ext-suite: unknown test $1" >&2 ;;
	esac
}

# rel_time TEST OUTFILE: the program's own relative time (bench.sh's
# formulas), or nothing for programs timed by wall clock
rel_time() {
	case $1 in
	larson*) sed -n 's/.*relative time: \([0-9.]*\)s.*/\1/p' "$2" | tail -n 1 ;;
	xmalloc*) sed -n 's/^rtime: \([0-9.]*\).*/\1/p' "$2" | tail -n 1 ;;
	rptest*) sed -n 's/.*\.\.\.\([0-9]*\) memory ops.*/\1/p' "$2" | tail -n 1 |
		awk '$1 > 0 { printf "%.4f\n", 2000000 / $1 }' ;;
	glibc-thread) sed -n 's/^\([0-9]*\) iterations.*/\1/p' "$2" | tail -n 1 |
		awk '$1 > 0 { printf "%.4f\n", 1e9 / $1 }' ;;
	esac
}

runs=$out/runs.txt
[ $run = yes ] && : >"$runs" && : >"$out/linelat.txt"
linelat=${GOMEM_BUILD:-$here/../_build}/bench/linelat
r=1
while [ $run = yes ] && [ $r -le "$rounds" ]; do
	for t in $tests; do
		# shellcheck disable=SC2046 # the command line is words
		set -- $(cmd_of "$t")
		if [ $# -eq 0 ] || [ ! -x "$bin/$1" ]; then
			continue
		fi
		prog=$1
		shift
		# the machine's cross-CPU line latency now (bench/linelat.c): the
		# threaded programs follow it, and on a guest it changes
		if [ -x "$linelat" ]; then
			ns=$("$linelat" -n 3 -t 20000 | sed -n 's/.*round trip \([0-9]*\) ns.*/\1/p')
			echo "$r $t ${ns:-?}" >>"$out/linelat.txt"
			echo "round $r $t: line round trip ${ns:-?} ns" >&2
		fi
		# rotate the allocator order each round
		order=$(echo "$allocs" | awk -v r=$r '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
		for a in $order; do
			l=$(lib_of "$a")
			stdin=/dev/null
			[ "$t" = barnes ] && stdin=$src/barnes/input
			rc=0
			(cd "$out" && env ${l:+LD_PRELOAD=$l} /usr/bin/time -o "$out/time.txt" \
				-f "%e %U %S %M" "$bin/$prog" "$@" <"$stdin" >"$out/stdout.txt" 2>"$out/stderr.txt") || rc=$?
			if [ $rc -ne 0 ]; then
				echo "ext-suite: $t under $a failed (exit $rc): $(tail -n 1 "$out/stderr.txt")" >&2
				echo "$r $t $a FAIL" >>"$runs"
				continue
			fi
			read -r wall user sys rss <<-EOF
				$(tail -n 1 "$out/time.txt")
			EOF
			rel=$(rel_time "$t" "$out/stdout.txt")
			# fixed-duration programs: cpu * relative time ~ CPU per operation
			case $t in
			larson* | xmalloc* | glibc-thread) scale=$rel ;;
			*) scale=1 ;;
			esac
			cpu=$(echo "$user $sys ${scale:-1}" | awk '{ printf "%.4f\n", ($1 + $2) * $3 }')
			echo "$r $t $a ${rel:-$wall} $cpu $rss" >>"$runs"
			echo "round $r $t $a: time ${rel:-$wall} cpu $cpu rss ${rss}K" >&2
		done
	done
	r=$((r + 1))
done
rm -f "$out/time.txt" "$out/stdout.txt" "$out/stderr.txt"

# Medians per (test, allocator); gomem over the best peer; geometric means.
awk -v allocs="$allocs" '
function median(s,   n, v, i, j, t) {
	n = split(s, v, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
# The lowest median time of test x among the allocators whose names do not
# match the regular expression except.
function best_of(x, except,   j, b, m) {
	b = -1
	for (j = 1; j <= na; j++)
		if (A[j] !~ except && t[x, A[j]] != "") {
			m = median(t[x, A[j]]) + 0
			if (b < 0 || m < b) b = m
		}
	return b
}
$4 == "FAIL" { fail[$2, $3]++; next }
{
	if (!(($2) in seen)) { seen[$2] = 1; order[++nt] = $2 }
	t[$2, $3] = t[$2, $3] " " $4; c[$2, $3] = c[$2, $3] " " $5; m[$2, $3] = m[$2, $3] " " $6
	tr[$2, $1, $3] = $4; if ($1 > nr) nr = $1
}
END {
	na = split(allocs, A, " ")
	print "Each cell: median time (s, or relative time) / cpu s / max RSS MiB.\n"
	printf "| test |"; for (i = 1; i <= na; i++) printf " %s |", A[i]
	printf " gomem/best time | gomem/best cpu | gomem/best rss | by round |\n|---|"
	for (i = 1; i <= na + 4; i++) printf "---|"
	printf "\n"
	for (k = 1; k <= nt; k++) {
		x = order[k]; bt = bc = bm = -1
		printf "| %s |", x
		for (i = 1; i <= na; i++) {
			a = A[i]
			if (t[x, a] == "") { printf " %s |", fail[x, a] ? "FAIL" : "-"; continue }
			mt[a] = median(t[x, a]); mc[a] = median(c[x, a]); mm[a] = median(m[x, a])
			printf " %.3g / %.2f / %.1f%s |", mt[a], mc[a], mm[a] / 1024, fail[x, a] ? " (" fail[x, a] " failed)" : ""
			if (a !~ /^gomem2?$/) {
				if (bt < 0 || mt[a] < bt) bt = mt[a]
				if (bc < 0 || mc[a] < bc) bc = mc[a]
				if (bm < 0 || mm[a] < bm) bm = mm[a]
			}
		}
		if (t[x, "gomem"] != "" && bt > 0) {
			rt = mt["gomem"] / bt; rc = (mc["gomem"] > 0.001 ? mc["gomem"] : 0.001) / (bc > 0.001 ? bc : 0.001)
			rm = mm["gomem"] / bm
			mark = (rt > 1.5) ? "**" : ""
			printf " %s%.2f%s | %.2f | %.2f |", mark, rt, mark, rc, rm
			st += log(rt); sc += log(rc); sm += log(rm); ng++
			# Per round, gomem over the best peer of the same round (runs minutes
			# apart on a machine whose speed drifts): the median of those.
			pr = ""
			for (r = 1; r <= nr; r++) {
				if (tr[x, r, "gomem"] == "") continue
				b = -1
				for (i = 1; i <= na; i++)
					if (A[i] !~ /^gomem2?$/ && tr[x, r, A[i]] != "" && (b < 0 || tr[x, r, A[i]] + 0 < b))
						b = tr[x, r, A[i]] + 0
				if (b > 0) pr = pr " " tr[x, r, "gomem"] / b
			}
			if (pr != "") { rr = median(pr); printf " %.2f |\n", rr; sr += log(rr); nrr++ }
			else printf " - |\n"
		} else
			printf " - | - | - | - |\n"
		for (i = 1; i <= na; i++) delete mt[A[i]]
	}
	if (ng)
		printf "\ngeomean gomem/best peer over %d tests: time %.3f, cpu %.3f, rss %.3f; time by round %.3f\n", ng, exp(st / ng), exp(sc / ng), exp(sm / ng), nrr ? exp(sr / nrr) : 0
	# The same for every allocator against the best of the other four: what
	# the metric gives an allocator on this machine, the noise of "one
	# median over the lowest of four" included.  Then gomem alone, without the
	# rows whose timed loop allocates nothing (see bench/README).
	printf "geomean time of each allocator over the best of the others:"
	for (i = 1; i <= na; i++) {
		s1 = 0; n1 = 0
		# gomem and gomem2: not peers of one another
		except = A[i] ~ /^gomem2?$/ ? "^gomem2?$" : "^" A[i] "$"
		for (k = 1; k <= nt; k++) {
			x = order[k]
			if (t[x, A[i]] == "") continue
			b = best_of(x, except)
			if (b > 0) { s1 += log(median(t[x, A[i]]) / b); n1++ }
		}
		if (n1) printf " %s %.3f", A[i], exp(s1 / n1)
	}
	printf "\n"
	s1 = 0; n1 = 0
	for (k = 1; k <= nt; k++) {
		x = order[k]
		if (x ~ /^cache-(thrash|scratch)/ || t[x, "gomem"] == "") continue
		b = best_of(x, "^gomem2?$")
		if (b > 0) { s1 += log(median(t[x, "gomem"]) / b); n1++ }
	}
	if (n1 && n1 < ng)
		printf "geomean gomem/best peer over the %d tests that allocate in their timed loop: time %.3f\n", n1, exp(s1 / n1)
	# -a "... gomem gomem2": the same library twice, the noise floor of the
	# median of one allocator over that of another on this machine.
	s1 = 0; n1 = 0; lo = hi = 0
	for (k = 1; k <= nt; k++) {
		x = order[k]
		if (t[x, "gomem"] == "" || t[x, "gomem2"] == "") continue
		q = median(t[x, "gomem"]) / median(t[x, "gomem2"])
		s1 += log(q); n1++
		if (lo == 0 || q < lo) lo = q
		if (q > hi) hi = q
	}
	if (n1)
		printf "gomem over gomem2 (the same library run twice) over %d tests: geomean %.3f, rows %.2f to %.2f\n", n1, exp(s1 / n1), lo, hi
}' "$runs"
