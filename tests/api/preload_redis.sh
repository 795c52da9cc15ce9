#!/bin/sh
# redis-server with libgomem preloaded holds the same data as on its own
# allocator (Debian builds it on jemalloc): after a load of strings, lists,
# hashes and sets of many sizes, grown and trimmed, with big keys freed by
# its lazy-free thread (a thread freeing what the main thread allocated),
# DEBUG DIGEST, Redis's hash of the whole dataset, is the same both ways.
# Redis counts its memory with malloc_usable_size at every malloc and free,
# so a size that changed between the two would leave used_memory off after
# FLUSHALL: it must come back to where it does on jemalloc.
# The servers listen on a Unix socket in the work directory only.
. "${srcdir:-$(dirname "$0")}/preload_lib.sh"

# Debian's redis-tools has the server as redis-check-rdb, which serves when
# called redis-server (redis-server's package only adds a system service).
rdb=$(command -v redis-check-rdb) || skip "redis-tools not installed"
command -v redis-cli >/dev/null 2>&1 || skip "redis-cli not installed"
ln -s "$rdb" "$work/redis-server" || fail "cannot link $work/redis-server"

# The load, in Redis's protocol for redis-cli --pipe: deterministic.
awk 'function cmd(n, a,   i, s) {
	s = "*" n "\r\n"
	for (i = 1; i <= n; i++)
		s = s "$" length(a[i]) "\r\n" a[i] "\r\n"
	printf "%s", s
}
function val(i, n,   s) {
	s = sprintf("%d:", i)
	while (length(s) < n)
		s = s substr("abcdefghijklmnopqrstuvwxyz0123456789", i % 36 + 1, 13)
	return substr(s, 1, n)
}
BEGIN {
	for (i = 0; i < 20000; i++) {
		a[1] = "SET"; a[2] = "s:" i; a[3] = val(i, (i * 37) % 3000 + 1); cmd(3, a)
	}
	for (k = 0; k < 400; k++)
		for (j = 0; j < 100; j++) {
			a[1] = "RPUSH"; a[2] = "l:" k; a[3] = val(k * j, (k + j * 13) % 700 + 1); cmd(3, a)
		}
	for (k = 0; k < 400; k++)
		for (j = 0; j < 50; j++) {
			a[1] = "HSET"; a[2] = "h:" k; a[3] = "f" j; a[4] = val(k + j, (k * j) % 300 + 1); cmd(4, a)
		}
	for (k = 0; k < 200; k++)
		for (j = 0; j < 100; j++) {
			a[1] = "SADD"; a[2] = "z:" k; a[3] = val(j * 7 + k, j % 40 + 1); cmd(3, a)
		}
	for (k = 0; k < 40; k++)
		for (j = 0; j < 2000; j++) {
			a[1] = "RPUSH"; a[2] = "big:" k; a[3] = val(j, j % 90 + 10); cmd(3, a)
		}
	# Grow, trim and delete: realloc and free in the middle of the heap.
	for (i = 0; i < 20000; i += 3) {
		a[1] = "APPEND"; a[2] = "s:" i; a[3] = val(i, i % 500 + 1); cmd(3, a)
	}
	for (k = 0; k < 400; k += 2) {
		a[1] = "LTRIM"; a[2] = "l:" k; a[3] = "10"; a[4] = "60"; cmd(4, a)
	}
	for (k = 0; k < 400; k += 5)
		for (j = 0; j < 50; j += 4) {
			a[1] = "HDEL"; a[2] = "h:" k; a[3] = "f" j; cmd(3, a)
		}
	for (i = 1; i < 20000; i += 7) {
		a[1] = "DEL"; a[2] = "s:" i; cmd(2, a)
	}
	# Big lists (over Redis'"'"'s lazy-free threshold) freed by its bio thread.
	for (k = 0; k < 40; k += 2) {
		a[1] = "UNLINK"; a[2] = "big:" k; cmd(2, a)
	}
}' >"$work/load.resp" || fail "cannot generate the load"

# serve NAME [LIB]: start redis-server on $work/NAME.sock (stops by itself
# after 5 minutes at the latest); its pid in $pid.
serve() {
	_n=$1
	_sock="$work/$_n.sock"
	if [ -n "${2:-}" ]; then
		set -- env LD_PRELOAD="$2" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$work/ld-$_n"
	else
		set -- env -u LD_PRELOAD
	fi
	"$@" timeout 300 "$work/redis-server" --port 0 --unixsocket "$_sock" --save "" \
		--appendonly no --enable-debug-command local --lazyfree-lazy-user-flush yes \
		--logfile "$work/$_n.log" >"$work/$_n.out" 2>"$work/$_n.err" &
	pid=$!
	_i=0
	until redis-cli -s "$_sock" ping 2>/dev/null | grep -q PONG; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || { kill "$pid" 2>/dev/null; fail "redis-server ($_n) did not start: $(tail -3 "$work/$_n.log" 2>/dev/null)"; }
		kill -0 "$pid" 2>/dev/null || fail "redis-server ($_n) exited at start: $(cat "$work/$_n.err")"
		sleep 0.1
	done
}

# mem NAME: used_memory once the lazy-free thread has nothing left to free.
mem() {
	_i=0
	while [ "$(redis-cli -s "$work/$1.sock" info memory | tr -d '\r' |
		sed -n 's/^lazyfree_pending_objects://p')" != 0 ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || fail "$1: lazy free did not finish"
		sleep 0.1
	done
	redis-cli -s "$work/$1.sock" info memory | tr -d '\r' | sed -n 's/^used_memory://p'
}

# run NAME [LIB]: the load, the digest, the memory after FLUSHALL.
run() {
	serve "$@"
	_c="redis-cli -s $work/$1.sock"
	before=$(mem "$1")
	$_c --pipe <"$work/load.resp" >"$work/$1.pipe" 2>&1 || fail "$1: redis-cli --pipe failed: $(tail -2 "$work/$1.pipe")"
	grep -q "errors: 0," "$work/$1.pipe" || fail "$1: the load had errors: $(tail -2 "$work/$1.pipe")"
	loaded=$(mem "$1")
	$_c dbsize >"$work/$1.dbsize"
	$_c debug digest >"$work/$1.digest"
	# The key names as well as the digest.
	$_c --scan | sort >"$work/$1.keys"
	$_c flushall >/dev/null
	after=$(mem "$1")
	$_c shutdown nosave >/dev/null 2>&1
	_rc=0
	wait "$pid" || _rc=$?
	[ "$_rc" = 0 ] || fail "$1: redis-server exited with status $_rc: $(tail -3 "$work/$1.err")"
	echo "$1: used_memory $before at start, $loaded loaded, $after after FLUSHALL; $(cat "$work/$1.dbsize") keys, digest $(cat "$work/$1.digest")"
	echo "$before $loaded $after" >"$work/$1.mem"
}

run plain
run gomem "$GOMEM_SO"

cmp -s "$work/plain.dbsize" "$work/gomem.dbsize" || fail "key counts differ: $(cat "$work/plain.dbsize") against $(cat "$work/gomem.dbsize")"
[ "$(cat "$work/gomem.dbsize")" -gt 10000 ] || fail "too few keys loaded ($(cat "$work/gomem.dbsize"))"
cmp -s "$work/plain.keys" "$work/gomem.keys" || fail "the key sets differ"
cmp -s "$work/plain.digest" "$work/gomem.digest" ||
	fail "dataset digests differ: $(cat "$work/plain.digest") against $(cat "$work/gomem.digest")"
grep -q "gomem:" "$work/gomem.err" && fail "libgomem complained: $(grep gomem: "$work/gomem.err" | head -3)"

# used_memory: Redis's sum of malloc_usable_size over what it holds.  After
# FLUSHALL it keeps a few hundred KiB more than at its start on either
# allocator (tables, buffers); gomem's rise must be jemalloc's within 64 KiB,
# where a usable size that changed between malloc and free would leave it
# off by its drift over the load's million calls.
read -r pb pl pa <"$work/plain.mem"
read -r b l a <"$work/gomem.mem"
[ "$l" -gt $((b + 20000000)) ] || fail "used_memory did not grow with the load ($b -> $l)"
d=$(((a - b) - (pa - pb)))
[ "${d#-}" -le 65536 ] ||
	fail "used_memory rose by $((a - b)) over the run against jemalloc's $((pa - pb))"
assert_gomem_bound gomem 'redis-server|redis-check'
echo "PASS: $me"
