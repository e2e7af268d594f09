#!/usr/bin/env python3
"""urunit vs Debian's C runit, side by side in one run.

    python3 bench/bench.py --urunit BIN --crunit DIR [--quick] [--svg FILE] [--reps N]

BIN is the urunit binary; DIR holds C runit (an unpacked .deb: usr/bin/runsv, sbin/runit, or the
binaries themselves). Prints one table (urunit / C runit with the raw figures) and writes an SVG
chart of start-up time against the number of services.

Method: each implementation runs as runit would, from its own bin directory (links named runsv,
runsvdir, sv, svlogd, chpst, runit) with PATH set so that runsvdir finds its own runsv. Both are
measured in the same run, interleaved (the order alternates per repetition), and the table shows
medians. Readiness is polled every 1 ms; nothing measured relies on a fixed sleep. A program urunit
does not have yet (it exits 111 at once) gives "n/a" rows with the reason, never a crash.

Python 3 standard library only; Linux only (/proc, unshare(1) for the PID-namespace figures).
"""

import argparse
import ctypes
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

IMPLS = ("urunit", "C runit")
PROGS = ("runsv", "runsvdir", "sv", "svlogd", "chpst", "runit")
RUN_BODY = "#!/bin/sh\nexec sleep 2147483647\n"
POLL = 0.001


class NA(Exception):
    """A figure that cannot be measured (the program is missing or misbehaves)."""


# ---------------------------------------------------------------- processes


def set_subreaper():
    """Orphans of everything we start are re-parented to us, so cleanup can find them all."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def proc_table():
    """{pid: (ppid, state, session)} of every process."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(b")") + 2:].split()
        t[int(d)] = (int(rest[1]), rest[0], int(rest[3]))
    return t


def descendants(root, table=None):
    t = table or proc_table()
    kids = {}
    for pid, v in t.items():
        kids.setdefault(v[0], []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def reap_zombie_children(table=None):
    me = os.getpid()
    for pid, (ppid, state, _) in (table or proc_table()).items():
        if ppid == me and state == b"Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cleanup(root):
    """SIGKILLs `root` (started by spawn() in a session of its own), everything in its session
    and everything below it, by pid, until none is left; then reaps."""
    end = time.monotonic() + 10
    while True:
        t = proc_table()
        mine = set(descendants(root, t)) | {p for p, v in t.items() if v[2] == root or p == root}
        live = [p for p in mine if p in t and t[p][1] != b"Z" and p != os.getpid()]
        if not live or time.monotonic() > end:
            break
        kill_all(live)
        time.sleep(POLL)
        try:
            os.waitpid(root, os.WNOHANG)
        except ChildProcessError:
            pass
        reap_zombie_children()
    try:
        os.waitpid(root, 0)
    except ChildProcessError:
        pass
    reap_zombie_children()


def exited(pid):
    """The exit code (or -signal) if child `pid` has ended, else None."""
    try:
        p, st = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -999
    if p == 0:
        return None
    return os.waitstatus_to_exitcode(st)


def wait_exit(pid, secs, what):
    """Polls child `pid` every 1 ms until it exits: (exit code or -signal, rusage)."""
    end = time.perf_counter() + secs
    while True:
        p, st, ru = os.wait4(pid, os.WNOHANG)
        if p:
            return os.waitstatus_to_exitcode(st), ru
        if time.perf_counter() > end:
            raise NA("%s still running after %d s" % (what, secs))
        time.sleep(POLL)


def spawn(exe, argv, env, cwd=None, stdin=os.devnull, log=os.devnull):
    """posix_spawn in a new session; stdout and stderr go to `log`."""
    acts = [
        (os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    if cwd is None:
        return os.posix_spawn(exe, argv, env, file_actions=acts, setsid=True)
    old = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.chdir(cwd)
        return os.posix_spawn(exe, argv, env, file_actions=acts, setsid=True)
    finally:
        os.fchdir(old)
        os.close(old)


def tail(path):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""
    except OSError:
        return ""


def poll(cond, secs, what, pid=None, log=None):
    """Polls `cond` every 1 ms; raises NA on timeout or when `pid` exits first."""
    end = time.perf_counter() + secs
    while True:
        v = cond()
        if v:
            return v
        if pid is not None:
            rc = exited(pid)
            if rc is not None:
                msg = "%s exited %d" % (what, rc)
                if log and tail(log):
                    msg += " (%s)" % tail(log)
                raise NA(msg)
        if time.perf_counter() > end:
            msg = "%s: not ready in %gs" % (what, secs)
            if log and tail(log):
                msg += " (%s)" % tail(log)
            raise NA(msg)
        time.sleep(POLL)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def smaps(pid):
    """(Rss, Private_Clean + Private_Dirty, Private_Dirty, Pss) in KiB from /proc/PID/smaps_rollup."""
    v = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                v[parts[0][:-1]] = int(parts[1])
    return (v["Rss"], v.get("Private_Clean", 0) + v.get("Private_Dirty", 0), v.get("Private_Dirty", 0),
            v.get("Pss", 0))


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def exec_done(root, n):
    """True when `n` services below `root` run sleep: every fork on the way has exec'd, so no
    parent shares its pages copy-on-write with a child any more (its private memory would read
    too low)."""
    return sum(1 for p in descendants(root) if comm(p) == "sleep") == n


def ctxt(pid):
    n = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                n += int(line.split()[1])
    return n


# ---------------------------------------------------------------- services


def status(svc):
    """(state, pid, age in seconds) from supervise/status, or None."""
    try:
        with open(svc + "/supervise/status", "rb") as f:
            b = f.read()
    except OSError:
        return None
    if len(b) != 20:
        return None
    secs = int.from_bytes(b[0:8], "big") - (1 << 62) - 10 + int.from_bytes(b[8:12], "big") / 1e9
    return b[19], int.from_bytes(b[12:16], "little"), time.time() - secs


def running(svc):
    """True when supervise/status says run with a pid."""
    st = status(svc)
    return st is not None and st[0] == 1 and st[1] != 0


def down(svc):
    st = status(svc)
    return st is not None and st[0] == 0 and st[1] == 0


def settled(svc, state, age):
    """In `state` ("run" or "down") for at least `age` seconds."""
    st = status(svc)
    return st is not None and (running(svc) if state == "run" else down(svc)) and st[2] >= age


def all_running(svcs):
    """A cheap poll for many services: once one is seen running it stays so (its run sleeps)."""
    i = [0]

    def cond():
        while i[0] < len(svcs) and running(svcs[i[0]]):
            i[0] += 1
        return i[0] == len(svcs)
    return cond


def age(path, secs):
    """Sets the mtime of `path` and everything in it to `secs` ago (files deepest first, so
    that the directories keep the time too)."""
    t = time.time() - secs
    for d, _, files in os.walk(path, topdown=False):
        for f in files:
            os.utime(os.path.join(d, f), (t, t))
        os.utime(d, (t, t))


def make_service(path, finish=None, old=True):
    """A service directory whose run sleeps; `old`: its files are an hour old, as in an image
    or /etc/sv (urunit's runsvdir waits 50 ms for files written just now to settle)."""
    os.makedirs(path)
    for name, body in (("run", RUN_BODY), ("finish", finish)):
        if body is not None:
            with open(os.path.join(path, name), "w") as f:
                f.write(body)
            os.chmod(os.path.join(path, name), 0o755)
    if old:
        age(path, 3600)


def make_svdir(path, n, finish_dir=None, old=True):
    """`n` services in a new directory `path` (all of it an hour old if `old`)."""
    os.makedirs(path)
    svcs = []
    for i in range(n):
        s = os.path.join(path, "s%03d" % i)
        fin = None if finish_dir is None else "#!/bin/sh\n: > %s/s%03d\n" % (finish_dir, i)
        make_service(s, fin, old=False)
        svcs.append(s)
    if old:
        age(path, 3600)
    return svcs


# ---------------------------------------------------------------- the bench


class Impl:
    def __init__(self, name, bindir, base):
        self.name = name
        self.bindir = bindir
        self.env = dict(os.environ, PATH=bindir + ":/usr/bin:/bin")
        self.base = base
        self.seq = 0

    def exe(self, prog):
        return os.path.join(self.bindir, prog)

    def tmp(self, tag):
        self.seq += 1
        d = os.path.join(self.base, "%s-%s-%d" % (self.name.replace(" ", ""), tag, self.seq))
        os.makedirs(d)
        return d

    def sv(self, *args):
        t = time.perf_counter()
        r = subprocess.run([self.exe("sv")] + list(args), env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        dt = time.perf_counter() - t
        if r.returncode != 0:
            raise NA("sv %s exited %d (%s)" % (" ".join(args[:-1]), r.returncode,
                                               (r.stdout + r.stderr).decode(errors="replace").strip()))
        return dt, r.stdout.decode(errors="replace")


class Bench:
    def __init__(self, args):
        self.quick = args.quick
        self.reps = args.reps or (1 if args.quick else 5)
        self.ns = [1, 5] if args.quick else [1, 10, 50, 500]
        self.rows = []      # see row()
        self.notes = []
        self.startup = {}   # (impl, case) -> {n: seconds}
        base = args.tmp or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir())
        self.root = tempfile.mkdtemp(prefix="urunit-bench-", dir=base)
        self.impls = {}
        self.bad = {}
        self.ubin = os.path.abspath(args.urunit)
        self.cdir = os.path.abspath(args.crunit)

    def order(self, rep):
        return IMPLS if rep % 2 == 0 else IMPLS[::-1]

    # -- setup

    def find_c(self, prog):
        for sub in ("usr/bin", "usr/sbin", "sbin", "bin", "."):
            p = os.path.join(self.cdir, sub, prog)
            if os.path.isfile(p):
                return p
        return None

    def setup(self):
        # A binary just written by the linker has dirty page-cache pages until writeback, and
        # those count as Private_Dirty in every process that maps them: write them out first.
        for p in [self.ubin] + [self.find_c(p) for p in PROGS if self.find_c(p)]:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        ub = os.path.join(self.root, "bin-urunit")
        os.makedirs(ub)
        r = subprocess.run([self.ubin, "--install", ub], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.exit("bench: %s --install failed: %s" % (self.ubin, r.stdout.decode(errors="replace")))
        cb = os.path.join(self.root, "bin-crunit")
        os.makedirs(cb)
        for p in PROGS:
            src = self.find_c(p)
            if src is None:
                sys.exit("bench: C runit's %s not found under %s (run `make crunit`)" % (p, self.cdir))
            os.symlink(src, os.path.join(cb, p))
        self.impls = {"urunit": Impl("urunit", ub, self.root), "C runit": Impl("C runit", cb, self.root)}

    def row(self, figure, unit, vals, runs=None, fmt=None, ratio=True):
        """A table row: {impl: value or NA}; `ratio` False for counts and exit codes."""
        self.rows.append((figure, unit, vals, runs, fmt, ratio))

    def measure(self, reps, fn, keys=None, group=None):
        """Medians of fn(impl) over reps, interleaved: {impl: value}, or with `keys` (fn returns
        a dict) {key: {impl: value}}. An impl that fails once is NA from then on, and stays NA
        for later calls with the same `group` (so a missing program costs one timeout)."""
        got = {k: [] for k in IMPLS}
        bad = self.bad.setdefault(group, {}) if group else {}
        for rep in range(reps):
            for k in self.order(rep):
                if k in bad:
                    continue
                try:
                    got[k].append(fn(self.impls[k]))
                except NA as e:
                    bad[k] = e

        def med(k, f):
            if k in bad:
                return bad[k]
            return statistics.median([r[f] if f else r for r in got[k]])
        if keys is None:
            return {k: med(k, None) for k in IMPLS}
        return {f: {k: med(k, f) for k in IMPLS} for f in keys}

    # -- binary size

    def sizes(self):
        u = os.path.getsize(self.ubin)
        c_all = sum(os.path.getsize(self.find_c(p)) for p in PROGS)
        c_runsv = os.path.getsize(self.find_c("runsv"))
        self.row("binary: all programs (urunit: 1 static file; C: %s)" % "+".join(PROGS),
                 "bytes", {"urunit": u, "C runit": c_all})
        self.row("binary: vs C runsv alone", "bytes", {"urunit": u, "C runit": c_runsv})
        self.notes.append("C runit's binaries are dynamically linked to glibc (not counted); "
                          "urunit is static and needs nothing else.")

    # -- runsv

    def one_runsv(self, im):
        d = im.tmp("runsv")
        svc = os.path.join(d, "svc")
        make_service(svc)
        log = os.path.join(d, "log")
        t = time.perf_counter()
        pid = spawn(im.exe("runsv"), ["runsv", svc], im.env, log=log)
        try:
            poll(lambda: running(svc), 5, "runsv", pid, log)
            dt = time.perf_counter() - t
            poll(lambda: exec_done(pid, 1), 5, "runsv's service", pid, log)
            rss, priv, dirty, _ = smaps(pid)
            return {"start": dt, "rss": rss, "priv": priv, "dirty": dirty}
        finally:
            cleanup(pid)

    def runsv(self):
        r = self.measure(self.reps, self.one_runsv, ("start", "rss", "priv", "dirty"))
        self.row("runsv: start to service running", "ms", r["start"], self.reps, fmt="ms")
        self.row("runsv idle: Rss", "KiB", r["rss"], self.reps)
        self.row("runsv idle: private (Private_Clean+Dirty)", "KiB", r["priv"], self.reps)
        self.row("runsv idle: Private_Dirty alone", "KiB", r["dirty"], self.reps)
        self.notes.append("memory: Private_Clean counts file pages that only this process maps, so "
                          "a lone urunit process's own code counts as private until other urunit "
                          "processes map it (see the per-service rows); C runit's code mostly "
                          "lives in glibc, shared with every other process.")

    # -- runsvdir start-up

    def one_startup(self, im, n, fresh):
        d = im.tmp("start%d" % n)
        sd = os.path.join(d, "service")
        svcs = make_svdir(sd, n, old=not fresh)
        log = os.path.join(d, "log")
        if fresh:
            age(sd, 0)
        t = time.perf_counter()
        pid = spawn(im.exe("runsvdir"), ["runsvdir", sd], im.env, log=log)
        try:
            poll(all_running(svcs), 20 + n / 20, "runsvdir", pid, log)
            return time.perf_counter() - t
        finally:
            cleanup(pid)
            shutil.rmtree(d, ignore_errors=True)

    def startup_all(self):
        cases = [("old", False)] + ([] if self.quick else [("fresh", True)])
        for case, fresh in cases:
            for n in self.ns:
                reps = self.reps if n < 500 else max(1, self.reps - 2)
                r = self.measure(reps, lambda im: self.one_startup(im, n, fresh), group="startup")
                for k in IMPLS:
                    if not isinstance(r[k], NA):
                        self.startup.setdefault((k, case), {})[n] = r[k]
                what = "files 1 h old" if case == "old" else "files just written"
                self.row("runsvdir: %d service%s running (%s)" % (n, "s" * (n > 1), what),
                         "ms", r, reps, fmt="ms")
        self.notes.append("runsvdir start-up: from spawning runsvdir until every service's "
                          "supervise/status says run with a pid (polled every 1 ms). \"files 1 h "
                          "old\": the service directory and everything in it has an old mtime, as "
                          "in an image or /etc/sv. \"files just written\": all mtimes are now, as "
                          "right after creating or copying the directory; C runsvdir then sleeps "
                          "1 s before its scan (the directory's mtime is in the current second), "
                          "urunit's runsvdir waits until a new service's files are 50 ms old.")

    # -- hot add

    def hotadd_session(self, im, reps):
        d = im.tmp("hotadd")
        sd = os.path.join(d, "service")
        svcs = make_svdir(sd, 1)
        log = os.path.join(d, "log")
        pid = spawn(im.exe("runsvdir"), ["runsvdir", sd], im.env, log=log)
        out = []
        try:
            poll(all_running(svcs), 20, "runsvdir", pid, log)
            for i in range(reps):
                # Not measured: let runsvdir go idle. C runsvdir rescans 1 s after starting a
                # runsv, then every 5 s: 3.5 s puts the add mid-way in that 5-s timer (its
                # average case); --quick adds during the 1-s rescan instead.
                time.sleep(0.2 if self.quick else 3.5)
                new = os.path.join(d, "new%d" % i)
                make_service(new)
                t = time.perf_counter()
                os.rename(new, os.path.join(sd, "new%d" % i))
                poll(lambda: running(os.path.join(sd, "new%d" % i)), 20, "hot-added service", pid, log)
                out.append(time.perf_counter() - t)
            return out
        finally:
            cleanup(pid)

    def hotadd(self):
        reps = 1 if self.quick else 3
        r = {}
        for k in IMPLS:
            try:
                r[k] = statistics.median(self.hotadd_session(self.impls[k], reps))
            except NA as e:
                r[k] = e
        self.row("runsvdir: hot-add (rename a service dir in) to running", "ms", r, reps, fmt="ms")
        self.notes.append("hot-add: a prepared service directory (files 1 h old, as when linking "
                          "/etc/sv/NAME in) is renamed into the directory of a running runsvdir, "
                          "3.5 s after its previous start; time until its run runs. C runsvdir "
                          "rescans every 5 s (+1 s when the mtime is in the current second), so "
                          "its latency is 0-6 s depending on the phase of that timer; 3.5 s after "
                          "a start is mid-way, its average case.")

    # -- PID 1: memory and idle wake-ups

    def start_pid1(self, im, sd, log):
        """runsvdir as PID 1 of a new PID namespace: (unshare pid, runsvdir pid)."""
        argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", im.exe("runsvdir"), sd]
        up = spawn(shutil.which("unshare") or "/usr/bin/unshare", argv, im.env, log=log)

        def init():
            for c in children(up):
                try:
                    with open("/proc/%d/cmdline" % c, "rb") as f:
                        if f.read().split(b"\0")[0] == im.exe("runsvdir").encode():
                            return c
                except OSError:
                    pass
            return None
        try:
            return up, poll(init, 10, "runsvdir as PID 1 (unshare)", up, log)
        except NA:
            cleanup(up)
            raise

    def pid1_idle(self):
        n = 5 if self.quick else 50
        idle = 1.0 if self.quick else 5.0
        st = {}
        res = {k: {} for k in IMPLS}
        for k in IMPLS:
            im = self.impls[k]
            d = im.tmp("pid1")
            sd = os.path.join(d, "service")
            svcs = make_svdir(sd, n)
            log = os.path.join(d, "log")
            try:
                up, init = self.start_pid1(im, sd, log)
            except NA as e:
                res[k] = e
                continue
            st[k] = (up, init, svcs, log)
        try:
            for k, (up, init, svcs, log) in list(st.items()):
                try:
                    poll(all_running(svcs), 30, "runsvdir as PID 1 (%d services)" % n, up, log)
                    poll(lambda: exec_done(init, n), 10, "services of runsvdir as PID 1", up, log)
                    res[k]["runsvdir"] = smaps(init)
                except (NA, OSError) as e:
                    res[k] = NA(str(e))
                    cleanup(up)
                    del st[k]
            # Let start-up work settle (C runsvdir rescans 1 s after adding services), then count.
            settle = time.perf_counter() + (0.2 if self.quick else 2.5)
            while time.perf_counter() < settle:
                time.sleep(0.05)
            before = {}
            for k, (up, init, svcs, log) in st.items():
                kids = [c for c in children(init) if comm(c) not in ("", "sleep")]
                res[k]["kids"] = kids
                before[k] = sum(ctxt(p) for p in [init] + kids)
            t0 = time.perf_counter()
            end = t0 + idle
            while time.perf_counter() < end:
                time.sleep(0.05)
            # Pss (shared pages split among their users) gives the total cost of the tree.
            for k, (up, init, svcs, log) in st.items():
                kids = res[k]["kids"]
                try:
                    after = sum(ctxt(p) for p in [init] + kids)
                    res[k]["wake"] = after - before[k]
                    mem = [smaps(p) for p in kids]
                    if len(kids) != n:
                        raise NA("runsvdir has %d children, expected %d runsv" % (len(kids), n))
                    res[k]["per"] = (sum(m[0] for m in mem) / n, sum(m[1] for m in mem) / n)
                    res[k]["pss"] = smaps(init)[3] + sum(m[3] for m in mem)
                except (NA, OSError) as e:
                    res[k] = NA(str(e))
        finally:
            for k, (up, init, svcs, log) in st.items():
                cleanup(up)

        def pick(f):
            return {k: (res[k] if isinstance(res[k], NA) else f(res[k])) for k in IMPLS}
        self.row("runsvdir as PID 1 (%d services): Rss" % n, "KiB", pick(lambda r: r["runsvdir"][0]), 1)
        self.row("runsvdir as PID 1: private", "KiB", pick(lambda r: r["runsvdir"][1]), 1)
        self.row("per service (runsv Rss, sum / N)", "KiB", pick(lambda r: r["per"][0]), 1, fmt="f1")
        self.row("per service (runsv private, sum / N)", "KiB", pick(lambda r: r["per"][1]), 1, fmt="f1")
        self.row("runsvdir + %d runsv: Pss total" % n, "KiB", pick(lambda r: r["pss"]), 1)
        self.row("idle wake-ups of runsvdir + %d runsv in %g s" % (n, idle), "ctxsw",
                 pick(lambda r: r["wake"]), 1, fmt="int")
        self.notes.append("idle wake-ups: voluntary + involuntary context switches of runsvdir and "
                          "every runsv (not the services), counted from /proc/PID/status after a "
                          "settling pause; both implementations idle at the same time.")

    # -- PID 1: stop

    def one_stop(self, im, n):
        d = im.tmp("stop")
        sd = os.path.join(d, "service")
        marks = os.path.join(d, "finished")
        os.makedirs(marks)
        svcs = make_svdir(sd, n, finish_dir=marks)
        log = os.path.join(d, "log")
        up, init = self.start_pid1(im, sd, log)
        try:
            poll(all_running(svcs), 30, "runsvdir as PID 1 (%d services)" % n, up, log)
            t = time.perf_counter()
            os.kill(init, signal.SIGTERM)
            rc = wait_exit(up, 30, "PID 1 after SIGTERM")[0]
            dt = time.perf_counter() - t
            return {"time": dt, "graceful": len(os.listdir(marks)), "rc": rc}
        finally:
            cleanup(up)
            shutil.rmtree(d, ignore_errors=True)

    def pid1_stop(self):
        n = 5 if self.quick else 50
        reps = 1 if self.quick else 3
        r = self.measure(reps, lambda im: self.one_stop(im, n), ("time", "graceful", "rc"))
        self.row("stop as PID 1: SIGTERM to exit (%d services)" % n, "ms", r["time"], reps, fmt="ms")
        self.row("  services whose ./finish ran (of %d)" % n, "count", r["graceful"], reps, fmt="int", ratio=False)
        self.row("  exit code of PID 1", "code", r["rc"], reps, fmt="int", ratio=False)
        self.notes.append("stop as PID 1: C runsvdir exits at once on SIGTERM without telling its "
                          "runsv processes; the kernel then SIGKILLs the namespace, so no service "
                          "is stopped gracefully and no ./finish runs (runsvdir weakness 1). Its "
                          "short time is not a graceful stop; urunit's includes stopping every "
                          "service and running its ./finish.")

    # -- sv

    def sv_all(self):
        """Both runsv run side by side; before each command both services are settled (in the
        state the command starts from for >= 1.1 s, past runsv's 1-second restart throttle), then
        the command is timed for each implementation, the order alternating per repetition."""
        reps = 1 if self.quick else 5
        res = {k: {"status": [], "down": [], "up": [], "restart": []} for k in IMPLS}
        early = {k: 0 for k in IMPLS}
        live = {}
        for k in IMPLS:
            im = self.impls[k]
            d = im.tmp("sv")
            svc = os.path.join(d, "svc")
            make_service(svc)
            log = os.path.join(d, "log")
            pid = spawn(im.exe("runsv"), ["runsv", svc], im.env, log=log)
            live[k] = (im, svc, pid, log)
        try:
            for k, (im, svc, pid, log) in list(live.items()):
                try:
                    poll(lambda: running(svc), 5, "runsv", pid, log)
                    text = im.sv("status", svc)[1]
                    if not text.startswith("run: "):
                        raise NA("sv status printed %r" % text)
                except NA as e:
                    res[k] = e
                    cleanup(pid)
                    del live[k]

            def settle(state):
                for k, (im, svc, pid, log) in list(live.items()):
                    try:
                        poll(lambda: settled(svc, state, 1.1), 10, "service %s" % state, pid, log)
                    except NA as e:
                        res[k] = e
                        cleanup(pid)
                        del live[k]

            def timed(rep, cmd, args, after=None):
                for k in self.order(rep):
                    if k not in live:
                        continue
                    im, svc, pid, log = live[k]
                    try:
                        before = status(svc)
                        res[k][cmd].append(im.sv(*(args + (svc,)))[0])
                        if after:
                            after(k, svc, before)
                    except NA as e:
                        res[k] = e
                        cleanup(pid)
                        del live[k]

            def is_down(k, svc, before):
                if not down(svc):
                    raise NA("sv -w 5 down returned but the service is not down")

            def is_up(k, svc, before):
                if not running(svc):
                    raise NA("sv -w 5 up returned but the service is not running")

            def restarted(k, svc, before):
                st = status(svc)
                if not st or st[1] == before[1] or st[0] != 1:
                    early[k] += 1

            for rep in range(reps):
                timed(rep, "status", ("status",))
                settle("run")
                timed(rep, "down", ("-w", "5", "down"), is_down)
                settle("down")
                timed(rep, "up", ("-w", "5", "up"), is_up)
                settle("run")
                timed(rep, "restart", ("restart",), restarted)
        finally:
            for k, (im, svc, pid, log) in live.items():
                cleanup(pid)
        for cmd, label in (("status", "sv status"), ("down", "sv -w 5 down"),
                           ("up", "sv -w 5 up"), ("restart", "sv restart")):
            self.row(label, "ms", {k: (res[k] if isinstance(res[k], NA) else statistics.median(res[k][cmd]))
                                         for k in IMPLS}, reps, fmt="ms")
        self.row("  sv restart answered before the new pid ran", "count",
                 {k: (res[k] if isinstance(res[k], NA) else early[k]) for k in IMPLS}, reps, fmt="int", ratio=False)
        self.notes.append("sv: each sv against its own runsv, spawn to exit, started after the "
                          "service has been in its state for 1.1 s (past runsv's 1-second restart "
                          "throttle). C sv polls every 420 ms while it waits.")

    # -- svlogd

    def svlogd_input(self, lines):
        p = os.path.join(self.root, "input-%d" % lines)
        if not os.path.exists(p):
            with open(p, "w") as f:
                chunk = []
                for i in range(lines):
                    chunk.append("2026-11-24T01:02:03 bench[%07d]: the quick brown fox jumps\n" % i)
                    if len(chunk) == 10000:
                        f.write("".join(chunk))
                        chunk = []
                f.write("".join(chunk))
        return p

    def one_svlogd(self, im, lines):
        src = self.svlogd_input(lines)
        d = im.tmp("svlogd")
        ld = os.path.join(d, "log")
        os.makedirs(ld)
        log = os.path.join(d, "stderr")
        t = time.perf_counter()
        pid = spawn(im.exe("svlogd"), ["svlogd", ld], im.env, stdin=src, log=log)
        try:
            rc, ru = wait_exit(pid, 60 + lines / 10000, "svlogd")
            dt = time.perf_counter() - t
            if rc != 0:
                raise NA("svlogd exited %d%s" % (rc, tail(log) and " (%s)" % tail(log)))
            # The default config keeps 10 rotated files: check that the last line arrived intact.
            last = b""
            for f in sorted(x for x in os.listdir(ld) if x.startswith("@")) + ["current"]:
                with open(os.path.join(ld, f), "rb") as fh:
                    last = (fh.read().splitlines() or [last])[-1]
            want = ("2026-11-24T01:02:03 bench[%07d]: the quick brown fox jumps" % (lines - 1)).encode()
            if last != want:
                raise NA("svlogd's log does not end with the last input line")
            return {"lps": lines / dt, "cpu": (ru.ru_utime + ru.ru_stime) / lines * 1e9}
        finally:
            cleanup(pid)
            shutil.rmtree(d, ignore_errors=True)

    def svlogd(self):
        lines = 20000 if self.quick else 1000000
        reps = 1 if self.quick else 3
        # A quick sanity run first, so that a missing svlogd fails fast.
        self.measure(1, lambda im: self.one_svlogd(im, 3), ("lps",), group="svlogd")
        r = self.measure(reps, lambda im: self.one_svlogd(im, lines), ("lps", "cpu"), group="svlogd")
        self.row("svlogd: %d lines of 60 bytes, throughput" % lines, "lines/s", r["lps"], reps, fmt="int")
        self.row("svlogd: CPU (user+sys) per line", "ns", r["cpu"], reps, fmt="int")
        self.notes.append("svlogd: stdin is a file, default config (rotate at 1,000,000 bytes, "
                          "keep 10), no timestamps; log directory on %s." % fs_of(self.root))

    # -- output

    def table(self):
        def show(v, fmt):
            if isinstance(v, NA):
                return "n/a"
            if fmt == "ms":
                return "%.1f" % (v * 1000)
            if fmt == "f1":
                return "%.1f" % v
            if fmt == "f2":
                return "%.2f" % v
            return "%d" % round(v)

        out = ["| figure | unit | urunit | C runit | urunit / C | runs |",
               "| --- | --- | ---: | ---: | ---: | ---: |"]
        foot = []
        for fig, unit, vals, runs, fmt, want_ratio in self.rows:
            u, c = vals["urunit"], vals["C runit"]
            if not want_ratio or isinstance(u, NA) or isinstance(c, NA):
                ratio = "n/a" if want_ratio else ""
            elif c == 0:
                ratio = "inf" if u else "1.00"
            else:
                ratio = "%.2f" % (u / c)
            for k in IMPLS:
                if isinstance(vals[k], NA) and "%s: %s" % (k, vals[k]) not in foot:
                    foot.append("%s: %s" % (k, vals[k]))
            unit_txt = "ms" if fmt == "ms" else unit
            out.append("| %s | %s | %s | %s | %s | %s |" % (fig, unit_txt, show(u, fmt), show(c, fmt), ratio,
                                                             runs if runs else ""))
        text = "\n".join(out) + "\n"
        if self.notes:
            text += "\nNotes:\n" + "".join("- %s\n" % n for n in self.notes)
        if foot:
            text += "\nWhy n/a:\n" + "".join("- %s\n" % f for f in foot)
        return text

    def svg(self, path):
        write_svg(path, self.startup, self.ns, "log-log; medians of %d runs (N=500: %d); %d CPUs; %s" % (
            self.reps, max(1, self.reps - 2), os.cpu_count(), time.strftime("%Y-%m-%d", time.gmtime())))


def fs_of(path):
    best, typ = "", "?"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                p = line.split()
                if path.startswith(p[1]) and len(p[1]) >= len(best):
                    best, typ = p[1], p[2]
    except OSError:
        pass
    return "%s (%s)" % (best, typ)


# ---------------------------------------------------------------- chart


def write_svg(path, data, ns, subtitle=""):
    """Start-up time against the number of services, log-log, one line per (impl, case)."""
    import math
    w, h, l, r, t, b = 720, 440, 70, 200, 44, 50
    vals = [v for series in data.values() for v in series.values() if v > 0]
    lo = 10 ** math.floor(math.log10(min(vals) * 1000)) if vals else 1
    hi = 10 ** math.ceil(math.log10(max(vals) * 1000)) if vals else 1000
    if hi <= lo:
        hi = lo * 10
    xs = sorted(ns)
    x0, x1 = math.log10(xs[0]), math.log10(xs[-1]) if xs[-1] > xs[0] else math.log10(xs[0]) + 1

    def X(n):
        return l + (math.log10(n) - x0) / (x1 - x0) * (w - l - r)

    def Y(ms):
        return h - b - (math.log10(ms) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (h - t - b)

    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="12">' % (w, h),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="20" font-size="15">runsvdir start-up: time until all N services run</text>' % l,
         '<text x="%d" y="34" font-size="11" fill="#555">%s</text>' % (l, subtitle)]
    d = lo
    while d <= hi * 1.0001:
        y = Y(d)
        s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (l, w - r, y, y))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%s ms</text>' % (l - 6, y + 4, ("%g" % d)))
        d *= 10
    for n in xs:
        x = X(n)
        s.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ddd"/>' % (x, x, t, h - b))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (x, h - b + 18, n))
    s.append('<text x="%d" y="%d" text-anchor="middle">services (N)</text>' % ((l + w - r) // 2, h - 10))
    s.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>' % (l, t, w - l - r, h - t - b))
    styles = {("urunit", "old"): ("#1f77b4", ""), ("urunit", "fresh"): ("#1f77b4", "6,4"),
              ("C runit", "old"): ("#d62728", ""), ("C runit", "fresh"): ("#d62728", "6,4")}
    ly = t + 10
    for key, (color, dash) in styles.items():
        label = "%s, %s" % (key[0], "files old" if key[1] == "old" else "files new")
        series = data.get(key, {})
        pts = [(X(n), Y(series[n] * 1000)) for n in xs if n in series and series[n] > 0]
        if pts:
            s.append('<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>'
                     % (color, dash, " ".join("%.1f,%.1f" % p for p in pts)))
            for x, y in pts:
                s.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x, y, color))
        else:
            label += ": n/a"
        s.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>'
                 % (w - r + 12, w - r + 40, ly, ly, color, dash))
        s.append('<text x="%d" y="%d">%s</text>' % (w - r + 46, ly + 4, label))
        ly += 20
    s.append("</svg>\n")
    with open(path, "w") as f:
        f.write("\n".join(s))


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urunit", required=True, help="the urunit binary")
    ap.add_argument("--crunit", required=True, help="C runit's directory (usr/bin/runsv, sbin/runit)")
    ap.add_argument("--quick", action="store_true", help="small N, 1 repetition (a smoke test)")
    ap.add_argument("--reps", type=int, help="repetitions (default 5, --quick 1)")
    ap.add_argument("--svg", help="chart file (default bench/startup.svg; --quick: none)")
    ap.add_argument("--tmp", help="directory for the services (default /dev/shm)")
    ap.add_argument("--only", help="comma-separated parts: size,runsv,startup,hotadd,pid1,stop,sv,svlogd")
    a = ap.parse_args()
    set_subreaper()
    b = Bench(a)
    parts = {"size": b.sizes, "runsv": b.runsv, "startup": b.startup_all, "hotadd": b.hotadd,
             "pid1": b.pid1_idle, "stop": b.pid1_stop, "sv": b.sv_all, "svlogd": b.svlogd}
    want = a.only.split(",") if a.only else list(parts)
    t0 = time.perf_counter()
    load0 = loadavg()
    try:
        b.setup()
        for p in want:
            t = time.perf_counter()
            parts[p]()
            print("bench: %s done in %.1f s" % (p, time.perf_counter() - t), file=sys.stderr, flush=True)
    finally:
        cleanup_all()
        shutil.rmtree(b.root, ignore_errors=True)
    print("urunit vs C runit (%s; %d CPUs; kernel %s; load average %s before, %s after; %s)" % (
        "quick" if a.quick else "%d repetitions, medians" % b.reps, os.cpu_count(), os.uname().release,
        load0, loadavg(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    print()
    print(b.table(), end="")
    svg = a.svg or (None if a.quick else os.path.join(os.path.dirname(os.path.abspath(__file__)), "startup.svg"))
    if svg and "startup" in want:
        b.svg(svg)
        print("\nchart: %s" % svg)
    print("\ntotal bench time: %.0f s" % (time.perf_counter() - t0))


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def cleanup_all():
    """Anything left below us (we are a subreaper) is ours: end it."""
    mine = descendants(os.getpid())
    kill_all(mine)
    reap_zombie_children()


if __name__ == "__main__":
    main()
