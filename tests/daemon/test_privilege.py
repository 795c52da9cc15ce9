#!/usr/bin/env python3
"""gomemd with exactly the unit's privileges, not as full root.

Reads the built gomemd.service, checks that its ambient capabilities equal
its bounding set and that `systemd-analyze security` rates it 2.0 or lower,
then runs gomemd as an unprivileged uid through setpriv with exactly those
capabilities (ambient, inheritable, bounding), inside a private mount
namespace whose /proc is mounted the way ProtectProc=invisible and
ProcSubset=pid mount it.  The workload runs as root, so everything gomemd
reads about it needs the capabilities.  Checks: gomemd's effective
capability set is the unit's and nothing more; it attaches for all
processes and serves the workload's own MemStats field for field; it finds
the library in the root process's maps; POST /processes/N/attach works for
a copy at another path; a heap profile is served; a loopback client is known by its uid (the
unit's sock_diag socket, made beside the listeners).  Then the same with
CAP_SYS_ADMIN taken away: gomemd must refuse to run, naming it.

Environment (set by privilege-test.sh): GOMEMD, LIBGOMEM, FIXTURE,
WORKLOAD, UNIT.  Exit 0 pass, 1 fail, 77 skip.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

GOMEMD = os.environ["GOMEMD"]
LIBGOMEM = os.path.realpath(os.environ["LIBGOMEM"])
FIXTURE = os.path.realpath(os.environ["FIXTURE"])
WORKLOAD = os.environ["WORKLOAD"]
UNIT = os.environ["UNIT"]
SOCKET_UNIT = UNIT[:-len(".service")] + ".socket"
NOBODY = 65534
CAPNUM = {"CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_SYS_PTRACE": 19,
          "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24, "CAP_PERFMON": 38, "CAP_BPF": 39,
          "CAP_CHECKPOINT_RESTORE": 40}

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gmtest import (TEST_AUTH, check, children, failures, free_port, loopback_hog,  # noqa: E402
                    open_peers, release, run, skip, wait_for, write_web_config)


def req(port, method, path):
    r = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                               headers={"Authorization": TEST_AUTH})
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def unit_settings(path):
    """Key -> list of values of the [Service] section."""
    d = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            k, v = line.split("=", 1)
            d.setdefault(k.strip(), []).append(v.strip())
    return d


def caps_of(pid):
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    return int(st["CapEff"], 16), int(st["Uid"].split()[1])


def gomemd_argv(caps, port, tmp, hide_proc, private_net=False, sock=""):
    """setpriv, and unshare for the unit's /proc mount and private network,
    around gomemd; with sock, ACTIVATE passes it the sockets gomemd.socket
    names, as systemd does."""
    lst = ",".join("+" + c[4:].lower() for c in caps)
    capargs = ["--inh-caps=-all" + ("," + lst if lst else ""),
               "--ambient-caps=-all" + ("," + lst if lst else ""),
               "--bounding-set=-all" + ("," + lst if lst else "")]
    argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + capargs + [
        GOMEMD, "--foreground", "--profile", "--listen", "127.0.0.1:%d" % port,
        "--library", LIBGOMEM, "--grace", "2", "--socket", "", "--web-config",
        write_web_config(tmp)]
    if hide_proc or private_net:
        script = ("mount -t proc -o %s proc /proc && " % hide_proc if hide_proc else "") + 'exec "$@"'
        argv = (["unshare", "--mount", "--propagation", "private"] + (["--net"] if private_net else []) +
                ["sh", "-c", script, "sh"] + argv)
    if sock:
        argv = [sys.executable, "-c", ACTIVATE, str(port), sock, SOCKET_UNIT, "--"] + argv
    return argv


# systemd's part of gomemd.socket: the sockets its Listen lines name (the
# TCP port and the unix path the test's own), made here, in the test's
# network namespace, and passed as LISTEN_FDS to ARGV, which execs on
# (unshare does not fork: the pid stays the one LISTEN_PID names).
ACTIVATE = r'''
import os, socket, sys
port, path, unit, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[5:]
socks = []
for line in open(unit):
    key, _, val = line.strip().partition("=")
    if key == "ListenStream" and val.startswith("/"):
        s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(64)
    elif key == "ListenStream":
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port)); s.listen(64)
    elif key == "ListenNetlink" and val.split()[0] == "inet-diag":
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4); s.bind((0, 0))
    else:
        continue
    socks.append(s)
high = [100 + i for i in range(len(socks))]
for s, h in zip(socks, high):
    os.dup2(s.fileno(), h)
for i, h in enumerate(high):
    os.dup2(h, 3 + i)
    os.close(h)
os.environ.update(LISTEN_FDS=str(len(socks)), LISTEN_PID=str(os.getpid()))
os.execvp(argv[0], argv)
'''


def main():
    if os.geteuid() != 0:
        skip("needs root (to hand gomemd exactly the unit's capabilities)")
    for tool in ("setpriv", "unshare"):
        if not shutil.which(tool):
            skip(tool + " not found (util-linux)")
    for f in ("/sys/kernel/btf/vmlinux", "/sys/bus/event_source/devices/uprobe/type"):
        if not os.path.exists(f):
            skip("kernel lacks " + f)

    u = unit_settings(UNIT)
    amb = " ".join(u.get("AmbientCapabilities", [])).split()
    bnd = " ".join(u.get("CapabilityBoundingSet", [])).split()
    check(u.get("User") == ["gomemd"], "the unit runs as User=gomemd")
    check(amb and sorted(amb) == sorted(bnd),
          "ambient capabilities equal the bounding set: %s" % " ".join(amb))
    check(all(c in CAPNUM for c in amb), "every capability of the unit is known to this test")
    check(u.get("IPAddressDeny") == ["any"] and "localhost" in u.get("IPAddressAllow", []),
          "IPAddressDeny=any, IPAddressAllow=localhost")
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", UNIT],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        check(m is not None and float(m.group(1)) <= 2.0,
              "systemd-analyze security: exposure %s (at most 2.0)" % (m.group(1) if m else "?"))
    else:
        print("note: systemd-analyze not found; exposure not measured")

    # What ProtectProc=invisible and ProcSubset=pid mount, if the unit asks for it.
    opts = []
    if u.get("ProtectProc", [""])[-1] in ("invisible", "noaccess", "ptraceable"):
        opts.append("hidepid=" + u["ProtectProc"][-1])
    if u.get("ProcSubset", [""])[-1] == "pid":
        opts.append("subset=pid")
    hide_proc = ",".join(opts)
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t proc -o %s proc /proc" % (hide_proc or "defaults")],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print("note: cannot mount /proc with %s here (%s); using the host's /proc"
              % (hide_proc, probe.stderr.strip()))
        hide_proc = ""

    tmp = tempfile.mkdtemp(prefix="gomemd-priv.")
    os.chmod(tmp, 0o755)
    out = os.path.join(tmp, "w.txt")
    wenv = dict(os.environ, LD_PRELOAD=LIBGOMEM, GOMEM_STATS_INTERVAL_MS="50")
    w = subprocess.Popen([WORKLOAD, out, "16x1000,48x500,1024x200,40000x5"], env=wenv)
    children.append(w)
    # in a directory gomemd's uid may not enter: reached through map_files,
    # so the unit needs no CAP_DAC_READ_SEARCH
    private = os.path.join(tmp, "private")
    os.mkdir(private, 0o700)
    other = os.path.join(private, "libgomem-other.so")
    shutil.copy(FIXTURE, other)
    os.chmod(other, 0o755)
    op = subprocess.Popen(["sleep", "60"], env=dict(os.environ, LD_PRELOAD=other,
                                                    GOMEM_STATS_INTERVAL_MS="50"))
    children.append(op)
    check(wait_for(lambda: os.path.exists(out), 20), "workload (root) wrote its snapshot")

    port = free_port()
    log = open(os.path.join(tmp, "gomemd.log"), "w+")
    # gomemd.socket's sockets, passed in; PrivateNetwork= as a network namespace
    private_net = u.get("PrivateNetwork", [""])[-1] == "yes"
    sockpath = os.path.join(tmp, "gomemd.sock")
    d = subprocess.Popen(gomemd_argv(amb, port, tmp, hide_proc, private_net, sockpath), stdout=log,
                         stderr=subprocess.STDOUT)
    children.append(d)
    up = wait_for(lambda: d.poll() is None and req(port, "GET", "/healthz")[0] == 200, 15)
    if not check(up, "gomemd with the unit's capabilities (%s) starts%s%s%s"
                 % (" ".join(amb), " under /proc " + hide_proc if hide_proc else "",
                    ", in its own network namespace" if private_net else "",
                    ", with the sockets passed in" if sockpath else "")):
        log.seek(0)
        print(log.read())
        return

    # The process really is unprivileged: find it (setpriv execs, unshare forks).
    gpid = None
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.readlink("/proc/%s/exe" % p) == os.path.realpath(GOMEMD):
                    with open("/proc/%s/cmdline" % p, "rb") as f:
                        if b"127.0.0.1:%d" % port in f.read():
                            gpid = int(p)
            except OSError:
                pass
    if check(gpid is not None, "found gomemd's pid"):
        eff, uid = caps_of(gpid)
        want = sum(1 << CAPNUM[c] for c in amb)
        check(uid == NOBODY and eff == want,
              "gomemd runs as uid %d with CapEff %#x (the unit's %#x)" % (uid, eff, want))

    flat = {}
    with open(out) as f:
        for line in f:
            k, v = line.rstrip("\n").split(" ", 1)
            flat[k] = v
    seq = int(flat["Extra.Seq"])

    def fresh():
        st, body = req(port, "GET", "/memstats?pid=%d" % w.pid)
        if st != 200:
            return None
        doc = json.loads(body)
        return doc if doc["Extra"]["Seq"] >= seq else None

    doc = wait_for(fresh, 10)
    if check(doc is not None, "serves the root workload's MemStats (attached for all processes)"):
        fields = ("HeapAlloc", "HeapSys", "HeapObjects", "Mallocs", "Frees", "TotalAlloc", "Sys")
        bad = [k for k in fields if str(doc[k]) != flat[k]]
        check(not bad and int(flat["Mallocs"]) > 0,
              "MemStats equal the workload's own reading (%s)" % (bad or "all equal"))
    st, body = req(port, "GET", "/processes/%d" % w.pid)
    check(st == 200 and json.loads(body)["Library"] == LIBGOMEM,
          "reads the root process's maps (Library %r)" % (json.loads(body).get("Library") if st == 200 else st))
    st, body = req(port, "POST", "/processes/%d/attach" % op.pid)
    check(st == 200, "POST /processes/N/attach for a copy in a root-only directory -> %s %s" % (st, body[:120]))
    check(wait_for(lambda: req(port, "GET", "/memstats?pid=%d" % op.pid)[0] == 200, 5),
          "the process attached by pid reports snapshots")
    st, body = req(port, "GET", "/debug/pprof/heap?pid=%d" % w.pid)
    check(st == 200 and body[:2] == b"\x1f\x8b", "serves a gzipped heap profile of the root process")
    if sockpath:
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket",
                            sockpath, "http://localhost/debug/pprof/heap?pid=%d" % w.pid],
                           capture_output=True, text=True, timeout=20)
        check(r.stdout == "200", "root gets the profile over the passed unix socket (%s)" % r.stdout)
    # loopback TCP clients are their uids, though gomemd's own network is
    # another: root's 80 idle connections from 20 loopback addresses keep a
    # quarter of --per-ip-limit 64 (all of loopback as one would keep 64)
    wait_for(lambda: open_peers(port) == 0, 5)
    hog, kept = loopback_hog(port, 80)
    release(hog)
    log.flush()
    with open(log.name) as f:
        passed = "asks the listeners' network" in f.read()
    check(passed and kept == "16",
          "a loopback client is its uid across gomemd's network namespace (the unit's sock_diag "
          "socket %s; %s of root's 80 connections kept, 16 wanted)"
          % ("passed" if passed else "not passed", kept))
    d.terminate()
    try:
        d.wait(10)
    except subprocess.TimeoutExpired:
        d.kill()

    # Without CAP_SYS_ADMIN, uprobes cannot be made on this kernel: gomemd
    # must exit non-zero and name the missing capability, not limp along.
    less = [c for c in amb if c != "CAP_SYS_ADMIN"] + ["CAP_BPF", "CAP_PERFMON"]
    r = subprocess.run(gomemd_argv(less, free_port(), tmp, ""), capture_output=True, text=True,
                       timeout=30)
    check(r.returncode != 0 and "CAP_SYS_ADMIN" in r.stderr,
          "without CAP_SYS_ADMIN gomemd exits non-zero naming it (rc %s: %s)"
          % (r.returncode, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""))

    if failures:
        log.seek(0)
        print("--- gomemd log ---\n" + log.read())
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(main)
