//! runsv: the log service and its pipe, SIGTERM and SIGINT to runsv, what a service sees
//! (fds, signals, environment), and stop signals reaching the service's process group.
//!
//! Scenarios run against C runit's runsv (`c::NAME`) and urunit's (`u::NAME`): see runsv_common.
use std::fs;
use urunit_tests::*;

mod runsv_common;
use runsv_common::*;

both!(
    log_lines_survive_logger_kills,
    log_control,
    log_run_missing,
    sigterm_with_log,
    sigterm_waits_for_service,
    sigint,
    child_fds_env,
    inherited_fds,
    scripts_stdout_to_log,
    w1_signals_reach_process_group,
    w1_kill_reaches_process_group,
);

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

#[test]
fn splicecat_helper_resolves() {
    assert!(helper("splicecat").is_file());
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

// ---------------------------------------------------------------------------------------
// SIGTERM and SIGINT to runsv, what a service sees.

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
    s.held_stop_then_exit(pid);
}

/// SIGINT: C runit's runsv dies of it and orphans its service; urunit's stops the service
/// like SIGTERM and exits 0 (README D3: "SIGINT is a stop, like SIGTERM").
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
/// README promises only 0, 1 and 2 (D4).
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

// ---------------------------------------------------------------------------------------
// Where urunit differs from C runit on purpose (README "runsv", D1-D14).

/// D2 (nothing a service started survives its stop): stop signals reach only the direct child in C runit; urunit clears the
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
            assert!(!alive(child), "urunit: the grandchild was not stopped (D2)");
        }
    }
}
