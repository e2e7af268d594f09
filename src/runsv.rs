//! runsv: supervises one service and its optional log service; the only writer of their
//! supervise directories. One poll loop over a signalfd, the control FIFOs and the
//! readiness pipes: no busy waiting, no periodic wake-up while idle. What happens next is
//! decided by the state machine in `runsv/machine.rs`; this file performs its actions.
use crate::Args;
use crate::msg::{self, CBuf};
use crate::num;
use crate::rundir;
use crate::svstatus::{State, Status, Want, stat_text};
use crate::sys::proc::{CVec, Env, Pid};
use crate::sys::{Errno, fd, fd::Fd, fs, proc, sig, time};
use alloc::vec::Vec;
use machine::{Action, Event, Machine};

pub(crate) mod machine;

const EXIT_FATAL: i32 = 111;
const EXIT_USAGE: i32 = 1;
/// The pipe runsv holds between the service and its logger: big enough that a logger
/// restart does not stall a busy service (the kernel's 64 KiB where this is refused).
const LOG_PIPE_BYTES: i32 = 1 << 20;
/// Readiness: a run with neither `notification-fd` nor `check` is ready once it has been up
/// this long (runit counts a shorter run as a failed start); `settle-ms` sets another.
const SETTLE_MS: u64 = 1000;
/// `./check` is run first after CHECK_FIRST_MS, then with the gap doubling up to CHECK_MAX_MS.
const CHECK_FIRST_MS: u64 = 10;
const CHECK_MAX_MS: u64 = 1000;
/// A dependency whose supervise directory cannot be watched is looked at this often (at most).
const DEP_POLL_MAX_MS: u64 = 500;
/// The files runsv writes in supervise/, in the order it writes them.
const FILES: [&[u8]; 4] = [b"health", b"pid", b"stat", b"status"];

/// A deadline that never comes (probe_at, retry_at).
const NEVER: u64 = u64::MAX;
/// A failed write of `supervise/` files is tried again after this long.
const RETRY_STATUS_MS: u64 = 1000;

/// The signals runsv does not read from its signalfd: the faults a program's own bug raises
/// (they must still kill it), 32 (the C library's own), and KILL and STOP (uncatchable).
/// CHLD, TERM and INT act; every other signal is read away, so a stray HUP, USR1, PIPE (its
/// stderr is runsvdir's `log:` pipe) or real-time signal never kills runsv (README D9).
const UNBLOCKED: [i32; 8] =
    [4 /* ILL */, 6 /* ABRT */, 7 /* BUS */, 8 /* FPE */, 9, 11 /* SEGV */, 19 /* STOP */, 32];

fn signal_set() -> Vec<i32> {
    let mut v = Vec::with_capacity(64);
    for s in 1..=64 {
        if !UNBLOCKED.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// How a run says it is ready (README "Readiness").
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ready {
    /// `notification-fd`: a newline on this fd.
    Fd(i32),
    /// `./check` exits 0.
    Check,
    /// Up for this many ms.
    Settle(u64),
}

/// One supervised process, the service (`./run`, `./finish`) or its logger (`log/run`):
/// its machine, its paths, its supervise/ files and descriptors.
struct Svc {
    m: Machine,
    /// The supervise directory with a trailing '/' (`supervise/`, `log/supervise/`, or one
    /// in the run directory); empty: no writable place, the state lives in memory only.
    sup: Vec<u8>,
    pid: Pid,
    /// The pid of the last run that ended (for `supervise/health`).
    last_pid: Pid,
    term: bool,
    /// Wall-clock time of the last state change (the TAI64N stamp in `status`).
    stamp: (u64, u32),
    /// What supervise/health, pid, stat and status last said (empty: never written).
    written: [Vec<u8>; 4],
    /// When to write the supervise/ files: NEVER when they are up to date, 0 when a change
    /// waits for the end of this turn, else the time to retry a write that failed.
    retry_at: u64,
    /// `control`, read end (-1: none). It, our own writer on it (so it never reports EOF),
    /// `ok` and the lock stay open for runsv's whole life.
    ctl: i32,
    ready: Ready,
    /// The read end of the notification pipe while the run may still write to it.
    notify: Option<Fd>,
    /// `./check` running now, and when to run it next / the settle deadline.
    check_pid: Pid,
    probe_at: u64,
    check_gap: u64,
    /// A process left running by a runsv that died, watched through its pidfd.
    adopted: Option<Fd>,
}

struct Runsv {
    /// The service and its logger (without `log/`, a logger that never wants up and has
    /// no supervise directory: it never starts and writes nothing).
    s: [Svc; 2],
    /// The log pipe, held by runsv for its whole life so nothing buffered is lost while
    /// either side restarts; dropped when the service is down for good.
    logpipe: Option<(Fd, Fd)>,
    deps: deps::Deps,
}

pub(crate) mod adopt;
mod deps;

impl Svc {
    fn new(islog: bool, want: Want) -> Svc {
        Svc {
            m: Machine::new(islog, want),
            sup: Vec::new(),
            pid: 0,
            last_pid: 0,
            term: false,
            stamp: time::now(),
            written: Default::default(),
            retry_at: NEVER,
            ctl: -1,
            ready: Ready::Settle(SETTLE_MS),
            notify: None,
            check_pid: 0,
            probe_at: NEVER,
            check_gap: CHECK_FIRST_MS,
            adopted: None,
        }
    }

    /// A file in this process's directory (`run`, `log/run`, ...).
    fn path(&self, p: &[u8]) -> CBuf {
        // "" for the service, "log/" for the logger: where `run` is.
        CBuf::new(&[if self.m.log { b"log/" } else { b"" }, p])
    }

    /// A file in the supervise directory, shown as runit names it in messages
    /// (`supervise/lock`, `log/supervise/lock`) when it is in the service directory.
    fn sup_path(&self, name: &[u8]) -> CBuf {
        CBuf::new(&[&self.sup, name])
    }

    // ---- The supervise directory.

    /// Sets up the supervise directory: `supervise/` as runit does (mkdir; a symlink's
    /// target is created, one level), else one in the run directory (README "Read-only and
    /// non-root"), else none. Then the lock, `control` and `ok`.
    fn open_supervise(&mut self) -> bool {
        let local = self.path(b"supervise");
        let reason = match self.make_local(&local) {
            Ok(()) => match self.take_lock(&local) {
                Ok(()) => {
                    self.sup = [local.bytes(), b"/"].concat();
                    None
                }
                Err(e) => Some(e),
            },
            Err(e) => Some(e),
        };
        if let Some(e) = reason {
            if let Err(e2) = self.use_rundir() {
                msg::warning(
                    &[
                        b"no writable supervise directory (./",
                        local.bytes(),
                        b": ",
                        crate::errstr::errstr(e),
                        b"; ",
                        rundir::base(),
                        b")",
                    ],
                    Some(e2),
                );
                msg::warning(
                    &[
                        b"sv cannot control ",
                        if self.m.log { b"the log service" } else { b"this service" },
                        b": its state is kept in memory",
                    ],
                    None,
                );
                return false;
            }
        }
        // Before the first status write: what a dead runsv left running is taken over.
        adopt::adopt(self);
        self.open_fifos();
        true
    }

    /// mkdir `supervise` (or the target of a `supervise` symlink, one level, as runit).
    /// Err only where a run directory stands in: there is no `supervise` and it cannot be
    /// made (read-only, no permission); anything else is left for the lock to report.
    fn make_local(&self, path: &CBuf) -> Result<(), Errno> {
        let e = match fs::mkdir(path, 0o700) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let mut buf = [0u8; 256];
        match fs::readlink(path, &mut buf) {
            Ok(n) if n >= buf.len() => die(&[b"unable to readlink ./", path.bytes(), b": name too long"], None),
            Ok(n) => {
                let target = &buf[..n];
                // A relative target resolves from the directory holding the link.
                let t = if target.first() == Some(&b'/') { CBuf::new(&[target]) } else { self.path(target) };
                let _ = fs::mkdir(&t, 0o700);
                Ok(())
            }
            Err(le) if le == Errno::NOENT && lockout(e) => Err(e),
            Err(le) if le == Errno::INVAL || le == Errno::NOENT => Ok(()),
            Err(le) => die(&[b"unable to readlink ./", path.bytes()], Some(le)),
        }
    }

    /// Opens and flocks the lock file: non-blocking for the service (a second runsv must
    /// fail at once), blocking for the logger, as runit does. Errors that a run directory
    /// can stand in for (read-only, a root-owned `supervise/` left behind) are returned.
    fn take_lock(&mut self, dir: &CBuf) -> Result<(), Errno> {
        let p = CBuf::new(&[dir.bytes(), b"/lock"]);
        let f = match fd::open_append(&p) {
            Ok(f) => f,
            Err(e) if lockout(e) && !fs::lstat(dir).is_ok_and(|st| st.is_link()) => return Err(e),
            Err(e) => die(&[b"unable to open ", p.bytes()], Some(e)),
        };
        let op = if self.m.log { fd::LOCK_EX } else { fd::LOCK_EX | fd::LOCK_NB };
        fd::flock(f.raw(), op).unwrap_or_else(|e| die(&[b"unable to lock ", p.bytes()], Some(e)));
        let _ = f.into_raw();
        Ok(())
    }

    /// The run directory: $URUNIT_RUNDIR or /run/urunit, then one directory per service
    /// named after its physical path.
    #[inline(never)]
    fn use_rundir(&mut self) -> Result<(), Errno> {
        let base = rundir::base();
        let _ = fs::mkdir(&CBuf::new(&[base]), 0o700);
        let mut cwd = [0u8; 4096];
        let n = fs::getcwd(&mut cwd)?;
        let mut dir = Vec::with_capacity(n + 64);
        dir.extend_from_slice(base);
        dir.push(b'/');
        let phys = if self.m.log { physical(c"log") } else { None };
        match phys {
            Some(p) => rundir::key(&p, &mut dir),
            None => {
                rundir::key(&cwd[..n], &mut dir);
                if self.m.log {
                    dir.extend_from_slice(b"%2Flog");
                }
            }
        }
        let path = CBuf::new(&[&dir]);
        match fs::mkdir(&path, 0o700) {
            Err(e) if !fs::stat(&path).is_ok_and(|st| st.is_dir()) => return Err(e),
            _ => {}
        }
        self.take_lock(&path)?;
        dir.push(b'/');
        self.sup = dir;
        Ok(())
    }

    /// Creates and opens `control` (reader, and our own writer so it never reports EOF),
    /// writes `status`, then makes `ok` (held open for reading: a client's non-blocking open
    /// for writing then succeeds, which is how sv knows runsv is running). That is runit's
    /// order: whoever finds runsv running can read its status, and a status that names a
    /// pid was written after `ok`. The rest follows at the end of the first turn.
    #[inline(never)]
    fn open_fifos(&mut self) {
        let path = self.sup_path(b"control");
        let _ = fs::mkfifo(&path, 0o600);
        match fs::stat(&path) {
            Ok(st) if st.is_fifo() => {}
            Ok(_) => die(&[path.bytes(), b" exists but is not a fifo"], None),
            Err(e) => die(&[b"unable to stat ", path.bytes()], Some(e)),
        }
        let open = |f: fn(&core::ffi::CStr) -> Result<Fd, Errno>| {
            f(&path).unwrap_or_else(|e| die(&[b"unable to open ", path.bytes()], Some(e)))
        };
        self.ctl = open(fd::open_read_nb).into_raw();
        let _ = open(fd::open_write_nb).into_raw();
        let st = self.status();
        // Recorded, so a service that does not start in the first turn (`down`, held by a
        // dependency) is not written the same status again.
        if self.write_file(b"status", &st) == Some(true) {
            self.written[3] = st.to_vec();
        }
        // Unlike any body: the first update writes `pid` even when it is empty (a service
        // that never starts still has its empty `pid`, as in runit).
        self.written[1].push(0);
        let path = self.sup_path(b"ok");
        let _ = fs::mkfifo(&path, 0o600);
        let _ = fd::open_read_nb(&path).unwrap_or_else(|e| die(&[b"unable to read ", path.bytes()], Some(e))).into_raw();
        self.mark();
    }

    // ---- supervise/ files.

    /// The state changed: the files are written at the end of this turn of the main loop,
    /// once for all the changes it made (runit writes them after each).
    fn mark(&mut self) {
        self.retry_at = 0;
    }

    /// runit's update_status, when marked or due for a retry: health (when it changed),
    /// pid (when it changed), stat, status; each written to NAME.new and renamed into
    /// place. A failed write warns and is tried again until the files are whole and true.
    fn flush(&mut self, held: Option<&[u8]>, now: u64) {
        if now < self.retry_at {
            return;
        }
        // Nowhere to write (the state is in memory, or a logger without `log/`): nothing is
        // due either, so the loop does not wake for it.
        let ok = self.sup.is_empty() || self.write_status(held);
        self.retry_at = if ok { NEVER } else { now + RETRY_STATUS_MS };
    }

    /// runit's 20-byte `status`.
    fn status(&self) -> [u8; 20] {
        let m = &self.m;
        Status {
            secs: self.stamp.0,
            nanos: self.stamp.1,
            pid: self.pid as u32,
            paused: m.paused,
            want: if m.want == Want::Up { b'u' } else { b'd' },
            term: self.term,
            state: m.state as u8,
        }
        .pack()
    }

    #[inline(never)]
    fn write_status(&mut self, held: Option<&[u8]>) -> bool {
        let m = &self.m;
        let st = self.status();
        // health first: whoever sees the new status also sees its health (`sv -w up` of a
        // service that never ran must not take it for C runit's runsv).
        // The four bodies in one buffer: health, pid, stat, status, each ending at end[i].
        let mut t = Vec::with_capacity(96);
        let mut end = [0; 4];
        self.health(held, &mut t);
        end[0] = t.len();
        if self.pid != 0 {
            put_num(&mut t, self.pid as u64);
            t.push(b'\n');
        }
        end[1] = t.len();
        stat_text(&mut t, m.state, m.paused, self.term, m.want);
        end[2] = t.len();
        t.extend_from_slice(&st);
        end[3] = t.len();
        let (mut whole, mut from) = (true, 0);
        for i in 0..4 {
            let b = &t[from..end[i]];
            from = end[i];
            // What is there already is not written again (README D15); health says nothing
            // until there is something to say.
            if b == self.written[i] || i == 0 && b.is_empty() {
                continue;
            }
            match self.write_file(FILES[i], b) {
                Some(true) => self.written[i] = b.to_vec(),
                // health's failures are silent (runit's files that follow say what is
                // wrong), but retried like theirs; runit gives up on the rest of the update
                // when pid or stat cannot be opened or renamed.
                Some(false) => whole = false,
                None if i == 0 => whole = false,
                None => return false,
            }
        }
        whole
    }

    /// Appends the `supervise/health` line (README "Readiness"): nothing when there is
    /// nothing to say.
    fn health(&self, held: Option<&[u8]>, v: &mut Vec<u8>) {
        let m = &self.m;
        let (head, pid, mid, n): (&[u8], Pid, &[u8], i32);
        if m.running() {
            (head, pid, mid, n) = (if m.ready { &b"ready "[..] } else { b"starting " }, self.pid, b"", -1);
        } else if let Some(h) = held.filter(|_| m.state == State::Down && !self.m.log) {
            (head, pid, mid, n) = (h, 0, b"", -1);
        } else if self.last_pid != 0 {
            let st = m.wstat;
            let (word, code): (&[u8], i32) =
                if st & 0x7f == 0 { (b" exited ", (st >> 8) & 0xff) } else { (b" killed ", st & 0x7f) };
            // `exited PID CODE`, `killed PID SIG`; `failed PID exited CODE` once runsv gave up.
            (head, mid) = if m.failed { (&b"failed "[..], word) } else { (&word[1..], &b" "[..]) };
            (pid, n) = (self.last_pid, code);
        } else {
            return;
        }
        v.extend_from_slice(head);
        if pid != 0 {
            put_num(v, pid as u64);
        }
        v.extend_from_slice(mid);
        if n >= 0 {
            put_num(v, n as u64);
        }
        v.push(b'\n');
    }

    /// Writes NAME.new and renames it to NAME. Some(true): done; Some(false): failed, but
    /// runit goes on with the next file; None: runit gives up on the rest of the update.
    #[inline(never)]
    fn write_file(&self, name: &[u8], body: &[u8]) -> Option<bool> {
        let sup = &self.sup[..];
        let new = CBuf::new(&[sup, name, b".new"]);
        let dst = CBuf::new(&[sup, name]);
        // (result, runit's warning: what failed, what follows the file name, errno)
        let (r, what, tail, e): (_, &[u8], &[u8], _) = match fd::open_trunc(&new) {
            Err(e) => (None, b"unable to open ", b"", Some(e)),
            Ok(f) => match fd::write(f.raw(), body) {
                Ok(n) if n == body.len() => match fs::rename(&new, &dst) {
                    Ok(()) => return Some(true),
                    Err(e) => (None, b"unable to rename ", b" to ", Some(e)),
                },
                w => {
                    let _ = fs::unlink(&new);
                    let e = w.err();
                    (Some(false), b"unable to write ", if e.is_some() { b"" } else { b": partial write." }, e)
                }
            },
        };
        if name != b"health" {
            msg::warning(&[what, new.bytes(), tail, if tail == b" to " { dst.bytes() } else { b"" }], e);
        }
        r
    }

    // ---- Readiness.

    /// Reads how this process says it is ready, before each start of `run`.
    #[inline(never)]
    fn read_ready_config(&mut self) {
        let n = self.read_num(b"notification-fd");
        self.ready = match n {
            Some(n) if (3..1024).contains(&n) => Ready::Fd(n as i32),
            _ if fs::exists(&self.path(b"check")) => Ready::Check,
            _ => Ready::Settle(self.read_num(b"settle-ms").unwrap_or(SETTLE_MS)),
        };
    }

    /// A number in a file of this process's directory (trailing white space allowed).
    #[inline(never)]
    fn read_num(&self, name: &[u8]) -> Option<u64> {
        num::parse_u64(trim(&fd::read_file(&self.path(name)).ok()?))
    }

    /// Up to three numbers in a file of this process's directory (missing ones are 0).
    #[inline(never)]
    fn read_nums(&self, name: &[u8]) -> [u64; 3] {
        let v = fd::read_file(&self.path(name)).unwrap_or_default();
        [0, 1, 2].map(|i| word(&v, i).and_then(num::parse_u64).unwrap_or(0))
    }

    /// The restart policy files (README "Restart policy"), read before each start.
    #[inline(never)]
    fn read_policy(&mut self) {
        let [cap, ..] = self.read_nums(b"restart-backoff");
        let [n, t, reset] = self.read_nums(b"restart-limit");
        self.m.policy = machine::Policy {
            backoff_max: cap.saturating_mul(1000),
            limit: n.min(u32::MAX as u64) as u32,
            window: t.saturating_mul(1000),
            reset: reset.saturating_mul(1000),
        };
    }

    /// After a run started: arm its readiness probe.
    #[inline(never)]
    fn arm_ready(&mut self, now: u64) {
        self.check_gap = CHECK_FIRST_MS;
        self.probe_at = match self.ready {
            Ready::Fd(_) => NEVER,
            Ready::Check => now + CHECK_FIRST_MS,
            Ready::Settle(ms) => now + ms,
        };
    }

    /// The run ended: forget its readiness.
    #[inline(never)]
    fn disarm_ready(&mut self) {
        self.notify = None;
        self.probe_at = NEVER;
        if self.check_pid != 0 {
            let _ = proc::kill(self.check_pid, sig::SIGKILL);
        }
    }
}

/// What a forked child does before it execs `argv`: its own process group, one fd
/// duplicated (the log pipe), `./log` as its directory (fatal if that fails, unless
/// `fail` is None), the notification fd kept (write end, number), every other
/// descriptor above 2 closed.
struct Child<'a> {
    pgrp: bool,
    dup: Option<(i32, i32)>,
    cd: bool,
    notify: Option<(i32, i32)>,
    argv: &'a CVec,
    /// The fatal message when exec fails (None: exit 111 silently).
    fail: Option<&'a [u8]>,
}

/// Starts a child (proc::spawn) that sets itself up as `c` says and execs.
#[inline(never)]
fn spawn(c: &Child) -> Result<Pid, Errno> {
    let fatal = msg::prog();
    proc::spawn(|| {
        sig::unblock_all();
        if c.pgrp {
            let _ = proc::setpgid(0, 0);
        }
        if let Some((from, to)) = c.dup {
            let _ = fd::dup2(from, to);
        }
        if c.cd {
            if let Err(e) = fs::chdir(c"./log") {
                if c.fail.is_some() {
                    msg::warn_noalloc(&[fatal, b"fatal: unable to change directory to ./log"], e);
                    proc::exit(EXIT_FATAL)
                }
            }
        }
        match c.notify {
            Some((w, n)) => {
                let _ = if w == n { fd::set_cloexec(n, false) } else { fd::dup2(w, n) };
                fd::close_from_but(3, n);
            }
            None => fd::close_from(3),
        }
        let e = proc::execve(c.argv.get(0), c.argv, &Env::Inherit);
        if let Some(m) = c.fail {
            msg::warn_noalloc(&[fatal, b"fatal: ", m], e);
        }
        proc::exit(EXIT_FATAL)
    })
}

/// Errors that mean "this place is not ours to write": a run directory stands in.
fn lockout(e: Errno) -> bool {
    e == Errno::ROFS || e == Errno::ACCES || e == Errno::PERM
}

/// The physical path of a directory relative to the current one (cwd is restored).
fn physical(p: &core::ffi::CStr) -> Option<Vec<u8>> {
    let here = fd::open_dir_path(c".").ok()?;
    fs::chdir(p).ok()?;
    let mut buf = [0u8; 4096];
    let n = fs::getcwd(&mut buf);
    let _ = fs::fchdir(here.raw());
    n.ok().map(|n| buf[..n].to_vec())
}

/// Word `i` (from 0) of `b`, words separated by runs of white space.
#[inline(never)]
fn word(b: &[u8], i: usize) -> Option<&[u8]> {
    b.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).nth(i)
}

fn trim(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &v[..end]
}

fn put_num(v: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    v.extend_from_slice(num::fmt_u64(&mut buf, n));
}

/// `runsv NAME: fatal: ...`, exit 111 (the prefix is set once by main).
fn die(what: &[&[u8]], e: Option<Errno>) -> ! {
    msg::fatal(EXIT_FATAL, what, e)
}

pub fn main(args: Args) -> i32 {
    if args.len() != 2 {
        msg::usage(EXIT_USAGE, args.first().copied().unwrap_or(b"runsv"), b" dir");
    }
    let name = args[1];
    // `runsv NAME: `: set once, for the whole life of runsv.
    let prog: &'static [u8] = [b"runsv ", name, b": "].concat().leak();
    msg::set_prog(alloc::boxed::Box::leak(alloc::boxed::Box::new(prog)));
    let sigs = sig::SigFd::new(&signal_set()).unwrap_or_else(|e| die(&[b"unable to create selfpipe"], Some(e)));
    fs::chdir(&CBuf::new(&[name])).unwrap_or_else(|e| die(&[b"unable to change to directory"], Some(e)));

    let want = |p: &core::ffi::CStr| if fs::exists(p) { Want::Down } else { Want::Up };
    let mut rs =
        Runsv { s: [Svc::new(false, want(c"down")), Svc::new(true, Want::Down)], logpipe: None, deps: deps::Deps::new(name) };
    match fs::stat(c"log") {
        Ok(st) if st.is_dir() => {
            rs.s[1].m.want = want(c"log/down");
            let p = fd::pipe(0).unwrap_or_else(|e| die(&[b"unable to create log pipe"], Some(e)));
            let _ = fd::set_pipe_size(p.1.raw(), LOG_PIPE_BYTES);
            rs.logpipe = Some(p);
        }
        Ok(_) => msg::warning(&[b"./log: not a directory."], None),
        Err(e) if e == Errno::NOENT => {}
        // runit prints this with a doubled colon.
        Err(e) => msg::warning(&[b"unable to stat() ./log: "], Some(e)),
    }
    let [v, l] = &mut rs.s;
    v.open_supervise();
    if rs.logpipe.is_some() {
        l.open_supervise();
        if let Some(p) = adopt::recover_pipe(v.pid, l.pid) {
            rs.logpipe = Some(p);
        }
    }
    rs.run(&sigs)
}

impl Runsv {
    fn sv(&mut self, log: bool) -> &mut Svc {
        &mut self.s[log as usize]
    }

    /// Feeds one event to a machine and performs what it returns.
    fn apply(&mut self, log: bool, ev: Event) {
        let now = time::mono_ms();
        let s = self.sv(log);
        let before = s.m.state;
        let acts = s.m.step(ev, now);
        if s.m.state != before && s.m.state != State::Finish {
            s.stamp = time::now();
        }
        for a in acts {
            match a {
                None => {}
                Some(Action::Status) => self.sv(log).mark(),
                Some(Action::Start) => self.start(log, false),
                Some(Action::Finish) => self.start(log, true),
                Some(Action::Stop) => self.stop(log),
                Some(Action::Signal(c, signo)) => {
                    if !self.custom(log, c) {
                        let pid = self.sv(log).pid;
                        if signo == machine::SIGKILL {
                            let _ = proc::kill(-pid, signo);
                        }
                        let _ = proc::kill(pid, signo);
                    }
                }
                Some(a @ (Action::Sweep | Action::EndFinish)) => {
                    let s = self.sv(log);
                    let pid = if a == Action::Sweep { s.last_pid } else { s.pid };
                    let _ = proc::kill(-pid, sig::SIGTERM);
                    let _ = proc::kill(-pid, sig::SIGCONT);
                }
            }
        }
    }

    /// Writes what changed in this turn, and what is due for a retry at `now` (see
    /// Svc::flush), the service's then the logger's.
    fn flush(&mut self, now: u64) {
        let held = self.deps.held();
        let [v, l] = &mut self.s;
        v.flush(held, now);
        l.flush(None, now);
    }

    // ---- Processes.

    /// Runs `control/C` if it exists with the owner-execute bit, waiting for it.
    /// True means "handled": it exited 0 (a script killed by a signal is not, unlike
    /// runit: README deviation D7). The logger has no custom control.
    fn custom(&mut self, log: bool, c: u8) -> bool {
        if log {
            return false;
        }
        let mut path_c = *b"control/?\0";
        path_c[8] = c;
        let path_b = &path_c[..9];
        match fs::stat(core::ffi::CStr::from_bytes_with_nul(&path_c).unwrap_or(c"")) {
            // The script sees the files up to date, as runit's would.
            Ok(st) if st.mode & fs::S_IXUSR != 0 => self.flush(time::mono_ms()),
            Ok(_) => return false,
            Err(e) if e == Errno::NOENT => return false,
            Err(e) => {
                msg::warning(&[b"unable to stat ", path_b], Some(e));
                return false;
            }
        }
        let argv = CVec::new([path_b]);
        let out = self.logpipe.as_ref().map(|p| (p.1.raw(), fd::STDOUT));
        match spawn(&Child {
            pgrp: false,
            dup: out,
            cd: false,
            notify: None,
            argv: &argv,
            fail: Some(b"unable to run control/?"),
        }) {
            Err(e) => {
                msg::warning(&[b"unable to fork for ", path_b], Some(e));
                false
            }
            Ok(pid) => match proc::wait_pid(pid, 0) {
                Ok(Some((_, st))) => proc::wifexited(st) && proc::wexitstatus(st) == 0,
                Ok(None) => false,
                Err(e) => {
                    msg::warning(&[b"unable to wait for child ", path_b], Some(e));
                    false
                }
            },
        }
    }

    /// Starts `./run` (or `./finish EXIT STATUS`) for the service, `log/run` for the
    /// logger. The child gets its own process group, the log pipe on stdout (stdin for
    /// the logger), every signal unblocked, and no descriptor besides 0, 1 and 2 (and the
    /// declared notification fd).
    fn start(&mut self, log: bool, finish: bool) {
        if !finish {
            if !log {
                self.custom(false, b'u');
            }
            self.sv(log).read_ready_config();
            self.sv(log).read_policy();
        }
        let mut b1 = [0u8; 21];
        let mut b2 = [0u8; 20];
        let argv = if finish {
            let st = self.s[0].m.wstat;
            // runit: the exit code, or -1 if run was killed; then the low byte of the wait status.
            let code = if proc::wifexited(st) { proc::wexitstatus(st) as i64 } else { -1 };
            CVec::new([&b"./finish"[..], num::fmt_i64(&mut b1, code), num::fmt_u64(&mut b2, (st & 0xff) as u64)])
        } else {
            CVec::new([&b"./run"[..]])
        };
        let what: &[u8] = if log {
            b"unable to start log/./run"
        } else if finish {
            b"unable to start ./finish"
        } else {
            b"unable to start ./run"
        };
        let dup = self.logpipe.as_ref().map(|(r, w)| if log { (r.raw(), fd::STDIN) } else { (w.raw(), fd::STDOUT) });
        let notify = match self.sv(log).ready {
            Ready::Fd(n) if !finish => fd::pipe(0).ok().map(|p| (p, n)),
            _ => None,
        };
        let result = spawn(&Child {
            pgrp: true,
            dup,
            cd: log,
            notify: notify.as_ref().map(|((_, w), n)| (w.raw(), *n)),
            argv: &argv,
            fail: Some(what),
        });
        let pid = match result {
            Ok(pid) => pid,
            Err(e) => {
                msg::warning(&[b"unable to fork, sleeping"], Some(e));
                return self.apply(log, Event::Forked(false));
            }
        };
        // Also from the parent, so no signal to the group can race the child's setpgid.
        let _ = proc::setpgid(pid, pid);
        let now = time::mono_ms();
        let s = self.sv(log);
        s.pid = pid;
        s.term = false;
        if !finish {
            s.notify = notify.map(|((r, _), _)| r);
            s.arm_ready(now);
        }
        self.apply(log, Event::Forked(true));
    }

    /// The stop sequence: TERM (unless `control/t` handled it), then for want down or
    /// exit CONT and `control/d` or `control/x`. Signals go to the pid, as runit sends
    /// them; what the service leaves behind is cleaned up when it exits (Action::Sweep).
    fn stop(&mut self, log: bool) {
        let pid = self.sv(log).pid;
        if pid != 0 && !self.custom(log, b't') {
            let _ = proc::kill(pid, sig::SIGTERM);
            self.sv(log).term = true;
            // `got TERM` is written before the CONT goes out, as runit does: a service then
            // gets TERM well before CONT (sent together, a shell may run their traps the
            // other way round).
            self.sv(log).mark();
            self.flush(time::mono_ms());
        }
        let c = match self.sv(log).m.want {
            Want::Down => b'd',
            Want::Exit => b'x',
            Want::Up => return,
        };
        let _ = proc::kill(pid, sig::SIGCONT);
        self.custom(log, c);
    }

    /// Reaps every exited child: the service, its ./finish, the logger, a ./check.
    fn reap(&mut self) {
        while let Ok(Some((pid, st))) = proc::wait_nohang() {
            for log in [false, true] {
                let s = self.sv(log);
                if pid == s.check_pid {
                    s.check_pid = 0;
                    if proc::wifexited(st) && proc::wexitstatus(st) == 0 {
                        s.probe_at = NEVER;
                        self.apply(log, Event::Ready);
                    } else if s.m.running() {
                        s.check_gap = (s.check_gap * 2).min(CHECK_MAX_MS);
                        s.probe_at = time::mono_ms() + s.check_gap;
                    }
                } else if pid == s.pid {
                    self.exited(log, pid, st);
                }
            }
        }
    }

    /// The process `pid` of the service or logger ended with wait status `st`.
    fn exited(&mut self, log: bool, pid: Pid, st: i32) {
        let s = self.sv(log);
        let was_run = s.m.state == State::Run;
        s.pid = 0;
        s.term = false;
        if was_run {
            s.last_pid = pid;
            s.disarm_ready();
        }
        let finish = !log && was_run && fd::open_read(c"finish").is_ok();
        let critical = !log && was_run && fs::exists(c"critical");
        self.apply(log, Event::Exited { wstat: st, finish, critical });
    }

    /// The readiness probes that are due: the settle deadline, a `./check` run.
    fn probe(&mut self, log: bool, now: u64) {
        let s = self.sv(log);
        if !s.m.running() || s.m.ready || s.check_pid != 0 || now < s.probe_at {
            return;
        }
        s.probe_at = NEVER;
        if s.ready != Ready::Check {
            return self.apply(log, Event::Ready);
        }
        // ./check runs like a control script: in the service's directory, stdout to the
        // log pipe, no other descriptors; its exit status arrives through reap().
        let argv = CVec::new([&b"./check"[..]]);
        let dup = if log { None } else { self.logpipe.as_ref().map(|p| (p.1.raw(), fd::STDOUT)) };
        match spawn(&Child { pgrp: false, dup, cd: log, notify: None, argv: &argv, fail: None }) {
            Ok(pid) => self.sv(log).check_pid = pid,
            Err(_) => self.sv(log).probe_at = now + CHECK_MAX_MS,
        }
    }

    /// Starts what should run now; returns the poll timeout until the next due event.
    #[inline(never)]
    fn start_due(&mut self) -> i32 {
        let mut next = u64::MAX;
        let now = time::mono_ms();
        for log in [true, false] {
            self.probe(log, now);
            // Dependencies hold only ./run of the service (not ./finish, not the logger).
            let s = self.sv(log);
            let due = s.m.due_at();
            if !log && due.is_some_and(|t| now >= t) && s.m.state == State::Down {
                let mut changed = false;
                let wait = self.deps.check(now, &mut changed);
                if changed {
                    self.sv(false).mark();
                }
                if let Some(t) = wait {
                    next = next.min(t);
                    continue;
                }
            }
            self.apply(log, Event::Due);
            let s = self.sv(log);
            next = next.min(s.m.due_at().unwrap_or(NEVER)).min(s.probe_at);
        }
        // This turn's changes, and a failed write retried whatever else waits.
        self.flush(now);
        next = next.min(self.s[0].retry_at).min(self.s[1].retry_at);
        if next == u64::MAX { -1 } else { next.saturating_sub(now).min(i32::MAX as u64) as i32 }
    }

    /// Called when the service is down with want exit: without a logger runsv exits;
    /// with one, the logger is told to exit and gets EOF once runsv closes its pipe
    /// ends. A logger waiting out its throttle is started at once so it drains the pipe.
    #[inline(never)]
    fn maybe_exit(&mut self) {
        let m = &self.s[0].m;
        if m.want != Want::Exit || m.state != State::Down || m.busy {
            return;
        }
        let code = m.critical.unwrap_or(0);
        // Without `log/` the logger is never busy and never wants up: runsv exits.
        let l = &self.s[1];
        if !l.m.busy {
            if l.m.want == Want::Up && self.logpipe.is_some() {
                self.start(true, false);
            }
            if !self.sv(true).m.busy {
                // The files say what is so before runsv goes (a pending retry is tried now).
                self.flush(NEVER - 1);
                proc::exit(code);
            }
        }
        if self.sv(true).m.want != Want::Exit {
            self.sv(true).m.want = Want::Exit;
            self.sv(true).mark();
            self.logpipe = None;
        }
    }

    // ---- The main loop.

    #[inline(never)]
    fn run(&mut self, sigs: &sig::SigFd) -> i32 {
        loop {
            let timeout = self.start_due();
            let fd_of = |f: &Option<Fd>| fd::pollfd(f.as_ref().map_or(-1, |f| f.raw()), fd::POLLIN);
            let [v, l] = &self.s;
            let mut pfd = [
                fd::pollfd(sigs.raw(), fd::POLLIN),
                fd::pollfd(v.ctl, fd::POLLIN),
                fd::pollfd(l.ctl, fd::POLLIN),
                fd_of(&v.notify),
                fd_of(&l.notify),
                fd::pollfd(self.deps.raw(), fd::POLLIN),
                fd_of(&v.adopted),
                fd_of(&l.adopted),
            ];
            let _ = fd::poll(&mut pfd, timeout);

            let (mut got_term, mut got_chld) = (false, false);
            while let Some(s) = sigs.next() {
                // SIGINT too: runit's runsv dies of it and orphans its service (README
                // deviation D3), which is what Ctrl-C does to every runsv in a terminal's
                // process group. Every other signal but CHLD is read away.
                got_term |= s == sig::SIGTERM || s == sig::SIGINT;
                got_chld |= s == sig::SIGCHLD;
            }
            if got_chld {
                self.reap();
            }
            if pfd[5].revents != 0 {
                self.deps.drain();
            }
            for log in [false, true] {
                let i = log as usize;
                if pfd[3 + i].revents != 0 {
                    self.read_notify(log);
                }
                if pfd[6 + i].revents != 0 {
                    // An adopted process ended; not our child, so its status is unknown
                    // (./finish gets -1 255: README "Faults").
                    let s = self.sv(log);
                    s.adopted = None;
                    let pid = s.pid;
                    self.exited(log, pid, -1);
                }
            }

            // At most one byte per FIFO per turn, as runit: starts and exits in between.
            for log in [false, true] {
                let mut c = [0u8; 1];
                if pfd[1 + log as usize].revents != 0 && fd::read(self.sv(log).ctl, &mut c) == Ok(1) {
                    self.apply(log, Event::Ctl(c[0]));
                }
            }
            // A second stop signal (Ctrl-C, then runsvdir's graceful stop) does not signal
            // the service again: it is already on its way down.
            if got_term && self.s[0].m.want != Want::Exit {
                self.apply(false, Event::Term);
            }
            self.maybe_exit();
        }
    }

    /// The notification pipe is readable: a newline means ready; EOF without one means
    /// the run will never say so (it keeps running, not ready).
    #[inline(never)]
    fn read_notify(&mut self, log: bool) {
        let s = self.sv(log);
        let Some(f) = s.notify.as_ref() else { return };
        let mut buf = [0u8; 64];
        match fd::read(f.raw(), &mut buf) {
            Ok(n) if buf[..n].contains(&b'\n') => {
                s.notify = None;
                self.apply(log, Event::Ready);
            }
            Ok(0) => s.notify = None,
            Err(e) if e != Errno::AGAIN => s.notify = None,
            _ => {}
        }
    }
}
