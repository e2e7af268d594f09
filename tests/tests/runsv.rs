//! runsv: every control byte and the resulting supervise/ files, ./finish, ./down, the
//! restart throttle, the log pipe, custom control/ scripts, SIGTERM, bad input.
//!
//! Every scenario runs twice with the same expected bytes: against Debian's C runsv (tests
//! `c::NAME`, which proves the expectation) and against the shipped urunit (tests `u::NAME`).
//! Where urunit fixes one of C runit's weaknesses on purpose (runsv.md, "Known weaknesses"),
//! the scenario asserts C's old behaviour for C and the fix for urunit, citing the number.
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};
use urunit_tests::*;

/// Generous deadline for anything runsv should do (the machine is shared and noisy).
const T: u64 = 30;
/// TAI64 label of Unix time 0 as runit writes it (2^62 + 10).
const TAI_EPOCH: u64 = (1 << 62) + 10;

const SLEEP: &str = "#!/bin/sh\nexec sleep 100\n";

fn runsv_cmd(which: Impl) -> Command {
    impl_cmd(which, "runsv").expect("C runit is present")
}

fn have(which: Impl) -> bool {
    which == Impl::U || crunit("runsv").is_some()
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A decoded `supervise/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct St {
    tai: u64,
    nano: u32,
    pid: u32,
    /// bytes 16..20: paused, want, got TERM, state.
    tail: [u8; 4],
}

impl St {
    /// The stamp as Unix seconds.
    fn secs(&self) -> f64 {
        self.tai.wrapping_sub(TAI_EPOCH) as f64 + self.nano as f64 / 1e9
    }
}

fn parse(b: &[u8]) -> Option<St> {
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
struct Svc {
    which: Impl,
    tmp: TempDir,
    dir: PathBuf,
    runsv: Option<Proc>,
    t0: f64,
}

impl Svc {
    fn new(which: Impl) -> Svc {
        let tmp = TempDir::new("runsv");
        let dir = tmp.join("s");
        fs::create_dir(&dir).unwrap();
        Svc { which, tmp, dir, runsv: None, t0: now() }
    }

    /// A service with `run` = `body`.
    fn with_run(which: Impl, body: &str) -> Svc {
        let s = Svc::new(which);
        script(s.p("run"), body);
        s
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `runsv ARG` run from the temporary directory, umask 022, output appended to files.
    fn command(&self, arg: &str) -> Command {
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
    fn command_leaking_fd7(&self) -> Command {
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
    fn spawn(&mut self) {
        let c = self.command("s");
        self.spawn_cmd(c);
    }

    fn spawn_cmd(&mut self, c: Command) {
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
    fn spawn_up(&mut self) -> u32 {
        self.spawn();
        let st = self.wait_tail(b"\0u\0\x01", "run\n", 0);
        self.wait_starts(1);
        st.pid
    }

    fn err(&self) -> String {
        String::from_utf8_lossy(&read(self.tmp.join("err"))).into()
    }

    /// Waits until runsv's stderr holds `line` at least `n` times, and nothing else.
    fn wait_err_lines(&self, line: &str, n: usize) {
        poll(T, || (self.err().len() >= n * line.len()).then_some(()));
        let e = self.err();
        assert!(e.len() >= n * line.len() && e.split_inclusive('\n').all(|l| l == line), "{:?}: stderr {e:?}", self.which);
    }

    fn out(&self) -> String {
        String::from_utf8_lossy(&read(self.tmp.join("out"))).into()
    }

    fn text(&self, rel: &str) -> String {
        String::from_utf8_lossy(&read(self.p(rel))).into()
    }

    fn st(&self) -> Option<St> {
        parse(&read(self.p("supervise/status")))
    }

    /// Writes control bytes; fails at once (never blocks) if runsv does not read the FIFO.
    fn ctl(&self, b: &[u8]) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.p("supervise/control"))
            .unwrap_or_else(|e| panic!("{:?}: no runsv reads supervise/control: {e}", self.which));
        f.write_all(b).unwrap();
    }

    fn sigs(&self) -> Vec<String> {
        lines(self.p("sigs"))
    }

    /// Waits until `sigs` holds `n` lines and returns them.
    fn wait_sigs(&self, n: usize) -> Vec<String> {
        poll(T, || (self.sigs().len() >= n).then_some(()));
        let v = self.sigs();
        assert_eq!(v.len(), n, "{:?}: signals received: {v:?}", self.which);
        v
    }

    /// Waits until `starts` holds `n` lines; returns the pids.
    fn wait_starts(&self, n: usize) -> Vec<u32> {
        let f = || lines(self.p("starts")).iter().map(|l| l.parse().unwrap()).collect::<Vec<u32>>();
        poll(T, || (f().len() >= n).then_some(()));
        let v = f();
        assert_eq!(v.len(), n, "{:?}: starts {v:?}", self.which);
        v
    }

    /// Waits until status bytes 16..20 are `tail`, `stat` is `stat`, the pid differs from
    /// `not_pid` (0: any) and `pid` agrees with the status; checks the time is plausible.
    fn wait_tail(&self, tail: &[u8; 4], stat: &str, not_pid: u32) -> St {
        wait_svc_tail(&self.dir, "supervise", self.t0, tail, stat, not_pid, || self.err())
    }

    /// Same for `log/supervise`.
    fn wait_log_tail(&self, tail: &[u8; 4], stat: &str, not_pid: u32) -> St {
        wait_svc_tail(&self.dir, "log/supervise", self.t0, tail, stat, not_pid, || self.err())
    }

    /// The process runsv started.
    fn runsv(&mut self) -> &mut Proc {
        self.runsv.as_mut().unwrap()
    }

    fn runsv_alive(&mut self) -> bool {
        self.runsv().child.try_wait().unwrap().is_none()
    }

    fn wait_exit(&mut self) -> ExitStatus {
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
fn wait_svc_tail(
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
fn wait_sleeping(pid: u32) {
    wait_until(T, "the service exec'd sleep", || read(format!("/proc/{pid}/cmdline")).starts_with(b"sleep\0"));
}

/// The state letter of /proc/PID/stat (R, S, T, Z...).
fn proc_state(pid: u32) -> String {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("").into()
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill on a process of our own service.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Runs a scenario as `c::NAME` (C runit) and `u::NAME` (urunit).
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod c { $( #[test] fn $name() { if super::have(super::Impl::C) { super::$name(super::Impl::C) } } )* }
        mod u { $( #[test] fn $name() { super::$name(super::Impl::U) } )* }
    };
}

both!(
    usage_and_bad_dir,
    second_runsv,
    supervise_files,
    supervise_symlinks,
    supervise_bad,
    read_only_dir,
    log_not_dir,
    run_missing,
    run_not_executable,
    run_no_interpreter,
    run_bad_interpreter,
    ctl_signals,
    ctl_pause,
    ctl_down_up,
    ctl_once,
    ctl_term_restarts,
    ctl_kill,
    ctl_exit,
    ctl_while_down,
    ctl_garbage,
    ctl_long_write,
    finish_exit_code,
    finish_signal,
    finish_segv,
    finish_unexecable_run,
    finish_state,
    down_file,
    restart_throttle,
    log_lines_survive_logger_kills,
    control_t,
    control_u,
    control_h,
    sigterm_with_log,
    sigterm_waits_for_service,
    child_fds_env,
    inherited_fds,
    log_run_missing,
    finish_not_executable,
    control_exec_failure,
    scripts_stdout_to_log,
    supervise_removed,
    service_dir_removed,
    log_control,
    sigint,
    w1_signals_reach_process_group,
    w1_kill_reaches_process_group,
    w2_commands_during_throttle,
    w6_exit_with_daemonised_child,
    w7_kill_during_finish,
    w8_killed_control_script,
);

// ---------------------------------------------------------------------------------------
// Invocation and startup errors.

fn usage_and_bad_dir(w: Impl) {
    let tmp = TempDir::new("runsv-usage");
    for args in [&[][..], &["a", "b"][..], &["a", "b", "c"][..]] {
        let mut c = runsv_cmd(w);
        c.args(args).current_dir(tmp.path());
        expect(&run(c, T), 1, "", "usage: runsv dir\n\n");
    }
    // argv[0] is printed as given.
    let mut c = runsv_cmd(w);
    c.arg0("/usr/local/bin/runsv");
    expect(&run(c, T), 1, "", "usage: /usr/local/bin/runsv dir\n\n");
    // runsv has no options: "-x" is a directory name.
    fs::write(tmp.join("file"), "").unwrap();
    for (dir, e) in [("-x", "file does not exist"), ("missing", "file does not exist"), ("", "file does not exist"), ("file", "not a directory")]
    {
        let mut c = runsv_cmd(w);
        c.arg(dir).current_dir(tmp.path());
        expect(&run(c, T), 111, "", &format!("runsv {dir}: fatal: unable to change to directory: {e}\n"));
    }
}

fn second_runsv(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    s.spawn();
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    let before = read(s.p("supervise/status"));
    let abs = s.dir.display().to_string();
    for name in ["s", "./s", "s/", abs.as_str()] {
        expect(&run(s.command(name), T), 111, "", &format!("runsv {name}: fatal: unable to lock supervise/lock: temporary failure\n"));
    }
    assert!(s.runsv_alive() && supervised(&s.dir));
    assert_eq!(read(s.p("supervise/status")), before);
    assert_eq!(s.err(), "");
}

/// The six files, their types and modes; existing modes are kept; all files stay after exit.
fn supervise_files(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    // An administrator delegated control: runsv must not reset these modes.
    fs::create_dir(s.p("supervise")).unwrap();
    fs::set_permissions(s.p("supervise"), fs::Permissions::from_mode(0o750)).unwrap();
    let fifo = std::ffi::CString::new(s.p("supervise/control").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: mkfifo on a path string we own.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    fs::set_permissions(s.p("supervise/control"), fs::Permissions::from_mode(0o620)).unwrap();
    s.spawn();
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    assert!(alive(st.pid as i32));
    let mut names: Vec<String> = fs::read_dir(s.p("supervise")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    // urunit adds `health` (README "Readiness"); the runit files are the same.
    names.retain(|n| !(w == Impl::U && n == "health"));
    assert_eq!(names, ["control", "lock", "ok", "pid", "stat", "status"]);
    let mode = |n: &str| fs::metadata(s.p(n)).unwrap();
    assert_eq!(mode("supervise").mode() & 0o7777, 0o750);
    assert!(mode("supervise/control").file_type().is_fifo());
    assert_eq!(mode("supervise/control").mode() & 0o7777, 0o620);
    assert!(mode("supervise/ok").file_type().is_fifo());
    assert_eq!(mode("supervise/ok").mode() & 0o7777, 0o600);
    assert!(mode("supervise/lock").is_file());
    assert_eq!((mode("supervise/lock").mode() & 0o7777, mode("supervise/lock").len()), (0o600, 0));
    for f in ["status", "stat", "pid"] {
        assert!(mode(&format!("supervise/{f}")).is_file());
        assert_eq!(mode(&format!("supervise/{f}")).mode() & 0o7777, 0o644, "{f}");
    }
    s.ctl(b"x");
    assert_eq!(s.wait_exit().code(), Some(0));
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert!(!supervised(&s.dir), "ok must have no reader after runsv exited");
    let mut after: Vec<String> = fs::read_dir(s.p("supervise")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    after.sort();
    after.retain(|n| !(w == Impl::U && n == "health"));
    assert_eq!(after, names);
    assert_eq!(s.err(), "");
}

/// A dangling `supervise` symlink: its target is created (0700, one level).
fn supervise_symlinks(w: Impl) {
    for (target, created) in [("../state", "state"), ("", "abs/state")] {
        let mut s = Svc::with_run(w, SLEEP);
        let made = s.tmp.join(created);
        if target.is_empty() {
            fs::create_dir(s.tmp.join("abs")).unwrap();
            symlink(&made, s.p("supervise")).unwrap();
        } else {
            symlink(target, s.p("supervise")).unwrap();
        }
        // The log service's symlink resolves from log/.
        script(s.p("log/run"), SLEEP);
        symlink("../../lstate", s.p("log/supervise")).unwrap();
        s.spawn();
        s.wait_tail(b"\0u\0\x01", "run\n", 0);
        s.wait_log_tail(b"\0u\0\x01", "run\n", 0);
        for d in [made, s.tmp.join("lstate")] {
            assert!(fs::symlink_metadata(&d).unwrap().is_dir(), "{}", d.display());
            assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o700);
            let mut names: Vec<String> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            names.sort();
            names.retain(|n| !(w == Impl::U && n == "health"));
            assert_eq!(names, ["control", "lock", "ok", "pid", "stat", "status"]);
        }
        assert_eq!(s.err(), "");
    }
}

fn supervise_bad(w: Impl) {
    // A symlink whose target's parent is missing.
    let s = Svc::with_run(w, SLEEP);
    symlink("../nope/state", s.p("supervise")).unwrap();
    expect(&run(s.command("s"), T), 111, "", "runsv s: fatal: unable to open supervise/lock: file does not exist\n");
    // A regular file.
    let s = Svc::with_run(w, SLEEP);
    fs::write(s.p("supervise"), "").unwrap();
    expect(&run(s.command("s"), T), 111, "", "runsv s: fatal: unable to open supervise/lock: not a directory\n");
    // A symlink target of 256 bytes or more.
    let s = Svc::with_run(w, SLEEP);
    symlink("x".repeat(300), s.p("supervise")).unwrap();
    expect(&run(s.command("s"), T), 111, "", "runsv s: fatal: unable to readlink ./supervise: name too long\n");
    // control is not a FIFO.
    let s = Svc::with_run(w, SLEEP);
    fs::create_dir(s.p("supervise")).unwrap();
    fs::write(s.p("supervise/control"), "").unwrap();
    expect(&run(s.command("s"), T), 111, "", "runsv s: fatal: supervise/control exists but is not a fifo\n");
    // C runit 2.1.2 stat()s supervise/control instead of log/supervise/control here (a typo
    // in runsv.c's main) and then polls a regular file forever; urunit checks the right file.
    if w == Impl::U {
        let s = Svc::with_run(w, SLEEP);
        script(s.p("log/run"), SLEEP);
        fs::create_dir(s.p("log/supervise")).unwrap();
        fs::write(s.p("log/supervise/control"), "").unwrap();
        expect(&run(s.command("s"), T), 111, "", "runsv s: fatal: log/supervise/control exists but is not a fifo\n");
    }
}

/// The service directory bind-mounted read-only in a private mount namespace.
fn read_only_dir(w: Impl) {
    fn ro(s: &Svc) -> Command {
        let mut c = s.command("s");
        let dir = std::ffi::CString::new(s.dir.clone().into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: unshare and mount with pointers into strings owned by the closure.
        unsafe {
            c.pre_exec(move || {
                let none = std::ptr::null();
                if libc::unshare(libc::CLONE_NEWNS) != 0
                    || libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0
                    || libc::mount(dir.as_ptr(), dir.as_ptr(), none, libc::MS_BIND, std::ptr::null()) != 0
                    || libc::mount(none, dir.as_ptr(), none, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY, std::ptr::null()) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        c
    }
    // Probe: can we make mount namespaces here at all?
    let probe = Svc::new(w);
    let mut c = ro(&probe);
    c.arg0("runsv").args(["a", "b"]);
    if c.output().is_err() {
        skip("no mount namespace (unshare(CLONE_NEWNS) failed): read-only service directory not tested");
        return;
    }
    if w == Impl::C {
        // No supervise/ yet: mkdir fails (EROFS), then the lock cannot be opened.
        let s = Svc::with_run(w, SLEEP);
        expect(&run(ro(&s), T), 111, "", "runsv s: fatal: unable to open supervise/lock: file does not exist\n");
        // supervise/ exists: creating the lock file fails.
        let s = Svc::with_run(w, SLEEP);
        fs::create_dir(s.p("supervise")).unwrap();
        expect(&run(ro(&s), T), 111, "", "runsv s: fatal: unable to open supervise/lock: read-only file system\n");
    } else {
        // urunit keeps the state in the run directory instead (README "Read-only and
        // non-root"): no supervise/, or a supervise/ it cannot write.
        for pre in [false, true] {
            let mut s = Svc::with_run(w, SLEEP);
            if pre {
                fs::create_dir(s.p("supervise")).unwrap();
            }
            let rd = s.tmp.join("rundir");
            let mut c = ro(&s);
            c.env("URUNIT_RUNDIR", &rd);
            s.runsv = Some(Proc::spawn(c));
            let phys = fs::canonicalize(&s.dir).unwrap().into_os_string().into_string().unwrap();
            let key = phys[1..].replace('%', "%25").replace('/', "%2F");
            let sup = rd.join(&key);
            wait_for(30, "status in the run directory", || fs::read(sup.join("stat")).ok().filter(|b| b == b"run\n"));
            assert_eq!(fs::metadata(&rd).unwrap().mode() & 0o7777, 0o700);
            assert!(!s.p("supervise/lock").exists());
            assert_eq!(s.err(), "");
        }
    }
    // supervise -> a writable place: works (read-only /etc/sv with state under /run).
    let mut s = Svc::with_run(w, SLEEP);
    symlink(s.tmp.join("state"), s.p("supervise")).unwrap();
    let c = ro(&s);
    s.spawn_cmd(c);
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    assert_eq!(s.err(), "");
}

fn log_not_dir(w: Impl) {
    let mut s = Svc::with_run(w, "#!/bin/sh\necho hi\nexec sleep 100\n");
    fs::write(s.p("log"), "").unwrap();
    s.spawn();
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    // Without a log service, ./run's stdout is runsv's.
    poll(T, || (s.out() == "hi\n").then_some(()));
    assert_eq!(s.out(), "hi\n");
    assert_eq!(s.err(), "runsv s: warning: ./log: not a directory.\n");
    assert!(!s.p("log/supervise").exists());
}

/// Every start attempt fails in the child with `msg`; runsv keeps trying about once a
/// second and ./finish gets `111 0`.
fn run_fails(w: Impl, run: Option<(&str, u32)>, msg: &str) {
    let mut s = Svc::new(w);
    if let Some((body, mode)) = run {
        script(s.p("run"), body);
        fs::set_permissions(s.p("run"), fs::Permissions::from_mode(mode)).unwrap();
    }
    script(s.p("finish"), "#!/bin/sh\necho \"$@\" >> fin\n");
    s.spawn();
    s.wait_err_lines(&format!("runsv s: fatal: unable to start ./run: {msg}\n"), 2);
    poll(T, || (lines(s.p("fin")).len() >= 2).then_some(()));
    assert!(lines(s.p("fin")).iter().all(|l| l == "111 0"), "{:?}", lines(s.p("fin")));
    s.wait_tail(b"\0u\0\0", "down\n", 0);
    assert!(s.runsv_alive());
}

fn run_missing(w: Impl) {
    run_fails(w, None, "file does not exist");
}

fn run_not_executable(w: Impl) {
    run_fails(w, Some((SLEEP, 0o644)), "access denied");
}

fn run_no_interpreter(w: Impl) {
    run_fails(w, Some(("echo hi\n", 0o755)), "exec format error");
}

fn run_bad_interpreter(w: Impl) {
    run_fails(w, Some(("#!/nonexistent/sh\n", 0o755)), "file does not exist");
}

// ---------------------------------------------------------------------------------------
// Control characters.

/// `h a i q 1 2`: one signal each, no status write.
fn ctl_signals(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    s.spawn_up();
    let before = read(s.p("supervise/status"));
    let mut want = Vec::new();
    for (c, name) in [(b'h', "HUP"), (b'a', "ALRM"), (b'i', "INT"), (b'q', "QUIT"), (b'1', "USR1"), (b'2', "USR2")] {
        s.ctl(&[c]);
        want.push(name);
        assert_eq!(s.wait_sigs(want.len()), want);
    }
    assert_eq!(read(s.p("supervise/status")), before);
    assert_eq!(s.text("supervise/stat"), "run\n");
    assert_eq!(s.err(), "");
}

/// `p`: SIGSTOP and the paused flag; `c`: SIGCONT and the flag cleared. Time does not move.
fn ctl_pause(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    let pid = s.spawn_up();
    let st0 = s.st().unwrap();
    s.ctl(b"p");
    let st = s.wait_tail(b"\x01u\0\x01", "run, paused\n", 0);
    assert_eq!((st.pid, st.tai, st.nano), (pid, st0.tai, st0.nano));
    poll(T, || (proc_state(pid) == "T").then_some(()));
    assert_eq!(proc_state(pid), "T");
    s.ctl(b"c");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    assert_eq!((st.pid, st.tai, st.nano), (pid, st0.tai, st0.nano));
    assert_eq!(s.wait_sigs(1), ["CONT"]);
    assert_ne!(proc_state(pid), "T");
}

/// `d`: TERM then CONT, "got TERM" until it exits, then down; `u` starts it again.
fn ctl_down_up(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    let pid = s.spawn_up();
    let st0 = s.st().unwrap();
    fs::write(s.p("hold"), "").unwrap();
    s.ctl(b"d");
    let st = s.wait_tail(b"\0d\x01\x01", "run, got TERM, want down\n", 0);
    assert_eq!((st.pid, st.tai, st.nano), (pid, st0.tai, st0.nano));
    assert_eq!(s.wait_sigs(2), ["TERM", "CONT"]);
    fs::remove_file(s.p("hold")).unwrap();
    let down = s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert!((down.tai, down.nano) > (st0.tai, st0.nano), "the stamp moves when the service goes down");
    assert!(!alive(pid as i32));
    // d again, and signals while down: no effect.
    s.ctl(b"dhat");
    s.ctl(b"u");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    assert_eq!(s.wait_starts(2)[1], st.pid);
    assert!((st.tai, st.nano) > (down.tai, down.nano));
    assert_eq!(s.sigs(), ["TERM", "CONT"]);
    // `echo d > control`: the newline is ignored.
    s.ctl(b"d\n");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(s.wait_sigs(4), ["TERM", "CONT", "TERM", "CONT"]);
    assert_eq!(s.err(), "");
}

/// `o` starts a down service once; sent while running it only changes want.
fn ctl_once(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    fs::write(s.p("down"), "").unwrap();
    s.spawn();
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.ctl(b"o");
    let st = s.wait_tail(b"\0d\0\x01", "run, want down\n", 0);
    assert_eq!(s.wait_starts(1), [st.pid]);
    // t with want down: TERM and CONT; not restarted.
    s.ctl(b"t");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(s.wait_sigs(2), ["TERM", "CONT"]);
    s.ctl(b"u");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    s.wait_starts(2);
    s.ctl(b"o");
    let st2 = s.wait_tail(b"\0d\0\x01", "run, want down\n", 0);
    assert_eq!((st2.pid, st2.tai, st2.nano), (st.pid, st.tai, st.nano));
    s.ctl(b"h");
    assert_eq!(s.wait_sigs(3), ["TERM", "CONT", "HUP"]);
    // It runs once: exiting by itself leaves it down.
    kill(st.pid, libc::SIGTERM);
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(lines(s.p("starts")).len(), 2);
}

/// `t` with want up: TERM only (no CONT), then the service is restarted.
fn ctl_term_restarts(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    let pid = s.spawn_up();
    s.ctl(b"t");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", pid);
    assert_eq!(s.wait_starts(2), [pid, st.pid]);
    assert!(!alive(pid as i32));
    assert_eq!(s.sigs(), ["TERM"]);
}

/// `k`: SIGKILL, restarted with want up; with want down it stays down.
fn ctl_kill(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    let pid = s.spawn_up();
    s.ctl(b"k");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", pid);
    assert_eq!(s.wait_starts(2), [pid, st.pid]);
    assert!(!alive(pid as i32));
    assert!(s.sigs().is_empty());
    // Stuck in "got TERM": k ends it.
    fs::write(s.p("hold"), "").unwrap();
    s.ctl(b"d");
    s.wait_tail(b"\0d\x01\x01", "run, got TERM, want down\n", 0);
    assert_eq!(s.wait_sigs(2), ["TERM", "CONT"]);
    s.ctl(b"k");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert!(!alive(st.pid as i32));
    assert_eq!(s.sigs(), ["TERM", "CONT"]);
}

/// `x`: TERM, CONT, want exit; runsv exits 0 once the service is down; control/x ran.
fn ctl_exit(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    script(s.p("control/x"), "#!/bin/sh\necho x >> cx\n");
    let pid = s.spawn_up();
    fs::write(s.p("hold"), "").unwrap();
    s.ctl(b"x");
    let st = s.wait_tail(b"\0d\x01\x01", "run, got TERM, want exit\n", 0);
    assert_eq!(st.pid, pid);
    assert_eq!(s.wait_sigs(2), ["TERM", "CONT"]);
    assert!(s.runsv_alive());
    fs::remove_file(s.p("hold")).unwrap();
    assert_eq!(s.wait_exit().code(), Some(0));
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(lines(s.p("cx")), ["x"]);
    assert_eq!(s.err(), "");
}

/// Commands for a service that is down: no signal; `p`/`c` still set the flag; the pause
/// flag is reset by the next start.
fn ctl_while_down(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    fs::write(s.p("down"), "").unwrap();
    s.spawn();
    let st0 = s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.ctl(b"hai12tkd");
    s.ctl(b"p");
    let st = s.wait_tail(b"\x01d\0\0", "down, paused\n", 0);
    assert_eq!((st.tai, st.nano), (st0.tai, st0.nano));
    s.ctl(b"c");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.ctl(b"p");
    s.wait_tail(b"\x01d\0\0", "down, paused\n", 0);
    s.ctl(b"u");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    assert_eq!(s.wait_starts(1), [st.pid]);
    assert!(s.sigs().is_empty());
    assert_ne!(proc_state(st.pid), "T");
}

/// Bytes that are no command change nothing.
fn ctl_garbage(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    s.spawn_up();
    let before = read(s.p("supervise/status"));
    s.ctl(b"\n\0 zZUDXOTKPCHAIQ0345\xff\x80-+?Sbefgjlmnrsvwy");
    s.ctl(b"h");
    assert_eq!(s.wait_sigs(1), ["HUP"]);
    assert_eq!(read(s.p("supervise/status")), before);
    assert_eq!(s.text("supervise/stat"), "run\n");
    assert!(s.runsv_alive());
    assert_eq!(s.err(), "");
}

/// A write much larger than the FIFO buffer is consumed; the command at its end is acted on.
fn ctl_long_write(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    s.spawn_up();
    let mut big = vec![b'Z'; 300_000];
    big.extend_from_slice(b"\nh");
    let dir = s.dir.clone();
    let t = std::thread::spawn(move || control(&dir, &big));
    assert_eq!(s.wait_sigs(1), ["HUP"]);
    t.join().unwrap();
    s.ctl(b"d");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert!(s.runsv_alive());
    assert_eq!(s.err(), "");
}

// ---------------------------------------------------------------------------------------
// ./finish, ./down, the restart throttle.

const FINISH: &str = "#!/bin/sh\necho \"$@\" >> fin\n";

/// Runs the service once with `o` and returns the lines ./finish recorded.
fn finish_once(w: Impl, run: &str, mode: u32, then: &[u8]) -> (Svc, Vec<String>) {
    let mut s = Svc::with_run(w, run);
    fs::set_permissions(s.p("run"), fs::Permissions::from_mode(mode)).unwrap();
    script(s.p("finish"), FINISH);
    fs::write(s.p("down"), "").unwrap();
    s.spawn();
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.ctl(b"o");
    if !then.is_empty() {
        s.wait_tail(b"\0d\0\x01", "run, want down\n", 0);
        s.wait_starts(1);
        s.ctl(then);
    }
    poll(T, || (!lines(s.p("fin")).is_empty()).then_some(()));
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    let fin = lines(s.p("fin"));
    (s, fin)
}

fn finish_exit_code(w: Impl) {
    let (s, fin) = finish_once(w, "#!/bin/sh\nexit 3\n", 0o755, b"");
    assert_eq!(fin, ["3 0"]);
    assert_eq!(s.err(), "");
}

fn finish_signal(w: Impl) {
    let (s, fin) = finish_once(w, SIGRUN, 0o755, b"k");
    assert_eq!(fin, ["-1 9"]);
    assert_eq!(s.err(), "");
}

fn finish_segv(w: Impl) {
    let (s, fin) = finish_once(w, "#!/bin/sh\nkill -SEGV $$\n", 0o755, b"");
    assert_eq!(fin, ["-1 11"]);
    assert_eq!(s.err(), "");
}

fn finish_unexecable_run(w: Impl) {
    let (s, fin) = finish_once(w, SLEEP, 0o644, b"");
    assert_eq!(fin, ["111 0"]);
    assert_eq!(s.err(), "runsv s: fatal: unable to start ./run: access denied\n");
}

/// While ./finish runs: state 2 with finish's pid, the time still that of the run's start.
fn finish_state(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    script(s.p("finish"), "#!/bin/sh\necho $$ > finpid\nwhile [ -e fhold ]; do sleep 0.05; done\necho \"$@\" >> fin\n");
    let pid = s.spawn_up();
    let st0 = s.st().unwrap();
    fs::write(s.p("fhold"), "").unwrap();
    s.ctl(b"d");
    let st = s.wait_tail(b"\0d\0\x02", "finish, want down\n", pid);
    poll(T, || (!s.text("finpid").is_empty()).then_some(()));
    assert_eq!(s.text("finpid"), format!("{}\n", st.pid));
    assert_eq!((st.tai, st.nano), (st0.tai, st0.nano), "finish keeps the run's start stamp");
    fs::remove_file(s.p("fhold")).unwrap();
    let st = s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert!((st.tai, st.nano) > (st0.tai, st0.nano));
    assert_eq!(lines(s.p("fin")), ["0 0"]);
}

/// `down` and `log/down`: nothing is started until `u`.
fn down_file(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    fs::write(s.p("down"), "").unwrap();
    script(s.p("log/run"), "#!/bin/sh\necho $$ >> ../logstarts\nexec cat > /dev/null\n");
    fs::write(s.p("log/down"), "").unwrap();
    s.spawn();
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.wait_log_tail(b"\0d\0\0", "down\n", 0);
    // A barrier: p and c were processed, so the startup is long over.
    s.ctl(b"pc");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert!(!s.p("starts").exists() && !s.p("logstarts").exists());
    // Removing `down` changes nothing: it is read at startup only.
    fs::remove_file(s.p("down")).unwrap();
    control(s.p("log"), b"u");
    let lst = s.wait_log_tail(b"\0u\0\x01", "run\n", 0);
    poll(T, || (!lines(s.p("logstarts")).is_empty()).then_some(()));
    assert_eq!(lines(s.p("logstarts")), [lst.pid.to_string()]);
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.ctl(b"u");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    assert_eq!(s.wait_starts(1), [st.pid]);
}

/// A run that exits at once is restarted at most about once a second.
fn restart_throttle(w: Impl) {
    let mut s = Svc::with_run(w, "#!/bin/sh\necho $$ >> starts\nexit 0\n");
    s.spawn();
    let mut seen: Vec<(u32, f64)> = Vec::new();
    // Each new pid in supervise/pid, with the status stamp of its start.
    poll(T, || {
        if let Some(st) = s.st()
            && st.tail[3] == 1
            && seen.last().is_none_or(|l| l.0 != st.pid)
        {
            seen.push((st.pid, st.secs()));
        }
        (s.wait_starts_now() >= 5).then_some(())
    });
    s.ctl(b"d");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    let starts = s.wait_starts_now();
    assert!(starts >= 5, "{w:?}: only {starts} starts");
    // The status stamps of the starts we caught (a start can be missed, never invented).
    for p in seen.windows(2) {
        assert!(p[1].1 - p[0].1 >= 0.9, "{w:?}: restarts {:.3}s apart: {seen:?}", p[1].1 - p[0].1);
    }
    let st = s.st().unwrap();
    assert_eq!(st.pid, 0);
}

impl Svc {
    /// Waits until `starts` holds at least `n` lines.
    fn wait_starts_n(&self, n: usize) {
        poll(T, || (self.wait_starts_now() >= n).then_some(()));
        assert!(self.wait_starts_now() >= n, "{:?}: {} starts", self.which, self.wait_starts_now());
    }

    fn wait_starts_now(&self) -> usize {
        lines(self.p("starts")).len()
    }
}

// ---------------------------------------------------------------------------------------
// The log service.

/// 100,000 numbered lines while the logger is SIGKILLed five times: the log holds every
/// line exactly once, in order (the pipe keeps its data across logger restarts).
fn log_lines_survive_logger_kills(w: Impl) {
    let run = "#!/bin/sh\ni=0\nwhile [ $i -lt 10 ]; do\n  while [ ! -e go$i ]; do sleep 0.02; done\n  seq $((i*10000+1)) $((i*10000+10000))\n  i=$((i+1))\ndone\nexec sleep 100\n";
    let mut s = Svc::with_run(w, run);
    script(s.p("log/run"), &format!("#!/bin/sh\nexec {} ../out.log\n", helper("splicecat").display()));
    s.spawn();
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    let mut logger = s.wait_log_tail(b"\0u\0\x01", "run\n", 0).pid;
    for i in 0..10 {
        fs::write(s.p(&format!("go{i}")), "").unwrap();
        if i < 5 {
            kill(logger, libc::SIGKILL);
            logger = s.wait_log_tail(b"\0u\0\x01", "run\n", logger).pid;
        }
    }
    let want: String = (1..=100_000).map(|n| format!("{n}\n")).collect();
    poll(T, || (read(s.p("out.log")).len() >= want.len()).then_some(()));
    assert!(read(s.p("out.log")) == want.as_bytes(), "{w:?}: log differs: {} lines", lines(s.p("out.log")).len());
    // x: the service stops, the logger drains and sees EOF, runsv exits 0.
    s.ctl(b"x");
    assert_eq!(s.wait_exit().code(), Some(0));
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.wait_log_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(s.err(), "");
}

// ---------------------------------------------------------------------------------------
// Custom control/ scripts.

/// control/t exiting 0 suppresses the TERM (CONT and control/d still follow for `d`);
/// exiting 1 lets it through.
fn control_t(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    script(s.p("control/t"), "#!/bin/sh\necho t >> ct\nexit 0\n");
    script(s.p("control/d"), "#!/bin/sh\necho d >> cd\n");
    let pid = s.spawn_up();
    s.ctl(b"d");
    assert_eq!(s.wait_sigs(1), ["CONT"]);
    let st = s.wait_tail(b"\0d\0\x01", "run, want down\n", 0);
    assert_eq!(st.pid, pid);
    poll(T, || (!lines(s.p("cd")).is_empty()).then_some(()));
    assert_eq!((lines(s.p("ct")), lines(s.p("cd"))), (vec!["t".to_string()], vec!["d".to_string()]));
    script(s.p("control/t"), "#!/bin/sh\necho t >> ct\nexit 1\n");
    s.ctl(b"d");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(s.wait_sigs(3), ["CONT", "TERM", "CONT"]);
    poll(T, || (lines(s.p("cd")).len() >= 2).then_some(()));
    assert_eq!((lines(s.p("ct")).len(), lines(s.p("cd")).len()), (2, 2));
    assert_eq!(s.err(), "");
}

/// control/u runs before every start of ./run (also automatic restarts and `o`), not on a
/// `u` for a running service; without its x-bit it is not run.
fn control_u(w: Impl) {
    let mut s = Svc::with_run(w, "#!/bin/sh\necho run >> order\nexec sleep 100\n");
    script(s.p("control/u"), "#!/bin/sh\necho u >> order\n");
    s.spawn();
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    poll(T, || (lines(s.p("order")).len() >= 2).then_some(()));
    s.ctl(b"u");
    s.ctl(b"k");
    let st = s.wait_tail(b"\0u\0\x01", "run\n", st.pid);
    poll(T, || (lines(s.p("order")).len() >= 4).then_some(()));
    assert_eq!(lines(s.p("order")), ["u", "run", "u", "run"]);
    s.ctl(b"d");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.ctl(b"o");
    let st = s.wait_tail(b"\0d\0\x01", "run, want down\n", st.pid);
    poll(T, || (lines(s.p("order")).len() >= 6).then_some(()));
    assert_eq!(lines(s.p("order"))[4..], ["u", "run"]);
    fs::set_permissions(s.p("control/u"), fs::Permissions::from_mode(0o644)).unwrap();
    s.ctl(b"u");
    s.ctl(b"k");
    s.wait_tail(b"\0u\0\x01", "run\n", st.pid);
    poll(T, || (lines(s.p("order")).len() >= 7).then_some(()));
    assert_eq!(lines(s.p("order"))[6..], ["run"]);
}

/// control/h: exit 0 suppresses HUP; exit 1 or no x-bit lets it through.
fn control_h(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    script(s.p("control/h"), "#!/bin/sh\necho h >> ch\nexit 0\n");
    s.spawn_up();
    s.ctl(b"ha");
    assert_eq!(s.wait_sigs(1), ["ALRM"]);
    assert_eq!(lines(s.p("ch")), ["h"]);
    script(s.p("control/h"), "#!/bin/sh\necho h >> ch\nexit 1\n");
    s.ctl(b"h");
    assert_eq!(s.wait_sigs(2), ["ALRM", "HUP"]);
    script(s.p("control/h"), "#!/bin/sh\necho h >> ch\nexit 0\n");
    fs::set_permissions(s.p("control/h"), fs::Permissions::from_mode(0o644)).unwrap();
    s.ctl(b"h");
    assert_eq!(s.wait_sigs(3), ["ALRM", "HUP", "HUP"]);
    assert_eq!(lines(s.p("ch")), ["h", "h"]);
}

// ---------------------------------------------------------------------------------------
// SIGTERM to runsv, what a service sees.

/// SIGTERM = `x`: the service gets TERM and CONT, the logger drains to EOF, runsv exits 0.
fn sigterm_with_log(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    fs::write(s.p("pre"), "seq 1 20000\n").unwrap();
    script(s.p("log/run"), "#!/bin/sh\nexec cat > ../out.log\n");
    let pid = s.spawn_up();
    let lpid = s.wait_log_tail(b"\0u\0\x01", "run\n", 0).pid;
    s.runsv().signal(libc::SIGTERM);
    assert_eq!(s.wait_exit().code(), Some(0));
    assert_eq!(s.sigs(), ["TERM", "CONT"]);
    assert!(!alive(pid as i32) && !alive(lpid as i32));
    let want: String = (1..=20000).map(|n| format!("{n}\n")).collect();
    assert!(read(s.p("out.log")) == want.as_bytes(), "the logger did not drain the pipe");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.wait_log_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(s.err(), "");
}

/// A service that does not stop on TERM keeps runsv alive.
fn sigterm_waits_for_service(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    let pid = s.spawn_up();
    fs::write(s.p("hold"), "").unwrap();
    s.runsv().signal(libc::SIGTERM);
    let st = s.wait_tail(b"\0d\x01\x01", "run, got TERM, want exit\n", 0);
    assert_eq!(st.pid, pid);
    assert_eq!(s.wait_sigs(2), ["TERM", "CONT"]);
    assert!(s.runsv_alive());
    fs::remove_file(s.p("hold")).unwrap();
    assert_eq!(s.wait_exit().code(), Some(0));
    s.wait_tail(b"\0d\0\0", "down\n", 0);
}

/// The open fds (name, target) of `pid` once it runs `sleep`; polls until the names are
/// `want` (a shell reading its script or the dynamic loader briefly hold more).
fn sleep_fds(pid: u32, want: &[&str]) -> Vec<(String, String)> {
    let fds = || {
        let mut v: Vec<(String, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.file_name().into_string().unwrap(), fs::read_link(e.path()).unwrap_or_default().display().to_string()))
            .collect();
        v.sort();
        v
    };
    poll(T, || {
        let v = fds();
        let names: Vec<&str> = v.iter().map(|x| x.0.as_str()).collect();
        (read(format!("/proc/{pid}/cmdline")).starts_with(b"sleep\0") && names == want).then_some(())
    });
    fds()
}

/// The service and its logger see only fds 0, 1, 2 (1 and 0 the log pipe), no blocked or
/// ignored signal, and runsv's own environment.
fn child_fds_env(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    script(s.p("log/run"), SLEEP);
    let mut c = s.command("s");
    c.env_clear().env("PATH", "/usr/bin:/bin").env("FOO", "bar baz").env("EMPTY", "");
    s.spawn_cmd(c);
    let pid = s.wait_tail(b"\0u\0\x01", "run\n", 0).pid;
    let lpid = s.wait_log_tail(b"\0u\0\x01", "run\n", 0).pid;
    let (f, l) = (sleep_fds(pid, &["0", "1", "2"]), sleep_fds(lpid, &["0", "1", "2"]));
    assert_eq!(f.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["0", "1", "2"], "{w:?} service fds {f:?}");
    assert_eq!(l.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["0", "1", "2"], "{w:?} logger fds {l:?}");
    assert!(f[1].1.starts_with("pipe:") && f[1].1 == l[0].1, "{f:?} {l:?}");
    for p in [pid, lpid] {
        let status = fs::read_to_string(format!("/proc/{p}/status")).unwrap();
        for key in ["SigBlk:", "SigIgn:"] {
            let line = status.lines().find(|l| l.starts_with(key)).unwrap();
            assert_eq!(line.split_whitespace().nth(1), Some("0000000000000000"), "{w:?} {p}: {line}");
        }
    }
    // The environment, as a program started directly (no shell adding PWD) sees it.
    script(s.p("run"), "#!/usr/bin/tail -f\n");
    s.ctl(b"k");
    let tail = s.wait_tail(b"\0u\0\x01", "run\n", pid).pid;
    let rpid = s.runsv().pid() as u32;
    let env = |p: u32| read(format!("/proc/{p}/environ"));
    assert_eq!(String::from_utf8_lossy(&env(tail)), String::from_utf8_lossy(&env(rpid)));
}

/// Descriptors runsv itself inherited: C runit passes them on to the service; urunit's
/// README promises only 0, 1 and 2 (a project rule, not a runit weakness in the spec).
fn inherited_fds(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    let c = s.command_leaking_fd7();
    s.spawn_cmd(c);
    let pid = s.wait_tail(b"\0u\0\x01", "run\n", 0).pid;
    let want: &[&str] = if w == Impl::C { &["0", "1", "2", "7"] } else { &["0", "1", "2"] };
    let fds: Vec<String> = sleep_fds(pid, want).into_iter().map(|x| x.0).collect();
    match w {
        Impl::C => assert_eq!(fds, ["0", "1", "2", "7"], "C runit leaks what it inherited"),
        Impl::U => assert_eq!(fds, ["0", "1", "2"], "urunit: the service sees only 0, 1, 2"),
    }
}

/// Commands to log/supervise/control: `x` is ignored for the log service, log/control/
/// scripts are never run, `d` stops the logger (TERM, CONT) and `u` starts it again.
fn log_control(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    script(s.p("log/run"), SIGRUN);
    script(s.p("log/control/h"), "#!/bin/sh\necho h >> ch\nexit 0\n");
    s.spawn();
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    let lst = s.wait_log_tail(b"\0u\0\x01", "run\n", 0);
    poll(T, || (!lines(s.p("log/starts")).is_empty()).then_some(()));
    let before = read(s.p("log/supervise/status"));
    control(s.p("log"), b"xh");
    poll(T, || (!lines(s.p("log/sigs")).is_empty()).then_some(()));
    assert_eq!(lines(s.p("log/sigs")), ["HUP"]);
    assert_eq!(read(s.p("log/supervise/status")), before);
    assert!(!s.p("log/ch").exists() && !s.p("ch").exists());
    control(s.p("log"), b"d");
    s.wait_log_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(lines(s.p("log/sigs")), ["HUP", "TERM", "CONT"]);
    control(s.p("log"), b"u");
    let l2 = s.wait_log_tail(b"\0u\0\x01", "run\n", lst.pid);
    poll(T, || (lines(s.p("log/starts")).len() >= 2).then_some(()));
    assert_eq!(lines(s.p("log/starts")), [lst.pid.to_string(), l2.pid.to_string()]);
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    assert!(s.runsv_alive());
}

/// SIGINT: C runit's runsv dies of it and orphans its service; urunit's stops the service
/// like SIGTERM and exits 0 (README: "SIGINT is a stop, like SIGTERM").
fn sigint(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    let pid = s.spawn_up();
    s.runsv().signal(libc::SIGINT);
    let st = s.wait_exit();
    match w {
        Impl::C => {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(st.signal(), Some(libc::SIGINT));
            assert!(alive(pid as i32), "C runit: the service is orphaned");
        }
        Impl::U => {
            assert_eq!(st.code(), Some(0));
            assert_eq!(s.sigs(), ["TERM", "CONT"]);
            s.wait_tail(b"\0d\0\0", "down\n", 0);
        }
    }
}

/// `log/` without `log/run`: each start of the logger fails (the directory is printed as
/// given); the service itself runs.
fn log_run_missing(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    fs::create_dir(s.p("log")).unwrap();
    let c = s.command("./s");
    s.spawn_cmd(c);
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    s.wait_err_lines("runsv ./s: fatal: unable to start log/./run: file does not exist\n", 2);
    assert!(s.runsv_alive());
}

/// A readable but not executable ./finish: its start fails every cycle, then runsv goes on
/// as if it had run (the service is restarted).
fn finish_not_executable(w: Impl) {
    let mut s = Svc::with_run(w, "#!/bin/sh\necho $$ >> starts\nexit 0\n");
    fs::write(s.p("finish"), FINISH).unwrap();
    s.spawn();
    s.wait_starts_n(2);
    s.wait_err_lines("runsv s: fatal: unable to start ./finish: access denied\n", 1);
    s.ctl(b"d");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
}

/// A control script that cannot be exec'd: runit's message with a literal `?`, exit 111,
/// so the command is not handled and the signal is sent.
fn control_exec_failure(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    script(s.p("control/h"), "#!/nonexistent/sh\n");
    s.spawn_up();
    s.ctl(b"h");
    assert_eq!(s.wait_sigs(1), ["HUP"]);
    assert_eq!(s.err(), "runsv s: fatal: unable to run control/?: file does not exist\n");
}

/// ./run, control scripts and ./finish all write to the log pipe.
fn scripts_stdout_to_log(w: Impl) {
    let mut s = Svc::with_run(w, "#!/bin/sh\necho run-out\ntrap '' HUP\nexec sleep 100\n");
    script(s.p("control/h"), "#!/bin/sh\necho h-out\nexit 1\n");
    script(s.p("finish"), "#!/bin/sh\necho fin-out\n");
    script(s.p("log/run"), "#!/bin/sh\nexec cat > ../out.log\n");
    s.spawn();
    wait_until(T, "run-out", || s.text("out.log") == "run-out\n");
    s.ctl(b"h");
    wait_until(T, "h-out", || s.text("out.log") == "run-out\nh-out\n");
    s.ctl(b"x");
    assert_eq!(s.wait_exit().code(), Some(0));
    assert_eq!(s.text("out.log"), "run-out\nh-out\nfin-out\n");
    assert_eq!(s.out(), "");
}

/// supervise/ removed under a running runsv: status updates warn (runit's words, and the
/// update stops at the first failure); `x` still stops the service and runsv exits 0.
fn supervise_removed(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    s.spawn();
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    fs::remove_dir_all(s.p("supervise")).unwrap();
    // The FIFO is gone from the file system: only the signal reaches runsv now.
    s.runsv().signal(libc::SIGTERM);
    assert_eq!(s.wait_exit().code(), Some(0));
    let w1 = "runsv s: warning: unable to open supervise/stat.new: file does not exist\n";
    let w2 = "runsv s: warning: unable to open supervise/pid.new: file does not exist\n";
    assert_eq!(s.err(), format!("{w1}{w1}{w2}"));
}

/// The whole service directory removed (runsvdir then sends SIGTERM): runsv stops the
/// service and exits 0 although its cwd is gone.
fn service_dir_removed(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    s.spawn();
    let pid = s.wait_tail(b"\0u\0\x01", "run\n", 0).pid;
    wait_sleeping(pid);
    fs::remove_dir_all(&s.dir).unwrap();
    s.runsv().signal(libc::SIGTERM);
    assert_eq!(s.wait_exit().code(), Some(0));
    assert!(!alive(pid as i32));
    let w1 = "runsv s: warning: unable to open supervise/stat.new: file does not exist\n";
    let w2 = "runsv s: warning: unable to open supervise/pid.new: file does not exist\n";
    assert_eq!(s.err(), format!("{w1}{w1}{w2}"));
}

// ---------------------------------------------------------------------------------------
// C runit's weaknesses that urunit fixes (runsv.md, "Known weaknesses").

/// Weakness 1: stop signals reach only the direct child in C runit; urunit clears the
/// service's process group once it is stopped (`d`), and `k` SIGKILLs the whole group, so a
/// run script that does not exec loses its children too.
fn w1_signals_reach_process_group(w: Impl) {
    w1_grandchild(w, b"d", b"\0d\0\0", "down\n");
}

fn w1_kill_reaches_process_group(w: Impl) {
    w1_grandchild(w, b"k", b"\0u\0\x01", "run\n");
}

/// Sends `cmd` to a run script with a background child; waits for the status `tail`/`stat`
/// (with a new pid if running); the child must survive in C runit, not in urunit.
fn w1_grandchild(w: Impl, cmd: &[u8], tail: &[u8; 4], stat: &str) {
    let mut s = Svc::with_run(w, "#!/bin/sh\nsleep 100 &\necho $! >> child\nwait\n");
    s.spawn();
    let st = s.wait_tail(b"\0u\0\x01", "run\n", 0);
    poll(T, || (!s.text("child").is_empty()).then_some(()));
    let child: i32 = lines(s.p("child"))[0].parse().unwrap();
    s.ctl(cmd);
    s.wait_tail(tail, stat, st.pid);
    match w {
        Impl::C => assert!(alive(child), "C runit: the grandchild survives"),
        Impl::U => {
            poll(T, || (!alive(child)).then_some(()));
            assert!(!alive(child), "urunit: the grandchild was not stopped (weakness 1)");
        }
    }
}

/// Weakness 2: C runit's 1-second throttle is a blocking sleep: a `d` sent during it is
/// acted on only after the second. urunit acts on it during the throttle. Both never start
/// the service again. When runsv wrote the status is read from the file's mtime (kernel
/// time); the check is made only when the `d` was sent well inside the throttle, and it
/// leaves urunit 0.7 s to react.
fn w2_commands_during_throttle(w: Impl) {
    let mut s = Svc::with_run(w, "#!/bin/sh\ndate +%s.%N >> times\nexit 0\n");
    s.spawn();
    poll(T, || (!lines(s.p("times")).is_empty()).then_some(()));
    let start: f64 = lines(s.p("times"))[0].parse().unwrap();
    // The run exited and runsv noticed (down, want up, stamped after the run started; the
    // startup status is down, want up too, but stamped before).
    let seen = poll(T, || s.st().filter(|st| st.tail == *b"\0u\0\0" && st.secs() > start));
    assert!(seen.is_some(), "{w:?}: no down status after the first run: {:?}", s.st());
    s.ctl(b"d");
    let sent = now();
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    let written = fs::metadata(s.p("supervise/status")).unwrap().modified().unwrap();
    let written = written.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    // A barrier: p was processed, so a restart would have happened.
    s.ctl(b"p");
    s.wait_tail(b"\x01d\0\0", "down, paused\n", 0);
    assert_eq!(lines(s.p("times")).len(), 1, "{w:?}: started again after d");
    if sent - start > 0.3 {
        eprintln!("w2: d was sent {:.2}s after the start, too late to tell", sent - start);
        return;
    }
    match w {
        Impl::C => assert!(written - start >= 0.9, "C runit sleeps: d acted on after {:.3}s", written - start),
        Impl::U => assert!(written - start < 1.0, "urunit acted on d {:.3}s after the start, after the throttle (weakness 2)", written - start),
    }
}

/// Weakness 6: with a log service, C runit's runsv does not exit on `x` while a child the
/// service left behind still holds the log pipe. urunit clears the stopped service's
/// process group, so the logger sees EOF and runsv exits 0.
fn w6_exit_with_daemonised_child(w: Impl) {
    let mut s = Svc::with_run(w, "#!/bin/sh\nsleep 100 &\necho $! >> child\nexec sleep 100\n");
    script(s.p("log/run"), "#!/bin/sh\nexec cat > /dev/null\n");
    s.spawn();
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    s.wait_log_tail(b"\0u\0\x01", "run\n", 0);
    wait_until(T, "child", || !s.text("child").is_empty());
    let child: i32 = lines(s.p("child"))[0].parse().unwrap();
    s.ctl(b"x");
    match w {
        Impl::C => {
            s.wait_tail(b"\0d\0\0", "down\n", 0);
            s.wait_log_tail(b"\0d\0\x01", "run, want exit\n", 0);
            assert!(s.runsv_alive() && alive(child), "C runit waits for the logger, which waits for the child");
        }
        Impl::U => {
            assert_eq!(s.wait_exit().code(), Some(0), "urunit exits (weakness 6)");
            assert!(!alive(child));
        }
    }
}

/// Weakness 7: `k` while ./finish runs must not mark the service down: runsv must not exit
/// (on `x`) while ./finish still runs.
fn w7_kill_during_finish(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    script(s.p("finish"), "#!/bin/sh\necho $$ > finpid\nwhile [ -e fhold ]; do sleep 0.05; done\n");
    let pid = s.spawn_up();
    fs::write(s.p("fhold"), "").unwrap();
    s.ctl(b"d");
    let fst = s.wait_tail(b"\0d\0\x02", "finish, want down\n", pid);
    // p writes the status in every implementation: a barrier for k and x.
    s.ctl(b"kxp");
    poll(T, || (s.st().is_some_and(|st| st.tail[0] == 1) || !s.runsv_alive()).then_some(()));
    let finish_alive = alive(fst.pid as i32);
    match w {
        Impl::C => assert!(finish_alive && !s.runsv_alive(), "C runit exits with ./finish still running"),
        Impl::U => {
            assert!(!finish_alive || s.runsv_alive(), "urunit exited with ./finish running (D6)");
        }
    }
    fs::remove_file(s.p("fhold")).unwrap();
    if w == Impl::U {
        // urunit's `k` ends ./finish (README D6); `x` then lets runsv exit with the service
        // down. Whether `p` is read before runsv exits depends on timing.
        assert_eq!(s.wait_exit().code(), Some(0));
        let st = s.st().unwrap();
        assert_eq!((st.pid, st.tail[3]), (0, 0), "down at the end");
        assert!(!alive(fst.pid as i32), "./finish was killed");
    }
}

/// Weakness 8: a control script killed by a signal is "handled" in C runit; urunit sends the
/// signal.
fn w8_killed_control_script(w: Impl) {
    let mut s = Svc::with_run(w, SIGRUN);
    script(s.p("control/h"), "#!/bin/sh\nkill -9 $$\n");
    s.spawn_up();
    s.ctl(b"ha");
    match w {
        Impl::C => assert_eq!(s.wait_sigs(1), ["ALRM"]),
        // Both arrive; the order in which the shell runs its traps is not the point.
        Impl::U => {
            let mut got = s.wait_sigs(2);
            got.sort();
            assert_eq!(got, ["ALRM", "HUP"], "urunit: a killed control/h does not handle h (weakness 8)")
        }
    }
}

#[test]
fn splicecat_helper_resolves() {
    assert!(helper("splicecat").is_file());
}

// ---------------------------------------------------------------------------------------
// urunit only: critical services (README, runsv section).

/// A `critical` service that exits on its own: ./finish runs, the logger drains, runsv
/// exits with the service's exit code.
#[test]
fn u_only_critical_exit_code() {
    let mut s = Svc::with_run(Impl::U, "#!/bin/sh\nseq 1 1000\nexec sleep 100\n");
    fs::write(s.p("critical"), "").unwrap();
    script(s.p("finish"), FINISH);
    script(s.p("log/run"), "#!/bin/sh\nexec cat > ../out.log\n");
    s.spawn();
    let pid = s.wait_tail(b"\0u\0\x01", "run\n", 0).pid;
    // Once it exec'd sleep, all its lines are in the pipe or the log.
    wait_sleeping(pid);
    kill(pid, libc::SIGKILL);
    assert_eq!(s.wait_exit().code(), Some(128 + 9));
    assert_eq!(lines(s.p("fin")), ["-1 9"]);
    let want: String = (1..=1000).map(|n| format!("{n}\n")).collect();
    assert!(read(s.p("out.log")) == want.as_bytes(), "the logger drained the pipe");

    let mut s = Svc::with_run(Impl::U, "#!/bin/sh\nexit 7\n");
    fs::write(s.p("critical"), "").unwrap();
    script(s.p("finish"), FINISH);
    // runsv may be gone before anyone sees it supervising.
    s.runsv = Some(Proc::spawn(s.command("s")));
    assert_eq!(s.wait_exit().code(), Some(7));
    assert_eq!(lines(s.p("fin")), ["7 0"]);
    assert_eq!(s.err(), "");
}

/// A `critical` service stopped with `d` is not "ending on its own": runsv stays.
#[test]
fn u_only_critical_down_is_not_an_exit() {
    let mut s = Svc::with_run(Impl::U, SIGRUN);
    fs::write(s.p("critical"), "").unwrap();
    s.spawn_up();
    s.ctl(b"d");
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    s.ctl(b"p");
    s.wait_tail(b"\x01d\0\0", "down, paused\n", 0);
    assert!(s.runsv_alive());
    s.ctl(b"x");
    assert_eq!(s.wait_exit().code(), Some(0));
}
