#!/usr/bin/env python3
"""Run gmbench workloads under several allocators and tabulate medians.

Every repetition runs every workload under every allocator, round-robin
(the allocator order rotates from one repetition to the next), so slow
drift on a shared machine hits all allocators alike.  Speed is reported
only as medians and as ratios between allocators measured in the same
run.  The table is Markdown, fit to paste into an issue note, and goes to
stdout and to --out.

Standard library only.
"""

import argparse
import glob
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = {
    "glibc": None,
    "jemalloc": os.path.join(LIBDIR, "libjemalloc.so.2"),
    "tcmalloc": os.path.join(LIBDIR, "libtcmalloc_minimal.so.4"),
    "mimalloc": os.path.join(LIBDIR, "libmimalloc.so.2"),
}
PEER_PACKAGES = {
    "glibc": "libc6",
    "jemalloc": "libjemalloc2",
    "tcmalloc": "libtcmalloc-minimal4",
    "mimalloc": "libmimalloc2.0",
}
SUBJECT = "gomem"
SPEED = ["churn", "churn-mt", "prodcons", "larson", "large", "realloc",
         "aligned", "falseshare", "reuse", "tiny", "counted", "xfree", "cachescratch",
         "pair8", "calloc8k", "calloc1m", "calloc1m-touch", "vecgrow",
         "vecgrow-touch", "grow4k", "strgrow"]
MEMORY = ["spike", "frag"]


def find_gomem(gmbench):
    """The built libgomem.so: next to this build tree, else /tmp/build-*."""
    here = os.path.dirname(os.path.abspath(gmbench))
    cands = [os.path.join(here, "..", "lib", ".libs", "libgomem.so")]
    cands += sorted(glob.glob("/tmp/build-*/lib/.libs/libgomem.so"),
                    key=lambda p: -os.path.getmtime(p))
    for c in cands:
        if os.path.exists(c):
            return os.path.normpath(c)
    return None


def parse(out):
    for line in out.splitlines():
        if line.startswith("GMBENCH "):
            kv = {}
            for tok in line.split()[1:]:
                k, _, v = tok.partition("=")
                kv[k] = v
            return kv
    return None


def run_one(gmbench, lib, workload, args):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    cmd = [gmbench] + (["--quick"] if args.quick else [])
    if args.scale != 1.0:
        cmd += ["--scale", str(args.scale)]
    cmd.append(workload)
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    err = p.stderr.strip().splitlines()
    if p.returncode < 0:
        try:
            name = signal.Signals(-p.returncode).name
        except ValueError:
            name = "signal %d" % -p.returncode
        return {"error": "crash " + name, "stderr": err[-1:] }
    kv = parse(p.stdout)
    if p.returncode != 0 or kv is None:
        return {"error": "exit %d" % p.returncode, "stderr": err[-1:]}
    kv["stderr"] = err
    return kv


def med(vals):
    return statistics.median(vals) if vals else None


def fnum(v, fmt="%.3f"):
    return "-" if v is None else fmt % v


def mib(kib):
    return None if kib is None else kib / 1024.0


def geomean(vals):
    vals = [v for v in vals if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def pkg_version(pkg):
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--gmbench", default=None,
                    help="gmbench binary (default: ./gmbench, else next to this script)")
    ap.add_argument("--lib", default=None,
                    help="libgomem.so to preload as 'gomem' (default: search build dirs)")
    ap.add_argument("--allocators", default="glibc,jemalloc,tcmalloc,mimalloc,gomem")
    ap.add_argument("--workloads", default=",".join(SPEED + MEMORY))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="pass --quick to gmbench (short waits, fewer iterations)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", default="bench-results.txt")
    args = ap.parse_args()

    gmbench = args.gmbench
    if gmbench is None:
        gmbench = "./gmbench" if os.path.exists("./gmbench") else os.path.join(here, "gmbench")
    if not os.access(gmbench, os.X_OK):
        sys.exit("run-bench: no gmbench binary at %s (build it: make -C bench gmbench)" % gmbench)
    gmbench = os.path.abspath(gmbench)

    libs = {}
    notes = []
    for a in args.allocators.split(","):
        a = a.strip()
        if not a:
            continue
        if a == SUBJECT:
            lib = args.lib or find_gomem(gmbench)
            if lib is None or not os.path.exists(lib):
                notes.append("gomem: no libgomem.so found (give --lib); column skipped")
                continue
            libs[a] = os.path.abspath(lib)
        elif a in PEERS:
            lib = PEERS[a]
            if lib is not None and not os.path.exists(lib):
                notes.append("%s: %s missing; column skipped" % (a, lib))
                continue
            libs[a] = lib
        else:
            sys.exit("run-bench: unknown allocator %s" % a)
    allocs = list(libs)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    peers = [a for a in allocs if a != SUBJECT] or allocs

    results = {(w, a): [] for w in workloads for a in allocs}
    total = args.reps * len(workloads) * len(allocs)
    done = 0
    t_start = time.time()
    for rep in range(args.reps):
        order = allocs[rep % len(allocs):] + allocs[:rep % len(allocs)]
        for w in workloads:
            for a in order:
                r = run_one(gmbench, libs[a], w, args)
                results[(w, a)].append(r)
                done += 1
                status = r.get("error") or "%ss" % r.get("elapsed_s")
                print("[%d/%d] rep %d %-10s %-9s %s" % (done, total, rep + 1, w, a, status),
                      file=sys.stderr, flush=True)

    out = []
    P = out.append
    P("## gmbench results")
    P("")
    P("- host: %s, %d CPUs, kernel %s, %s" % (cpu_model(), os.cpu_count() or 0,
                                              platform.release(), time.strftime("%Y-%m-%d %H:%M %Z")))
    P("- %d repetitions, interleaved round-robin over allocators; medians shown%s%s" % (
        args.reps, "; --quick" if args.quick else "",
        "; --scale %g" % args.scale if args.scale != 1.0 else ""))
    vers = []
    for a in allocs:
        if a == SUBJECT:
            vers.append("gomem=%s" % libs[a])
        else:
            vers.append("%s %s" % (a, pkg_version(PEER_PACKAGES[a])))
    P("- allocators: " + ", ".join(vers))
    P("- wall time of this run: %.0f s" % (time.time() - t_start))
    P("")

    def stats(w, a):
        ok = [r for r in results[(w, a)] if "error" not in r]
        errs = [r["error"] for r in results[(w, a)] if "error" in r]
        return ok, errs

    def mfield(ok, key):
        vals = [float(r[key]) for r in ok if key in r and r[key] not in ("", "-1")]
        return med(vals)

    # Speed table.
    times, cpus = {}, {}
    for w in workloads:
        for a in allocs:
            ok, _ = stats(w, a)
            times[(w, a)] = mfield(ok, "elapsed_s")
            cpus[(w, a)] = mfield(ok, "cpu_s")
    speed_w = [w for w in workloads if w not in MEMORY]
    if speed_w:
        P("### Speed (median elapsed seconds; ratio >1 is slower)")
        P("")
        P("| workload | allocator | median s | min s | spread | x fastest peer | x glibc | CPU s | CPU x best peer | peak RSS MiB | ok |")
        P("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for w in speed_w:
            peer_t = [times[(w, a)] for a in peers if times[(w, a)] is not None]
            best = min(peer_t) if peer_t else None
            peer_c = [cpus[(w, a)] for a in peers if cpus[(w, a)]]
            best_c = min(peer_c) if peer_c else None
            g = times.get((w, "glibc"))
            for a in allocs:
                ok, errs = stats(w, a)
                t = times[(w, a)]
                if t is None:
                    P("| %s | %s | %s | | | | | | | | 0/%d |" % (
                        w, a, "FAILED: " + ", ".join(sorted(set(errs))), len(results[(w, a)])))
                    continue
                el = [float(r["elapsed_s"]) for r in ok]
                spread = (max(el) - min(el)) / t * 100 if t > 0 else 0
                c = cpus[(w, a)]
                P("| %s | %s | %.3f | %.3f | %.0f%% | %s | %s | %s | %s | %s | %d/%d%s |" % (
                    w, a, t, min(el), spread,
                    fnum(t / best if best else None, "%.2f"),
                    fnum(t / g if g else None, "%.2f"),
                    fnum(c), fnum(c / best_c if c and best_c else None, "%.2f"),
                    fnum(mib(mfield(ok, "peak_rss_kib")), "%.1f"),
                    len(ok), len(results[(w, a)]),
                    (" " + ",".join(sorted(set(errs)))) if errs else ""))
        P("")
        P("### Speed summary (ratio to glibc; geometric mean over the speed workloads)")
        P("")
        P("| workload | " + " | ".join(allocs) + " |")
        P("|---|" + "---:|" * len(allocs))
        for w in speed_w:
            g = times.get((w, "glibc"))
            cells = []
            for a in allocs:
                t = times[(w, a)]
                if t is None:
                    cells.append("FAIL")
                elif g:
                    cells.append("%.2f" % (t / g))
                else:
                    cells.append("%.3fs" % t)
            P("| %s | %s |" % (w, " | ".join(cells)))
        gm_g, gm_b, gm_c = [], [], []
        for a in allocs:
            rg, rb, rc = [], [], []
            for w in speed_w:
                t, g = times[(w, a)], times.get((w, "glibc"))
                peer_t = [times[(w, p)] for p in peers if times[(w, p)] is not None]
                if t is not None and g:
                    rg.append(t / g)
                if t is not None and peer_t:
                    rb.append(t / min(peer_t))
                c = cpus[(w, a)]
                peer_c = [cpus[(w, p)] for p in peers if cpus[(w, p)]]
                if c and peer_c:
                    rc.append(c / min(peer_c))
            n_ok = len(rb)
            suffix = "" if n_ok == len(speed_w) else " (%d/%d)" % (n_ok, len(speed_w))
            v = geomean(rg)
            gm_g.append((fnum(v, "%.2f") if "glibc" in allocs else "-") + suffix)
            gm_b.append(fnum(geomean(rb), "%.2f") + suffix)
            gm_c.append(fnum(geomean(rc), "%.2f"))
        P("| **geomean x glibc** | " + " | ".join(gm_g) + " |")
        P("| **geomean x fastest peer** | " + " | ".join(gm_b) + " |")
        P("| **CPU time: geomean x best peer** | " + " | ".join(gm_c) + " |")
        P("")

    # Memory table.
    mem_w = [w for w in workloads if w in MEMORY]
    if mem_w:
        quick = args.quick
        tk = ["rss_t0_kib", "rss_t0.2_kib", "rss_t0.5_kib"] if quick else \
             ["rss_t0_kib", "rss_t1_kib", "rss_t5_kib"]
        tl = ["RSS 0 s", "RSS 0.2 s", "RSS 0.5 s"] if quick else ["RSS 0 s", "RSS 1 s", "RSS 5 s"]
        P("### Memory (MiB, medians; RSS sampled after the last free / allocation)")
        P("")
        P("| workload | allocator | live | peak RSS | peak/live | %s | %s | %s | %s/live | phase s | ok |"
          % (tl[0], tl[1], tl[2], tl[1]))
        P("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for w in mem_w:
            for a in allocs:
                ok, errs = stats(w, a)
                if not ok:
                    P("| %s | %s | FAILED: %s | | | | | | | | 0/%d |" % (
                        w, a, ", ".join(sorted(set(errs))), len(results[(w, a)])))
                    continue
                live = mib(mfield(ok, "live_kib"))
                peak = mib(mfield(ok, "peak_rss_kib"))
                rs = [mib(mfield(ok, k)) for k in tk]
                if w == "frag":
                    pl = peak / live if peak and live else None
                else:
                    # spike's live set is tiny; its peak is the spike itself.
                    pl = None
                P("| %s | %s | %.1f | %.1f | %s | %s | %s | %s | %s | %.3f | %d/%d |" % (
                    w, a, live or 0, peak or 0, fnum(pl, "%.2f"),
                    fnum(rs[0], "%.1f"), fnum(rs[1], "%.1f"), fnum(rs[2], "%.1f"),
                    fnum(rs[1] / live if rs[1] and live else None, "%.1f"),
                    times[(w, a)] or 0, len(ok), len(results[(w, a)])))
        P("")
        P("spike: ~1 GiB of 16..4096 B objects, all but a random 1% freed; DESIGN.md wants "
          "RSS within 10% of live (+ a few MiB) by 1 s. frag: peak/live is the fragmentation "
          "figure. 'phase s' is the allocation/free phase time, waits excluded.")
        P("")

    # Notes: misalignment, content errors, stderr lines, failures.
    for w in workloads:
        for a in allocs:
            ok, errs = stats(w, a)
            if w == "aligned":
                mis = [int(r.get("misaligned", "0")) for r in ok]
                if any(mis):
                    mx = max(int(r.get("misaligned_max_align", "0")) for r in ok)
                    notes.append("aligned/%s: %d misaligned blocks per run (median of %d runs; "
                                 "largest alignment missed %d) -- allocator bug, counted not fatal"
                                 % (a, med(mis), len(ok), mx))
            ce = [int(r.get("content_errors", "0")) for r in ok]
            if any(ce):
                notes.append("%s/%s: realloc lost contents in %d places" % (w, a, max(ce)))
            if errs:
                first = next(r for r in results[(w, a)] if "error" in r)
                notes.append("%s/%s: %d of %d runs failed (%s)%s" % (
                    w, a, len(errs), len(results[(w, a)]), ", ".join(sorted(set(errs))),
                    ": " + first["stderr"][0] if first.get("stderr") else ""))
    if notes:
        P("### Notes")
        P("")
        for n in notes:
            P("- " + n)
        P("")

    text = "\n".join(out)
    print(text)
    try:
        with open(args.out, "w") as f:
            f.write(text + "\n")
        print("(written to %s)" % os.path.abspath(args.out), file=sys.stderr)
    except OSError as e:
        print("run-bench: cannot write %s: %s" % (args.out, e), file=sys.stderr)
    # Failures are reported in the table; they are not the driver's failure.
    return 0


if __name__ == "__main__":
    sys.exit(main())
