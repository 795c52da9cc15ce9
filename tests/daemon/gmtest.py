"""Helpers shared by the gomemd integration tests (test_*.py)."""
import socket
import subprocess
import sys
import time

children = []  # processes to kill at the end
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
