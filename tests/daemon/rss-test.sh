#!/bin/sh
# rss-test.sh: gomemd's memory with many profiled processes.
#
#   rss-test.sh                  (make check: 1, 10 and 100 processes)
#   top_builddir=B srcdir=S tests/daemon/rss-test.sh 1 10 100 200
#
# gomemd runs with its defaults (profiling on) but for the port, the state
# directory and a 200 ms interval.  For each count in turn, more workloads
# (sites.c: three allocation sites, 2 MB, sampled every 4 KiB, so each has
# a few hundred samples in a handful of stacks through the binary,
# libgomem and libc) are started under it, each one's heap profile is
# fetched (so every stack is symbolised), and gomemd's VmRSS is printed.
#
# What the design promises: an object mapped by many processes (libc with
# libc6-dbg's debug information: about 17 MB of libdw state; libgomem; the
# binary) is loaded once, so a process costs gomemd only its mappings, its
# address cache, its table copies and its process-table entry.  The test
# asserts that no object was loaded twice (gomemd_profile_symbol_loads_total
# at most gomemd_profile_symbol_objects), that the processes after the first
# cost under PER_PROC_KB each (so 10 processes are not 10 loads of libc's
# DWARF) and that RSS at the last count is under 3 times RSS at the second.  Sanitizer builds print
# the figures but assert nothing about them (shadow memory).
set -eu
B=${top_builddir:-../..}
S=${srcdir:-.}
LIB=$(readlink -f "$B/lib/.libs/libgomem.so.0")
GOMEMD=$B/daemon/gomemd
COUNTS=${*:-1 10 100}
PER_PROC_KB=${PER_PROC_KB:-512}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (BPF, process_vm_readv)"; exit 77; }
T=$(mktemp -d)
DPID="" PIDS=""
cleanup() {
	exec 4>&- 2>/dev/null || true
	for p in $DPID $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; [ -f "$T/gomemd.log" ] && tail -20 "$T/gomemd.log"; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
printf 'basic_auth_users:\n  alice: %s\n' \
	'$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' >"$T/web.yml"
AUTH='alice:U*U'
SANITIZED=0
if nm -D "$GOMEMD" 2>/dev/null | grep -q '__tsan_init\|__asan_init' ||
	ldd "$GOMEMD" 2>/dev/null | grep -q 'libtsan\|libasan'; then
	SANITIZED=1
fi

"$GOMEMD" --listen 127.0.0.1:"$PORT" --library "$LIB" --state-dir "$T/state" \
	--history-interval 200 --socket "$T/gomemd.sock" --web-config "$T/web.yml" >"$T/gomemd.log" 2>&1 &
DPID=$!
i=0
until curl -sf "$URL/healthz" >/dev/null; do
	i=$((i + 1)); [ $i -lt 400 ] || fail "gomemd did not start"; sleep 0.05
done
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/"$DPID"/status; }
echo "gomemd RSS with no process: $(rss_kb) kB"

# Every workload reads the one FIFO: closing our end ends them all.
mkfifo "$T/in"
n=0
first=""
prev=""
for want in $COUNTS; do
	start=$n
	while [ $n -lt "$want" ]; do
		(GOMEM_PROFILE_RATE=4096 LD_PRELOAD="$LIB" exec "$B/tests/daemon/sites" 2 <"$T/in" \
			>"$T/w$n.out") &
		PIDS="$PIDS $!"
		[ $n -eq 0 ] && exec 4>"$T/in"
		n=$((n + 1))
	done
	# Each new one's profile, fetched as a client would (symbolised).
	for p in $(echo $PIDS | tr ' ' '\n' | tail -n $((n - start))); do
		i=0
		until [ "$(curl -sS -u "$AUTH" -o "$T/p.pb.gz" -w '%{http_code}' \
			"$URL/debug/pprof/heap?pid=$p")" = 200 ] && [ -s "$T/p.pb.gz" ]; do
			i=$((i + 1)); [ $i -lt 600 ] || fail "no profile of pid $p after 60 s"; sleep 0.1
		done
	done
	# The last profile names its sites (the fetch symbolised it).
	if command -v go >/dev/null; then
		HOME=$T GOCACHE=$T/gocache go tool pprof -symbolize=none -top "$T/p.pb.gz" 2>/dev/null |
			grep -q site_a || fail "the profile of pid $p has no site_a"
	fi
	sleep 1 # a few pulls of every table
	kill -0 "$DPID" 2>/dev/null || fail "gomemd died"
	r=$(rss_kb)
	echo "gomemd RSS with $n profiled processes: $r kB"
	eval "rss_$n=$r"
	[ -n "$first" ] || first=$n
	prev=$n
done
curl -sS -u "$AUTH" "$URL/metrics" >"$T/metrics" || fail "/metrics"
grep -E '^gomemd_profile_(pulls|processes|bytes|symbol)' "$T/metrics"
exec 4>&-
# Each object (libc, libgomem, the binary) was loaded into libdw once for
# all the processes that map it, and never had to be unloaded.
objs=$(awk '$1 == "gomemd_profile_symbol_objects" {print $2}' "$T/metrics")
loads=$(awk '$1 == "gomemd_profile_symbol_loads_total" {print $2}' "$T/metrics")
[ -n "$objs" ] && [ -n "$loads" ] && [ "$loads" -ge 1 ] && [ "$loads" -le "$objs" ] ||
	fail "$loads loads of debug information for $objs objects"
if [ "$SANITIZED" = 1 ]; then
	echo "sanitizer build: RSS figures not checked"
	exit 0
fi
set -- $COUNTS
[ $# -ge 2 ] || exit 0
eval "r1=\$rss_$1; r2=\$rss_$2; rl=\$rss_$prev"
per=$(((rl - r1) / (prev - $1)))
echo "per process after the first $1: $per kB (bound $PER_PROC_KB kB)"
[ "$per" -lt "$PER_PROC_KB" ] || fail "each profiled process costs gomemd $per kB"
[ "$rl" -lt $((3 * r2)) ] || fail "RSS at $prev processes ($rl kB) not under 3x RSS at $2 ($r2 kB)"
echo "ok: RSS at $prev processes $rl kB, at $2: $r2 kB"
exit 0
