#!/usr/bin/env python3
"""Real programs from Debian under libgomem and the peer allocators.

    real-programs.py [-r ROUNDS] [-l LIBGOMEM] [-p PROG,...] [-o FILE]

Each program runs once per round under every allocator, the order rotating
from round to round, as run-bench.py does; the table gives each one's
median CPU time (user + system, of the program and its children) and peak
RSS, and gomem's time over the best peer's.  The inputs are generated here,
so a run needs only the Debian packages:

  redis   redis-tools: the server (redis-check-rdb called redis-server) on
          a Unix socket, loaded by redis-benchmark (-P 16, the LPUSH line of
          mimalloc-bench); the server's own CPU time.  Its own allocator is
          jemalloc, so no glibc column.  Redis calls malloc_usable_size at
          every malloc and free.
  lua     lua5.4: tables and strings built, half dropped, concatenated.
  z3      z3: an unsatisfiable pigeonhole problem (10 pigeons, 9 holes).
  gs      ghostscript: a generated PostScript document of paths and text,
          rendered at 300 dpi, three times.
  perl    perl: a hash of a million entries built, walked, a third deleted.
  python  python3 with PYTHONMALLOC=malloc (so the allocator under test
          serves its small objects): JSON, regular expressions, sorting.

Programs that are not installed are left out with a note.  Standard library
only; see bench/README.md for what the figures mean on a noisy machine.
"""

import argparse
import importlib.util
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("run_bench", os.path.join(HERE, "run-bench.py"))
rb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rb)

LUA = """
local keep = {}
for r = 1, 5 do
  local m = {}
  for i = 1, 200000 do m[i] = {x = i, s = tostring(i) .. "abc"} end
  for i = 1, 200000, 2 do m[i] = nil end
  local s = {}
  for i = 1, 60000 do s[#s + 1] = string.rep("x", i % 100) end
  keep[r % 3] = {table.concat(s), m}
end
print(#keep[1][1])
"""

PERL = r"""
my %h;
for my $i (1..1000000) { $h{"k$i"} = [$i, "v$i"]; }
my $s = 0;
for my $k (keys %h) { $s += $h{$k}[0]; delete $h{$k} if $s % 3 == 0 }
print scalar(keys %h), "\n";
"""

PYTHON = r"""
import collections, json, re
d = [{"id": i, "name": "item%d" % i, "tags": ["a%d" % (i % 7), "b"], "v": i * 1.5}
     for i in range(200000)]
s = json.dumps(d)
e = json.loads(s)
c = collections.Counter(x["tags"][0] for x in e)
w = re.findall(r"item\d+", s)
t = sorted(e, key=lambda x: -x["v"])
print(len(s), len(c), len(w), t[0]["id"])
"""


def pigeonhole(n, h):
    out = ["(set-logic QF_UF)"]
    out += ["(declare-const x%d_%d Bool)" % (p, j) for p in range(n) for j in range(h)]
    out += ["(assert (or %s))" % " ".join("x%d_%d" % (p, j) for j in range(h)) for p in range(n)]
    out += ["(assert (not (and x%d_%d x%d_%d)))" % (a, j, b, j)
            for j in range(h) for a in range(n) for b in range(a + 1, n)]
    return "\n".join(out + ["(check-sat)"]) + "\n"


def postscript(pages):
    out = ["%!PS-Adobe-3.0", "/Helvetica findfont 9 scalefont setfont"]
    for pg in range(pages):
        for k in range(400):
            x, y = (k * 37 + pg * 11) % 540 + 20, (k * 53) % 740 + 20
            out.append("newpath %d %d moveto %d %d %d %d %d %d curveto "
                       "%.2f setgray stroke" % (x, y, x + 40, y + 90, x + 80, y - 60,
                                                 x + 120, y + 10, (k % 10) / 10))
            out.append("%d %d moveto (gomem page %d line %d) show" % (x, y, pg, k))
        out.append("showpage")
    return "\n".join(out) + "\n"


class Progs:
    """The programs, their inputs in a scratch directory."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.files = {}
        for name, text in (("t.lua", LUA), ("t.pl", PERL), ("t.py", PYTHON),
                           ("php.smt2", pigeonhole(10, 9)), ("doc.ps", postscript(12))):
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write(text)
            self.files[name] = path
        py = shutil.which("python3")
        if py:
            r = subprocess.run([py, "-c", "import sys; print(sys.executable)"],
                               capture_output=True, text=True)
            py = r.stdout.strip() or py
        gs = shutil.which("gs")
        self.cmds = {
            "lua": shutil.which("lua5.4") and [shutil.which("lua5.4"), self.files["t.lua"]],
            "z3": shutil.which("z3") and [shutil.which("z3"), self.files["php.smt2"]],
            "gs": gs and ["sh", "-c", " ; ".join(
                ["%s -dBATCH -dNOPAUSE -dSAFER -q -sDEVICE=pgmraw -r300 -o /dev/null %s"
                 % (gs, self.files["doc.ps"])] * 3)],
            "perl": shutil.which("perl") and [shutil.which("perl"), self.files["t.pl"]],
            "python": py and [py, self.files["t.py"]],
        }
        rdb = shutil.which("redis-check-rdb")
        if rdb and shutil.which("redis-benchmark") and shutil.which("redis-cli"):
            self.redis = os.path.join(tmp, "redis-server")
            if not os.path.exists(self.redis):
                os.symlink(rdb, self.redis)
            self.cmds["redis"] = ["redis"]
        else:
            self.cmds["redis"] = None

    def run(self, prog, lib, timeout):
        """(cpu seconds, peak RSS KiB) or an error string."""
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if lib:
            env["LD_PRELOAD"] = lib
        if prog == "python":
            env.update(PYTHONMALLOC="malloc", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        if prog == "redis":
            return self.run_redis(env, timeout)
        # wait4's usage is this run's alone, its waited-for children included
        # (RUSAGE_CHILDREN's peak RSS would be the largest of every run).
        with tempfile.TemporaryFile() as err:
            p = subprocess.Popen(self.cmds[prog], env=env, stdout=subprocess.DEVNULL, stderr=err)
            t = threading.Timer(timeout, p.kill)
            t.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                t.cancel()
            p.returncode = 0
            if status != 0:
                err.seek(0)
                return "status %#x: %s" % (status, err.read().decode(errors="replace")[-200:])
        return ru.ru_utime + ru.ru_stime, ru.ru_maxrss

    def run_redis(self, env, timeout):
        sock = os.path.join(self.tmp, "redis.sock")
        if os.path.exists(sock):
            os.unlink(sock)
        srv = subprocess.Popen([self.redis, "--port", "0", "--unixsocket", sock, "--save", "",
                                "--appendonly", "no", "--logfile", os.path.join(self.tmp, "redis.log")],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for _ in range(100):
                if subprocess.run(["redis-cli", "-s", sock, "ping"], capture_output=True,
                                  text=True).stdout.strip() == "PONG":
                    break
                if srv.poll() is not None:
                    return "redis-server exited at start"
                time.sleep(0.1)
            else:
                return "redis-server did not start"
            b = subprocess.run(["redis-benchmark", "-s", sock, "-r", "1000000", "-n", "1000000",
                                "-q", "-P", "16", "lpush", "a", "1", "2", "3", "4", "5",
                                "lrange", "a", "1", "10"], capture_output=True, timeout=timeout)
            if b.returncode != 0:
                return "redis-benchmark exit %d" % b.returncode
            with open("/proc/%d/stat" % srv.pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
            cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
            with open("/proc/%d/status" % srv.pid) as f:
                hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
            subprocess.run(["redis-cli", "-s", sock, "shutdown", "nosave"], capture_output=True)
            rc = srv.wait(timeout=30)
            if rc != 0:
                return "redis-server exit %d" % rc
            return cpu, hwm
        finally:
            if srv.poll() is None:
                srv.send_signal(signal.SIGKILL)
                srv.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--rounds", type=int, default=5)
    ap.add_argument("-l", "--lib", default=None, help="libgomem.so (default: this build's)")
    ap.add_argument("-p", "--programs", default="redis,lua,z3,gs,perl,python")
    ap.add_argument("-a", "--allocators", default="glibc,jemalloc,tcmalloc,mimalloc,gomem")
    ap.add_argument("-o", "--out", default=None, help="also write the table here")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    lib = args.lib or rb.find_gomem(os.path.join(HERE, "gmbench"))
    if not lib or not os.path.exists(lib):
        sys.exit("real-programs: no libgomem.so (build lib/ or pass -l)")
    libs = {}
    for a in args.allocators.split(","):
        if a == rb.SUBJECT:
            libs[a] = os.path.abspath(lib)
        elif a in rb.PEERS:
            if rb.PEERS[a] and not os.path.exists(rb.PEERS[a]):
                print("real-programs: %s not installed (%s), left out" % (a, rb.PEER_PACKAGES[a]),
                      file=sys.stderr)
                continue
            libs[a] = rb.PEERS[a]
        else:
            sys.exit("real-programs: unknown allocator %s" % a)
    allocs = list(libs)
    tmp = tempfile.mkdtemp(prefix="gomem-real-")
    try:
        progs = Progs(tmp)
        names = []
        for p in args.programs.split(","):
            if progs.cmds.get(p):
                names.append(p)
            else:
                print("real-programs: %s not installed, left out" % p, file=sys.stderr)
        res = {(p, a): [] for p in names for a in allocs}
        errs = {}
        for r in range(args.rounds):
            order = allocs[r % len(allocs):] + allocs[:r % len(allocs)]
            for p in names:
                for a in order:
                    if p == "redis" and a == "glibc":
                        continue
                    v = progs.run(p, libs[a], args.timeout)
                    if isinstance(v, str):
                        errs[(p, a)] = v
                    else:
                        res[(p, a)].append(v)
                    print("round %d %s %s: %s" % (r + 1, p, a, v if isinstance(v, str)
                                                  else "cpu %.3f s rss %d KiB" % v),
                          file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = ["Median CPU s / peak RSS MiB, %d rounds; %s." % (args.rounds, rb.cpu_model()), "",
             "| program | " + " | ".join(allocs) + " | gomem/best time | gomem/best rss |",
             "|---|" + "---|" * (len(allocs) + 2)]
    ratios, rratios = [], []
    for p in names:
        cells, t, m = [], {}, {}
        for a in allocs:
            v = res[(p, a)]
            if (p, a) in errs:
                cells.append("**%s**" % errs[(p, a)][:40])
            elif not v:
                cells.append("-")
            else:
                t[a] = statistics.median(x[0] for x in v)
                m[a] = statistics.median(x[1] for x in v) / 1024
                cells.append("%.3f / %.1f" % (t[a], m[a]))
        peers = [a for a in t if a != rb.SUBJECT]
        tr = rr = None
        if rb.SUBJECT in t and peers:
            tr = t[rb.SUBJECT] / min(t[a] for a in peers)
            rr = m[rb.SUBJECT] / min(m[a] for a in peers)
            ratios.append(tr)
            rratios.append(rr)
        lines.append("| %s | %s | %s | %s |" % (p, " | ".join(cells), rb.fnum(tr, "%.2f"),
                                                rb.fnum(rr, "%.2f")))
    lines += ["", "geomean gomem/best peer over %d programs: time %s, rss %s" % (
        len(ratios), rb.fnum(rb.geomean(ratios)), rb.fnum(rb.geomean(rratios)))]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
