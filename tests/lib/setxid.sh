#!/bin/sh
# setxid.sh: changing ids with libgomem loaded.  glibc applies setuid,
# setgid, setgroups... to every thread and aborts if one fails; the
# scavenger thread steps aside while they run (lib/export_setxid.c).
#  - setpriv raises its capabilities on its own thread only (capset is per
#    thread), then sets its gid: this aborted with the scavenger running.
#  - After the ids change the scavenger runs again with the new ids and the
#    caller's capabilities (no thread keeps root after a drop).
# Needs root.
set -u
so=${GOMEM_SO:?GOMEM_SO not set}
me=setxid.sh
fail=0
[ "$(id -u)" = 0 ] || { echo "SKIP: $me needs root"; exit 77; }

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
[ "$fail" = 0 ] && echo "PASS: $me"
exit $fail
