#!/bin/sh
# gcc compiles the same source to the same object with libgomem preloaded
# (cc1, as and ld all run on gomem), and the program it builds prints the
# same output.
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

command -v gcc >/dev/null 2>&1 || skip "gcc not installed"
src="$work/gcc_input.c"
# Same absolute source path in both compiles, so debug info is identical.
cp "$srcdir/gcc_input.c" "$src"

cd "$work" || fail "cd $work"
run_plain cc-plain gcc -O2 -g -Wall -c -o plain.o "$src"
assert_ok cc-plain
run_gomem cc-gomem gcc -O2 -g -Wall -c -o gomem.o "$src"
assert_ok cc-gomem
assert_same cc-plain cc-gomem
cmp plain.o gomem.o || fail "objects differ when compiled under libgomem"
assert_gomem_bound cc-gomem '/cc1'

run_plain ld-plain gcc -o prog-plain plain.o
assert_ok ld-plain
run_gomem ld-gomem gcc -o prog-gomem gomem.o
assert_ok ld-gomem
assert_same ld-plain ld-gomem
cmp prog-plain prog-gomem || fail "linked programs differ when linked under libgomem"
assert_gomem_bound ld-gomem '/ld'

run_plain run-plain ./prog-plain
assert_ok run-plain
run_gomem run-gomem ./prog-plain
assert_ok run-gomem
assert_same run-plain run-gomem
[ -s run-plain.out ] || fail "test program printed nothing"
echo "PASS: $me"
