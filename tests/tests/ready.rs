//! Readiness (`supervise/health`), start order (`dependencies.d/`), the restart policy
//! (`restart-backoff`, `restart-limit`, `critical`) and adoption of a service whose runsv was
//! SIGKILLed. Readiness is read from the supervise files runsv writes (not through sv); C
//! runit's sv must still read every such service's status. The runsvdir tests run it as
//! PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`), as in a container.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use urunit_tests::*;

mod runsvdir_common;
use runsvdir_common::{check_numbered, children};

// ---- Helpers.

/// The `supervise/health` line of a service directory ("" while absent).
fn health(svc: &Path) -> String {
    String::from_utf8_lossy(&read(svc.join("supervise/health"))).into_owned()
}

/// Records every distinct `health` line of a service as the test looks at it.
struct Seen {
    svc: PathBuf,
    v: Vec<String>,
}

impl Seen {
    fn new(svc: &Path) -> Seen {
        Seen { svc: svc.to_path_buf(), v: Vec::new() }
    }
    fn look(&mut self) -> String {
        let h = health(&self.svc);
        if !h.is_empty() && self.v.last() != Some(&h) {
            self.v.push(h.clone());
        }
        h
    }
    /// Polls every 5 ms (a short `starting` is not missed) until `f` holds.
    fn until(&mut self, secs: u64, what: &str, mut f: impl FnMut(&str) -> bool) {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let h = self.look();
            if f(&h) {
                return;
            }
            assert!(Instant::now() < end, "timed out after {secs}s waiting for: {what}; health seen: {:?}", self.v);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    fn until_is(&mut self, secs: u64, want: &str) {
        self.until(secs, want, |h| h == want)
    }
}

/// The pids (or other numbers) a run script appended to a file, one a line.
fn nums(p: impl AsRef<Path>) -> Vec<u64> {
    lines(p).iter().filter_map(|l| l.trim().parse().ok()).collect()
}

/// `runsv DIR`, stderr into DIR/../runsv.err.
fn runsv(dir: &Path) -> Proc {
    let err = std::fs::File::create(dir.with_file_name("runsv.err")).unwrap();
    let mut c = cmd("runsv");
    c.arg(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    Proc::spawn(c)
}

/// C runit's `sv ARGS...` (None when C runit is missing: skipped).
fn csv(args: &[&str]) -> Option<std::process::Output> {
    let p = crunit("sv")?;
    let mut c = Command::new(p);
    c.args(args);
    Some(run(c, 20))
}

/// C runit's `sv status DIR`, the seconds replaced by N: `run: DIR: (pid P) Ns\n`.
fn csv_status(dir: &Path) -> Option<String> {
    let o = csv(&["status", dir.to_str().unwrap()])?;
    assert_eq!(o.status.code(), Some(0), "C sv status: {o:?}");
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    // The elapsed time is the only digits followed by 's' (the pid is followed by ')').
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let j = (i..b.len()).find(|&j| !b[j].is_ascii_digit()).unwrap_or(b.len());
            if b.get(j) == Some(&b's') && b.get(j + 1).is_none_or(|c| !c.is_ascii_alphanumeric()) {
                out.push('N');
            } else {
                out.push_str(&s[i..j]);
            }
            i = j;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    Some(out)
}

/// Writes the control byte with C runit's sv when present (`sv kill`, `sv up`), else directly.
fn sv_cmd(dir: &Path, command: &str, byte: &[u8]) {
    match csv(&[command, dir.to_str().unwrap()]) {
        Some(o) => assert_eq!(o.status.code(), Some(0), "C sv {command}: {o:?}"),
        None => control(dir, byte),
    }
}

/// Wall-clock ms (timestamps the run scripts write with `date +%s%3N`).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// `runsvdir svc` (in the temp dir) as PID 1 of a new PID namespace; stdout+stderr in `console`.
struct Ns {
    p: Proc,
    init: i32,
    log: PathBuf,
}

impl Ns {
    fn start(t: &Path, env: &[(&str, &str)]) -> Ns {
        let log = t.join("console");
        let f = std::fs::File::create(&log).unwrap();
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc"]).arg(bindir().join("runsvdir")).arg("svc");
        c.current_dir(t).env("PATH", path_env()).envs(env.iter().copied());
        c.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
        let p = Proc::spawn(c);
        let u = p.pid();
        let init = wait_for(20, "the namespace's init", || children(u).first().copied());
        Ns { p, init, log }
    }
    fn term(&self) {
        // SAFETY: the namespace init this test started.
        unsafe { libc::kill(self.init, libc::SIGTERM) };
    }
    fn wait(&mut self, secs: u64) -> Option<i32> {
        self.p.wait_exit(secs).code()
    }
    fn console(&self) -> String {
        String::from_utf8_lossy(&read(&self.log)).into_owned()
    }
}

/// READY as the contract defines it: health `ready P`, status pid P, state run.
fn is_ready(svc: &Path) -> bool {
    let h = health(svc);
    let Some(p) = h.strip_prefix("ready ").and_then(|p| p.trim().parse::<u32>().ok()) else { return false };
    status(svc).is_some_and(|s| s.0 == p && s.4 == 1)
}

/// A service for the start-order tests: appends `start NAME` to `order` when ./run starts,
/// then says it is ready on fd 3; on TERM appends `term NAME`; ./finish appends `finish NAME`.
/// `deps`: its dependencies.d entries.
fn ordered(svdir: &Path, name: &str, deps: &[&str], order: &Path) {
    let d = svdir.join(name);
    let o = order.display();
    script(
        d.join("run"),
        &format!(
            "#!/bin/sh\np=\ntrap 'echo \"term {name}\" >> {o}; [ -n \"$p\" ] && kill $p; exit 0' TERM\n\
             echo \"start {name}\" >> {o}\necho >&3\nexec 3>&-\nsleep 100000 &\np=$!\nwait\n"
        ),
    );
    script(d.join("finish"), &format!("#!/bin/sh\necho \"finish {name}\" >> {o}\n"));
    std::fs::write(d.join("notification-fd"), "3\n").unwrap();
    if !deps.is_empty() {
        std::fs::create_dir_all(d.join("dependencies.d")).unwrap();
        for dep in deps {
            std::fs::write(d.join("dependencies.d").join(dep), "").unwrap();
        }
    }
}

// ---- 1. Readiness, runsv alone.

/// notification-fd: `starting P` until the newline (after ~0.3 s), then `ready P`; `sv kill`
/// gives `killed P 9` (held while ./finish runs); the restart is a new pid, `starting` again.
#[test]
fn notification_fd_kill_and_restart() {
    let t = TempDir::new("ready-fd");
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc");
    script(d.join("run"), "#!/bin/sh\necho $$ >> starts\nsleep 0.3\necho >&3\nexec 3>&-\nexec sleep 100000\n");
    script(d.join("finish"), "#!/bin/sh\necho \"$@\" >> finishes\nwhile [ -e hold ]; do sleep 0.01; done\n");
    std::fs::write(d.join("notification-fd"), "3\n").unwrap();
    let _p = runsv(&d);
    let mut s = Seen::new(&d);
    s.until(20, "first start", |_| !nums(d.join("starts")).is_empty());
    let p1 = nums(d.join("starts"))[0];
    s.until_is(20, &format!("ready {p1}\n"));
    assert_eq!(s.v, [format!("starting {p1}\n"), format!("ready {p1}\n")]);
    assert_eq!(status(&d).map(|s| (s.0 as u64, s.4)), Some((p1, 1)));
    if let Some(st) = csv_status(&d) {
        assert_eq!(st, format!("run: {}: (pid {p1}) Ns\n", d.display()));
    }

    std::fs::write(d.join("hold"), "").unwrap();
    sv_cmd(&d, "kill", b"k");
    s.until_is(20, &format!("killed {p1} 9\n"));
    wait_until(20, "./finish", || lines(d.join("finishes")) == ["-1 9"]);
    // ./finish is running: health still tells how the run ended.
    assert_eq!(health(&d), format!("killed {p1} 9\n"));
    // (runsv first writes state finish with pid 0, then the pid of ./finish once forked.)
    let fpid = wait_for(20, "status: finish with its pid", || status(&d).filter(|s| s.4 == 2 && s.0 != 0).map(|s| s.0));
    if let Some(st) = csv_status(&d) {
        assert_eq!(st, format!("finish: {}: (pid {fpid}) Ns\n", d.display()));
    }
    std::fs::remove_file(d.join("hold")).unwrap();

    s.until(20, "the second start", |_| nums(d.join("starts")).len() == 2);
    let p2 = nums(d.join("starts"))[1];
    assert_ne!(p1, p2);
    s.until_is(20, &format!("ready {p2}\n"));
    assert_eq!(
        s.v,
        [
            format!("starting {p1}\n"),
            format!("ready {p1}\n"),
            format!("killed {p1} 9\n"),
            format!("starting {p2}\n"),
            format!("ready {p2}\n"),
        ]
    );
    if let Some(st) = csv_status(&d) {
        assert_eq!(st, format!("run: {}: (pid {p2}) Ns\n", d.display()));
    }
}

/// ./check: runsv runs it again and again while it fails; `ready P` once it passes.
#[test]
fn check_script_passes_once_a_file_exists() {
    let t = TempDir::new("ready-check");
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc");
    script(d.join("run"), "#!/bin/sh\necho $$ >> starts\nexec sleep 100000\n");
    script(d.join("check"), "#!/bin/sh\necho x >> checks\ntest -e go\n");
    let _p = runsv(&d);
    let mut s = Seen::new(&d);
    s.until(20, "./check failing three times", |_| lines(d.join("checks")).len() >= 3);
    let p = nums(d.join("starts"))[0];
    assert_eq!(s.look(), format!("starting {p}\n"));
    if let Some(st) = csv_status(&d) {
        assert_eq!(st, format!("run: {}: (pid {p}) Ns\n", d.display()));
    }
    std::fs::write(d.join("go"), "").unwrap();
    s.until_is(20, &format!("ready {p}\n"));
    assert_eq!(s.v, [format!("starting {p}\n"), format!("ready {p}\n")]);
    assert_eq!(status(&d).map(|s| (s.0 as u64, s.4)), Some((p, 1)));
    assert_eq!(nums(d.join("starts")).len(), 1);
}

/// Neither notification-fd nor check: `ready P` after settle-ms (200) of uptime.
#[test]
fn settle_window_makes_a_plain_run_ready() {
    let t = TempDir::new("ready-settle");
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc");
    script(d.join("run"), "#!/bin/sh\ndate +%s%3N > started\necho $$ >> starts\nexec sleep 100000\n");
    std::fs::write(d.join("settle-ms"), "200\n").unwrap();
    let _p = runsv(&d);
    let mut s = Seen::new(&d);
    s.until(20, "ready", |h| h.starts_with("ready "));
    let seen_ready = now_ms();
    let p = nums(d.join("starts"))[0];
    assert_eq!(s.v, [format!("starting {p}\n"), format!("ready {p}\n")]);
    // Not a speed assertion: ready was not seen before the window could have passed (the
    // run wrote its time a little after runsv started it, hence 150 of the 200 ms).
    let started = nums(d.join("started"))[0];
    assert!(seen_ready >= started + 150, "ready {} ms after the run started", seen_ready as i64 - started as i64);
}

/// A run that exits after 0.1 s never outlives its settle window (500 ms): never ready,
/// `exited P 3` after each run, `starting` again with each new pid.
#[test]
fn a_run_that_exits_early_is_never_ready() {
    let t = TempDir::new("ready-early");
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc");
    script(d.join("run"), "#!/bin/sh\necho $$ >> starts\nsleep 0.1\nexit 3\n");
    std::fs::write(d.join("settle-ms"), "500\n").unwrap();
    let _p = runsv(&d);
    let mut s = Seen::new(&d);
    s.until(30, "the second run's exit", |h| {
        let st = nums(d.join("starts"));
        st.len() >= 2 && *h == format!("exited {} 3\n", st[1])
    });
    let st = nums(d.join("starts"));
    assert_eq!(
        s.v[..4],
        [
            format!("starting {}\n", st[0]),
            format!("exited {} 3\n", st[0]),
            format!("starting {}\n", st[1]),
            format!("exited {} 3\n", st[1])
        ]
    );
    assert!(!s.v.iter().any(|h| h.starts_with("ready")), "{:?}", s.v);
}

/// While ./run is held by a dependency, `supervise/health` is one line: `missing NAME`
/// (no such service), then `waiting NAME` (it exists, not ready yet).
#[test]
fn held_health_is_one_line() {
    let t = TempDir::new("ready-held");
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc");
    script(d.join("run"), "#!/bin/sh\nexec sleep 100000\n");
    std::fs::create_dir_all(d.join("dependencies.d")).unwrap();
    std::fs::write(d.join("dependencies.d/dep"), "").unwrap();
    let _p = runsv(&d);
    wait_until(20, "held", || health(&d).starts_with("missing "));
    assert_eq!(health(&d), "missing dep\n");
    // dep exists (a directory with no supervise/ yet): waiting.
    std::fs::create_dir_all(t.join("dep")).unwrap();
    wait_until(20, "waiting", || health(&d).starts_with("waiting "));
    assert_eq!(health(&d), "waiting dep\n");
    assert_eq!(status(&d).map(|s| (s.0, s.4)), Some((0, 0)));
}

// ---- 3. Restart policy, runsv alone.

/// The gaps (ms) between the first five starts of a run that fails at once, with
/// `restart-backoff 4` and, if given, a `restart-limit` file.
fn backoff_gaps(tag: &str, limit: Option<&str>) -> Vec<u64> {
    let t = TempDir::new(tag);
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc");
    script(d.join("run"), "#!/bin/sh\ndate +%s%3N >> starts\nexit 1\n");
    std::fs::write(d.join("restart-backoff"), "4\n").unwrap();
    if let Some(l) = limit {
        std::fs::write(d.join("restart-limit"), l).unwrap();
    }
    let _p = runsv(&d);
    wait_until(60, "five starts", || nums(d.join("starts")).len() >= 5);
    let st = nums(d.join("starts"));
    st.windows(2).take(4).map(|w| w[1] - w[0]).collect()
}

/// Pace, not speed: each gap is at least 0.8x what the policy says (1, 2, 4, 4 s), they
/// grow until the cap, and the cap holds (the fourth is not the 8 s of an uncapped doubling).
fn check_backoff(gaps: &[u64]) {
    for (g, want) in gaps.iter().zip([1000u64, 2000, 4000, 4000]) {
        assert!(*g >= want * 8 / 10, "gaps {gaps:?} ms: expected about 1000, 2000, 4000, 4000");
    }
    assert!(gaps[0] < gaps[1] && gaps[1] < gaps[2], "gaps {gaps:?} ms grow until the cap");
    assert!(gaps[3] < 7000, "gaps {gaps:?} ms: the fourth is capped at 4 s");
}

/// restart-backoff 4 alone: the gaps between starts of a failing run are 1, 2, 4, 4 s.
#[test]
fn restart_backoff_doubles_to_its_cap() {
    check_backoff(&backoff_gaps("ready-backoff", None));
}

/// restart-backoff 4 with a budget that is never spent (restart-limit 100 60): 1, 2, 4, 4 s.
#[test]
fn restart_backoff_with_a_limit_doubles_to_its_cap() {
    check_backoff(&backoff_gaps("ready-backoff-limit", Some("100 60\n")));
}

/// restart-limit 3 60: after 3 failed runs the service stays down with health
/// `failed P exited 2`; `sv up` starts it again with a fresh budget.
#[test]
fn restart_limit_gives_up_until_sv_up() {
    let t = TempDir::new("ready-limit");
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc");
    script(d.join("run"), "#!/bin/sh\necho $$ >> starts\nexit 2\n");
    std::fs::write(d.join("restart-limit"), "3 60\n").unwrap();
    let _p = runsv(&d);
    wait_until(30, "failed", || health(&d).starts_with("failed "));
    let st = nums(d.join("starts"));
    assert_eq!(st.len(), 3, "three runs before giving up");
    assert_eq!(health(&d), format!("failed {} exited 2\n", st[2]));
    let (pid, _, want, _, state) = status(&d).unwrap();
    assert_eq!((pid, want, state), (0, b'd', 0));
    // No fourth start in the next 5 s (a window watched, not a state waited for).
    assert!(poll(5, || (nums(d.join("starts")).len() != 3).then_some(())).is_none(), "started again on its own");
    assert_eq!(health(&d), format!("failed {} exited 2\n", st[2]));
    if let Some(s) = csv_status(&d) {
        assert_eq!(s, format!("down: {}: Ns, normally up\n", d.display()));
    }
    sv_cmd(&d, "up", b"u");
    wait_until(20, "started again", || nums(d.join("starts")).len() == 4);
    // A fresh budget: three more runs, then failed again.
    wait_until(30, "failed again", || nums(d.join("starts")).len() == 6 && health(&d).starts_with("failed "));
    let st = nums(d.join("starts"));
    assert_eq!(health(&d), format!("failed {} exited 2\n", st[5]));
    assert!(poll(2, || (nums(d.join("starts")).len() != 6).then_some(())).is_none());
}

/// critical + restart-limit 2 60 under runsvdir as PID 1: the budget is spent first, then
/// PID 1 exits with the service's code after stopping the other service gracefully.
#[test]
fn critical_with_a_limit_ends_pid1_once_the_budget_is_spent() {
    if !namespaces() {
        return;
    }
    let t = TempDir::new("ready-crit");
    let _k = KillUnder(t.0.clone());
    let (svc, out) = (t.join("svc"), t.join("out"));
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display();
    script(svc.join("crit/run"), &format!("#!/bin/sh\necho $$ >> {o}/crit.starts\nexit 5\n"));
    std::fs::write(svc.join("crit/critical"), "").unwrap();
    std::fs::write(svc.join("crit/restart-limit"), "2 60\n").unwrap();
    runsvdir_common::service(&svc.join("side"), &out, "side");
    let mut ns = Ns::start(t.path(), &[("URUNIT_STOP_TIMEOUT", "20")]);
    assert_eq!(ns.wait(60), Some(5), "console:\n{}", ns.console());
    assert_eq!(nums(out.join("crit.starts")).len(), 2, "two runs: the budget, then the end");
    assert_eq!(ns.console(), "runsvdir svc: warning: critical service crit exited with 5, stopping.\n");
    assert_eq!(lines(out.join("side.term")), ["term"]);
    assert_eq!(lines(out.join("side.finish")), ["0 0"]);
}

// ---- 2. Start order under runsvdir as PID 1.

/// The chain c1 <- c2 <- c3 and the diamond da <- {db, dc} <- dd.
const GRAPH: [(&str, &[&str]); 7] =
    [("c1", &[]), ("c2", &["c1"]), ("c3", &["c2"]), ("da", &[]), ("db", &["da"]), ("dc", &["da"]), ("dd", &["db", "dc"])];

/// One round: fresh directories, runsvdir as PID 1 until every service is READY, then
/// SIGTERM. Returns the `order` file's lines (start, term, finish events).
fn order_round(round: usize) -> Vec<String> {
    let t = TempDir::new("ready-order");
    let _k = KillUnder(t.0.clone());
    let svc = t.join("svc");
    let order = t.join("order");
    for (n, deps) in GRAPH {
        ordered(&svc, n, deps, &order);
    }
    let mut ns = Ns::start(t.path(), &[("URUNIT_STOP_TIMEOUT", "20")]);
    wait_until(30, "every service READY", || GRAPH.iter().all(|(n, _)| is_ready(&svc.join(n))));
    let starts: Vec<String> = lines(&order).into_iter().filter(|l| l.starts_with("start ")).collect();
    assert_eq!(starts.len(), GRAPH.len(), "round {round}: one start each: {starts:?}");
    let pos = |n: &str| {
        starts
            .iter()
            .position(|l| *l == format!("start {n}"))
            .unwrap_or_else(|| panic!("round {round}: {n} never started: {starts:?}"))
    };
    for (n, deps) in GRAPH {
        for dep in deps {
            assert!(pos(dep) < pos(n), "round {round}: {n} started before {dep} was ready: {starts:?}");
        }
    }
    ns.term();
    assert_eq!(ns.wait(60), Some(0), "round {round}: console:\n{}", ns.console());
    assert_eq!(ns.console(), "", "round {round}");
    let all = lines(&order);
    for (n, _) in GRAPH {
        for ev in ["start", "term", "finish"] {
            let c = all.iter().filter(|l| **l == format!("{ev} {n}")).count();
            assert_eq!(c, 1, "round {round}: `{ev} {n}` once: {all:?}");
        }
    }
    all
}

/// 100 rounds out of 100: no service starts before what it needs is READY; every ./finish ran.
#[test]
fn start_order_chain_and_diamond_100_times() {
    if !namespaces() {
        return;
    }
    let t0 = Instant::now();
    for round in 0..100 {
        order_round(round);
    }
    eprintln!("100 rounds of 7 services: {:?}", t0.elapsed());
}

/// Graceful stop as PID 1: a dependent has stopped (its ./finish ran) before what it needs
/// gets TERM.
#[test]
fn stop_order_dependents_first() {
    if !namespaces() {
        return;
    }
    for round in 0..20 {
        let all = order_round(round);
        let pos = |l: String| all.iter().position(|x| *x == l).unwrap();
        for (n, deps) in GRAPH {
            for dep in deps {
                assert!(
                    pos(format!("finish {n}")) < pos(format!("term {dep}")),
                    "round {round}: {dep} got TERM before {n} had stopped: {all:?}"
                );
            }
        }
    }
}

/// a <-> b: the dependency of a on b (the greater name) is dropped with one warning; b
/// waits for a; both run, nothing hangs.
#[test]
fn dependency_cycle_is_broken_with_one_warning() {
    if !namespaces() {
        return;
    }
    let t = TempDir::new("ready-cycle");
    let _k = KillUnder(t.0.clone());
    let svc = t.join("svc");
    let order = t.join("order");
    ordered(&svc, "a", &["b"], &order);
    ordered(&svc, "b", &["a"], &order);
    let mut ns = Ns::start(t.path(), &[("URUNIT_STOP_TIMEOUT", "20")]);
    wait_until(30, "a and b READY", || is_ready(&svc.join("a")) && is_ready(&svc.join("b")));
    let starts: Vec<String> = lines(&order).into_iter().filter(|l| l.starts_with("start ")).collect();
    assert_eq!(starts, ["start a", "start b"]);
    ns.term();
    assert_eq!(ns.wait(60), Some(0));
    assert_eq!(ns.console(), "runsv a: warning: dependency cycle through b: not waiting for it\n");
}

/// A dependency that does not exist holds only its dependent (`missing ghost`, one warning);
/// the others run, one of them with a dependency of its own. Once `ghost` is added (moved
/// into the directory) and READY, the held service starts.
#[test]
fn missing_dependency_holds_only_its_dependent() {
    if !namespaces() {
        return;
    }
    let t = TempDir::new("ready-missing");
    let _k = KillUnder(t.0.clone());
    let svc = t.join("svc");
    let order = t.join("order");
    ordered(&svc, "m", &["ghost"], &order);
    ordered(&svc, "r", &[], &order);
    ordered(&svc, "s", &["r"], &order);
    let mut ns = Ns::start(t.path(), &[("URUNIT_STOP_TIMEOUT", "20")]);
    let held = poll(30, || {
        (is_ready(&svc.join("r")) && is_ready(&svc.join("s")) && health(&svc.join("m")) == "missing ghost\n").then_some(())
    });
    let show = |n: &str| format!("{n}: {:?} {:?}", health(&svc.join(n)), status(svc.join(n)));
    assert!(held.is_some(), "r and s READY, m held: {} {} {}; console {:?}", show("r"), show("s"), show("m"), ns.console());
    assert_eq!(status(svc.join("m")).map(|s| (s.0, s.4)), Some((0, 0)), "m is down");
    assert!(!lines(&order).contains(&"start m".to_string()));
    // The missing service appears: m starts once it is READY.
    ordered(&t.join("staging"), "ghost", &[], &order);
    std::fs::rename(t.join("staging/ghost"), svc.join("ghost")).unwrap();
    wait_until(30, "m READY", || is_ready(&svc.join("m")));
    let starts: Vec<String> = lines(&order).into_iter().filter(|l| l.starts_with("start ")).collect();
    let pos = |n: &str| starts.iter().position(|l| *l == format!("start {n}")).unwrap();
    assert!(pos("ghost") < pos("m"), "{starts:?}");
    ns.term();
    assert_eq!(ns.wait(60), Some(0));
    assert_eq!(ns.console(), "runsv m: warning: dependency ghost does not exist, waiting for it\n");
}

// ---- 4. Adoption.

/// The host pids of the processes whose working directory is `dir` and whose command line is
/// `argv`, less their own forked children.
fn procs_in(dir: &Path, argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c == dir)
            && read(e.path().join("cmdline")) == want
            && alive(pid)
        {
            v.push(pid);
        }
    }
    // A shell's child between its fork and its exec (`sleep`) has the same command line:
    // it is not another instance.
    let ppid = |p: i32| -> i32 {
        let st = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        st.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|x| x.parse().ok()).unwrap_or(0)
    };
    v.iter().copied().filter(|&p| !v.contains(&ppid(p))).collect()
}

/// The runsv of service `name` among PID 1's children (host pid).
fn runsv_of(init: i32, name: &str) -> Option<i32> {
    let want = format!("runsv\0{name}\0");
    children(init).into_iter().find(|p| read(format!("/proc/{p}/cmdline")) == want.as_bytes())
}

/// SIGKILL the runsv of a running service with a logger 20 times: each new runsv adopts the
/// service and its logger (same pids, one instance of each), and no log line is lost or
/// repeated.
#[test]
fn adoption_after_runsv_is_killed_20_times() {
    if !namespaces() {
        return;
    }
    let t = TempDir::new("ready-adopt");
    let _k = KillUnder(t.0.clone());
    let (svc, out) = (t.join("svc"), t.join("out"));
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display();
    let d = svc.join("num");
    script(
        d.join("run"),
        &format!(
            "#!/bin/sh\nexec 2>&1\necho $$ >> {o}/run.starts\ni=0\nstop=\ntrap 'stop=1' TERM\n\
             while [ -z \"$stop\" ]; do i=$((i+1)); echo \"line $i\"; [ $((i % 20)) = 0 ] && sleep 0.02; done\necho \"last $i\"\n"
        ),
    );
    script(d.join("log/run"), &format!("#!/bin/sh\necho $$ >> {o}/log.starts\nexec cat >> {o}/num.log\n"));
    let mut ns = Ns::start(t.path(), &[("URUNIT_STOP_TIMEOUT", "20")]);
    wait_until(30, "service and logger running", || {
        status(&d).is_some_and(|s| s.4 == 1)
            && status(d.join("log")).is_some_and(|s| s.4 == 1)
            && !read(out.join("num.log")).is_empty()
    });
    let pid = status(&d).unwrap().0;
    let lpid = status(d.join("log")).unwrap().0;
    let adopted = format!("runsv num: warning: adopted ./run (pid {pid}) left running by a runsv that died\n");
    let adopted_log = format!("runsv num: warning: adopted log/run (pid {lpid}) left running by a runsv that died\n");
    for i in 0..20 {
        let r = wait_for(20, "the runsv of num", || runsv_of(ns.init, "num"));
        // SAFETY: a runsv inside the namespace this test started.
        unsafe { libc::kill(r, libc::SIGKILL) };
        wait_until(30, "the new runsv adopted the service and its logger", || {
            let c = ns.console();
            c.matches(&adopted).count() == i + 1 && c.matches(&adopted_log).count() == i + 1 && supervised(&d)
        });
        assert_ne!(runsv_of(ns.init, "num"), Some(r));
        assert_eq!(status(&d).map(|s| (s.0, s.4)), Some((pid, 1)), "round {i}: the same pid, running");
        assert_eq!(status(d.join("log")).map(|s| (s.0, s.4)), Some((lpid, 1)), "round {i}: the same logger");
        assert_eq!(health(&d), format!("ready {pid}\n"), "round {i}");
        assert_eq!(procs_in(&d, &["/bin/sh", "./run"]).len(), 1, "round {i}: one instance of ./run");
        assert_eq!(procs_in(&d.join("log"), &["cat"]).len(), 1, "round {i}: one logger");
        assert_eq!(nums(out.join("run.starts")).len(), 1, "round {i}: ./run never started again");
    }
    ns.term();
    assert_eq!(ns.wait(60), Some(0), "console:\n{}", ns.console());
    // Each new runsv adopted the service, then its logger; nothing else was said.
    assert_eq!(ns.console(), (adopted.clone() + &adopted_log).repeat(20));
    assert_eq!(nums(out.join("run.starts")).len(), 1);
    assert_eq!(nums(out.join("log.starts")).len(), 1);
    check_numbered(&lines(out.join("num.log")));
}

// ---- 5. The worked example service-examples/readiness/.

/// The example's app starts only once db is READY (db takes ~0.5 s to say so).
#[test]
fn readiness_example_starts_app_after_db() {
    if !namespaces() {
        return;
    }
    let t = TempDir::new("ready-example");
    let _k = KillUnder(t.0.clone());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("service-examples/readiness/service");
    let st = Command::new("cp").arg("-a").arg(&src).arg(t.join("svc")).status().unwrap();
    assert!(st.success());
    let (db, app) = (t.join("svc/db"), t.join("svc/app"));
    let mut ns = Ns::start(t.path(), &[("URUNIT_STOP_TIMEOUT", "20")]);
    let mut seen_db = Seen::new(&db);
    let mut held = false;
    wait_until(30, "app READY", || {
        let a = health(&app);
        let d = seen_db.look();
        if a == "waiting db\n" {
            held = true;
        }
        // Whenever app's ./run has started, db is READY.
        if a.starts_with("starting ") || a.starts_with("ready ") {
            assert!(d.starts_with("ready "), "app started while db was {d:?}");
        }
        is_ready(&app)
    });
    assert!(held, "app was seen waiting for db");
    assert!(seen_db.v[0].starts_with("starting "), "{:?}", seen_db.v);
    assert!(is_ready(&db));
    ns.term();
    assert_eq!(ns.wait(60), Some(0));
    let c = ns.console();
    assert!(c.contains("db: ready: accepting connections\n"), "{c}");
    assert!(c.contains("app: finish ran (exit=0 signal=0)\n"), "{c}");
    assert!(c.contains("db: finish ran (exit=0 signal=0)\n"), "{c}");
}

/// urunit's sv against urunit's runsv under runsvdir as PID 1: a daemon that serves 0.3 s
/// after exec is serving when `sv -w 10 restart` answers `ok`, with no readiness file (the
/// settle window), with `notification-fd` and with `check` (README "Readiness").
#[test]
fn sv_restart_answers_once_the_daemon_serves() {
    if !namespaces() {
        return;
    }
    for kind in ["settle", "notification-fd", "check"] {
        let t = TempDir::new("ready-serve");
        let _k = KillUnder(t.0.clone());
        let d = t.join("svc/daemon");
        let notify = if kind == "notification-fd" { "echo >&3\n" } else { "" };
        script(d.join("run"), &format!("#!/bin/sh\nsleep 0.3\necho $$ > serving\n{notify}exec sleep 1000\n"));
        match kind {
            "notification-fd" => std::fs::write(d.join("notification-fd"), "3\n").unwrap(),
            "check" => script(d.join("check"), "#!/bin/sh\ntest -s serving\n"),
            _ => {}
        }
        let mut ns = Ns::start(t.path(), &[]);
        wait_until(30, "daemon ready", || is_ready(&d));
        for round in 0..3 {
            // The old run served already: its file goes, so only the new run can write it.
            let _ = std::fs::remove_file(d.join("serving"));
            let mut c = cmd("sv");
            c.args(["-w", "10", "restart"]).arg(&d);
            let o = run(c, 30);
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let pid = status(&d).map(|s| s.0).unwrap_or(0);
            assert_eq!(o.status.code(), Some(0), "{kind} round {round}: {out}");
            assert!(out.starts_with(&format!("ok: run: {}: (pid {pid}) ", d.display())), "{kind} round {round}: {out}");
            let serving = String::from_utf8_lossy(&read(d.join("serving"))).trim().to_string();
            assert_eq!(serving, pid.to_string(), "{kind} round {round}: `ok` before the new run served");
        }
        ns.term();
        assert_eq!(ns.wait(60), Some(0), "{kind}: console:\n{}", ns.console());
    }
}

/// A run that fails 0.3 s after it starts: `sv -w 5 up` says what happened and fails.
#[test]
fn sv_up_reports_a_run_that_fails_after_300_ms() {
    if !namespaces() {
        return;
    }
    let t = TempDir::new("ready-fails");
    let _k = KillUnder(t.0.clone());
    let d = t.join("svc/job");
    script(d.join("run"), "#!/bin/sh\nsleep 0.3\nexit 7\n");
    std::fs::write(d.join("down"), "").unwrap();
    let mut ns = Ns::start(t.path(), &[]);
    wait_until(30, "job supervised", || supervised(&d));
    let mut c = cmd("sv");
    c.args(["-w", "5", "up"]).arg(&d);
    expect(&run(c, 30), 1, &format!("fail: {}: ./run exited 7\n", d.display()), "");
    ns.term();
    assert_eq!(ns.wait(60), Some(0), "console:\n{}", ns.console());
}
