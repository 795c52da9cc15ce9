#!/bin/sh
# python3 with PYTHONMALLOC=malloc on an allocation-heavy script gives the
# same output with libgomem preloaded as without it.
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
# Resolve wrappers (pyenv shims are shell scripts) to the real interpreter.
py=$(python3 -c 'import sys; print(sys.executable)') || skip "python3 does not run"
[ -x "$py" ] || skip "python3 interpreter $py not found"
script="$srcdir/alloc_heavy.py"

export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
run_plain plain "$py" "$script"
assert_ok plain
run_gomem gomem "$py" "$script"
assert_ok gomem
assert_same plain gomem
assert_gomem_bound gomem 'python3|libpython'

# From inside the preloaded interpreter: gomem's own API answers through ctypes.
v=$(LD_PRELOAD="$GOMEM_SO" "$py" "$script" --gomem-version 2>&1) ||
	fail "preloaded python cannot call gomem_version: $v"
[ -n "$v" ] || fail "empty gomem_version"
tail -3 "$work/gomem.out"
echo "PASS: $me (gomem $v in $py)"
