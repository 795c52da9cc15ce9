"""Helpers shared by the gomemd integration tests (test_*.py)."""
import base64
import os
import socket
import subprocess
import sys
import time

children = []  # processes to kill at the end
# A web config user for the tests: bcrypt's published test vector ("U*U").
TEST_USER_HASH = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
TEST_AUTH = "Basic " + base64.b64encode(b"alice:U*U").decode()
failures = []  # what failed, in order


def skip(reason):
    """Exit with automake's SKIP status, saying why."""
    print("SKIP: " + reason)
    sys.exit(77)


def check(cond, what):
    """Record and print one check; returns cond."""
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def maps_file(pid, path, timeout=10):
    """Wait until process pid maps the file path (ld.so has loaded it)."""
    def mapped():
        try:
            with open("/proc/%d/maps" % pid) as f:
                return any(line.rstrip("\n").endswith(path) for line in f)
        except OSError:
            return False
    return wait_for(mapped, timeout)


def wait_for(pred, timeout, step=0.05):
    """Poll pred until it is truthy or timeout seconds pass; its last value."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def run(main):
    """Run main, kill what it left running, exit 0 or 1."""
    try:
        main()
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def write_web_config(directory):
    """A web config with the test user; its path."""
    path = os.path.join(directory, "web.yml")
    with open(path, "w") as f:
        f.write("basic_auth_users:\n  alice: %s\n" % TEST_USER_HASH)
    os.chmod(path, 0o644)
    return path


# Idle loopback connections: N of them to PORT from 127.0.0.2-21, then (1 s
# later) how many are still open, printed; all held until stdin closes.
LOOPBACK_HOG = r'''
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for i in range(n):
    s = socket.socket()
    try:
        s.bind(("127.0.0.%d" % (2 + i % 20), 0)); s.connect(("127.0.0.1", port)); conns.append(s)
    except OSError:
        s.close()
time.sleep(1)
kept = 0
for s in conns:
    try:
        kept += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        kept += 1
    except OSError:
        pass
print(kept, flush=True)
sys.stdin.read()
'''


def loopback_hog(port, n, wrap=lambda argv: argv):
    """LOOPBACK_HOG's process (its argv passed through wrap: setpriv for
    another uid) and the connections it kept, a string."""
    p = subprocess.Popen(wrap([sys.executable, "-c", LOOPBACK_HOG, str(port), str(n)]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children.append(p)
    return p, p.stdout.readline().strip()


def release(p):
    """Let a LOOPBACK_HOG go."""
    p.stdin.close()
    p.wait(10)


def open_peers(port):
    """Connections to port still open at the server's side (not TIME-WAIT)."""
    r = subprocess.run(["ss", "-Htn", "state", "established", "state", "close-wait",
                        "( sport = :%d )" % port], capture_output=True, text=True, timeout=10)
    return len(r.stdout.splitlines()) if r.returncode == 0 else 0
