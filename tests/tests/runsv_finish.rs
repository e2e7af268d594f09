//! runsv: ./finish, ./down, the restart throttle, and critical services (urunit only).
//!
//! Scenarios run against C runit's runsv (`c::NAME`) and urunit's (`u::NAME`): see runsv_common.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::UNIX_EPOCH;
use urunit_tests::*;

mod runsv_common;
use runsv_common::*;

both!(
    finish_exit_code,
    finish_signal,
    finish_segv,
    finish_unexecable_run,
    finish_state,
    finish_not_executable,
    down_file,
    restart_throttle,
    w2_commands_during_throttle,
    w6_exit_with_daemonised_child,
    w7_kill_during_finish,
    w8_killed_control_script,
);

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

// ---------------------------------------------------------------------------------------
// Where urunit differs from C runit on purpose (README "runsv", D1-D14).

/// D1 (no blocking sleep): C runit's 1-second throttle is a blocking sleep: a `d` sent during it is
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
        Impl::U => {
            assert!(written - start < 1.0, "urunit acted on d {:.3}s after the start, after the throttle (D1)", written - start)
        }
    }
}

/// D2 (nothing a service started survives its stop): with a log service, C runit's runsv does not exit on `x` while a child the
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
            assert_eq!(s.wait_exit().code(), Some(0), "urunit exits (D2)");
            assert!(!alive(child));
        }
    }
}

/// D6 (`sv kill` during ./finish): `k` while ./finish runs must not mark the service down: runsv must not exit
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

/// D7 (a killed control script): a control script killed by a signal is "handled" in C runit; urunit sends the
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
            assert_eq!(got, ["ALRM", "HUP"], "urunit: a killed control/h does not handle h (D7)")
        }
    }
}

// ---------------------------------------------------------------------------------------
// urunit only: critical services (README "runsv", D10).

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
