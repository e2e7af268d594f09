//! runsvdir when it is not PID 1: runit's behaviour (arguments, messages, exit codes, SIGTERM
//! and SIGHUP), and urunit's instant pickup of added, removed and replaced services.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use urunit_tests::*;

mod runsvdir_common;
use runsvdir_common::{children, service, setup};

fn up(out: &Path, name: &str) -> bool {
    out.join(format!("{name}.up")).exists()
}

/// A runsvdir under test, with its stderr in a file. On drop every runsv dies, then runsvdir
/// (with its process group), then every service (urunit's runsv gives each its own group).
struct Sup {
    p: Proc,
    svdir: PathBuf,
    err: PathBuf,
}

impl Sup {
    /// `prog` = None: urunit's runsvdir; Some: another one (C runit's) run as `runsvdir`.
    fn start(prog: Option<PathBuf>, tmp: &TempDir, args: &[&str]) -> Sup {
        let mut c = match prog {
            Some(p) => {
                let mut c = Command::new(p);
                c.arg0("runsvdir").env("PATH", path_env());
                c
            }
            None => cmd("runsvdir"),
        };
        let err = tmp.join("stderr");
        c.args(args).current_dir(tmp.path()).stdin(Stdio::null()).stdout(Stdio::null());
        c.stderr(std::fs::File::create(&err).unwrap());
        Sup { p: Proc::spawn(c), svdir: tmp.join("svc"), err }
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&read(&self.err)).into_owned()
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        // SAFETY: our runsvdir's runsvs (in sessions of their own under -P), then its group.
        unsafe {
            for pid in children(self.p.pid()) {
                libc::kill(pid, libc::SIGKILL);
            }
            libc::kill(-self.p.pid(), libc::SIGKILL);
        }
        let Ok(rd) = std::fs::read_dir(&self.svdir) else { return };
        for e in rd.flatten() {
            for f in ["supervise/pid", "log/supervise/pid"] {
                if let Ok(pid) = String::from_utf8_lossy(&read(e.path().join(f))).trim().parse::<i32>() {
                    // SAFETY: a service this test started (its own process group under urunit's runsv).
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
    }
}

#[test]
fn usage_matches_runit() {
    for args in [&[][..], &["-P"], &["--"]] {
        let o = run(
            {
                let mut c = cmd("runsvdir");
                c.args(args);
                c
            },
            10,
        );
        expect(&o, 1, "", "usage: runsvdir [-P] dir\n\n");
        if let Some(c) = crunit("runsvdir") {
            let mut c = Command::new(c);
            c.arg0("runsvdir").args(args);
            let co = run(c, 10);
            assert_eq!((co.status.code(), co.stderr), (o.status.code(), o.stderr), "same as C runsvdir for {args:?}");
        }
    }
}

/// A missing directory is not fatal: a warning on every pass (runit's words), for `-x` too
/// (only -P and -- are options).
#[test]
fn missing_dir_warns_and_keeps_running() {
    for dir in ["nothere", "-x"] {
        let want = format!("runsvdir {dir}: warning: unable to stat {dir}: file does not exist\n");
        let mut progs = vec![None];
        if let Some(c) = crunit("runsvdir") {
            progs.push(Some(c));
        }
        for prog in progs {
            let t = TempDir::new("rsd-missing");
            let mut s = Sup::start(prog.clone(), &t, &[dir]);
            wait_until(20, "first warning", || s.stderr().contains('\n'));
            assert_eq!(s.stderr().lines().next().map(|l| format!("{l}\n")), Some(want.clone()), "{prog:?}");
            assert!(s.p.child.try_wait().unwrap().is_none(), "still running");
        }
    }
}

/// Added, removed, replaced services are picked up through inotify; dot directories are
/// ignored, symlinks followed, two names for one directory give one runsv.
#[test]
fn pickup_add_remove_replace() {
    let (t, svc, out) = setup("rsd-pickup");
    let elsewhere = t.join("sv");
    service(&elsewhere.join("linked"), &out, "linked");
    service(&svc.join("first"), &out, "first");
    service(&svc.join(".hidden"), &out, "hidden");
    let s = Sup::start(None, &t, &["svc"]);
    wait_until(20, "first up", || up(&out, "first"));

    // Added: a directory made elsewhere and moved in, and a symlink.
    service(&t.join("staging/moved"), &out, "moved");
    let t0 = Instant::now();
    std::fs::rename(t.join("staging/moved"), svc.join("moved")).unwrap();
    wait_until(20, "moved up", || up(&out, "moved"));
    eprintln!("pickup of a moved-in service: {:?}", t0.elapsed());
    let t0 = Instant::now();
    std::os::unix::fs::symlink(elsewhere.join("linked"), svc.join("linked")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("linked"), svc.join("linked2")).unwrap();
    wait_until(20, "linked up", || up(&out, "linked"));
    eprintln!("pickup of a symlinked service: {:?}", t0.elapsed());
    // Made in place, file by file, `log/` last: runsv is started once it is complete, so it
    // sees `log/` (runsv looks for it only when it starts).
    let t0 = Instant::now();
    service(&svc.join("inplace"), &out, "inplace");
    script(svc.join("inplace/log/run"), "#!/bin/sh\nexec cat > /dev/null\n");
    wait_until(20, "inplace up", || up(&out, "inplace"));
    eprintln!("pickup of a service written in place: {:?}", t0.elapsed());
    wait_until(20, "inplace's logger supervised", || supervised(svc.join("inplace/log")));

    // Removed: its runsv gets SIGTERM, the service TERM (./finish went with the directory).
    std::fs::remove_dir_all(svc.join("first")).unwrap();
    wait_until(20, "first stopped", || lines(out.join("first.term")) == ["term"]);

    // Replaced: a new directory under the same name is a new service.
    let old_pid = lines(out.join("moved.up"));
    std::fs::remove_dir_all(svc.join("moved")).unwrap();
    std::fs::remove_file(out.join("moved.up")).unwrap();
    service(&t.join("staging/moved"), &out, "moved");
    std::fs::rename(t.join("staging/moved"), svc.join("moved")).unwrap();
    wait_until(20, "old moved stopped", || lines(out.join("moved.term")) == ["term"]);
    wait_until(20, "new moved up", || up(&out, "moved"));
    assert_ne!(lines(out.join("moved.up")), old_pid);

    // Never started: the dot directory; one runsv for linked + linked2.
    assert!(!up(&out, "hidden"));
    assert!(!svc.join(".hidden/supervise").exists());
    let runsvs: Vec<String> = children(s.p.pid()).iter().map(|&p| cmdline(p)).collect();
    assert_eq!(runsvs.iter().filter(|c| c.starts_with("runsv linked")).count(), 1, "{runsvs:?}");
    // (runsv, like C runsv, warns that supervise/ vanished with its directory.)
    assert!(!s.stderr().contains("runsvdir"), "{}", s.stderr());
}

/// /proc/PID/cmdline with spaces for NULs.
fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&read(format!("/proc/{pid}/cmdline"))).replace('\0', " ").trim_end().to_string()
}

/// runit: SIGTERM exits 0 at once and leaves every runsv and service running;
/// SIGHUP sends SIGTERM to every runsv and exits 111. Same as C runsvdir.
#[test]
fn term_and_hup_as_runit() {
    let mut progs = vec![None];
    if let Some(c) = crunit("runsvdir") {
        progs.push(Some(c));
    }
    for prog in progs {
        let (t, svc, out) = setup("rsd-term");
        service(&svc.join("a"), &out, "a");
        let mut s = Sup::start(prog.clone(), &t, &["svc"]);
        wait_until(20, "a up", || up(&out, "a"));
        let runsv = children(s.p.pid());
        s.p.signal(libc::SIGTERM);
        assert_eq!(s.p.wait_exit(20).code(), Some(0), "{prog:?}");
        assert!(runsv.iter().all(|&p| alive(p)), "runsv left running");
        assert!(!out.join("a.term").exists(), "the service got no TERM");

        let (t, svc, out) = setup("rsd-hup");
        service(&svc.join("a"), &out, "a");
        service(&svc.join("b"), &out, "b");
        let mut s = Sup::start(prog.clone(), &t, &["svc"]);
        wait_until(20, "a, b up", || up(&out, "a") && up(&out, "b"));
        s.p.signal(libc::SIGHUP);
        assert_eq!(s.p.wait_exit(20).code(), Some(111), "{prog:?}");
        for n in ["a", "b"] {
            wait_until(20, "service stopped by its runsv", || lines(out.join(format!("{n}.finish"))) == ["0 0"]);
        }
    }
}

/// A runsv that dies is started again; a killed one is replaced.
#[test]
fn dead_runsv_restarted() {
    let (t, svc, out) = setup("rsd-restart");
    service(&svc.join("a"), &out, "a");
    let s = Sup::start(None, &t, &["svc"]);
    wait_until(20, "a up", || up(&out, "a"));
    let first = children(s.p.pid());
    assert_eq!(first.len(), 1);
    let service_pid: i32 = String::from_utf8_lossy(&read(out.join("a.up"))).trim().parse().unwrap();
    // SAFETY: the runsv this test's runsvdir started.
    unsafe { libc::kill(first[0], libc::SIGKILL) };
    let again =
        wait_for(20, "a new runsv", || children(s.p.pid()).into_iter().find(|&p| p != first[0] && cmdline(p) == "runsv a"));
    assert!(alive(again));
    // The orphaned first instance (runit's weakness 5, runsv's business) is ours to end.
    // SAFETY: the service's own process group (urunit's runsv makes one per service).
    unsafe { libc::kill(-service_pid, libc::SIGKILL) };
}

/// Without runsv on PATH, runsvdir runs itself as runsv (/proc/self/exe).
#[test]
fn runsv_not_on_path_falls_back_to_self() {
    let (t, svc, out) = setup("rsd-self");
    service(&svc.join("a"), &out, "a");
    let mut c = Command::new(bin());
    c.arg0("runsvdir").arg("svc").env("PATH", t.join("empty")).current_dir(t.path());
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(t.join("stderr")).unwrap());
    let s = Sup { p: Proc::spawn(c), svdir: svc.clone(), err: t.join("stderr") };
    wait_until(20, "a up", || up(&out, "a"));
    assert_eq!(s.stderr(), "");
}

/// The `log` argument: stderr of runsvdir, runsv and services scrolls through it in `ps`;
/// the first five bytes stay.
#[test]
fn readproctitle_log() {
    let (t, svc, _out) = setup("rsd-log");
    script(svc.join("a/run"), "#!/bin/sh\necho hello-from-a >&2\nexec sleep 100000\n");
    let area = format!("log: {}", ".".repeat(40));
    let s = Sup::start(None, &t, &["svc", &area]);
    let arg = || {
        let raw = read(format!("/proc/{}/cmdline", s.p.pid()));
        String::from_utf8_lossy(raw.split(|&b| b == 0).nth(2).unwrap_or_default()).into_owned()
    };
    wait_until(20, "message in the argument", || arg().ends_with("hello-from-a\n"));
    assert_eq!(arg().len(), area.len());
    assert!(arg().starts_with("log: ."), "{:?}", arg());
    assert_eq!(s.stderr(), "", "stderr went to the log");

    let (t, svc, _out) = setup("rsd-log-short");
    script(svc.join("a/run"), "#!/bin/sh\nexec sleep 100000\n");
    let s = Sup::start(None, &t, &["svc", "short"]);
    wait_until(20, "warnings", || s.stderr().lines().count() >= 2);
    assert_eq!(
        s.stderr(),
        "runsvdir svc: warning: log must have at least seven characters.\nrunsvdir svc: warning: log service disabled.\n"
    );
}

/// `runsv` on PATH but not executable: runit's fatal line from the child (exit 100), retried.
#[test]
fn runsv_exec_failure_message() {
    let mut progs = vec![None];
    if let Some(c) = crunit("runsvdir") {
        progs.push(Some(c));
    }
    for prog in progs {
        let (t, svc, out) = setup("rsd-noexec");
        service(&svc.join("a"), &out, "a");
        let pathdir = t.join("p");
        std::fs::create_dir_all(&pathdir).unwrap();
        std::fs::write(pathdir.join("runsv"), "not a program").unwrap();
        let mut c = match &prog {
            Some(p) => Command::new(p),
            None => Command::new(bin()),
        };
        c.arg0("runsvdir").arg("svc").env("PATH", &pathdir).current_dir(t.path());
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(t.join("stderr")).unwrap());
        let s = Sup { p: Proc::spawn(c), svdir: svc.clone(), err: t.join("stderr") };
        wait_until(20, "two attempts", || s.stderr().lines().count() >= 2);
        for l in s.stderr().lines().take(2) {
            assert_eq!(l, "runsvdir svc: fatal: unable to start runsv a: access denied", "{prog:?}");
        }
    }
}

/// `-P`: every runsv leads a session of its own; without it runsvs share runsvdir's group.
#[test]
fn dash_p_gives_each_runsv_a_session() {
    for (args, own) in [(&["-P", "svc"][..], true), (&["svc"][..], false)] {
        let (t, svc, out) = setup("rsd-setsid");
        service(&svc.join("a"), &out, "a");
        let s = Sup::start(None, &t, args);
        wait_until(20, "a up", || up(&out, "a"));
        let runsv = children(s.p.pid())[0];
        let st = std::fs::read_to_string(format!("/proc/{runsv}/stat")).unwrap();
        let f: Vec<i32> = st.rsplit(')').next().unwrap().split_whitespace().skip(2).take(2).map(|x| x.parse().unwrap()).collect();
        let (pgrp, session) = (f[0], f[1]);
        if own {
            assert_eq!((pgrp, session), (runsv, runsv));
        } else {
            assert_eq!(pgrp, s.p.pid(), "runsvdir's group");
        }
    }
}

/// The first scan starts services whose files were written just now at once (an entrypoint
/// writes /etc/service/* and execs runsvdir); a directory that appears later waits until
/// its `run` is in place.
#[test]
fn first_scan_starts_at_once_later_dirs_settle() {
    let (t, svc, out) = setup("rsd-first");
    for n in ["a", "b", "c"] {
        service(&svc.join(n), &out, n);
    }
    let t0 = Instant::now();
    let s = Sup::start(None, &t, &["svc"]);
    for n in ["a", "b", "c"] {
        wait_until(20, "a runsv for each service", || supervised(svc.join(n)));
    }
    eprintln!("first scan: 3 services just written supervised after {:?}", t0.elapsed());

    // Added later, `run` last: no runsv while `run` is missing. A finished service renamed in
    // after it shows that runsvdir has looked at the directory since.
    std::fs::create_dir(svc.join("late")).unwrap();
    let t1 = Instant::now();
    service(&t.join("staging/probe"), &out, "probe");
    std::fs::rename(t.join("staging/probe"), svc.join("probe")).unwrap();
    wait_until(20, "probe up", || up(&out, "probe"));
    let early = svc.join("late/supervise").exists();
    // (A new directory is held at most a second: only a quicker look proves anything.)
    if t1.elapsed() < std::time::Duration::from_millis(700) {
        assert!(!early, "a runsv for `late` before its run existed");
    }
    service(&svc.join("late"), &out, "late");
    wait_until(20, "late up", || up(&out, "late"));
    assert!(!s.stderr().contains("unable to start ./run"), "{}", s.stderr());
}

/// runsvdir SIGKILLed and started again, its runsvs still running: the new runsv for a
/// service fails to lock (runsv's message, once), and no other is started while the old
/// runsv lives; once it is gone, a new one takes over.
#[test]
fn restarted_runsvdir_does_not_repeat_lock_failures() {
    let (t, svc, out) = setup("rsd-locked");
    // The old runsv's service outlives its SIGKILL (in a process group of its own).
    let _k = KillUnder(t.0.clone());
    service(&svc.join("a"), &out, "a");
    let mut c = cmd("runsv");
    c.arg("a").current_dir(&svc).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut old = Proc::spawn(c);
    wait_until(20, "a up under the old runsv", || up(&out, "a"));
    let s = Sup::start(None, &t, &["svc"]);
    let locked = "runsv a: fatal: unable to lock supervise/lock: temporary failure\n";
    wait_until(20, "the new runsv's lock failure", || s.stderr().contains(locked));
    // runit's runsvdir says it again after 1 s, then every 5 s; give runsvdir 2.5 s to do
    // so (a wait for something that must not happen: it proves nothing about speed).
    let t0 = Instant::now();
    wait_until(20, "2.5 s", || t0.elapsed() > std::time::Duration::from_millis(2500));
    assert_eq!(s.stderr(), locked);
    old.signal(libc::SIGKILL);
    old.wait_exit(20);
    wait_until(30, "a new runsv takes over", || supervised(svc.join("a")));
    // It adopts the service the old runsv left running (README D11): one line, no restart.
    let adopted = "runsv a: warning: adopted ./run (pid ";
    wait_until(20, "the adoption line", || s.stderr().len() > locked.len());
    let e = s.stderr();
    let rest = e.strip_prefix(locked).unwrap_or("");
    assert!(
        rest.starts_with(adopted) && rest.ends_with(") left running by a runsv that died\n") && rest.lines().count() == 1,
        "{e}"
    );
}
