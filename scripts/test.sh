#!/bin/sh
# test.sh: install what is missing, build, run every test (unit, preload,
# daemon with real BPF, Prometheus, Go expvar, headless Chromium), the core
# under sanitizers (scripts/sanitize.sh; GOMEM_SANITIZE=0 skips it), and end
# with one summary line: "N passed, N failed, N skipped".
# GOMEM_DISTCHECK=1 (set by CI) also runs make distcheck.
# GOMEM_TSAN=1 (set by CI) also builds $GOMEM_BUILD-tsand with --enable-tsan=daemon
# (gomemd instrumented, the preloaded libgomem.so not) and runs the daemon's
# tests there under ThreadSanitizer.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GOMEM_BUILD:-$top/_build}
"$top/scripts/deps.sh" test || exit 1
GOMEM_BUILD=$build "$top/scripts/build.sh" || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
cd "$build"
# Tests run one after another: several time memory release or load servers.
make -k check
rc=$?
dirs=.
if [ "${GOMEM_TSAN:-0}" = 1 ]; then
	tsan=$build-tsand
	mkdir -p "$tsan"
	(cd "$tsan" && { [ -f Makefile ] || "$top/configure" --enable-debug --enable-tsan=daemon; } &&
		make -j"$(nproc)" && make -C tests/daemon -k check) || rc=1
	dirs="$dirs $tsan/tests/daemon"
fi
# The last lines of a failed test's log, so that a CI run's output says why.
# The failed checks' own lines come first (Check's, TAP's and our scripts'
# "FAIL " lines): the tail may be a log dump printed after them.
failed_re='^(FAIL[: ]|not ok )|:[EF]:'
show_tail() {
	[ -f "$1" ] || return 0
	if grep -qE "$failed_re" "$1"; then
		echo "--- failed checks in $1:"
		grep -E "$failed_re" "$1" | head -n 20 | sed 's/^/| /'
	fi
	echo "--- last lines of $1:"
	tail -n "${2:-25}" "$1" | sed 's/^/| /'
}
pass=0 fail=0 skip=0
for t in $(find $dirs -name '*.trs'); do
	r=$(sed -n 's/^:test-result: //p' "$t" | head -n 1)
	case "$r" in
	PASS | XFAIL) pass=$((pass + 1)) ;;
	SKIP) skip=$((skip + 1)); echo "skipped: ${t%.trs}" ;;
	*)
		fail=$((fail + 1))
		echo "failed: ${t%.trs} (see ${t%.trs}.log)"
		show_tail "${t%.trs}.log"
		;;
	esac
done
[ "$rc" -eq 0 ] || [ "$fail" -gt 0 ] || fail=1
# The allocator core under ThreadSanitizer and ASan+UBSan (own build dirs).
if [ "${GOMEM_SANITIZE:-1}" != 0 ]; then
	if GOMEM_BUILD=$build "$top/scripts/sanitize.sh" > "$build/sanitize.log" 2>&1; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "failed: sanitizer builds (see $build/sanitize.log)"
		show_tail "$build/sanitize.log" 40
	fi
fi
# make distcheck (GOMEM_DISTCHECK=1, set by CI): the tarball configures, builds,
# passes make check and installs under its own prefix.
if [ "${GOMEM_DISTCHECK:-0}" = 1 ]; then
	if make distcheck > "$build/distcheck.log" 2>&1; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "failed: make distcheck (see $build/distcheck.log)"
		# The failed tests' own logs in the tarball's build tree, if kept.
		grep -E '^(FAIL|ERROR): ' "$build/distcheck.log" | sed 's/^/| /'
		find "$build" -path '*/_build/sub/*' -name '*.trs' 2>/dev/null |
			while read -r t; do
				grep -q '^:test-result: \(FAIL\|ERROR\)' "$t" && show_tail "${t%.trs}.log"
			done
		show_tail "$build/distcheck.log" 20
	fi
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
