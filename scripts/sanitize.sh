#!/bin/sh
# sanitize.sh: the allocator core and its unit tests (with the small stress
# run) under ThreadSanitizer, then AddressSanitizer + UndefinedBehaviorSanitizer,
# each in its own build directory ($GOMEM_BUILD-tsan, $GOMEM_BUILD-asan).
# The sanitizers instrument the allocator's own code; the tests that need
# libgomem.so as the process's malloc (spike, cgroup) cannot run beside a
# sanitizer's malloc and are left out.  Called by test.sh; exits non-zero if
# any test fails.
#   sanitize.sh [tsan|asan]...   (default: both)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GOMEM_BUILD:-$top/_build}
tests="check_msize check_mheap check_mcentral check_malloc check_safelink check_mstats check_scavenge check_mprof check_cgroup stress-quick.sh"
jobs=${GOMEM_JOBS:-2}
rc=0
[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh) || exit 1
for kind in ${*:-tsan asan}; do
	case $kind in
	tsan) flags="--enable-tsan" ;;
	asan) flags="--enable-asan --enable-ubsan" ;;
	*) echo "sanitize.sh: unknown kind $kind" >&2; exit 2 ;;
	esac
	dir=$build-$kind
	mkdir -p "$dir"
	echo "== $kind: $dir"
	if [ ! -f "$dir/Makefile" ] || ! grep -q -- "$flags" "$dir/config.status" 2>/dev/null; then
		(cd "$dir" && "$top/configure" -q --disable-daemon $flags) || { rc=1; continue; }
	fi
	# halt_on_error: a report fails the test (TSan exits 66).  detect_deadlocks=0:
	# TSan tracks at most 64 held mutexes, and fork holds every mcentral lock.
	# Instrumented code runs 5-15x slower: Check's timeouts are multiplied.
	make -C "$dir" -j"$jobs" -s >/dev/null &&
	TSAN_OPTIONS="halt_on_error=1 detect_deadlocks=0 die_after_fork=0 ${TSAN_OPTIONS:-}" \
	ASAN_OPTIONS="detect_leaks=0 ${ASAN_OPTIONS:-}" \
	UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}" \
	CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10} \
		make -C "$dir/tests/lib" check TESTS="$tests" || {
		echo "sanitize.sh: $kind failed (logs in $dir/tests/lib)"
		rc=1
	}
done
exit $rc
