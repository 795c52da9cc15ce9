#!/bin/sh
# test-sse.sh: /events keeps flowing to a reading client while others
# connect and never read; gomemd's threads and memory stay bounded; the
# client cap answers 503.  The checks are in sse_client.py.
. "${srcdir:-.}/common.sh"

need_daemon
command -v python3 >/dev/null 2>&1 || skip "python3 missing"
# Profiling on, as by default: the two workloads' symbols (libc's debug
# information, loaded once for both) are part of the RSS that must stay bounded.
start_gomemd --per-ip-limit 0
start_workload grow
A=$WL_PID
start_workload idle
B=$WL_PID
wait_snapshot "$A"
wait_snapshot "$B"
timeout 120 python3 "$srcdir/sse_client.py" "$PORT" "$GOMEMD_PID" "$A" "$B" || fail "SSE checks"
kill -0 "$GOMEMD_PID" 2>/dev/null || fail "gomemd died"
curl -fsS "$BASE/healthz" >/dev/null || fail "gomemd stopped answering after the SSE test"
echo "ok: gomemd still answers"
exit 0
