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
