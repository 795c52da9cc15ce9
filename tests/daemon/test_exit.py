#!/usr/bin/env python3
"""How watched processes end, with real BPF, the real libgomem and a real
OOM kill: gomemd runs in a mount namespace without tracefs (the exit and
exec tracepoints must attach through BTF), and every ending is compared
with what the parent itself got from waitpid(2):

- exit(3), SIGKILL, SIGSEGV without and (core_pattern allowing) with a core
  dump: How, ExitCode, Signal, CoreDumped, WaitStatus in /processes;
- an OOM kill inside a memory cgroup limited to 64 MiB (cgroup v2, else
  v1): OOMKilled, against the cgroup's own oom_kill counter; the SIGKILL
  above is the control (OOMKilled false);
- exec of a preloaded program (the entry follows: Comm, Cmdline) and of one
  without the preload (the entry ends with How "exec", ExecComm);
- after the grace period and after gomemd restarts on the same state
  directory: /memstats?pid=N of each ended process answers its last
  MemStats with "Ended", /processes lists them, gomem ps words them;
  an unknown pid stays a JSON 404;
- with --no-profile: an ended process's MemStats and how it ended are
  still kept, and its heap profile is a JSON 404.

Environment (set by exit-test.sh): GOMEMD, GOMEM_CLI, LIBGOMEM, ENDINGS.
Exit 0 pass, 1 fail, 77 skip.
"""
import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

GOMEMD = os.environ["GOMEMD"]
GOMEM_CLI = os.environ["GOMEM_CLI"]
LIBGOMEM = os.path.realpath(os.environ["LIBGOMEM"])
ENDINGS = os.path.realpath(os.environ["ENDINGS"])
GRACE = 1

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gmtest import (TEST_AUTH, check, children, free_port, run, skip,  # noqa: E402
                    wait_for, write_web_config)


def get(port, path, raw=False):
    """(status, parsed JSON or None; the bytes with raw)."""
    r = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                               headers={"Authorization": TEST_AUTH})
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            body = resp.read()
            ctype = resp.headers.get("Content-Type", "")
            return resp.status, json.loads(body) if "json" in ctype and not raw else body
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, ConnectionError):
        return 0, None


class Daemon:
    """gomemd in a mount namespace of its own with tracefs unmounted."""

    def __init__(self, tmp, state, extra=()):
        self.port = free_port()
        self.log = open(os.path.join(tmp, "gomemd.log"), "ab")
        cmd = [GOMEMD, "-v", "--listen", "127.0.0.1:%d" % self.port, "--library", LIBGOMEM,
               "--state-dir", state, "--grace", str(GRACE), "--history-interval", "200",
               "--socket", os.path.join(tmp, "gomemd.sock"),
               "--web-config", write_web_config(tmp)] + list(extra)
        self.no_tracefs = shutil.which("unshare") is not None
        if self.no_tracefs:
            # Private mounts: the host keeps its tracefs, gomemd sees none.
            script = ("for m in /sys/kernel/tracing /sys/kernel/debug/tracing "
                      "/sys/kernel/debug; do umount -l $m 2>/dev/null; done; "
                      "test ! -e /sys/kernel/tracing/events || exit 99; exec \"$@\"")
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"] + cmd
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        children.append(self.p)
        if not wait_for(lambda: get(self.port, "/healthz")[0] == 200 or
                        self.p.poll() is not None, 20):
            raise SystemExit("FAIL gomemd did not start")
        if self.p.poll() is not None:
            if self.p.returncode == 99:
                skip("cannot hide tracefs in a mount namespace")
            raise SystemExit("FAIL gomemd exited with %d" % self.p.returncode)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(60)


def spawn(args, cgroup=None, core=None, cwd=None):
    """Start endings ARGS preloaded, in cgroup, with RLIMIT_CORE core; its Popen
    after "ready PID"."""
    env = dict(os.environ, LD_PRELOAD=LIBGOMEM, GOMEM_STATS_INTERVAL_MS="100",
               GOMEM_PROFILE_RATE="4096")

    def enter():
        if core is not None:
            resource.setrlimit(resource.RLIMIT_CORE, (core, core))
        if cgroup is not None:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    p = subprocess.Popen([ENDINGS] + args, env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, preexec_fn=enter, cwd=cwd)
    children.append(p)
    line = p.stdout.readline().decode()
    if not line.startswith("ready "):
        raise SystemExit("FAIL endings %s did not start: %r" % (args, line))
    return p


def watched(d, pid):
    """Wait until gomemd has pid's snapshot and heap profile; its process object."""
    def ready():
        st, doc = get(d.port, "/processes/%d" % pid)
        if st != 200 or not doc.get("HasSnapshot"):
            return None
        return doc if get(d.port, "/debug/pprof/heap?pid=%d" % pid)[0] == 200 else None
    return wait_for(ready, 10)


def reap(p):
    """The raw wait(2) status of p, as its parent gets it."""
    _, status = os.waitpid(p.pid, 0)
    p.returncode = 0  # reaped here: Popen must not wait again
    return status


def expect(status, oom=False, core=None):
    """What gomemd must say, from the parent's own status."""
    e = {"WaitStatus": status, "OOMKilled": oom}
    if os.WIFEXITED(status):
        e.update(How="exited", ExitCode=os.WEXITSTATUS(status), Signal="",
                 CoreDumped=False)
    else:
        e.update(How="killed", ExitCode=-1,
                 Signal=signal.Signals(os.WTERMSIG(status)).name,
                 CoreDumped=os.WCOREDUMP(status))
    return e


def matches(doc, want):
    return doc is not None and all(doc.get(k) == v for k, v in want.items())


def ended_entry(d, pid):
    """pid's entry in /processes while it is in the table and Exited."""
    def f():
        st, doc = get(d.port, "/processes/%d" % pid)
        return doc if st == 200 and doc.get("Exited") else None
    return wait_for(f, 5)


def vars_of(d, pid, want, args, tag):
    """/debug/vars?pid=N of an ended process: Go's expvar framing with one
    more variable, "ended"; its memstats are /memstats?pid=N's Go fields."""
    st, raw = get(d.port, "/debug/vars?pid=%d" % pid, raw=True)
    st2, ms = get(d.port, "/memstats?pid=%d" % pid)
    try:
        doc = json.loads(raw)
    except (ValueError, TypeError):
        doc = None
    go = {k: v for k, v in (ms or {}).items() if k not in ("Extra", "Ended")}
    check(st == 200 and doc is not None and
          raw.startswith(b'{\n"cmdline": ') and b',\n"ended": {' in raw and
          b',\n"memstats": {"Alloc":' in raw and raw.endswith(b"}\n}\n") and
          list(doc) == ["cmdline", "ended", "memstats"] and doc["cmdline"] == args and
          matches(doc["ended"], dict(want, Pid=pid)) and doc["memstats"] == go and
          len(go) > 20,
          "%s: /debug/vars?pid=%d: cmdline %s, ended, memstats as /memstats has them (got %d %s)"
          % (tag, pid, args, st, raw[:160]))


def history_of(d, pid, want, tag):
    """/memstats/history?pid=N of an ended process: its ring, with Ended."""
    st, h = get(d.port, "/memstats/history?pid=%d" % pid)
    st2, ms = get(d.port, "/memstats?pid=%d" % pid)
    cols = ("TimeNs", "HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "Sys", "RSS",
            "Mallocs", "Frees")
    ok = st == 200 and h["Points"] >= 1 and all(len(h[c]) == h["Points"] for c in cols)
    check(ok and h["TimeNs"] == sorted(h["TimeNs"]) and
          h["Mallocs"][-1] <= ms["Mallocs"] and
          h["TimeNs"][-1] <= h["Ended"]["EndedTimeNs"] and
          matches(h["Ended"], dict(want, Pid=pid)),
          "%s: /memstats/history?pid=%d: %s points, Ended %s" % (
              tag, pid, h.get("Points") if st == 200 else st, (h or {}).get("Ended")))


def check_entry(d, pid, want):
    """While pid is in the table (grace period), /processes/N says how it ended."""
    doc = ended_entry(d, pid)
    check(matches(doc, want), "pid %d: /processes/N says %s (got %s)" % (
        pid, want, {k: (doc or {}).get(k) for k in want}))


def key_value(path, key):
    """The number after key in a file of "key value" lines (memory.events,
    memory.oom_control), 0 when absent."""
    for line in open(path):
        k, v = line.split()
        if k == key:
            return int(v)
    return 0


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def memory_cgroup():
    """A child memory cgroup limited to 64 MiB, no swap: (path, a reader of
    its oom_kill counter), or (None, why not).  cgroup v2 when its memory
    controller is there, else v1's."""
    name = "gomem-exit-test-%d" % os.getpid()
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            if "memory" not in open(os.path.join(root, "cgroup.controllers")).read().split():
                continue
            if "memory" not in open(os.path.join(root, "cgroup.subtree_control")).read():
                write(os.path.join(root, "cgroup.subtree_control"), "+memory")
            cg = os.path.join(root, name)
            os.mkdir(cg)
        except OSError:
            continue
        write(os.path.join(cg, "memory.max"), str(64 << 20))
        if os.path.exists(os.path.join(cg, "memory.swap.max")):
            write(os.path.join(cg, "memory.swap.max"), "0")
        return cg, lambda: key_value(os.path.join(cg, "memory.events"), "oom_kill")
    v1 = "/sys/fs/cgroup/memory"
    if not os.path.exists(os.path.join(v1, "memory.limit_in_bytes")):
        return None, "no cgroup memory controller (neither v2 nor v1)"
    cg = os.path.join(v1, name)
    try:
        os.mkdir(cg)
        write(os.path.join(cg, "memory.limit_in_bytes"), str(64 << 20))
        if os.path.exists(os.path.join(cg, "memory.memsw.limit_in_bytes")):
            write(os.path.join(cg, "memory.memsw.limit_in_bytes"), str(64 << 20))
        key_value(os.path.join(cg, "memory.oom_control"), "oom_kill")
    except (OSError, ValueError) as e:
        return cg if os.path.isdir(cg) else None, "memory cgroup v1: %s" % e
    return cg, lambda: key_value(os.path.join(cg, "memory.oom_control"), "oom_kill")


def main():
    if os.geteuid() != 0:
        skip("needs root (BPF)")
    tmp = tempfile.mkdtemp(prefix="gomem-exit-")
    state = os.path.join(tmp, "state")
    cg = None
    try:
        d = Daemon(tmp, state)
        st, h = get(d.port, "/healthz")
        check(h.get("ExitTraced") and h.get("ExitTracepoint") == "tp_btf",
              "exit tracepoint attached through BTF without tracefs: %s"
              % h.get("ExitTracepoint"))
        ended = {}  # pid -> expected fields
        argv = {}  # pid -> the command line its last libgomem image ran

        # 1. exit(3)
        p = spawn(["exit", "3"])
        check(watched(d, p.pid) is not None, "exit 3: watched with a profile")
        p.stdin.write(b"go\n")
        p.stdin.flush()
        ended[p.pid] = expect(reap(p))
        check_entry(d, p.pid, ended[p.pid])
        check(ended[p.pid]["ExitCode"] == 3, "exit 3: the parent saw exit code 3")

        # 2. SIGKILL (the control for OOMKilled)
        p = spawn(["wait"])
        check(watched(d, p.pid) is not None, "SIGKILL: watched")
        p.kill()
        ended[p.pid] = expect(reap(p))
        check_entry(d, p.pid, ended[p.pid])

        # 3. SIGSEGV, no core (RLIMIT_CORE 0)
        p = spawn(["segv"], core=0, cwd=tmp)
        check(watched(d, p.pid) is not None, "SIGSEGV: watched")
        p.stdin.write(b"go\n")
        p.stdin.flush()
        ended[p.pid] = expect(reap(p))
        check_entry(d, p.pid, ended[p.pid])
        check(ended[p.pid]["Signal"] == "SIGSEGV" and not ended[p.pid]["CoreDumped"],
              "SIGSEGV without core: the parent saw SIGSEGV, no core")

        # 3b. SIGSEGV with a core, when cores go to a file in the cwd
        pattern = open("/proc/sys/kernel/core_pattern").read().strip()
        if not pattern.startswith("|") and "/" not in pattern:
            cdir = os.path.join(tmp, "core")
            os.mkdir(cdir)
            p = spawn(["segv"], core=resource.RLIM_INFINITY, cwd=cdir)
            check(watched(d, p.pid) is not None, "SIGSEGV with core: watched")
            p.stdin.write(b"go\n")
            p.stdin.flush()
            ended[p.pid] = expect(reap(p))
            check_entry(d, p.pid, ended[p.pid])
            check(ended[p.pid]["CoreDumped"], "SIGSEGV with core: the parent saw a core dump")
        else:
            print("note: core_pattern %r: core dump case not run" % pattern)

        # 4. the OOM killer in a memory cgroup
        cg, kills = memory_cgroup()
        if not callable(kills):
            print("SKIP (part): OOM kill: %s" % kills)
        else:
            before = kills()
            p = spawn(["hog"], cgroup=cg)
            check(watched(d, p.pid) is not None, "OOM: watched")
            p.stdin.write(b"go\n")
            p.stdin.flush()
            status = reap(p)
            after = kills()
            check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and
                  after == before + 1,
                  "OOM: the parent saw SIGKILL and the cgroup counted one oom_kill "
                  "(status %#x, oom_kill %d -> %d)" % (status, before, after))
            ended[p.pid] = expect(status, oom=True)
            check_entry(d, p.pid, ended[p.pid])

        # 5. exec: into a preloaded program, then into one without the preload
        p = spawn(["exec", "sleep", "300"])
        check(watched(d, p.pid) is not None, "exec: watched")
        st, top = get(d.port, "/profile/top?pid=%d" % p.pid)
        check(st == 200 and top["InuseSpace"] >= 900 << 10,
              "before the exec: the profile holds endings' 1 MiB (%s)" % (top or {}).get(
                  "InuseSpace"))
        p.stdin.write(b"go\n")
        p.stdin.flush()

        def follows():
            st, doc = get(d.port, "/processes/%d" % p.pid)
            return doc if (st == 200 and doc["Comm"] == "sleep" and
                           doc["Cmdline"] == ["sleep", "300"] and doc["Execs"] == 1) else None
        time.sleep(1.5)  # past the settling of the exec
        doc = follows()
        check(doc is not None and not doc["Exited"],
              "exec of a preloaded program: the entry follows (Comm sleep, Cmdline) "
              "and stays live: %s" % (doc and {k: doc[k] for k in ("Comm", "Exited")}))
        # sleep allocates a few KiB: endings' MiB must not be shown as its heap
        st, top = get(d.port, "/profile/top?pid=%d" % p.pid)
        check(st == 200 and top["InuseSpace"] < 512 << 10,
              "after the exec: the profile is the new program's (%s bytes in use)"
              % (top or {}).get("InuseSpace"))
        p.kill()
        ended[p.pid] = dict(expect(reap(p)), Comm="sleep")
        argv[p.pid] = ["sleep", "300"]
        check_entry(d, p.pid, ended[p.pid])

        p = spawn(["exec", "-c", "sleep", "300"])
        check(watched(d, p.pid) is not None, "exec -c: watched")
        p.stdin.write(b"go\n")
        p.stdin.flush()
        doc = ended_entry(d, p.pid)
        check(matches(doc, {"How": "exec", "ExecComm": "sleep", "Comm": "endings",
                            "Cmdline": [ENDINGS, "exec", "-c", "sleep", "300"],
                            "ExitCode": -1, "Signal": ""}),
              "exec without the preload: the entry ends, How exec, ExecComm sleep, "
              "under its old name: %s" % (doc and {k: doc.get(k) for k in
                                                     ("How", "ExecComm", "Comm")}))
        check(p.poll() is None, "exec without the preload: the process itself still runs")
        exec_pid = p.pid
        ended[exec_pid] = {"How": "exec", "ExecComm": "sleep", "Comm": "endings"}
        argv[exec_pid] = [ENDINGS, "exec", "-c", "sleep", "300"]
        vars_of(d, exec_pid, ended[exec_pid], argv[exec_pid], "in the grace period")

        # 6. after the grace period: served from the state directory
        time.sleep(GRACE + 2.5)
        p.kill()
        reap(p)

        def served(d, tag):
            for pid, want in ended.items():
                st, doc = get(d.port, "/memstats?pid=%d" % pid)
                e = (doc or {}).get("Ended") if st == 200 else None
                w = {k: v for k, v in want.items()}
                check(st == 200 and "HeapAlloc" in doc and "Extra" in doc and
                      matches(e, dict(w, Pid=pid)) and e["EndedTimeNs"] > e["StartTimeNs"],
                      "%s: /memstats?pid=%d answers the last MemStats with Ended %s (got %d %s)"
                      % (tag, pid, w, st, e))
            st, doc = get(d.port, "/processes")
            got = {x["Pid"]: x for x in (doc or {}).get("Ended", [])}
            for pid, want in ended.items():
                check(matches(got.get(pid), want), "%s: /processes Ended lists %d as %s"
                      % (tag, pid, want))
            for pid in argv:
                vars_of(d, pid, ended[pid], argv[pid], tag)
            for pid, want in ended.items():
                history_of(d, pid, want, tag)
            # the exec'd-away process keeps its last profile: endings' main
            st, pb = get(d.port, "/debug/pprof/heap?pid=%d" % exec_pid, raw=True)
            try:
                strings = gzip.decompress(pb) if st == 200 else b""
            except OSError:
                strings = b""
            check(b"\x04main" in strings and b"endings" in strings,
                  "%s: the exec'd-away process's last profile is endings' (%d, %d bytes)"
                  % (tag, st, len(strings)))
            st, doc = get(d.port, "/memstats?pid=4194000")
            check(st == 404 and doc == {"Error": "process 4194000 is not watched",
                                        "Status": 404},
                  "%s: an unknown pid is a JSON 404: %s" % (tag, doc))

        served(d, "after the grace period")
        # each record names its owner (the count limit is shared by owners)
        owners = {}
        for name in os.listdir(state):
            try:
                with open(os.path.join(state, name, "info")) as f:
                    kv = dict(line.split(" ", 1) for line in f.read().splitlines() if " " in line)
                owners[int(kv["pid"])] = int(kv.get("uid", "-1"))
            except (OSError, ValueError, KeyError):
                pass
        check(all(owners.get(pid) == os.getuid() for pid in ended),
              "the state directory's records name their owner, uid %d (%s)" % (os.getuid(), owners))
        for pid in ended:
            st, doc = get(d.port, "/processes/%d" % pid)
            check(st == 404, "pid %d left the table after the grace period" % pid)

        # 7. after a restart on the same state directory
        d.stop()
        d = Daemon(tmp, state)
        served(d, "after a restart")
        out = subprocess.run([GOMEM_CLI, "ps"], capture_output=True, text=True,
                             env=dict(os.environ,
                                      GOMEMD_SERVER=os.path.join(tmp, "gomemd.sock")))
        words = {pid: line for line in out.stdout.splitlines()
                 for pid in ended if line.split()[:1] == [str(pid)]}
        for pid, want in ended.items():
            if want["How"] == "exited":
                w = "exit %d" % want["ExitCode"]
            elif want["How"] == "exec":
                w = "exec sleep"
            else:
                w = want["Signal"] + (" (core dumped)" if want["CoreDumped"] else "") + \
                    (" (OOM killer)" if want["OOMKilled"] else "")
            check(words.get(pid, "").endswith("  " + w),
                  "gomem ps: %d ended %r (line %r)" % (pid, w, words.get(pid)))
        d.stop()

        # 8. profiles off: an ended process still leaves its MemStats and
        # how it ended, with no heap profile (a JSON 404 for it)
        d = Daemon(tmp, os.path.join(tmp, "state-noprof"), ["--no-profile"])
        p = spawn(["wait"])

        def snapshot():
            st, doc = get(d.port, "/processes/%d" % p.pid)
            return st == 200 and doc.get("HasSnapshot")
        check(wait_for(snapshot, 10), "--no-profile: watched")
        p.kill()
        want = expect(reap(p))
        time.sleep(GRACE + 2.5)
        st, doc = get(d.port, "/memstats?pid=%d" % p.pid)
        check(st == 200 and "HeapAlloc" in doc and
              matches(doc.get("Ended"), dict(want, Pid=p.pid)),
              "--no-profile: /memstats?pid=%d after the grace period answers the last "
              "MemStats with Ended %s (got %d %s)" % (p.pid, want, st, (doc or {}).get("Ended")))
        st, doc = get(d.port, "/debug/pprof/heap?pid=%d" % p.pid)
        check(st == 404 and isinstance(doc, dict) and "Error" in doc,
              "--no-profile: no heap profile of the ended process, a JSON 404 (%d %s)"
              % (st, doc))
        d.stop()
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
        if cg is not None:
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)
        shutil.rmtree(tmp, ignore_errors=True)


run(main)
