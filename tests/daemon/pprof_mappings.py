#!/usr/bin/env python3
"""pprof_mappings.py PROFILE.pb.gz: every Location names a Mapping the
profile has (profile.proto: Location.mapping_id, 0 only "if the mapping is
unknown"; Go's runtime/pprof fakes a mapping rather than leave it so).

Reads the protobuf wire format itself, from the .proto field numbers, so the
check does not go through a client that repairs what it reads (go tool
pprof gives a mapping-less location a fake mapping of its own).
"""
import gzip
import sys


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    """(field number, value) of one message: ints for varints, bytes else."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, v


def main(path):
    prof = gzip.open(path).read()
    mappings, locations = set(), []
    for num, v in fields(prof):
        if num == 3:  # Profile.mapping
            mappings.update(x for f, x in fields(v) if f == 1)
        elif num == 4:  # Profile.location
            f = dict(fields(v))
            locations.append((f.get(1, 0), f.get(2, 0)))
    bad = [(lid, m) for lid, m in locations if m == 0 or m not in mappings]
    print("%d mappings, %d locations, %d without a mapping the profile has"
          % (len(mappings), len(locations), len(bad)))
    return 0 if locations and not bad else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
