#!/bin/sh
# test-prometheus.sh: /metrics passes `promtool check metrics`, carries the
# workload's series and info, drops a dead process's series, and a real
# Prometheus server on loopback scrapes it and answers
# go_memstats_heap_alloc_bytes{pid="<workload>"} through its query API.
. "${srcdir:-.}/common.sh"

need_daemon
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
	apt_install prometheus ||
		skip "prometheus/promtool missing and apt-get install prometheus failed"
fi

start_gomemd
start_workload grow
GROW=$WL_PID
start_workload idle
IDLE=$WL_PID
# A process whose comm needs label escaping: a quote, a backslash and a
# byte that is not UTF-8 (exported as U+FFFD).
ODD="$TMPD/$(printf 'w"l\\\377')"
cp "$WORKLOAD" "$ODD"
LD_PRELOAD="$LIBGOMEM" "$ODD" idle 300 &
ODD_PID=$!
PIDS="$PIDS $ODD_PID"
wait_snapshot "$GROW"
wait_snapshot "$IDLE"
wait_snapshot "$ODD_PID"

# 1. The exposition: content type, promtool, our series.
curl -fsS -D "$TMPD/h" "$BASE/metrics" -o "$OUT_DIR/metrics.prom" || fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$TMPD/h" || fail "content type: $(grep -i content-type "$TMPD/h")"
promtool check metrics <"$OUT_DIR/metrics.prom" >"$TMPD/lint" 2>&1 || {
	cat "$TMPD/lint"
	fail "promtool check metrics"
}
grep -q "^go_memstats_heap_alloc_bytes{pid=\"$GROW\",comm=\"workload\"} [0-9]" "$OUT_DIR/metrics.prom" ||
	fail "no go_memstats_heap_alloc_bytes for pid $GROW"
EXP=$(printf 'go_memstats_heap_alloc_bytes{pid="%s",comm="w\\"l\\\\\357\277\275"} ' "$ODD_PID")
grep -qF "$EXP" "$OUT_DIR/metrics.prom" ||
	fail "comm of pid $ODD_PID not escaped as $EXP: $(grep "pid=\"$ODD_PID\"" "$OUT_DIR/metrics.prom" | head -n1)"
grep -q "^gomemd_process_info{pid=\"$GROW\",comm=\"workload\",exe=\"[^\"]*workload\",unit=\"[^\"]*\",cgroup=\"/[^\"]*\"} 1$" \
	"$OUT_DIR/metrics.prom" || fail "no gomemd_process_info for pid $GROW"
for fam in go_memstats_alloc_bytes_total go_memstats_last_gc_time_seconds gomem_arenas \
	gomemd_watched_processes gomemd_events_received_total gomemd_snapshot_age_seconds \
	gomemd_http_requests_total gomemd_bpf_map_bytes gomemd_process_resident_memory_bytes; do
	n=$(grep -c "^# TYPE $fam " "$OUT_DIR/metrics.prom")
	[ "$n" = 1 ] || fail "family $fam has $n TYPE lines"
done
echo "ok: /metrics passes promtool ($(wc -l <"$OUT_DIR/metrics.prom") lines)"

# 2. A dead process's series go away.
kill "$IDLE"
wait "$IDLE" 2>/dev/null
gone=0
for _ in $(seq 1 50); do
	if ! curl -fsS "$BASE/metrics" | grep -q "pid=\"$IDLE\""; then
		gone=1
		break
	fi
	sleep 0.2
done
[ $gone = 1 ] || fail "series of dead pid $IDLE still exported"
echo "ok: dead process's series are gone"

# 3. A real Prometheus server scrapes gomemd.
PPORT=$(free_port)
cat >"$TMPD/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gomemd
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOC
timeout 120 prometheus --config.file="$TMPD/prometheus.yml" --storage.tsdb.path="$TMPD/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" >"$TMPD/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS="$PIDS $PROM_PID"
Q="go_memstats_heap_alloc_bytes%7Bpid%3D%22$GROW%22%7D"
ok=0
for _ in $(seq 1 60); do
	if curl -fsS "http://127.0.0.1:$PPORT/api/v1/query?query=$Q" >"$TMPD/q" 2>/dev/null &&
		grep -q "\"pid\":\"$GROW\"" "$TMPD/q"; then
		ok=1
		break
	fi
	kill -0 "$PROM_PID" 2>/dev/null || { tail -n 20 "$TMPD/prometheus.log"; fail "prometheus exited"; }
	sleep 0.5
done
[ $ok = 1 ] || { tail -n 20 "$TMPD/prometheus.log"; cat "$TMPD/q" 2>/dev/null; fail "Prometheus query returned no series for pid $GROW"; }
python3 - "$TMPD/q" "$GROW" <<'EOP' || fail "Prometheus query result"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "success", r
res = r["data"]["result"]
assert len(res) == 1, res
m, (t, v) = res[0]["metric"], res[0]["value"]
assert m["__name__"] == "go_memstats_heap_alloc_bytes" and m["pid"] == sys.argv[2] and m["job"] == "gomemd", m
assert float(v) > 0, v
print("ok: Prometheus answers go_memstats_heap_alloc_bytes{pid=%s} = %s" % (sys.argv[2], v))
EOP
exit 0
