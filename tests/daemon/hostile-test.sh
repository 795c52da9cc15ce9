#!/bin/sh
# gomemd against a hostile local user (make check; root, SKIP 77 otherwise).
: "${top_builddir:=../..}"
: "${srcdir:=.}"
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
GOMEMD=$(abs "$top_builddir/daemon/gomemd")
LIBGOMEM=$(abs "$top_builddir/lib/.libs/libgomem.so.0")
WORKLOAD=$(abs ./workload)
export GOMEMD LIBGOMEM WORKLOAD
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
exec python3 "$srcdir/test_hostile.py"
