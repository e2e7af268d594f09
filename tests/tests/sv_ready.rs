//! sv with urunit's new supervise files, through a fake runsv the test drives (so these
//! do not depend on runsv writing them): `health` (ok only when READY, what happened to a
//! run that exits during the wait, the dependency a held ./run waits for, `sv check`),
//! and the run directory for read-only service directories (R/KEY/).
mod sv_common;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use sv_common::*;
use urunit_tests::*;

fn run_sv(dir: &Path, args: &[&str]) -> Output {
    let mut c = sv(Sv::Urunit, dir);
    c.args(args);
    run(c, 60)
}

/// A status from before sv started (a command's effect cannot be seen in it).
fn old(pid: u32, want: u8, state: u8) -> Vec<u8> {
    pack(now() as u64 - 100, pid, 0, want, 0, state)
}

/// A service down between runs, wanted up: (stamp, pid, paused, want, term, state).
fn down_want_up() -> Vec<u8> {
    pack(future(), 0, 0, b'u', 0, 0)
}

const OK_RUN: &str = "ok: run: svc: (pid 42) 0s\n";
const TIMEOUT_RUN: &str = "timeout: run: svc: (pid 42) 0s\n";

#[test]
fn ok_only_when_ready() {
    let t = TempDir::new("svrdy");
    let mut f = Fake::with(&t.join("svc"), running());
    f.health("ready 42");
    for verb in ["up", "start", "restart", "force-restart", "check"] {
        expect(&run_sv(t.path(), &["-w", "5", verb, "svc"]), 0, OK_RUN, "");
    }
    // up and start send nothing to a service that wants up already (runit's rule).
    assert_eq!(f.written(), "tcutcu");
    // Running is not enough: starting, or ready for another pid (an earlier run).
    for h in ["starting 42", "ready 41"] {
        f.health(h);
        for verb in ["up", "start", "restart", "check"] {
            expect(&run_sv(t.path(), &["-w", "0", verb, "svc"]), 1, TIMEOUT_RUN, "");
        }
    }
    // Commands that do not wait for up are not affected; status lines stay runit's.
    expect(&run_sv(t.path(), &["-w", "0", "hup", "svc"]), 0, OK_RUN, "");
    expect(&run_sv(t.path(), &["status", "svc"]), 0, "run: svc: (pid 42) 0s\n", "");
    // once: runs, will not be restarted, and is ready.
    f.set(pack(future(), 42, 0, b'd', 0, 1));
    expect(&run_sv(t.path(), &["-w", "0", "once", "svc"]), 1, "timeout: run: svc: (pid 42) 0s, want down\n", "");
    f.health("ready 42");
    expect(&run_sv(t.path(), &["-w", "0", "once", "svc"]), 0, "ok: run: svc: (pid 42) 0s, want down\n", "");
}

#[test]
fn becomes_ready_during_the_wait() {
    let t = TempDir::new("svrdy2");
    let d = t.join("svc");
    let mut f = Fake::with(&d, pack(future(), 42, 0, b'd', 0, 1));
    f.health("starting 42");
    let mut c = sv(Sv::Urunit, t.path());
    c.args(["-w", "60", "up", "svc"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut p = Proc::spawn(c);
    wait_until(20, "u sent", || f.written() == "u");
    assert!(p.child.try_wait().unwrap().is_none(), "answered before the service was ready");
    f.set(running());
    f.health("ready 42");
    expect(&p.output(30), 0, OK_RUN, "");
}

/// Starts `sv -w 60 ARGS svc` on the fake, waits for it to send `sent`, then writes each
/// (status, health) step; returns sv's output.
fn during_wait(f: &mut Fake, t: &TempDir, args: &[&str], sent: &str, steps: &[(Vec<u8>, &str)]) -> Output {
    let mut c = sv(Sv::Urunit, t.path());
    c.args(["-w", "60"]).args(args).arg("svc").stdout(Stdio::piped()).stderr(Stdio::piped());
    let p = Proc::spawn(c);
    let mut got = String::new();
    wait_until(20, "command sent", || {
        got += &f.written();
        got == sent
    });
    for (st, h) in steps {
        f.set(st.clone());
        f.health(h);
    }
    p.output(30)
}

#[test]
fn run_that_ends_during_the_wait_fails() {
    let cases: &[(&[&str], &str, &str, &str)] = &[
        (&["up"], "u", "exited 43 3", "fail: svc: ./run exited 3\n"),
        (&["start"], "u", "killed 43 9", "fail: svc: ./run killed by signal 9\n"),
        (&["-v", "once"], "o", "exited 43 2", "fail: svc: ./run exited 2\n"),
        (&["up"], "u", "failed 43 exited 1", "fail: svc: ./run failed too often, runsv gave up (exited 1)\n"),
        (&["up"], "u", "failed 43 killed 6", "fail: svc: ./run failed too often, runsv gave up (killed by signal 6)\n"),
    ];
    for (args, sent, h, out) in cases {
        let t = TempDir::new("svfail");
        let mut f = Fake::with(&t.join("svc"), old(0, b'd', 0));
        // A stale line from an earlier run: not news for this command.
        f.health("killed 41 15");
        let o = during_wait(&mut f, &t, args, sent, &[(pack(future(), 43, 0, b'u', 0, 1), "starting 43"), (down_want_up(), h)]);
        expect(&o, 1, out, "");
    }
    // `restart`: the old run it stops is not a failure; the new one's exit is.
    let t = TempDir::new("svfail");
    let mut f = Fake::with(&t.join("svc"), old(42, b'u', 1));
    f.health("ready 42");
    let steps =
        [(down_want_up(), "killed 42 15"), (pack(future(), 43, 0, b'u', 0, 1), "starting 43"), (down_want_up(), "exited 43 1")];
    expect(&during_wait(&mut f, &t, &["restart"], "tcu", &steps), 1, "fail: svc: ./run exited 1\n", "");
    // A once run that exits 0 did what was asked.
    let t = TempDir::new("svfail");
    let mut f = Fake::with(&t.join("svc"), old(0, b'd', 0));
    f.health("killed 41 15");
    let steps = [(pack(future(), 0, 0, b'd', 0, 0), "exited 43 0")];
    expect(&during_wait(&mut f, &t, &["-v", "once"], "o", &steps), 0, "ok: down: svc: 0s, normally up\n", "");
}

#[test]
fn old_exits_are_not_news() {
    let t = TempDir::new("svstale");
    let f = Fake::with(&t.join("svc"), running());
    // The pid the service had when the command was sent (restart stops it).
    f.health("killed 42 15");
    expect(&run_sv(t.path(), &["-w", "0", "restart", "svc"]), 1, TIMEOUT_RUN, "");
    // What health said before the command.
    f.set(down_want_up());
    f.health("exited 41 1");
    let to = "timeout: down: svc: 0s, normally up, want up\n";
    expect(&run_sv(t.path(), &["-w", "0", "up", "svc"]), 1, to, "");
    f.health("failed 41 exited 1");
    expect(&run_sv(t.path(), &["-w", "0", "up", "svc"]), 1, to, "");
    // check does not fail fast: it waits for READY.
    expect(&run_sv(t.path(), &["-w", "0", "check", "svc"]), 1, to, "");
}

#[test]
fn held_for_a_dependency() {
    let t = TempDir::new("svdep");
    let f = Fake::with(&t.join("svc"), down_want_up());
    let to = "timeout: down: svc: 0s, normally up, want up\n";
    f.health("waiting db");
    expect(&run_sv(t.path(), &["-w", "1", "up", "svc"]), 1, to, "warning: svc: waiting for dependency db\n");
    expect(&run_sv(t.path(), &["-w", "0", "check", "svc"]), 1, to, "warning: svc: waiting for dependency db\n");
    f.health("missing cache");
    expect(&run_sv(t.path(), &["-w", "0", "start", "svc"]), 1, to, "warning: svc: dependency cache does not exist\n");
    // Two services: each line in order, the warning after its timeout line.
    let g = Fake::with(&t.join("web"), down_want_up());
    g.health("waiting svc");
    let o = run_sv(t.path(), &["-w", "0", "up", "svc", "web"]);
    let to2 = "timeout: down: web: 0s, normally up, want up\n";
    expect(
        &o,
        2,
        &format!("{to}{to2}"),
        "warning: svc: dependency cache does not exist\nwarning: web: waiting for dependency svc\n",
    );
}

#[test]
fn check_trusts_health() {
    let t = TempDir::new("svchk");
    let d = t.join("svc");
    let f = Fake::with(&d, running());
    // With health, ./check is not run: runsv runs it and reports through health.
    script(d.join("check"), "#!/bin/sh\ntouch ran\nexit 1\n");
    f.health("ready 42");
    expect(&run_sv(t.path(), &["-w", "0", "check", "svc"]), 0, OK_RUN, "");
    expect(&run_sv(t.path(), &["-w", "0", "up", "svc"]), 0, OK_RUN, "");
    script(d.join("check"), "#!/bin/sh\ntouch ran\nexit 0\n");
    f.health("starting 42");
    expect(&run_sv(t.path(), &["-w", "0", "check", "svc"]), 1, TIMEOUT_RUN, "");
    assert!(!d.join("ran").exists(), "./check was run although health exists");
    // A service stopped on purpose passes; one that should run and does not, fails.
    f.set(pack(future(), 0, 0, b'd', 0, 0));
    f.health("killed 42 15");
    expect(&run_sv(t.path(), &["-w", "0", "check", "svc"]), 0, "ok: down: svc: 0s, normally up\n", "");
    f.set(down_want_up());
    expect(&run_sv(t.path(), &["-w", "0", "check", "svc"]), 1, "timeout: down: svc: 0s, normally up, want up\n", "");
    // Without health: runit's behaviour, ./check decides.
    std::fs::remove_file(f.sup.join("health")).unwrap();
    f.set(running());
    expect(&run_sv(t.path(), &["-w", "0", "check", "svc"]), 0, OK_RUN, "");
    assert!(d.join("ran").exists());
}

// ---- The run directory.

/// R/KEY for a service directory (its physical path, `/` as %2F, `%` as %25).
fn keyed(r: &Path, dir: &Path) -> PathBuf {
    let p = std::fs::canonicalize(dir).unwrap();
    let p = p.to_str().unwrap();
    r.join(p[1..].replace('%', "%25").replace('/', "%2F"))
}

#[test]
fn run_directory_lookup() {
    let t = TempDir::new("svrd");
    let r = t.join("rundir");
    let d = t.join("sv/a%b");
    std::fs::create_dir_all(d.join("log")).unwrap();
    std::os::unix::fs::symlink("a%b", t.join("sv/alias")).unwrap();
    script(d.join("run"), RUN);
    let mut f = Fake::at(&keyed(&r, &d));
    f.set(running());
    let l = Fake::at(&keyed(&r, &d.join("log")));
    l.set(pack(future(), 44, 0, b'u', 0, 1));
    let svdir = t.join("sv");
    let go = |args: &[&str]| {
        let mut c = sv(Sv::Urunit, &svdir);
        c.env("URUNIT_RUNDIR", &r).args(args);
        run(c, 60)
    };
    let both = "run: a%b: (pid 42) 0s; run: log: (pid 44) 0s\n";
    expect(&go(&["status", "a%b"]), 0, both, "");
    // The key is the physical path: a symlink names the same service.
    expect(&go(&["status", "alias"]), 0, "run: alias: (pid 42) 0s; run: log: (pid 44) 0s\n", "");
    f.set(pack(future(), 0, 0, b'd', 0, 0));
    expect(&go(&["-w", "5", "down", "a%b"]), 0, "ok: down: a%b: 0s, normally up\n", "");
    assert_eq!(f.written(), "d");
    f.set(running());
    f.health("ready 42");
    expect(&go(&["-w", "5", "check", "a%b"]), 0, "ok: run: a%b: (pid 42) 0s\n", "");
    f.health("starting 42");
    expect(&go(&["-w", "0", "check", "a%b"]), 1, "timeout: run: a%b: (pid 42) 0s\n", "");
    // LSB mode finds it too.
    let link = initd_link(Sv::Urunit, &t.join("init.d"), "alias");
    let mut c = Command::new(link);
    c.env("SVDIR", &svdir).env("URUNIT_RUNDIR", &r).args(["status"]);
    expect(&run(c, 60), 0, "run: alias: (pid 42) 0s; run: log: (pid 44) 0s\n", "");
    // A usable supervise/ comes first.
    let _own = Fake::with(&d, pack(future(), 50, 0, b'u', 0, 1));
    expect(&go(&["status", "a%b"]), 0, "run: a%b: (pid 50) 0s; run: log: (pid 44) 0s\n", "");
    // Without URUNIT_RUNDIR: /run/urunit, where this service is not.
    let mut c = sv(Sv::Urunit, &svdir);
    c.env_remove("URUNIT_RUNDIR").args(["status", "alias"]);
    expect(&run(c, 60), 1, "run: alias: (pid 50) 0s; warning: alias/log: unable to open supervise/ok: file does not exist\n", "");
}

#[test]
fn no_writable_place() {
    let t = TempDir::new("svrdno");
    let d = t.join("sv/ro");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(t.join("closed")).unwrap();
    std::fs::create_dir_all(t.join("open")).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(t.join("closed"), std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(t.join("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let go = |r: &str, args: &[&str]| {
        let mut c = sv(Sv::Urunit, &t.join("sv"));
        c.env("URUNIT_RUNDIR", t.join(r)).args(args);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root writes anywhere: take the place of a user who cannot.
            c.uid(65534).gid(65534);
        }
        run(c, 60)
    };
    let long = "warning: ro: unable to open supervise/ok: file does not exist \
                (read-only service directory and no writable $URUNIT_RUNDIR or /run/urunit)\n";
    expect(&go("closed", &["status", "ro"]), 1, long, "");
    expect(&go("closed", &["-w", "5", "down", "ro"]), 1, long, "");
    expect(&go("missing", &["check", "ro"]), 1, long, "");
    // A writable run directory: runsv has not started yet, runit's line.
    expect(&go("open", &["status", "ro"]), 1, "warning: ro: unable to open supervise/ok: file does not exist\n", "");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
}
