//! runsvdir: one `runsv` per service directory, as runit's runsvdir, plus instant pickup
//! through dnotify and the duties of PID 1 (reaping, graceful stop, critical services).
use crate::Args;
use crate::msg::{self, CBuf};
use crate::sys::{Errno, fd, fs, proc, sig, time};
use alloc::vec::Vec;

mod log;
mod rest;

const USAGE: &[u8] = b" [-P] dir";
const USAGE_EXIT: i32 = 1;
const FATAL: i32 = 100;
/// runit's loop wakes after 1 s while `check` is set, else after 5 s.
const CHECK_MS: u64 = 1000;
const IDLE_MS: u64 = 5000;
/// A dead runsv is started again at most once a second (runit's scan rate), so a runsv that
/// dies at once cannot make runsvdir spin.
const RESTART_MS: u64 = 1000;
/// A service that appears while runsvdir runs and whose files changed in the last SETTLE_MS is
/// still being written (`cp -r`, a script making `run` then `log/`): its runsv waits until it
/// is quiet, at most SETTLE_MAX_MS (runit itself only notices a new service after a second or
/// more). The first scan starts everything at once, as runit does.
const SETTLE_MS: u64 = 50;
const SETTLE_MAX_MS: u64 = 1000;
const SETTLE_POLL_MS: u64 = 10;
/// After the final SIGKILL, how long to wait for the dead to be reaped.
const KILL_WAIT_MS: u64 = 2000;
/// kill_all's pause between looks for what is left.
const KILL_POLL_MS: u64 = 5;
/// No scan asked for.
const NEVER: u64 = u64::MAX;

/// One service directory, known by the (dev, inode) of its target as in runit.
struct Service {
    dev: u64,
    ino: u64,
    /// The runsv, 0 when none runs.
    pid: proc::Pid,
    /// In a scan: not seen yet; in the stop: its runsv got SIGTERM.
    mark: bool,
    /// Its last runsv exited 111 within a second: another runsv (of a runsvdir that was
    /// killed and started again) holds the directory; start one only once none reads
    /// supervise/ok, or IDLE_MS after the last start when that cannot be told.
    held: bool,
    /// The name its runsv was last started with.
    name: Vec<u8>,
    /// Monotonic ms of the last start; None until the first.
    started: Option<u64>,
    /// Until this monotonic ms a new service waits for its files to settle (0: it does not).
    settle: u64,
}

/// The graceful stop (PID-1 mode only).
struct Stop {
    code: i32,
    deadline: u64,
    /// Set once every runsv is gone and the rest got SIGTERM.
    rest: bool,
    /// (dependent, needed) indices into `svc`, from the dependencies.d of running services.
    needs: Vec<(usize, usize)>,
}

struct Runsvdir {
    dir: &'static [u8],
    dirc: CBuf,
    setsid: bool,
    pid1: bool,
    svc: Vec<Service>,
    /// runsvs told to stop because their directory went away; still our children.
    detached: Vec<proc::Pid>,
    /// runit's `check`: rescan at the next (1 s) wakeup even if the directory looks unchanged.
    check: bool,
    /// (mtime, mtime_ns, ino, dev) of `dir` at the last scan.
    last: Option<(i64, i64, u64, u64)>,
    /// Next fallback look at `dir` (runit's periodic stat).
    next_check: u64,
    /// A scan is due at this time: dnotify's SIGIO, restarts, settling services, SIGHUP.
    scan_at: u64,
    curdir: fd::Fd,
    /// `dir` open for dnotify, and the (dev, ino) it was opened for.
    watch: Option<(fd::Fd, u64, u64)>,
    log: Option<log::Log>,
    stop: Option<Stop>,
}

pub fn main(args: Args) -> i32 {
    let arg0 = args.first().copied().unwrap_or(b"runsvdir");
    // Not getopt: only the first argument's second byte matters (runit).
    let mut i = 1;
    let mut setsid = false;
    if let Some(a) = args.get(1).filter(|a| a.first() == Some(&b'-')) {
        match a.get(1) {
            Some(b'P') => {
                setsid = true;
                i += 1;
            }
            Some(b'-') => i += 1,
            _ => {}
        }
    }
    let Some(&dir) = args.get(i) else { msg::usage(USAGE_EXIT, arg0, USAGE) };
    let pid1 = proc::getpid() == 1 || crate::settings::pid1();
    Runsvdir::new(dir, setsid, pid1, args.get(i + 1).copied()).run()
}

/// SIGTERM to a runsv (none: pid 0).
fn term(pid: proc::Pid) {
    if pid != 0 {
        let _ = proc::kill(pid, sig::SIGTERM);
    }
}

/// `runsvdir DIR: warning: PARTS[: ERR]` (at most five parts).
fn warn(dir: &[u8], parts: &[&[u8]], e: Option<Errno>) {
    let mut v: [&[u8]; 8] = [b"runsvdir ", dir, b": warning: ", b"", b"", b"", b"", b""];
    let n = 3 + parts.len().min(5);
    v[3..n].copy_from_slice(&parts[..n - 3]);
    msg::warn(&v[..n], e);
}

/// A new service directory looks complete: `run` (and `log/run` if `log/` exists) in place
/// and executable, and nothing in it changed during the last SETTLE_MS (a future mtime
/// counts as old: clock skew in images must not hold a service back). cwd = dir.
fn settled(name: &[u8], st: &fs::Stat) -> bool {
    let (s, ns) = time::now();
    let wall_ms = (s * 1000) as i64 + (ns / 1_000_000) as i64;
    let quiet = |st: &fs::Stat| {
        let t = st.mtime * 1000 + st.mtime_ns / 1_000_000;
        t > wall_ms || wall_ms - t >= SETTLE_MS as i64
    };
    let ready = |run: &[u8]| {
        let p = CBuf::new(&[name, run]);
        fs::stat(&p).is_ok_and(|r| quiet(&r)) && fs::access(&p, fs::X_OK).is_ok()
    };
    quiet(st)
        && ready(b"/run")
        && match fs::stat(&CBuf::new(&[name, b"/log"])) {
            Ok(l) if l.is_dir() => quiet(&l) && ready(b"/log/run"),
            _ => true,
        }
}

impl Runsvdir {
    fn new(dir: &'static [u8], setsid: bool, pid1: bool, logarg: Option<&'static [u8]>) -> Runsvdir {
        let now = time::mono_ms();
        let log = logarg.and_then(|arg| {
            log::Log::setup(arg, now)
                .map_err(|e| {
                    warn(dir, &[e], None);
                    warn(dir, &[b"log service disabled."], None);
                })
                .ok()
        });
        let curdir = fd::open_read(c".")
            .unwrap_or_else(|e| msg::die(FATAL, &[b"runsvdir ", dir, b": fatal: unable to open current directory"], Some(e)));
        if pid1 && proc::getpid() != 1 {
            // Under another init (docker --init, runit's stage 2): orphans of the services
            // come to us instead of to that init.
            let _ = proc::set_subreaper();
        }
        // URUNIT_PID1 is for this runsvdir only: a runsvdir started by a service (per-user
        // services) must keep runit's behaviour.
        proc::unset_env(b"URUNIT_PID1=");
        Runsvdir {
            dir,
            dirc: CBuf::new(&[dir]),
            setsid,
            pid1,
            svc: Vec::new(),
            detached: Vec::new(),
            check: true,
            last: None,
            next_check: now,
            scan_at: NEVER,
            curdir,
            watch: None,
            log,
            stop: None,
        }
    }

    /// `runsvdir DIR: warning: PARTS[: ERR]`.
    fn warn(&self, parts: &[&[u8]], e: Option<Errno>) {
        warn(self.dir, parts, e);
    }

    /// Asks for a scan no later than `t`.
    fn scan_by(&mut self, t: u64) {
        self.scan_at = self.scan_at.min(t);
    }

    // The main loop. (Not inlined, as try_start, look and term_ready: a smaller binary.)
    #[inline(never)]
    fn run(mut self) -> i32 {
        let sigs = [sig::SIGTERM, sig::SIGHUP, sig::SIGCHLD, sig::SIGIO, sig::SIGINT];
        // An inherited SIG_IGN for SIGCHLD would make the kernel reap runsvs for us.
        sig::default(sig::SIGCHLD);
        let sigfd = sig::SigFd::new(&sigs[..4 + self.pid1 as usize])
            .unwrap_or_else(|e| msg::die(FATAL, &[b"runsvdir ", self.dir, b": fatal: unable to create selfpipe"], Some(e)));
        loop {
            let now = time::mono_ms();
            if self.stop.is_some() {
                if let Some(code) = self.stop_step(now) {
                    return code;
                }
            } else if now >= self.scan_at.min(self.next_check) {
                self.look(now);
            }
            if let Some(l) = self.log.as_mut() {
                l.tick(now);
            }

            // While stopping only the deadline (and children, signals, the log) wake us.
            let mut wake = match &self.stop {
                Some(s) => s.deadline,
                None => self.scan_at.min(self.next_check),
            };
            if let Some(l) = &self.log {
                wake = wake.min(l.next_dot);
            }
            let mut pfd =
                [fd::pollfd(sigfd.raw(), fd::POLLIN), fd::pollfd(self.log.as_ref().map_or(-1, |l| l.raw()), fd::POLLIN)];
            let ms = wake.saturating_sub(time::mono_ms()).min(3_600_000);
            let _ = fd::poll(&mut pfd, ms as i32);

            // Signals are read as data; like runit's flag, the last of TERM/HUP wins.
            let mut exitsoon = None;
            while let Some(s) = sigfd.next() {
                match s {
                    sig::SIGTERM | sig::SIGINT if self.pid1 => self.begin_stop(0),
                    sig::SIGHUP if self.pid1 => {
                        // As PID 1 a HUP rescans (runit's exit 111 would kill every service).
                        self.check = true;
                        self.scan_by(0);
                    }
                    sig::SIGTERM | sig::SIGHUP => exitsoon = Some(s),
                    // dnotify: an entry of `dir` was created, removed or renamed.
                    sig::SIGIO => self.scan_at = 0,
                    _ => {}
                }
            }
            self.reap();
            if let Some(l) = self.log.as_mut() {
                l.drain();
            }
            match exitsoon {
                // runit: TERM exits at once and leaves every runsv running.
                Some(sig::SIGTERM) => return 0,
                // runit: HUP tells every runsv to stop, and exits without waiting.
                Some(_) => {
                    for s in &self.svc {
                        term(s.pid);
                    }
                    return 111;
                }
                None => {}
            }
        }
    }

    /// Reaps every child that exited: a runsv is started again by a later scan (or, in PID-1
    /// mode, a critical service ends everything); anything else is an orphan or a detached runsv.
    fn reap(&mut self) {
        while let Ok(Some((pid, st))) = proc::wait_nohang() {
            if let Some(i) = self.svc.iter().position(|s| s.pid == pid) {
                let s = &mut self.svc[i];
                s.pid = 0;
                // runsv's fatal exit (111) at once: above all `unable to lock supervise/lock`.
                s.held = proc::exit_code(st) == 111 && time::mono_ms() < s.started.unwrap_or(0) + RESTART_MS;
                self.check = true;
                if self.pid1 && self.stop.is_none() && self.is_critical(i) {
                    let code = proc::exit_code(st);
                    let mut buf = [0u8; 20];
                    let n = crate::num::fmt_u64(&mut buf, code as u64);
                    self.warn(&[b"critical service ", &self.svc[i].name, b" exited with ", n, b", stopping."], None);
                    self.begin_stop(code);
                } else {
                    // try_start keeps to RESTART_MS.
                    self.scan_by(0);
                }
            } else if let Some(i) = self.detached.iter().position(|&p| p == pid) {
                self.detached.swap_remove(i);
            }
        }
    }

    /// The service directory holds a file `critical` (read when its runsv exits).
    fn is_critical(&self, i: usize) -> bool {
        fs::exists(&CBuf::new(&[self.dir, b"/", &self.svc[i].name, b"/critical"]))
    }

    // The graceful stop (PID-1 mode): every runsv gets SIGTERM (runsv's `x`: the service gets
    // its control/t or TERM, then CONT; ./finish runs; the logger drains and exits; runsv
    // exits), dependents before what they need (dependencies.d). Once every runsv is gone,
    // what is left gets TERM and CONT; once nothing is left runsvdir exits. At the deadline
    // everything left is SIGKILLed.

    fn begin_stop(&mut self, code: i32) {
        if self.stop.is_some() {
            return;
        }
        // A name in dependencies.d that is no service (or the service itself) is ignored.
        // (Every mark is clear: a scan removes the services it marked.)
        let mut needs = Vec::new();
        for (i, s) in self.svc.iter().enumerate() {
            if s.pid == 0 {
                continue;
            }
            for d in fs::read_dir(&CBuf::new(&[self.dir, b"/", &s.name, b"/dependencies.d"])).unwrap_or_default() {
                if let Some(k) = self.svc.iter().position(|o| o.name == d.name).filter(|&k| k != i) {
                    needs.push((i, k));
                }
            }
        }
        // The SIGTERMs go out in the next stop_step, before the loop waits.
        self.stop = Some(Stop { code, deadline: time::mono_ms() + crate::settings::stop_timeout_ms(), rest: false, needs });
    }

    /// SIGTERM to every runsv that no running runsv depends on; when none qualifies and no
    /// signalled runsv still runs, the rest wait for each other (a cycle): the one with the
    /// smallest name gets it. True while a runsv is left.
    #[inline(never)]
    fn term_ready(&mut self) -> bool {
        let Some(st) = &self.stop else { return false };
        let (mut left, mut busy, mut least) = (false, false, None);
        for j in 0..self.svc.len() {
            let s = &self.svc[j];
            if s.pid == 0 {
                continue;
            }
            left = true;
            if !s.mark {
                if st.needs.iter().any(|&(i, k)| k == j && self.svc[i].pid != 0) {
                    if least.is_none_or(|l: usize| s.name < self.svc[l].name) {
                        least = Some(j);
                    }
                    continue;
                }
                term(s.pid);
                self.svc[j].mark = true;
            }
            busy = true;
        }
        if let Some(l) = least.filter(|_| !busy) {
            term(self.svc[l].pid);
            self.svc[l].mark = true;
        }
        left
    }

    /// One step of the stop; Some(exit code) when it is over.
    fn stop_step(&mut self, now: u64) -> Option<i32> {
        let code = self.stop.as_ref()?.code;
        if now >= self.stop.as_ref()?.deadline {
            self.kill_all();
            return Some(code);
        }
        if self.term_ready() || !self.detached.is_empty() {
            return None;
        }
        let st = self.stop.as_mut()?;
        if !st.rest {
            st.rest = true;
            rest::signal_rest(sig::SIGTERM);
            rest::signal_rest(sig::SIGCONT);
        }
        if proc::children_left() { None } else { Some(code) }
    }

    /// The deadline: SIGKILL to everything left, then reap it (bounded: a process stuck in
    /// the kernel must not keep the container alive).
    fn kill_all(&mut self) {
        if rest::signal_rest(sig::SIGKILL) > 0 {
            self.warn(&[b"stop deadline reached, killed what was left."], None);
        }
        let end = time::mono_ms() + KILL_WAIT_MS;
        loop {
            while let Ok(Some(_)) = proc::wait_nohang() {}
            if !proc::children_left() || time::mono_ms() >= end {
                return;
            }
            time::sleep_ms(KILL_POLL_MS);
            // A subreaper's orphans arrive while their parents die: kill them too.
            rest::signal_rest(sig::SIGKILL);
        }
    }

    // Scanning, as runit: stat `dir`; if it changed (or `check` is set) read it and start or
    // stop runsvs. dnotify makes the scan happen at once instead of within 5 s.

    #[inline(never)]
    fn look(&mut self, now: u64) {
        let forced = now >= self.scan_at;
        if forced {
            self.scan_at = NEVER;
        }
        match fs::stat(&self.dirc) {
            Err(e) => self.warn(&[b"unable to stat ", self.dir], Some(e)),
            Ok(st) => {
                self.watch_dir(&st);
                let key = (st.mtime, st.mtime_ns, st.ino, st.dev);
                if forced || self.check || self.last != Some(key) {
                    match fs::chdir(&self.dirc) {
                        Err(e) => self.warn(&[b"unable to change directory to ", self.dir], Some(e)),
                        Ok(()) => {
                            // The first scan starts what it finds at once (no settling).
                            let settle = if self.last.is_some() { now + SETTLE_MAX_MS } else { 0 };
                            self.last = Some(key);
                            self.check = false;
                            self.scan(now, settle);
                            // runit sleeps a second when `dir` changed in this very second, so that
                            // a later change in the same second is not missed; a second scan a
                            // second later covers that without the pause.
                            if st.mtime == time::now().0 as i64 {
                                self.check = true;
                            }
                            while let Err(e) = fs::fchdir(self.curdir.raw()) {
                                self.warn(&[b"unable to change directory, pausing"], Some(e));
                                time::sleep_ms(5000);
                            }
                        }
                    }
                }
            }
        }
        self.next_check = now + if self.check { CHECK_MS } else { IDLE_MS };
    }

    /// Keeps dnotify on the directory `dir` names now (it may have been replaced).
    fn watch_dir(&mut self, st: &fs::Stat) {
        if self.watch.as_ref().is_some_and(|w| (w.1, w.2) == (st.dev, st.ino)) {
            return;
        }
        self.watch = fd::open_read(&self.dirc).ok().filter(|d| fs::notify_dir(d.raw()).is_ok()).map(|d| (d, st.dev, st.ino));
    }

    /// runit's runsvdir(): called with cwd = dir; new services settle until `settle`.
    fn scan(&mut self, now: u64, settle: u64) {
        let d = match fd::open_read(c".") {
            Ok(d) => d,
            Err(e) => {
                self.warn(&[b"unable to open directory ", self.dir], Some(e));
                self.check = true;
                return;
            }
        };
        let entries = match fs::read_dir_fd(d.raw()) {
            Ok(v) => v,
            Err(e) => {
                // runit skips the removal step after a read error.
                self.warn(&[b"unable to read directory ", self.dir], Some(e));
                self.check = true;
                return;
            }
        };
        for s in &mut self.svc {
            s.mark = true;
        }
        for e in &entries {
            let name = &e.name[..];
            if name.first() == Some(&b'.') {
                continue;
            }
            let st = match fs::stat(&CBuf::new(&[name])) {
                Ok(st) => st,
                Err(err) => {
                    self.warn(&[b"unable to stat ", name], Some(err));
                    continue;
                }
            };
            if !st.is_dir() {
                continue;
            }
            let i = match self.svc.iter().position(|s| s.dev == st.dev && s.ino == st.ino) {
                Some(i) => {
                    self.svc[i].mark = false;
                    if self.svc[i].pid != 0 {
                        continue;
                    }
                    i
                }
                // No MAXSERVICES: as many services as memory and processes allow.
                None => {
                    let s = Service {
                        dev: st.dev,
                        ino: st.ino,
                        pid: 0,
                        mark: false,
                        held: false,
                        name: name.to_vec(),
                        started: None,
                        settle,
                    };
                    self.svc.push(s);
                    self.check = true;
                    self.svc.len() - 1
                }
            };
            self.try_start(i, name, &st, now);
        }
        // A directory that went away: its runsv gets SIGTERM and is no longer watched.
        let mut i = 0;
        while i < self.svc.len() {
            if !self.svc[i].mark {
                i += 1;
                continue;
            }
            let s = self.svc.swap_remove(i);
            if s.pid != 0 {
                term(s.pid);
                self.detached.push(s.pid);
            }
            self.check = true;
        }
    }

    /// Starts the runsv of service i unless it was started less than a second ago, it is
    /// new and still being written, or another runsv holds it.
    #[inline(never)]
    fn try_start(&mut self, i: usize, name: &[u8], st: &fs::Stat, now: u64) {
        let s = &self.svc[i];
        let next = match s.started {
            None if now < s.settle && !settled(name, st) => now + SETTLE_POLL_MS,
            None => 0,
            // runit starts a runsv that failed to lock again every 5 s, and it says so each
            // time; here it is started once that runsv is gone.
            Some(t) if s.held => match fd::open_write_nb(&CBuf::new(&[name, b"/supervise/ok"])) {
                Ok(_) => now + IDLE_MS,
                Err(e) if e != Errno::NXIO => t + IDLE_MS,
                _ => t + RESTART_MS,
            },
            Some(t) => t + RESTART_MS,
        };
        if now < next {
            return self.scan_by(next);
        }
        let argv = proc::CVec::new([&b"runsv"[..], name]);
        match proc::spawn(|| self.exec_runsv(&argv, name)) {
            Err(e) => {
                self.warn(&[b"unable to fork for ", name], Some(e));
                self.check = true;
            }
            Ok(pid) => {
                let s = &mut self.svc[i];
                s.pid = pid;
                s.started = Some(now);
                if s.name != name {
                    s.name = name.to_vec();
                }
            }
        }
    }

    /// In the child: `runsv NAME` in cwd = dir, with runit's signal reset and `-P`'s setsid;
    /// nothing here allocates (see proc::spawn).
    fn exec_runsv(&self, argv: &proc::CVec, name: &[u8]) -> ! {
        for s in [sig::SIGTERM, sig::SIGHUP, sig::SIGINT, sig::SIGCHLD] {
            sig::default(s);
        }
        sig::unblock_all();
        if self.setsid {
            let _ = proc::setsid();
        }
        if let Some(fd) = self.log.as_ref().and_then(|l| l.child_fd()) {
            let _ = fd::dup2(fd, fd::STDERR);
        }
        let e = exec_runsv(argv);
        msg::warn_noalloc(&[b"runsvdir ", self.dir, b": fatal: unable to start runsv ", name], e);
        proc::exit(FATAL)
    }
}

/// Execs `runsv` found through PATH (runit's pathexec_run); when no PATH element has it,
/// execs this very binary (/proc/self/exe) with argv[0] = "runsv", so a scratch image that
/// holds the binary under one name still works. Returns the PATH lookup's error on failure.
fn exec_runsv(argv: &proc::CVec) -> Errno {
    let env = &proc::Env::Inherit;
    let e = proc::execvp(b"runsv", argv, env);
    if e == Errno::NOENT {
        let _ = proc::execve(c"/proc/self/exe", argv, env);
    }
    e
}
