//! runsvdir: one `runsv` per service directory, as runit's runsvdir, plus instant pickup
//! through inotify and the duties of PID 1 (reaping, graceful stop, critical services).
use crate::msg::{self, CBuf};
use crate::sys::{fd, fs, inotify, pid1, proc, sig, time, Errno};
use crate::Args;
use alloc::vec::Vec;

mod log;
mod rest;

const USAGE: &[u8] = b" [-P] dir";
const USAGE_EXIT: i32 = 1;
const FATAL: i32 = 100;
const MAXSERVICES: usize = 1000; // runit's MAXSERVICES
/// runit's loop wakes after 1 s while `check` is set, else after 5 s.
const CHECK_MS: u64 = 1000;
const IDLE_MS: u64 = 5000;
/// A dead runsv is started again at most once a second (runit's scan rate), so a runsv that
/// dies at once cannot make runsvdir spin.
const RESTART_MS: u64 = 1000;
/// A new service whose files changed in the last SETTLE_MS is still being written (`cp -r`,
/// a script making `run` then `log/`): its runsv waits until it is quiet, at most SETTLE_MAX_MS
/// (runit itself only notices a new service after a second or more).
const SETTLE_MS: u64 = 50;
const SETTLE_MAX_MS: u64 = 1000;
const SETTLE_POLL_MS: u64 = 10;
/// The default of URUNIT_STOP_TIMEOUT: under Docker's 10 s before its SIGKILL.
const STOP_TIMEOUT_S: u64 = 7;
/// After the final SIGKILL, how long to wait for the dead to be reaped.
const KILL_WAIT_MS: u64 = 2000;
const WATCH_MASK: u32 = inotify::IN_CREATE
    | inotify::IN_DELETE
    | inotify::IN_MOVED_FROM
    | inotify::IN_MOVED_TO
    | inotify::IN_DELETE_SELF
    | inotify::IN_MOVE_SELF
    | inotify::IN_ONLYDIR;

/// One service directory, known by the (dev, inode) of its target as in runit.
struct Service {
    dev: u64,
    ino: u64,
    /// The runsv, 0 when none runs.
    pid: proc::Pid,
    gone: bool,
    /// The name its runsv was last started with.
    name: Vec<u8>,
    /// Monotonic ms of the last start; None until the first.
    started: Option<u64>,
    /// Monotonic ms when the directory was first seen.
    seen: u64,
}

/// The graceful stop (PID-1 mode only).
struct Stop {
    code: i32,
    deadline: u64,
    /// Set once every runsv is gone and the rest got SIGTERM.
    rest: bool,
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
    /// A scan is due at this time: inotify events, restarts, settling services, SIGHUP.
    scan_at: Option<u64>,
    curdir: fd::Fd,
    inotify: Option<inotify::Inotify>,
    /// The watch on `dir`, and the (dev, ino) it was added for.
    watch: Option<(i32, u64, u64)>,
    log: Option<log::Log>,
    /// The environment for runsv when URUNIT_PID1 must not reach it; None = inherit.
    env: Option<proc::CVec>,
    stop: Option<Stop>,
    stop_ms: u64,
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
    let pid1 = proc::getpid() == 1 || proc::getenv(b"URUNIT_PID1") == Some(b"1");
    Runsvdir::new(dir, setsid, pid1, args.get(i + 1).copied()).run()
}

/// `runsvdir DIR: warning: PARTS[: ERR]`.
fn warn(dir: &[u8], parts: &[&[u8]], e: Option<Errno>) {
    let mut v: Vec<&[u8]> = Vec::with_capacity(parts.len() + 3);
    v.extend_from_slice(&[b"runsvdir ", dir, b": warning: "]);
    v.extend_from_slice(parts);
    msg::warn(&v, e);
}

/// The graceful stop's deadline: URUNIT_STOP_TIMEOUT seconds (anything but plain digits
/// keeps the default). runit's container mode waits for the same deadline.
pub fn stop_timeout_ms() -> u64 {
    proc::getenv(b"URUNIT_STOP_TIMEOUT").and_then(crate::num::parse_u64).unwrap_or(STOP_TIMEOUT_S).saturating_mul(1000)
}

/// True if a file's mtime lies within the last SETTLE_MS (a future one counts as old:
/// clock skew in images must not hold a service back).
fn recent(st: &fs::Stat, wall_ms: i64) -> bool {
    let t = st.mtime * 1000 + st.mtime_ns / 1_000_000;
    t <= wall_ms && wall_ms - t < SETTLE_MS as i64
}

/// `path` exists, is executable, and was not written just now.
fn ready_file(path: &CBuf, wall_ms: i64) -> bool {
    fs::stat(path).is_ok_and(|st| !recent(&st, wall_ms)) && fs::access(path, fs::X_OK).is_ok()
}

/// A new service directory looks complete: `run` (and `log/run` if `log/` exists) in place
/// and nothing in it changed during the last SETTLE_MS. Called with cwd = dir.
fn settled(name: &[u8], st: &fs::Stat) -> bool {
    let (s, ns) = time::now();
    let wall_ms = (s * 1000) as i64 + (ns / 1_000_000) as i64;
    if recent(st, wall_ms) || !ready_file(&CBuf::new(&[name, b"/run"]), wall_ms) {
        return false;
    }
    match fs::stat(&CBuf::new(&[name, b"/log"])) {
        Ok(l) if l.is_dir() => !recent(&l, wall_ms) && ready_file(&CBuf::new(&[name, b"/log/run"]), wall_ms),
        _ => true,
    }
}

impl Runsvdir {
    fn new(dir: &'static [u8], setsid: bool, pid1: bool, logarg: Option<&'static [u8]>) -> Runsvdir {
        let now = time::mono_ms();
        let log = logarg.and_then(|arg| {
            log::Log::setup(arg, now)
                .map_err(|e| {
                    warn(dir, &[e.text()], None);
                    warn(dir, &[b"log service disabled."], None);
                })
                .ok()
        });
        let curdir = fd::open_read(c".").unwrap_or_else(|e| {
            msg::die(FATAL, &[b"runsvdir ", dir, b": fatal: unable to open current directory"], Some(e))
        });
        let stop_ms = stop_timeout_ms();
        if pid1 {
            if proc::getpid() != 1 {
                // Under another init (docker --init, runit's stage 2): orphans of the services
                // come to us instead of to that init.
                let _ = proc::set_subreaper();
            }
        }
        // URUNIT_PID1 is for this runsvdir only: a runsvdir started by a service (per-user
        // services) must keep runit's behaviour.
        let env = proc::getenv(b"URUNIT_PID1").map(|_| {
            proc::CVec::new(proc::env_vars().into_iter().filter(|e| !e.starts_with(b"URUNIT_PID1=")))
        });
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
            scan_at: None,
            curdir,
            inotify: inotify::Inotify::new().ok(),
            watch: None,
            log,
            env,
            stop: None,
            stop_ms,
        }
    }

    /// `runsvdir DIR: warning: PARTS[: ERR]`.
    fn warn(&self, parts: &[&[u8]], e: Option<Errno>) {
        warn(self.dir, parts, e);
    }

    /// Asks for a scan no later than `t`.
    fn scan_by(&mut self, t: u64) {
        self.scan_at = Some(self.scan_at.map_or(t, |s| s.min(t)));
    }

    // The main loop.
    fn run(mut self) -> i32 {
        let mut sigs = alloc::vec![sig::SIGTERM, sig::SIGHUP, sig::SIGCHLD];
        if self.pid1 {
            sigs.push(sig::SIGINT);
        }
        // An inherited SIG_IGN for SIGCHLD would make the kernel reap runsvs for us.
        sig::default(sig::SIGCHLD);
        let sigfd = sig::SigFd::new(&sigs)
            .unwrap_or_else(|e| msg::die(FATAL, &[b"runsvdir ", self.dir, b": fatal: unable to create selfpipe"], Some(e)));
        loop {
            let now = time::mono_ms();
            if self.stop.is_some() {
                if let Some(code) = self.stop_step(now) {
                    return code;
                }
            } else if self.scan_at.is_some_and(|t| now >= t) || now >= self.next_check {
                self.look(now);
            }
            if let Some(l) = self.log.as_mut() {
                l.tick(now);
            }

            // While stopping only the deadline (and children, signals, the log) wake us.
            let mut wake = match &self.stop {
                Some(s) => s.deadline,
                None => self.scan_at.map_or(self.next_check, |t| t.min(self.next_check)),
            };
            if let Some(l) = &self.log {
                wake = wake.min(l.next_dot);
            }
            let mut pfd = [
                fd::pollfd(sigfd.raw(), fd::POLLIN),
                fd::pollfd(self.inotify.as_ref().map_or(-1, |i| i.raw()), fd::POLLIN),
                fd::pollfd(self.log.as_ref().map_or(-1, |l| l.raw()), fd::POLLIN),
            ];
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
                    _ => {}
                }
            }
            self.reap();
            if let Some(ino) = self.inotify.as_ref() {
                for ev in ino.read_events() {
                    if ev.mask & inotify::IN_IGNORED != 0 && self.watch.is_some_and(|w| w.0 == ev.wd) {
                        self.watch = None;
                    }
                    self.scan_at = Some(0);
                }
            }
            if let Some(l) = self.log.as_mut() {
                l.drain();
            }
            match exitsoon {
                // runit: TERM exits at once and leaves every runsv running.
                Some(sig::SIGTERM) => return 0,
                // runit: HUP tells every runsv to stop, and exits without waiting.
                Some(_) => {
                    for s in &self.svc {
                        if s.pid != 0 {
                            let _ = proc::kill(s.pid, sig::SIGTERM);
                        }
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
                self.svc[i].pid = 0;
                self.check = true;
                if self.pid1 && self.stop.is_none() && self.is_critical(i) {
                    let code = proc::exit_code(st);
                    let mut buf = [0u8; 20];
                    let n = crate::num::fmt_u64(&mut buf, code as u64);
                    self.warn(&[b"critical service ", &self.svc[i].name, b" exited with ", n, b", stopping."], None);
                    self.begin_stop(code);
                } else {
                    self.scan_by(self.svc[i].started.unwrap_or(0) + RESTART_MS);
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
    // exits). Once every runsv is gone, what is left gets TERM and CONT; once nothing is left
    // runsvdir exits. At the deadline everything left is SIGKILLed.

    fn begin_stop(&mut self, code: i32) {
        if self.stop.is_some() {
            return;
        }
        for s in &self.svc {
            if s.pid != 0 {
                let _ = proc::kill(s.pid, sig::SIGTERM);
            }
        }
        self.stop = Some(Stop { code, deadline: time::mono_ms() + self.stop_ms, rest: false });
    }

    /// One step of the stop; Some(exit code) when it is over.
    fn stop_step(&mut self, now: u64) -> Option<i32> {
        let runsvs_gone = self.svc.iter().all(|s| s.pid == 0) && self.detached.is_empty();
        let st = self.stop.as_mut()?;
        if now >= st.deadline {
            let code = st.code;
            self.kill_all();
            return Some(code);
        }
        if !st.rest && runsvs_gone {
            st.rest = true;
            rest::signal_rest(sig::SIGTERM);
            rest::signal_rest(sig::SIGCONT);
        }
        if st.rest && !pid1::children_left() { Some(st.code) } else { None }
    }

    /// The deadline: SIGKILL to everything left, then reap it (bounded: a process stuck in
    /// the kernel must not keep the container alive).
    fn kill_all(&mut self) {
        if rest::signal_rest(sig::SIGKILL) > 0 {
            self.warn(&[b"stop deadline reached, killed what was left."], None);
        }
        let end = time::mono_ms() + KILL_WAIT_MS;
        let mut pause = 1;
        loop {
            while let Ok(Some(_)) = proc::wait_nohang() {}
            if !pid1::children_left() || time::mono_ms() >= end {
                return;
            }
            time::sleep_ms(pause);
            pause = (pause * 2).min(20);
            // A subreaper's orphans arrive while their parents die: kill them too.
            rest::signal_rest(sig::SIGKILL);
        }
    }

    // Scanning, as runit: stat `dir`; if it changed (or `check` is set) read it and start or
    // stop runsvs. inotify makes the scan happen at once instead of within 5 s.

    fn look(&mut self, now: u64) {
        let forced = self.scan_at.is_some_and(|t| now >= t);
        if forced {
            self.scan_at = None;
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
                            self.last = Some(key);
                            self.check = false;
                            self.scan(now);
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

    /// Keeps the inotify watch on the directory `dir` names now (it may have been replaced).
    fn watch_dir(&mut self, st: &fs::Stat) {
        let Some(ino) = self.inotify.as_ref() else { return };
        if self.watch.is_some_and(|w| (w.1, w.2) == (st.dev, st.ino)) {
            return;
        }
        if let Some(w) = self.watch.take() {
            ino.remove(w.0);
        }
        if let Ok(wd) = ino.add(&self.dirc, WATCH_MASK) {
            self.watch = Some((wd, st.dev, st.ino));
        }
    }

    /// runit's runsvdir(): called with cwd = dir.
    fn scan(&mut self, now: u64) {
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
            s.gone = true;
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
                    self.svc[i].gone = false;
                    if self.svc[i].pid != 0 {
                        continue;
                    }
                    i
                }
                None => {
                    if self.svc.len() >= MAXSERVICES {
                        self.warn(&[b"unable to start runsv ", name, b": too many services."], None);
                        continue;
                    }
                    let s = Service { dev: st.dev, ino: st.ino, pid: 0, gone: false, name: name.to_vec(), started: None, seen: now };
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
            if !self.svc[i].gone {
                i += 1;
                continue;
            }
            let s = self.svc.swap_remove(i);
            if s.pid != 0 {
                let _ = proc::kill(s.pid, sig::SIGTERM);
                self.detached.push(s.pid);
            }
            self.check = true;
        }
    }

    /// Starts the runsv of service i unless it was started less than a second ago, or it is
    /// new and still being written.
    fn try_start(&mut self, i: usize, name: &[u8], st: &fs::Stat, now: u64) {
        let s = &self.svc[i];
        match s.started {
            Some(t) if now < t + RESTART_MS => return self.scan_by(t + RESTART_MS),
            None if now < s.seen + SETTLE_MAX_MS && !settled(name, st) => return self.scan_by(now + SETTLE_POLL_MS),
            _ => {}
        }
        let argv = proc::CVec::new([&b"runsv"[..], name]);
        let env = match &self.env {
            Some(v) => proc::Env::Built(v),
            None => proc::Env::Inherit,
        };
        match proc::fork() {
            Err(e) => {
                self.warn(&[b"unable to fork for ", name], Some(e));
                self.check = true;
            }
            Ok(0) => self.exec_runsv(name, &argv, &env),
            Ok(pid) => {
                let s = &mut self.svc[i];
                s.pid = pid;
                s.started = Some(now);
                s.name = name.to_vec();
            }
        }
    }

    /// In the child: `runsv NAME` in cwd = dir, with runit's signal reset and `-P`'s setsid.
    fn exec_runsv(&self, name: &[u8], argv: &proc::CVec, env: &proc::Env) -> ! {
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
        let e = pid1::exec_runsv(argv, env);
        msg::die(FATAL, &[b"runsvdir ", self.dir, b": fatal: unable to start runsv ", name], Some(e))
    }
}
