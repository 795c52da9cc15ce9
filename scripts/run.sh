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
GOMEMD_WEB_DIR=$top/web "$build/daemon/gomemd" --foreground --profile --listen "$listen" --library "$lib" &
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
echo "  terminal:    $build/cli/gomem stats $demo --server $listen"
echo "Ctrl-C stops both."
wait "$daemon"
