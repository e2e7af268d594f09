//! sv: runit's control and status client. It talks to runsv only through the files of
//! `supervise/` (the `ok` and `control` FIFOs, the 20-byte `status`, urunit's `health`),
//! found in the run directory for a read-only service directory, and any program name
//! other than `sv` selects the LSB init-script mode (`/etc/init.d/NAME -> sv`).
use crate::Args;
use crate::msg::{self, CBuf, Out};
use crate::opt::{self, Getopt};
use crate::rundir;
use crate::svstatus::Status;
use crate::sys::{Errno, fd, fs, inotify, proc, sig, time};
use alloc::vec::Vec;

const USAGE: &[u8] = b" [-v] [-w sec] command service ...";
const USAGE_LSB: &[u8] = b" [-w sec] command";
/// runit 2.1.2's sv version string (printed by -V before the usage).
const VERSION: &[u8] = b"$Id: 900314260c6d52c986c5357673bea2f3bd3f4698 $";
const USAGE_EXIT: i32 = 100;
const USAGE_EXIT_LSB: i32 = 2;
const FATAL_EXIT: i32 = 100;
const FATAL_EXIT_LSB: i32 = 151;
/// LSB `status` exit codes: running, not running, unknown.
const LSB_RUNNING: i32 = 0;
const LSB_STOPPED: i32 = 3;
const LSB_UNKNOWN: i32 = 4;
/// The project's default services directory (Debian's); $SVDIR overrides it.
const DEFAULT_SVDIR: &[u8] = b"/etc/service/";
/// runit: $SVWAIT default, in seconds.
const DEFAULT_WAIT: u64 = 7;
/// runit polls every 420 ms. urunit keeps that only as the cadence of a failing `check`
/// script and as the longest safety-net sleep; state changes come in through inotify.
const CHECK_MS: u64 = 420;
/// Waiting first polls every FINE_MS: most commands take effect within a few
/// milliseconds. A wait still pending after INOTIFY_AFTER_MS switches to inotify on each
/// `supervise/`, with sleeps from FIRST_NAP_MS doubling up to CHECK_MS as a safety net
/// (up to FALLBACK_MS where inotify is unavailable). Not inotify from the start, because
/// closing an inotify descriptor costs the kernel an RCU grace period (measured 15-20 ms
/// at exit), more than a quick command takes.
const FINE_MS: u64 = 2;
const INOTIFY_AFTER_MS: u64 = 50;
const FIRST_NAP_MS: u64 = 1;
const FALLBACK_MS: u64 = 16;
/// The exit code is the number of failed services, at most this.
const MAX_RC: u32 = 99;

const OK: &[u8] = b"ok: ";
const FAIL: &[u8] = b"fail: ";
const WARNING: &[u8] = b"warning: ";
/// A read-only service directory that runsv had no writable place for (contract, section 4).
const NO_PLACE: &[u8] = b"unable to open supervise/ok: file does not exist \
(read-only service directory and no writable $URUNIT_RUNDIR or /run/urunit)";

/// supervise/health (one line, written by urunit's runsv only), decoded: `kind` is the
/// index of its event in EVENTS (starting, ready, exited, killed, the last two after
/// `failed` too (`gave_up`), or waiting/missing: ./run is held for a dependency); `pid`
/// (0 when held); `arg(line)` the code, signal or dependency name (the line itself stays
/// in the buffer it was read into).
#[derive(Clone, Copy)]
pub(crate) struct Health {
    kind: u8,
    pid: u32,
    gave_up: bool,
    at: usize,
    end: usize,
}

/// The event words of a health line, in the order of `Health::kind`.
const EVENTS: &[u8] = b"starting ready exited killed waiting missing failed";
const READY: u8 = 1;
const KILLED: u8 = 3;
const WAITING: u8 = 4;
const MISSING: u8 = 5;

impl Health {
    #[inline(never)]
    pub(crate) fn parse(line: &[u8]) -> Option<Health> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let end = line.len();
        let mut words = line.split(|&c| c == b' ');
        let first = event(words.next()?)?;
        if first == WAITING as usize || first == MISSING as usize {
            return (end > 8).then_some(Health { kind: first as u8, pid: 0, gave_up: false, at: 8, end });
        }
        let gave_up = first == 6;
        let mut last = words.next()?;
        let pid = crate::num::parse_u64(last)? as u32;
        // `failed` only after an exit or a kill.
        let kind = if gave_up { event(words.next()?).filter(|k| (2..4).contains(k))? } else { first };
        // `starting PID`, `ready PID`; `exited PID CODE` (`failed PID exited CODE`).
        if kind > READY as usize {
            last = words.next()?;
        }
        let at = last.as_ptr() as usize - line.as_ptr() as usize;
        words.next().is_none().then_some(Health { kind: kind as u8, pid, gave_up, at, end })
    }
    #[inline(never)]
    fn arg<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        &line[self.at..self.end]
    }
}

/// A failed step's warning text and error; an empty text: runsv is not running.
type Trouble = (&'static [u8], Option<Errno>);

/// What the command does per service.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    /// Print the status line (`status`).
    Status,
    /// Write the command bytes to supervise/control.
    Control,
    /// Nothing before waiting (`check`).
    Wait,
}

#[derive(Clone, Copy)]
struct Cmd {
    act: Act,
    /// Bytes for supervise/control, and what the wait checks (runit's `acts`; `C` = check).
    acts: &'static [u8],
    /// Wait for the command to take effect (`-v`, or an LSB verb).
    wait: bool,
    /// On timeout print `kill:` and send `k`.
    kill: bool,
}

/// One service argument: the name as typed (printed in every line), which is also its path.
struct Service {
    name: CBuf,
    /// Resolved as SVDIR/name (runit: not starting with `/` or `.`, not empty, not ending in `/`).
    via_svdir: bool,
    pending: bool,
    /// The inotify watch on its supervise/, once there is one.
    watch: Option<i32>,
    /// An unrunnable check script is reported once, not on every poll.
    check_warned: bool,
    /// When the check script last failed, and the status it failed for.
    last_check: Option<(u64, Status)>,
    /// Its supervise files were last found in the run directory (R/KEY/), not `supervise/`.
    alt: bool,
    /// The pid it had, and the pid its health named, when the command was sent: an exit
    /// of either is not news (the old run that `restart` stops, a stale `exited` line).
    old_pid: u32,
    stale: u32,
}

impl Service {
    #[inline(never)]
    fn new(name: &[u8]) -> Service {
        let via_svdir = !name.is_empty() && name[0] != b'/' && name[0] != b'.' && name[name.len() - 1] != b'/';
        Service::at(CBuf::new(&[name]), via_svdir)
    }
    #[inline(never)]
    fn at(name: CBuf, via_svdir: bool) -> Service {
        Service {
            name,
            via_svdir,
            pending: true,
            watch: None,
            check_warned: false,
            last_check: None,
            alt: false,
            old_pid: 0,
            stale: 0,
        }
    }
}

#[derive(PartialEq, Eq)]
enum Eval {
    Done,
    Pending,
    Failed,
}

struct Sv {
    lsb: bool,
    svdir: CBuf,
    cmd: Cmd,
    wait_secs: u64,
    /// Wall clock (seconds, nanoseconds) when sv began: status stamps are compared with it.
    start: (u64, u32),
    start_ms: u64,
    rc: u32,
    out: Out,
    curdir: fd::Fd,
    /// The supervise directory the last `read_status` looked in, and whether that is
    /// the run directory's R/KEY/.
    sup: Option<fd::Fd>,
    alt: bool,
    /// The last supervise/health read.
    hline: [u8; 1024],
}

#[inline(never)]
fn usage(lsb: bool, prog: &[u8]) -> ! {
    if lsb { msg::usage(USAGE_EXIT_LSB, prog, USAGE_LSB) } else { msg::usage(USAGE_EXIT, prog, USAGE) }
}

pub fn main(args: Args) -> i32 {
    let prog = msg::basename(args.first().copied().unwrap_or(b"sv"));
    // runit: any name but "sv" is an init script, /etc/init.d/NAME -> sv.
    let lsb = prog != b"sv";
    let svdir = proc::getenv(b"SVDIR").unwrap_or(DEFAULT_SVDIR);
    let mut wait_secs = proc::getenv(b"SVWAIT").map(scan_secs).unwrap_or(DEFAULT_WAIT);
    let mut verbose = false;
    let mut g = Getopt::new(&args);
    loop {
        match g.next(b"w:vV") {
            // runit: -w implies -v; junk reads as its leading digits (none: 0).
            opt::Got::Opt(b'w', val) => {
                wait_secs = scan_secs(val);
                verbose = true;
            }
            opt::Got::Opt(b'v', _) => verbose = true,
            opt::Got::Opt(..) => {
                msg::warn(&[VERSION], None);
                usage(lsb, prog)
            }
            opt::Got::Bad => usage(lsb, prog),
            opt::Got::Done => break,
        }
    }
    let rest = g.rest();
    let Some(&action) = rest.first() else { usage(lsb, prog) };
    // LSB mode: the program name is the service; further arguments are ignored.
    let names: &[&[u8]] = if lsb { core::slice::from_ref(&prog) } else { &rest[1..] };
    if names.is_empty() {
        usage(lsb, prog)
    }

    let start = time::now();
    let start_ms = time::mono_ms();
    let fatal_exit = if lsb { FATAL_EXIT_LSB } else { FATAL_EXIT };
    let curdir =
        fd::open_dir_path(c".").unwrap_or_else(|e| msg::die(fatal_exit, &[b"fatal: unable to open current directory"], Some(e)));
    let Some(cmd) = parse_command(action, lsb, verbose) else { usage(lsb, prog) };

    let mut sv = Sv {
        lsb,
        svdir: CBuf::new(&[svdir]),
        cmd,
        wait_secs,
        start,
        start_ms,
        rc: 0,
        out: Out::new(),
        curdir,
        sup: None,
        alt: false,
        hline: [0; 1024],
    };
    let mut services: Vec<Service> = Vec::with_capacity(names.len());
    for &n in names {
        let s = Service::new(n);
        if sv.cmd.act == Act::Wait && !lsb {
            sv.expand_collection(s, &mut services);
        } else {
            services.push(s);
        }
    }
    sv.send(&mut services);
    if sv.cmd.wait {
        sv.wait(&mut services);
    }
    // Exit here: nothing needs dropping (every line is flushed as it is written).
    proc::exit(sv.rc.min(MAX_RC) as i32)
}

/// The index of the event word `w` in EVENTS.
#[inline(never)]
fn event(w: &[u8]) -> Option<usize> {
    EVENTS.split(|&c| c == b' ').position(|t| t == w)
}

/// Seconds from -w or $SVWAIT: the leading digits (runit's scan_ulong, wrapping; none is 0).
fn scan_secs(s: &[u8]) -> u64 {
    crate::num::scan_ulong(s).0
}

/// The whole-word verbs (LSB's and `check`), each followed by its acts; the `force-`
/// ones send `k` on a timeout. They always wait.
const WORDS: &[u8] = b"start u stop d shutdown x restart tcu reload h try-restart tc check C \
force-stop d force-reload tc force-restart tcu force-shutdown x";

/// runit matches most commands by their first character; the LSB verbs are whole words.
#[inline(never)]
fn parse_command(a: &[u8], lsb: bool, verbose: bool) -> Option<Cmd> {
    let cmd = |act, acts, wait, kill| Some(Cmd { act, acts, wait, kill });
    let mut words = WORDS.split(|&c| c == b' ');
    while let (Some(w), Some(acts)) = (words.next(), words.next()) {
        if w == a {
            return cmd(if acts == b"C" { Act::Wait } else { Act::Control }, acts, true, w.starts_with(b"force-"));
        }
    }
    match *a.first()? {
        // runit: in normal mode any other s-word is status.
        b's' if !lsb || a == b"status" => cmd(Act::Status, b"s", false, false),
        b's' | b'r' | b'f' => None,
        c => {
            // Undocumented in runit: capital D, T, X, E wait and kill on timeout.
            let (acts, strong): (&'static [u8], bool) = match c {
                b'D' => (b"d", true),
                b'T' => (b"tc", true),
                b'X' | b'E' => (b"x", true),
                b'e' => (b"x", false),
                _ => {
                    const ONE: &[u8] = b"udophaikq12tcx";
                    let k = ONE.iter().position(|&x| x == c)?;
                    (&ONE[k..k + 1], false)
                }
            };
            cmd(Act::Control, acts, verbose || strong, strong)
        }
    }
}

impl Sv {
    // ---- Messages (runit's out(): one line on stdout, flushed at its end).

    #[inline(never)]
    fn line(&mut self, prefix: &[u8], name: &[u8], log: bool, text: &[u8], e: Option<Errno>) {
        self.out.put(prefix).put(name);
        if log {
            self.out.put(b"/log");
        }
        self.out.put(b": ").put(text);
        if let Some(e) = e {
            self.out.put(b": ").put(crate::errstr::errstr(e));
        }
        self.out.put(b"\n").flush();
    }
    #[inline(never)]
    fn fail(&mut self, name: &[u8], log: bool, text: &[u8], e: Option<Errno>) {
        self.rc += 1;
        self.line(FAIL, name, log, text, e);
    }
    #[inline(never)]
    fn warn(&mut self, name: &[u8], log: bool, text: &[u8], e: Option<Errno>) {
        self.rc += 1;
        self.line(WARNING, name, log, text, e);
    }
    /// A failed step: an empty `text` means runsv is gone (fine for `exit`, a failure for
    /// everything else), any other is a `warning:` line.
    #[inline(never)]
    fn trouble(&mut self, name: &[u8], log: bool, (text, e): Trouble, exit_cmd: bool) {
        if !text.is_empty() {
            self.warn(name, log, text, e);
        } else if exit_cmd {
            self.line(OK, name, log, b"runsv not running", None);
        } else {
            self.fail(name, log, b"runsv not running", None);
        }
    }

    // ---- Service directories.

    /// chdir into the service (SVDIR first when the name is SVDIR-relative).
    #[inline(never)]
    fn enter(&self, s: &Service) -> Result<(), Errno> {
        if s.via_svdir {
            fs::chdir(&self.svdir)?;
        }
        fs::chdir(&s.name)
    }
    #[inline(never)]
    fn enter_or_fail(&mut self, s: &mut Service) -> bool {
        match self.enter(s) {
            Ok(()) => true,
            Err(e) => {
                self.fail(s.name.bytes(), false, b"unable to change to service directory", Some(e));
                s.pending = false;
                false
            }
        }
    }
    #[inline(never)]
    fn back(&self) {
        if let Err(e) = fs::fchdir(self.curdir.raw()) {
            let code = if self.lsb { FATAL_EXIT_LSB } else { FATAL_EXIT };
            msg::die(code, &[b"fatal: unable to change to original directory"], Some(e));
        }
    }

    /// urunit: `sv check DIR` where DIR has neither `supervise` nor `run` but holds service
    /// directories checks each of them (names not starting with '.', sorted), so one
    /// shell-free command can be a container's health check.
    #[inline(never)]
    fn expand_collection(&mut self, s: Service, into: &mut Vec<Service>) {
        let mut names: Vec<Vec<u8>> = Vec::new();
        if self.enter(&s).is_ok()
            && fs::lstat(c"supervise").err() == Some(Errno::NOENT)
            && fs::lstat(c"run").err() == Some(Errno::NOENT)
        {
            let mut ents = fs::read_dir(c".").unwrap_or_default();
            while let Some(e) = ents.pop() {
                if e.name.first() != Some(&b'.') && fs::stat(&CBuf::new(&[&e.name])).is_ok_and(|st| st.is_dir()) {
                    // Kept sorted as it grows (a linear search): cheaper in code than slice::sort.
                    let at = names.iter().position(|x| *x > e.name).unwrap_or(names.len());
                    names.insert(at, e.name);
                }
            }
        }
        self.back();
        if names.is_empty() {
            into.push(s); // the service itself (the send loop reports a bad one)
            return;
        }
        let name = s.name.bytes();
        let sep: &[u8] = if name.ends_with(b"/") { b"" } else { b"/" };
        for n in &names {
            into.push(Service::at(CBuf::new(&[name, sep, n]), s.via_svdir));
        }
    }

    // ---- supervise/ files.

    /// runit's svstatus_get, in the current directory (the service or its log), with
    /// its messages. Err(true): runsv is not running (the `ok:` or `fail:` line is
    /// printed); Err(false): a `warning:` line is printed.
    #[inline(never)]
    fn read_status(&mut self, name: &[u8], log: bool) -> Result<Status, bool> {
        self.get_status().map_err(|t| {
            let none = t.0.is_empty();
            self.trouble(name, log, t, self.cmd.acts[0] == b'x');
            none
        })
    }

    /// The supervise files are in `supervise/`, or in the run directory R/KEY/ when
    /// `supervise/ok` is missing or forbidden and R/KEY/ok exists (read-only service
    /// directories); `self.sup` is set to the one used. Opening `ok` tells whether runsv runs.
    #[inline(never)]
    fn get_status(&mut self) -> Result<Status, Trouble> {
        self.alt = false;
        let mut ok = self.ok_in(c"supervise");
        if let Err(e) = ok
            && (e == Errno::NOENT || e == Errno::ACCES)
        {
            let r = self.ok_in(&rundir_sup());
            if r.as_ref().err() != Some(&Errno::NOENT) {
                self.alt = true;
                ok = r;
            } else if e == Errno::NOENT
                && fs::access(c".", fs::W_OK).is_err()
                && fs::access(&CBuf::new(&[rundir::base()]), fs::W_OK).is_err()
            {
                return Err((NO_PLACE, None));
            }
        }
        match ok {
            Err(e) if e == Errno::NXIO => return Err((b"", None)),
            Err(e) => return Err((b"unable to open supervise/ok", Some(e))),
            Ok(f) => drop(f),
        }
        let f = self.open(c"status", fd::O_RDONLY).map_err(|e| (b"unable to open supervise/status".as_slice(), Some(e)))?;
        let mut b = [0u8; 20];
        match fd::read_full(f.raw(), &mut b) {
            Ok(20) => Ok(Status::unpack(&b)),
            Ok(_) => Err((b"unable to read supervise/status: bad format", None)),
            Err(e) => Err((b"unable to read supervise/status", Some(e))),
        }
    }

    /// Opens the supervise directory `dir` (kept as self.sup) and its `ok` for writing.
    #[inline(never)]
    fn ok_in(&mut self, dir: &core::ffi::CStr) -> Result<fd::Fd, Errno> {
        self.sup = Some(fd::open_dir_path(dir)?);
        self.open(c"ok", fd::O_WRONLY | fd::O_NONBLOCK)
    }

    /// A file of the supervise directory `read_status` found.
    #[inline(never)]
    fn open(&self, f: &core::ffi::CStr, flags: i32) -> Result<fd::Fd, Errno> {
        fd::openat(self.sup.as_ref().map_or(-1, |d| d.raw()), f, flags, 0)
    }
    /// supervise/health, if there is one that reads well (else: runit's behaviour). The
    /// line is left in self.hline: one line of at most a dependency's name and a few words.
    #[inline(never)]
    fn health(&mut self) -> Option<Health> {
        let n = fd::read_full(self.open(c"health", fd::O_RDONLY).ok()?.raw(), &mut self.hline).ok()?;
        Health::parse(&self.hline[..n])
    }

    /// Appends runit's status text for `label` (without a newline). Returns the LSB
    /// status code: running, not running, or unknown if `down` could not be looked at
    /// (nothing appended).
    #[inline(never)]
    fn put_status(&mut self, arg: &[u8], label: &[u8], s: &Status) -> i32 {
        let normally_up = match fs::stat(c"down") {
            Ok(_) => false,
            Err(e) if e == Errno::NOENT => true,
            Err(e) => {
                msg::warn(&[WARNING, b"unable to stat ", arg, b"/down"], Some(e));
                return LSB_UNKNOWN;
            }
        };
        let o = &mut self.out;
        o.put(match s.state {
            0 => b"down: ".as_slice(),
            1 => b"run: ",
            2 => b"finish: ",
            _ => b"",
        });
        o.put(label).put(b": ");
        if s.state != 0 {
            o.put(b"(pid ").num(s.pid as u64).put(b") ");
        }
        o.num(time::now().0.saturating_sub(s.secs)).put(b"s");
        let running = s.pid != 0;
        if running && !normally_up {
            o.put(b", normally down");
        }
        if !running && normally_up {
            o.put(b", normally up");
        }
        if running && s.paused {
            o.put(b", paused");
        }
        if !running && s.want == b'u' {
            o.put(b", want up");
        }
        if running && s.want == b'd' {
            o.put(b", want down");
        }
        if running && s.term {
            o.put(b", got TERM");
        }
        if running { LSB_RUNNING } else { LSB_STOPPED }
    }

    /// `PREFIX` and the status of the current directory as one line on stdout.
    #[inline(never)]
    fn report(&mut self, prefix: &[u8], name: &[u8], st: &Status) {
        self.out.put(prefix);
        self.put_status(name, name, st);
        self.out.put(b"\n").flush();
    }

    // ---- Commands.

    /// Sends the command to every service (or prints its status).
    #[inline(never)]
    fn send(&mut self, services: &mut [Service]) {
        for s in services.iter_mut() {
            if self.enter_or_fail(s) {
                match self.cmd.act {
                    Act::Status => {
                        self.status(s.name.bytes());
                        s.pending = false;
                    }
                    Act::Control => s.pending = self.control(s, self.cmd.acts),
                    Act::Wait => {}
                }
            }
            self.back();
        }
    }

    /// `status`: the service's line, then `; ` and its log service's, if it has one.
    #[inline(never)]
    fn status(&mut self, name: &[u8]) {
        let st = match self.read_status(name, false) {
            Ok(st) => st,
            Err(false) if self.lsb => proc::exit(LSB_UNKNOWN),
            _ => return,
        };
        let r = self.put_status(name, name, &st);
        match fs::chdir(c"log") {
            Err(e) if e == Errno::NOENT => {
                self.out.put(b"\n");
            }
            Err(e) => {
                self.out.put(b"; ");
                self.warn(name, true, b"unable to change directory", Some(e));
            }
            Ok(()) => {
                self.out.put(b"; ");
                // urunit: a log whose status cannot be read ends the line with that warning;
                // runit went on to print the main service's status as the log's.
                if let Ok(lb) = self.read_status(name, true) {
                    self.put_status(name, b"log", &lb);
                    self.out.put(b"\n");
                }
            }
        }
        self.out.flush();
        if self.lsb {
            // urunit: the service decides the exit code, not its log (runit used the log's).
            proc::exit(r);
        }
    }

    /// Writes `acts` to supervise/control (runit's control()). False: stop here.
    #[inline(never)]
    fn control(&mut self, s: &mut Service, acts: &[u8]) -> bool {
        let name = s.name.bytes();
        let st = match self.read_status(name, false) {
            Ok(st) => st,
            _ => return false,
        };
        s.old_pid = st.pid;
        s.stale = self.health().map_or(0, |h| h.pid);
        // runit: nothing to send if the service already wants this ("d" is still sent to
        // a service that wants down without TERM, i.e. one started with `once`).
        if st.want == acts[0] && (acts[0] != b'd' || st.term) {
            return true;
        }
        let t: Trouble = match self.open(c"control", fd::O_WRONLY | fd::O_NONBLOCK) {
            Err(e) if e == Errno::NXIO => (b"", None),
            Err(e) => (b"unable to open supervise/control", Some(e)),
            Ok(f) => match fd::write(f.raw(), acts) {
                Ok(n) if n == acts.len() => return true,
                r => (b"unable to write to supervise/control", r.err()),
            },
        };
        self.trouble(name, false, t, acts[0] == b'x');
        false
    }

    // ---- Waiting.

    /// Polls the pending services until each has taken the command, failed, or timed out:
    /// finely at first, then woken by inotify when runsv renames `status` into place (or
    /// exits); the sleeps in between are a safety net and the check scripts' cadence.
    #[inline(never)]
    fn wait(&mut self, services: &mut [Service]) {
        // The check script is waited for by pid: an inherited SIG_IGN would reap it.
        sig::default(sig::SIGCHLD);
        let mut ino: Option<inotify::Inotify> = None;
        let mut tried_inotify = false;
        let limit = self.wait_secs.saturating_mul(1000);
        let deadline = self.start_ms.saturating_add(limit).saturating_add(1);
        let mut nap = FIRST_NAP_MS;
        // Every service is looked at once before any can time out, as in runit (whose
        // first look happens as the command is sent): `-w 0` output then keeps its order.
        let mut first = true;
        loop {
            let elapsed = if first { 0 } else { time::mono_ms().saturating_sub(self.start_ms) };
            first = false;
            let mut pending = false;
            let mut all_watched = true;
            let mut next_check = u64::MAX;
            for s in services.iter_mut().filter(|s| s.pending) {
                if self.enter_or_fail(s) {
                    // Watch before looking, so no change falls between the two.
                    if let (Some(ino), None) = (&ino, s.watch) {
                        let alt;
                        s.watch = ino
                            .add(
                                if s.alt {
                                    alt = rundir_sup();
                                    &alt
                                } else {
                                    c"supervise"
                                },
                                WATCH,
                            )
                            .ok();
                    }
                    let e = self.evaluate(s);
                    s.alt = self.alt;
                    if e != Eval::Pending {
                        s.pending = false;
                    } else if elapsed > limit {
                        // runit: the first look after the limit has passed gives up.
                        self.timeout(s);
                        s.pending = false;
                    } else {
                        pending = true;
                        all_watched &= s.watch.is_some();
                        if let Some((t, _)) = s.last_check {
                            next_check = next_check.min(t + CHECK_MS);
                        }
                    }
                }
                self.back();
            }
            if !pending {
                if let Some(ino) = ino {
                    close_inotify(ino, services);
                }
                return;
            }
            let now = time::mono_ms();
            if !tried_inotify && now.saturating_sub(self.start_ms) >= INOTIFY_AFTER_MS {
                tried_inotify = true;
                ino = inotify::Inotify::new().ok();
                if ino.is_some() {
                    continue;
                }
            }
            let cap = match (&ino, all_watched, tried_inotify) {
                (Some(_), true, _) => CHECK_MS,
                (_, _, false) => FINE_MS,
                _ => FALLBACK_MS,
            };
            let until = (now + nap.min(cap)).min(next_check).min(deadline);
            nap = if sleep_until_event(ino.as_ref(), until) { FIRST_NAP_MS } else { (nap * 2).min(cap) };
        }
    }

    /// Has the service taken the command? (runit's check(); prints the `ok:` line.)
    #[inline(never)]
    fn evaluate(&mut self, s: &mut Service) -> Eval {
        let st = match self.read_status(s.name.bytes(), false) {
            Ok(st) => st,
            Err(true) if self.cmd.acts[0] == b'x' => return Eval::Done,
            _ => return Eval::Failed,
        };
        let acts = self.cmd.acts;
        let h = self.health();
        // urunit: with a health file, a run started for `up`/`once` (and the verbs that
        // include them) that exits is a failure, reported as what happened to it; a
        // `once` run that exits 0 did what was asked.
        let mut once_done = false;
        if let Some(h) = &h
            && (h.kind == 2 || h.kind == KILLED)
            && h.pid != s.old_pid
            && h.pid != s.stale
        {
            once_done = acts == b"o" && h.kind == 2 && !h.gave_up && h.arg(&self.hline) == b"0";
            if matches!(acts[acts.len() - 1], b'u' | b'o') && !once_done {
                let (a, b): (&[u8], &[u8]) = if h.gave_up { (b"failed too often, runsv gave up (", b")") } else { (b"", b"") };
                let how: &[u8] = if h.kind == KILLED { b"killed by signal " } else { b"exited " };
                self.fail(s.name.bytes(), false, &[b"./run ", a, how, h.arg(&self.hline), b].concat(), None);
                return Eval::Failed;
            }
        }
        let running = st.pid != 0;
        let want = st.want;
        // urunit: the stamp is compared with sv's start to the nanosecond, so a service
        // (re)started earlier in the same second is not taken for the new instance.
        // A runsv writing whole seconds (nanoseconds 0) gets runit's comparison.
        let fresh = if st.nanos == 0 { st.secs >= self.start.0 } else { (st.secs, st.nanos) >= self.start };
        // Each command byte's condition apart from readiness; `need`: one of them also
        // wants the run up and ready, decided once after the loop (so ./check runs only
        // when everything else already passes).
        let mut need = false;
        for &c in acts {
            let (ok, r) = match c {
                b'x' => (false, false),
                // urunit: `check` waits for the state the service wants (up and ready, or
                // down); runit 2.1.2 passed any service that was down.
                b'd' => (!running && st.state == 0, false),
                b'C' if want == b'd' => (!running && st.state == 0, false),
                b'u' | b'C' => (running && st.state == 1, true),
                b't' | b'k' if !running && want == b'd' => (true, false),
                b't' | b'k' => (fresh && running && !st.term, true),
                // Ran since sv began (and exited 0, with a health file), or runs (and is
                // ready, with a health file) and will not be restarted.
                b'o' if running => (want == b'd', h.is_some()),
                b'o' => (fresh && (h.is_none() || once_done), false),
                b'p' => (!running || st.paused, false),
                b'c' => (!running || !st.paused, false),
                _ => (true, false),
            };
            if !ok {
                return Eval::Pending;
            }
            need |= r;
        }
        // Up and ready: health says `ready PID` for this run (while ./finish runs,
        // runit's rule alone), or without a health file, `./check` passes.
        if need
            && !match &h {
                Some(h) => st.state != 1 || (h.kind == READY && h.pid == st.pid),
                None => self.check_passes(s, &st),
            }
        {
            return Eval::Pending;
        }
        self.report(OK, s.name.bytes(), &st);
        Eval::Done
    }

    /// `timeout:` (or `kill:`, then `k` is sent) with the service's current status, and
    /// on stderr the dependency its ./run is held for, if health names one.
    #[inline(never)]
    fn timeout(&mut self, s: &mut Service) {
        // urunit: if the status cannot be re-read, that line alone is printed (and counted);
        // runit printed it after "timeout: " and did not count the timeout.
        let name = s.name.bytes();
        if let Ok(st) = self.read_status(name, false) {
            let kill = self.cmd.kill;
            self.report(if kill { b"kill: ".as_slice() } else { b"timeout: " }, name, &st);
            self.rc += 1;
            if let Some(h) = self.health()
                && h.pid == 0
            {
                let (a, b): (&[u8], &[u8]) =
                    if h.kind == MISSING { (b": dependency ", b" does not exist") } else { (b": waiting for dependency ", b"") };
                msg::warn(&[WARNING, name, a, h.arg(&self.hline), b], None);
            }
            if kill {
                self.control(s, b"k");
            }
        }
    }

    /// Runs `./check` (if there is one) in the service directory: passed iff it exits 0.
    /// A failed check is not re-run for the same status before CHECK_MS has passed.
    #[inline(never)]
    fn check_passes(&mut self, s: &mut Service, st: &Status) -> bool {
        let now = time::mono_ms();
        if s.last_check.is_some_and(|(t, old)| old == *st && now < t + CHECK_MS) {
            return false;
        }
        const RUN: &[u8] = b"unable to run ";
        const FORK: &[u8] = b"unable to fork for ";
        let r = (|| -> Result<bool, (&'static [u8], Errno)> {
            match fs::stat(c"check") {
                Ok(_) => {}
                Err(e) if e == Errno::NOENT => return Ok(true),
                Err(e) => return Err((b"unable to stat ", e)),
            }
            let argv = proc::CVec::new([b"./check".as_slice()]);
            // The child reports a failed exec through this pipe (closed by a good exec).
            let (rd, wr) = fd::pipe(0).map_err(|e| (FORK, e))?;
            let pid = proc::fork().map_err(|e| (FORK, e))?;
            if pid == 0 {
                // runit: the check runs without stdout, with sv's stdin, stderr and environment.
                let _ = fd::close_raw(fd::STDOUT);
                let e = proc::execve(c"check", &argv, &proc::Env::Inherit);
                let _ = fd::write(wr.raw(), &e.0.to_ne_bytes());
                proc::exit(111);
            }
            drop(wr);
            let mut eb = [0u8; 4];
            let failed_exec = fd::read_full(rd.raw(), &mut eb) == Ok(4);
            match proc::wait_pid(pid, 0) {
                // urunit: a check that cannot run has not passed (runit counted it as passed).
                _ if failed_exec => Err((RUN, Errno(i32::from_ne_bytes(eb)))),
                // urunit: killed by a signal is not passed either.
                Ok(Some((_, w))) => Ok(proc::wifexited(w) && proc::wexitstatus(w) == 0),
                Ok(None) => Ok(false),
                Err(e) => Err((b"unable to wait for child ", e)),
            }
        })();
        let passed = r.unwrap_or_else(|(what, e)| {
            // "unable to run" is said once, not on every look.
            let run = what == RUN;
            if !(run && s.check_warned) {
                msg::warn(&[WARNING, what, s.name.bytes(), b"/check"], Some(e));
            }
            s.check_warned |= run;
            false
        });
        s.last_check = if passed { None } else { Some((time::mono_ms(), *st)) };
        passed
    }
}

/// The run directory's R/KEY for the current directory (contract, section 4).
#[inline(never)]
fn rundir_sup() -> CBuf {
    let mut cwd = [0u8; 4096];
    let n = fs::getcwd(&mut cwd).unwrap_or(0);
    let mut alt = rundir::base().to_vec();
    alt.push(b'/');
    rundir::key(&cwd[..n], &mut alt);
    CBuf::new(&[&alt])
}

/// Closing an inotify descriptor that still has watches waits for the kernel to reap
/// them (an RCU grace period: 8-20 ms measured, paid at exit). Removed watches are
/// reaped in the background within about half a millisecond, after which the close is
/// free: so remove them, yield a millisecond, then close.
#[inline(never)]
fn close_inotify(ino: inotify::Inotify, services: &[Service]) {
    for wd in services.iter().filter_map(|s| s.watch) {
        ino.remove(wd);
    }
    time::sleep_ms(1);
    drop(ino);
}

/// Sleeps until a relevant inotify event (true) or the monotonic time `until` (false);
/// without inotify, a plain sleep (poll ignores the descriptor -1).
#[inline(never)]
fn sleep_until_event(ino: Option<&inotify::Inotify>, until: u64) -> bool {
    loop {
        let now = time::mono_ms();
        if now >= until {
            return false;
        }
        let mut p = [fd::pollfd(ino.map_or(-1, |i| i.raw()), fd::POLLIN)];
        let _ = fd::poll(&mut p, (until - now).min(i32::MAX as u64) as i32);
        if ino.is_some_and(|i| i.read_events().iter().any(relevant)) {
            return true;
        }
    }
}

/// What sv watches in each `supervise/`.
const WATCH: u32 = inotify::IN_MOVED_TO
    | inotify::IN_CLOSE_WRITE
    | inotify::IN_CLOSE_NOWRITE
    | inotify::IN_MODIFY
    | inotify::IN_DELETE_SELF
    | inotify::IN_MOVE_SELF;

/// An event that may change a service's answer: `status` or `health` replaced or written
/// by runsv, or runsv gone (its `lock` and `ok` descriptors closed at exit). sv's own
/// reads and writes (of `status`, of `ok` for writing) are left out, or every look would wake it.
#[inline(never)]
fn relevant(e: &inotify::Event) -> bool {
    match e.name.as_slice() {
        b"" => true,
        b"status" | b"health" => e.mask & (inotify::IN_MOVED_TO | inotify::IN_CLOSE_WRITE | inotify::IN_MODIFY) != 0,
        b"lock" => e.mask & inotify::IN_CLOSE_WRITE != 0,
        b"ok" => e.mask & inotify::IN_CLOSE_NOWRITE != 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn commands() {
        let acts = |a: &[u8], lsb| parse_command(a, lsb, false).map(|c| (c.acts, c.wait, c.kill));
        assert_eq!(acts(b"up", false), Some((b"u".as_slice(), false, false)));
        assert_eq!(acts(b"term", false), Some((b"t".as_slice(), false, false)));
        assert_eq!(acts(b"try-restart", false), Some((b"tc".as_slice(), true, false)));
        assert_eq!(acts(b"cont", false), Some((b"c".as_slice(), false, false)));
        assert_eq!(acts(b"check", false), Some((b"C".as_slice(), true, false)));
        assert_eq!(acts(b"exit", false), Some((b"x".as_slice(), false, false)));
        assert_eq!(acts(b"Down", false), Some((b"d".as_slice(), true, true)));
        assert_eq!(acts(b"force-restart", false), Some((b"tcu".as_slice(), true, true)));
        assert_eq!(acts(b"stat", false), Some((b"s".as_slice(), false, false)));
        assert_eq!(acts(b"stat", true), None);
        assert_eq!(acts(b"status", true), Some((b"s".as_slice(), false, false)));
        assert_eq!(acts(b"rx", false), None);
        assert_eq!(acts(b"fx", false), None);
        assert_eq!(acts(b"bogus", false), None);
        assert_eq!(acts(b"e", false), Some((b"x".as_slice(), false, false)));
        assert_eq!(acts(b"Exit", false), Some((b"x".as_slice(), true, true)));
        assert_eq!(acts(b"Term", false), Some((b"tc".as_slice(), true, true)));
        assert_eq!(acts(b"xyz", false), Some((b"x".as_slice(), false, false)));
        assert_eq!(acts(b"start", true), Some((b"u".as_slice(), true, false)));
        assert_eq!(acts(b"shutdown", false), Some((b"x".as_slice(), true, false)));
        assert_eq!(acts(b"restarts", false), None);
        assert_eq!(acts(b"stop", true), Some((b"d".as_slice(), true, false)));
        assert_eq!(acts(b"", false), None);
    }
    #[test]
    fn health_lines() {
        let p = |l: &[u8]| Health::parse(l).map(|h| (h.kind, h.pid, h.gave_up, h.arg(l).to_vec()));
        let h = |kind, pid, gave_up, arg: &[u8]| Some((kind, pid, gave_up, arg.to_vec()));
        assert_eq!(p(b"ready 12\n"), h(READY, 12, false, b"12"));
        assert_eq!(p(b"starting 7"), h(0, 7, false, b"7"));
        assert_eq!(p(b"exited 9 3\n"), h(2, 9, false, b"3"));
        assert_eq!(p(b"killed 9 15\n"), h(KILLED, 9, false, b"15"));
        assert_eq!(p(b"failed 9 exited 1\n"), h(2, 9, true, b"1"));
        assert_eq!(p(b"failed 9 killed 6\n"), h(KILLED, 9, true, b"6"));
        assert_eq!(p(b"waiting db\n"), h(WAITING, 0, false, b"db"));
        assert_eq!(p(b"missing a b\n"), h(MISSING, 0, false, b"a b"));
        assert_eq!(p(b"exited 9 3\n\n"), h(2, 9, false, b"3\n"));
        for bad in [
            &b""[..],
            b"ready",
            b"ready x",
            b"ready 1 2",
            b"ready 1 ",
            b"ready  1",
            b"exited 1",
            b"exited 1 2 3",
            b"failed 1 ready",
            b"failed 1 exited",
            b"failed 1 failed 2",
            b"failed 1 exited 2 3",
            b"failed 1 exited 2 3 4 5",
            b"waiting",
            b"waiting \n",
            b"bogus 1",
        ] {
            assert_eq!(p(bad), None, "{:?}", bad);
        }
    }
    #[test]
    fn names() {
        assert!(Service::new(b"foo").via_svdir);
        assert_eq!(Service::new(b"a/b").name.bytes(), b"a/b");
        assert!(!Service::new(b"foo/").via_svdir);
        assert!(!Service::new(b"./foo").via_svdir);
        assert!(!Service::new(b"/foo").via_svdir);
        assert!(!Service::new(b"").via_svdir);
    }
}
