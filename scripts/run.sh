#!/bin/sh
# run.sh: install what is missing, build, start gomemd (dashboard on
# http://127.0.0.1:6060/) watching gomem-demo running with libgomem
# preloaded.  Ctrl-C stops both.  Needs root for BPF.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GOMEM_BUILD:-$top/_build}
listen=${GOMEMD_LISTEN:-127.0.0.1:6060}
"$top/scripts/deps.sh" build
GOMEM_BUILD=$build "$top/scripts/build.sh"
lib=$build/lib/.libs/libgomem.so.0
# A user for the demo: heap profiles, attach and detach need one over TCP.
auth=$build/demo-auth
mkdir -p "$auth"
chmod 700 "$auth"
pass=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
hash=$(printf '%s\n' "$pass" | "$build/daemon/gomemd" --hash-password)
printf 'basic_auth_users:\n  demo: %s\n' "$hash" >"$auth/web.yml"
GOMEMD_WEB_DIR=$top/web "$build/daemon/gomemd" --foreground --profile --listen "$listen" \
	--library "$lib" --web-config "$auth/web.yml" --socket "$auth/gomemd.sock" &
daemon=$!
trap 'kill $demo $daemon 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
sleep 1
kill -0 "$daemon" 2>/dev/null || { echo "run: gomemd did not start" >&2; exit 1; }
LD_PRELOAD=$lib GOMEM_STATS_INTERVAL_MS=500 "$build/demo/gomem-demo" &
demo=$!
echo
echo "gomemd is watching gomem-demo (pid $demo)."
echo "  dashboard:   http://$listen/"
echo "  memstats:    http://$listen/memstats?pid=$demo"
echo "  prometheus:  http://$listen/metrics"
echo "  terminal:    $build/cli/gomem stats $demo --server $auth/gomemd.sock"
echo "  live view:   $build/cli/gomem top --server $auth/gomemd.sock"
echo "  login:       user demo, password $pass (the browser asks for it for the"
echo "               heap profile; also in curl -u demo:$pass ...)"
echo "  pprof:       go tool pprof http://demo:$pass@$listen/debug/pprof/heap?pid=$demo"
echo "Ctrl-C stops both."
wait "$daemon"
