#!/bin/sh
# Chromium (headless, --dump-dom) with libgomem preloaded prints the same
# DOM as without it.  Chromium's executable defines malloc itself, so the
# processes' own allocations stay Chromium's: this is a test of living
# beside a program, not of the allocator.  Its zygote checks that it has a
# single thread before it forks, which a scavenger thread started at load
# would break; the library sees that the process's malloc is not its own
# and starts none (gomem.3; preload_bystander.sh tests the rule itself).
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "chromium not installed"
page='data:text/html,<title>t</title><ul id=l></ul><script>for(let i=0;i<2000;i++){const e=document.createElement("li");e.textContent="row "+i*i;l.appendChild(e)}</script>'
# As root Chromium runs only without its sandbox; the sandboxed case was
# checked by hand as another user (gomem.3).
browse="timeout 120 $CHROMIUM --headless --no-sandbox --disable-gpu"
run_plain plain $browse --user-data-dir="$work/plain.profile" --dump-dom "$page"
assert_ok plain
run_gomem gomem $browse --user-data-dir="$work/gomem.profile" --dump-dom "$page"
assert_ok gomem
cmp -s "$work/plain.out" "$work/gomem.out" || {
	diff "$work/plain.out" "$work/gomem.out" | head -5 >&2
	fail "the DOM differs with libgomem preloaded"
}
grep -q "<li>row 3996001</li>" "$work/gomem.out" || fail "the page's script did not run"
# The library was loaded: the dynamic linker bound symbols to it.
grep -qsE "to [^ ]*libgomem\.so[^ ]* \[[0-9]+\]: normal symbol" "$work"/ld-gomem.* ||
	fail "no binding to libgomem in the preloaded run"
echo "PASS: $me"
