#!/bin/sh
# sqlite3 on a generated workload gives the same output with libgomem
# preloaded as without it.
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

command -v sqlite3 >/dev/null 2>&1 || skip "sqlite3 not installed"
sql="$srcdir/sqlite_workload.sql"

run_plain plain sqlite3 -batch :memory: ".read $sql"
assert_ok plain
run_gomem gomem sqlite3 -batch :memory: ".read $sql"
assert_ok gomem
assert_same plain gomem
assert_gomem_bound gomem 'sqlite3'

[ "$(wc -l <"$work/gomem.out")" -gt 20 ] || fail "workload produced too little output"
tail -3 "$work/gomem.out"
echo "PASS: $me"
