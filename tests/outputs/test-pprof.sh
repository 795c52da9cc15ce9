#!/bin/sh
# test-pprof.sh: heap profiles end to end.  A workload with libgomem
# preloaded and GOMEM_PROFILE_RATE=4096 keeps 8 MiB from leak_big_blocks()
# and frees everything churn_small() allocates.  `go tool pprof` reads
# /debug/pprof/heap?pid=N and must show leak_big_blocks as the top in-use
# site (within a factor of 2 of 8 MiB) and churn_small with (near) zero in
# use but allocated bytes; /profile/top agrees; errors are JSON 400/404;
# the profile is still served, symbolized, after the process exited.
. "${srcdir:-.}/common.sh"

PROFWORK="$top_builddir/tests/outputs/profwork"
need_daemon
[ -x "$PROFWORK" ] || fail "profwork not built: $PROFWORK"
command -v readelf >/dev/null 2>&1 || skip "readelf missing (binutils)"
readelf -n "$LIBGOMEM" 2>/dev/null | grep -q 'Name: sample_alloc' ||
	skip "$LIBGOMEM has no gomem:sample_alloc probe"
if ! command -v go >/dev/null 2>&1; then
	apt_install golang-go || skip "go missing and apt-get install golang-go failed"
fi
export GOCACHE="$TMPD/gocache" GOPATH="$TMPD/gopath" HOME="${HOME:-$TMPD}"

start_gomemd
start_profwork
sleep 1 # the last records through the ring buffer

# 1. The pprof profile, read by go tool pprof.
curl -sS -u "$AUTH" -D "$TMPD/h" -o "$TMPD/heap.pb.gz" "$BASE/debug/pprof/heap?pid=$PW" || fail "GET /debug/pprof/heap"
grep -q '^HTTP/1.1 200' "$TMPD/h" || fail "status: $(head -n1 "$TMPD/h")"
grep -qi '^content-type: application/octet-stream' "$TMPD/h" || fail "content type: $(grep -i content-type "$TMPD/h")"
grep -qi '^content-disposition: attachment' "$TMPD/h" || fail "no Content-Disposition: attachment"
gzip -t "$TMPD/heap.pb.gz" || fail "profile is not gzip"
top() { # $1 sample index, output "bytes function" lines
	go tool pprof -top -unit=B -sample_index="$1" "$TMPD/heap.pb.gz" 2>"$TMPD/pprof.err" |
		awk '$1 ~ /^[0-9]+B?$/ && NF >= 6 { v = $1; sub(/B$/, "", v); print v, $6 }'
}
top inuse_space >"$TMPD/inuse" || fail "go tool pprof: $(cat "$TMPD/pprof.err")"
top alloc_space >"$TMPD/alloc" || fail "go tool pprof: $(cat "$TMPD/pprof.err")"
go tool pprof -top -sample_index=inuse_space "$TMPD/heap.pb.gz" >"$OUT_DIR/pprof-top.txt" 2>&1
cat "$OUT_DIR/pprof-top.txt"
python3 - "$TMPD/inuse" "$TMPD/alloc" <<'EOP' || fail "go tool pprof -top values"
import sys
def rows(p):
    r = {}
    for line in open(p):
        v, f = line.split()
        r.setdefault(f, int(v))
    return r, [l.split()[1] for l in open(p)]
inuse, order = rows(sys.argv[1])
alloc, _ = rows(sys.argv[2])
MiB8 = 8 << 20
assert order and order[0] == "leak_big_blocks", "top inuse site is %s, not leak_big_blocks" % order[:3]
assert MiB8 / 2 <= inuse["leak_big_blocks"] <= MiB8 * 2, "leak_big_blocks inuse %d" % inuse["leak_big_blocks"]
assert inuse.get("churn_small", 0) < MiB8 / 64, "churn_small inuse %d" % inuse.get("churn_small", 0)
assert alloc.get("churn_small", 0) > 0, "churn_small has no alloc_space"
print("ok: pprof: leak_big_blocks inuse %d B; churn_small inuse %d B, alloc %d B" %
      (inuse["leak_big_blocks"], inuse.get("churn_small", 0), alloc["churn_small"]))
EOP

# 2. /profile/top (the dashboard's table) agrees.
curl -fsS -u "$AUTH" "$BASE/profile/top?pid=$PW" >"$TMPD/top.json" || fail "GET /profile/top"
python3 - "$TMPD/top.json" <<'EOP' || fail "/profile/top: $(head -c 600 "$TMPD/top.json")"
import json, sys
t = json.load(open(sys.argv[1]))
s = t["Sites"]
assert t["Rate"] == 4096, t["Rate"]
assert s[0]["Function"] == "leak_big_blocks", s[0]
assert (4 << 20) <= s[0]["InuseSpace"] <= (16 << 20), s[0]
assert "main" in s[0]["Stack"], s[0]["Stack"]
c = [x for x in s if x["Function"] == "churn_small"]
assert c and c[0]["AllocSpace"] > 0 and c[0]["InuseSpace"] < (8 << 20) / 64, c
print("ok: /profile/top: %s %d B in use" % (s[0]["Function"], s[0]["InuseSpace"]))
EOP

# 3. The text form, errors, self metrics.
curl -fsS -u "$AUTH" "$BASE/debug/pprof/heap?pid=$PW&debug=1" >"$TMPD/heap.txt" || fail "GET ?debug=1"
grep -q '^heap profile: [0-9]*: [0-9]* \[[0-9]*: [0-9]*\] @ heap/8192$' "$TMPD/heap.txt" ||
	fail "debug=1 header: $(head -n1 "$TMPD/heap.txt")"
grep -q 'leak_big_blocks' "$TMPD/heap.txt" || fail "debug=1 has no leak_big_blocks"
for q in "pid=abc" "pid=0" "pid=" "pid=12%2034" "pid=$PW&seconds=x"; do
	code=$(curl -sS -u "$AUTH" -o "$TMPD/e" -w '%{http_code}' "$BASE/debug/pprof/heap?$q")
	[ "$code" = 400 ] && grep -q '"Status":400' "$TMPD/e" || fail "?$q: $code $(cat "$TMPD/e")"
done
# Without pid: every watched process in one profile, each sample labelled.
curl -fsS -u "$AUTH" -o "$TMPD/all.pb.gz" "$BASE/debug/pprof/heap" || fail "GET /debug/pprof/heap (all)"
go tool pprof -tags "$TMPD/all.pb.gz" 2>/dev/null | grep -q ": $PW\$" || fail "merged profile has no pid $PW label"
code=$(curl -sS -u "$AUTH" -o "$TMPD/e" -w '%{http_code}' "$BASE/debug/pprof/heap?pid=4194303")
[ "$code" = 404 ] && grep -q '"Error"' "$TMPD/e" || fail "unknown pid: $code $(cat "$TMPD/e")"
code=$(curl -sS -u "$AUTH" -o "$TMPD/e" -w '%{http_code}' "$BASE/profile/top?pid=4194303")
[ "$code" = 404 ] || fail "/profile/top unknown pid: $code"
curl -fsS "$BASE/metrics" >"$TMPD/m" || fail "GET /metrics"
grep -q '^gomemd_profile_samples [1-9]' "$TMPD/m" || fail "no gomemd_profile_samples"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$TMPD/m" >"$TMPD/lint" 2>&1 || { cat "$TMPD/lint"; fail "promtool"; }
fi
echo "ok: debug=1 text, 400/404 errors, gomemd_profile_* metrics"

# 4. After the process exits, its profile is still served with names.
kill "$PW"
wait "$PW" 2>/dev/null
sleep 1.5
curl -fsS -u "$AUTH" -o "$TMPD/after.pb.gz" "$BASE/debug/pprof/heap?pid=$PW" || fail "profile after exit"
go tool pprof -top -sample_index=inuse_space "$TMPD/after.pb.gz" 2>&1 | grep -q 'leak_big_blocks' ||
	fail "profile after exit has no leak_big_blocks"
echo "ok: the profile of an exited process is served, symbolized"
exit 0
