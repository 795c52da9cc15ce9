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

# GOMEMDEBUG=exitstats=1: malloc_stats' text on stderr at exit; the
# program's own output stays the same.
run_gomem exitstats env GOMEMDEBUG=exitstats=1 "$py" "$script"
assert_ok exitstats
cmp -s "$work/plain.out" "$work/exitstats.out" || fail "stdout differs with exitstats=1"
grep -q '^Total (incl. mmap):$' "$work/exitstats.err" ||
	fail "exitstats=1: no malloc_stats text on stderr"
m=$(sed -n 's/^# Mallocs = //p' "$work/exitstats.err")
f=$(sed -n 's/^# Frees = //p' "$work/exitstats.err")
[ "${m:-0}" -ge 100000 ] && [ "${f:-0}" -le "$m" ] && [ "${f:-0}" -ge $((m / 2)) ] ||
	fail "exitstats=1: Mallocs ${m:-none}, Frees ${f:-none} (the script makes far more than 100000, and frees most)"
[ ! -s "$work/gomem.err" ] || fail "stderr is not empty without exitstats=1"

# From inside the preloaded interpreter: gomem's own API answers through ctypes.
v=$(LD_PRELOAD="$GOMEM_SO" "$py" "$script" --gomem-version 2>&1) ||
	fail "preloaded python cannot call gomem_version: $v"
[ -n "$v" ] || fail "empty gomem_version"
tail -3 "$work/gomem.out"
echo "PASS: $me (gomem $v in $py)"
