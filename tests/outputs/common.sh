# common.sh: shared setup of the output tests (sourced).
#
# Environment (set by Makefile.am's AM_TESTS_ENVIRONMENT, or by hand):
#   top_srcdir, top_builddir   the trees
#   GOMEMD                     the daemon binary (default $top_builddir/daemon/gomemd)
#   LIBGOMEM                   the library to preload and attach to
#                              (default $top_builddir/lib/.libs/libgomem.so)
#   OUT_DIR                    where artifacts go (default .)
# Everything started here listens on 127.0.0.1 on a free port, has a
# bounded lifetime, and is stopped by pid when the test ends.

set -u
: "${top_srcdir:=../..}"
: "${top_builddir:=../..}"
: "${GOMEMD:=$top_builddir/daemon/gomemd}"
: "${LIBGOMEM:=$top_builddir/lib/.libs/libgomem.so}"
: "${OUT_DIR:=.}"
WORKLOAD="${WORKLOAD:-$top_builddir/tests/outputs/workload}"

PIDS=""
TMPD=$(mktemp -d /tmp/gomem-out-XXXXXX)

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMPD"
}
trap cleanup EXIT

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*"
	if [ -s "$TMPD/gomemd.log" ]; then
		echo "--- gomemd log (tail) ---"
		tail -n 30 "$TMPD/gomemd.log"
	fi
	exit 1
}

# Install Debian packages the test needs; refresh the lists once if the
# first try fails (a fresh machine may never have run apt-get update).
apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >"$TMPD/apt.log" 2>&1 && return 0
	apt-get update >>"$TMPD/apt.log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >>"$TMPD/apt.log" 2>&1
}

# Real prerequisites: root, BPF, the daemon and the library.
need_daemon() {
	[ "$(id -u)" = 0 ] || skip "needs root for BPF (uid $(id -u))"
	[ -r /sys/kernel/btf/vmlinux ] || skip "kernel has no BTF (/sys/kernel/btf/vmlinux)"
	[ -x "$GOMEMD" ] || fail "gomemd not built: $GOMEMD"
	[ -f "$LIBGOMEM" ] || fail "libgomem not built: $LIBGOMEM"
	[ -x "$WORKLOAD" ] || fail "workload not built: $WORKLOAD"
	LIBGOMEM=$(readlink -f "$LIBGOMEM")
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Start gomemd on a free port; sets PORT and BASE.  Lifetime bounded.
start_gomemd() {
	PORT=$(free_port)
	BASE="http://127.0.0.1:$PORT"
	# A web config with the test user (bcrypt's test vector, "U*U"): heap
	# profiles need it over TCP.  Private routes: curl -u "$AUTH".
	printf 'basic_auth_users:\n  alice: %s\n' \
		'$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' >"$TMPD/web.yml"
	AUTH='alice:U*U'
	GOMEMD_WEB_DIR="${WEB_DIR:-$top_srcdir/web}" timeout 600 "$GOMEMD" --foreground \
		--listen "127.0.0.1:$PORT" --library "$LIBGOMEM" --state-dir "$TMPD/state" --socket "" \
		--web-config "$TMPD/web.yml" "$@" \
		>"$TMPD/gomemd.log" 2>&1 &
	TIMEOUT_PID=$!
	PIDS="$PIDS $TIMEOUT_PID"
	# gomemd itself is timeout's child (timeout passes our TERM on).
	GOMEMD_PID=
	for _ in $(seq 1 50); do
		GOMEMD_PID=$(pgrep -P "$TIMEOUT_PID" 2>/dev/null | head -n1)
		[ -n "$GOMEMD_PID" ] && break
		sleep 0.05
	done
	[ -n "$GOMEMD_PID" ] || fail "gomemd did not start"
	for _ in $(seq 1 100); do
		if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$GOMEMD_PID" 2>/dev/null || fail "gomemd exited at start"
		sleep 0.1
	done
	fail "gomemd did not answer /healthz"
}

# Start a workload (grow|idle) with libgomem preloaded; sets WL_PID.  It
# ends by itself after ${2:-300} seconds.
start_workload() {
	LD_PRELOAD="$LIBGOMEM" "$WORKLOAD" "$1" "${2:-300}" &
	WL_PID=$!
	PIDS="$PIDS $WL_PID"
}

# Wait until gomemd has a snapshot of pid $1.
wait_snapshot() {
	for _ in $(seq 1 100); do
		if curl -fsS "$BASE/memstats?pid=$1" 2>/dev/null | grep -q '"HeapAlloc"'; then
			return 0
		fi
		sleep 0.1
	done
	fail "no snapshot of pid $1 after 10 s"
}

# Start profwork (profwork.c: leak_big_blocks keeps 8 MiB, churn_small
# allocates about 4.8 MB and frees it) with GOMEM_PROFILE_RATE=4096 and wait
# until it has allocated everything; sets PW.
start_profwork() {
	GOMEM_PROFILE_RATE=4096 LD_PRELOAD="$LIBGOMEM" "$PROFWORK" 120 >"$TMPD/pw.out" 2>&1 &
	PW=$!
	PIDS="$PIDS $PW"
	for _ in $(seq 1 100); do
		grep -q ready "$TMPD/pw.out" && return 0
		kill -0 "$PW" 2>/dev/null || fail "profwork exited: $(cat "$TMPD/pw.out")"
		sleep 0.1
	done
	fail "profwork not ready after 10 s"
}
