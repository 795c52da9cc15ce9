#!/bin/sh
# A program that defines malloc itself (Chromium does, and exports it) gets
# no scavenger thread from a preloaded libgomem: its allocations never reach
# the library, and a thread would break a program that checks that it runs
# alone (Chromium's zygote does before it forks).  The same program without
# its own malloc gets the thread at load (built as a PIE or not: without
# -pie, the address the process binds "malloc" to is the executable's PLT
# slot, which leads to libgomem), and the bystander gets it once
# something does allocate much through libgomem (__libc_malloc, which the
# library exports too), or allocates through it 1 s after load.
# bystander.c prints the thread counts.
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

build() {
	${CC:-cc} -O1 -g -w -fno-builtin "$@" || fail "cannot build bystander.c"
}
build -o "$work/plain" "$srcdir/bystander.c"
build -DOWN_MALLOC -o "$work/own" "$srcdir/bystander.c"
# Without -pie malloc's canonical address is the executable's PLT slot.
build -fno-pie -no-pie -o "$work/nopie" "$srcdir/bystander.c"

# threads RUN NAME PROGRAM AT_START AFTER_BIG: RUN (run_plain or run_gomem)
# PROGRAM big; it must print AT_START and AFTER_BIG threads.
threads() {
	$1 "$2" "$3" big
	assert_ok "$2"
	printf 'threads=%s\nbig threads=%s\n' "$4" "$5" | cmp -s - "$work/$2.out" || {
		echo "--- $2: expected $4 and $5 threads, got:" >&2
		cat "$work/$2.out" "$work/$2.err" >&2
		fail "$2: thread counts differ"
	}
}

threads run_plain plain-alone "$work/plain" 1 1
# The control: libgomem is this program's malloc, and its thread is there
# when main starts.
threads run_gomem plain-gomem "$work/plain" 2 2
threads run_gomem nopie-gomem "$work/nopie" 2 2
# The bystander: one thread until 96 MiB go through libgomem.
threads run_gomem own-gomem "$work/own" 1 2
# Allocations that reach libgomem 1 s after load start it (a tracing
# wrapper's malloc that forwards to libgomem).
run_gomem own-late "$work/own" late
assert_ok own-late
printf 'threads=1\nlate threads=2\n' | cmp -s - "$work/own-late.out" ||
	fail "own-late: $(tr '\n' ' ' <"$work/own-late.out")(want 1, then 2 threads)"
grep -qsE "to [^ ]*libgomem\.so[^ ]* \[[0-9]+\]: normal symbol .__libc_malloc" "$work"/ld-own-gomem.* ||
	fail "__libc_malloc did not bind to libgomem"
# Its malloc stayed its own.
grep -qsE "to [^ ]*libgomem\.so[^ ]* \[[0-9]+\]: normal symbol .malloc'" "$work"/ld-own-gomem.* &&
	fail "malloc bound to libgomem in the program that defines it"
echo "PASS: $me"
