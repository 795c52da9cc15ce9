#!/usr/bin/env python3
"""sse_client.py BASE_PORT GOMEMD_PID PID_A PID_B: the /events checks.

- Clients that connect with a tiny receive buffer and never read must not
  stop a normal client from receiving events continuously.
- Headers: text/event-stream, Cache-Control: no-cache.
- ?pid=N filters; heartbeats (":") arrive about every 10 s.
- gomemd's threads and RSS stay bounded; past the client cap comes 503.
"""
import json
import socket
import sys
import time

port, daemon, pid_a, pid_b = (int(x) for x in sys.argv[1:5])
MAX_CLIENTS = 64


def status(pid):
    f = {}
    for line in open("/proc/%d/status" % pid):
        k, v = line.split(":", 1)
        f[k] = v.split()
    return int(f["Threads"][0]), int(f["VmRSS"][0]) * 1024


nconnect = 0


def connect(path, rcvbuf=None):
    # gomemd takes at most 4 streams per client address, and all of
    # loopback is one address; test-sse.sh runs it with --per-ip-limit 0,
    # which lifts that cap.  The clients still come from 127.0.0.2-21.
    global nconnect
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(15)
    s.bind(("127.0.0.%d" % (2 + nconnect % 20), 0))
    nconnect += 1
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n" % path).encode())
    return s


class Reader:
    """Incremental SSE parser over a chunked HTTP/1.1 response."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.head = None
        self.body = b""
        self.events = []     # (event, data)
        self.comments = 0

    def pump(self, until):
        while time.time() < until:
            self.s.settimeout(max(0.05, until - time.time()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                break
            if not d:
                raise SystemExit("FAIL: stream closed")
            self.buf += d
            self.parse()

    def parse(self):
        if self.head is None:
            if b"\r\n\r\n" not in self.buf:
                return
            self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        while True:   # de-chunk
            i = self.buf.find(b"\r\n")
            if i < 0:
                return
            n = int(self.buf[:i].split(b";")[0], 16)
            if len(self.buf) < i + 2 + n + 2:
                return
            self.body += self.buf[i + 2:i + 2 + n]
            self.buf = self.buf[i + 2 + n + 2:]
            while b"\n\n" in self.body:
                block, self.body = self.body.split(b"\n\n", 1)
                ev, data = None, None
                for line in block.split(b"\n"):
                    if line.startswith(b":"):
                        self.comments += 1
                    elif line.startswith(b"event: "):
                        ev = line[7:].decode()
                    elif line.startswith(b"data: "):
                        data = line[6:]
                if ev:
                    self.events.append((ev, json.loads(data)))


threads0, rss0 = status(daemon)

# Hostile clients: tiny buffers, never read.
stuck = [connect("/events", rcvbuf=1024) for _ in range(8)]

good = Reader(connect("/events"))
filt = Reader(connect("/events?pid=%d" % pid_a))
t_end = time.time() + 13
samples = []
per_second = []
while time.time() < t_end:
    n0 = len(good.events)
    good.pump(time.time() + 0.5)
    filt.pump(time.time() + 0.5)
    per_second.append(len(good.events) - n0)
    samples.append(status(daemon))

head = good.head.decode("latin-1").lower()
assert head.startswith("http/1.1 200"), head
assert "content-type: text/event-stream" in head, head
assert "cache-control: no-cache" in head, head

mem = [e for e in good.events if e[0] == "memstats"]
pids = {d["Pid"] for _, d in mem}
assert pid_a in pids and pid_b in pids, ("pids seen", pids)
# Continuous: events in (nearly) every second of the run, despite the stuck clients.
gaps = sum(1 for i in range(0, len(per_second) - 1, 2) if per_second[i] + per_second[i + 1] == 0)
assert len(mem) >= 16 and gaps <= 1, ("events", len(mem), "per half-second", per_second)
seqs = [d["MemStats"]["Extra"]["Seq"] for _, d in mem if d["Pid"] == pid_a]
assert seqs == sorted(seqs) and len(set(seqs)) >= 8, seqs
d = mem[-1][1]
assert len(d["MemStats"]["BySize"]) == 61 and "HeapAlloc" in d["MemStats"], d.keys()
assert good.comments >= 1, "no heartbeat in 13 s"

fpids = {d["Pid"] for _, d in filt.events}
assert fpids == {pid_a}, ("filtered stream carried", fpids)

threads1, rss1 = max(s[0] for s in samples), max(s[1] for s in samples)
assert threads1 <= threads0 + 2, ("threads grew", threads0, threads1)
# An ASan build keeps freed memory in quarantine (256 MiB by default).
asan = "libasan" in open("/proc/%d/maps" % daemon).read()
assert rss1 - rss0 < (288 if asan else 32) << 20, ("RSS grew", rss0, rss1)

# The client cap: fill the remaining slots, then one more gets 503.
extra = [connect("/events", rcvbuf=4096) for _ in range(MAX_CLIENTS - len(stuck) - 2)]


def sse_clients():
    m = socket.create_connection(("127.0.0.1", port), timeout=15)
    m.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    text = b""
    while True:
        chunk = m.recv(65536)
        if not chunk:
            break
        text += chunk
    m.close()
    for line in text.decode(errors="replace").splitlines():
        if line.startswith("gomemd_sse_clients "):
            return int(line.split()[1])
    return -1


# every slot taken (a slow build, e.g. under ThreadSanitizer, needs longer than a moment)
deadline = time.time() + 20
while sse_clients() < MAX_CLIENTS and time.time() < deadline:
    time.sleep(0.1)
over = connect("/events")
resp = b""
over.settimeout(5)
try:
    while b"\r\n\r\n" not in resp:
        chunk = over.recv(4096)
        if not chunk:
            break
        resp += chunk
except socket.timeout:
    pass
assert resp.startswith(b"HTTP/1.1 503"), resp[:80]
threads2, rss2 = status(daemon)
assert threads2 <= threads0 + 2, ("threads with %d clients" % MAX_CLIENTS, threads0, threads2)

print("ok: %d events in 13 s to a reading client beside %d stuck ones; %d heartbeats; "
      "filter ok; threads %d->%d, RSS %d->%d KiB; client %d refused with 503"
      % (len(mem), len(stuck), good.comments, threads0, max(threads1, threads2), rss0 >> 10,
         max(rss1, rss2) >> 10, MAX_CLIENTS + 1))
for s in stuck + extra + [over, good.s, filt.s]:
    s.close()
