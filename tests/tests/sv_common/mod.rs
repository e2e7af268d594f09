//! Shared by sv.rs and sv_interop.rs: services in known states under a chosen runsv
//! (C runit's or urunit's), the command table, and running either sv on them.
#![allow(dead_code)]
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use urunit_tests::*;

/// Which runsv supervises the services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runsv {
    C,
    Urunit,
}

/// Which sv runs the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sv {
    C,
    Urunit,
}

/// The state a service is put in before the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// ./run is up (it ignores HUP INT QUIT ALRM USR1 USR2, dies on TERM), for over a second.
    Running,
    /// A `down` file: runsv never started it.
    Down,
    /// Running, then paused with `p`.
    Paused,
    /// ./run exited at once and ./finish is still running.
    Finishing,
    /// No service directory at all.
    Missing,
}

pub const STATES: &[State] = &[State::Running, State::Down, State::Paused, State::Finishing, State::Missing];

/// Every command as typed: the plain ones, the same with `-w 3` (wait, shortened), and the
/// LSB verbs (they always wait; `-w 3` keeps timeouts short but well above scheduling noise).
pub const COMMANDS: &[&[&str]] = &[
    &["status"],
    &["up"],
    &["down"],
    &["once"],
    &["pause"],
    &["cont"],
    &["hup"],
    &["alarm"],
    &["interrupt"],
    &["quit"],
    &["1"],
    &["2"],
    &["term"],
    &["kill"],
    &["exit"],
    &["-v", "status"],
    &["-w", "3", "up"],
    &["-w", "3", "down"],
    &["-w", "3", "once"],
    &["-w", "3", "pause"],
    &["-w", "3", "cont"],
    &["-w", "3", "hup"],
    &["-w", "3", "alarm"],
    &["-w", "3", "interrupt"],
    &["-w", "3", "quit"],
    &["-w", "3", "1"],
    &["-w", "3", "2"],
    &["-w", "3", "term"],
    &["-w", "3", "kill"],
    &["-w", "3", "exit"],
    &["-w", "3", "start"],
    &["-w", "3", "stop"],
    &["-w", "3", "reload"],
    &["-w", "3", "restart"],
    &["-w", "3", "shutdown"],
    &["-w", "3", "force-stop"],
    &["-w", "3", "force-reload"],
    &["-w", "3", "force-restart"],
    &["-w", "3", "force-shutdown"],
    &["-w", "3", "try-restart"],
    &["-w", "3", "check"],
];

pub const RUN: &str = "#!/bin/sh\ntrap '' HUP INT QUIT ALRM USR1 USR2\nexec sleep 60\n";

/// A command that starts `runsv DIR`, or None (and a skip notice) if it is not available.
pub fn runsv(which: Runsv) -> Option<Command> {
    match which {
        Runsv::C => crunit("runsv").map(Command::new),
        Runsv::Urunit => {
            if urunit_runsv_missing() {
                skip("urunit's runsv is not implemented in this build");
                return None;
            }
            Some(cmd("runsv"))
        }
    }
}

/// True while src/runsv.rs is still the placeholder (it exits 111 at once, printing nothing).
fn urunit_runsv_missing() -> bool {
    let o = run(cmd("runsv"), 10);
    o.status.code() == Some(111) && o.stderr.is_empty()
}

/// A command running `sv` (C runit's or urunit's) as argv[0] "sv", with SVDIR.
pub fn sv(which: Sv, svdir: &Path) -> Command {
    let mut c = match which {
        Sv::C => Command::new(crunit("sv").expect("C runit's sv")),
        Sv::Urunit => cmd("sv"),
    };
    c.env("SVDIR", svdir).env_remove("SVWAIT").current_dir(svdir);
    c
}

/// Services in a temporary directory, supervised by runsv processes that end on drop.
pub struct Bench {
    pub tmp: TempDir,
    procs: Vec<Proc>,
    dirs: Vec<PathBuf>,
}

impl Bench {
    pub fn new(tag: &str) -> Bench {
        Bench { tmp: TempDir::new(tag), procs: Vec::new(), dirs: Vec::new() }
    }

    /// Makes DIR (relative to the bench) a service in `state` under `which` runsv, and
    /// waits until it is there (not for the one-second settling: see `settle`).
    pub fn service(&mut self, which: Runsv, dir: &str, state: State) -> PathBuf {
        let d = self.tmp.join(dir);
        if state == State::Missing {
            std::fs::create_dir_all(d.parent().unwrap()).unwrap();
            return d;
        }
        std::fs::create_dir_all(&d).unwrap();
        match state {
            State::Finishing => {
                script(d.join("run"), "#!/bin/sh\nexit 0\n");
                script(d.join("finish"), RUN);
            }
            _ => script(d.join("run"), RUN),
        }
        if state == State::Down {
            std::fs::write(d.join("down"), "").unwrap();
        }
        // urunit's runsv: ready as soon as it runs (README "Readiness"); C runit ignores it.
        std::fs::write(d.join("settle-ms"), "0\n").unwrap();
        self.start(which, &d);
        let want: fn(u32, u8, u8, u8, u8) -> bool = match state {
            State::Running | State::Paused => |pid, _, _, _, st| pid != 0 && st == 1,
            State::Down => |pid, _, _, _, st| pid == 0 && st == 0,
            State::Finishing => |pid, _, _, _, st| pid != 0 && st == 2,
            State::Missing => unreachable!(),
        };
        wait_until(20, "service state", || status(&d).is_some_and(|(a, b, c, e, f)| want(a, b, c, e, f)));
        if matches!(state, State::Running | State::Paused) && which == Runsv::Urunit {
            wait_until(20, "ready", || std::fs::read(d.join("supervise/health")).is_ok_and(|h| h.starts_with(b"ready ")));
        }
        if state == State::Paused {
            control(&d, b"p");
            wait_until(20, "paused", || status(&d).is_some_and(|s| s.1 == 1));
        }
        d
    }

    /// Starts runsv on an existing directory.
    pub fn start(&mut self, which: Runsv, d: &Path) {
        let mut c = runsv(which).expect("runsv");
        c.arg(d).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
        self.procs.push(Proc::spawn(c));
        self.dirs.push(d.to_path_buf());
        wait_until(20, "runsv up", || supervised(d) && status_bytes(d).is_some());
    }

    /// Waits until every service's last state change is over 1.2 s old: runsv restarts a
    /// service that ran for a second at once, and the second-granular checks of C runit's
    /// sv see the old and the new instance apart.
    pub fn settle(&self) {
        for d in &self.dirs {
            let Some(t) = stamp(d) else { continue };
            wait_until(20, "settled", || now() > t + 1.2);
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // runsv first (the guard kills its process group), then whatever it left.
        self.procs.clear();
        for d in &self.dirs {
            for s in [d.clone(), d.join("log")] {
                if let Some((pid, ..)) = status(&s) {
                    if pid != 0 {
                        // SAFETY: kill on a pid our runsv started.
                        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    }
                }
            }
        }
    }
}

/// Wall-clock seconds (with fraction).
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The TAI64N stamp of supervise/status as Unix seconds.
pub fn stamp(d: &Path) -> Option<f64> {
    let b = status_bytes(d)?;
    let tai = u64::from_be_bytes(b[0..8].try_into().unwrap());
    let ns = u32::from_be_bytes(b[8..12].try_into().unwrap());
    Some((tai - (1u64 << 62) - 10) as f64 + ns as f64 / 1e9)
}

/// `(pid 123)` -> `(pid P)`, and the seconds of a status line `12s` -> `Ns`.
pub fn normalize(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"(pid ") {
            let mut j = i + 5;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 5 && j < b.len() && b[j] == b')' {
                out.push_str("(pid P)");
                i = j + 1;
                continue;
            }
        }
        if b[i].is_ascii_digit() && i > 0 && b[i - 1] == b' ' {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let end = j + 1 >= b.len() || matches!(b[j + 1], b',' | b';' | b'\n');
            if j < b.len() && b[j] == b's' && end {
                out.push_str("Ns");
                i = j + 1;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Exit code, stdout and stderr of a run, normalized.
pub fn outcome(o: &Output) -> (Option<i32>, String, String) {
    (o.status.code(), normalize(&String::from_utf8_lossy(&o.stdout)), normalize(&String::from_utf8_lossy(&o.stderr)))
}

/// Runs sv `args` on the service `svc` below `svdir`, with a generous deadline.
pub fn sv_on(which: Sv, svdir: &Path, args: &[&str], svc: &str) -> Output {
    let mut c = sv(which, svdir);
    c.args(args).arg(svc);
    run(c, 60)
}

/// An /etc/init.d-style link NAME -> sv (C runit's or urunit's) in `dir`.
pub fn initd_link(which: Sv, dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let target = match which {
        Sv::C => crunit("sv").expect("C runit's sv"),
        Sv::Urunit => bin(),
    };
    let l = dir.join(name);
    let _ = std::fs::remove_file(&l);
    symlink(target, &l).unwrap();
    l
}

/// Runs `f` on every item with up to `n` threads, keeping the order of the results.
pub fn par_map<T: Sync, R: Send>(items: &[T], n: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    *slots[i].lock().unwrap() = Some(f(&items[i]));
                }
            });
        }
    });
    slots.into_iter().map(|m| m.into_inner().unwrap().unwrap()).collect()
}

/// For one runsv and one state: every command of COMMANDS on a fresh service each,
/// run by `which` sv. Returns (command, exit code, stdout, stderr), normalized.
pub fn table(r: Runsv, state: State, which: &[Sv]) -> Vec<(String, Sv, (Option<i32>, String, String))> {
    let mut bench = Bench::new("svtab");
    let mut jobs = Vec::new();
    for (i, args) in COMMANDS.iter().enumerate() {
        for &w in which {
            let dir = format!("{i}-{w:?}");
            bench.service(r, &format!("{dir}/svc"), state);
            jobs.push((args, w, bench.tmp.join(&dir)));
        }
    }
    bench.settle();
    par_map(&jobs, 12, |(args, w, svdir)| (args.join(" "), *w, outcome(&sv_on(*w, svdir, args, "svc"))))
}

/// Bad usage: (arguments, what comes before the usage text on stderr); exit 100.
pub const USAGE_CASES: &[(&[&str], &str)] = &[
    (&[], ""),
    (&["status"], ""),
    (&["-v", "up"], ""),
    (&["bogus", "svc"], ""),
    (&["Up", "svc"], ""),
    (&["", "svc"], ""),
    (&["rx", "svc"], ""),
    (&["fx", "svc"], ""),
    (&["-", "svc"], ""),
    (&["-x", "status", "svc"], "sv: illegal option -- x\n"),
    (&["-vq", "status", "svc"], "sv: illegal option -- q\n"),
    (&["-w"], "sv: option requires an argument -- w\n"),
    (&["-V", "status", "svc"], "$Id: 900314260c6d52c986c5357673bea2f3bd3f4698 $\n"),
];

// ---- A fake runsv: exact status lines and control bytes, no timing.

/// supervise/ with the `ok` and `control` FIFOs held open for reading by the test (so sv
/// sees a runsv) and a status file the test writes.
pub struct Fake {
    /// The supervise directory (DIR/supervise, or R/KEY in a run directory).
    pub sup: PathBuf,
    _ok: File,
    ctl: File,
}

pub fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", p.display());
}

pub fn open_nb(p: &Path) -> File {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(p).unwrap()
}

/// The 20 status bytes: stamp (Unix seconds), pid, paused, want, got TERM, state.
pub fn pack(secs: u64, pid: u32, paused: u8, want: u8, term: u8, state: u8) -> Vec<u8> {
    let mut b = ((1u64 << 62) + 10 + secs).to_be_bytes().to_vec();
    b.extend_from_slice(&500u32.to_be_bytes());
    b.extend_from_slice(&pid.to_le_bytes());
    b.extend_from_slice(&[paused, want, term, state]);
    b
}

/// A stamp far in the future: sv prints 0s (runit: never negative) and counts it as new.
pub fn future() -> u64 {
    now() as u64 + 100_000
}

impl Fake {
    pub fn new(dir: &Path) -> Fake {
        Fake::at(&dir.join("supervise"))
    }
    /// A fake whose supervise files are in `sup` (urunit's run directory: R/KEY).
    pub fn at(sup: &Path) -> Fake {
        std::fs::create_dir_all(sup).unwrap();
        mkfifo(&sup.join("ok"));
        mkfifo(&sup.join("control"));
        let ok = open_nb(&sup.join("ok"));
        let ctl = open_nb(&sup.join("control"));
        Fake { sup: sup.to_path_buf(), _ok: ok, ctl }
    }
    /// A fake in `state`-like shape: running (pid 42, want up) unless told otherwise.
    pub fn with(dir: &Path, status: Vec<u8>) -> Fake {
        let f = Fake::new(dir);
        f.set(status);
        f
    }
    /// supervise/status as runsv writes it: `status.new`, then renamed into place.
    pub fn set(&self, status: Vec<u8>) {
        std::fs::write(self.sup.join("status.new"), status).unwrap();
        std::fs::rename(self.sup.join("status.new"), self.sup.join("status")).unwrap();
    }
    /// supervise/health as urunit's runsv writes it: `health.new`, then renamed into place.
    pub fn health(&self, line: &str) {
        std::fs::write(self.sup.join("health.new"), format!("{line}\n")).unwrap();
        std::fs::rename(self.sup.join("health.new"), self.sup.join("health")).unwrap();
    }
    /// Everything sv wrote to supervise/control so far.
    pub fn written(&mut self) -> String {
        let mut v = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n) = self.ctl.read(&mut buf) {
            if n == 0 {
                break;
            }
            v.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(v).unwrap()
    }
}

pub fn running() -> Vec<u8> {
    pack(future(), 42, 0, b'u', 0, 1)
}

/// The bytes each command writes to supervise/control, and what it prints, for a service
/// running with want down (so nothing is skipped), with SVWAIT=0.
pub const CONTROL: &[(&str, &str, i32, &str)] = &[
    ("up", "u", 0, ""),
    ("down", "d", 0, ""),
    ("once", "o", 0, ""),
    ("pause", "p", 0, ""),
    ("cont", "c", 0, ""),
    ("hup", "h", 0, ""),
    ("alarm", "a", 0, ""),
    ("interrupt", "i", 0, ""),
    ("quit", "q", 0, ""),
    ("1", "1", 0, ""),
    ("2", "2", 0, ""),
    ("term", "t", 0, ""),
    ("kill", "k", 0, ""),
    ("exit", "x", 0, ""),
    // runit's first-letter matching.
    ("u", "u", 0, ""),
    ("dOWN", "d", 0, ""),
    ("oops", "o", 0, ""),
    ("t", "t", 0, ""),
    ("continue", "c", 0, ""),
    ("k9", "k", 0, ""),
    ("e", "x", 0, ""),
    ("xyz", "x", 0, ""),
    ("12", "1", 0, ""),
    ("status", "", 0, "run: svc: (pid 42) 0s, want down\n"),
    ("stat", "", 0, "run: svc: (pid 42) 0s, want down\n"),
    ("s", "", 0, "run: svc: (pid 42) 0s, want down\n"),
    // The LSB verbs, which wait.
    ("start", "u", 0, "ok: run: svc: (pid 42) 0s, want down\n"),
    ("stop", "d", 1, "timeout: run: svc: (pid 42) 0s, want down\n"),
    ("reload", "h", 0, "ok: run: svc: (pid 42) 0s, want down\n"),
    ("restart", "tcu", 0, "ok: run: svc: (pid 42) 0s, want down\n"),
    ("shutdown", "x", 1, "timeout: run: svc: (pid 42) 0s, want down\n"),
    ("try-restart", "tc", 0, "ok: run: svc: (pid 42) 0s, want down\n"),
    ("check", "", 1, "timeout: run: svc: (pid 42) 0s, want down\n"),
    ("force-stop", "dk", 1, "kill: run: svc: (pid 42) 0s, want down\n"),
    ("force-reload", "tc", 0, "ok: run: svc: (pid 42) 0s, want down\n"),
    ("force-restart", "tcu", 0, "ok: run: svc: (pid 42) 0s, want down\n"),
    ("force-shutdown", "xk", 1, "kill: run: svc: (pid 42) 0s, want down\n"),
    // Undocumented in runit: capitals that wait and kill.
    ("Down", "dk", 1, "kill: run: svc: (pid 42) 0s, want down\n"),
    ("Term", "tc", 0, "ok: run: svc: (pid 42) 0s, want down\n"),
    ("Xit", "xk", 1, "kill: run: svc: (pid 42) 0s, want down\n"),
    ("Exit", "xk", 1, "kill: run: svc: (pid 42) 0s, want down\n"),
];
