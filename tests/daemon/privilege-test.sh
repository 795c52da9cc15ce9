#!/bin/sh
# gomemd with exactly the capabilities of its unit file (make check; root).
: "${top_builddir:=../..}"
: "${srcdir:=.}"
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
GOMEMD=$(abs "$top_builddir/daemon/gomemd")
LIBGOMEM=$(abs "$top_builddir/lib/.libs/libgomem.so.0")
FIXTURE=$(abs .libs/libgomem-fixture.so)
WORKLOAD=$(abs ./workload)
UNIT=$(abs "$top_builddir/daemon/gomemd.service")
export GOMEMD LIBGOMEM FIXTURE WORKLOAD UNIT
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
exec python3 "$srcdir/test_privilege.py"
