//! runsv: start-up and supervise/: usage, a second runsv, the supervise/ files (symlinked,
//! bad, in a read-only service directory), a bad log/ or ./run, supervise/ or the service
//! directory removed under a running runsv.
//!
//! The control bytes, ./finish and the log service are in runsv_control.rs, runsv_finish.rs
//! and runsv_log.rs; the harness they share is runsv_common/mod.rs.
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::process::Command;
use urunit_tests::*;

mod runsv_common;
use runsv_common::*;

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
    supervise_removed,
    service_dir_removed,
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
    for (dir, e) in [
        ("-x", "file does not exist"),
        ("missing", "file does not exist"),
        ("", "file does not exist"),
        ("file", "not a directory"),
    ] {
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
        expect(
            &run(s.command(name), T),
            111,
            "",
            &format!("runsv {name}: fatal: unable to lock supervise/lock: temporary failure\n"),
        );
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
    s.wait_health();
    assert!(alive(st.pid as i32));
    let mut names: Vec<String> =
        fs::read_dir(s.p("supervise")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
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
    let mut after: Vec<String> =
        fs::read_dir(s.p("supervise")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
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
        s.wait_health();
        for d in [made, s.tmp.join("lstate")] {
            assert!(fs::symlink_metadata(&d).unwrap().is_dir(), "{}", d.display());
            assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o700);
            let mut names: Vec<String> =
                fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
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
                    || libc::mount(none, dir.as_ptr(), none, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY, std::ptr::null())
                        != 0
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
        // urunit keeps the state in the run directory instead (README D14, "Read-only and
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
        // Nowhere to write at all (the run directory is inside the read-only one): the state
        // is kept in memory, the service runs, and runsv idles without a wake-up of its own
        // (CPU time over a second, in clock ticks: a loop that spins uses about 100).
        let mut s = Svc::with_run(w, "#!/bin/sh\n: > ../started\nexec sleep 100\n");
        let mut c = ro(&s);
        c.env("URUNIT_RUNDIR", s.p("rundir"));
        s.runsv = Some(Proc::spawn(c));
        wait_until(T, "run started", || s.tmp.join("started").exists());
        let cpu = |pid: i32| -> u64 {
            let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let f: Vec<&str> = st.rsplit(')').next().unwrap().split_whitespace().collect();
            f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
        };
        let pid = s.runsv().pid();
        let (t0, c0) = (std::time::Instant::now(), cpu(pid));
        wait_until(T, "a second of idling", || t0.elapsed().as_secs_f64() >= 1.0);
        assert!(cpu(pid) - c0 < 20, "runsv used {} ticks in a second with nowhere to write", cpu(pid) - c0);
        assert!(s.err().contains("its state is kept in memory"), "{}", s.err());
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
// supervise/ or the service directory removed under a running runsv.

/// The warnings of a stop after supervise/ is gone: runit warns at each step of SIGTERM's
/// turn (`want exit`, then `got TERM`); urunit writes once per turn (README D15).
fn removed_warnings(w: Impl) -> String {
    let w1 = "runsv s: warning: unable to open supervise/stat.new: file does not exist\n";
    let w2 = "runsv s: warning: unable to open supervise/pid.new: file does not exist\n";
    if w == Impl::C { format!("{w1}{w1}{w2}") } else { format!("{w1}{w2}") }
}

/// supervise/ removed under a running runsv: status updates warn (runit's words, and the
/// update stops at the first failure); `x` still stops the service and runsv exits 0.
fn supervise_removed(w: Impl) {
    let mut s = Svc::with_run(w, SLEEP);
    s.spawn();
    s.wait_tail(b"\0u\0\x01", "run\n", 0);
    s.wait_health();
    fs::remove_dir_all(s.p("supervise")).unwrap();
    // The FIFO is gone from the file system: only the signal reaches runsv now.
    s.runsv().signal(libc::SIGTERM);
    assert_eq!(s.wait_exit().code(), Some(0));
    assert_eq!(s.err(), removed_warnings(w));
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
    assert_eq!(s.err(), removed_warnings(w));
}

// ---------------------------------------------------------------------------------------
// README D15: urunit's runsv writes supervise/ once per turn of its loop (no C counterpart:
// C runit's runsv writes after each step, and makes `ok` before its first start).

/// runit's order, kept with the writes once per turn: `status` is written before `ok` is
/// made (whoever finds runsv running can read its status), and a status that names the
/// pid of ./run comes after `ok` (whoever sees the service running finds runsv running).
#[test]
fn d15_status_before_ok_and_run_after() {
    for _ in 0..20 {
        let mut s = Svc::with_run(Impl::U, SLEEP);
        s.spawn();
        poll(T, || s.p("supervise/ok").exists().then_some(())).expect("supervise/ok made");
        assert!(s.st().is_some(), "no whole status when ok appeared");
        let mut s2 = Svc::with_run(Impl::U, SLEEP);
        s2.spawn();
        let st = poll(T, || s2.st().filter(|st| st.pid != 0)).expect("a status with a pid");
        assert!(s2.p("supervise/ok").exists(), "status names pid {} before ok exists", st.pid);
        assert_eq!(s2.text("supervise/pid"), format!("{}\n", st.pid));
        for mut x in [s, s2] {
            x.runsv().signal(libc::SIGTERM);
            assert_eq!(x.wait_exit().code(), Some(0));
        }
    }
}

/// A service that never starts (`down`) still gets an empty `pid`, as in runit.
#[test]
fn d15_pid_file_of_a_down_service() {
    let mut s = Svc::with_run(Impl::U, SLEEP);
    fs::write(s.p("down"), "").unwrap();
    s.spawn();
    s.wait_tail(b"\0d\0\0", "down\n", 0);
    assert_eq!(fs::read(s.p("supervise/pid")).expect("supervise/pid there"), b"");
    s.runsv().signal(libc::SIGTERM);
    assert_eq!(s.wait_exit().code(), Some(0));
}

/// A stop (SIGTERM to runsv, ./run exits, ./finish runs) renames each file once per turn:
/// `stat` and `status` three times (`run, got TERM, want exit`; `finish, want exit`;
/// `down`), `pid` twice (./finish's pid, then empty), `health` once (`killed PID 15`).
/// runit writes `stat` and `status` five times each for the same stop.
#[test]
fn d15_one_write_per_turn() {
    let mut s = Svc::with_run(Impl::U, SLEEP);
    script(s.p("finish"), "#!/bin/sh\nexit 0\n");
    fs::write(s.p("settle-ms"), "0\n").unwrap();
    s.spawn();
    let pid = s.wait_tail(b"\0u\0\x01", "run\n", 0).pid;
    let ready = format!("ready {pid}\n");
    wait_until(T, "health ready", || fs::read_to_string(s.p("supervise/health")).ok().as_deref() == Some(&ready));
    // SAFETY: plain inotify calls on a descriptor owned here; the buffer outlives the reads.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    assert!(fd >= 0);
    let dir = std::ffi::CString::new(s.p("supervise").to_str().unwrap()).unwrap();
    assert!(unsafe { libc::inotify_add_watch(fd, dir.as_ptr(), libc::IN_MOVED_TO) } >= 0);
    s.runsv().signal(libc::SIGTERM);
    assert_eq!(s.wait_exit().code(), Some(0));
    assert_eq!(s.text("supervise/stat"), "down\n");
    let mut names = Vec::new();
    let mut buf = [0u8; 8192];
    // SAFETY: as above; a non-blocking read after runsv has exited returns what is queued.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    loop {
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let mut i = 0;
        while i + 16 <= n as usize {
            let len = u32::from_ne_bytes(buf[i + 12..i + 16].try_into().unwrap()) as usize;
            let name = &buf[i + 16..i + 16 + len];
            names.push(String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap_or(len)]).into_owned());
            i += 16 + len;
        }
    }
    unsafe { libc::close(fd) };
    let count = |f: &str| names.iter().filter(|n| *n == f).count();
    assert_eq!((count("stat"), count("status"), count("pid"), count("health")), (3, 3, 2, 1), "renames: {names:?}");
}
