#!/bin/sh
# How watched processes end (test_exit.py): exit codes, signals, core dumps,
# a real OOM kill in a memory cgroup, exec, and the state directory after
# the grace period and a restart.  Root and BPF; SKIP 77 otherwise.
: "${top_builddir:=../..}"
: "${srcdir:=.}"
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
GOMEMD=$(abs "$top_builddir/daemon/gomemd")
GOMEM_CLI=$(abs "$top_builddir/cli/gomem")
LIBGOMEM=$(abs "$top_builddir/lib/.libs/libgomem.so.0")
ENDINGS=$(abs ./endings)
export GOMEMD GOMEM_CLI LIBGOMEM ENDINGS
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
exec python3 "$srcdir/test_exit.py"
