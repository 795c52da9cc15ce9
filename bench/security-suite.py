#!/usr/bin/env python3
"""Run mimalloc-bench's security tests (bench/security, from GrapheneOS's
hardened_malloc) under glibc, jemalloc, tcmalloc, mimalloc and libgomem.

  bench/security-suite.py [-l LIBGOMEM] [-o OUTDIR] [-a ALLOCATORS] [-n] DIR

DIR is a checkout of mimalloc-bench (it holds bench/security/*.c).  Nothing
from it is copied into this tree.  Each C test that takes ALLOCATION_SIZE is
built three times, as the suite's CMakeLists does (_small 8 B, _medium 4096 B,
_large 256 KiB), the others once; C++ tests once at 4096 B.  -n: do not
rebuild (use OUTDIR/bin).

Each test does one bad thing (a double free, an invalid free, an overflow, a
use after free...) and prints NOT_CAUGHT if it is still running afterwards.
A run is "caught" when the process stops (a signal, or an exit status other
than 0) without printing NOT_CAUGHT, or exits 0 without printing it (tests of
a property, such as zero_on_malloc); "missed" when it prints NOT_CAUGHT;
"hung" after 10 s.  The suite's own README says what such results are worth:
a missed test is not a hole an attacker can use, nor a caught one a defence.

Output: OUTDIR/runs.tsv (test, allocator, exit status, verdict, the last line
of stderr), then a Markdown table of every test, the tests libgomem misses
and a peer catches, and each allocator's count of caught tests.
"""

import argparse
import os
import re
import resource
import subprocess
import sys

ALLOCATORS = ["glibc", "jemalloc", "tcmalloc", "mimalloc", "gomem"]
PEER_LIBS = {
    "glibc": None,
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
}
# The suite's CMakeLists: its three sizes, and its flags, which keep the
# compiler from seeing through the bad operation.
SIZES = [("small", "8"), ("medium", "4096"), ("large", "256*1024")]
CFLAGS = ["-O0", "-Wno-free-nonheap-object", "-fno-inline", "-fno-builtin-inline",
          "-fno-inline-small-functions"]
CXXFLAGS = ["-O0", "-std=c++17", "-fsized-deallocation", "-DALLOCATION_SIZE=4096"]
TIMEOUT = 10


def die(msg):
    print("security-suite: " + msg, file=sys.stderr)
    sys.exit(2)


def find_gomem(lib):
    if lib:
        return os.path.abspath(lib)
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.environ.get("GOMEM_BUILD", os.path.join(here, "..", "_build"))
    for cand in (os.path.join(build, "lib/.libs/libgomem.so.0"),
                 os.path.join(here, "../lib/.libs/libgomem.so.0")):
        if os.path.exists(cand):
            return os.path.abspath(cand)
    die("no libgomem found: build it, or give -l")


def build(src, bindir):
    """Compile every test into bindir; the names of the programs built."""
    os.makedirs(bindir, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    cxx = os.environ.get("CXX", "c++")
    jobs = []
    for f in sorted(os.listdir(src)):
        path = os.path.join(src, f)
        stem, ext = os.path.splitext(f)
        if ext == ".c":
            with open(path, errors="replace") as fh:
                text = fh.read()
            # common.h stops the build without a size
            sized = "ALLOCATION_SIZE" in text or '"common.h"' in text
            if sized:
                for suffix, size in SIZES:
                    jobs.append((stem + "_" + suffix,
                                 [cc] + CFLAGS + ["-DALLOCATION_SIZE=" + size, path]))
            else:
                jobs.append((stem, [cc] + CFLAGS + [path]))
        elif ext == ".cc":
            jobs.append((stem, [cxx] + CXXFLAGS + [path]))
    built = []
    for name, cmd in jobs:
        if name in built:
            # an older test of the same name (one_byte_underflow_small.c
            # beside one_byte_underflow.c's _small): the first one stands
            print("security-suite: skip %s: %s built already" % (cmd[-1], name), file=sys.stderr)
            continue
        out = os.path.join(bindir, name)
        r = subprocess.run(cmd + ["-o", out], capture_output=True, text=True)
        if r.returncode != 0:
            with open(out + ".log", "w") as fh:
                fh.write(r.stderr)
            print("security-suite: build of %s failed (see %s.log)" % (name, out),
                  file=sys.stderr)
            continue
        built.append(name)
    return built


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_one(prog, lib, cwd):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    try:
        r = subprocess.run([prog], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT, preexec_fn=no_core)
    except subprocess.TimeoutExpired:
        return "hung", "timeout", ""
    out = r.stdout.decode(errors="replace")
    err = [l for l in r.stderr.decode(errors="replace").splitlines() if l.strip()]
    last = err[-1][:160] if err else ""
    verdict = "missed" if "NOT_CAUGHT" in out else "caught"
    status = ("signal %d" % -r.returncode) if r.returncode < 0 else "exit %d" % r.returncode
    return verdict, status, last


def cell(verdict, status):
    if verdict != "caught":
        return "**" + verdict + "**" if verdict == "hung" else "-"
    if status.startswith("signal"):
        return {6: "abort", 11: "segv", 7: "bus"}.get(int(status.split()[1]), status)
    return "yes" if status == "exit 0" else status


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-l", dest="lib", help="libgomem.so to preload")
    ap.add_argument("-o", dest="out", default="security-suite-out")
    ap.add_argument("-a", dest="allocs", default=" ".join(ALLOCATORS))
    ap.add_argument("-n", dest="nobuild", action="store_true")
    ap.add_argument("dir")
    args = ap.parse_args()

    src = os.path.join(args.dir, "bench", "security")
    if not os.path.isdir(src):
        die("%s has no bench/security directory" % args.dir)
    allocs = args.allocs.split()
    libs = {}
    for a in allocs:
        if a == "gomem":
            libs[a] = find_gomem(args.lib)
        elif a in PEER_LIBS:
            libs[a] = PEER_LIBS[a]
        else:
            die("unknown allocator " + a)
        if libs[a] and not os.path.exists(libs[a]):
            die("%s: %s not found" % (a, libs[a]))
    out = os.path.abspath(args.out)
    bindir = os.path.join(out, "bin")
    if args.nobuild:
        progs = sorted(f for f in os.listdir(bindir)
                       if os.access(os.path.join(bindir, f), os.X_OK) and "." not in f)
    else:
        progs = build(src, bindir)
    if not progs:
        die("no test built")

    results = {}
    with open(os.path.join(out, "runs.tsv"), "w") as tsv:
        tsv.write("test\tallocator\tstatus\tverdict\tstderr\n")
        for p in progs:
            for a in allocs:
                verdict, status, last = run_one(os.path.join(bindir, p), libs[a], out)
                results[(p, a)] = (verdict, status, last)
                tsv.write("\t".join([p, a, status, verdict, re.sub(r"\s+", " ", last)]) + "\n")

    print("| test | " + " | ".join(allocs) + " |")
    print("|---|" + "---|" * len(allocs))
    for p in progs:
        print("| %s | %s |" % (p, " | ".join(cell(*results[(p, a)][:2]) for a in allocs)))
    if "gomem" in allocs:
        print("\nMissed by gomem, caught by a peer:\n")
        for p in progs:
            if results[(p, "gomem")][0] != "caught":
                by = [a for a in allocs if a != "gomem" and results[(p, a)][0] == "caught"]
                if by:
                    print("- %s (caught by %s)" % (p, ", ".join(by)))
    print("\n| allocator | caught | missed | hung |")
    print("|---|---:|---:|---:|")
    for a in allocs:
        v = [results[(p, a)][0] for p in progs]
        print("| %s | %d | %d | %d |" % (a, v.count("caught"), v.count("missed"), v.count("hung")))
    print("\nsecurity-suite: %d tests, %d allocators" % (len(progs), len(allocs)))


if __name__ == "__main__":
    main()
