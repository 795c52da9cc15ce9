"""alloc_heavy.py: an allocation-heavy, deterministic Python workload.

Run by preload_python.sh with PYTHONMALLOC=malloc (every object goes through
malloc/free) with and without libgomem preloaded; the output must be the
same.  With --gomem-version it instead prints gomem_version() called through
ctypes, which only works when libgomem is loaded into the interpreter.
"""
import sys


def gomem_version():
    import ctypes
    lib = ctypes.CDLL(None)
    fn = lib.gomem_version  # AttributeError when gomem is not loaded
    fn.restype = ctypes.c_char_p
    return fn().decode()


def main():
    import hashlib
    import json
    import queue
    import random
    import re
    import threading
    from collections import Counter, OrderedDict, defaultdict

    rng = random.Random(20240611)
    h = hashlib.sha256()

    def out(label, value):
        text = "%s: %s" % (label, value)
        h.update(text.encode())
        print(text)

    # Many small objects: tuples, dicts, strings, ints beyond the small-int cache.
    recs = [{"id": i, "name": "item-%d" % (i * 7919 % 100003), "tags": [str(i % 13), str(i % 17)],
             "v": i * 1000003} for i in range(60000)]
    recs.sort(key=lambda r: (r["name"], r["id"]))
    out("records", (len(recs), recs[0]["name"], recs[-1]["id"]))

    # JSON round trip of a big nested document.
    doc = {"rows": recs[:20000], "meta": OrderedDict((str(k), k * k) for k in range(5000))}
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    out("json", (len(text), hashlib.md5(text.encode()).hexdigest(), len(back["rows"])))
    del doc, back, text

    # Growing and shrinking containers (realloc paths).
    buf = bytearray()
    for i in range(100000):
        buf += bytes([i & 255]) * (i % 7)
        if i % 5000 == 0:
            del buf[: len(buf) // 3]
    out("bytearray", (len(buf), hashlib.sha1(buf).hexdigest()))
    lst = []
    for i in range(150000):
        lst.append(i)
        if i % 1000 == 999:
            del lst[::2]
    out("list", (len(lst), sum(lst)))

    # Strings: joins, splits, regexes.
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 12)))
             for _ in range(30000)]
    big = " ".join(words)
    cnt = Counter(re.findall(r"[aeiou][a-j]*", big))
    out("strings", (len(big), cnt.most_common(3)))
    d = defaultdict(list)
    for w in words:
        d[w[:2]].append(w[::-1])
    out("groups", (len(d), sum(len(v) for v in d.values())))

    # Large blocks (multi-MiB bytes objects, freed and reallocated).
    tot = 0
    for i in range(20):
        b = bytes(range(256)) * (4096 * (1 + i % 9))
        tot += len(b) + b[-1]
        b2 = b.replace(b"\x00", b"zz")
        tot += len(b2)
    out("large", tot)

    # Objects handed between threads: allocated in producers, freed in consumers.
    q = queue.Queue(maxsize=256)
    results = []
    lock = threading.Lock()

    def producer(seed):
        r = random.Random(seed)
        for i in range(8000):
            q.put([r.getrandbits(70) for _ in range(r.randint(1, 20))] + ["s" * r.randint(0, 300)])
        q.put(None)

    def consumer():
        total = 0  # integers: the sum cannot depend on which consumer got what
        n = 0
        while True:
            item = q.get()
            if item is None:
                break
            total += sum(x for x in item if isinstance(x, int)) + len(item[-1])
            n += 1
        with lock:
            results.append((n, total))

    ts = [threading.Thread(target=producer, args=(s,)) for s in range(3)]
    cs = [threading.Thread(target=consumer) for _ in range(3)]
    for t in ts + cs:
        t.start()
    for t in ts + cs:
        t.join()
    out("threads", (sum(n for n, _ in results), sum(t for _, t in results)))

    # A set/dict churn that frees as much as it allocates.
    s = set()
    for i in range(150000):
        s.add((i * 2654435761) % 1000003)
        if i % 3 == 0:
            s.discard((i * 40503) % 1000003)
    out("set", (len(s), sum(s) % 1000000007))

    print("digest:", h.hexdigest())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--gomem-version":
        print(gomem_version())
    else:
        main()
