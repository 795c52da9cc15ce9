#!/usr/bin/env python3
"""pprof_sites.py: check go tool pprof -top output for sites.c's workload.

    pprof_sites.py TOPFILE SAMPLE_INDEX MIB

TOPFILE is `go tool pprof -unit=MB -sample_index=SAMPLE_INDEX -top` output
for a sites.c process that allocated MIB MiB (6:3:1 over site_a, site_b,
site_c, half of each kept).  Passes when the three sites are ranked right and
each is within 10% of the truth (pprof's MB are MiB).
"""
import re
import sys

path, idx, mib = sys.argv[1], sys.argv[2], float(sys.argv[3])
truth = {"site_a": 0.6 * mib, "site_b": 0.3 * mib, "site_c": 0.1 * mib}
if idx == "inuse_space":
    truth = {k: v / 2 for k, v in truth.items()}
got = {}
for line in open(path):
    m = re.match(r"\s*([\d.]+)MB\s.*\s(site_[abc])\s*$", line)
    if m:
        got[m.group(2)] = float(m.group(1))
print(idx, "MiB", {k: round(v, 1) for k, v in sorted(got.items())},
      "truth", {k: round(v, 1) for k, v in sorted(truth.items())})
ok = set(got) == set(truth)
ok = ok and got["site_a"] > got["site_b"] > got["site_c"]
ok = ok and all(abs(got[k] / truth[k] - 1) < 0.10 for k in truth)
sys.exit(0 if ok else 1)
