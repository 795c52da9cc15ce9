#!/bin/sh
# threadlimit.sh: a process that may not make threads (RLIMIT_NPROC, a cgroup
# pids limit) runs libgomem without its scavenger thread, at full speed, and
# gets the thread once the limit lifts.
#  - pthread_create fails at once there, but each attempt costs a stack
#    mapping, a failed clone and two signal-mask changes; the library tried
#    again at every slow path (85k failed clones in a run that took 3.6x
#    the time).  Now it waits 10 ms after a failure, doubling to 1 s.
#  - The limit is raised on the running process: the thread must follow
#    within the longest wait.
#  - GOMEMDEBUG=scavthread=0 asks for the same without a limit.
# Needs root (to run the program as nobody, whose thread count the limit
# binds), strace, setpriv and prlimit.
set -u
so=${GOMEM_SO:?GOMEM_SO not set}
me=threadlimit.sh
prog=./churnfor
[ "$(id -u)" = 0 ] || { echo "SKIP: $me needs root"; exit 77; }
for t in strace setpriv prlimit; do
	command -v $t >/dev/null 2>&1 || { echo "SKIP: $me needs $t"; exit 77; }
done
id nobody >/dev/null 2>&1 || { echo "SKIP: $me needs the user nobody"; exit 77; }
dir=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
cp "$so" "$dir/libgomem.so" && cp "$prog" "$dir/churnfor" || exit 1
chmod 755 "$dir" "$dir/libgomem.so" "$dir/churnfor"
log=$dir/strace.log
fail=0

# 1. One second of slow paths under the limit: few attempts, all refused.
out=$(strace -f -e trace=clone,clone3 -o "$log" setpriv --reuid=nobody \
	--regid=nogroup --clear-groups prlimit --nproc=1: \
	env LD_PRELOAD="$dir/libgomem.so" "$dir/churnfor" 1) || {
	echo "FAIL: $me: churnfor under the limit failed"
	exit 1
}
refused=$(grep -c 'CLONE_THREAD.*= -1 EAGAIN' "$log")
made=$(grep 'CLONE_THREAD' "$log" | grep -vc '= -1 ')
echo "$me: $out batches in 1 s, $refused thread creations refused, $made made"
if [ "$refused" -lt 1 ] || [ "$made" -ne 0 ]; then
	echo "FAIL: $me: the limit did not refuse the scavenger thread (refused $refused, made $made)"
	fail=1
elif [ "$refused" -gt 15 ]; then
	# At 0, 10, 30, 70, 150, 310 and 630 ms: 7 in the second, and room
	# for a slow start.
	echo "FAIL: $me: $refused attempts to make the thread in 1 s (7 expected)"
	fail=1
fi
if [ "${out:-0}" -lt 100 ]; then
	echo "FAIL: $me: only ${out:-0} batches: too few slow paths to show anything"
	fail=1
fi

# 2. The limit lifts while the process runs: the thread follows.
# (setpriv, prlimit and env exec each other: $! is churnfor's pid.)
setpriv --reuid=nobody --regid=nogroup --clear-groups prlimit --nproc=1: \
	env LD_PRELOAD="$dir/libgomem.so" "$dir/churnfor" 4 >/dev/null &
pid=$!
sleep 0.5
n=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
if [ "$n" -ne 1 ]; then
	echo "FAIL: $me: $n threads under the limit (1 expected)"
	fail=1
fi
# As nobody: root may lack CAP_SYS_RESOURCE (containers), and the soft
# limit may rise to the hard one without it.
hard=$(prlimit --nproc -o HARD --noheadings | tr -d ' ')
setpriv --reuid=nobody --regid=nogroup --clear-groups \
	prlimit --pid "$pid" --nproc="$hard:" || {
	echo "FAIL: $me: prlimit --pid failed"
	exit 1
}
i=0
while [ "$i" -lt 15 ]; do
	n=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
	[ "$n" -ge 2 ] && break
	sleep 0.1
	i=$((i + 1))
done
if [ "$n" -lt 2 ]; then
	echo "FAIL: $me: no scavenger thread 1.5 s after the limit was lifted"
	fail=1
else
	echo "$me: the thread started $((i * 100)) ms after the limit was lifted"
fi
wait "$pid" || { echo "FAIL: $me: churnfor failed after the limit was lifted"; fail=1; }
pid=

# 3. GOMEMDEBUG=scavthread=0, no limit: the library never tries to make the
# thread (a program that must keep one thread: glibc's fork from a signal
# handler, unshare(CLONE_NEWUSER)), and runs as under the limit.
out=$(strace -f -e trace=clone,clone3 -o "$log" \
	env GOMEMDEBUG=scavthread=0 LD_PRELOAD="$dir/libgomem.so" "$dir/churnfor" 1) || {
	echo "FAIL: $me: churnfor with scavthread=0 failed"
	exit 1
}
tries=$(grep -c 'CLONE_THREAD' "$log")
echo "$me: scavthread=0: $out batches in 1 s, $tries thread creations tried"
if [ "$tries" -ne 0 ] || [ "${out:-0}" -lt 100 ]; then
	echo "FAIL: $me: scavthread=0 tried $tries thread creations (0 expected) in ${out:-0} batches"
	fail=1
fi
[ "$fail" = 0 ] && echo "PASS: $me"
exit "$fail"
