//! runsv: control bytes (every command to supervise/control and what the service and the
//! supervise/ files show after it) and custom control/ scripts.
//!
//! Scenarios run against C runit's runsv (`c::NAME`) and urunit's (`u::NAME`): see runsv_common.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use urunit_tests::*;

mod runsv_common;
use runsv_common::*;

both!(
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
    control_t,
    control_u,
    control_h,
    control_exec_failure,
);

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
    s.held_stop_then_exit(pid);
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
