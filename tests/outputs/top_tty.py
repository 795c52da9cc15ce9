"""top_tty.py CLI: `gomem top` on a pseudo-terminal, as a user runs it.

Starts it interactive (GOMEMD_SERVER from the environment), checks the
alternate screen and the raw line discipline, that a key changes the sort,
that a resize (TIOCSWINSZ + SIGWINCH) cuts lines to the new width, that
^Z stops it with the terminal given back and SIGCONT takes it again, and
that
SIGTERM, then "q" in a second run, end it with status 0 and the terminal
restored (ICANON and ECHO back, main screen, cursor shown).
"""
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

CLI = sys.argv[1]
signal.alarm(60)  # a hang fails the test


def read_until(fd, want, timeout=10.0):
    buf = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if want is not None and want in buf:
                return buf
    if want is not None:
        raise SystemExit("FAIL: %r not seen in %r" % (want, buf[-600:]))
    return buf


def child_shell():
    """In the pty's session: run gomem top in a process group of its own, in
    the foreground, as a job-control shell does (a session leader's own group
    is orphaned, and the kernel drops stop signals sent to an orphaned group);
    wait for it through stops; exit as it did.

    Parent and child both make the group and give it the terminal, as bash
    does: if only the parent did, a child that reached tcsetattr before the
    parent ran would be a background job and SIGTTOU would stop it for good
    (a CI run on a loaded machine failed so, with no output at all)."""
    gc = os.fork()
    if gc == 0:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(0, os.getpid())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        os.execv(CLI, [CLI, "top", "-d", "0.3"])
    try:
        os.setpgid(gc, gc)
    except PermissionError:
        pass  # EACCES: the child made its group and has run exec already
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.tcsetpgrp(0, gc)
    while True:
        _, st = os.waitpid(gc, os.WUNTRACED)
        if os.WIFEXITED(st):
            os._exit(os.WEXITSTATUS(st))
        if os.WIFSIGNALED(st):
            os._exit(128 + os.WTERMSIG(st))


def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def run(stop):
    sh, fd = pty.fork()
    if sh == 0:
        try:
            child_shell()
        finally:
            os._exit(99)
    pid = None
    for _ in range(400):  # 20 s: a loaded machine is slow to fork and exec
        try:
            kids = open("/proc/%d/task/%d/children" % (sh, sh)).read().split()
        except OSError:
            kids = []
        if kids:
            pid = int(kids[0])
            break
        done, st = os.waitpid(sh, os.WNOHANG)
        if done:
            # gomem top ended before it was seen: say how, with its output
            raise SystemExit("FAIL: gomem top exited at once (status %d): %r"
                             % (st, read_until(fd, None, 1.0)[-600:]))
        time.sleep(0.05)
    assert pid, "gomem top did not start: %r" % read_until(fd, None, 1.0)[-600:]
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))
    try:
        out = read_until(fd, b"sorted by HEAPALLOC")
    except SystemExit as e:
        try:
            st = state(pid)
        except OSError:
            st = "gone"
        raise SystemExit("%s; gomem top's state: %s" % (e, st))
    assert b"\033[?1049h" in out, "no alternate screen"
    lflag = termios.tcgetattr(fd)[3]
    assert not lflag & termios.ICANON and not lflag & termios.ECHO, "terminal not raw"
    os.write(fd, b"r")
    read_until(fd, b"sorted by RSS")
    # a resize to 50 columns: every line of the next screen fits
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 50, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    out = read_until(fd, b"PID")
    time.sleep(0.5)
    out += read_until(fd, None, 0.5)
    screen = out.split(b"\033[H")[-1]
    for line in screen.split(b"\n"):
        text = line
        for seq in (b"\033[K", b"\033[7m", b"\033[0m", b"\033[2m", b"\033[J", b"\r"):
            text = text.replace(seq, b"")
        assert len(text) <= 50, "line of %d columns after a resize to 50: %r" % (len(text), text)
    # ^Z: stopped with the terminal given back, raw again when continued
    os.write(fd, b"\x1a")
    for _ in range(100):
        if state(pid) == "T":
            break
        time.sleep(0.05)
    assert state(pid) == "T", "not stopped by ^Z: state %s" % state(pid)
    lflag = termios.tcgetattr(fd)[3]
    assert lflag & termios.ICANON and lflag & termios.ECHO, "terminal still raw while stopped"
    read_until(fd, b"\033[?1049l")
    os.kill(pid, signal.SIGCONT)
    read_until(fd, b"\033[?1049h")
    read_until(fd, b"PID")
    lflag = termios.tcgetattr(fd)[3]
    assert not lflag & termios.ICANON, "terminal not raw again after SIGCONT"
    if stop == "q":
        os.write(fd, b"q")
    else:
        os.kill(pid, signal.SIGTERM)
    rest = read_until(fd, None, 3)
    _, status = os.waitpid(sh, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "status %r after %s" % (status, stop)
    assert rest.endswith(b"\033[?25h\033[?1049l"), "terminal not restored after %s: %r" % (stop, rest[-40:])
    lflag = termios.tcgetattr(fd)[3]
    assert lflag & termios.ICANON and lflag & termios.ECHO, "line discipline not restored after " + stop
    os.close(fd)
    print("ok: interactive top, ended by " + stop)


run("SIGTERM")
run("q")
