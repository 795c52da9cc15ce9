#!/bin/sh
# run-fuzzers.sh (make check): each libFuzzer harness for a bounded time
# (GOMEM_FUZZ_SECONDS, default 5) from its committed seed corpus, in a
# scratch directory.  Fails on any crash, leak, timeout or abort, and
# prints the harness's executions.  A crashing input is kept as
# tests/fuzz/crash-<harness>-* in the build tree for reproduction:
#   ./fuzz_<harness> crash-<harness>-...
: "${srcdir:=.}"
secs=${GOMEM_FUZZ_SECONDS:-5}
fail=0
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gomem-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
for h in config webconfig access elf procelf; do
	if [ ! -x "./fuzz_$h" ]; then
		echo "FAIL fuzz_$h not built"
		fail=1
		continue
	fi
	mkdir -p "$scratch/$h"
	seeds=$h
	[ "$h" = procelf ] && seeds=elf # the same files, read by procprof.c
	./fuzz_"$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$PWD/crash-$h-" "$scratch/$h" "$srcdir/corpus/$seeds" \
		>"$scratch/$h.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$h.log")
	cov=$(grep -o 'cov: [0-9]*' "$scratch/$h.log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "ok   fuzz_$h: ${execs:-?} executions in ${secs} s, $cov"
	else
		echo "FAIL fuzz_$h (exit $rc) after ${execs:-?} executions:"
		grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$scratch/$h.log" | head -n 20
		fail=1
	fi
done
exit $fail
