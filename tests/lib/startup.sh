#!/bin/sh
# startup.sh: what libgomem costs a process that starts and ends at once,
# checked with strace's timestamps (which do not depend on how fast this
# machine is today).
#  - The memory cgroup (cgroup.c) is looked for 20 ms after the scavenger
#    thread starts, not at start: reading /proc/self/cgroup, mountinfo and
#    the limit files took 0.15-0.2 ms of every process.  No process opens it
#    sooner; a process that lives 300 ms does open it.
#  - GOMEMDEBUG=scavdelay=MS: the thread starts at the first allocation slow
#    path MS after load, or once the heap holds 32 MiB, not at load (its
#    creation costs 0.4 ms; Chromium's zygote checks that it runs alone).
#    A short program then makes no thread and reads no /proc file.
# The library is a private copy: with a tracer attached (say a gomemd of
# another test, whose uprobes live on the build's file) the thread starts at
# load and publishes MemStats at once, which looks for the cgroup, as it must.
set -u
so=${GOMEM_SO:?GOMEM_SO not set}
me=startup.sh
fail=0
command -v strace >/dev/null 2>&1 || { echo "SKIP: $me needs strace"; exit 77; }
# Debian's own: a wrapper script (pyenv's) would add processes and time.
py3=/usr/bin/python3
[ -x "$py3" ] || py3=$(command -v python3) || { echo "SKIP: $me needs python3"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
cp "$so" "$dir/libgomem.so" || exit 1
so=$dir/libgomem.so
log=$dir/strace.log

# "T G" from strace log $1: seconds from the (last) exec to the first thread
# made (clone3 or clone with CLONE_THREAD), and from it to the first open of
# /proc/self/cgroup; "-" for what did not happen.
stamps() {
	awk '
	/execve\(.* = 0$/ && !c { e = $2 }
	/clone3?\(.*CLONE_THREAD/ && !c { c = $2 }
	/openat\(.*"\/proc\/self\/cgroup"/ && !o { o = $2 }
	END {
		printf "%s %s\n", c == "" ? "-" : sprintf("%.3f", c - e),
		    c == "" || o == "" ? "-" : sprintf("%.3f", o - c)
	}' "$1"
}
trace() { # $1 = GOMEMDEBUG, then the command
	d=$1
	shift
	GOMEMDEBUG=$d LD_PRELOAD="$so" PYTHONMALLOC=malloc \
		strace -f -ttt -e trace=execve,clone,clone3,openat -o "$log" "$@" >/dev/null || {
		echo "FAIL: $me: strace $* failed"
		exit 1
	}
	stamps "$log"
}

# A short process, many times: the cgroup never before 20 ms.
for i in 1 2 3 4 5 6 7 8 9 10; do
	set -- $(trace "" /bin/true)
	if [ "$1" = - ]; then
		echo "FAIL: $me: /bin/true made no scavenger thread at load"
		fail=1
		break
	fi
	if [ "$2" != - ] && awk -v g="$2" 'BEGIN { exit !(g < 0.020) }'; then
		echo "FAIL: $me: /proc/self/cgroup opened $2 s after the scavenger started (want >= 0.020)"
		fail=1
	fi
done

# A process that lives long enough does look.
set -- $(trace "" sleep 0.3)
echo "$me: a 300 ms process looked for its cgroup $2 s after its scavenger started"
if [ "$2" = - ] || awk -v g="$2" 'BEGIN { exit !(g < 0.020) }'; then
	echo "FAIL: $me: sleep 0.3 did not look for its cgroup 20 ms after the thread started ($2)"
	fail=1
fi

# With a delay: a short process makes no thread and reads no cgroup.
for i in 1 2 3 4 5 6 7 8 9 10; do
	set -- $(trace scavdelay=1000 /bin/true)
	if [ "$1" != - ] || grep -q '"/proc/self/cgroup"' "$log"; then
		echo "FAIL: $me: scavdelay=1000: /bin/true made a thread ($1 s) or read its cgroup"
		fail=1
		break
	fi
done

# thread_between LO HI WHAT SCRIPT: with a 1 s delay, Python running SCRIPT
# makes its scavenger thread between LO and HI seconds after its exec.
thread_between() {
	set -- "$1" "$2" "$3" "$(trace scavdelay=1000 "$py3" -c "$4")"
	set -- "$1" "$2" "$3" $4
	echo "$me: $3: thread at $4 s, cgroup $5 s after it"
	if [ "$4" = - ] || awk -v t="$4" -v lo="$1" -v hi="$2" 'BEGIN { exit !(t < lo || t > hi) }'; then
		echo "FAIL: $me: $3: the thread started at $4 s, not between $1 and $2 s"
		fail=1
	fi
	cgroup_after=$5
}

# A program that allocates past the delay gets the thread then, and looks
# for its cgroup 20 ms later.
thread_between 1.0 10 "a 1.5 s program" 'import time
time.sleep(1.2)
keep = [bytes(20000 + i) for i in range(50)]
time.sleep(0.3)'
if [ "$cgroup_after" = - ] || awk -v g="$cgroup_after" 'BEGIN { exit !(g < 0.020) }'; then
	echo "FAIL: $me: the cgroup was not looked for 20 ms after the thread started ($cgroup_after)"
	fail=1
fi

# A heap of 40 MiB gets it at once (a freed spike goes back).
thread_between 0 0.9 "a 40 MiB heap" 'import time
keep = [bytearray(1 << 20) for i in range(40)]
del keep
time.sleep(0.2)'

[ "$fail" = 0 ] && echo "PASS: $me"
exit "$fail"
