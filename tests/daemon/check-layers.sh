#!/bin/sh
# check-layers.sh: every file of daemon/LAYER includes only headers of its
# own layer and of the layers below it (base < encode < core < watch < http
# < routes < main.c), so the dependency graph of gomemd has no cycle.
: "${srcdir:=.}"
daemon=$srcdir/../../daemon
[ -d "$daemon/base" ] || { echo "SKIP: no daemon sources at $daemon"; exit 77; }
order="base encode core watch http routes"
rank() {
	i=0
	for l in $order; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo 99
}
bad=0 n=0
for layer in $order; do
	lr=$(rank "$layer")
	for f in "$daemon/$layer"/*.[ch]; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		for inc in $(sed -n 's|^#include "\([a-z]*\)/[^"]*".*|\1|p' "$f" | sort -u); do
			ir=$(rank "$inc")
			if [ "$ir" -gt "$lr" ]; then
				echo "FAIL: ${f#"$daemon"/} includes $inc/, a layer above $layer/"
				bad=1
			fi
		done
	done
done
[ "$n" -gt 0 ] || { echo "FAIL: no files found under $daemon"; exit 1; }
[ "$bad" -eq 0 ] && echo "ok: $n files include only their own layer and those below"
exit $bad
