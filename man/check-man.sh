#!/bin/sh
# check-man.sh (make check): every page passes `mandoc -Tlint` at warning
# level, and gomemd(8) documents every long option and every configuration
# key that daemon/core/conf.c accepts.
: "${srcdir:=.}"
: "${top_srcdir:=..}"
fail=0
if command -v mandoc >/dev/null 2>&1; then
	for page in "$srcdir"/*.[1-9]; do
		out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
		if [ -n "$out" ]; then
			echo "FAIL mandoc -Tlint $page:"
			echo "$out"
			fail=1
		else
			echo "ok   mandoc -Tlint $(basename "$page")"
		fi
	done
else
	echo "note: mandoc not found; lint not run"
fi
cfg=$top_srcdir/daemon/core/conf.c
page=$srcdir/gomemd.8
# long options: {"name", ..., NULL, ...} in long_opts[]
opts=$(sed -n '/long_opts\[\] = {/,/^};/s/^[[:space:]]*{"\([a-z-]*\)".*/\1/p' "$cfg")
# config keys: strcmp(key, "name") in config_set()
keys=$(sed -n 's/.*strcmp(key, "\([a-z_-]*\)").*/\1/p' "$cfg" | grep -v _ | sort -u)
[ -n "$opts" ] && [ -n "$keys" ] || { echo "FAIL could not read options from $cfg"; exit 1; }
for o in $opts; do
	if grep -q "Fl Fl $o\b" "$page"; then
		echo "ok   option --$o documented"
	else
		echo "FAIL option --$o missing from gomemd.8"
		fail=1
	fi
done
for k in $keys; do
	[ "$k" = config ] && continue
	if sed -n '/^\.Sh CONFIGURATION FILE/,/^\.Sh /p' "$page" | grep -q "^\.It Cm $k\$"; then
		echo "ok   config key $k documented"
	else
		echo "FAIL config key $k missing from gomemd.8 CONFIGURATION FILE"
		fail=1
	fi
done
exit $fail
