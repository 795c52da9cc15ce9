#!/usr/bin/env python3
"""Integration test of gomemd with real BPF and the real libgomem.

Starts one workload before gomemd and two after, each with libgomem
preloaded; checks that /memstats?pid=N equals, field for field, what the
workload read itself with gomem_read_memstats() at a quiescent point; then
the HTTP errors (400/404/405), exact uint64 JSON (fixture library), per-pid
attach and detach, removal of a killed process after the grace period, the
gomem client, SIGHUP reload, a clean SIGTERM (no BPF program left), and the
message without privileges.

Environment (set by gomemd-test.sh): GOMEMD, GOMEM_CLI, LIBGOMEM, FIXTURE,
WORKLOAD.  Exit 0 pass, 1 fail, 77 skip.
"""
import http.client
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

GOMEMD = os.environ["GOMEMD"]
GOMEM_CLI = os.environ["GOMEM_CLI"]
LIBGOMEM = os.path.realpath(os.environ["LIBGOMEM"])
FIXTURE = os.path.realpath(os.environ["FIXTURE"])
EXEWL = os.environ["EXEWL"]
WORKLOAD = os.environ["WORKLOAD"]
GRACE = 2
INTERVAL_MS = 50

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gmtest import (TEST_AUTH, check, children, failures, free_port, run, skip,  # noqa: E402
                    maps_file, wait_for, write_web_config)


def spawn(argv, env_extra=None, **kw):
    env = dict(os.environ)
    env.update(env_extra or {})
    p = subprocess.Popen(argv, env=env, **kw)
    children.append(p)
    return p


class Client:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def req(self, method, path):
        """(status, headers, parsed JSON body or None)."""
        r = urllib.request.Request(self.base + path, method=method,
                                   headers={"Authorization": TEST_AUTH})
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                body = resp.read()
                return resp.status, resp.headers, json.loads(body) if body else None
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            return e.code, e.headers, doc

    def get(self, path):
        return self.req("GET", path)

    def raw(self, path):
        """The body of a GET that answers 200, as bytes."""
        r = urllib.request.Request(self.base + path, headers={"Authorization": TEST_AUTH})
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.read()


def read_flat(path):
    d = {}
    with open(path) as f:
        for line in f:
            k, v = line.rstrip("\n").split(" ", 1)
            d[k] = v
    return d


def compare(pid, flat, doc):
    """Compare the workload's own snapshot with gomemd's JSON for it."""
    bad = []
    n = 0
    for k, v in flat.items():
        if k.startswith("Extra."):
            name = k[6:]
            # Seq and TimeNs move with every snapshot by design; the
            # scavenger's pacing state (goal, CPU time) is recomputed by its
            # periodic pass after the workload's read.  Every Go field and
            # every other extra must match exactly.
            if name in ("Seq", "TimeNs", "ScavengeCPUNs", "ScavengeGoal"):
                continue
            got = doc["Extra"].get(name)
            want = int(v)
        elif k.startswith("BySize."):
            i = int(k.split(".")[1])
            size, mallocs, frees = (int(x) for x in v.split())
            e = doc["BySize"][i]
            got = (e["Size"], e["Mallocs"], e["Frees"])
            want = (size, mallocs, frees)
        elif "." in k:  # PauseNs.i, PauseEnd.i
            name, i = k.split(".")
            got = doc[name][int(i)]
            want = int(v)
        elif v in ("true", "false"):
            got = doc[k]
            want = v == "true"
        elif k == "GCCPUFraction":
            got = doc[k]
            want = float(v)
        else:
            got = doc[k]
            want = int(v)
        n += 1
        if got != want:
            bad.append("%s: daemon %r, workload %r" % (k, got, want))
    keys = [k for k in doc if k != "Extra"]
    check(keys[:6] == ["Alloc", "TotalAlloc", "Sys", "Lookups", "Mallocs", "Frees"]
          and keys[-1] == "BySize", "pid %d: Go field order" % pid)
    check(not bad, "pid %d: %d fields equal the workload's own snapshot%s"
          % (pid, n, "" if not bad else ": " + "; ".join(bad[:5])))


PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def odd_keys(doc, where=""):
    """Keys of every JSON object in doc that are not Go-style PascalCase."""
    bad = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if not PASCAL.match(k):
                bad.append(where + "." + k)
            bad += odd_keys(v, where + "." + k)
    elif isinstance(doc, list):
        for v in doc:
            bad += odd_keys(v, where + "[]")
    return bad


def bpf_prog_ids(pid):
    """IDs of BPF programs whose fds the process holds (from fdinfo)."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return sorted(ids)


# gomem_read_memstats in a loop for a second (each call fires
# gomem:memstats while someone listens); prints how many calls it made.
FLOOD = r'''
import ctypes, time
lib = ctypes.CDLL(None)
buf = ctypes.create_string_buffer(1 << 16)
n, end = 0, time.monotonic() + 1
while time.monotonic() < end:
    lib.gomem_read_memstats(buf)
    n += 1
print(n, flush=True)
'''


notified = []


def drain(sock):
    while True:
        try:
            notified.append(sock.recv(4096).decode(errors="replace"))
        except socket.timeout:
            continue
        except OSError:
            return


def main():
    if os.geteuid() != 0:
        skip("needs root (BPF programs and uprobes)")
    if not os.path.exists(LIBGOMEM):
        skip("libgomem not built: " + LIBGOMEM)
    for f in ("/sys/kernel/btf/vmlinux", "/sys/bus/event_source/devices/uprobe/type"):
        if not os.path.exists(f):
            skip("kernel lacks " + f)
    bpftool = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)
    if bpftool:
        os.environ["PATH"] += ":" + os.path.dirname(bpftool)

    tmp = tempfile.mkdtemp(prefix="gomemd-test.")
    port = free_port()
    c = Client(port)
    wenv = {"LD_PRELOAD": LIBGOMEM, "GOMEM_STATS_INTERVAL_MS": str(INTERVAL_MS)}
    specs = ["16x1000,48x500,1024x200,40000x5",
             "8x3000,200x700,5000x40,100000x2",
             "32x2000,512x300,30000x10,1048576x1"]

    # workload A starts before the daemon
    out = [os.path.join(tmp, "w%d.txt" % i) for i in range(3)]
    wl = [spawn([WORKLOAD, out[0], specs[0]], wenv)]

    cfg = os.path.join(tmp, "gomemd.conf")
    with open(cfg, "w") as f:
        f.write("# test config\nlisten = 127.0.0.1:%d\ngrace = %d\nhistory = 60\nstate_dir = %s\n"
                % (port, GRACE, os.path.join(tmp, "state")))
    upg = os.path.join(tmp, "libgomem-upg.so")  # replaced on disk later
    shutil.copy(FIXTURE, upg)
    log = open(os.path.join(tmp, "gomemd.log"), "w+")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # sd_notify target
    notify.bind(os.path.join(tmp, "notify"))
    notify.settimeout(10)
    d = spawn([GOMEMD, "--config", cfg, "--library", LIBGOMEM, "--library", FIXTURE,
               "--library", upg, "--history-interval", "100", "--socket", "",
               "--web-config", write_web_config(tmp)],
              {"NOTIFY_SOCKET": os.path.join(tmp, "notify"), "WATCHDOG_USEC": "30000000"},
              stdout=log, stderr=subprocess.STDOUT)

    def healthy():
        if d.poll() is not None:
            return "dead"
        try:
            return c.get("/healthz")[0] == 200
        except OSError:
            return False

    h = wait_for(healthy, 10)
    if h != True:
        log.seek(0)
        text = log.read()
        print(text)
        if "needs CAP_BPF" in text or "loading BPF programs" in text:
            skip("BPF unavailable: " + text.strip().splitlines()[-1])
        check(False, "gomemd starts and answers /healthz")
        return
    check(True, "gomemd starts and answers /healthz")
    if os.environ.get("HAVE_LIBSYSTEMD") != "0":
        try:
            msg = notify.recv(4096).decode()
        except OSError:
            msg = ""
        check("READY=1" in msg, "sd_notify READY=1 (%r)" % msg)
    # as a service manager does, keep reading what gomemd sends (a datagram
    # queue left full would block its sd_notify)
    threading.Thread(target=drain, args=(notify,), daemon=True).start()
    if os.environ.get("HAVE_LIBSYSTEMD") != "0":
        check(wait_for(lambda: "WATCHDOG=1" in notified, 5),
              "WATCHDOG=1 to a service manager that set WATCHDOG_USEC (%r)" % notified[:3])

    # workloads B and C start after the daemon
    wl.append(spawn([WORKLOAD, out[1], specs[1]], wenv))
    wl.append(spawn([WORKLOAD, out[2], specs[2]], wenv))

    for i, w in enumerate(wl):
        if not check(wait_for(lambda: os.path.exists(out[i]), 20), "workload %d wrote its snapshot" % i):
            continue
        flat = read_flat(out[i])
        seq = int(flat["Extra.Seq"])

        def fresh():
            st, _, doc = c.get("/memstats?pid=%d" % w.pid)
            return doc if st == 200 and doc["Extra"]["Seq"] >= seq else None

        doc = wait_for(fresh, 10)
        if check(doc is not None, "pid %d: gomemd has a snapshot at or after the quiescent point" % w.pid):
            check(doc["Extra"]["Pid"] == w.pid and doc["Extra"]["RSS"] > 0,
                  "pid %d: Extra has Pid and RSS" % w.pid)
            compare(w.pid, flat, doc)
            check(int(flat["HeapObjects"]) > 0 and int(flat["Frees"]) > 0,
                  "pid %d: the workload allocated and freed" % w.pid)

    # all processes and totals
    st, _, doc = c.get("/memstats")
    pids = {p["Pid"] for p in doc["Processes"]}
    check(st == 200 and all(w.pid in pids for w in wl), "/memstats lists the three workloads")
    check(doc["Totals"]["HeapAlloc"] == sum((p["MemStats"] or {}).get("HeapAlloc", 0)
                                           for p in doc["Processes"] if not p["Exited"]),
          "/memstats Totals.HeapAlloc is the sum over live processes")
    st, _, doc = c.get("/processes")
    check(st == 200 and all(w.pid in {p["Pid"] for p in doc["Processes"]} for w in wl),
          "/processes lists the three workloads")
    vers = {p["Pid"]: p["Version"] for p in doc["Processes"]}
    # only gomem:init carries the version: the library fires it again for
    # a tracer that attached after it loaded
    check(vers.get(wl[0].pid) and vers.get(wl[0].pid) == vers.get(wl[1].pid),
          "the workload started before gomemd has its library's version (%r, later ones %r)"
          % (vers.get(wl[0].pid), vers.get(wl[1].pid)))

    # errors
    for bad in ("abc", "-1", "99999999999", "0", "", "12x"):
        st, _, e = c.get("/memstats?pid=" + bad)
        check(st == 400 and e == {"Error": e["Error"], "Status": 400},
              "malformed pid %r -> 400 JSON" % bad)
    st, _, e = c.get("/memstats?pid=%d" % os.getpid())
    check(st == 404 and e["Status"] == 404 and "Error" in e, "unknown pid -> 404 JSON")
    st, hd, e = c.req("POST", "/memstats")
    check(st == 405 and e["Status"] == 405 and "GET" in (hd.get("Allow") or ""),
          "POST /memstats -> 405 JSON with Allow")
    st, hd, e = c.req("DELETE", "/processes/%d/attach" % wl[0].pid)
    check(st == 405 and "POST" in (hd.get("Allow") or ""), "DELETE .../attach -> 405 with Allow")
    st, _, e = c.get("/no/such/route")
    check(st == 404 and e["Status"] == 404, "unknown route -> 404 JSON")
    st, _, e = c.req("POST", "/processes/abc/attach")
    check(st == 400, "POST /processes/abc/attach -> 400")
    for bad in ("+5", "%205", "-1", "0", "1001", "5x", ""):
        st, _, e = c.get("/profile/top?pid=%d&n=%s" % (wl[0].pid, bad))
        check(st == 400 and isinstance(e, dict) and e.get("Status") == 400,
              "/profile/top n=%r -> 400 JSON (%s)" % (bad, st))
    for bad in ("banana", "2", ""):
        st, _, e = c.get("/memstats?full=" + bad)
        check(st == 400 and isinstance(e, dict) and e.get("Status") == 400,
              "/memstats full=%r -> 400 JSON (%s)" % (bad, st))
    check(c.get("/memstats?full=true")[0] == 200 and c.get("/memstats?full=0")[0] == 200,
          "/memstats full=true and full=0 -> 200 (Go's ParseBool)")

    # every answer counts in gomemd_http_requests_total{code}: the shared
    # /memstats listing and the requests refused before routing too
    def answered(code):
        for line in c.raw("/metrics").decode().splitlines():
            if line.startswith('gomemd_http_requests_total{code="%d"} ' % code):
                return int(line.rsplit(" ", 1)[1])
        return 0

    ok0, bad0 = answered(200), answered(400)
    for _ in range(5):
        c.get("/memstats")
    c.get("/memstats?pid=1%00")  # refused before routing: a NUL in the target
    # the /metrics reads in between answer 200 as well: at least 5 more
    check(answered(200) - ok0 >= 5 + 1 and answered(400) - bad0 >= 1,
          "requests_total counts /memstats's 200s and refusals' 400s (%d, %d more)"
          % (answered(200) - ok0, answered(400) - bad0))

    # every object gomemd defines uses PascalCase keys, errors included;
    # /debug/vars keeps Go expvar's own two keys
    docs = {}
    for path in ("/memstats", "/memstats?full=1", "/memstats?pid=%d" % wl[0].pid, "/processes",
                 "/processes/%d" % wl[0].pid, "/healthz", "/memstats/history?pid=%d" % wl[0].pid,
                 "/memstats?pid=abc", "/memstats?pid=%d" % os.getpid(), "/no/such/route",
                 "/debug/pprof/heap?pid=abc", "/profile/top?pid=%d" % wl[0].pid,
                 "/leaks?pid=%d" % wl[0].pid):
        docs[path] = c.get(path)[2]
    docs["POST /memstats"] = c.req("POST", "/memstats")[2]
    odd = {p: odd_keys(d) for p, d in docs.items() if d is None or odd_keys(d)}
    check(not odd, "PascalCase keys in every JSON reply: %r" % odd)
    st, hd, v = c.get("/debug/vars?pid=%d" % wl[0].pid)
    check(st == 200 and list(v) == ["cmdline", "memstats"] and "HeapAlloc" in v["memstats"],
          "/debug/vars keeps expvar's keys")

    # exact uint64 above 2^53 (fixture library with values near 2^64)
    fx = spawn(["sleep", "60"], {"LD_PRELOAD": FIXTURE, "FIXTURE_BASE": "big",
                                 "GOMEM_STATS_INTERVAL_MS": str(INTERVAL_MS)})
    doc = wait_for(lambda: (lambda r: r[2] if r[0] == 200 else None)(c.get("/memstats?pid=%d" % fx.pid)), 10)
    base = 2**64 - 1 - 1000
    if check(doc is not None, "fixture process seen"):
        check(doc["Alloc"] == base + 1 and doc["Mallocs"] == base + 5
              and doc["BySize"][3]["Mallocs"] == base + 3,
              "uint64 above 2^53 are exact in JSON (Mallocs=%r)" % doc["Mallocs"])
        check(doc["Extra"]["Version"] == "0.0.0-fixture", "version from gomem:init")

    # a float field a process wrote as NaN or +Inf: the text format's NaN
    # and +Inf in /metrics, not a 0 that reads as a value
    for word, want in (("nan", "NaN"), ("inf", "+Inf")):
        fx2 = spawn(["sleep", "60"], {"LD_PRELOAD": FIXTURE, "FIXTURE_F64": word,
                                      "GOMEM_STATS_INTERVAL_MS": str(INTERVAL_MS)})
        wait_for(lambda: c.get("/memstats?pid=%d" % fx2.pid)[0] == 200, 10)
        text = c.raw("/metrics").decode(errors="replace")
        vals = [l.rsplit(" ", 1)[1] for l in text.splitlines()
                if "cpu_fraction" in l and 'pid="%d"' % fx2.pid in l]
        check(vals and all(v == want for v in vals),
              "/metrics writes a %s float as %s (%r)" % (word, want, vals))
        fx2.kill()

    # An idle process started while gomemd watches publishes, even when told
    # to start its scavenger thread late: the semaphore is set when the
    # library is mapped, so the thread starts at load (or at sleep's first
    # allocation slow path, which sees it set too).
    idle = spawn(["sleep", "60"], {"LD_PRELOAD": LIBGOMEM, "GOMEM_STATS_INTERVAL_MS": str(INTERVAL_MS),
                                   "GOMEMDEBUG": "scavdelay=600000"})
    # Publishing means more than one snapshot arrives: wait for the second
    # (the first reply may come between the first and the second).
    def published():
        st, _, doc = c.get("/memstats?pid=%d" % idle.pid)
        return doc if st == 200 and doc["Extra"]["Snapshots"] >= 2 else None

    doc = wait_for(published, 5)
    check(doc is not None and doc["HeapSys"] > 0,
          "an idle process started under gomemd publishes snapshots (%r)"
          % (doc and doc["Extra"]["Snapshots"]))
    idle.kill()
    idle.wait()

    # a library at another path: seen only after POST /processes/N/attach
    other = os.path.join(tmp, "libgomem-other.so")
    shutil.copy(FIXTURE, other)
    op = spawn(["sleep", "60"], {"LD_PRELOAD": other, "GOMEM_STATS_INTERVAL_MS": str(INTERVAL_MS)})
    time.sleep(0.5)
    check(c.get("/memstats?pid=%d" % op.pid)[0] == 404, "library at another path: not seen before attach")
    st, _, e = c.req("POST", "/processes/%d/attach" % op.pid)
    check(st == 200 and e["Pid"] == op.pid, "POST /processes/N/attach -> 200")
    check(wait_for(lambda: c.get("/memstats?pid=%d" % op.pid)[0] == 200, 5),
          "attached process reports snapshots")
    rc = subprocess.run([GOMEM_CLI, "stats", str(op.pid), "--server", "127.0.0.1:%d" % port],
                        capture_output=True, text=True, timeout=10)
    check(rc.returncode == 0 and "HeapAlloc" in rc.stdout and "BySize" in rc.stdout,
          "gomem stats PID prints a table")
    st, _, e = c.req("DELETE", "/processes/%d" % op.pid)
    check(st == 200 and e == {"Pid": op.pid, "Detached": True}, "DELETE /processes/N -> 200")
    time.sleep(0.3)
    check(c.get("/memstats?pid=%d" % op.pid)[0] == 404, "detached process stays gone")
    st, _, e = c.req("POST", "/processes/%d/attach" % 4194000)
    check(st == 404, "attach to a missing process -> 404")

    # a process that fires gomem:memstats on purpose (gomem_read_memstats
    # in a loop) is held to its budget in the kernel: 64 at once, then 1000
    # a second; the drops are counted as reason="rate"
    def dropped(reason):
        for line in c.raw("/metrics").decode().splitlines():
            if line.startswith('gomemd_events_dropped_total{reason="%s"} ' % reason):
                return int(line.rsplit(" ", 1)[1])
        return -1

    rate0 = dropped("rate")
    flood = spawn([sys.executable, "-c", FLOOD], {"LD_PRELOAD": LIBGOMEM}, stdout=subprocess.PIPE)
    fired = int(flood.stdout.readline() or 0)
    flood.wait()
    got = wait_for(lambda: dropped("rate") - rate0 if dropped("rate") > rate0 else None, 5) or 0
    check(rate0 >= 0 and fired > 5000 and got > 0 and got >= fired - (64 + 1000 * 3) - 200,
          "a flood of %d snapshots in 1 s: %d dropped for its rate (at most ~1064 pass)"
          % (fired, got))

    # a file with over 1 MiB of USDT notes is refused before libbpf reads
    # them all (seven times, with the attach lock held)
    if shutil.which("objcopy"):
        blob, noisy = os.path.join(tmp, "notes.bin"), os.path.join(tmp, "libgomem-notes.so")
        with open(blob, "wb") as f:
            f.write(bytes(2 << 20))
        subprocess.run(["objcopy", "--update-section", ".note.stapsdt=" + blob, FIXTURE, noisy],
                       check=True)
        nz = spawn(["sleep", "60"], {"LD_PRELOAD": noisy})
        maps_file(nz.pid, noisy)
        st, _, e = c.req("POST", "/processes/%d/attach" % nz.pid)
        check(st == 422 and "USDT notes" in (e or {}).get("Error", ""),
              "a library with 2 MiB of USDT notes: 422, not read (%s %r)" % (st, e))
        nz.kill()
        nz.wait()
    else:
        print("objcopy not found: the USDT note bound is not checked")

    # libgomem linked into the program: its probes are in /proc/PID/exe
    ex = spawn([EXEWL, "60"], {"GOMEM_STATS_INTERVAL_MS": str(INTERVAL_MS)},
               stdout=subprocess.PIPE)
    check(ex.stdout.readline().startswith(b"ready"), "exewl started")
    check(c.get("/memstats?pid=%d" % ex.pid)[0] == 404, "linked-in library: not seen before attach")
    st, _, e = c.req("POST", "/processes/%d/attach" % ex.pid)
    check(st == 200 and e["Pid"] == ex.pid, "POST /processes/N/attach of a linked program -> 200 (%r)" % (e,))
    doc = wait_for(lambda: (lambda r: r[2] if r[0] == 200 else None)(c.get("/memstats?pid=%d" % ex.pid)), 5)
    check(doc is not None and doc["Mallocs"] >= 4096 and doc["HeapObjects"] >= 2048,
          "a linked program attached by its executable reports its MemStats (%r)"
          % ((doc and (doc["Mallocs"], doc["HeapObjects"])),))
    ex.kill()
    ex.wait()

    # a library replaced on disk (new inode) is attached again
    shutil.copy(FIXTURE, upg + ".new")
    os.rename(upg + ".new", upg)
    time.sleep(1.5)
    up = spawn(["sleep", "60"], {"LD_PRELOAD": upg, "GOMEM_STATS_INTERVAL_MS": str(INTERVAL_MS)})
    check(wait_for(lambda: c.get("/memstats?pid=%d" % up.pid)[0] == 200, 5),
          "a process started after its library was replaced on disk is seen")

    # gomem run prepends libgomem to LD_PRELOAD
    rc = subprocess.run([GOMEM_CLI, "run", "--library", LIBGOMEM, "--", "sh", "-c", 'echo "$LD_PRELOAD"'],
                        capture_output=True, text=True, timeout=10,
                        env=dict(os.environ, LD_PRELOAD="/x.so"))
    check(rc.stdout.strip() == LIBGOMEM + ":/x.so", "gomem run prepends to LD_PRELOAD")

    # history
    st, _, doc = c.get("/memstats?pid=%d" % wl[0].pid)

    # kill workload B: marked exited at once, gone after the grace period
    victim = wl[1]
    victim.kill()
    victim.wait()

    def exited():
        st, _, doc = c.get("/processes/%d" % victim.pid)
        return st == 200 and doc["Exited"]

    check(wait_for(exited, 2), "killed workload is marked exited")
    check(wait_for(lambda: c.get("/processes/%d" % victim.pid)[0] == 404, GRACE + 3),
          "killed workload removed after the grace period")
    check(c.get("/memstats?pid=%d" % wl[2].pid)[0] == 200, "other workloads stay")

    # a second gomemd that attaches while the first holds the probes: the
    # kernel's semaphore (0 or 1, not a count) never went clear, so only
    # the library's periodic gomem:init (GOMEMDEBUG initrepeat, 30 s by
    # default, 1 s here) tells it the version, as after a restart quicker
    # than the library's one-second check
    rep = spawn([WORKLOAD, os.path.join(tmp, "rep.txt"), "64x100"],
                dict(wenv, GOMEMDEBUG="initrepeat=1000"))
    check(wait_for(lambda: c.get("/memstats?pid=%d" % rep.pid)[0] == 200, 10),
          "initrepeat: the first gomemd watches the workload")
    port2 = free_port()
    c2 = Client(port2)
    d2 = spawn([GOMEMD, "--listen", "127.0.0.1:%d" % port2, "--library", LIBGOMEM,
                "--socket", "", "--state-dir", ""], stdout=log, stderr=subprocess.STDOUT)

    def version2():
        try:
            st, _, doc = c2.get("/processes/%d" % rep.pid)
        except (OSError, http.client.HTTPException):  # not listening yet
            return None
        return st == 200 and doc["Version"]

    # start-up, BPF load, a snapshot, then an init within 1 s: 30 s for a
    # loaded machine (the ThreadSanitizer build)
    v2 = wait_for(version2, 30)
    check(v2 and v2 == vers.get(wl[1].pid),
          "initrepeat: a gomemd that attached beside another learns the version (%r)" % v2)
    d2.send_signal(signal.SIGTERM)
    check(d2.wait(10) == 0, "initrepeat: the second gomemd stops")
    rep.kill()

    # SIGHUP rereads the config file
    with open(cfg, "a") as f:
        f.write("grace = 1\n")
    d.send_signal(signal.SIGHUP)

    def reloaded():
        log.flush()
        log.seek(0)
        return "configuration reloaded" in log.read() and c.get("/healthz")[0] == 200

    # A busy machine can take a while to restart the listener: wait, bounded.
    check(wait_for(reloaded, 10), "SIGHUP reloads the configuration and keeps serving")

    # SIGTERM: clean exit, no BPF program left
    ids = bpf_prog_ids(d.pid)
    d.send_signal(signal.SIGTERM)
    try:
        rc = d.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, "SIGTERM stops gomemd with status 0")
    if ids is not None:
        check(len(ids) >= 5, "gomemd held its BPF programs (%d)" % len(ids))
        def left():
            return [i for i in ids if subprocess.run(["bpftool", "prog", "show", "id", str(i)],
                                                     capture_output=True).returncode == 0]

        # The kernel frees a program after its last link and fd go, some of
        # it deferred (RCU, work queues): a moment after the exit, bounded.
        check(wait_for(lambda: not left(), 5), "no BPF program left after exit")

    # without privileges: a clear message and a non-zero status
    if shutil.which("setpriv"):
        rc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "--inh-caps=-all", GOMEMD, "--listen", "127.0.0.1:%d" % free_port(),
                             "--library", LIBGOMEM, "--state-dir", ""], capture_output=True, text=True, timeout=20)
        check(rc.returncode != 0 and "needs CAP_BPF and CAP_PERFMON" in rc.stderr,
              "unprivileged gomemd names the missing capabilities: " + rc.stderr.strip())

    log.seek(0)
    text = log.read()
    check("WARNING: ThreadSanitizer" not in text and "ERROR: AddressSanitizer" not in text,
          "no sanitizer report in the gomemd log")
    if failures:
        print("--- gomemd log ---\n" + text)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.alarm(170)
    run(main)
