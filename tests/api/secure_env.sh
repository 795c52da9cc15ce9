#!/bin/sh
# secure_env.sh: a setuid program linked with libgomem reads none of the
# GOMEM* variables (AT_SECURE), as glibc ignores MALLOC_* there; the same
# program without the bit follows them.  Run by nobody, with GOMEMLIMIT=1MiB
# from nobody's environment: the limit must hold without the bit and be
# ignored with it.
set -u
me=secure_env
[ "$(id -u)" = 0 ] || { echo "SKIP: $me: needs root (a setuid-root copy run as nobody)"; exit 77; }
command -v setpriv >/dev/null 2>&1 || { echo "SKIP: $me: no setpriv"; exit 77; }
: "${GOMEM_SO:?GOMEM_SO is not set; run this test through make check}"
: "${CC:=cc}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
cp "$GOMEM_SO" "$tmp/libgomem.so.0" || exit 99
cat > "$tmp/probe.c" <<'EOC'
#include <stdint.h>
#include <stdio.h>
#include <sys/auxv.h>
int64_t gomem_memory_limit(void);
int main(void)
{
	printf("%lld %lu\n", (long long)gomem_memory_limit(), getauxval(AT_SECURE));
	return 0;
}
EOC
$CC -o "$tmp/probe" "$tmp/probe.c" "$tmp/libgomem.so.0" -Wl,-rpath,"$tmp" || exit 99
chmod 755 "$tmp/probe" "$tmp/libgomem.so.0"
run() {
	env GOMEMLIMIT=1MiB GOMEMDEBUG=cgroup=0 \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/probe"
}
plain=$(run) || { echo "FAIL: $me: the probe did not run as nobody"; exit 1; }
chmod 4755 "$tmp/probe"
secure=$(run) || { echo "FAIL: $me: the setuid probe did not run"; exit 1; }
echo "$me: limit and AT_SECURE without the setuid bit: $plain; with it: $secure"
[ "$plain" = "1048576 0" ] || { echo "FAIL: $me: GOMEMLIMIT=1MiB not followed ($plain)"; exit 1; }
case $secure in
*" 0") echo "SKIP: $me: the setuid bit has no effect here (a nosuid mount?)"; exit 77 ;;
"1048576 "*) echo "FAIL: $me: a setuid program followed its caller's GOMEMLIMIT"; exit 1 ;;
esac
echo "PASS: $me"
