#!/bin/sh
# probe_args.sh: every gomem USDT probe in the built library has a semaphore
# and arguments of the forms libbpf's USDT parser reads ("8@%reg",
# "8@$imm", "8@off(%reg)").  A RIP-relative operand ("8@32+sym(%rip)"),
# which the compiler may pick for a global, makes the whole probe impossible
# to attach with libbpf 1.1, and gomemd then silently gets no samples.
set -u
so=${GOMEM_SO:?GOMEM_SO not set}
command -v readelf >/dev/null 2>&1 || { echo "SKIP: readelf missing"; exit 77; }
notes=$(readelf -n "$so") || { echo "FAIL: readelf -n $so"; exit 1; }
echo "$notes" | grep -q 'Provider: gomem' || { echo "SKIP: $so built without <sys/sdt.h>"; exit 77; }
echo "$notes" | awk '
/Provider:/ { prov = $2 }
/Name:/ { name = $2 }
/Semaphore:/ { if (prov == "gomem" && $NF ~ /^0x0+$/) { print "FAIL: " name " has no semaphore"; bad = 1 } }
/Arguments:/ {
	if (prov != "gomem") next
	n++
	for (i = 2; i <= NF; i++)
		if ($i !~ /^-?[0-9]+@(%[a-z0-9]+|\$-?[0-9]+|-?[0-9]+\(%[a-z0-9]+\))$/) {
			print "FAIL: " name ": argument " $i " is not a form libbpf parses"
			bad = 1
		}
}
END { if (n == 0) { print "FAIL: no gomem probe arguments"; exit 1 } print n " probes checked"; exit bad }'
