#!/bin/sh
# deps.sh: install what gomem needs on Debian 12 (as root), only what is missing.
#   deps.sh build   the build and the daemon
#   deps.sh test    + everything the tests drive for real (Prometheus, Go,
#                   Chromium, Node for playwright-core, Python, SQLite, Redis,
#                   peers, glibc's sources for its malloc tests)
set -eu
want="build-essential autoconf automake libtool pkg-config check
clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev systemtap-sdt-dev
libmicrohttpd-dev libcjson-dev libsystemd-dev libyaml-dev libcrypt-dev curl g++ libdw-dev
protobuf-c-compiler libprotobuf-c-dev"
if [ "${1:-build}" = test ]; then
	want="$want python3 sqlite3 redis-tools prometheus golang-go chromium nodejs npm wrk
libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 valgrind procps iproute2 libcap2-bin
libc6-dbg mandoc util-linux systemd strace glibc-source xz-utils"
fi
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# A newer node/npm than Debian's may already be on PATH; do not fight it.
case "$missing" in *nodejs*) command -v node >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//') ;; esac
case "$missing" in *" npm"*) command -v npm >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ npm//') ;; esac
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "deps: need root to install packages (apt-get)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
