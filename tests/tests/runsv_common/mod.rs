//! Shared by runsv.rs, runsv_control.rs, runsv_finish.rs and runsv_log.rs: a service
//! directory supervised by the runsv under test, the decoded `supervise/status`, the waits,
//! and the `both!` macro.
//!
//! Every scenario runs twice with the same expected bytes: against Debian's C runsv (tests
//! `c::NAME`, which proves the expectation) and against the shipped urunit (tests `u::NAME`).
//! Where urunit's runsv differs from C runit's on purpose (README, section "runsv", the
//! deviations D1-D14), the scenario asserts C's old behaviour for C and urunit's for urunit,
//! citing the label. (The `wN_` test names keep the numbers of an older list of runit's
//! weaknesses; their comments name the README label.)
#![allow(dead_code)]
use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};
use urunit_tests::*;

/// Generous deadline for anything runsv should do (the machine is shared and noisy).
pub const T: u64 = 30;

/// TAI64 label of Unix time 0 as runit writes it (2^62 + 10).
pub const TAI_EPOCH: u64 = (1 << 62) + 10;

pub const SLEEP: &str = "#!/bin/sh\nexec sleep 100\n";

pub fn runsv_cmd(which: Impl) -> Command {
    impl_cmd(which, "runsv").expect("C runit is present")
}

pub fn have(which: Impl) -> bool {
    which == Impl::U || crunit("runsv").is_some()
}

pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A decoded `supervise/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct St {
    pub tai: u64,
    pub nano: u32,
    pub pid: u32,
    /// bytes 16..20: paused, want, got TERM, state.
    pub tail: [u8; 4],
}

impl St {
    /// The stamp as Unix seconds.
    pub fn secs(&self) -> f64 {
        self.tai.wrapping_sub(TAI_EPOCH) as f64 + self.nano as f64 / 1e9
    }
}

pub fn parse(b: &[u8]) -> Option<St> {
    let b: [u8; 20] = b.try_into().ok()?;
    Some(St {
        tai: u64::from_be_bytes(b[0..8].try_into().unwrap()),
        nano: u32::from_be_bytes(b[8..12].try_into().unwrap()),
        pid: u32::from_le_bytes(b[12..16].try_into().unwrap()),
        tail: b[16..20].try_into().unwrap(),
    })
}

/// A service directory `s` in a temporary directory, supervised by the runsv under test,
/// started as `runsv s` from the temporary directory (stdout and stderr go to files there).
pub struct Svc {
    pub which: Impl,
    pub tmp: TempDir,
    pub dir: PathBuf,
    pub runsv: Option<Proc>,
    pub t0: f64,
}

impl Svc {
    pub fn new(which: Impl) -> Svc {
        let tmp = TempDir::new("runsv");
        let dir = tmp.join("s");
        fs::create_dir(&dir).unwrap();
        Svc { which, tmp, dir, runsv: None, t0: now() }
    }

    /// A service with `run` = `body`.
    pub fn with_run(which: Impl, body: &str) -> Svc {
        let s = Svc::new(which);
        script(s.p("run"), body);
        s
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `runsv ARG` run from the temporary directory, umask 022, output appended to files.
    pub fn command(&self, arg: &str) -> Command {
        let mut c = runsv_cmd(self.which);
        let log = |n| OpenOptions::new().create(true).append(true).open(self.tmp.join(n)).unwrap();
        c.arg(arg).current_dir(self.tmp.path()).stdin(Stdio::null()).stdout(log("out")).stderr(log("err"));
        // runsv starts with only fds 0, 1, 2 (the test harness may leak others, e.g. cargo's
        // jobserver pipe), default signal dispositions and umask 022, so modes, fd lists and
        // signal masks are exact.
        // SAFETY: umask, signal and close_range are async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0o022);
                // No core dumps: a crash's wait status is then exactly its signal number.
                libc::setrlimit(libc::RLIMIT_CORE, &libc::rlimit { rlim_cur: 0, rlim_max: 0 });
                // The raw syscall: glibc's signal() refuses 32 and 33, which may arrive ignored.
                let dfl = [0u64; 4]; // x86_64 kernel sigaction: handler SIG_DFL, flags, restorer, mask
                for sig in 1..=64 {
                    libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0usize, 8usize);
                }
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                Ok(())
            })
        };
        c
    }

    /// `runsv s` that inherits fd 7 (a copy of its stderr, not close-on-exec).
    pub fn command_leaking_fd7(&self) -> Command {
        let mut c = self.command("s");
        // SAFETY: dup2 is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::dup2(2, 7);
                Ok(())
            })
        };
        c
    }

    /// Starts runsv on `s` and waits until it supervises it.
    pub fn spawn(&mut self) {
        let c = self.command("s");
        self.spawn_cmd(c);
    }

    pub fn spawn_cmd(&mut self, c: Command) {
        self.runsv = Some(Proc::spawn(c));
        let ok = poll(T, || {
            if supervised(&self.dir) {
                return Some(true);
            }
            self.runsv.as_mut().unwrap().child.try_wait().unwrap().map(|_| false)
        });
        assert_eq!(ok, Some(true), "{:?} runsv did not come up; stderr: {:?}", self.which, self.err());
    }

    /// Starts runsv and waits until `./run` (SIGRUN) is up with its traps set; returns its pid.
    pub fn spawn_up(&mut self) -> u32 {
        self.spawn();
        let st = self.wait_tail(b"\0u\0\x01", "run\n", 0);
        self.wait_starts(1);
        st.pid
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&read(self.tmp.join("err"))).into()
    }

    /// Waits until runsv's stderr holds `line` at least `n` times, and nothing else.
    pub fn wait_err_lines(&self, line: &str, n: usize) {
        poll(T, || (self.err().len() >= n * line.len()).then_some(()));
        let e = self.err();
        assert!(e.len() >= n * line.len() && e.split_inclusive('\n').all(|l| l == line), "{:?}: stderr {e:?}", self.which);
    }

    pub fn out(&self) -> String {
        String::from_utf8_lossy(&read(self.tmp.join("out"))).into()
    }

    pub fn text(&self, rel: &str) -> String {
        String::from_utf8_lossy(&read(self.p(rel))).into()
    }

    pub fn st(&self) -> Option<St> {
        parse(&read(self.p("supervise/status")))
    }

    /// Writes control bytes; fails at once (never blocks) if runsv does not read the FIFO.
    pub fn ctl(&self, b: &[u8]) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.p("supervise/control"))
            .unwrap_or_else(|e| panic!("{:?}: no runsv reads supervise/control: {e}", self.which));
        f.write_all(b).unwrap();
    }

    pub fn sigs(&self) -> Vec<String> {
        lines(self.p("sigs"))
    }

    /// Waits until `sigs` holds `n` lines and returns them.
    pub fn wait_sigs(&self, n: usize) -> Vec<String> {
        poll(T, || (self.sigs().len() >= n).then_some(()));
        let v = self.sigs();
        assert_eq!(v.len(), n, "{:?}: signals received: {v:?}", self.which);
        v
    }

    /// Waits until `starts` holds `n` lines; returns the pids.
    pub fn wait_starts(&self, n: usize) -> Vec<u32> {
        let f = || lines(self.p("starts")).iter().map(|l| l.parse().unwrap()).collect::<Vec<u32>>();
        poll(T, || (f().len() >= n).then_some(()));
        let v = f();
        assert_eq!(v.len(), n, "{:?}: starts {v:?}", self.which);
        v
    }

    /// Waits until status bytes 16..20 are `tail`, `stat` is `stat`, the pid differs from
    /// `not_pid` (0: any) and `pid` agrees with the status; checks the time is plausible.
    /// urunit's runsv writes `supervise/health` (and `log/supervise/health`) in its first
    /// update, after which it makes `ok` (README D15): once both exist, that update is whole.
    pub fn wait_health(&self) {
        if self.which == Impl::U {
            for f in ["supervise/health", "supervise/ok", "log/supervise/health", "log/supervise/ok"] {
                if f.starts_with("log/") && !self.p("log/run").exists() {
                    continue;
                }
                poll(T, || self.p(f).exists().then_some(())).expect("health written");
            }
        }
    }

    /// A stop (`x` or SIGTERM) of SIGRUN held by `hold`: `run, got TERM, want exit` with the
    /// same pid, TERM then CONT, runsv waits; once `hold` goes, runsv exits 0 and the
    /// service is down.
    pub fn held_stop_then_exit(&mut self, pid: u32) {
        let st = self.wait_tail(b"\0d\x01\x01", "run, got TERM, want exit\n", 0);
        assert_eq!(st.pid, pid);
        assert_eq!(self.wait_sigs(2), ["TERM", "CONT"]);
        assert!(self.runsv_alive());
        fs::remove_file(self.p("hold")).unwrap();
        assert_eq!(self.wait_exit().code(), Some(0));
        self.wait_tail(b"\0d\0\0", "down\n", 0);
    }

    pub fn wait_tail(&self, tail: &[u8; 4], stat: &str, not_pid: u32) -> St {
        wait_svc_tail(&self.dir, "supervise", self.t0, tail, stat, not_pid, || self.err())
    }

    /// Same for `log/supervise`.
    pub fn wait_log_tail(&self, tail: &[u8; 4], stat: &str, not_pid: u32) -> St {
        wait_svc_tail(&self.dir, "log/supervise", self.t0, tail, stat, not_pid, || self.err())
    }

    /// The process runsv started.
    pub fn runsv(&mut self) -> &mut Proc {
        self.runsv.as_mut().unwrap()
    }

    pub fn runsv_alive(&mut self) -> bool {
        self.runsv().child.try_wait().unwrap().is_none()
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        self.runsv().wait_exit(T)
    }
}

impl Drop for Svc {
    fn drop(&mut self) {
        drop(self.runsv.take());
        kill_procs_under(self.tmp.path());
    }
}

/// The wait of `Svc::wait_tail`, for `sup` = "supervise" or "log/supervise" of `dir`.
#[allow(clippy::too_many_arguments)]
pub fn wait_svc_tail(
    dir: &std::path::Path,
    sup: &str,
    t0: f64,
    tail: &[u8; 4],
    stat: &str,
    not_pid: u32,
    err: impl Fn() -> String,
) -> St {
    let d = dir.join(sup);
    let look = || {
        let st = parse(&read(d.join("status")));
        let text = String::from_utf8_lossy(&read(d.join("stat"))).into_owned();
        let pid = String::from_utf8_lossy(&read(d.join("pid"))).into_owned();
        (st, text, pid)
    };
    let got = poll(T, || {
        let (st, text, pid) = look();
        let st = st?;
        let pid_ok = if st.tail[3] == 0 { st.pid == 0 && pid.is_empty() } else { st.pid != 0 && pid == format!("{}\n", st.pid) };
        (st.tail == *tail && text == stat && pid_ok && (not_pid == 0 || st.pid != not_pid)).then_some(st)
    });
    let Some(st) = got else {
        panic!("waiting for {sup} tail {tail:?} stat {stat:?} (pid not {not_pid}): have {:?}; stderr {:?}", look(), err())
    };
    let secs = st.tai.wrapping_sub(TAI_EPOCH) as f64;
    assert!(secs >= t0.floor() - 2.0 && secs <= now() + 2.0, "implausible TAI64 {:#x}", st.tai);
    assert!(st.nano < 1_000_000_000, "nanoseconds {}", st.nano);
    st
}

/// Waits until `pid` has exec'd `sleep` (a run script's last step).
pub fn wait_sleeping(pid: u32) {
    wait_until(T, "the service exec'd sleep", || read(format!("/proc/{pid}/cmdline")).starts_with(b"sleep\0"));
}

/// The state letter of /proc/PID/stat (R, S, T, Z...).
pub fn proc_state(pid: u32) -> String {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("").into()
}

pub fn kill(pid: u32, sig: i32) {
    // SAFETY: kill on a process of our own service.
    unsafe { libc::kill(pid as i32, sig) };
}

impl Svc {
    /// Waits until `starts` holds at least `n` lines.
    pub fn wait_starts_n(&self, n: usize) {
        poll(T, || (self.wait_starts_now() >= n).then_some(()));
        assert!(self.wait_starts_now() >= n, "{:?}: {} starts", self.which, self.wait_starts_now());
    }

    pub fn wait_starts_now(&self) -> usize {
        lines(self.p("starts")).len()
    }
}

/// Runs a scenario as `c::NAME` (C runit) and `u::NAME` (urunit).
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod c { $( #[test] fn $name() { if super::have(super::Impl::C) { super::$name(super::Impl::C) } } )* }
        mod u { $( #[test] fn $name() { super::$name(super::Impl::U) } )* }
    };
}
pub(crate) use both;
