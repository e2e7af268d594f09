//! runit, the stage init that runs as PID 1 (/etc/runit/1, 2, 3), and runit-init
//! (`init 0|6`), which asks it to halt or reboot.
//!
//! Where it runs is decided once at boot, by runit's own `reboot(RB_DISABLE_CAD)`: it
//! succeeds only in the machine's initial PID namespace. Anywhere else (a container) runit
//! makes SIGTERM/SIGINT a graceful stop and exits at the end instead of halting.
use crate::Args;
use crate::msg;
use crate::num;
use crate::settings;
use crate::sys::proc::{self, CVec, Env, Pid};
use crate::sys::sig::{self, SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGTERM, SigFd};
use crate::sys::{Errno, fd, fs, initsys, time};
use alloc::vec::Vec;
use core::ffi::{CStr, c_int};

/// runit's messages: `- runit: ...`, `- runit: warning: ...`, `- runit: fatal: ...`.
const PROG: &[u8] = b"- runit: ";
/// runit-init's: `init: fatal: ...`.
const PROG_INIT: &[u8] = b"init: ";
// runit 2.1.2's version strings, printed as they are.
const RUNIT_ID: &[u8] = b"$Id: 25da3b86f7bed4038b8a039d2f8e8c9bbcf0822b $";
const INIT_ID: &[u8] = b"$Id: f075d98bf7dd17c893021f9572cbb970cdad8dcf $";

// Upstream's compiled-in paths (project decision, 00-overview.md §6).
const STOPIT: &CStr = c"/etc/runit/stopit";
const REBOOT: &CStr = c"/etc/runit/reboot";
const CTRLALTDEL: &CStr = c"/etc/runit/ctrlaltdel";
const RUNIT: &CStr = c"/sbin/runit";
const CONSOLE: &CStr = c"/dev/console";

const EXIT_NOT_PID1: i32 = 111;
const EXIT_INIT_FATAL: i32 = 111;
const EXIT_INIT_USAGE: i32 = 0; // runit-init's usage exits 0
const EXIT_STAGE1_SKIP: i32 = 100; // stage 1 exiting 100 skips stage 2
const EXIT_STAGE2_RESTART: i32 = 111; // stage 2 exiting 111 (or crashing) is restarted
// A stage that cannot be exec'd has failed (runit's child exits 0, so a missing stage
// "succeeds"); 100 skips stage 2 after stage 1 and does not loop a restart of stage 2.
const EXIT_EXEC_FAILED: i32 = 100;

const WAKEUP_MS: u64 = 14_000; // runit wakes up at least every 14 s
const PAUSE_MS: u64 = 5_000; // runit's pause before retrying a fork or restarting stage 2
const MACHINE_STOP_MS: u64 = 5_000; // runit: stage 2 gets 5 s after SIGTERM, then SIGKILL
/// For runsvdir to exit after its own deadline: more than the 2 s it waits for the killed
/// to be reaped (KILL_WAIT_MS in runsvdir.rs), so a critical service's code is not lost.
const STOP_MARGIN_MS: u64 = 3_000;
const HALT_PAUSE_MS: u64 = 2_000; // runit: power off, 2 s, then halt

/// runit's three stages: 1 (one-time start), 2 (runs until the stop), 3 (shutdown).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    One,
    Two,
    Three,
}

impl Stage {
    fn path(self) -> &'static CStr {
        match self {
            Stage::One => c"/etc/runit/1",
            Stage::Two => c"/etc/runit/2",
            Stage::Three => c"/etc/runit/3",
        }
    }
    /// The stage after this one; None after stage 3.
    fn next(self) -> Option<Stage> {
        match self {
            Stage::One => Some(Stage::Two),
            Stage::Two => Some(Stage::Three),
            Stage::Three => None,
        }
    }
}

/// runit: must be PID 1. Runs the three stages and never returns on a machine; in a
/// container it returns the container's exit code.
pub fn runit_main(_args: Args) -> i32 {
    msg::set_prog(&PROG);
    if proc::getpid() != 1 {
        msg::fatal(EXIT_NOT_PID1, &[b"must be run as process no 1."], None);
    }
    let _ = proc::setsid();
    // As runit: these stay blocked in PID 1 for good; the ones acted on are read from a
    // signalfd. Stage processes start with an empty mask.
    sig::block(&[SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGPIPE, SIGTERM]);
    console_to(0);
    let sfd = loop {
        match SigFd::new(&[SIGCHLD, SIGCONT, SIGINT, SIGTERM]) {
            Ok(s) => break s,
            Err(e) => {
                msg::say(b"fatal: ", &[b"unable to create selfpipe, pausing"], Some(e));
                time::sleep_ms(PAUSE_MS);
            }
        }
    };
    // Also asks the kernel for Ctrl-Alt-Del as SIGINT, as runit does.
    let machine = initsys::reboot(initsys::RB_DISABLE_CAD).is_ok();
    let container = !machine && !settings::container_off();
    info(RUNIT_ID, b": booting.");

    let mut init = Init::new(sfd, machine, container);
    let mut stage = Some(Stage::One);
    while let Some(st) = stage {
        let env = if st == Stage::Two && container { Env::Built(&init.env2) } else { Env::Inherit };
        let pid = spawn(st.path(), Some(st), &env);
        let w = init.watch(st, pid);
        stage = init.next_stage(st, pid, w);
    }
    init.finish()
}

/// PID 1's state between the stages.
struct Init {
    sfd: SigFd,
    /// reboot(2) works here: the machine's own PID namespace.
    machine: bool,
    /// SIGTERM/SIGINT stop gracefully, stage 2 gets URUNIT_PID1=1, runit exits at the end.
    container: bool,
    /// Stage 2's environment in a container: runit's, with URUNIT_PID1=1.
    env2: CVec,
    /// How long a stage asked to stop may take before SIGKILL.
    stop_ms: u64,
    /// Signals received and not yet acted on.
    cont: bool,
    int: bool,
    term: bool,
    /// A stop was requested and sent to the running stage.
    stopping: bool,
    /// The container's exit code when stage 1 or 2 decided it (stage 1 skipping stage 2,
    /// stage 2 exiting non-zero: the critical service's code).
    failed: Option<i32>,
    /// Stage 3's exit code (128 + signal if it crashed).
    stage3: i32,
}

impl Init {
    fn new(sfd: SigFd, machine: bool, container: bool) -> Init {
        let mut env = Vec::new();
        for e in proc::env_vars() {
            if !e.starts_with(b"URUNIT_PID1=") {
                env.push(e);
            }
        }
        env.push(b"URUNIT_PID1=1");
        // Parsed as runsvdir parses it (digits only, else the default): both see one deadline.
        let stop_ms = if container { settings::stop_timeout_ms().saturating_add(STOP_MARGIN_MS) } else { MACHINE_STOP_MS };
        Init {
            sfd,
            machine,
            container,
            env2: CVec::new(env),
            stop_ms,
            cont: false,
            int: false,
            term: false,
            stopping: false,
            failed: None,
            stage3: 0,
        }
    }

    /// Waits for signals or a child for at most `ms`, and records the signals.
    fn pause(&mut self, ms: u64) {
        let mut p = [fd::pollfd(self.sfd.raw(), fd::POLLIN)];
        let _ = fd::poll(&mut p, ms.min(WAKEUP_MS) as c_int);
        while let Some(s) = self.sfd.next() {
            match s {
                SIGCONT => self.cont = true,
                SIGINT => self.int = true,
                SIGTERM => self.term = true,
                _ => {}
            }
        }
    }

    /// The main loop while stage `st` (process `pid`) runs: reap, act on signals, stop
    /// the stage when asked. Returns the stage's wait status.
    fn watch(&mut self, st: Stage, pid: Pid) -> c_int {
        let mut kill_at: Option<u64> = None;
        loop {
            let pending = self.cont || self.int || self.term;
            let ms = match kill_at {
                _ if pending => 0,
                Some(t) => t.saturating_sub(time::mono_ms()),
                None => WAKEUP_MS,
            };
            self.pause(ms);
            let w = reap(pid);
            reget_stderr();
            if let Some(w) = w {
                return w;
            }
            if kill_at.is_some_and(|t| time::mono_ms() >= t) {
                return self.kill_stage(st, pid);
            }
            if self.request(st, pid) {
                kill_at = Some(time::mono_ms() + self.stop_ms);
            }
        }
    }

    /// Acts on the signals received while stage `st` runs; true when it has just asked
    /// the stage to stop.
    fn request(&mut self, st: Stage, pid: Pid) -> bool {
        let (mut cont, int, term) = (self.cont, self.int, self.term);
        (self.cont, self.int, self.term) = (false, false, false);
        if self.container && (int || term) {
            // docker stop: stop stage 1 or 2 gracefully (runit keeps TERM blocked and
            // takes INT for Ctrl-Alt-Del, which a container does not have).
            if st != Stage::Three && !self.stopping {
                self.stop(pid);
                return true;
            }
            return false;
        }
        if !cont && !int {
            return false; // on a machine SIGTERM has no effect, as in runit
        }
        if st != Stage::Two {
            warn(b"signals only work in stage 2.", b"", None);
            return false;
        }
        if self.stopping {
            return false;
        }
        if int && owner_x(CTRLALTDEL) {
            info(b"ctrl-alt-del request...", b"");
            run_ctrlaltdel();
            cont = true;
        }
        if cont && owner_x(STOPIT) {
            let _ = fs::chmod(STOPIT, 0);
            self.stop(pid);
            return true;
        }
        false
    }

    #[inline(never)]
    fn stop(&mut self, pid: Pid) {
        self.stopping = true;
        let _ = proc::kill(pid, SIGTERM);
    }

    /// A stage asked to stop did not end in time.
    fn kill_stage(&self, st: Stage, pid: Pid) -> c_int {
        let path = st.path().to_bytes();
        msg::warning(&[b"stage ", &path[path.len() - 1..], b" not terminated, sending sigkill..."], None);
        if self.container && st == Stage::Two {
            // Stage 2 leads its own session and process group: end all of it.
            let _ = proc::kill(-pid, SIGKILL);
        }
        let _ = proc::kill(pid, SIGKILL);
        wait_for(pid)
    }

    /// runit's rules for what follows the end of stage `st`; returns the next stage
    /// (stage 2 again to restart it, None when stage 3 is done).
    fn next_stage(&mut self, st: Stage, pid: Pid, w: c_int) -> Option<Stage> {
        let crashed = proc::wifsignaled(w);
        let code = proc::exit_code(w);
        let path = st.path().to_bytes();
        let mut next = st.next();
        let mut skip = false;
        if self.stopping && st != Stage::Three {
            // Stopped on request: runit reports only the leave (it reaps a stopped stage 2
            // in its stop loop). A non-zero exit of stage 2 is the critical service's code.
            if st == Stage::Two && !crashed && code != 0 {
                self.failed.get_or_insert(code);
            }
            next = Some(Stage::Three);
            skip = st == Stage::One;
        } else if code != 0 {
            warn(if crashed { b"child crashed: " } else { b"child failed: " }, path, None);
            if st == Stage::One && (crashed || code == EXIT_STAGE1_SKIP) {
                self.failed.get_or_insert(code);
                next = Some(Stage::Three);
                skip = true;
            } else if st == Stage::Two && (crashed || code == EXIT_STAGE2_RESTART) {
                warn(b"killing all processes in stage 2...", b"", None);
                let _ = proc::kill(-pid, SIGKILL);
                if !self.pause_before_restart() {
                    warn(b"restarting.", b"", None);
                    return Some(Stage::Two);
                }
                next = Some(Stage::Three);
            } else if st == Stage::Two {
                self.failed.get_or_insert(code);
            }
        }
        info(b"leave stage: ", path);
        if skip {
            warn(b"skipping stage 2...", b"", None);
        }
        if st == Stage::Three {
            self.stage3 = code;
        }
        next
    }

    /// runit's 5 s pause before restarting stage 2, reaping meanwhile. In a container a
    /// stop request ends it and cancels the restart (true); on a machine the signals wait
    /// for the new stage 2, as in runit.
    fn pause_before_restart(&mut self) -> bool {
        let end = time::mono_ms() + PAUSE_MS;
        loop {
            let now = time::mono_ms();
            if now >= end {
                return false;
            }
            self.pause(end - now);
            reap(0);
            if self.container && (self.int || self.term) {
                (self.int, self.term) = (false, false);
                self.stopping = true;
                return true;
            }
        }
    }

    /// After stage 3: kill everything left, then halt or reboot the machine as runit does.
    /// A container has no machine: runit returns its exit code (a reboot request is tried
    /// first, which a runtime holding CAP_SYS_BOOT sees as the init killed by SIGHUP).
    fn finish(&mut self) -> i32 {
        reget_stderr();
        info(b"sending KILL signal to all processes...", b"");
        let _ = proc::kill(-1, SIGKILL);
        let reboot = owner_x(REBOOT);
        if !self.container || reboot {
            match proc::fork() {
                Ok(0) => {
                    self.halt(reboot);
                    proc::exit(0)
                }
                Ok(pid) => {
                    wait_for(pid);
                }
                Err(_) => self.halt(reboot),
            }
            if self.machine {
                // reboot(2) returned on the machine itself: runit pauses for good, and so
                // does this (PID 1 exiting would panic the kernel).
                loop {
                    self.pause(WAKEUP_MS);
                    reap(0);
                }
            }
        }
        let code = self.failed.unwrap_or(self.stage3);
        let mut buf = [0u8; 20];
        msg::say(b"", &[b"exit ", num::fmt_u64(&mut buf, code as u64), b"."], None);
        code
    }

    /// The child that halts or reboots (runit's messages; a container is not synced: that
    /// would flush the host's disks).
    fn halt(&self, reboot: bool) {
        let sync = || {
            if !self.container {
                initsys::sync();
            }
        };
        if reboot {
            info(b"system reboot.", b"");
            sync();
            if let Err(e) = initsys::reboot(initsys::RB_AUTOBOOT) {
                warn(b"unable to reboot", b"", Some(e));
            }
            return;
        }
        info(b"power off...", b"");
        sync();
        let _ = initsys::reboot(initsys::RB_POWER_OFF);
        time::sleep_ms(HALT_PAUSE_MS);
        info(b"system halt.", b"");
        sync();
        if let Err(e) = initsys::reboot(initsys::RB_HALT_SYSTEM) {
            warn(b"unable to halt", b"", Some(e));
        }
    }
}

/// Forks a child that runs `path` (retrying every 5 s); `st` is the stage, None for
/// ctrlaltdel. Returns its pid.
fn spawn(path: &CStr, st: Option<Stage>, env: &Env) -> Pid {
    let argv = CVec::new([path.to_bytes()]);
    loop {
        match proc::fork() {
            Ok(0) => exec_stage(path, st, &argv, env),
            Ok(pid) => return pid,
            Err(e) => {
                msg::say(b"fatal: ", &[b"unable to fork for \"", path.to_bytes(), b"\" pausing"], Some(e));
                time::sleep_ms(PAUSE_MS);
            }
        }
    }
}

/// The child side of a stage: stage 1 gets the console, stages 2 and 3 a session of
/// their own; signals back to normal, then exec.
fn exec_stage(path: &CStr, st: Option<Stage>, argv: &CVec, env: &Env) -> ! {
    match st {
        Some(Stage::One) => match fd::open(CONSOLE, fd::O_RDWR, 0) {
            Ok(c) => {
                let _ = initsys::set_ctty(c.raw());
                let _ = fd::dup2(c.raw(), fd::STDIN);
                if c.raw() <= 2 {
                    c.into_raw();
                }
            }
            Err(e) => warn(b"unable to open /dev/console", b"", Some(e)),
        },
        Some(_) => {
            let _ = proc::setsid();
        }
        None => {}
    }
    // runit leaves SIGCONT ignored here, for every service to inherit; not this.
    sig::unblock_all();
    for s in [SIGCHLD, SIGCONT, SIGINT] {
        sig::default(s);
    }
    info(b"enter stage: ", path.to_bytes());
    let e = proc::execve(path, argv, env);
    msg::fatal(EXIT_EXEC_FAILED, &[b"unable to start child: ", path.to_bytes()], Some(e))
}

/// Runs /etc/runit/ctrlaltdel and waits for it (runit does not reap anything else then).
fn run_ctrlaltdel() {
    let pid = spawn(CTRLALTDEL, None, &Env::Inherit);
    match proc::wait_pid(pid, 0) {
        Ok(Some((_, w))) if proc::wifsignaled(w) => {
            warn(b"child crashed: ", CTRLALTDEL.to_bytes(), None);
        }
        Err(e) => msg::say(b"fatal: ", &[b"wait_pid"], Some(e)),
        _ => {}
    }
    info(b"leave stage: ", CTRLALTDEL.to_bytes());
}

/// Reaps every child that has ended (as PID 1, orphans too); the wait status of `pid`
/// if it was one of them.
fn reap(pid: Pid) -> Option<c_int> {
    let mut got = None;
    loop {
        match proc::wait_nohang() {
            Ok(Some((p, w))) => {
                if p == pid {
                    got = Some(w);
                }
            }
            Ok(None) => return got,
            Err(e) => {
                warn(b"wait_nohang, pausing", b"", Some(e));
                time::sleep_ms(PAUSE_MS);
                return got;
            }
        }
    }
}

/// runit points stderr at /dev/console again after every wakeup.
fn reget_stderr() {
    console_to(fd::STDERR);
}

/// Points descriptors `lo`..=2 at /dev/console (write-only, non-blocking).
fn console_to(lo: fd::RawFd) {
    if let Ok(c) = fd::open(CONSOLE, fd::O_WRONLY | fd::O_NONBLOCK, 0) {
        for n in lo..3 {
            let _ = fd::dup2(c.raw(), n);
        }
        if c.raw() <= 2 {
            c.into_raw();
        }
    }
}

/// Waits for `pid` until it has ended, retrying every 5 s on errors: its wait status
/// (SIGKILL if it was not there to wait for).
fn wait_for(pid: Pid) -> c_int {
    loop {
        match proc::wait_pid(pid, 0) {
            Ok(Some((_, w))) => return w,
            Ok(None) => return SIGKILL,
            Err(e) => {
                warn(b"wait_pid", b"", Some(e));
                time::sleep_ms(PAUSE_MS);
            }
        }
    }
}

/// True if `path` exists with the owner-execute bit: runit's flag files.
fn owner_x(path: &CStr) -> bool {
    fs::stat(path).is_ok_and(|s| s.mode & fs::S_IXUSR != 0)
}

/// runit-init: as PID 1 it becomes runit; otherwise `0` halts and `6` reboots.
pub fn runit_init_main(args: Args) -> i32 {
    msg::set_prog(&PROG_INIT);
    let name = args.first().copied().unwrap_or(b"runit-init");
    if proc::getpid() == 1 {
        // The kernel started init: runit does the job.
        let e = proc::execve(RUNIT, &CVec::new([b"runit".as_slice()]), &Env::Inherit);
        msg::fatal(EXIT_INIT_FATAL, &[b"unable to start runit"], Some(e));
    }
    // Only the first character counts, as in runit.
    let arg = args.get(1).copied().unwrap_or(b"");
    match arg.first() {
        Some(b'0') => request(false),
        Some(b'6') => request(true),
        Some(b'-') if arg.get(1) == Some(&b'V') => msg::warn(&[INIT_ID, b"\n"], None),
        _ => {}
    }
    msg::usage(EXIT_INIT_USAGE, name, b" 0|6")
}

/// Marks the stop (and the reboot, or clears it) for runit, then wakes it with SIGCONT.
fn request(reboot: bool) -> ! {
    create_flag(STOPIT);
    if reboot {
        create_flag(REBOOT);
    } else if let Err(e) = fs::chmod(REBOOT, 0)
        && e != Errno::NOENT
    {
        init_die(b"unable to chmod ", REBOOT, e);
    }
    let _ = proc::kill(1, SIGCONT);
    proc::exit(0)
}

/// Creates (truncates) a flag file and gives it mode 0100, runit's "set" mark.
fn create_flag(path: &CStr) {
    if let Err(e) = fd::open_trunc(path) {
        init_die(b"unable to create ", path, e);
    }
    if let Err(e) = fs::chmod(path, 0o100) {
        init_die(b"unable to chmod ", path, e);
    }
}

fn init_die(what: &[u8], path: &CStr, e: Errno) -> ! {
    msg::fatal(EXIT_INIT_FATAL, &[what, path.to_bytes()], Some(e))
}

/// `- runit: A B`.
#[inline(never)]
fn info(a: &[u8], b: &[u8]) {
    msg::say(b"", &[a, b], None);
}

/// `- runit: warning: A B[: REASON]`.
#[inline(never)]
fn warn(a: &[u8], b: &[u8], e: Option<Errno>) {
    msg::warning(&[a, b], e);
}
