#!/bin/sh
# test-top.sh: `gomem top -b -n 3` against gomemd over its unix socket, with
# the growing workload (it allocates about 225 KB per 100 ms round, frees
# 200 small blocks a round) and an idle one.  Checks each line's numbers
# against gomemd's own /memstats, that the rates are the deltas of
# TotalAlloc, Mallocs and Frees over the snapshots' times (TOTALALLOC and
# SNAPTIME columns of batch mode), that the growing workload's rates are
# non-zero and within what it can allocate, the idle one's zero, the sort,
# the errors for bad options and an unreachable server, and the interactive
# mode on a pseudo-terminal (top_tty.py).
. "${srcdir:-.}/common.sh"

need_daemon
CLI="$top_builddir/cli/gomem"
[ -x "$CLI" ] || fail "gomem not built: $CLI"

start_gomemd --socket "$TMPD/gomemd.sock"
start_workload grow
GROW=$WL_PID
start_workload idle
IDLE=$WL_PID
wait_snapshot "$GROW"
wait_snapshot "$IDLE"
for _ in $(seq 1 50); do
	[ -S "$TMPD/gomemd.sock" ] && break
	sleep 0.1
done
export GOMEMD_SERVER="$TMPD/gomemd.sock"

"$CLI" top -b -n 3 -d 1.5 >"$TMPD/top.out" 2>"$TMPD/top.err" || fail "gomem top: $(cat "$TMPD/top.err")"
cat "$TMPD/top.out"
curl -fsS "$BASE/memstats" >"$TMPD/memstats.json" || fail "GET /memstats"
python3 - "$TMPD/top.out" "$TMPD/memstats.json" "$GROW" "$IDLE" <<'EOP' || fail "gomem top's numbers"
import json, sys
out, ms, grow, idle = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4])
blocks = [b.splitlines() for b in out.strip().split("\n\n")]
assert len(blocks) == 3, "want 3 iterations, got %d" % len(blocks)
cols = blocks[0][1].split()
want = ["PID", "COMM", "HEAPALLOC", "HEAPINUSE", "RELEASED", "RSS", "OBJECTS", "ALLOC/s",
        "MALLOC/s", "FREE/s", "SCAV/s", "TOTALALLOC", "SNAPTIME"]
assert cols == want, cols
def rows(b):
    r = {}
    for line in b[2:]:
        f = line.split()
        r[int(f[0])] = dict(zip(cols, f))
    return r
its = [rows(b) for b in blocks]
for it in its:
    assert grow in it and idle in it, "workloads missing: %s" % sorted(it)
# sorted by HeapAlloc, biggest first
for b in blocks:
    h = [int(l.split()[2]) for l in b[2:] if l.split()[2].isdigit()]
    assert h == sorted(h, reverse=True), "not sorted by HEAPALLOC: %s" % h
# (only our workloads: gomemd also watches those of tests running beside this one)
assert all(its[0][p]["ALLOC/s"] == "-" for p in (grow, idle)), "rates on the first screen"
# rates = TotalAlloc delta / snapshot time delta (the same snapshot again keeps the rate)
for a, b in ((its[0], its[1]), (its[1], its[2])):
    g0, g1 = a[grow], b[grow]
    dt = float(g1["SNAPTIME"]) - float(g0["SNAPTIME"])
    if dt == 0:
        continue
    d = int(g1["TOTALALLOC"]) - int(g0["TOTALALLOC"])
    rate = int(g1["ALLOC/s"])
    assert abs(rate - d / dt) <= max(2, 0.001 * rate), "ALLOC/s %d, TotalAlloc delta %d over %.3f s = %.0f" % (rate, d, dt, d / dt)
g = its[2][grow]
rate = int(g["ALLOC/s"])
# The workload allocates at most ~225 KB per 100 ms round (2.25 MB/s); a
# loaded machine runs fewer rounds, never more.
assert 50000 < rate < 3000000, "grow's ALLOC/s %d" % rate
assert int(g["MALLOC/s"]) > 0 and int(g["FREE/s"]) > 0, g
assert its[2][idle]["ALLOC/s"] == "0" and its[2][idle]["MALLOC/s"] == "0", its[2][idle]
# the last screen's values are gomemd's (the idle one does not change)
m = {p["Pid"]: p for p in ms["Processes"]}
i = its[2][idle]
assert int(i["HEAPALLOC"]) == m[idle]["MemStats"]["HeapAlloc"], (i, m[idle]["MemStats"]["HeapAlloc"])
assert int(i["TOTALALLOC"]) == m[idle]["MemStats"]["TotalAlloc"]
assert i["COMM"] == m[idle]["Comm"][:15]
print("ok: grow allocates %d B/s, %s mallocs/s, %s frees/s" % (rate, g["MALLOC/s"], g["FREE/s"]))
EOP

# Another sort column, and errors.
"$CLI" top -b -n 1 -s rss >"$TMPD/rss.out" || fail "gomem top -s rss"
awk 'NR > 2 && NF { print $6 }' "$TMPD/rss.out" | sort -c -n -r || fail "-s rss not sorted by RSS: $(cat "$TMPD/rss.out")"
"$CLI" top -b -n 0 >/dev/null 2>&1 && fail "-n 0 accepted"
"$CLI" top -b -d 0 >/dev/null 2>&1 && fail "-d 0 accepted"
"$CLI" top -b -s bogus >/dev/null 2>&1 && fail "-s bogus accepted"
GOMEMD_SERVER="$TMPD/none.sock" "$CLI" top -b -n 1 >/dev/null 2>"$TMPD/err" && fail "no server accepted"
grep -q "cannot reach gomemd" "$TMPD/err" || fail "error without a server: $(cat "$TMPD/err")"
# Interactive, on a pseudo-terminal: keys, resize, SIGTERM and q restore the terminal.
timeout 90 python3 "$srcdir/top_tty.py" "$CLI" || fail "interactive gomem top"
echo "ok: gomem top"
exit 0
