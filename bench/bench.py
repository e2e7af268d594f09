#!/usr/bin/env python3
"""urunit vs Debian's C runit, s6 and busybox's runit applets, side by side in one run.

    python3 bench/bench.py --urunit BIN --crunit DIR [--s6 DIR] [--busybox BIN] [--floor BIN]
                           [--unstripped BIN] [--quick] [--svg FILE] [--reps N] [--only PARTS]

BIN is the urunit binary; DIR holds C runit (an unpacked .deb: usr/bin/runsv, sbin/runit, or the
binaries themselves). s6 is taken from --s6 DIR (default: where s6-svscan is on PATH); busybox from
--busybox (a busybox built with its runit applets; when the file is missing, the reason is read
from why.txt next to it). A supervisor that is not there loses its column, and the reason is
printed above the table. The floor (bench/floor.c, no supervisor: --floor, or built here with
musl-gcc, else gcc -static) has a column of its own for start-up and stop. Prints one table
(every figure as median (min..max) of its samples, and the ratios urunit / C runit and urunit /
s6 of the medians) and writes an SVG chart of start-up time against the number of services.

Method: each runit implementation runs as runit would, from its own bin directory (links named
runsv, runsvdir, sv, svlogd, chpst, runit) with PATH set so that runsvdir finds its own runsv; s6
runs s6-svscan on a scan directory holding the very same run scripts. All are measured in the same
run, interleaved (the order rotates per repetition). Readiness is polled every 1 ms; nothing
measured relies on a fixed sleep. A program that is missing or fails gives "n/a" rows with the
reason, never a crash.

Python 3 standard library only; Linux only (/proc, unshare(1) for the PID-namespace figures).
"""

import argparse
import ctypes
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ALL = ("urunit", "C runit", "s6", "busybox")
RUNIT_PROGS = ("runsv", "runsvdir", "sv", "svlogd", "chpst", "runit")
BB_PROGS = ("runsv", "runsvdir", "sv", "svlogd", "chpst")
# The s6 programs the bench uses (the size row counts these).
S6_PROGS = ("s6-svscan", "s6-supervise", "s6-svc", "s6-svstat", "s6-svwait", "s6-log")
S6_HELPERS = ("s6-svscanctl", "s6-svlisten1")
RUN_BODY = "#!/bin/sh\nexec sleep 2147483647\n"
# Ready at once through the notification-fd (3) when the supervisor gives one; where fd 3 is not
# open (no readiness support) the echo fails quietly and the service just runs.
NOTIFY_BODY = "#!/bin/sh\n{ echo >&3; } 2>/dev/null\nexec 3>&-\nexec sleep 2147483647\n"
POLL = 0.001
# Issue 17's goals in ms, for N services: start-up (files old or just written), and a graceful
# stop as PID 1 with every ./finish run.
START_GOALS = {50: 12, 500: 130}
STOP_GOALS = {1: 2, 50: 15, 500: 60}


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


# ---------------------------------------------------------------- status files


def tai_age(b, offset=10):
    """Seconds since the TAI64N label in the first 12 bytes of `b`, and the label as Unix time.
    runit writes Unix time + 10 s; skalibs (s6) may count the leap seconds too (see S6_TAI)."""
    secs = int.from_bytes(b[0:8], "big") - (1 << 62) - offset + int.from_bytes(b[8:12], "big") / 1e9
    return time.time() - secs, secs


# TAI - Unix seconds in s6's stamps: 10, or 37 when skalibs counts the leap seconds (Debian's
# does); Bench.setup measures it.
S6_TAI = [10]


def runit_status(svc):
    """runit's supervise/status (20 bytes): {run, down, pid, age, stamp} or None."""
    try:
        with open(svc + "/supervise/status", "rb") as f:
            b = f.read()
    except OSError:
        return None
    if len(b) != 20:
        return None
    pid = int.from_bytes(b[12:16], "little")
    a, stamp = tai_age(b)
    return {"run": b[19] == 1 and pid != 0, "down": b[19] == 0 and pid == 0, "pid": pid, "age": a,
            "stamp": stamp}


def s6_status(svc):
    """s6's supervise/status (35 bytes in s6 2.11; 43 with a pgid in later ones): stamp, ready
    stamp, pid (8 bytes big-endian), ..., flags in the last byte (1 paused, 2 finishing,
    4 want up, 8 ready)."""
    try:
        with open(svc + "/supervise/status", "rb") as f:
            b = f.read()
    except OSError:
        return None
    if len(b) not in (35, 43):
        return None
    pid = int.from_bytes(b[24:32], "big")
    flags = b[-1]
    a, stamp = tai_age(b, S6_TAI[0])
    return {"run": pid != 0 and not flags & 2, "down": pid == 0, "pid": pid, "age": a,
            "stamp": stamp, "ready": bool(flags & 8)}


def age(path, secs):
    """Sets the mtime of `path` and everything in it to `secs` ago (files deepest first, so
    that the directories keep the time too)."""
    t = time.time() - secs
    for d, _, files in os.walk(path, topdown=False):
        for f in files:
            os.utime(os.path.join(d, f), (t, t))
        os.utime(d, (t, t))


def write_exe(path, body):
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)


def make_service(path, finish=None, old=True, run=RUN_BODY, notify=False, deps=()):
    """A service directory whose run sleeps; `old`: its files are an hour old, as in an image
    or /etc/sv (urunit's runsvdir waits 50 ms for files written just now to settle).
    `notify`: a notification-fd file (3) and a run that reports ready at once; `deps`: names
    in dependencies.d/."""
    os.makedirs(path)
    write_exe(os.path.join(path, "run"), NOTIFY_BODY if notify else run)
    if finish is not None:
        write_exe(os.path.join(path, "finish"), finish)
    if notify:
        with open(os.path.join(path, "notification-fd"), "w") as f:
            f.write("3\n")
    if deps:
        os.makedirs(os.path.join(path, "dependencies.d"))
        for d in deps:
            open(os.path.join(path, "dependencies.d", d), "w").close()
    if old:
        age(path, 3600)


# The tiny static service program (bench/floor.c, built by `make bench`): as `run` it sleeps
# until a signal ends it, as `finish` it creates ../../finished/NAME. Set by Bench.setup.
STATIC = [None]


def make_svdir(path, n, finish_dir=None, old=True, static=False):
    """`n` services in a new directory `path` (all of it an hour old if `old`). `finish_dir`:
    each service gets a ./finish that creates a file named after it there. `static`: run and
    finish are hard links to the tiny static program (one inode, so its mtime is the files';
    `finish_dir` must then be ../finished beside `path`), else shell scripts that exec sleep(1)."""
    os.makedirs(path)
    svcs = []
    for i in range(n):
        s = os.path.join(path, "s%03d" % i)
        if static:
            os.makedirs(s)
            os.link(STATIC[0], os.path.join(s, "run"))
            if finish_dir is not None:
                os.link(STATIC[0], os.path.join(s, "finish"))
        else:
            fin = None if finish_dir is None else "#!/bin/sh\n: > %s/s%03d\n" % (finish_dir, i)
            make_service(s, fin, old=False)
        svcs.append(s)
    if old:
        age(path, 3600)
    return svcs


# ---------------------------------------------------------------- the supervisors


class Impl:
    """One supervisor suite. kind "runit" (urunit, C runit, busybox) or "s6"; every operation
    the bench needs, in that suite's own programs."""

    def __init__(self, name, kind, bindir, base):
        self.name = name
        self.kind = kind
        self.bindir = bindir
        self.env = dict(os.environ, PATH=bindir + ":/usr/bin:/bin")
        self.base = base
        self.seq = 0
        s6 = kind == "s6"
        self.scanner = "s6-svscan" if s6 else "runsvdir"
        self.supervisor = "s6-supervise" if s6 else "runsv"

    def exe(self, prog):
        return os.path.join(self.bindir, prog)

    def tmp(self, tag):
        self.seq += 1
        d = os.path.join(self.base, "%s-%s-%d" % (self.name.replace(" ", ""), tag, self.seq))
        os.makedirs(d)
        return d

    def status(self, svc):
        return s6_status(svc) if self.kind == "s6" else runit_status(svc)

    def running(self, svc):
        st = self.status(svc)
        return st is not None and st["run"]

    def down(self, svc):
        st = self.status(svc)
        return st is not None and st["down"]

    def settled(self, svc, state, secs):
        """In `state` ("run" or "down") for at least `secs` seconds."""
        st = self.status(svc)
        return st is not None and st[state] and st["age"] >= secs

    def all_running(self, svcs):
        """A cheap poll for many services: once one is seen running it stays so (its run sleeps)."""
        i = [0]

        def cond():
            while i[0] < len(svcs) and self.running(svcs[i[0]]):
                i[0] += 1
            return i[0] == len(svcs)
        return cond

    def scan_argv(self, sd):
        return [self.exe(self.scanner), sd]

    def supervise_argv(self, svc):
        return [self.exe(self.supervisor), svc]

    def log_argv(self, ld):
        if self.kind == "s6":
            return [self.exe("s6-log"), "n10", "s1000000", ld]
        return [self.exe("svlogd"), ld]

    CTL = {
        # op: (runit argv, s6 argv) before the service directory
        "status": (("sv", "status"), ("s6-svstat",)),
        "down": (("sv", "-w", "5", "down"), ("s6-svc", "-wD", "-T", "5000", "-d")),
        "up": (("sv", "-w", "5", "up"), ("s6-svc", "-wu", "-T", "5000", "-u")),
        "upready": (("sv", "-w", "5", "up"), ("s6-svc", "-wU", "-T", "5000", "-u")),
        "restart": (("sv", "restart"), ("s6-svc", "-r")),
        "restartready": (("sv", "-w", "5", "restart"), ("s6-svc", "-wR", "-T", "5000", "-r")),
    }

    def ctl(self, op, svc):
        """Runs one control command, spawn to exit: (seconds, stdout)."""
        argv = list(self.CTL[op][self.kind == "s6"])
        argv[0] = self.exe(argv[0])
        t = time.perf_counter()
        r = subprocess.run(argv + [svc], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        dt = time.perf_counter() - t
        if r.returncode != 0:
            raise NA("%s exited %d (%s)" % (" ".join([os.path.basename(argv[0])] + argv[1:]), r.returncode,
                                            (r.stdout + r.stderr).decode(errors="replace").strip()))
        return dt, r.stdout.decode(errors="replace")

    def rescan(self, sd):
        """After adding a service: s6-svscan scans on s6-svscanctl -a (the documented way);
        runsvdir needs nothing."""
        if self.kind == "s6":
            subprocess.run([self.exe("s6-svscanctl"), "-a", sd], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


def samples(v):
    """A row value as a list of samples, or the NA."""
    if isinstance(v, NA):
        return v
    return list(v) if isinstance(v, (list, tuple)) else [v]


def median(v):
    return statistics.median(v)


class Bench:
    def __init__(self, args):
        self.quick = args.quick
        self.reps = args.reps or (1 if args.quick else 7)
        self.ns = [1, 5] if args.quick else [1, 10, 50, 100, 500]
        self.rows = []      # see row()
        self.notes = []
        self.extra = []     # text printed after the table
        self.startup = {}   # (impl, case) -> {n: median seconds}
        self.goals = []     # issue 17's goal lines, printed after the table
        self.floor_bin = os.path.abspath(args.floor) if args.floor else None
        base = args.tmp or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir())
        self.root = tempfile.mkdtemp(prefix="urunit-bench-", dir=base)
        self.impls = {}
        self.names = []     # the supervisors measured, in column order
        self.absent = {}    # name -> why it has no column
        self.bad = {}
        self.args = args
        self.ubin = os.path.abspath(args.urunit)
        self.cdir = os.path.abspath(args.crunit)

    def order(self, rep):
        """The measuring order rotates per repetition, so no supervisor is always first."""
        k = rep % len(self.names)
        return self.names[k:] + self.names[:k]

    # -- setup

    def find_c(self, prog):
        for sub in ("usr/bin", "usr/sbin", "sbin", "bin", "."):
            p = os.path.join(self.cdir, sub, prog)
            if os.path.isfile(p):
                return p
        return None

    def s6_dir(self):
        d = self.args.s6
        if not d:
            p = shutil.which("s6-svscan")
            if not p:
                raise NA("s6-svscan not found on PATH (Debian: apt-get install s6; `make bench` does it)")
            d = os.path.dirname(os.path.realpath(p))
        for p in S6_PROGS + S6_HELPERS:
            if not os.path.isfile(os.path.join(d, p)):
                raise NA("%s not found in %s" % (p, d))
        return os.path.abspath(d)

    def busybox_bin(self):
        b = self.args.busybox
        if not b:
            raise NA("no --busybox given (`make bench` builds one with the runit applets: make busybox-runit)")
        b = os.path.abspath(b)
        if not os.path.isfile(b):
            why = os.path.join(os.path.dirname(b), "why.txt")
            try:
                with open(why) as f:
                    raise NA(f.read().strip() or "%s missing" % b)
            except OSError:
                raise NA("%s missing" % b)
        r = subprocess.run([b, "--list"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        have = set(r.stdout.decode(errors="replace").split())
        miss = [p for p in BB_PROGS if p not in have]
        if miss:
            raise NA("%s has no %s applet (Debian's busybox builds leave the runit applets out)"
                     % (b, ", ".join(miss)))
        return b

    def s6_calibrate(self):
        """Sets S6_TAI from a service s6-supervise has just started (its stamp is now)."""
        im = self.impls["s6"]
        d = im.tmp("tai")
        svc = os.path.join(d, "svc")
        make_service(svc)
        log = os.path.join(d, "log")
        pid = spawn(im.exe("s6-supervise"), im.supervise_argv(svc), im.env, log=log)
        try:
            poll(lambda: im.running(svc), 5, "s6-supervise", pid, log)
            S6_TAI[0] = 10
            S6_TAI[0] = 10 + round(-im.status(svc)["age"])
        finally:
            cleanup(pid)
            shutil.rmtree(d, ignore_errors=True)

    def setup(self):
        # A binary just written by the linker has dirty page-cache pages until writeback, and
        # those count as Private_Dirty in every process that maps them: write them out first.
        files = [self.ubin] + [self.find_c(p) for p in RUNIT_PROGS if self.find_c(p)]
        ub = os.path.join(self.root, "bin-urunit")
        os.makedirs(ub)
        r = subprocess.run([self.ubin, "--install", ub], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.exit("bench: %s --install failed: %s" % (self.ubin, r.stdout.decode(errors="replace")))
        cb = os.path.join(self.root, "bin-crunit")
        os.makedirs(cb)
        for p in RUNIT_PROGS:
            src = self.find_c(p)
            if src is None:
                sys.exit("bench: C runit's %s not found under %s (run `make crunit`)" % (p, self.cdir))
            os.symlink(src, os.path.join(cb, p))
        # The tiny static service, copied next to the services so that they can hard-link it.
        if self.floor_bin is None:
            self.floor_bin = build_floor(self.root)
        STATIC[0] = os.path.join(self.root, "svc")
        shutil.copy(self.floor_bin, STATIC[0])
        self.impls = {"urunit": Impl("urunit", "runit", ub, self.root),
                      "C runit": Impl("C runit", "runit", cb, self.root)}
        try:
            d = self.s6_dir()
            self.impls["s6"] = Impl("s6", "s6", d, self.root)
            self.s6_calibrate()
        except NA as e:
            self.impls.pop("s6", None)
            self.absent["s6"] = str(e)
        try:
            b = self.busybox_bin()
            bb = os.path.join(self.root, "bin-busybox")
            os.makedirs(bb)
            for p in BB_PROGS:
                os.symlink(b, os.path.join(bb, p))
            self.impls["busybox"] = Impl("busybox", "runit", bb, self.root)
            files.append(b)
        except NA as e:
            self.absent["busybox"] = str(e)
        for p in files:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.names = [k for k in ALL if k in self.impls]

    def row(self, figure, unit, vals, runs=None, fmt=None, ratio=True, floor=None):
        """A table row: {impl: sample list, number or NA}; `ratio` False for counts and exit codes;
        `floor`: bench/floor.c's samples for the same figure, if it has one."""
        self.rows.append((figure, unit, {k: samples(vals.get(k, NA("not measured"))) for k in self.names},
                          runs, fmt, ratio, floor))

    def measure(self, reps, fn, keys=None, group=None):
        """Samples of fn(impl) over reps, interleaved: {impl: [values]}, or with `keys` (fn
        returns a dict) {key: {impl: [values]}}. An impl that fails once is NA from then on, and
        stays NA for later calls with the same `group` (so a missing program costs one timeout)."""
        got = {k: [] for k in self.names}
        bad = self.bad.setdefault(group, {}) if group else {}
        for rep in range(reps):
            for k in self.order(rep):
                if k in bad:
                    continue
                try:
                    got[k].append(fn(self.impls[k]))
                except NA as e:
                    bad[k] = e

        def pick(k, f):
            if k in bad:
                return bad[k]
            return [r[f] if f else r for r in got[k]]
        if keys is None:
            return {k: pick(k, None) for k in self.names}
        return {f: {k: pick(k, f) for k in self.names} for f in keys}

    # -- binary size

    def sizes(self):
        u = os.path.getsize(self.ubin)
        vals = {"urunit": u, "C runit": sum(os.path.getsize(self.find_c(p)) for p in RUNIT_PROGS)}
        alone = {"urunit": u, "C runit": os.path.getsize(self.find_c("runsv"))}
        libs = dict(vals)
        what = ["urunit: 1 static file", "C: %s" % "+".join(RUNIT_PROGS)]
        if "s6" in self.impls:
            im = self.impls["s6"]
            vals["s6"] = sum(os.path.getsize(im.exe(p)) for p in S6_PROGS)
            alone["s6"] = os.path.getsize(im.exe("s6-supervise"))
            libs["s6"] = vals["s6"] + sum(os.path.getsize(p) for p in shared_libs(im.exe("s6-supervise"))
                                          if "libskarnet" in p)
            what.append("s6: %s" % "+".join(S6_PROGS))
        if "busybox" in self.impls:
            b = os.path.realpath(self.impls["busybox"].exe("runsv"))
            vals["busybox"] = alone["busybox"] = os.path.getsize(b)
            libs["busybox"] = vals["busybox"]
            what.append("busybox: 1 file")
        self.row("binary: all programs (%s)" % "; ".join(what), "bytes", vals)
        self.row("binary: the supervisor alone (runsv / s6-supervise)", "bytes", alone)
        if "s6" in self.impls:
            self.row("binary: all programs + their shared libraries besides libc (s6: libskarnet.so)",
                     "bytes", libs)
        self.notes.append("size: C runit, s6 and this busybox are dynamically linked to glibc (not "
                          "counted); s6 also needs libskarnet.so (counted in its own row). urunit is static and "
                          "needs nothing else.")
        if self.args.unstripped:
            try:
                self.extra.append(module_sizes(self.args.unstripped, u))
            except NA as e:
                self.extra.append("urunit bytes per module: n/a (%s)\n" % e)

    # -- one supervisor process

    def one_runsv(self, im):
        d = im.tmp("runsv")
        svc = os.path.join(d, "svc")
        make_service(svc)
        log = os.path.join(d, "log")
        t = time.perf_counter()
        pid = spawn(im.supervise_argv(svc)[0], im.supervise_argv(svc), im.env, log=log)
        try:
            poll(lambda: im.running(svc), 5, im.supervisor, pid, log)
            dt = time.perf_counter() - t
            poll(lambda: exec_done(pid, 1), 5, "%s's service" % im.supervisor, pid, log)
            rss, priv, dirty, _ = smaps(pid)
            return {"start": dt, "rss": rss, "priv": priv, "dirty": dirty}
        finally:
            cleanup(pid)

    def runsv(self):
        r = self.measure(self.reps, self.one_runsv, ("start", "rss", "priv", "dirty"))
        self.row("runsv / s6-supervise: start to service running", "ms", r["start"], self.reps, fmt="ms")
        self.row("runsv / s6-supervise idle: Rss", "KiB", r["rss"], self.reps)
        self.row("runsv / s6-supervise idle: private (Private_Clean+Dirty)", "KiB", r["priv"], self.reps)
        self.row("runsv / s6-supervise idle: Private_Dirty alone", "KiB", r["dirty"], self.reps)
        self.notes.append("memory: Private_Clean counts file pages that only this process maps, so "
                          "a lone urunit process's own code counts as private until other urunit "
                          "processes map it (see the per-service rows); the C programs' code mostly "
                          "lives in glibc (and libskarnet), shared with other processes.")

    # -- PID 1 of a PID namespace

    def spawn_pid1(self, im, sd, log):
        """The scanner as PID 1 of a new PID namespace: the unshare pid."""
        argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] + im.scan_argv(sd)
        return spawn(shutil.which("unshare") or "/usr/bin/unshare", argv, im.env, log=log)

    def start_pid1(self, im, sd, log):
        """The scanner as PID 1 of a new PID namespace: (unshare pid, scanner pid)."""
        up = self.spawn_pid1(im, sd, log)
        want = im.exe(im.scanner).encode()

        def init():
            for c in children(up):
                try:
                    with open("/proc/%d/cmdline" % c, "rb") as f:
                        if f.read().split(b"\0")[0] == want:
                            return c
                except OSError:
                    pass
            return None
        try:
            return up, poll(init, 10, "%s as PID 1 (unshare)" % im.scanner, up, log)
        except NA:
            cleanup(up)
            raise

    # -- start-up

    def one_startup(self, im, n, fresh):
        d = im.tmp("start%d" % n)
        sd = os.path.join(d, "service")
        svcs = make_svdir(sd, n, old=not fresh, static=True)
        log = os.path.join(d, "log")
        if fresh:
            age(sd, 0)
        t = time.perf_counter()
        up = self.spawn_pid1(im, sd, log)
        try:
            poll(im.all_running(svcs), 20 + n / 10, "%s as PID 1" % im.scanner, up, log)
            return time.perf_counter() - t
        finally:
            cleanup(up)
            shutil.rmtree(d, ignore_errors=True)

    def startup_reps(self, n):
        if self.quick:
            return 1
        return self.reps if n < 100 else (max(2, self.reps - 2) if n < 500 else max(1, self.reps - 4))

    def startup_all(self):
        cases = [("old", False)] + ([] if self.quick else [("fresh", True)])
        floor = {}
        for case, fresh in cases:
            for n in self.ns:
                reps = self.startup_reps(n)
                r = self.measure(reps, lambda im: self.one_startup(im, n, fresh), group="startup")
                if n not in floor:
                    floor[n] = self.floor_samples("start", n, reps)
                for k in self.names:
                    if not isinstance(r[k], NA):
                        self.startup.setdefault((k, case), {})[n] = median(r[k])
                what = "files 1 h old" if case == "old" else "files just written"
                self.row("start-up as PID 1: %d service%s running (%s)" % (n, "s" * (n > 1), what),
                         "ms", r, reps, fmt="ms", floor=field(floor[n], 0))
                if n in START_GOALS:
                    if ("runit", n) not in floor:
                        floor[("runit", n)] = self.floor_samples("runit", n, reps)
                    self.goal("start-up of %d services (%s)" % (n, what), START_GOALS[n], r.get("urunit"),
                              field(floor[n], 0), field(floor[("runit", n)], 0))
                if fresh and n == 50:
                    u, c = r["urunit"], r["C runit"]
                    if not isinstance(u, NA) and not isinstance(c, NA):
                        self.extra.append("goal: start-up of 50 services whose files were just written "
                                          "no slower than C runit: urunit %.1f ms, C runit %.1f ms (medians): %s\n"
                                          % (median(u) * 1e3, median(c) * 1e3,
                                             "met" if median(u) <= median(c) else "NOT met"))
        self.notes.append("start-up: from spawning `unshare --pid --fork --mount-proc SCANNER DIR` "
                          "(runsvdir, or s6-svscan on the same run scripts) until every service's "
                          "supervise/status says it runs with a pid (polled every 1 ms). \"files 1 h "
                          "old\": the service directory and everything in it has an old mtime, as "
                          "in an image or /etc/sv. \"files just written\": all mtimes are now, as "
                          "right after creating or copying the directory; C runsvdir then sleeps "
                          "1 s before its scan (the directory's mtime is in the current second), "
                          "urunit's runsvdir waits until a new service's files are 50 ms old, "
                          "s6-svscan scans at once. Every service's run is the tiny static program "
                          "(bench/floor.c built with musl-gcc, hard-linked as ./run): what is measured "
                          "is the supervisor, not a shell.")
        self.notes.append("floor: bench/floor.c as PID 1 of the same kind of namespace, timed the same "
                          "way: per service it fork+execs a supervisor stand-in (the same tiny static "
                          "program) that fork+execs ./run; at stop it TERMs each stand-in, which TERMs "
                          "its run, waits, runs ./finish, waits and exits. No supervisor does less "
                          "than that: the column is the machine's physical limit. The start-up goal "
                          "lines also give the floor with runit's supervise/ files (`floor.c runit`): "
                          "each stand-in first does what runit's runsv must do (mkdir, lock, the "
                          "control and ok FIFOs, pid, stat and status written atomically before ok "
                          "and again after the fork), the least any runit-compatible supervisor does.")

    def floor_samples(self, kind, n, reps):
        """Samples of bench/floor.c's start-up or stop of `n` services: [(start s, stop s, finish ran)]."""
        out = []
        for _ in range(reps):
            try:
                out.append(self.one_floor(kind, n))
            except NA as e:
                return e
        return out

    def one_floor(self, kind, n):
        argv = ["unshare", "--pid", "--fork", "--mount-proc", self.floor_bin, "-w", kind, str(n)]
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            line = p.stdout.readline()
            ts = time.perf_counter() - t
            if line != b"running\n":
                raise NA("bench/floor.c: %r" % line)
            kids = children(p.pid)
            if len(kids) != 1:
                raise NA("bench/floor.c: no PID 1 below unshare")
            t = time.perf_counter()
            os.kill(kids[0], signal.SIGTERM)
            rc = wait_exit(p.pid, 10 + n / 10, "bench/floor.c")[0]
            dt = time.perf_counter() - t
            words = p.stdout.read().split()
            ran = int(words[4]) if kind == "stop" and len(words) == 5 else 0
            if rc != 0:
                raise NA("bench/floor.c exited %d" % rc)
            return ts, dt, ran
        finally:
            p.stdout.close()
            cleanup(p.pid)

    def goal(self, what, limit, u, floor, runit_floor=None):
        """A goal line of issue 17: urunit's median against the limit, with the floor's (and the
        floor of a runit-compatible supervisor, which must write supervise/)."""
        if u is None or isinstance(u, NA):
            return
        f = "" if isinstance(floor, NA) or not floor else ", floor %.1f ms" % (median(floor) * 1e3)
        if runit_floor and not isinstance(runit_floor, NA):
            f += ", with runit's supervise/ files %.1f ms" % (median(runit_floor) * 1e3)
        self.goals.append("goal: %s under %g ms: urunit %.1f ms%s: %s" % (
            what, limit, median(u) * 1e3, f, "met" if median(u) * 1e3 < limit else "NOT met"))

    # -- dependency chain

    def one_chain(self, im, n):
        d = im.tmp("chain")
        sd = os.path.join(d, "service")
        os.makedirs(sd)
        # The chain's head is the last name in the directory and the tail the first, so a
        # supervisor that ignores dependencies.d/ starts them out of order.
        names = ["d%02d" % (n - 1 - i) for i in range(n)]
        for i, name in enumerate(names):
            make_service(os.path.join(sd, name), notify=True, deps=names[i - 1:i] if i else (), old=False)
        age(sd, 3600)
        log = os.path.join(d, "log")
        svcs = [os.path.join(sd, x) for x in names]
        t = time.perf_counter()
        up = self.spawn_pid1(im, sd, log)
        try:
            poll(im.all_running(svcs), 20, "%s as PID 1 (chain of %d)" % (im.scanner, n), up, log)
            dt = time.perf_counter() - t
            stamps = [im.status(s)["stamp"] for s in svcs]
            early = sum(1 for i in range(1, n) if stamps[i] < stamps[i - 1])
            return {"time": dt, "early": early}
        finally:
            cleanup(up)
            shutil.rmtree(d, ignore_errors=True)

    def chain(self):
        n = 10
        reps = self.reps
        fn = self.one_chain

        def run(im):
            if im.kind == "s6":
                raise NA("s6-svscan has no dependencies (that is s6-rc's job, %s)" % (
                    "installed but not driven by this bench" if shutil.which("s6-rc")
                    else "which Debian 12 does not package"))
            return fn(im, n)
        r = self.measure(reps, run, ("time", "early"))
        self.row("dependency chain of %d (dependencies.d/, notification-fd): start to the last running"
                 % n, "ms", r["time"], reps, fmt="ms")
        self.row("  services started before their dependency (of %d)" % (n - 1), "count", r["early"], reps,
                 fmt="int", ratio=False)
        self.notes.append("dependency chain: %d services as PID 1, each one's dependencies.d/ names the "
                          "previous one, each reports ready at once on its notification-fd (3). C runit "
                          "and busybox ignore dependencies.d/ and notification-fd: they start all %d at "
                          "once, which the count of services started before their dependency (from "
                          "the start stamps in supervise/status) shows." % (n, n))

    # -- hot add

    def hotadd_session(self, im, reps):
        d = im.tmp("hotadd")
        sd = os.path.join(d, "service")
        svcs = make_svdir(sd, 1)
        log = os.path.join(d, "log")
        pid = spawn(im.exe(im.scanner), im.scan_argv(sd), im.env, log=log)
        out = []
        try:
            poll(im.all_running(svcs), 20, im.scanner, pid, log)
            for i in range(reps):
                # Not measured: let the scanner go idle. C runsvdir rescans 1 s after starting a
                # runsv, then every 5 s: 3.5 s puts the add mid-way in that 5-s timer (its
                # average case); --quick adds during the 1-s rescan instead.
                time.sleep(0.2 if self.quick else 3.5)
                new = os.path.join(d, "new%d" % i)
                make_service(new)
                t = time.perf_counter()
                os.rename(new, os.path.join(sd, "new%d" % i))
                im.rescan(sd)
                poll(lambda: im.running(os.path.join(sd, "new%d" % i)), 20, "hot-added service", pid, log)
                out.append(time.perf_counter() - t)
            return out
        finally:
            cleanup(pid)

    def hotadd(self):
        reps = 1 if self.quick else 3
        r = {}
        # All sessions at once would let their waits overlap, but then the scanners compete for
        # the CPU at the measured moment: one after the other.
        for k in self.names:
            try:
                r[k] = self.hotadd_session(self.impls[k], reps)
            except NA as e:
                r[k] = e
        self.row("hot-add (rename a service dir in) to running", "ms", r, reps, fmt="ms")
        self.notes.append("hot-add: a prepared service directory (files 1 h old, as when linking "
                          "/etc/sv/NAME in) is renamed into the scan directory of a running scanner, "
                          "3.5 s after its previous start; time until its run runs. C and busybox "
                          "runsvdir rescan every 5 s (+1 s when the mtime is in the current second), "
                          "so their latency is 0-6 s depending on the phase of that timer. s6-svscan "
                          "does not watch the directory: the time includes running `s6-svscanctl -a`, "
                          "the documented way to make it scan.")

    # -- PID 1: memory and idle wake-ups

    def pid1_idle(self):
        n = 5 if self.quick else 50
        idle = 1.0 if self.quick else 5.0
        st = {}
        res = {k: {} for k in self.names}
        for k in self.names:
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
                im = self.impls[k]
                try:
                    poll(im.all_running(svcs), 30, "%s as PID 1 (%d services)" % (im.scanner, n), up, log)
                    poll(lambda: exec_done(init, n), 10, "services of %s as PID 1" % im.scanner, up, log)
                    res[k]["init"] = smaps(init)
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
                        raise NA("%s has %d children, expected %d supervisors" % (
                            self.impls[k].scanner, len(kids), n))
                    res[k]["per"] = (sum(m[0] for m in mem) / n, sum(m[1] for m in mem) / n,
                                     sum(m[3] for m in mem) / n)
                    res[k]["pss"] = smaps(init)[3] + sum(m[3] for m in mem)
                except (NA, OSError) as e:
                    res[k] = NA(str(e))
        finally:
            for k, (up, init, svcs, log) in st.items():
                cleanup(up)

        def pick(f):
            return {k: (res[k] if isinstance(res[k], NA) else f(res[k])) for k in self.names}
        self.row("PID 1 (runsvdir / s6-svscan, %d services): Rss" % n, "KiB", pick(lambda r: r["init"][0]), 1)
        self.row("PID 1: private", "KiB", pick(lambda r: r["init"][1]), 1)
        self.row("PID 1: Pss", "KiB", pick(lambda r: r["init"][3]), 1)
        self.row("per service (supervisor Rss, sum / N)", "KiB", pick(lambda r: r["per"][0]), 1, fmt="f1")
        self.row("per service (supervisor private, sum / N)", "KiB", pick(lambda r: r["per"][1]), 1, fmt="f1")
        self.row("per service (supervisor Pss, sum / N)", "KiB", pick(lambda r: r["per"][2]), 1, fmt="f1")
        self.row("PID 1 + %d supervisors: Pss total" % n, "KiB", pick(lambda r: r["pss"]), 1)
        self.row("idle wake-ups of PID 1 + %d supervisors in %g s" % (n, idle), "ctxsw",
                 pick(lambda r: r["wake"]), 1, fmt="int")
        self.notes.append("memory per service and idle wake-ups: %d services under the scanner as PID "
                          "1, all measured at the same time; wake-ups are voluntary + involuntary "
                          "context switches of PID 1 and every supervisor (not the services), counted "
                          "from /proc/PID/status after a settling pause." % n)

    # -- PID 1: stop

    def one_stop(self, im, n, static):
        d = im.tmp("stop")
        sd = os.path.join(d, "service")
        marks = os.path.join(d, "finished")
        os.makedirs(marks)
        svcs = make_svdir(sd, n, finish_dir=marks, static=static)
        log = os.path.join(d, "log")
        up, init = self.start_pid1(im, sd, log)
        try:
            poll(im.all_running(svcs), 30 + n / 10, "%s as PID 1 (%d services)" % (im.scanner, n), up, log)
            t = time.perf_counter()
            os.kill(init, signal.SIGTERM)
            # unshare exits once its child (PID 1) has, and the kernel has then ended the whole
            # namespace: every process is gone.
            rc = wait_exit(up, 10 + n / 10, "%s as PID 1 after SIGTERM" % im.scanner)[0]
            dt = time.perf_counter() - t
            return {"time": dt, "graceful": len(os.listdir(marks)), "rc": rc}
        finally:
            cleanup(up)
            shutil.rmtree(d, ignore_errors=True)

    def pid1_stop(self):
        cases = [(1, True), (5, False)] if self.quick else [(1, True), (50, True), (500, True), (50, False)]
        for n, static in cases:
            reps = 1 if self.quick else (3 if n >= 500 else self.reps)
            # busybox's runsvdir as PID 1 ignores SIGTERM: one timeout, then n/a for every case.
            r = self.measure(reps, lambda im: self.one_stop(im, n, static), ("time", "graceful", "rc"), group="stop")
            fl = self.floor_samples("stop", n, reps) if static else None
            what = "static run and finish" if static else "run and finish shell scripts"
            self.row("stop as PID 1: SIGTERM to every process gone (%d service%s, %s)" % (n, "s" * (n > 1), what),
                     "ms", r["time"], reps, fmt="ms", floor=field(fl, 1))
            self.row("  services whose ./finish ran (of %d)" % n, "count", r["graceful"], reps, fmt="int", ratio=False,
                     floor=field(fl, 2))
            self.row("  exit code of PID 1", "code", r["rc"], reps, fmt="int", ratio=False)
            if static and n in STOP_GOALS:
                ran = r["graceful"].get("urunit")
                every = "" if isinstance(ran, NA) or min(ran) == n else " (NOT every ./finish ran)"
                self.goal("stop of %d service%s, every ./finish run%s" % (n, "s" * (n > 1), every), STOP_GOALS[n],
                          r["time"].get("urunit"), field(fl, 1))
        self.notes.append("stop as PID 1: C runsvdir exits at once on SIGTERM without "
                          "telling its runsv processes; the kernel then SIGKILLs the namespace, so no "
                          "service is stopped gracefully and no ./finish runs (runsvdir weakness 1). "
                          "Its short time is not a graceful stop. busybox's runsvdir ignores SIGTERM "
                          "when it is PID 1 (it leaves shutdown to an init), hence n/a. urunit's and s6's include stopping "
                          "every service and running its ./finish (s6-svscan: SIGTERM = "
                          "s6-svscanctl -t).")

    # -- control commands

    def sv_all(self):
        """Each supervisor runs two services under its own supervisor processes: a plain one and
        one with a notification-fd. Before each command every service is settled (in the state
        the command starts from for >= 1.1 s, past the 1-second restart throttle), then the
        command is timed for each implementation, the order rotating per repetition."""
        reps = 1 if self.quick else 5
        ops = ("status", "down", "up", "restart", "ndown", "nup", "nrestart")
        res = {k: {o: [] for o in ops} for k in self.names}
        early = {k: 0 for k in self.names}
        live = {}
        for k in self.names:
            im = self.impls[k]
            d = im.tmp("sv")
            svc = os.path.join(d, "svc")
            nsvc = os.path.join(d, "nsvc")
            make_service(svc)
            make_service(nsvc, notify=True)
            log = os.path.join(d, "log")
            pids = [spawn(im.exe(im.supervisor), im.supervise_argv(s), im.env, log=log) for s in (svc, nsvc)]
            live[k] = (im, svc, nsvc, pids, log)

        def drop(k, e):
            res[k] = e if isinstance(e, NA) else NA(str(e))
            for p in live[k][3]:
                cleanup(p)
            del live[k]
        try:
            for k, (im, svc, nsvc, pids, log) in list(live.items()):
                try:
                    for s, p in zip((svc, nsvc), pids):
                        poll(lambda: im.running(s), 5, im.supervisor, p, log)
                    text = im.ctl("status", svc)[1]
                    if not text.startswith(("run: ", "up ")):
                        raise NA("status printed %r" % text)
                except NA as e:
                    drop(k, e)

            def settle(state):
                for k, (im, svc, nsvc, pids, log) in list(live.items()):
                    try:
                        for s, p in zip((svc, nsvc), pids):
                            poll(lambda: im.settled(s, state, 1.1), 10, "service %s" % state, p, log)
                    except NA as e:
                        drop(k, e)

            def timed(rep, key, op, which, after=None):
                for k in self.order(rep):
                    if k not in live:
                        continue
                    im, svc, nsvc, pids, log = live[k]
                    s = nsvc if which else svc
                    try:
                        before = im.status(s)
                        res[k][key].append(im.ctl(op, s)[0])
                        if after:
                            after(k, im, s, before)
                    except NA as e:
                        drop(k, e)

            def is_down(k, im, s, before):
                if not im.down(s):
                    early[k] += 1

            def is_up(k, im, s, before):
                if not im.running(s):
                    early[k] += 1

            def restarted(k, im, s, before):
                st = im.status(s)
                if not st or st["pid"] == before["pid"] or not st["run"]:
                    early[k] += 1

            for rep in range(reps):
                timed(rep, "status", "status", 0)
                settle("run")
                timed(rep, "down", "down", 0, is_down)
                timed(rep, "ndown", "down", 1, is_down)
                settle("down")
                timed(rep, "up", "up", 0, is_up)
                timed(rep, "nup", "upready", 1, is_up)
                settle("run")
                timed(rep, "restart", "restart", 0)
                timed(rep, "nrestart", "restartready", 1, restarted)
        finally:
            for k in list(live):
                for p in live[k][3]:
                    cleanup(p)

        def col(key):
            return {k: (res[k] if isinstance(res[k], NA) else res[k][key]) for k in self.names}
        self.row("status: sv status / s6-svstat", "ms", col("status"), reps, fmt="ms")
        self.row("down, wait: sv -w 5 down / s6-svc -wD -d", "ms", col("down"), reps, fmt="ms")
        self.row("up, wait: sv -w 5 up / s6-svc -wu -u", "ms", col("up"), reps, fmt="ms")
        self.row("restart, no wait: sv restart / s6-svc -r", "ms", col("restart"), reps, fmt="ms")
        self.row("notification-fd service: sv -w 5 down / s6-svc -wD -d", "ms", col("ndown"), reps, fmt="ms")
        self.row("notification-fd service: sv -w 5 up / s6-svc -wU -u (up and ready)", "ms", col("nup"),
                 reps, fmt="ms")
        self.row("notification-fd service: sv -w 5 restart / s6-svc -wR -r (restarted and ready)", "ms",
                 col("nrestart"), reps, fmt="ms")
        self.row("  waiting commands that returned before the state was reached (of %d)" % (5 * reps), "count",
                 {k: (res[k] if isinstance(res[k], NA) else early[k]) for k in self.names}, reps,
                 fmt="int", ratio=False)
        self.notes.append("control commands: each against its own supervisor process, spawn to exit, "
                          "started after the service has been in its state for 1.1 s (past the "
                          "1-second restart throttle). C sv and busybox sv poll every 420 ms while "
                          "they wait; s6-svc -w subscribes to the service's event fifodir. The "
                          "notification-fd service's run writes a newline to fd 3 at once; a "
                          "supervisor without readiness support just starts it. The count checks "
                          "supervise/status right after each waiting command (down, up, and the "
                          "restart with a new pid).")

    # -- loggers

    def log_input(self, lines):
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

    def one_log(self, im, lines):
        src = self.log_input(lines)
        d = im.tmp("log")
        ld = os.path.join(d, "log")
        os.makedirs(ld)
        log = os.path.join(d, "stderr")
        argv = im.log_argv(ld)
        t = time.perf_counter()
        pid = spawn(argv[0], argv, im.env, stdin=src, log=log)
        try:
            rc, ru = wait_exit(pid, 60 + lines / 10000, os.path.basename(argv[0]))
            dt = time.perf_counter() - t
            if rc != 0:
                raise NA("%s exited %d%s" % (os.path.basename(argv[0]), rc, tail(log) and " (%s)" % tail(log)))
            # Both keep 10 rotated files: check that the last line arrived intact.
            last = b""
            for f in sorted(x for x in os.listdir(ld) if x.startswith("@")) + ["current"]:
                with open(os.path.join(ld, f), "rb") as fh:
                    last = (fh.read().splitlines() or [last])[-1]
            want = ("2026-11-24T01:02:03 bench[%07d]: the quick brown fox jumps" % (lines - 1)).encode()
            if last != want:
                raise NA("%s's log does not end with the last input line" % os.path.basename(argv[0]))
            return {"lps": lines / dt, "cpu": (ru.ru_utime + ru.ru_stime) / lines * 1e9}
        finally:
            cleanup(pid)
            shutil.rmtree(d, ignore_errors=True)

    def svlogd(self):
        lines = 20000 if self.quick else 1000000
        reps = 1 if self.quick else 3
        # A quick sanity run first, so that a missing logger fails fast.
        self.measure(1, lambda im: self.one_log(im, 3), ("lps",), group="svlogd")
        r = self.measure(reps, lambda im: self.one_log(im, lines), ("lps", "cpu"), group="svlogd")
        self.row("svlogd / s6-log: %d lines of 60 bytes, throughput" % lines, "lines/s", r["lps"], reps, fmt="int")
        self.row("svlogd / s6-log: CPU (user+sys) per line", "ns", r["cpu"], reps, fmt="int")
        self.notes.append("loggers: stdin is a file; svlogd with its default config (rotate at "
                          "1,000,000 bytes, keep 10), s6-log with the same (`n10 s1000000 DIR`), no "
                          "timestamps; log directory on %s." % fs_of(self.root))

    # -- output

    def table(self):
        def show(v, fmt):
            if fmt == "ms":
                return "%.1f" % (v * 1000)
            if fmt == "f1":
                return "%.1f" % v
            if fmt == "f2":
                return "%.2f" % v
            return "%d" % round(v)

        def cell(v, fmt):
            if isinstance(v, NA):
                return "n/a"
            m = show(median(v), fmt)
            lo, hi = show(min(v), fmt), show(max(v), fmt)
            return m if lo == hi else "%s (%s..%s)" % (m, lo, hi)

        def ratio(u, o, want):
            if not want:
                return ""
            if isinstance(u, NA) or isinstance(o, NA):
                return "n/a"
            u, o = median(u), median(o)
            if o == 0:
                return "inf" if u else "1.00"
            return "%.2f" % (u / o)

        others = [k for k in ("C runit", "s6") if k in self.names]
        floors = any(r[6] is not None for r in self.rows)
        head = ["figure", "unit"] + self.names + ["floor"] * floors + \
            ["urunit / %s" % ("C" if k == "C runit" else k) for k in others] + ["runs"]
        out = ["| " + " | ".join(head) + " |",
               "| --- | --- |" + " ---: |" * (len(head) - 2)]
        foot = []
        for fig, unit, vals, runs, fmt, want_ratio, floor in self.rows:
            for k in self.names:
                if isinstance(vals[k], NA) and "%s: %s" % (k, vals[k]) not in foot:
                    foot.append("%s: %s" % (k, vals[k]))
            unit_txt = "ms" if fmt == "ms" else unit
            cols = [fig, unit_txt] + [cell(vals[k], fmt) for k in self.names] + \
                ["" if floor is None else cell(floor, fmt)] * floors + \
                [ratio(vals["urunit"], vals[k], want_ratio) for k in others] + [str(runs) if runs else ""]
            out.append("| " + " | ".join(cols) + " |")
        text = "\n".join(out) + "\n"
        if self.notes:
            text += "\nNotes:\n" + "".join("- %s\n" % n for n in self.notes)
        if foot:
            text += "\nWhy n/a:\n" + "".join("- %s\n" % f for f in foot)
        for e in self.extra:
            text += "\n" + e
        if self.goals:
            text += "\n" + "".join(g + "\n" for g in self.goals)
        return text

    def svg(self, path):
        write_svg(path, self.startup, self.ns, self.names, "log-log; medians of %d runs (N=100: %d, N=500: %d); "
                  "%d CPUs, %s; %s" % (self.startup_reps(1), self.startup_reps(100), self.startup_reps(500),
                                       os.cpu_count(), cpu_model(), time.strftime("%Y-%m-%d", time.gmtime())))


def field(samples, i):
    """Field `i` of each floor sample (see Bench.floor_samples); None or NA pass through."""
    return samples if samples is None or isinstance(samples, NA) else [x[i] for x in samples]


def build_floor(root):
    """bench/floor.c, built static into `root`: musl-gcc (as small as the supervisors' own
    binaries, so an exec costs what theirs does), else gcc -static."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor.c")
    out = os.path.join(root, "floor")
    for cc in ("musl-gcc", "gcc"):
        if shutil.which(cc):
            r = subprocess.run([cc, "-O2", "-static", "-s", "-o", out, src], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode == 0:
                return out
    sys.exit("bench: cannot build bench/floor.c (musl-gcc or gcc needed; `make bench` installs musl-tools)")


def shared_libs(exe):
    """The shared libraries `exe` loads (ldd), resolved to files."""
    try:
        r = subprocess.run(["ldd", exe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    for line in r.stdout.decode(errors="replace").splitlines():
        m = re.search(r"=>\s+(/\S+)", line)
        if m and os.path.isfile(m.group(1)):
            out.append(os.path.realpath(m.group(1)))
    return out


MODULES = {"applet": "applet", "chpst": "chpst", "errstr": "errstr (error texts)", "init": "init (runit)",
           "msg": "msg", "num": "num", "rt": "rt (runtime)", "runsv": "runsv", "runsvdir": "runsvdir",
           "sv": "sv", "svlogd": "svlogd", "svstatus": "svstatus (supervise/status, shared)",
           "sys": "sys (syscall layer, shared)", "heap": "sys (syscall layer, shared)"}


def module_sizes(unstripped, stripped_size):
    """urunit's bytes per module, estimated from an unstripped build's symbol sizes (nm -S),
    grouped by the first module under urunit:: in each demangled name."""
    try:
        r = subprocess.run(["nm", "-C", "--size-sort", "-S", unstripped], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise NA("nm: %s" % e)
    if r.returncode != 0:
        raise NA("nm exited %d on %s" % (r.returncode, unstripped))
    seen = set()
    groups = {}
    for line in r.stdout.decode(errors="replace").splitlines():
        p = line.split(None, 3)
        if len(p) < 4:
            continue
        addr, size, typ, name = p
        if typ in "bB" or addr in seen:   # .bss takes no bytes in the file; aliases count once
            continue
        seen.add(addr)
        m = re.search(r"urunit::(\w+)::", name)
        if m and m.group(1) in MODULES:
            # submodules (runsvdir::log, svlogd::journal) belong to their program
            key = MODULES[m.group(1)]
        elif "urunit::" in name or name == "main":
            key = "main.rs (applet dispatch)"
        elif "::" in name or name.startswith("_ZN"):
            key = "core/alloc (Rust library code)"
        else:
            key = "musl libc and other C symbols"
        groups[key] = groups.get(key, 0) + int(size, 16)
    total = sum(groups.values())
    programs = {"runsv", "runsvdir", "sv", "svlogd", "chpst", "init (runit)"}
    lines = ["urunit bytes per module (estimate: symbol sizes from `nm -C --size-sort -S` of an unstripped "
             "build, grouped by the module in the demangled name; inlined code counts where it was "
             "inlined):", "",
             "| module | bytes | share |", "| --- | ---: | ---: |"]
    for k, v in sorted(groups.items(), key=lambda kv: -kv[1]):
        lines.append("| %s%s | %d | %.1f%% |" % (k, " (program)" if k in programs else "", v, 100.0 * v / total))
    lines.append("| all symbols | %d | 100%% |" % total)
    lines.append("| the stripped binary (symbols + headers, tables, padding) | %d | |" % stripped_size)
    return "\n".join(lines) + "\n"


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

COLORS = {"urunit": "#1f77b4", "C runit": "#d62728", "s6": "#2ca02c", "busybox": "#ff7f0e"}


def write_svg(path, data, ns, names, subtitle=""):
    """Start-up time against the number of services, log-log, one line per supervisor (files
    an hour old, solid) and a dashed one for files just written."""
    import math
    w, h, l, r, t, b = 760, 460, 70, 230, 44, 50
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
         '<text x="%d" y="20" font-size="15">start-up as PID 1: time until all N services run</text>' % l,
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
    ly = t + 10
    for name in names:
        for case, dash in (("old", ""), ("fresh", "6,4")):
            color = COLORS.get(name, "#555")
            label = "%s, %s" % (name, "files old" if case == "old" else "files new")
            series = data.get((name, case), {})
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


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urunit", required=True, help="the urunit binary")
    ap.add_argument("--crunit", required=True, help="C runit's directory (usr/bin/runsv, sbin/runit)")
    ap.add_argument("--s6", help="directory of s6's programs (default: where s6-svscan is on PATH)")
    ap.add_argument("--busybox", help="a busybox with the runit applets (missing: why.txt next to it says why)")
    ap.add_argument("--unstripped", help="an unstripped urunit build, for bytes per module")
    ap.add_argument("--floor", help="bench/floor.c built static: the tiny service program and the floor "
                    "(default: built here with musl-gcc, else gcc -static)")
    ap.add_argument("--quick", action="store_true", help="small N, 1 repetition (a smoke test)")
    ap.add_argument("--reps", type=int, help="repetitions (default 7, --quick 1)")
    ap.add_argument("--svg", help="chart file (default bench/startup.svg; --quick: none)")
    ap.add_argument("--tmp", help="directory for the services (default /dev/shm)")
    ap.add_argument("--only", help="comma-separated parts: size,runsv,startup,chain,hotadd,pid1,stop,sv,svlogd")
    a = ap.parse_args()
    set_subreaper()
    b = Bench(a)
    parts = {"size": b.sizes, "runsv": b.runsv, "startup": b.startup_all, "chain": b.chain,
             "hotadd": b.hotadd, "pid1": b.pid1_idle, "stop": b.pid1_stop, "sv": b.sv_all, "svlogd": b.svlogd}
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
    print("urunit vs %s (%s)" % (", ".join(b.names[1:]),
                                 "quick" if a.quick else "%d repetitions unless the runs column says otherwise" % b.reps))
    print("machine: %d CPUs (nproc %s), %s, kernel %s; load average %s before, %s after" % (
        os.cpu_count(), len(os.sched_getaffinity(0)), cpu_model(), os.uname().release, load0, loadavg()))
    print("date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    for k in ALL:
        if k in b.absent:
            print("%s: not measured, no column: %s" % (k, b.absent[k]))
    print("cells: median (min..max) of the samples; ratios are of the medians (below 1: urunit is "
          "smaller or faster, except lines/s)")
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
