#!/bin/sh
# build.sh: bootstrap autotools and build out of tree in $GOMEM_BUILD (default _build).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GOMEM_BUILD:-$top/_build}
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$top/configure" --enable-debug
make -j"$(nproc)"
