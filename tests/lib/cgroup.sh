#!/bin/sh
# cgroup.sh: the soft memory limit follows the memory cgroup, on cgroup v1
# (memory.limit_in_bytes) and v2 (memory.max) where each can be used, and a
# workload that only fits its cgroup by releasing memory survives under
# libgomem while glibc's malloc is OOM-killed.  Test cgroups are made below
# this process's own memory cgroup and removed at the end.  Needs root.
set -u
so=${GOMEM_SO:?GOMEM_SO not set}
me=cgroup.sh
[ "$(id -u)" = 0 ] || { echo "SKIP: $me needs root"; exit 77; }
MiB=1048576
fail=0 tested=0
made=""

cleanup() {
	for d in $made; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$d" 2>/dev/null && break
			sleep 0.2
		done
	done
}
trap cleanup EXIT INT TERM

# The directory of this process's cgroup in hierarchy v ("1" or "2"), or
# nothing: the memory line of /proc/self/cgroup joined to its mount.
own_cgroup() {
	awk -v v="$1" '
	FILENAME == "/proc/self/cgroup" {
		split($0, f, ":")
		if (v == 1 && f[2] ~ /(^|,)memory(,|$)/) path = f[3]
		if (v == 2 && f[1] == "0" && f[2] == "") path = f[3]
		next
	}
	path != "" {
		for (i = 7; i <= NF && $i != "-"; i++) ;
		fs = $(i + 1); opts = $(i + 3)
		if (v == 1 && (fs != "cgroup" || opts !~ /(^|,)memory(,|$)/)) next
		if (v == 2 && fs != "cgroup2") next
		root = $4
		if (root == "/") root = ""
		if (substr(path, 1, length(root)) != root) next
		rest = substr(path, length(root) + 1)
		if (rest == "/") rest = ""
		print $5 rest
		exit
	}' /proc/self/cgroup /proc/self/mountinfo
}

# Run a command inside cgroup directory $1.
run_in() {
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$@"
}

# The whole check on one hierarchy: $1 version, $2 base dir, $3 limit file,
# $4 "no limit" value, $5 expected MemoryLimitSource.
check_hierarchy() {
	v=$1 base=$2 file=$3 nolimit=$4 src=$5
	outer="$base/gomem-test.$$"
	inner="$outer/inner"
	mkdir "$outer" && made="$inner $outer $made" && mkdir "$inner" || {
		echo "cannot make test cgroups under $base"
		fail=1
		return
	}
	[ "$v" = 2 ] && echo +memory > "$outer/cgroup.subtree_control"
	# The limit is set on the parent: the process, in the child, follows it.
	echo $((256 * MiB)) > "$outer/$file" || { fail=1; return; }
	echo "== cgroup v$v: limit on $outer, process in inner/"
	run_in "$inner" ./cglimit follow "$outer/$file" $((256 * MiB)) $((192 * MiB)) "$nolimit" "$src" ||
		fail=1
	echo $((256 * MiB)) > "$outer/$file"
	GOMEMLIMIT=100MiB run_in "$inner" ./cglimit env $((256 * MiB)) $((100 * MiB)) || fail=1
	GOMEMLIMIT=off run_in "$inner" ./cglimit env $((256 * MiB)) 0 || fail=1

	# The workload that needs released memory to fit.
	run_in "$inner" ./cgchurn > cgchurn.glibc.out 2>&1
	rc_glibc=$?
	LD_PRELOAD=$so run_in "$inner" ./cgchurn > cgchurn.gomem.out 2>&1
	rc_gomem=$?
	echo "cgchurn in 256 MiB: glibc malloc exit $rc_glibc, libgomem exit $rc_gomem"
	# 137 = killed by SIGKILL, the OOM killer's signal.
	[ "$rc_glibc" = 137 ] || {
		echo "FAIL: under glibc's malloc the workload was expected to be OOM-killed (shows it needs released memory)"
		fail=1
	}
	[ "$rc_gomem" = 0 ] || {
		echo "FAIL: under libgomem the workload did not survive the cgroup"
		cat cgchurn.gomem.out
		fail=1
	}
	tested=$((tested + 1))
}

d1=$(own_cgroup 1)
if [ -n "$d1" ] && [ -w "$d1" ] && [ -e "$d1/memory.limit_in_bytes" ]; then
	check_hierarchy 1 "$d1" memory.limit_in_bytes -1 3
else
	echo "no writable cgroup v1 memory hierarchy: v1 not tested"
fi
d2=$(own_cgroup 2)
if [ -n "$d2" ] && [ -w "$d2" ] && grep -qw memory "$d2/cgroup.controllers" 2>/dev/null &&
	{ grep -qw memory "$d2/cgroup.subtree_control" || echo +memory > "$d2/cgroup.subtree_control"; } 2>/dev/null; then
	check_hierarchy 2 "$d2" memory.max max 4
else
	echo "no cgroup v2 hierarchy with the memory controller available to us: v2 not tested"
fi
rm -f cgchurn.glibc.out cgchurn.gomem.out
[ "$tested" -gt 0 ] || { echo "SKIP: no memory cgroup to test in"; exit 77; }
[ "$fail" = 0 ] && echo "PASS: $me ($tested hierarchies)"
exit "$fail"
