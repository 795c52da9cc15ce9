#!/bin/sh
# setxid.sh: changing ids with libgomem loaded.  glibc applies setuid,
# setgid, setgroups... to every thread and aborts if one fails; the
# scavenger thread steps aside while they run (lib/export_setxid.c).
#  - setpriv raises its capabilities on its own thread only (capset is per
#    thread), then sets its gid: this aborted with the scavenger running.
#  - After the ids change the scavenger runs again with the new ids and the
#    caller's capabilities (no thread keeps root after a drop).
#  - unshare(CLONE_NEWUSER), setns into a user namespace and setns into a
#    mount namespace need a process with one thread (EINVAL otherwise):
#    `unshare --user` and `nsenter --mount` failed under the library; the
#    scavenger steps aside for them too, and runs again after, each of 30
#    times in a row (the kernel must have taken it out of the group).
# Needs root.
set -u
so=${GOMEM_SO:?GOMEM_SO not set}
me=setxid.sh
fail=0
[ "$(id -u)" = 0 ] || { echo "SKIP: $me needs root"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM

if command -v setpriv >/dev/null 2>&1 &&
	setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	LD_PRELOAD="$so" setpriv --reuid=65534 --regid=65534 --clear-groups true
	rc=$?
	[ "$rc" = 0 ] || { echo "FAIL: $me: LD_PRELOAD=libgomem setpriv --reuid=65534 --regid=65534 --clear-groups true: exit $rc"; fail=1; }
	out=$(LD_PRELOAD="$so" setpriv --reuid=65534 --regid=65534 --clear-groups id -u 2>&1)
	[ "$out" = 65534 ] || { echo "FAIL: $me: setpriv ... id -u printed '$out'"; fail=1; }
else
	echo "$me: setpriv case skipped (no working setpriv)"
fi

if command -v python3 >/dev/null 2>&1; then
	out=$(LD_PRELOAD="$so" python3 - <<'PY'
import os, time

def tasks():
    r = {}
    for t in os.listdir("/proc/self/task"):
        st = dict(l.split(":", 1) for l in open("/proc/self/task/%s/status" % t))
        r[t] = (st["Name"].strip(), st["Uid"].split(), st["Gid"].split(),
                st["Groups"].split(), st["CapEff"].strip())
    return r

def scav():
    # A new thread names itself when it first runs: wait up to 2 s.
    for _ in range(200):
        s = [v for v in tasks().values() if v[0] == "gomem-scav"]
        if s:
            return s[0]
        time.sleep(0.01)
    return None

def scav_after(uid):
    # The thread that stepped aside was joined, but the kernel may list it
    # (old ids, about to vanish) a moment longer: wait up to 2 s for the
    # scavenger threads to be only ones with the new ids.
    s = None
    for _ in range(200):
        all_s = [v for v in tasks().values() if v[0] == "gomem-scav"]
        s = all_s[0] if all_s else None
        if all_s and all(v[1] == [uid] * 4 for v in all_s):
            return s
        time.sleep(0.01)
    return s

me = str(os.getpid())
ok = []
ok.append(scav() is not None)
os.setgroups([])
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
s = scav_after("65534")
main = tasks()[me]
ok.append(s is not None)
ok.append(s is not None and s[1] == ["65534"] * 4 and s[2] == ["65534"] * 4 and s[3] == [])
ok.append(s is not None and s[4] == main[4])
print(" ".join(str(x) for x in ok))
PY
)
	[ "$out" = "True True True True" ] ||
		{ echo "FAIL: $me: scavenger before / after / new ids / same caps: '$out'"; fail=1; }
fi
# New namespaces: only where this kernel lets root make a user namespace.
if command -v unshare >/dev/null 2>&1 && unshare --user true 2>/dev/null; then
	LD_PRELOAD="$so" unshare --user true ||
		{ echo "FAIL: $me: LD_PRELOAD=libgomem unshare --user true: exit $?"; fail=1; }
	LD_PRELOAD="$so" unshare --user --mount --uts true ||
		{ echo "FAIL: $me: LD_PRELOAD=libgomem unshare --user --mount --uts true: exit $?"; fail=1; }
	# Joining a mount namespace needs an unshared fs_struct, which threads
	# share: setns(CLONE_NEWNS) failed with EINVAL too.
	if command -v nsenter >/dev/null 2>&1; then
		unshare --mount sleep 10 &
		ns_pid=$!
		i=0
		while [ "$(readlink /proc/$ns_pid/ns/mnt 2>/dev/null)" = "$(readlink /proc/self/ns/mnt)" ] && [ $i -lt 100 ]; do
			sleep 0.02
			i=$((i + 1))
		done
		ns=$(readlink /proc/$ns_pid/ns/mnt 2>/dev/null)
		if [ -n "$ns" ] && [ "$ns" != "$(readlink /proc/self/ns/mnt)" ]; then
			LD_PRELOAD="$so" nsenter --mount=/proc/$ns_pid/ns/mnt true ||
				{ echo "FAIL: $me: LD_PRELOAD=libgomem nsenter --mount=/proc/$ns_pid/ns/mnt true: exit $?"; fail=1; }
		else
			echo "$me: no mount namespace of another process here; nsenter --mount not checked"
		fi
		kill $ns_pid 2>/dev/null
		wait $ns_pid 2>/dev/null
	fi
	if command -v python3 >/dev/null 2>&1; then
		# Prints: scavengers before, the call's result, whether the user
		# namespace changed as asked, scavengers after.
		cat >"$dir/ns.py" <<'PY'
import ctypes, os, subprocess, sys, time
CLONE_NEWUSER = 0x10000000
libc = ctypes.CDLL(None, use_errno=True)

def scavs():
    for _ in range(200):
        n = sum(1 for t in os.listdir("/proc/self/task")
                if open("/proc/self/task/%s/comm" % t).read().strip() == "gomem-scav")
        if n:
            return n
        time.sleep(0.01)
    return 0

before, ns = scavs(), os.readlink("/proc/self/ns/user")
if sys.argv[1] == "setns":
    # join the user namespace of a process that made one of its own
    other = subprocess.Popen(["unshare", "--user", "sleep", "10"])
    for _ in range(200):
        if os.readlink("/proc/%d/ns/user" % other.pid) != ns:
            break
        time.sleep(0.01)
    want = os.readlink("/proc/%d/ns/user" % other.pid)
    rc = libc.setns(os.open("/proc/%d/ns/user" % other.pid, os.O_RDONLY), CLONE_NEWUSER)
    err = ctypes.get_errno()
    other.kill()
    moved = os.readlink("/proc/self/ns/user") == want != ns
else:
    # 30 nested namespaces (the kernel allows 32), each with a new
    # scavenger: the wrapper's join returns before the kernel takes the
    # thread out of the group (EINVAL; once in three calls without the
    # wrapper's retry).
    for _ in range(30):
        rc = libc.unshare(CLONE_NEWUSER)
        err = ctypes.get_errno()
        moved = os.readlink("/proc/self/ns/user") != ns
        ns = os.readlink("/proc/self/ns/user")
        if rc or not moved or scavs() != 1:
            break
        # the next level needs our ids mapped in this one
        for f, line in (("uid_map", "0 0 1"), ("setgroups", "deny"), ("gid_map", "0 0 1")):
            with open("/proc/self/" + f, "w") as m:
                m.write(line)
print(before, os.strerror(err) if rc else "ok", moved, scavs())
PY
		for call in setns unshare; do
			out=$(LD_PRELOAD="$so" python3 "$dir/ns.py" $call)
			[ "$out" = "1 ok True 1" ] ||
				{ echo "FAIL: $me: $call(CLONE_NEWUSER): scavengers before, result, moved, scavengers after: '$out'"; fail=1; }
		done
	fi
else
	echo "$me: no user namespaces here; unshare not checked"
fi
[ "$fail" = 0 ] && echo "PASS: $me"
exit $fail
