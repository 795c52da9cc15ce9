#!/bin/sh
# test-dashboard.sh: the dashboard in headless Chromium (Debian's package)
# driven by playwright-core (npm), loopback only: the live charts, the flame
# graph of a profiled workload (in use and allocated), the flame graph of
# that workload after a SIGKILL (the Ended list), a 401 for a wrong login, and
# a Content-Security-Policy the page runs under without a violation.  The screenshot is left
# in the build directory: tests/outputs/dashboard.png.
. "${srcdir:-.}/common.sh"

need_daemon
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	apt_install chromium ||
		skip "chromium missing and apt-get install chromium failed"
fi
command -v node >/dev/null 2>&1 || skip "node missing"
PW_DIR="$OUT_DIR/pw-node"
if [ ! -d "$PW_DIR/node_modules/playwright-core" ]; then
	mkdir -p "$PW_DIR"
	(cd "$PW_DIR" && { [ -f package.json ] || npm init -y; } && npm install --no-audit --no-fund playwright-core) >"$TMPD/npm.log" 2>&1 ||
		skip "playwright-core missing and npm install failed: $(tail -n 2 "$TMPD/npm.log")"
fi

PROFWORK="$top_builddir/tests/outputs/profwork"
[ -x "$PROFWORK" ] || fail "profwork not built: $PROFWORK"

start_gomemd
start_workload grow
GROW=$WL_PID
start_workload idle
# The flame graph's workload: leak_big_blocks() keeps 8 MiB, churn_small()
# allocates about 4.8 MB and frees it all (profwork.c).
start_profwork
PROF=$PW
wait_snapshot "$GROW"
sleep 2

rm -f "$OUT_DIR/.kill-workload" "$OUT_DIR/dashboard.png"
# Kill the growing workload when the browser side asks for it.
(
	for _ in $(seq 1 900); do
		if [ -e "$OUT_DIR/.kill-workload" ]; then
			kill "$GROW" 2>/dev/null
			break
		fi
		sleep 0.1
	done
) &
WATCH=$!
PIDS="$PIDS $WATCH"
BASE="$BASE" PID="$GROW" PROF="$PROF" OUT="$OUT_DIR" PW_DIR="$PW_DIR" \
	CHROMIUM="$CHROMIUM" timeout 120 node "$srcdir/dashboard.mjs"
rc=$?
rm -f "$OUT_DIR/.kill-workload"
[ $rc = 0 ] || fail "browser test (rc $rc)"
[ -s "$OUT_DIR/dashboard.png" ] || fail "no screenshot"
echo "ok: screenshot $OUT_DIR/dashboard.png"
exit 0
