#!/bin/sh
# glibc's own malloc tests (malloc/tst-*.c of the installed glibc's source,
# Debian's glibc-source package) against libgomem: each is built with a
# small stand-in for glibc's test support library (glibc-shim/), run once
# without the library (the harness itself must pass) and once with it
# preloaded.  tst-mallocfork and tst-mallocfork2 fork from a signal handler
# that may land inside malloc, free or fork: glibc's fork is async-signal-
# safe only in a process that never had a second thread (otherwise it holds
# its atfork lock from the prepare handlers to the parent's; tst-mallocfork2
# says so itself), so they run with GOMEMDEBUG=scavthread=0, which keeps the
# scavenger thread from starting.  With it, the run shows that libgomem's
# fork handlers take no lock then, as glibc's take none of its own.  (With
# threads, the part that is ours, a handler that interrupted malloc, is
# check_fork's test_fork_in_signal_handler.)  tst-tcfree2 wants a double
# free found at the second free: it runs with GOMEMDEBUG=safelink=1, which
# checks that; the default lists find it when an allocation meets the block
# (check_api), so that free never reads the block.  Left out, with the reason:
#   tst-malloc-usable run by glibc under MALLOC_CHECK_=3, whose usable size
#                     is exactly the request (7; every allocator gives 8)
#   tst-malloc-backtrace, tst-safe-linking, tst-mtrace, tst-interpose-*,
#   tst-dynarray*, tst-*buffer, tst-mallocstate, tst-compathooks-*:
#                     glibc's chunk layout, hooks or internal interfaces
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

tests="tst-calloc tst-free-errno tst-mallinfo2 tst-malloc tst-malloc-check
tst-malloc-fork-deadlock tst-malloc-stats-cancellation tst-malloc-tcache-leak
tst-malloc-thread-exit tst-malloc-thread-fail tst-malloc-too-large tst-malloc_info
tst-mallocalign1 tst-mallocfork3 tst-mallopt tst-memalign tst-mxfast
tst-obstack tst-posix_memalign tst-pvalloc tst-realloc tst-reallocarray tst-tcfree1
tst-tcfree3 tst-trim1 tst-valloc tst-mallocfork tst-mallocfork2 tst-tcfree2"
# Run with the library's background thread off (see above).
lone_tests="tst-mallocfork tst-mallocfork2"
# Run with the checked lists, and must name the block (see above).
safe_tests="tst-tcfree2"

ver=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc //p')
[ -n "$ver" ] || skip "not a glibc system"
tarball=/usr/src/glibc/glibc-$ver.tar.xz
[ -f "$tarball" ] || skip "$tarball missing (Debian's glibc-source package)"
command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) missing"

tar -xJf "$tarball" -C "$work" "glibc-$ver/malloc" || fail "cannot unpack $tarball"
src=$work/glibc-$ver/malloc
cp "$srcdir/glibc-shim/test-skeleton.c" "$work/glibc-$ver/" || fail "no glibc-shim"
mkdir -p "$work/tmp"
TMPDIR=$work/tmp
export TMPDIR

passed=0
for t in $tests; do
	[ -f "$src/$t.c" ] || fail "$t.c is not in glibc $ver's sources"
	# -fno-builtin: GCC would fold malloc/free pairs the tests make on purpose.
	${CC:-cc} -O1 -w -fno-builtin -D_GNU_SOURCE -I"$srcdir/glibc-shim" -o "$work/$t" \
		"$src/$t.c" -lpthread 2>"$work/$t.build" || { cat "$work/$t.build" >&2; fail "$t does not build"; }
	run_plain "$t-plain" timeout 300 "$work/$t"
	[ "$(cat "$work/$t-plain.rc")" = 0 ] || { cat "$work/$t-plain.out" >&2; fail "$t fails without libgomem: the harness is wrong"; }
	debug=
	case " $lone_tests " in *" $t "*) debug=scavthread=0 ;; esac
	case " $safe_tests " in *" $t "*) debug=safelink=1 ;; esac
	_rc=0
	env GOMEMDEBUG="$debug" LD_PRELOAD="$GOMEM_SO" timeout 300 "$work/$t" >"$work/$t.out" \
		2>"$work/$t.err" || _rc=$?
	if [ "$_rc" != 0 ]; then
		tail -n 20 "$work/$t.out" "$work/$t.err" >&2
		fail "$t fails with libgomem preloaded (status $_rc)"
	fi
	case " $safe_tests " in *" $t "*)
		grep -q '^gomem: double free of 0x' "$work/$t.err" ||
			{ cat "$work/$t.err" >&2; fail "$t: no message naming the block"; } ;;
	esac
	echo "ok: $t"
	passed=$((passed + 1))
done

# The preloaded runs did use libgomem: one of them again, with the bindings.
run_gomem bound "$work/tst-malloc"
assert_ok bound
assert_gomem_bound bound 'tst-malloc'

echo "PASS: $me ($passed of glibc $ver's malloc tests)"
