#!/bin/sh
# Our threaded stress program (cross-thread frees, forks, short-lived threads)
# gives the same output with libgomem preloaded as without it.
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

prog="$PWD/stress"
[ -x "$prog" ] || fail "$prog not built"

run_plain plain "$prog"
assert_ok plain
run_gomem gomem "$prog"
assert_ok gomem
assert_same plain gomem
assert_gomem_bound gomem stress

# And from inside: malloc resolves to libgomem in the preloaded process.
owner=$(LD_PRELOAD="$GOMEM_SO" "$prog" --whoami) || fail "--whoami failed"
case "$owner" in
*libgomem.so*) ;;
*) fail "malloc in the preloaded process is defined by $owner, not libgomem" ;;
esac
cat "$work/gomem.out"
echo "PASS: $me (malloc from $owner)"
