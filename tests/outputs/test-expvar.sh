#!/bin/sh
# test-expvar.sh: /debug/vars?pid=N against what Go's own expvar handler
# writes (Debian's golang-go): same framing bytes, keys in the same order,
# same value types, same array lengths, same Content-Type; and the cmdline
# strings, which both sides know, escaped byte for byte like encoding/json.
. "${srcdir:-.}/common.sh"

need_daemon
if ! command -v go >/dev/null 2>&1; then
	apt_install golang-go ||
		skip "go missing and apt-get install golang-go failed"
fi

# Build the reference program (standard library only, no network).
mkdir -p "$TMPD/go"
cp "$srcdir/expvar_main.go" "$TMPD/go/main.go"
(cd "$TMPD/go" && GOCACHE="$TMPD/gocache" GOPATH="$TMPD/gopath" GOFLAGS=-mod=mod GO111MODULE=off \
	GOPROXY=off go build -o expvar_ref main.go) >"$TMPD/gobuild.log" 2>&1 || {
	cat "$TMPD/gobuild.log"
	fail "go build of the expvar reference"
}

# Arguments that exercise encoding/json's escaping, given to both programs.
A1='<tag>&amp;'
A2=$(printf 'tab\there "q" \\b')
A3=$(printf '\342\200\250 line-sep, h\303\251, bad \377')

"$TMPD/go/expvar_ref" x "$A1" "$A2" "$A3" >"$TMPD/goport" &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do
	[ -s "$TMPD/goport" ] && break
	sleep 0.1
done
GOPORT=$(head -n1 "$TMPD/goport")
[ -n "$GOPORT" ] || fail "expvar reference did not start"

start_gomemd
LD_PRELOAD="$LIBGOMEM" "$WORKLOAD" idle 300 "$A1" "$A2" "$A3" &
WL_PID=$!
PIDS="$PIDS $WL_PID"
wait_snapshot "$WL_PID"

curl -fsS -D "$TMPD/go.h" "http://127.0.0.1:$GOPORT/debug/vars" -o "$TMPD/go.json" || fail "GET Go /debug/vars"
curl -fsS -D "$TMPD/our.h" "$BASE/debug/vars?pid=$WL_PID" -o "$TMPD/our.json" || fail "GET /debug/vars?pid=$WL_PID"
curl -sS -o "$TMPD/nopid.json" -w '%{http_code}' "$BASE/debug/vars?pid=abc" >"$TMPD/code"
[ "$(cat "$TMPD/code")" = 400 ] || fail "malformed pid gave $(cat "$TMPD/code"), want 400"
cp "$TMPD/our.json" "$OUT_DIR/debug_vars.json" 2>/dev/null

python3 - "$TMPD" <<'EOP' || fail "/debug/vars differs from Go's shape"
import json, re, sys
d = sys.argv[1]
go = open(d + "/go.json", "rb").read()
our = open(d + "/our.json", "rb").read()

def ctype(path):
    for line in open(path, "rb").read().decode("latin-1").splitlines():
        if line.lower().startswith("content-type:"):
            return line.split(":", 1)[1].strip()
assert ctype(d + "/go.h") == ctype(d + "/our.h"), (ctype(d + "/go.h"), ctype(d + "/our.h"))

# Framing: {\n, entries joined by ,\n, then \n}\n; no other newline.
def frame(b):
    assert b.startswith(b'{\n"cmdline": '), b[:20]
    assert b.endswith(b'\n}\n'), b[-10:]
    i = b.index(b',\n"memstats": ')
    return b[len(b'{\n"cmdline": '):i], b[i + len(b',\n"memstats": '):-3]
gc, gm = frame(go)
oc, om = frame(our)
assert go.count(b"\n") == our.count(b"\n") == 4, (go.count(b"\n"), our.count(b"\n"))

def pairs(b):
    return json.loads(b, object_pairs_hook=lambda kv: kv)

def kind(v):
    if isinstance(v, bool): return "bool"
    if isinstance(v, (int, float)): return "number"
    if isinstance(v, str): return "string"
    if isinstance(v, list): return "object" if v and isinstance(v[0], tuple) else "array"
    return type(v).__name__

def shape(v, path="memstats"):
    """Keys in order, kinds, lengths; values ignored."""
    k = kind(v)
    if k == "object":
        return [(key, shape(val, path + "." + key)) for key, val in v]
    if k == "array":
        return ("array", len(v), [shape(x) for x in v[:1]])
    return k

assert list(json.loads(b"{" + go[2:])) == list(json.loads(b"{" + our[2:])) == ["cmdline", "memstats"]
sg, so = shape(pairs(gm)), shape(pairs(om))
if sg != so:
    for a, b in zip(sg, so):
        if a != b:
            print("first difference:", a, b)
            break
    print("go keys: ", [k for k, _ in sg])
    print("our keys:", [k for k, _ in so])
    sys.exit(1)
ms = dict(pairs(om))
assert len(ms["PauseNs"]) == len(ms["PauseEnd"]) == 256
assert len(ms["BySize"]) == 61
assert ms["HeapAlloc"] > 0, ms["HeapAlloc"]

# cmdline: argv[0] differs; the rest was the same and must be the same bytes.
def tail(raw):
    assert raw.startswith(b'["') and raw.endswith(b'"]'), raw
    return raw[raw.index(b'",') + 2:]
gt, ot = tail(gc), tail(oc)
gt = gt[gt.index(b",") + 1:]              # Go: x
ot = ot.split(b",", 2)[2]                 # ours: idle,300
assert gt == ot, (gt, ot)
print("ok: /debug/vars has Go's framing, %d memstats keys in Go's order, types and lengths; cmdline bytes %s" % (len(so), ot.decode("utf-8", "replace")))
EOP
exit 0
