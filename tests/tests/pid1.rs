//! runsvdir as PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`, as in a
//! container) and as a subreaper under another init (URUNIT_PID1=1): orphans reaped, SIGTERM
//! and SIGINT stop every service gracefully within one deadline, SIGHUP rescans, a critical
//! service ends everything with its exit code.
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;
use urunit_tests::*;

mod runsvdir_common;
use runsvdir_common::{children, service, setup};

/// Which runsv the runsvdir under test finds on PATH.
#[derive(Clone, Copy, Debug)]
enum Runsv {
    Urunit,
    C,
}

/// PATH for runsvdir: urunit's programs, or a dir with C runit's runsv before them.
fn path_for(t: &TempDir, r: Runsv) -> Option<String> {
    match r {
        Runsv::Urunit => Some(path_env()),
        Runsv::C => {
            let c = crunit("runsv")?;
            let d = t.join("crunit-bin");
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::symlink(c, d.join("runsv")).unwrap();
            Some(format!("{}:{}", d.display(), path_env()))
        }
    }
}

/// `runsvdir SVDIR` as PID 1 of a new PID namespace; stdout+stderr in a file.
struct Ns {
    p: Proc,
    init: i32,
    log: PathBuf,
}

impl Ns {
    fn start(t: &TempDir, path: &str, env: &[(&str, &str)]) -> Ns {
        let log = t.join("console");
        let f = std::fs::File::create(&log).unwrap();
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc"]).arg(bindir().join("runsvdir")).arg("svc");
        c.current_dir(t.path()).env("PATH", path).envs(env.iter().copied());
        c.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
        let p = Proc::spawn(c);
        let u = p.pid();
        let init = wait_for(20, "the namespace's init", || children(u).first().copied());
        Ns { p, init, log }
    }
    fn signal(&self, sig: i32) {
        // SAFETY: the namespace init this test started.
        unsafe { libc::kill(self.init, sig) };
    }
    /// runsvdir's exit code (unshare passes it on).
    fn wait(&mut self, secs: u64) -> Option<i32> {
        self.p.wait_exit(secs).code()
    }
    fn console(&self) -> String {
        String::from_utf8_lossy(&read(&self.log)).into_owned()
    }
}

/// (pid, ppid, state) of every process.
fn processes() -> Vec<(i32, i32, char)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let rest: Vec<&str> = st.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        if rest.len() > 2 {
            v.push((pid, rest[1].parse().unwrap_or(0), rest[0].chars().next().unwrap_or('?')));
        }
    }
    v
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = st.rsplit(')').next()?.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn zombies_of(parent: i32) -> usize {
    processes().iter().filter(|&&(_, pp, s)| pp == parent && s == 'Z').count()
}

/// 20 services, SIGTERM or SIGINT to PID 1: every service gets TERM, every finish runs, the
/// TERM-ignorer is killed at the deadline, no log line is lost, exit 0.
fn stop_twenty(sig: i32, runsv: Runsv) {
    stop_twenty_as(sig, runsv, false)
}

/// With `terminal`, the signal also goes to every runsv, as Ctrl-C in a terminal sends it to
/// the whole foreground process group (runsvdir and its runsvs; the services have groups
/// of their own).
fn stop_twenty_as(sig: i32, runsv: Runsv, terminal: bool) {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("pid1-stop");
    let Some(path) = path_for(&t, runsv) else { return };
    runsvdir_common::write(&svc, &out.display().to_string());
    let mut ns = Ns::start(&t, &path, &[("URUNIT_STOP_TIMEOUT", "4")]);
    wait_until(60, "all 20 services up", || runsvdir_common::all_up(&out));
    let t0 = Instant::now();
    let cpu0 = cpu_ticks(ns.init).unwrap();
    if terminal {
        for r in children(ns.init) {
            // SAFETY: a runsv inside the namespace this test started.
            unsafe { libc::kill(r, sig) };
        }
    }
    ns.signal(sig);
    // While it waits for the deadline, runsvdir sleeps (no busy loop).
    let mut cpu = cpu0;
    let init = ns.init;
    let child = &mut ns.p.child;
    let status = wait_for(60, "runsvdir exit", || {
        cpu = cpu_ticks(init).unwrap_or(cpu);
        child.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(0), "exit code; console:\n{}", ns.console());
    assert!(cpu - cpu0 < 100, "runsvdir used {} clock ticks of CPU during the stop", cpu - cpu0);
    eprintln!("{runsv:?} runsv, signal {sig}: stop took {:?} (deadline 4 s, one service ignores TERM)", t0.elapsed());
    runsvdir_common::check(&out);
    assert!(ns.console().contains("runsvdir svc: warning: stop deadline reached, killed what was left.\n"));
}

#[test]
fn sigterm_stops_twenty_services() {
    stop_twenty(libc::SIGTERM, Runsv::Urunit);
}

#[test]
fn sigint_stops_twenty_services() {
    stop_twenty(libc::SIGINT, Runsv::Urunit);
}

#[test]
fn ctrl_c_to_the_process_group_stops_twenty_services() {
    stop_twenty_as(libc::SIGINT, Runsv::Urunit, true);
}

#[test]
fn sigterm_stops_twenty_services_c_runsv() {
    stop_twenty(libc::SIGTERM, Runsv::C);
}

/// With nothing ignoring TERM the stop is over as soon as the services are: no fixed sleeps.
#[test]
fn stop_without_stragglers_needs_no_deadline() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("pid1-quick");
    for i in 0..5 {
        service(&svc.join(format!("s{i}")), &out, &format!("s{i}"));
    }
    let mut ns = Ns::start(&t, &path_env(), &[("URUNIT_STOP_TIMEOUT", "60")]);
    wait_until(30, "services up", || (0..5).all(|i| out.join(format!("s{i}.up")).exists()));
    let t0 = Instant::now();
    ns.signal(libc::SIGTERM);
    // Far below the 60 s deadline: the stop ends when the services have.
    assert_eq!(ns.wait(50), Some(0));
    eprintln!("stop of 5 services: {:?}", t0.elapsed());
    for i in 0..5 {
        assert_eq!(lines(out.join(format!("s{i}.finish"))), ["0 0"]);
    }
    assert_eq!(ns.console(), "");
}

/// A service whose children double-fork 1,000 short-lived grandchildren: PID 1 reaps every one.
#[test]
fn orphan_storm_leaves_no_zombie() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("pid1-storm");
    let o = out.display();
    script(
        svc.join("storm/run"),
        &format!(
            "#!/bin/sh\ni=0\nwhile [ $i -lt 1000 ]; do ( sleep 0.01 & ); i=$((i+1)); done\necho done > {o}/storm.done\nexec sleep 100000\n"
        ),
    );
    let mut ns = Ns::start(&t, &path_env(), &[]);
    let mut most = 0;
    wait_until(120, "the storm is over", || {
        most = most.max(zombies_of(ns.init));
        out.join("storm.done").exists()
    });
    wait_until(30, "no zombie left", || zombies_of(ns.init) == 0);
    eprintln!("orphan storm: at most {most} zombies seen at once");
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.wait(30), Some(0));
}

/// As PID 1, SIGHUP rescans instead of exiting 111.
#[test]
fn sighup_rescans() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("pid1-hup");
    service(&svc.join("a"), &out, "a");
    let mut ns = Ns::start(&t, &path_env(), &[]);
    wait_until(30, "a up", || out.join("a.up").exists());
    ns.signal(libc::SIGHUP);
    service(&svc.join("b"), &out, "b");
    wait_until(30, "b up", || out.join("b.up").exists());
    assert!(ns.p.child.try_wait().unwrap().is_none(), "still running after SIGHUP");
    assert!(!out.join("a.term").exists(), "a was left alone");
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.wait(30), Some(0));
    assert_eq!(lines(out.join("a.finish")), ["0 0"]);
}

/// A critical service exiting with 3: its finish runs, the others are stopped, PID 1 exits 3.
/// Killed by a signal: 128 + the signal.
#[test]
fn critical_service_ends_the_container() {
    if !namespaces() {
        return;
    }
    for (body, code, fin) in [("exit 3", 3, "3 0"), ("kill -KILL $$", 137, "-1 9")] {
        let (t, svc, out) = setup("pid1-critical");
        let o = out.display();
        service(&svc.join("a"), &out, "a");
        service(&svc.join("b"), &out, "b");
        script(
            svc.join("crit/run"),
            &format!("#!/bin/sh\necho up > {o}/crit.up\nwhile [ ! -e {o}/go ]; do sleep 0.02; done\n{body}\n"),
        );
        script(svc.join("crit/finish"), &format!("#!/bin/sh\necho \"$@\" >> {o}/crit.finish\n"));
        std::fs::write(svc.join("crit/critical"), "").unwrap();
        let mut ns = Ns::start(&t, &path_env(), &[]);
        wait_until(30, "all up", || ["a", "b", "crit"].iter().all(|n| out.join(format!("{n}.up")).exists()));
        std::fs::write(out.join("go"), "").unwrap();
        assert_eq!(ns.wait(30), Some(code), "console:\n{}", ns.console());
        assert_eq!(lines(out.join("crit.finish")), [fin]);
        for n in ["a", "b"] {
            assert_eq!(lines(out.join(format!("{n}.term"))), ["term"]);
            assert_eq!(lines(out.join(format!("{n}.finish"))), ["0 0"]);
        }
        assert_eq!(ns.console(), format!("runsvdir svc: warning: critical service crit exited with {code}, stopping.\n"));
    }
}

/// URUNIT_PID1=1 under another init: a subreaper that stops gracefully on SIGTERM, kills the
/// orphans its services left (only its own descendants), and keeps the variable to itself.
#[test]
fn urunit_pid1_variable_as_subreaper() {
    let (t, svc, out) = setup("pid1-subreaper");
    let o = out.display();
    service(&svc.join("a"), &out, "a");
    script(
        svc.join("daemon/run"),
        &format!(
            "#!/bin/sh\nenv > {o}/env\n( sleep 100000 & echo $! > {o}/orphan.pid )\necho up > {o}/daemon.up\nexec sleep 100000\n"
        ),
    );
    let mut c = Command::new(bin());
    c.arg0("runsvdir").arg("svc").current_dir(t.path()).env("PATH", path_env()).env("URUNIT_PID1", "1");
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(t.join("err")).unwrap());
    let mut p = Proc::spawn(c);
    wait_until(30, "services up", || {
        out.join("a.up").exists() && out.join("daemon.up").exists() && out.join("orphan.pid").exists()
    });
    let orphan: i32 = wait_for(10, "orphan pid", || String::from_utf8_lossy(&read(out.join("orphan.pid"))).trim().parse().ok());
    // The orphan was reparented to runsvdir (the subreaper), not to the real init.
    wait_until(10, "orphan reparented", || processes().iter().any(|&(pid, pp, _)| pid == orphan && pp == p.pid()));
    assert!(!String::from_utf8_lossy(&read(out.join("env"))).contains("URUNIT_PID1"));
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(30).code(), Some(0));
    assert_eq!(lines(out.join("a.finish")), ["0 0"]);
    assert!(!alive(orphan), "the orphan was stopped too");
    assert_eq!(String::from_utf8_lossy(&read(t.join("err"))), "");
}

/// A service for the stop-order tests: its run stops at once on TERM, its finish appends
/// its name to `out/order`; `needs` go into dependencies.d.
fn ordered(svc: &std::path::Path, out: &std::path::Path, name: &str, needs: &[&str]) {
    let d = svc.join(name);
    let o = out.display();
    script(
        d.join("run"),
        &format!("#!/bin/sh\nsleep 100000 &\np=$!\ntrap 'kill $p; exit 0' TERM\necho $$ > {o}/{name}.up\nwait\n"),
    );
    script(d.join("finish"), &format!("#!/bin/sh\necho {name} >> {o}/order\n"));
    std::fs::write(d.join("settle-ms"), "0\n").unwrap();
    if !needs.is_empty() {
        std::fs::create_dir_all(d.join("dependencies.d")).unwrap();
    }
    for n in needs {
        std::os::unix::fs::symlink(format!("../../{n}"), d.join("dependencies.d").join(n)).unwrap();
    }
}

/// Starts `svc` as PID 1, waits for `names` to be up, runs `then`, sends SIGTERM and returns
/// the order in which their ./finish ran (every one ran once, exit 0, no deadline reached).
fn stop_order(t: &TempDir, out: &std::path::Path, names: &[&str], then: impl FnOnce()) -> Vec<String> {
    let mut ns = Ns::start(t, &path_env(), &[("URUNIT_STOP_TIMEOUT", "60")]);
    wait_until(60, "services up", || names.iter().all(|n| out.join(format!("{n}.up")).exists()));
    then();
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.wait(50), Some(0), "console:\n{}", ns.console());
    assert!(!ns.console().contains("deadline"), "{}", ns.console());
    let order = lines(out.join("order"));
    let mut sorted = order.clone();
    sorted.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(sorted, want, "every ./finish ran once");
    order
}

/// c needs b needs a: on SIGTERM to PID 1 c stops first, then b, then a; 20 times.
#[test]
fn stop_order_chain() {
    if !namespaces() {
        return;
    }
    for _ in 0..20 {
        let (t, svc, out) = setup("pid1-chain");
        ordered(&svc, &out, "a", &[]);
        ordered(&svc, &out, "b", &["a"]);
        ordered(&svc, &out, "c", &["b"]);
        // A name that is no service means nothing to the stop. (Added once c runs: runsv
        // holds a service whose dependency is missing.)
        let late = || std::fs::write(svc.join("c/dependencies.d/nosuchservice"), "").unwrap();
        assert_eq!(stop_order(&t, &out, &["a", "b", "c"], late), ["c", "b", "a"]);
    }
}

/// d needs b and c, both need a; x needs nothing: d before b and c, both before a.
#[test]
fn stop_order_diamond() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("pid1-diamond");
    ordered(&svc, &out, "a", &[]);
    ordered(&svc, &out, "b", &["a"]);
    ordered(&svc, &out, "c", &["a"]);
    ordered(&svc, &out, "d", &["b", "c"]);
    ordered(&svc, &out, "x", &[]);
    let order = stop_order(&t, &out, &["a", "b", "c", "d", "x"], || {});
    let at = |n: &str| order.iter().position(|o| o == n).unwrap();
    assert!(at("d") < at("b") && at("d") < at("c"), "{order:?}");
    assert!(at("b") < at("a") && at("c") < at("a"), "{order:?}");
}

/// a and b need each other: the cycle is broken (a, the smaller name, first), no deadline.
#[test]
fn stop_order_cycle_does_not_hang() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("pid1-cycle");
    ordered(&svc, &out, "a", &["b"]);
    ordered(&svc, &out, "b", &["a"]);
    ordered(&svc, &out, "c", &["a"]);
    assert_eq!(stop_order(&t, &out, &["a", "b", "c"], || {}), ["c", "a", "b"]);
}

/// runit stops at 1,000 services; urunit's runsvdir starts the 1,001st too.
#[test]
fn more_than_a_thousand_services() {
    if !namespaces() {
        return;
    }
    const N: usize = 1001;
    let (t, svc, _out) = setup("pid1-many");
    let run = t.join("run");
    script(&run, "#!/bin/sh\nexec sleep 100000\n");
    for i in 0..N {
        let d = svc.join(format!("s{i:04}"));
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::symlink(&run, d.join("run")).unwrap();
    }
    let mut ns = Ns::start(&t, &path_env(), &[]);
    let mut i = 0;
    wait_until(120, "every service has a runsv running it", || {
        while i < N && status(svc.join(format!("s{i:04}"))).is_some_and(|s| s.0 != 0 && s.4 == 1) {
            i += 1;
        }
        i == N
    });
    assert!(!ns.console().contains("too many services"), "{}", ns.console());
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.wait(60), Some(0), "console:\n{}", ns.console());
}
