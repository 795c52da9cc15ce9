#!/bin/sh
# startup.sh: what libgomem costs a process that starts and ends at once.
# The memory cgroup (cgroup.c) is looked for 20 ms after the scavenger
# thread starts, not at start: reading /proc/self/cgroup, mountinfo and the
# limit files took 0.15-0.2 ms of every process, most of which a shell runs
# for less than that.  Checked with strace's timestamps, which do not depend
# on how fast this machine is today:
#  - no process opens /proc/self/cgroup less than 20 ms after its scavenger
#    thread was made (clone3 or clone);
#  - a process that lives 300 ms does open it (the limit is followed).
# The library is a private copy: with a tracer attached (say a gomemd of
# another test, whose uprobes live on the build's file) the thread publishes
# MemStats at once, and reading them looks for the cgroup, as it must.
set -u
so=${GOMEM_SO:?GOMEM_SO not set}
me=startup.sh
fail=0
command -v strace >/dev/null 2>&1 || { echo "SKIP: $me needs strace"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
cp "$so" "$dir/libgomem.so" || exit 1
so=$dir/libgomem.so
log=$dir/strace.log

# The seconds from the scavenger's clone to the first open of
# /proc/self/cgroup in strace log $1 ("none" if it was not opened, "noclone"
# if no thread was made).
gap() {
	awk '
	/clone3?\(/ && !c { c = $2 }
	/openat\(.*"\/proc\/self\/cgroup"/ && !o { o = $2 }
	END {
		if (c == "") { print "noclone"; exit }
		if (o == "") { print "none"; exit }
		printf "%.6f\n", o - c
	}' "$1"
}

# A short process, many times: never before 20 ms.
for i in 1 2 3 4 5 6 7 8 9 10; do
	LD_PRELOAD="$so" strace -f -ttt -e trace=clone,clone3,openat -o "$log" /bin/true || {
		echo "FAIL: $me: strace /bin/true failed"
		exit 1
	}
	g=$(gap "$log")
	case "$g" in
	none) ;;
	noclone) echo "FAIL: $me: no scavenger thread was made"; fail=1; break ;;
	*) if awk -v g="$g" 'BEGIN { exit !(g < 0.020) }'; then
		echo "FAIL: $me: /proc/self/cgroup opened $g s after the scavenger started (want >= 0.020)"
		fail=1
	   fi ;;
	esac
done

# A process that lives long enough does look.
LD_PRELOAD="$so" strace -f -ttt -e trace=clone,clone3,openat -o "$log" sleep 0.3
g=$(gap "$log")
case "$g" in
none | noclone) echo "FAIL: $me: sleep 0.3 never looked for its cgroup ($g)"; cat "$log"; fail=1 ;;
*) awk -v g="$g" 'BEGIN { exit !(g >= 0.020) }' || {
	echo "FAIL: $me: sleep 0.3 opened /proc/self/cgroup $g s after the scavenger started"
	fail=1
   }
   echo "$me: a 300 ms process looked for its cgroup $g s after its scavenger started" ;;
esac
[ "$fail" = 0 ] && echo "PASS: $me"
exit "$fail"
