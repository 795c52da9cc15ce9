#!/bin/sh
# profile-test.sh: gomemd's heap profiles, end to end, as go tool pprof reads
# them with no binary at hand (-symbolize=none):
#   1. workloads that allocated everything before gomemd started: sites.c's
#      6:3:1 sites ranked right and within 10% (alloc and in use), with
#      file:line, libc lines (libc6-dbg), a demangled C++ method; ?debug=1
#      text with the same totals when go tool pprof reads it;
#   2. /debug/pprof/heap without pid: one profile, a pid label per process;
#   3. /leaks ranks site_a first, with the age of its oldest live sample;
#   4. a SIGKILLed process is still profiled after the grace period, and
#      after gomemd restarts on the same state directory, and /processes
#      lists it as ended;
#   5. gomem pprof writes the same profile to a file, gomem leaks ranks it,
#      gomem run python3 sets PYTHONMALLOC=malloc;
#   6. a process that exits normally hands gomemd its final table through
#      gomem:exit and is listed as "exited" with code 0, a killed one as
#      "killed" by SIGKILL.
# gomemd runs with its defaults but for the port, the state directory, a 1 s
# grace and a 200 ms interval; the workloads sample at GOMEM_PROFILE_RATE=4096
# so that 200 MiB keep the sampling error near 1%.
set -eu
B=${top_builddir:-../..}
S=${srcdir:-.}
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0")
GOMEMD=$B/daemon/gomemd
CLI=$B/cli/gomem
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (BPF, process_vm_readv)"; exit 77; }
command -v go >/dev/null || { echo "SKIP: no go tool pprof"; exit 77; }
T=$(mktemp -d)
DPID="" W1="" W2="" W3=""
cleanup() {
	for p in $DPID $W1 $W2 $W3; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
export GOCACHE="$T/gocache" HOME="$T"
fail() { echo "FAIL: $*"; [ -f "$T/gomemd.log" ] && tail -20 "$T/gomemd.log"; exit 1; }
pp() { go tool pprof -symbolize=none "$@" 2>/dev/null; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
# Heap profiles over TCP need an authenticated client: bcrypt's test vector.
printf 'basic_auth_users:\n  alice: %s\n' \
	'$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' >"$T/web.yml"
AUTH='alice:U*U'
start_gomemd() {
	"$GOMEMD" --listen 127.0.0.1:"$PORT" --library "$LIB" --state-dir "$T/state" --grace 1 \
		--history-interval 200 --socket "$T/gomemd.sock" --web-config "$T/web.yml" >>"$T/gomemd.log" 2>&1 &
	DPID=$!
	i=0
	until curl -sf "$URL/healthz" >/dev/null; do
		i=$((i + 1)); [ $i -lt 200 ] || fail "gomemd did not start"; sleep 0.05
	done
}
get() { # URL OUT: 200 or fail
	code=$(curl -sS -u "$AUTH" -o "$2" -w '%{http_code}' "$1")
	[ "$code" = 200 ] || fail "GET $1: $code $(head -c 300 "$2")"
}

# The workloads first: everything is allocated before gomemd exists.
mkfifo "$T/w1.in" "$T/w2.in"
(GOMEM_PROFILE_RATE=4096 LD_PRELOAD="$LIB" exec ./sites 200 <"$T/w1.in" >"$T/w1.out") &
(GOMEM_PROFILE_RATE=1 LD_PRELOAD="$LIB" exec ./cxxsite <"$T/w2.in" >"$T/w2.out") &
exec 4>"$T/w1.in" 5>"$T/w2.in"
i=0
until [ -s "$T/w1.out" ] && [ -s "$T/w2.out" ]; do
	i=$((i + 1)); [ $i -lt 400 ] || fail "workloads did not start"; sleep 0.05
done
W1=$(awk '{print $2}' "$T/w1.out")
W2=$(pgrep -n -x cxxsite)
start_gomemd
i=0
until curl -sf -u "$AUTH" -o /dev/null "$URL/debug/pprof/heap?pid=$W1" &&
	curl -sf -u "$AUTH" -o /dev/null "$URL/debug/pprof/heap?pid=$W2"; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "no profiles after 10 s"; sleep 0.1
done

# 1.
get "$URL/debug/pprof/heap?pid=$W1" "$T/w1.pb.gz"
for idx in alloc_space inuse_space; do
	pp -unit=MB -sample_index=$idx -top "$T/w1.pb.gz" >"$T/top.$idx"
	python3 "$S/pprof_sites.py" "$T/top.$idx" $idx 200 || fail "$idx ranking or accuracy"
done
pp -lines -top "$T/w1.pb.gz" | grep -q 'site_a .*sites.c:[0-9]' || fail "-lines: no sites.c:LINE"
if dpkg-query -W -f='${Status}' libc6-dbg 2>/dev/null | grep -q "ok installed"; then
	pp -lines -traces "$T/w1.pb.gz" | grep -q '__libc_start_call_main .*\.h:[0-9]' ||
		fail "libc frame without a line although libc6-dbg is installed"
fi
get "$URL/debug/pprof/heap?pid=$W2" "$T/w2.pb.gz"
pp -sample_index=alloc_space -traces "$T/w2.pb.gz" | grep -q '^ *64B *store::Cache::grow(int)$' ||
	fail "C++: no demangled store::Cache::grow(int) at the top of its stack"

# 1b. ?debug=1, Go's legacy text: go tool pprof reads it and scales its
# counts itself, so its totals are the protobuf's (they were twice as large
# when the text carried counts already scaled).
get "$URL/debug/pprof/heap?pid=$W1&debug=1" "$T/w1.txt"
head -1 "$T/w1.txt" | grep -q '^heap profile: .* @ heap/8192$' || fail "debug=1 header: $(head -1 "$T/w1.txt")"
for idx in alloc_space inuse_space; do
	a=$(pp -unit=MB -sample_index=$idx -top "$T/w1.pb.gz" | sed -n 's/.* of \([0-9.]*\)MB total.*/\1/p')
	b=$(pp -unit=MB -sample_index=$idx -top "$T/w1.txt" | sed -n 's/.* of \([0-9.]*\)MB total.*/\1/p')
	python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 0.1 * a else 1)" \
		"${a:-0}" "${b:-0}" || fail "debug=1 $idx total ${b:-none} MB, protobuf ${a:-none} MB"
done
code=$(curl -s -u "$AUTH" -o /dev/null -w '%{http_code}' "$URL/debug/pprof/heap?pid=$W1&debug=1&seconds=5")
[ "$code" = 400 ] || fail "debug=1 with seconds: $code, not 400 (as Go)"

# 2.
get "$URL/debug/pprof/heap" "$T/all.pb.gz"
pp -tags "$T/all.pb.gz" >"$T/tags"
grep -q ": $W1\$" "$T/tags" && grep -q ": $W2\$" "$T/tags" || { cat "$T/tags"; fail "pid labels"; }
grep -q ': sites$' "$T/tags" || fail "no comm label"

# 3.
get "$URL/leaks?pid=$W1&n=3" "$T/leaks.json"
python3 - "$T/leaks.json" <<'PY' || fail "/leaks: $(head -c 400 "$T/leaks.json")"
import json, sys
l = json.load(open(sys.argv[1]))["Leaks"]
assert [x["Function"] for x in l] == ["site_a", "site_b", "site_c"], l
assert l[0]["InuseBytes"] > 0.9 * 60 * 2**20 and l[0]["OldestAgeSeconds"] >= 0, l[0]
PY

# 5. (before the kill, while the process lives)
if [ -x "$CLI" ]; then
	GOMEMD_SERVER="$T/gomemd.sock" "$CLI" pprof "$W1" -o "$T/cli.pb.gz" || fail "gomem pprof"
	GOMEMD_SERVER="$T/gomemd.sock" "$CLI" leaks "$W1" | grep -q "site_a" || fail "gomem leaks"
	if command -v python3 >/dev/null; then
		m=$(GOMEM_LIBRARY="$LIB" "$CLI" run python3 -c 'import os; print(os.environ["PYTHONMALLOC"])' 2>/dev/null)
		[ "$m" = malloc ] || fail "gomem run python3 did not set PYTHONMALLOC=malloc ($m)"
	fi
	pp -unit=MB -sample_index=inuse_space -top "$T/cli.pb.gz" >"$T/top.cli"
	python3 "$S/pprof_sites.py" "$T/top.cli" inuse_space 200 || fail "gomem pprof's profile"
fi

# 6. A third workload, started under gomemd, that exits by itself.
mkfifo "$T/w3.in"
(GOMEM_PROFILE_RATE=4096 LD_PRELOAD="$LIB" exec ./sites 20 <"$T/w3.in" >"$T/w3.out") &
W3=$!
exec 6>"$T/w3.in"
i=0
until [ -s "$T/w3.out" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || fail "third workload did not start"; sleep 0.05
done
sleep 1.2 # its first snapshot, so gomemd watches it
exec 6>&-
wait "$W3" || fail "third workload failed"
W3_DONE=$W3
W3=""

# 4.
sleep 0.5 # one more pull
kill -9 "$W1"
wait "$W1" 2>/dev/null || true
W1_DEAD=$W1
W1=""
sleep 3 # past the 1 s grace: gone from the process table
curl -s -u "$AUTH" "$URL/processes/$W1_DEAD" | grep -q '"Status":404' || fail "killed pid still in the table"
# its last MemStats now come from the state directory, marked as ended
get "$URL/memstats?pid=$W1_DEAD" "$T/dead.json"
python3 - "$T/dead.json" <<'PY' || fail "/memstats of the killed pid: $(head -c 300 "$T/dead.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["HeapAlloc"] > 95 * 2**20 and d["Ended"]["How"] == "killed", d.get("Ended")
PY
get "$URL/debug/pprof/heap?pid=$W1_DEAD" "$T/dead.pb.gz"
pp -unit=MB -sample_index=inuse_space -top "$T/dead.pb.gz" >"$T/top.dead"
python3 "$S/pprof_sites.py" "$T/top.dead" inuse_space 200 || fail "killed process's profile"
get "$URL/processes" "$T/procs.json"
python3 - "$T/procs.json" "$W1_DEAD" "$W3_DONE" <<'PY' || fail "/processes Ended: $(head -c 600 "$T/procs.json")"
import json, sys
e = {x["Pid"]: x for x in json.load(open(sys.argv[1]))["Ended"]}
killed, done = int(sys.argv[2]), int(sys.argv[3])
assert e[killed]["Comm"] == "sites" and e[killed]["How"] == "killed", e.get(killed)
assert e[killed]["Signal"] == "SIGKILL" and not e[killed]["OOMKilled"], e.get(killed)
assert e[done]["How"] == "exited" and e[done]["ExitCode"] == 0, e.get(done)
PY
get "$URL/debug/pprof/heap?pid=$W3_DONE" "$T/done.pb.gz"
pp -unit=MB -sample_index=inuse_space -top "$T/done.pb.gz" >"$T/top.done"
grep -q site_a "$T/top.done" || fail "the exited process's final profile has no site_a"
kill "$DPID"
wait "$DPID" 2>/dev/null || true
start_gomemd
get "$URL/debug/pprof/heap?pid=$W1_DEAD" "$T/dead2.pb.gz"
pp -unit=MB -sample_index=inuse_space -top "$T/dead2.pb.gz" >"$T/top.dead2"
python3 "$S/pprof_sites.py" "$T/top.dead2" inuse_space 200 || fail "killed process's profile after restart"

exec 4>&- 5>&-
kill "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=""
echo "profile-test: ok"
