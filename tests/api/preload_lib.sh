# preload_lib.sh: sourced by the preload_*.sh tests.
#
# run_plain / run_gomem run a command without and with libgomem preloaded,
# capturing stdout, stderr and the exit status.  The preloaded run also logs
# the dynamic linker's symbol bindings (LD_DEBUG=bindings, to a file, so the
# program's own output is untouched); assert_gomem_bound proves from that log
# that the program's malloc/free/calloc/realloc calls went to libgomem and
# that none went to glibc, so a test cannot pass with gomem silently absent.

set -u

me=$(basename "$0" .sh)

fail() {
	echo "FAIL: $me: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $me: $*" >&2
	exit 77
}

: "${GOMEM_SO:?GOMEM_SO is not set; run this test through make check}"
[ -f "$GOMEM_SO" ] || fail "$GOMEM_SO does not exist (was lib/ built as a shared library?)"
: "${srcdir:=$(dirname "$0")}"

work="$PWD/preload-work/$me"
rm -rf "$work"
mkdir -p "$work"

# run_plain NAME cmd...: results in $work/NAME.{out,err,rc}
run_plain() {
	_n=$1
	shift
	_rc=0
	env -u LD_PRELOAD "$@" >"$work/$_n.out" 2>"$work/$_n.err" || _rc=$?
	echo "$_rc" >"$work/$_n.rc"
}

# run_gomem NAME cmd...: the same with libgomem preloaded; bindings in $work/ld-NAME.*
run_gomem() {
	_n=$1
	shift
	_rc=0
	env LD_PRELOAD="$GOMEM_SO" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$work/ld-$_n" "$@" \
		>"$work/$_n.out" 2>"$work/$_n.err" || _rc=$?
	echo "$_rc" >"$work/$_n.rc"
}

# assert_same A B: identical stdout, stderr and exit status of runs A and B.
assert_same() {
	for _f in out err rc; do
		if ! cmp -s "$work/$1.$_f" "$work/$2.$_f"; then
			echo "--- diff of $_f ($1 vs $2), first lines:" >&2
			diff -u "$work/$1.$_f" "$work/$2.$_f" | head -30 >&2
			fail "$_f differs with libgomem preloaded"
		fi
	done
}

# assert_ok NAME: the run exited 0.
assert_ok() {
	_rc=$(cat "$work/$1.rc")
	if [ "$_rc" != 0 ]; then
		head -20 "$work/$1.err" >&2
		fail "run $1 exited with status $_rc"
	fi
}

# assert_gomem_bound NAME WHO: in preloaded run NAME, the object WHO (a
# pattern matched against the path of the binding object) bound malloc to
# libgomem, and no object in any process of the run bound an allocation
# function to glibc.
assert_gomem_bound() {
	_n=$1
	_who=$2
	set -- "$work"/ld-"$_n".*
	[ -f "$1" ] || fail "no LD_DEBUG output for run $_n (dynamic linker log missing)"
	if grep -hE "to [^ ]*/libc\.so\.6 \[[0-9]+\]: normal symbol \`(malloc|free|calloc|realloc|posix_memalign|aligned_alloc|memalign)'" "$@" >"$work/$_n.libcbound"; then
		head -5 "$work/$_n.libcbound" >&2
		fail "run $_n: allocation calls bound to glibc despite LD_PRELOAD"
	fi
	grep -qE "binding file [^ ]*$_who[^ ]* \[[0-9]+\] to [^ ]*libgomem\.so[^ ]* \[[0-9]+\]: normal symbol \`malloc'" "$@" ||
		fail "run $_n: no evidence that $_who called libgomem's malloc"
	grep -qE "binding file [^ ]*$_who[^ ]* \[[0-9]+\] to [^ ]*libgomem\.so[^ ]* \[[0-9]+\]: normal symbol \`free'" "$@" ||
		fail "run $_n: no evidence that $_who called libgomem's free"
}
