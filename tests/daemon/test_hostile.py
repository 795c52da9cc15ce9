#!/usr/bin/env python3
"""gomemd against a hostile local user (issue 9's attacks, one check each).

gomemd runs as root; the attacker is uid 65534 (nobody), running its own
processes and HTTP clients.  Each attack below hung, leaked or was obeyed
before the fixes:

  fifo        a nobody process maps a libgomem copy, unlinks it and puts a
              FIFO at the path: POST attach must answer, /healthz too
  symlink     ... or a symlink to a root-only FIFO: never followed
  symbolise   the same FIFO under a sampled stack: collection keeps going
  detach      DELETE /processes/ROOTPID by nobody (TCP: 401, socket: 403),
              also with its own pid in ?pid=
  attach      POST /processes/ROOTPID/attach by nobody
  profile     root's heap profile to nobody (401/403); to its owner and to
              an authenticated client it is served; a root process's saved
              profile is not nobody's when nobody's process reuses its pid
  host        a foreign Host header (DNS rebinding): 421
  origin      a cross-origin POST: 403
  auth        wrong passwords from 12 loopback addresses: 401, counted, then 429
              (for that user only)
  slowloris   300 slow-header connections from 127.0.0.2-6: the unix
              socket answers within 2 s, TCP within 15 s
  httpfuzz    400 mutated requests: each answered once, or closed, in 3 s
              (a header that never ends, or a body: by the 5 s deadline)
  events      many non-reading /events clients: others still get a stream,
              and each stream's socket send buffer stays at 64 KiB
  lenient     %00, a NUL or a space in the target, two Host headers, no
              Host: 400 in JSON; over 64 query parameters or an 8 KiB target:
              414 at once; a kept-alive connection's next request has a
              deadline; 405's Allow; HEAD /events has no body
  loopback    80 idle connections from 20 loopback addresses: a user keeps
              a quarter of --per-ip-limit (the kernel names a loopback
              client's uid); another user still gets answers; all users
              but root together keep three quarters
  argv        a 2 MB argv echoed by /debug/vars: bounded
  listen      0.0.0.0 without a web config: refuses to start
  restart     a process mapping a deleted library is found after a restart
  watchdog    the main loop stopped: /healthz says 503 and why

Environment (set by hostile-test.sh): GOMEMD, LIBGOMEM, WORKLOAD.
Exit 0 pass, 1 fail, 77 skip.
"""
import base64
import concurrent.futures
import ctypes
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gmtest import (LOOPBACK_HOG, check, children, free_port, loopback_hog, open_peers,  # noqa: E402
                    maps_file, release, run, skip, wait_for)

GOMEMD = os.environ["GOMEMD"]
LIBGOMEM = os.path.realpath(os.environ["LIBGOMEM"])
WORKLOAD = os.environ["WORKLOAD"]
NOBODY = 65534
# bcrypt's published test vector: "U*U"
HASH = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
GOOD = "Basic " + base64.b64encode(b"alice:U*U").decode()
BAD = "Basic " + base64.b64encode(b"alice:wrong").decode()


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


# The shrinking process: maps argv[1]; then, once a line comes on stdin,
# for argv[2] s, over and over, truncates each FILE:KEEP that follows to
# KEEP bytes and writes the rest back.
SHRINKER = """
import mmap, os, sys, time
m = mmap.mmap(os.open(sys.argv[1], os.O_RDONLY), 0, prot=mmap.PROT_READ)
files = []
for a in sys.argv[3:]:
    path, keep = a.rsplit(":", 1)
    files.append((os.open(path, os.O_RDWR), int(keep), open(path, "rb").read()[int(keep):]))
print("ready", flush=True)
sys.stdin.readline()
end = time.time() + float(sys.argv[2])
while time.time() < end:
    time.sleep(0.0002)
    for fd, keep, tail in files:
        os.ftruncate(fd, keep)
        os.pwrite(fd, tail, keep)
"""


def loaded_end(path):
    """The end of an ELF64 file's last PT_LOAD: what ld.so maps of it."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    end = 0
    for i in range(phnum):
        ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if ptype == 1:
            end = max(end, off + filesz)
    return (end + 4095) // 4096 * 4096


def request(port=None, sock=None, method="GET", path="/", headers=None, timeout=10, source=None):
    """(status, headers dict, body bytes), or (None, {}, error text)."""
    try:
        c = UnixHTTP(sock, timeout) if sock else http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    except (OSError, http.client.HTTPException) as e:
        return None, {}, str(e).encode()


def raw(port, data, timeout=5):
    """Send data as is; what came back until the server closed (at most 64 KiB)."""
    out = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(data)
            while len(out) < 65536:
                b = s.recv(65536)
                if not b:
                    break
                out += b
    except OSError:
        pass
    return out


# Pieces of requests for http_fuzz(): routes, methods, versions, headers.
FUZZ_PATHS = [b"/memstats", b"/healthz", b"/metrics", b"/debug/vars", b"/debug/pprof/heap",
              b"/processes", b"/", b"/index.html", b"/app.js", b"/profile/top",
              b"/memstats?pid=1", b"/processes/1", b"/debug/pprof/", b"/no/such"]
FUZZ_METHODS = [b"GET", b"HEAD", b"POST", b"DELETE", b"PUT", b"OPTIONS", b"TRACE", b"GeT"]
FUZZ_VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b"", b"http/1.1"]
FUZZ_HEADERS = [b"Host: 127.0.0.1", b"Host: localhost", b"Host: evil.example", b"Host:",
                b"Connection: close", b"Connection: keep-alive", b"Content-Length: 5",
                b"Content-Length: 0", b"Transfer-Encoding: chunked", b"Accept: */*",
                b"Origin: http://evil.example", b"Sec-Fetch-Site: cross-site",
                b"Authorization: Basic Zm9vOmJhcg==", b"Range: bytes=0-10", b"Expect: 100-continue",
                b"X-Long: " + b"a" * 5000, b"Cookie: a=b; c", b"Accept-Encoding: gzip"]


def fuzz_request(rnd):
    """One request from the pieces above, often mutated, sometimes with
    hundreds or thousands of query parameters."""
    path = rnd.choice(FUZZ_PATHS)
    if rnd.random() < 0.3:
        n = rnd.choice((rnd.randint(0, 100), rnd.randint(60, 70), rnd.randint(500, 3000)))
        path += b"?" + b"&".join(b"k%d=%d" % (i, i) for i in range(n))
    head = [rnd.choice(FUZZ_METHODS) + b" " + path + b" " + rnd.choice(FUZZ_VERSIONS)]
    head += [rnd.choice(FUZZ_HEADERS) for _ in range(rnd.randint(0, 6))]
    req = bytearray(b"\r\n".join(head) + b"\r\n\r\n")
    for _ in range(rnd.randint(0, 3) if rnd.random() < 0.7 else 0):
        i = rnd.randrange(len(req))
        op = rnd.randrange(4)
        if op == 0:
            req[i] = rnd.randrange(256)
        elif op == 1:
            del req[i]
        elif op == 2:
            req[i:i] = bytes([rnd.choice(b"?&=%/ \t\r\n:\x00\x7f\xff")])
        else:
            req[i:i] = req[i:i + rnd.randint(1, 40)] * rnd.randint(1, 50)
    if rnd.random() < 0.2:
        req += b"hello"
    return bytes(req)


def http_fuzz(port, sockpath, count, seed):
    """Send count fuzzed requests, alternately over TCP and the socket,
    each followed by the end of the client's side; what went wrong, as
    strings.  An exchange must end (an answer, or a close) within 3 s, or
    by the request deadline (5 s, swept each second; 9 s allowed under a
    slow build) if the header never
    ended or a body may follow it (libmicrohttpd waits out a half-closed
    connection there, a chunked body until its idle timeout); an answer must be
    an HTTP/1.1 status line and a header, and its body (by its
    Content-Length) no second status line and header.  The one exception is
    libmicrohttpd 0.9.75's: a malformed Content-Length (trailing blanks
    included) gets exactly that (gomemd(8)).  A request that starts with a
    NUL is an empty line to libmicrohttpd, which then waits for a request
    line: it may wait for the deadline too."""
    rnd = random.Random(seed)
    bad_length = re.compile(rb"(?im)^content-length:(?![ \t]*[0-9]+\r?$)")
    reqs = [fuzz_request(rnd) for _ in range(count)]

    def exchange(k):
        req = reqs[k]
        s = socket.socket(socket.AF_UNIX if k % 2 else socket.AF_INET)
        s.settimeout(10)
        t0 = time.monotonic()
        out = b""
        try:
            s.connect(sockpath if k % 2 else ("127.0.0.1", port))
        except OSError as e:
            s.close()
            return "%r -> connect: %s" % (req[:120], e)
        try:
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
            while b"text/event-stream" not in out:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except OSError as e:
            if isinstance(e, socket.timeout):
                out += b" (timed out)"
        finally:
            s.close()
        took = time.monotonic() - t0
        # the first answer's body: a second status line there is MHD's
        # doubled header (a second answer after it, to bytes sent after the
        # request, is pipelining)
        final = out
        while final.startswith(b"HTTP/1.1 100 "):  # interim answers to Expect
            final = final.partition(b"\r\n\r\n")[2]
        head, _, rest = final.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *([0-9]+)", head)
        doubled = rest[:int(length.group(1)) if length else len(rest)].startswith(b"HTTP/1.")
        ended = ((b"\r\n\r\n" in req or b"\n\n" in req) and not req.startswith(b"\x00") and
                 not re.search(rb"(?i)content-length|transfer-encoding", req))
        if (took > (3 if ended else 9) or
                (out and not re.match(rb"HTTP/1\.1 [1-5][0-9][0-9] ", out)) or
                (doubled and not bad_length.search(req))):
            return "%r -> %.1f s, %r" % (req[:120], took, out[:80])
        return None

    # four at a time: a request that never ends waits out the deadline
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(exchange, range(count)) if p is not None]
    return problems


def as_nobody(argv, uid=NOBODY):
    """Run argv as uid/gid 65534 (or uid) with no capabilities."""
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all"] + argv


NOBODY_CLIENT = r'''
import http.client, socket, sys
class U(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.settimeout(10); self.sock.connect(sys.argv[1])
c = U("localhost", timeout=10)
c.request(sys.argv[2], sys.argv[3])
r = c.getresponse(); r.read(); print(r.status)
'''


# A user's share of the unix socket: NSTREAMS /events requests (their
# status codes, "closed" if refused), then SETTLE s (default 1) later NIDLE
# connections that send nothing (how many are still open SETTLE s after;
# the request deadline drops them 5 s after they open), then holds
# everything until stdin closes.
NOBODY_HOG = r'''
import socket, sys, time
path, nstreams, nidle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
settle = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
streams, codes = [], []
for i in range(nstreams):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
    try:
        s.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reply = s.recv(64)
    except OSError:
        reply = b""
    codes.append(reply.split(b" ")[1].decode() if reply else "closed")
    streams.append(s)
time.sleep(settle)
idle = []
for i in range(nidle):
    s = socket.socket(socket.AF_UNIX); s.connect(path); idle.append(s)
time.sleep(settle)
kept = 0
for s in idle:
    s.setblocking(False)
    try:
        kept += s.recv(1) != b""
    except BlockingIOError:
        kept += 1
    except OSError:
        pass
print(",".join(codes), kept, flush=True)
sys.stdin.read()
'''


# One GET over loopback TCP (with an Authorization header if given): its status.
TCP_GET = r'''
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", sys.argv[2], headers={"Authorization": sys.argv[3]} if len(sys.argv) > 3 else {})
r = c.getresponse(); r.read(); print(r.status)
'''


def stream_start(sockpath):
    """The first bytes of an /events stream over the socket; b"" if refused."""
    try:
        c = UnixHTTP(sockpath, 5)
        c.request("GET", "/events")
        r = c.getresponse()
        return r.read1(4096) if r.status == 200 else b""
    except (OSError, http.client.HTTPException):
        return b""


def nobody_over_socket(sockpath, method, path, uid=NOBODY):
    r = subprocess.run(as_nobody([sys.executable, "-c", NOBODY_CLIENT, sockpath, method, path], uid),
                       capture_output=True, text=True, timeout=30)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return "error: " + (r.stderr.strip().splitlines() or ["?"])[-1]


def metric(port, name):
    st, _, body = request(port, path="/metrics")
    total = 0.0
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Daemon:
    def __init__(self, tmp, args, name="gomemd"):
        self.port = free_port()
        self.sock = os.path.join(tmp, name + ".sock")
        self.logpath = os.path.join(tmp, name + ".log")
        self.log = open(self.logpath, "w+")
        self.argv = [GOMEMD, "--listen", "127.0.0.1:%d" % self.port, "--socket", self.sock,
                     "--library", LIBGOMEM, "--profile", "--grace", "2"] + args
        self.p = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        children.append(self.p)

    def up(self):
        return wait_for(lambda: self.p.poll() is None and
                        request(self.port, path="/healthz", timeout=2)[0] == 200, 15)

    def text(self):
        self.log.flush()
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return None


def nobody_workload(tmp, name, env_extra=None, argv=None, uid=NOBODY):
    """A nobody-owned (or uid's) process with a private copy of libgomem preloaded."""
    d = os.path.join(tmp, name)
    os.mkdir(d)
    os.chown(d, uid, uid)
    lib = os.path.join(d, "libgomem.so.0")
    shutil.copy(LIBGOMEM, lib)
    os.chown(lib, uid, uid)
    env = dict(os.environ, GOMEM_STATS_INTERVAL_MS="50", GOMEM_PROFILE_RATE="4096")
    env.update(env_extra or {})
    # preloaded after the uid change: setpriv itself must not run with the copy
    p = subprocess.Popen(as_nobody(["env", "LD_PRELOAD=" + lib] +
                                   (argv or [WORKLOAD, os.path.join(d, "out.txt"),
                                             "64x20000,4096x2000,100000x20"]), uid), env=env)
    children.append(p)
    return p, d, lib


def main():
    if os.geteuid() != 0:
        skip("needs root (gomemd with BPF; attackers as uid 65534)")
    for tool in ("setpriv",):
        if not shutil.which(tool):
            skip(tool + " not found")
    for f in ("/sys/kernel/btf/vmlinux", "/sys/bus/event_source/devices/uprobe/type"):
        if not os.path.exists(f):
            skip("kernel lacks " + f)
    tmp = tempfile.mkdtemp(prefix="gomemd-hostile.")
    os.chmod(tmp, 0o755)
    web = os.path.join(tmp, "web.yml")
    bob_pw = base64.b64encode(os.urandom(9)).decode()
    r = subprocess.run([GOMEMD, "--hash-password"], input=bob_pw + "\n", capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0 and r.stdout.startswith("$2b$10$") and len(r.stdout.strip()) == 60,
          "gomemd --hash-password prints a bcrypt hash (%s)" % r.stdout.strip()[:7])
    with open(web, "w") as f:
        f.write("basic_auth_users:\n  alice: %s\n  bob: %s\n" % (HASH, r.stdout.strip()))

    # listen: 0.0.0.0 without a web config refuses to start, naming the fix
    r = subprocess.run([GOMEMD, "--listen", "0.0.0.0:%d" % free_port(), "--library", LIBGOMEM],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "--web-config" in r.stderr,
          "listen: 0.0.0.0 without TLS and auth refuses to start (rc %s: %s)"
          % (r.returncode, r.stderr.strip().splitlines()[-1:] or ""))

    # the victim: a root process with libgomem
    root_out = os.path.join(tmp, "root.txt")
    victim = subprocess.Popen([WORKLOAD, root_out, "64x20000,4096x2000"],
                              env=dict(os.environ, LD_PRELOAD=LIBGOMEM, GOMEM_STATS_INTERVAL_MS="50",
                                       GOMEM_PROFILE_RATE="4096"))
    children.append(victim)
    state = os.path.join(tmp, "state")
    d = Daemon(tmp, ["--web-config", web, "--socket-mode", "0666", "--state-dir", state])
    if not check(d.up(), "gomemd starts with --socket and --web-config"):
        print(d.text())
        return
    wait_for(lambda: request(d.port, path="/memstats?pid=%d" % victim.pid)[0] == 200, 10)
    vp = victim.pid

    # host and origin
    st, _, _ = request(d.port, path="/metrics", headers={"Host": "evil.example.com:%d" % d.port})
    check(st == 421, "host: a foreign Host header gets 421 (got %s)" % st)
    st, _, _ = request(d.port, path="/metrics", headers={"Host": "localhost:%d" % d.port})
    check(st == 200, "host: localhost is served (%s)" % st)
    st, _, _ = request(d.port, method="POST", path="/processes/%d/attach" % vp,
                       headers={"Authorization": GOOD, "Origin": "http://evil.example.com"})
    check(st == 403, "origin: a cross-origin POST gets 403 (got %s)" % st)
    st, _, _ = request(d.port, method="POST", path="/processes/%d/attach" % vp,
                       headers={"Authorization": GOOD, "Sec-Fetch-Site": "cross-site"})
    check(st == 403, "origin: Sec-Fetch-Site cross-site POST gets 403 (got %s)" % st)

    # request targets and headers that must not be read leniently
    for path in ("/index.html%00.js", "/memstats?pid=%d%%00" % vp, "/memstats?pid"):
        st, hd, body = request(d.port, path=path)
        check(st == 400 and body.startswith(b'{"Error"'), "lenient: %s gets 400 and JSON (%s)" % (path, st))
    st = raw(d.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")[:12]
    check(st == b"HTTP/1.1 400", "lenient: two Host headers get 400 (%s)" % st)
    # libmicrohttpd 0.9.75's own answer to this one sent its status and
    # header twice; now the route guard answers, once, in JSON
    out = raw(d.port, b"GET /healthz HTTP/1.1\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and out.count(b"\r\nDate: ") == 1 and b'{"Error"' in out,
          "lenient: HTTP/1.1 without Host gets one 400, in JSON (%r)" % out[:160])
    out = raw(d.port, b"GET /mem stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and b'{"Error"' in out,
          "lenient: a space in the target gets 400 and JSON, not a silent close (%r)" % out[:60])
    # over 64 query parameters: 414 at once (about 1000 filled libmicrohttpd's
    # pool, and the client heard nothing until the header timeout)
    for n, want in ((64, b"HTTP/1.1 200"), (65, b"HTTP/1.1 414"), (3000, b"HTTP/1.1 414"),
                    (-3000, b"HTTP/1.1 400")):  # with a control character: refused for that
        q = "&".join("a%d=1" % i for i in range(abs(n))).encode()
        if n < 0:
            q = q.replace(b"a1000=", b"a1\x1f000=")
        t0 = time.monotonic()
        out = raw(d.port, b"GET /healthz?" + q + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n", timeout=10)
        took = time.monotonic() - t0
        check(out.startswith(want) and (want.endswith(b"200") or b'{"Error"' in out) and took < 3,
              "lenient: %d query parameters get %s in %.1f s (%r)" % (n, want[9:].decode(), took, out[:40]))
    # a NUL sent as is ends the target for the routes, as %00 would
    # ("/healthz\0.js" was /healthz); before a long query too; and a target
    # that writes MHD's own end pattern in front of its NUL
    many = b"&".join(b"a%d" % i for i in range(2000))
    for target, want in ((b"/healthz\x00.js", b"HTTP/1.1 400"), (b"/healthz\x00?" + many, b"HTTP/1.1 400"),
                         (b"/healthz\x00HTTP/1.1\x00", b"HTTP/1.1 400"),
                         (b"/" + b"x" * 9000, b"HTTP/1.1 414"),  # over 8 KiB
                         (b"/a?" + b"x" * 60000 + b"&b" * 30, b"HTTP/1.1 414")):  # 24 ran the pool out
        t0 = time.monotonic()
        out = raw(d.port, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout=10)
        took = time.monotonic() - t0
        check(out.startswith(want) and b'{"Error"' in out and took < 3,
              "lenient: target %r... gets %s in JSON in %.1f s (%r)" % (target[:16], want[9:].decode(), took, out[:40]))
    # libmicrohttpd reads HTTP/1.2 to 1.9 as 1.1: they need a Host too
    out = raw(d.port, b"GET /healthz HTTP/1.5\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and b'{"Error"' in out,
          "lenient: HTTP/1.5 without Host gets 400 (%r)" % out[:40])
    # a connection kept alive after a request has a deadline for its next
    # one too (root's DELETE of nothing over the socket: 405, kept alive)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(15)
    s.connect(d.sock)
    s.sendall(b"DELETE /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n")
    first = s.recv(4096)
    t0, closed = time.monotonic(), False
    try:
        for ch in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n":
            if time.monotonic() - t0 > 12:
                break
            s.sendall(bytes([ch]))
            time.sleep(0.5)
            s.setblocking(False)
            try:
                closed = s.recv(4096) == b""
            except BlockingIOError:
                pass
            s.setblocking(True)
            if closed:
                break
    except OSError:
        closed = True
    took = time.monotonic() - t0
    s.close()
    check(first.startswith(b"HTTP/1.1 405") and closed and took < 9,
          "lenient: a second request trickled on a kept-alive connection is dropped at the "
          "deadline (%.1f s, %r)" % (took, first[:16]))
    st, hd, _ = request(d.port, method="PUT", path="/", headers={"Authorization": GOOD})
    check(st == 405 and hd.get("allow") == "GET, HEAD",
          "PUT / gets 405 with Allow: GET, HEAD (%s, %s)" % (st, hd.get("allow")))
    out = raw(d.port, b"HEAD /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, rest = out.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head and rest == b"",
          "HEAD /events: the stream's headers and no body (%r)" % out[-40:])

    # loopback: a client over TCP is the uid that owns its socket, from
    # whichever loopback address (after gomemd has let go of the
    # connections above: libmicrohttpd forgets one the peer closed when it
    # next looks at it); each keeps a quarter of --per-ip-limit 64
    wait_for(lambda: open_peers(d.port) == 0, 5)
    hog, still = loopback_hog(d.port, 80)
    release(hog)
    check(still == "16",
          "loopback: root's 80 idle connections from 20 loopback addresses, %s kept (16)" % still)
    wait_for(lambda: open_peers(d.port) == 0, 5)
    # nobody at its cap: another user (a Prometheus scraping on the host)
    # and root still get answers
    hog, kept = loopback_hog(d.port, 80, as_nobody)
    other = subprocess.run(as_nobody([sys.executable, "-c", TCP_GET, str(d.port), "/metrics"],
                                     60001), capture_output=True, text=True, timeout=30)
    check(kept == "16" and other.stdout.strip() == "200" and
          request(d.port, path="/healthz", timeout=3)[0] == 200,
          "loopback: nobody keeps 16 of its 80 connections; another user's /metrics and root's "
          "/healthz are answered beside them (%s, %s)" % (kept, other.stdout.strip() or other.stderr[-200:]))
    release(hog)
    wait_for(lambda: open_peers(d.port) == 0, 5)
    # four users at once: 16 each at most, 48 together, and root's share
    # stays its own
    # (started together: each holds its connections until all have counted)
    more = [subprocess.Popen(as_nobody([sys.executable, "-c", LOOPBACK_HOG, str(d.port), "20"],
                                       uid),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for uid in (65534, 60001, 60002, 60003)]
    children.extend(more)
    kept = [m.stdout.readline().strip() for m in more]
    each = [int(k) if k.isdigit() else -1 for k in kept]
    check(all(0 <= n <= 16 for n in each) and sum(each) == 48 and
          request(d.port, path="/healthz", timeout=3)[0] == 200,
          "loopback: four users' connections stop at the users' 48 and root is answered (%s)"
          % kept)
    for m in more:
        release(m)
    wait_for(lambda: request(d.port, path="/healthz", timeout=2)[0] == 200, 10)

    # unauthenticated TCP: public yes, private 401 with WWW-Authenticate
    for path in ("/metrics", "/processes", "/memstats?pid=%d" % vp, "/healthz"):
        st, _, _ = request(d.port, path=path)
        check(st == 200, "public %s without auth -> 200 (%s)" % (path, st))
    for method, path in (("GET", "/debug/pprof/heap?pid=%d" % vp), ("GET", "/profile/top?pid=%d" % vp),
                         ("DELETE", "/processes/%d" % vp), ("POST", "/processes/%d/attach" % vp)):
        st, hd, _ = request(d.port, method=method, path=path)
        check(st == 401 and hd.get("www-authenticate", "").startswith("Basic realm="),
              "%s %s without auth -> 401 with WWW-Authenticate (%s)" % (method, path, st))
    st, _, body = request(d.port, path="/debug/pprof/heap?pid=%d" % vp, headers={"Authorization": GOOD})
    check(st == 200 and body[:2] == b"\x1f\x8b", "profile: authenticated client gets it (%s)" % st)
    bob = "Basic " + base64.b64encode(("bob:" + bob_pw).encode()).decode()
    st, _, _ = request(d.port, path="/debug/pprof/heap?pid=%d" % vp, headers={"Authorization": bob})
    check(st == 200, "profile: a user hashed by --hash-password gets it (%s)" % st)

    # auth failures: counted, then rate-limited
    # (each from another loopback address: one user is one client)
    codes = [request(d.port, path="/debug/pprof/heap?pid=%d" % vp, headers={"Authorization": BAD},
                     source="127.0.1.%d" % (10 + i))[0]
             for i in range(12)]
    check(codes[0] == 401 and 429 in codes, "auth: wrong passwords get 401, then 429 (%s)" % codes)
    check(metric(d.port, "gomemd_http_auth_failures_total") >= codes.count(401),
          "auth: failures counted in /metrics")
    check(metric(d.port, "gomemd_http_auth_limited_total") >= codes.count(429) > 0,
          "auth: rate-limited requests counted in /metrics")
    # the limit is root's (the uid of those sockets): another user's wrong
    # password is still asked again, not refused
    other = subprocess.run(as_nobody([sys.executable, "-c", TCP_GET, str(d.port),
                                      "/debug/pprof/heap?pid=%d" % vp, BAD], 60001),
                           capture_output=True, text=True, timeout=30)
    check(other.stdout.strip() == "401",
          "auth: another user is not limited by root's failures (%s)"
          % (other.stdout.strip() or other.stderr[-200:]))

    # the unix socket: nobody vs root's process, and its own
    check(nobody_over_socket(d.sock, "GET", "/debug/pprof/heap?pid=%d" % vp) == 403,
          "profile: nobody over the socket gets 403 for a root process")
    check(nobody_over_socket(d.sock, "DELETE", "/processes/%d" % vp) == 403,
          "detach: nobody over the socket gets 403 for a root process")
    check(nobody_over_socket(d.sock, "POST", "/processes/%d/attach" % vp) == 403,
          "attach: nobody over the socket gets 403 for a root process")
    check(request(d.port, path="/memstats?pid=%d" % vp)[0] == 200, "detach: root's process still watched")
    st, _, _ = request(sock=d.sock, path="/debug/pprof/heap?pid=%d" % vp)
    check(st == 200, "profile: root over the socket gets it (%s)" % st)
    own, own_dir, own_lib = nobody_workload(tmp, "own")
    time.sleep(0.5)
    st = nobody_over_socket(d.sock, "POST", "/processes/%d/attach" % own.pid)
    check(st == 200, "attach: nobody over the socket attaches its own process (%s)" % st)
    seen = wait_for(lambda: request(d.port, path="/memstats?pid=%d" % own.pid)[0] == 200, 10)
    wait_for(lambda: os.path.exists(os.path.join(own_dir, "out.txt")), 10)
    st = nobody_over_socket(d.sock, "GET", "/debug/pprof/heap?pid=%d" % own.pid)
    check(seen and st == 200, "profile: nobody over the socket gets its own process's (%s)" % st)
    # a user's files attached through mappings are bounded (4 a user): its
    # processes' further copies of libgomem are refused, so no user fills
    # the table that new processes and upgraded libraries need (a user of
    # its own, 65533, with a whole budget)
    more = [nobody_workload(tmp, "copy%d" % i, argv=["sleep", "60"], uid=65533)
            for i in range(5)]
    for p, _, lib in more:
        maps_file(p.pid, lib)
    got = [nobody_over_socket(d.sock, "POST", "/processes/%d/attach" % p.pid, 65533)
           for p, _, _ in more]
    check(got == [200, 200, 200, 200, 422],
          "attach: a user's 5th copy of libgomem is refused (%s)" % got)
    for p, _, _ in more:
        p.kill()
    # its own pid in ?pid= does not make root's process in the path its own
    for method, path in (("DELETE", "/processes/%d?pid=%d" % (vp, own.pid)),
                         ("POST", "/processes/%d/attach?pid=%d" % (vp, own.pid))):
        st = nobody_over_socket(d.sock, method, path)
        check(st in (400, 403), "%s %s by nobody: refused, not done (%s)" % (method, path, st))
    check(request(d.port, path="/memstats?pid=%d" % vp)[0] == 200,
          "detach: root's process still watched after ?pid= tricks")
    # a reused pid: nobody's process now has the pid of a root process that
    # ended, whose saved profile is in the state directory: not nobody's
    sleeper = subprocess.Popen(as_nobody(["sleep", "60"]))
    children.append(sleeper)
    ent = os.path.join(state, "%d-1" % sleeper.pid)
    os.mkdir(ent, 0o700)
    with open(os.path.join(ent, "info"), "w") as f:
        f.write("pid %d\nstart 1\nended 2\ncomm rootjob\nhow exited\ncode 0\nuid 0\n"
                % sleeper.pid)
    with open(os.path.join(ent, "heap.pb.gz"), "wb") as f:
        f.write(gzip.compress(b"root's saved profile"))
    st = nobody_over_socket(d.sock, "GET", "/debug/pprof/heap?pid=%d" % sleeper.pid)
    check(st == 403, "reused pid: nobody does not get root's ended process's saved profile (%s)"
          % st)
    st, _, body = request(sock=d.sock, path="/debug/pprof/heap?pid=%d" % sleeper.pid)
    check(st == 200 and gzip.decompress(body) == b"root's saved profile",
          "reused pid: root gets it (%s)" % st)
    sleeper.kill()

    # the unix socket's share per user: nobody gets 4 event streams and,
    # with them, 8 connections (a quarter of --socket-connections 32);
    # root's come on top
    hog = subprocess.Popen(as_nobody([sys.executable, "-c", NOBODY_HOG, d.sock, "6", "10"]),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children.append(hog)
    out = hog.stdout.readline().split()
    check(out[:1] == ["200,200,200,200,503,503"],
          "socket: one user's /events streams are capped at 4 (%s)" % (out[:1] or "no output"))
    check(out[1:] == ["4"], "socket: one user's connections are capped at 8: 4 of 10 idle ones "
          "kept beside its 4 streams (%s)" % out[1:])
    # three more users at once, each after 4 streams and 10 idle connections
    # while nobody holds its 8: all users together hold 24 of the socket's
    # 32 (4 users at 8 each once took them all), and root gets a stream and
    # an answer.  Nobody's 4 idle ones go at the 5 s header deadline, about
    # 4 s from now: on a slow machine the others may find them gone, and
    # then hold 20 between them, not 16.
    more = [subprocess.Popen(as_nobody([sys.executable, "-c", NOBODY_HOG, d.sock, "4", "10", "0.3"],
                                       uid),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for uid in (60001, 60002, 60003)]
    children.extend(more)
    outs = [m.stdout.readline().split() for m in more]
    each = [o[0].split(",").count("200") + int(o[1]) if len(o) == 2 else -1 for o in outs]
    check(all(0 <= n <= 8 for n in each) and 16 <= sum(each) <= 20,
          "socket: three more users' connections stop at the users' 24 (nobody's 4 to 8 + %s: %s)"
          % (each, outs))
    got = stream_start(d.sock)
    check(b"retry:" in got and request(sock=d.sock, path="/processes")[0] == 200,
          "socket: root gets a stream and an answer beside the users' 24")
    for h in [hog] + more:
        h.stdin.close()
        h.wait(10)

    # fifo: the mapped copy replaced by a FIFO, then attach by pid
    fp, fdir, flib = nobody_workload(tmp, "fifo", argv=["sleep", "60"])
    time.sleep(0.5)
    subprocess.run(as_nobody(["sh", "-c", "rm -f '%s' && mkfifo '%s'" % (flib, flib)]), check=True)
    res = {}
    t = threading.Thread(target=lambda: res.update(
        a=request(sock=d.sock, method="POST", path="/processes/%d/attach" % fp.pid, timeout=20)))
    t0 = time.time()
    t.start()
    time.sleep(0.3)
    hz = request(d.port, path="/healthz", timeout=2)[0]
    t.join(25)
    took = time.time() - t0
    check(hz == 200, "fifo: /healthz answers while attaching (%s)" % hz)
    check(not t.is_alive() and took < 10 and res.get("a", (None,))[0] is not None,
          "fifo: attach to a process whose library path is now a FIFO answers in %.1f s (%s)"
          % (took, res.get("a", (None,))[0]))
    ok = wait_for(lambda: request(d.port, path="/memstats?pid=%d" % fp.pid)[0] == 200, 10)
    check(ok, "fifo: the process is watched through /proc/PID/map_files")

    # symlink: the path now a symlink to a FIFO in a root-only directory
    sp, sdir, slib = nobody_workload(tmp, "symlink", argv=["sleep", "60"])
    private = os.path.join(tmp, "private")
    os.mkdir(private, 0o700)
    os.mkfifo(os.path.join(private, "trap"))
    time.sleep(0.5)
    subprocess.run(as_nobody(["sh", "-c", "mv '%s' '%s.old' && ln -s '%s' '%s'"
                              % (slib, slib, os.path.join(private, "trap"), slib)]), check=True)
    t0 = time.time()
    st = request(sock=d.sock, method="POST", path="/processes/%d/attach" % sp.pid, timeout=20)[0]
    check(st is not None and time.time() - t0 < 10,
          "symlink: attach does not follow the link (%s in %.1f s)" % (st, time.time() - t0))

    # symbolise: the sampled process's library replaced by a FIFO
    before = metric(d.port, "gomemd_events_received_total")
    subprocess.run(as_nobody(["sh", "-c", "mv '%s' '%s.old' && mkfifo '%s'" % (own_lib, own_lib, own_lib)]),
                   check=True)
    st, _, _ = request(sock=d.sock, path="/debug/pprof/heap?pid=%d" % own.pid, timeout=20)
    check(st == 200, "symbolise: a profile through a FIFO'd library is served (%s)" % st)
    time.sleep(1.5)
    check(metric(d.port, "gomemd_events_received_total") > before and
          request(d.port, path="/healthz", timeout=2)[0] == 200,
          "symbolise: collection goes on and /healthz is ok")

    # shrink: a watched process truncates and restores ELF files while
    # gomemd reads them: a copy of libgomem named *gomem*, mapped below its
    # library (gomemd looks there for the profile table's symbol), and the
    # part of its library past what ld.so maps (.symtab and the debug
    # sections, which the symboliser reads).  A read past the new end of a
    # mapped file is SIGBUS, which ended gomemd within a few profile pulls
    # when the table's lookup mapped the file; it reads with pread now.
    # (libdw maps what it symbolises for as long as it keeps it: those
    # faults become pages of zeros, base/mapguard.c, which check_mapguard
    # tests; this run need not hit one.)
    sdir = os.path.join(tmp, "shrink")
    os.mkdir(sdir)
    os.chown(sdir, NOBODY, NOBODY)
    sfile, slib = os.path.join(sdir, "gomem-shrink.so"), os.path.join(sdir, "libgomem.so.0")
    for f in (sfile, slib):
        shutil.copy(LIBGOMEM, f)
        os.chown(f, NOBODY, NOBODY)
    # Debian's python3: the test's own may live where nobody cannot read
    py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    shrinker = subprocess.Popen(as_nobody(["env", "LD_PRELOAD=" + slib, py, "-c", SHRINKER, sfile,
                                           "30", sfile + ":4096",
                                           "%s:%d" % (slib, loaded_end(slib))]),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    children.append(shrinker)
    check(shrinker.stdout.readline().strip() == b"ready", "shrink: the process maps its file")
    st = request(sock=d.sock, method="POST", path="/processes/%d/attach" % shrinker.pid,
                 timeout=20)[0]
    check(st == 200 and wait_for(lambda: request(d.port, path="/memstats?pid=%d" % shrinker.pid)[0] == 200, 10),
          "shrink: the process is watched (attach %s)" % st)
    shrinker.stdin.write(b"go\n")
    shrinker.stdin.flush()
    t0, pulls = time.time(), 0
    while time.time() - t0 < 8 and d.p.poll() is None and shrinker.poll() is None:
        pulls += request(sock=d.sock, path="/debug/pprof/heap?pid=%d" % shrinker.pid,
                         timeout=10)[0] is not None
    check(pulls > 0 and d.p.poll() is None and request(d.port, path="/healthz", timeout=5)[0] == 200,
          "shrink: gomemd lives through %d profile pulls of a process truncating a mapped "
          "ELF (%s pages read as zeros)" % (pulls, metric(d.port, "gomemd_shrunk_file_pages_total")))
    shrinker.kill()

    # argv: 2 MB of arguments
    big = ["x" * 4000] * 500
    ap = subprocess.Popen(["sh", "-c", "sleep 60", "sh"] + big,
                          env=dict(os.environ, LD_PRELOAD=LIBGOMEM, GOMEM_STATS_INTERVAL_MS="50"))
    children.append(ap)
    wait_for(lambda: request(d.port, path="/memstats?pid=%d" % ap.pid)[0] == 200, 10)
    st, _, body = request(d.port, path="/debug/vars?pid=%d" % ap.pid)
    check(st == 200 and len(body) < 256 * 1024,
          "argv: /debug/vars of a 2 MB argv is %d bytes (at most 256 KiB)" % len(body))
    if st == 200:
        doc = json.loads(body)
        check(doc["cmdline"][:3] == ["sh", "-c", "sleep 60"], "argv: cmdline still starts with argv[0..2]")
    st, _, body = request(d.port, path="/processes/%d" % ap.pid)
    check(st == 200 and len(body) < 256 * 1024, "argv: /processes/N is bounded (%d bytes)" % len(body))

    # httpfuzz: mutated requests, over TCP and the socket (a fixed seed:
    # GOMEM_FUZZ_SEED picks another)
    seed = int(os.environ.get("GOMEM_FUZZ_SEED", "35"))
    problems = http_fuzz(d.port, d.sock, 400, seed)
    for p in problems[:5]:
        print("     ", p)
    check(not problems and request(d.port, path="/healthz")[0] == 200,
          "httpfuzz: 400 mutated requests (seed %d) each answered once or closed in time, "
          "gomemd still up (%d problems)" % (seed, len(problems)))

    # events: non-reading clients cannot lock others out
    hogs = []
    for i in range(80):
        s = socket.socket()
        try:
            s.bind(("127.0.0.%d" % (2 + i % 4), 0))
            s.settimeout(2)
            s.connect(("127.0.0.1", d.port))
            s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            hogs.append(s)
        except OSError:
            s.close()
    time.sleep(1)
    got = stream_start(d.sock)
    check(b"data:" in got or b"event:" in got, "events: a stream over the socket with 80 hogs")
    # a stream's send buffer stays small (TCP would grow it to megabytes for
    # a peer that never reads, and the stall would never show)
    ss = shutil.which("ss")
    if ss and hogs:
        # the server's established sockets now: the hogs that got a stream
        r = subprocess.run([ss, "-tmnH", "state", "established", "( sport = :%d )" % d.port],
                           capture_output=True, text=True, timeout=10)
        tb = [int(w[2:]) for w in r.stdout.replace(",", " ").replace("(", " ").split()
              if w.startswith("tb") and w[2:].isdigit()]
        # SO_SNDBUF: the kernel doubles the value, up to twice wmem_max; a
        # socket left to autotuning starts at tcp_wmem's default instead
        with open("/proc/sys/net/core/wmem_max") as f:
            want = min(2 * 65536, 2 * int(f.read()))
        check(tb and tb == [want] * len(tb),
              "events: the streams' socket send buffers are set to 64 KiB (ss: tb %s, want %d)"
              % (tb, want))
    limited = metric(d.port, "gomemd_events_refused_total")
    check(limited > 0, "events: per-client caps refused hogs (%d), counted in /metrics" % limited)
    for s in hogs:
        s.close()

    # slowloris: 300 slow-header connections from 127.0.0.2-6
    stop = threading.Event()
    conns = []

    def flood():
        for i in range(300):
            s = socket.socket()
            try:
                s.bind(("127.0.0.%d" % (2 + i % 5), 0))
                s.settimeout(1)
                s.connect(("127.0.0.1", d.port))
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
                conns.append(s)
            except OSError:
                s.close()
        while not stop.is_set():
            for s in list(conns):
                try:
                    s.send(b"a")
                except OSError:
                    conns.remove(s)
            stop.wait(1)

    ft = threading.Thread(target=flood)
    ft.start()
    time.sleep(3)
    t0 = time.time()
    st = request(sock=d.sock, path="/healthz", timeout=5)[0]
    sock_took = time.time() - t0
    check(st == 200 and sock_took < 2, "slowloris: the socket answers in %.2f s (%s)" % (sock_took, st))
    t0 = time.time()
    st = None
    while st != 200 and time.time() - t0 < 20:
        st = request(d.port, path="/healthz", timeout=3)[0]
    tcp_took = time.time() - t0
    check(st == 200 and tcp_took < 15, "slowloris: TCP answers in %.1f s (%s)" % (tcp_took, st))
    stop.set()
    ft.join()
    for s in conns:
        s.close()
    check(metric(d.port, "gomemd_http_header_timeouts_total") > 0,
          "slowloris: dropped slow headers counted in /metrics")

    # watchdog: stop only gomemd's main thread (ptrace-interrupt that one
    # thread); the HTTP threads go on and /healthz must say why with 503
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if os.environ.get("TSAN_OPTIONS"):
        # Under ThreadSanitizer a thread stopped inside the runtime can hold
        # its internal locks, and then every thread waits: not gomemd's stall.
        print("note: ThreadSanitizer build; watchdog tested in the plain build only")
    elif libc.ptrace(0x4206, d.p.pid, None, None) == 0:  # PTRACE_SEIZE the main thread
        libc.ptrace(0x4207, d.p.pid, None, None)  # PTRACE_INTERRUPT
        t0 = time.time()
        got = wait_for(lambda: request(d.port, path="/healthz", timeout=2)[0] == 503, 20, 0.5)
        st, _, body = request(d.port, path="/healthz", timeout=2)
        check(got and b"main loop stalled" in body,
              "watchdog: /healthz 503 with the reason %.0f s after the main loop stopped (%s)"
              % (time.time() - t0, body[:120]))
        libc.ptrace(17, d.p.pid, None, None)  # PTRACE_DETACH: go on
        check(wait_for(lambda: request(d.port, path="/healthz", timeout=2)[0] == 200, 10),
              "watchdog: /healthz back to 200 once the loop turns")
    else:
        print("note: cannot ptrace gomemd (errno %d); watchdog not tested" % ctypes.get_errno())

    check(d.stop() == 0, "SIGTERM stops gomemd after all that")

    # restart: a process mapping a deleted (replaced) configured library
    cfglib = os.path.join(tmp, "cfg", "libgomem.so.0")
    os.mkdir(os.path.dirname(cfglib))
    shutil.copy(LIBGOMEM, cfglib)
    rp = subprocess.Popen(["sleep", "60"], env=dict(os.environ, LD_PRELOAD=cfglib,
                                                    GOMEM_STATS_INTERVAL_MS="50"))
    children.append(rp)
    time.sleep(0.5)
    shutil.copy(LIBGOMEM, cfglib + ".new")
    os.rename(cfglib + ".new", cfglib)  # package upgrade: the old inode is deleted
    d2 = Daemon(tmp, ["--library", cfglib], name="restart")
    if check(d2.up(), "restart: gomemd starts"):
        ok = wait_for(lambda: request(d2.port, path="/memstats?pid=%d" % rp.pid)[0] == 200, 10)
        check(ok, "restart: the process mapping the deleted library is found and watched")
        d2.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.alarm(280)
    run(main)
