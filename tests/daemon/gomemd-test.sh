#!/bin/sh
# Integration test of gomemd (make check): real BPF, real libgomem.
# Skips (77) with a reason when not root or when BPF is unavailable.
: "${top_builddir:=../..}"
: "${srcdir:=.}"
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
GOMEMD=$(abs "$top_builddir/daemon/gomemd")
GOMEM_CLI=$(abs "$top_builddir/cli/gomem")
LIBGOMEM=$(abs "$top_builddir/lib/.libs/libgomem.so.0")
FIXTURE=$(abs .libs/libgomem-fixture.so)
WORKLOAD=$(abs ./workload)
EXEWL=$(abs ./exewl)
HAVE_LIBSYSTEMD=0
grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h" 2>/dev/null && HAVE_LIBSYSTEMD=1
export GOMEMD GOMEM_CLI LIBGOMEM FIXTURE WORKLOAD EXEWL HAVE_LIBSYSTEMD
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
exec python3 "$srcdir/test_gomemd.py"
