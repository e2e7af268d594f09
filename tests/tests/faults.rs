//! The fault suite (issue 16): the shipped binary as PID 1 of a PID namespace
//! (`unshare --pid --fork --mount-proc`, root), with its pieces killed, starved of
//! descriptors, processes and disk space, flooded with signals and garbage control bytes,
//! and given odd service names. Each case has an exact expectation that can fail.
//!
//! Processes are found from the host through /proc: those whose pid namespace is the
//! test's own namespace (so nothing outside it is ever signalled), matched by their
//! command line (each service execs `sleep TAG` with a tag of its own) and working
//! directory. Files inside a mount made in the namespace are reached through
//! `/proc/INIT/root`.
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use urunit_tests::*;

mod runsvdir_common;
use runsvdir_common::{children, service};

/// Generous deadline for anything that should happen promptly (the machine is shared).
const T: u64 = 30;

/// A process seen from the host.
#[derive(Debug, Clone)]
#[allow(dead_code)]
struct P {
    pid: i32,
    nspid: i32,
    ppid: i32,
    state: char,
    cmdline: Vec<u8>,
    cwd: Option<PathBuf>,
}

/// `sh -c 'PRE; exec runsvdir svc'` as PID 1 of a new PID (and mount) namespace, run in
/// the temporary directory; stdout and stderr in `console`.
struct Ns {
    p: Proc,
    init: i32,
    ns: PathBuf,
    log: PathBuf,
}

impl Ns {
    fn start(t: &TempDir, pre: &str, env: &[(&str, &str)]) -> Ns {
        Ns::start_with(t, pre, "exec runsvdir svc", env)
    }
    fn start_with(t: &TempDir, pre: &str, exec: &str, env: &[(&str, &str)]) -> Ns {
        let log = t.join("console");
        let f = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc", "sh", "-c"]).arg(format!("{pre}\n{exec}\n"));
        c.current_dir(t.path()).env("PATH", path_env()).envs(env.iter().copied());
        c.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
        let p = Proc::spawn(c);
        let u = p.pid();
        let init = wait_for(T, "the namespace's init", || children(u).first().copied());
        let ns = wait_for(T, "the namespace", || std::fs::read_link(format!("/proc/{init}/ns/pid")).ok());
        Ns { p, init, ns, log }
    }
    fn signal(&self, sig: i32) {
        // SAFETY: the namespace init this test started.
        unsafe { libc::kill(self.init, sig) };
    }
    fn console(&self) -> String {
        String::from_utf8_lossy(&read(&self.log)).into_owned()
    }
    /// Every live process of the namespace.
    fn procs(&self) -> Vec<P> {
        let mut v = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            if std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok().as_ref() != Some(&self.ns) {
                continue;
            }
            let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let rest: Vec<&str> = st.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let nspid = status
                .lines()
                .find(|l| l.starts_with("NSpid:"))
                .and_then(|l| l.split_whitespace().last()?.parse().ok())
                .unwrap_or(0);
            v.push(P {
                pid,
                nspid,
                ppid: rest.get(1).and_then(|x| x.parse().ok()).unwrap_or(0),
                state: rest.first().and_then(|x| x.chars().next()).unwrap_or('?'),
                cmdline: read(format!("/proc/{pid}/cmdline")),
                cwd: std::fs::read_link(format!("/proc/{pid}/cwd")).ok(),
            });
        }
        v
    }
    /// Live (not zombie) processes running `sleep TAG` in directory `dir`.
    fn instances(&self, dir: &Path, tag: &str) -> Vec<P> {
        let want = format!("sleep\0{tag}\0").into_bytes();
        self.procs().into_iter().filter(|p| p.state != 'Z' && p.cmdline == want && p.cwd.as_deref() == Some(dir)).collect()
    }
    /// The host pid of the runsv supervising `name`.
    fn runsv(&self, name: &str) -> Option<i32> {
        let want = format!("runsv\0{name}\0").into_bytes();
        self.procs().into_iter().find(|p| p.state != 'Z' && p.cmdline == want).map(|p| p.pid)
    }
    /// The path of `p` (absolute) as the namespace sees it (its own mounts included).
    fn root(&self, p: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.init, p.display()))
    }
    /// Graceful stop: SIGTERM, then runsvdir's exit code.
    fn stop(mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.p.wait_exit(60).code()
    }
}

/// `exec sleep TAG` after recording the start in `starts` (one line per start).
fn sleeper(dir: &Path, tag: &str) {
    script(dir.join("run"), &format!("#!/bin/sh\necho $$ >> starts\nexec sleep {tag}\n"));
}

/// A temp dir with `svc/` and `out/`, and the KillUnder guard for it.
fn setup(tag: &str) -> (TempDir, PathBuf, PathBuf) {
    let t = TempDir::new(tag);
    let (svc, out) = (t.join("svc"), t.join("out"));
    std::fs::create_dir_all(&svc).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    (t, svc, out)
}

/// supervise/status says run with a pid.
fn running(svc: &Path) -> bool {
    status(svc).is_some_and(|(pid, _, _, _, state)| pid != 0 && state == 1)
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: callers pass only pids of processes inside a namespace this test made.
    unsafe { libc::kill(pid, sig) };
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = st.rsplit(')').next()?.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The lines of a log directory: rotated files in order, then `current`.
fn log_lines(dir: &Path) -> Vec<String> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('@')))
                .collect()
        })
        .unwrap_or_default();
    rotated.sort();
    let mut v = Vec::new();
    for f in rotated.iter().chain(std::iter::once(&dir.join("current"))) {
        v.extend(lines(f));
    }
    v
}

/// A service writing numbered lines (`line N`, a short pause every 20) until TERM, then
/// `last N`; its logger is urunit's svlogd on `main`.
fn numbered(dir: &Path, out: &Path) {
    let o = out.display();
    script(
        dir.join("run"),
        &format!(
            "#!/bin/sh\nexec 2>&1\ni=0\nstop=\ntrap 'stop=1' TERM\necho up > {o}/numbered.up\n\
             while [ -z \"$stop\" ]; do i=$((i+1)); echo \"line $i\"; [ $((i % 20)) = 0 ] && sleep 0.02; done\necho \"last $i\"\n"
        ),
    );
    script(dir.join("log/run"), "#!/bin/sh\nexec svlogd main\n");
    std::fs::create_dir_all(dir.join("log/main")).unwrap();
}

// ---------------------------------------------------------------------------------------
// Killing parts of the tree

/// runsv SIGKILLed under runsvdir, 100 times (10 services, 10 rounds): the service never
/// runs twice. Each run execs `sleep TAG`; at no look may two of them be alive.
#[test]
fn runsv_sigkill_never_two_instances() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-runsvkill");
    let names: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    for n in &names {
        sleeper(&svc.join(n), "100001");
    }
    let ns = Ns::start(&t, "", &[]);
    let mut most = 0;
    let mut tries = 0;
    for round in 0..10 {
        let mut old = Vec::new();
        for n in &names {
            let d = svc.join(n);
            let r = wait_for(T, "runsv and its service up", || {
                most = most.max(ns.instances(&d, "100001").len());
                ns.runsv(n).filter(|_| running(&d) && supervised(&d))
            });
            old.push(r);
        }
        for &r in &old {
            kill(r, libc::SIGKILL);
            tries += 1;
        }
        for (n, &r) in names.iter().zip(&old) {
            let d = svc.join(n);
            wait_until(T, "a new runsv supervising the service again", || {
                most = most.max(ns.instances(&d, "100001").len());
                ns.runsv(n).is_some_and(|p| p != r) && running(&d) && supervised(&d)
            });
            let k = ns.instances(&d, "100001").len();
            most = most.max(k);
            assert!(most <= 1, "round {round}: {k} instances of {n} alive after its runsv was SIGKILLed");
        }
    }
    assert_eq!(tries, 100);
    for n in &names {
        assert_eq!(ns.instances(&svc.join(n), "100001").len(), 1, "{n} runs once");
    }
    assert!(most <= 1, "at most one instance at every look, saw {most}");
    assert_eq!(ns.stop(), Some(0));
}

/// The logger (svlogd) SIGKILLed 10 times while the service writes numbered lines: every
/// line reaches the log directory exactly once, in order.
#[test]
fn logger_sigkill_loses_no_line() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("faults-logkill");
    let d = svc.join("numbered");
    numbered(&d, &out);
    let ns = Ns::start(&t, "", &[]);
    let logdir = d.join("log");
    let svlogd = |ns: &Ns| {
        ns.procs()
            .into_iter()
            .find(|p| p.state != 'Z' && p.cmdline.starts_with(b"svlogd\0") && p.cwd.as_deref() == Some(&logdir))
            .map(|p| p.pid)
    };
    let mut last = 0;
    for _ in 0..10 {
        let pid = wait_for(T, "svlogd running", || svlogd(&ns).filter(|&p| p != last));
        // Let some lines through this one before killing it.
        let n0 = read(d.join("log/main/current")).len();
        wait_until(T, "the log grows", || read(d.join("log/main/current")).len() > n0 + 200);
        kill(pid, libc::SIGKILL);
        last = pid;
    }
    wait_for(T, "svlogd running again", || svlogd(&ns).filter(|&p| p != last));
    assert_eq!(ns.stop(), Some(0));
    let log = log_lines(&d.join("log/main"));
    runsvdir_common::check_numbered(&log);
    eprintln!("logger killed 10 times: {} lines, none lost or repeated", log.len());
}

/// The whole tree SIGKILLed (PID 1 of the namespace) 4 times and started again on the same
/// directories; the 5th run is stopped gracefully. Each run numbers its lines from 1 under
/// an id of its own. In the log: the runs one after the other, each run's lines 1..m with
/// nothing missing in between and nothing twice; the last run complete up to `last N`.
/// (What a killed run wrote into the pipe and svlogd had not taken yet dies with the pipe:
/// a killed run's lines are a prefix.)
#[test]
fn whole_tree_sigkill_no_duplicate_no_lost_line() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("faults-treekill");
    let d = svc.join("numbered");
    let o = out.display();
    script(
        d.join("run"),
        &format!(
            "#!/bin/sh\nexec 2>&1\nid=$(date +%s%N)\ni=0\nstop=\ntrap 'stop=1' TERM\necho $id >> {o}/ids\n\
             while [ -z \"$stop\" ]; do i=$((i+1)); echo \"$id $i\"; [ $((i % 20)) = 0 ] && sleep 0.02; done\necho \"$id last $i\"\n"
        ),
    );
    script(d.join("log/run"), "#!/bin/sh\nexec svlogd main\n");
    std::fs::create_dir_all(d.join("log/main")).unwrap();
    for round in 0..5 {
        let ns = Ns::start(&t, "", &[]);
        let n0 = read(d.join("log/main/current")).len();
        wait_until(T, "this run's lines in the log", || {
            lines(out.join("ids")).len() == round + 1 && read(d.join("log/main/current")).len() > n0 + 2000
        });
        if round < 4 {
            let mut ns = ns;
            kill(ns.init, libc::SIGKILL);
            ns.p.wait_exit(T);
        } else {
            assert_eq!(ns.stop(), Some(0));
        }
    }
    let ids = lines(out.join("ids"));
    assert_eq!(ids.len(), 5, "one run per start");
    let log = log_lines(&d.join("log/main"));
    let mut at = 0;
    for (k, id) in ids.iter().enumerate() {
        let mut n = 0u64;
        while at < log.len() {
            let Some(rest) = log[at].strip_prefix(&format!("{id} ")) else { break };
            if let Some(last) = rest.strip_prefix("last ") {
                assert_eq!(k, 4, "only the last run was stopped gracefully");
                assert_eq!(last.parse::<u64>().unwrap(), n, "`last` counts the lines before it");
                at += 1;
                break;
            }
            n += 1;
            assert_eq!(rest, n.to_string(), "run {k}: line {at} of the log");
            at += 1;
        }
        assert!(n > 0, "run {k} ({id}) has lines in the log");
        if k == 4 {
            assert!(log[at - 1].starts_with(&format!("{id} last ")), "the stopped run ends with its last line");
        }
    }
    assert_eq!(at, log.len(), "nothing else in the log: {:?}", &log[at.min(log.len())..]);
}

// ---------------------------------------------------------------------------------------
// Signals

/// 100 of each signal that runsv has no use for, to its own runsv each: runsv survives and
/// its service is neither signalled into a restart nor restarted.
#[test]
fn hundred_of_every_signal_to_runsv() {
    signals_to_runsv(&[
        ("hup", libc::SIGHUP),
        ("quit", libc::SIGQUIT),
        ("usr1", libc::SIGUSR1),
        ("usr2", libc::SIGUSR2),
        ("pipe", libc::SIGPIPE),
        ("alrm", libc::SIGALRM),
        ("trap", libc::SIGTRAP),
        ("vtalrm", libc::SIGVTALRM),
        ("prof", libc::SIGPROF),
        ("io", libc::SIGIO),
        ("pwr", libc::SIGPWR),
        ("sys", libc::SIGSYS),
        ("xcpu", libc::SIGXCPU),
        ("xfsz", libc::SIGXFSZ),
        ("stkflt", libc::SIGSTKFLT),
        ("rt34", 34),
        ("rt50", 50),
        ("rt64", 64),
    ]);
}

/// The signals runsv survives today: ignored by default or handled (CHLD: a spurious
/// SIGCHLD must not be taken for an exit).
#[test]
fn hundred_of_harmless_signals_to_runsv() {
    signals_to_runsv(&[("chld", libc::SIGCHLD), ("cont", libc::SIGCONT), ("winch", libc::SIGWINCH), ("urg", libc::SIGURG)]);
}

fn signals_to_runsv(sigs: &[(&str, i32)]) {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-sigs");
    for (n, _) in sigs {
        sleeper(&svc.join(n), "100002");
    }
    let ns = Ns::start(&t, "", &[]);
    let mut before = Vec::new();
    for (n, _) in sigs {
        let d = svc.join(n);
        let r = wait_for(T, "service up", || ns.runsv(n).filter(|_| running(&d) && supervised(&d)));
        before.push((r, status(&d).unwrap().0));
    }
    for ((_, s), (r, _)) in sigs.iter().zip(&before) {
        for _ in 0..100 {
            kill(*r, *s);
        }
    }
    // runsv answers a control byte after the burst: every signal has been dealt with.
    for (n, _) in sigs {
        control(svc.join(n), b"c");
    }
    let mut bad = Vec::new();
    for ((n, _), (r, pid)) in sigs.iter().zip(&before) {
        let d = svc.join(n);
        // A dead runsv is restarted by runsvdir: compare pids, not just liveness.
        let ok = poll(3, || (!alive(*r)).then_some(())).is_none();
        let same = status(&d).map(|s| s.0) == Some(*pid) && lines(d.join("starts")).len() == 1;
        if !ok || !same {
            bad.push(format!(
                "{n}: runsv {}, service {}",
                if ok { "alive" } else { "died" },
                if same { "untouched" } else { "restarted" }
            ));
        }
    }
    assert!(bad.is_empty(), "after 100 of each signal: {bad:?}\nconsole:\n{}", ns.console());
    assert_eq!(ns.stop(), Some(0));
}

/// Bursts of 1,000 HUP, CHLD and ALRM to PID 1: it stays up, no service is restarted, it
/// still rescans (a new service starts); then TERM twice: one graceful stop, every
/// `./finish` once, exit 0.
#[test]
fn signal_bursts_to_pid1() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("faults-pid1sigs");
    for n in ["a", "b", "c"] {
        service(&svc.join(n), &out, n);
    }
    let ns = Ns::start(&t, "", &[]);
    wait_until(T, "services up", || ["a", "b", "c"].iter().all(|n| out.join(format!("{n}.up")).exists()));
    let ups: Vec<Vec<u8>> = ["a", "b", "c"].iter().map(|n| read(out.join(format!("{n}.up")))).collect();
    for sig in [libc::SIGHUP, libc::SIGCHLD, libc::SIGALRM] {
        for _ in 0..1000 {
            ns.signal(sig);
        }
    }
    service(&svc.join("d"), &out, "d");
    wait_until(T, "a service added after the bursts starts", || out.join("d.up").exists());
    assert!(alive(ns.init));
    for (n, up) in ["a", "b", "c"].iter().zip(&ups) {
        assert_eq!(&read(out.join(format!("{n}.up"))), up, "{n} was not restarted");
        assert!(!out.join(format!("{n}.term")).exists(), "{n} got no TERM");
    }
    ns.signal(libc::SIGTERM);
    ns.signal(libc::SIGTERM);
    let mut ns = ns;
    assert_eq!(ns.p.wait_exit(60).code(), Some(0), "console:\n{}", ns.console());
    for n in ["a", "b", "c", "d"] {
        assert_eq!(lines(out.join(format!("{n}.term"))), ["term"], "{n}: one TERM");
        assert_eq!(lines(out.join(format!("{n}.finish"))), ["0 0"], "{n}: ./finish once");
    }
    assert_eq!(ns.console(), "");
}

/// SIGTERM to PID 1 while it is still starting 20 services: a graceful stop, exit 0, and
/// every service that got as far as starting ran its `./finish` once.
#[test]
fn sigterm_during_startup() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("faults-earlyterm");
    for i in 0..20 {
        service(&svc.join(format!("s{i:02}")), &out, &format!("s{i:02}"));
    }
    let mut ns = Ns::start(&t, "", &[]);
    // The kernel drops a signal to a namespace's PID 1 that has neither blocked nor caught
    // it (sh before its exec, runsvdir before its first instructions): send it as soon as
    // runsvdir holds SIGTERM, while its services are still being started.
    let holds_term = |pid: i32| {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mask = |k: &str| {
            st.lines().find_map(|l| l.strip_prefix(k)).and_then(|v| u64::from_str_radix(v.trim(), 16).ok()).unwrap_or(0)
        };
        read(format!("/proc/{pid}/cmdline")).starts_with(b"runsvdir")
            && (mask("SigBlk:") | mask("SigCgt:")) & (1 << (libc::SIGTERM - 1)) != 0
    };
    wait_until(T, "runsvdir holds SIGTERM", || holds_term(ns.init));
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.p.wait_exit(60).code(), Some(0), "console:\n{}", ns.console());
    let mut started = 0;
    for i in 0..20 {
        let n = format!("s{i:02}");
        if out.join(format!("{n}.up")).exists() {
            started += 1;
            assert_eq!(lines(out.join(format!("{n}.finish"))), ["0 0"], "{n} started, so it was stopped gracefully");
        }
    }
    eprintln!("TERM during start-up: {started} of 20 services had started");
}

// ---------------------------------------------------------------------------------------
// Bad ./run: runit's restart pace, low CPU

/// `run` missing, not executable, a directory, and exiting at once: over a 5 s window each
/// is started 4 to 7 times (runit's pace is one start a second), and no runsv uses more
/// than half a second of CPU in it.
#[test]
fn bad_run_restarts_at_runits_pace() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("faults-badrun");
    std::fs::create_dir_all(svc.join("missing")).unwrap();
    std::fs::create_dir_all(svc.join("noexec")).unwrap();
    std::fs::write(svc.join("noexec/run"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(svc.join("noexec/run"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::create_dir_all(svc.join("isdir/run")).unwrap();
    script(svc.join("exits/run"), &format!("#!/bin/sh\necho x >> {}/exits\n", out.display()));
    let ns = Ns::start(&t, "", &[]);
    let starts = |ns: &Ns| -> [usize; 4] {
        let c = ns.console();
        let count = |n: &str| c.lines().filter(|l| l.starts_with(&format!("runsv {n}: fatal: unable to start ./run"))).count();
        [count("missing"), count("noexec"), count("isdir"), lines(out.join("exits")).len()]
    };
    wait_until(T, "every service tried once", || starts(&ns).iter().all(|&n| n > 0));
    let runsvs: Vec<i32> = ["missing", "noexec", "isdir", "exits"].iter().map(|n| wait_for(T, "runsv", || ns.runsv(n))).collect();
    let cpu0: Vec<u64> = runsvs.iter().map(|&p| cpu_ticks(p).unwrap()).collect();
    let s0 = starts(&ns);
    let t0 = Instant::now();
    // Counting events over a fixed window (not waiting for a state).
    std::thread::sleep(Duration::from_secs(5));
    let s1 = starts(&ns);
    let cpu1: Vec<u64> = runsvs.iter().map(|&p| cpu_ticks(p).unwrap()).collect();
    let secs = t0.elapsed().as_secs_f64();
    for (i, n) in ["missing", "noexec", "isdir", "exits"].iter().enumerate() {
        let k = s1[i] - s0[i];
        eprintln!("{n}: {k} starts in {secs:.1} s, runsv CPU {} ticks", cpu1[i] - cpu0[i]);
        assert!((4..=7).contains(&k), "{n}: {k} starts in {secs:.1} s (runit's pace: one a second)");
        assert!(cpu1[i] - cpu0[i] < 50, "{n}: runsv used {} ticks of CPU in 5 s", cpu1[i] - cpu0[i]);
    }
    let c = ns.console();
    assert!(c.contains("runsv missing: fatal: unable to start ./run: file does not exist\n"), "{c}");
    assert!(c.contains("runsv noexec: fatal: unable to start ./run: access denied\n"), "{c}");
    assert!(c.contains("runsv isdir: fatal: unable to start ./run: access denied\n"), "{c}");
    assert_eq!(ns.stop(), Some(0));
}

// ---------------------------------------------------------------------------------------
// supervise/control

/// Four writers at once: random bytes (all but `x`) in single bytes, small and 64 KiB
/// writes, 1 MiB in all. runsv survives, every status it writes meanwhile is whole and
/// valid, and after `c` and `u` the state is consistent: status, stat and pid agree, and
/// exactly one instance of the service runs.
#[test]
fn control_garbage_from_several_writers() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-garbage");
    let d = svc.join("g");
    sleeper(&d, "100003");
    let ns = Ns::start(&t, "", &[]);
    let r = wait_for(T, "service up", || ns.runsv("g").filter(|_| running(&d) && supervised(&d)));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let ctl = d.join("supervise/control");
            std::thread::spawn(move || {
                use std::io::Write;
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (w + 1);
                let mut rnd = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let mut f = std::fs::OpenOptions::new().write(true).open(ctl).unwrap();
                let mut sent = 0;
                while sent < 256 * 1024 {
                    let n = match rnd() % 3 {
                        0 => 1,
                        1 => 1 + (rnd() % 300) as usize,
                        _ => 65536,
                    };
                    let buf: Vec<u8> = (0..n).map(|_| rnd() as u8).map(|b| if b == b'x' { b'?' } else { b }).collect();
                    f.write_all(&buf).unwrap();
                    sent += n;
                }
            })
        })
        .collect();
    let mut looks = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        if let Some(b) = status_bytes(&d) {
            assert!(matches!(b[17], b'u' | b'd') && b[19] <= 2 && b[16] <= 1 && b[18] <= 1, "status {b:?}");
            looks += 1;
        }
        assert!(alive(r), "runsv died during the flood; console:\n{}", ns.console());
        std::thread::sleep(Duration::from_millis(5));
    }
    for w in writers {
        w.join().unwrap();
    }
    control(&d, b"cu");
    wait_until(T, "consistent state", || {
        let Some((pid, paused, want, _, state)) = status(&d) else { return false };
        let stat = String::from_utf8_lossy(&read(d.join("supervise/stat"))).into_owned();
        let pidf = String::from_utf8_lossy(&read(d.join("supervise/pid"))).into_owned();
        let inst = ns.instances(&d, "100003");
        (paused, want, state) == (0, b'u', 1)
            && stat == "run\n"
            && pidf == format!("{pid}\n")
            && inst.len() == 1
            && inst[0].nspid == pid as i32
            && inst[0].state != 'T'
    });
    assert!(alive(r), "the same runsv");
    eprintln!("control flood: {looks} status looks, all valid");
    assert_eq!(ns.stop(), Some(0));
}

// ---------------------------------------------------------------------------------------
// supervise/ on odd ground

/// `supervise` a dangling symlink: runsv makes its target (as runit) and the service runs.
#[test]
fn supervise_dangling_symlink() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-symlink");
    let d = svc.join("a");
    sleeper(&d, "100004");
    std::os::unix::fs::symlink("../../elsewhere", d.join("supervise")).unwrap();
    let ns = Ns::start(&t, "", &[]);
    wait_until(T, "service up through the symlink", || running(&d) && supervised(&d));
    assert!(t.join("elsewhere/status").exists());
    // `status` says run once ./run is forked; the shell then execs sleep.
    wait_until(T, "one instance", || ns.instances(&d, "100004").len() == 1);
    assert_eq!(ns.stop(), Some(0));
}

/// `supervise` a regular file: runsv exits 111 with runit's message, as C runsv.
#[test]
fn supervise_is_a_file() {
    for which in [Impl::U, Impl::C] {
        let Some(mut c) = impl_cmd(which, "runsv") else { continue };
        let t = TempDir::new("faults-supfile");
        let d = t.join("a");
        sleeper(&d, "100005");
        std::fs::write(d.join("supervise"), "").unwrap();
        c.arg("a").current_dir(t.path());
        let o = run(c, T);
        expect(&o, 111, "", "runsv a: fatal: unable to open supervise/lock: not a directory\n");
        assert!(!d.join("starts").exists(), "{which:?}: nothing started");
    }
}

/// The service directory on a read-only bind mount: its supervise files go to
/// $URUNIT_RUNDIR/KEY (contract 4), the service runs and `sv status` reports it.
#[test]
fn service_dir_on_read_only_mount() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-rofs");
    let d = svc.join("ro");
    script(d.join("run"), "#!/bin/sh\nexec sleep 100006\n");
    let rundir = t.join("rundir");
    let ns = Ns::start(
        &t,
        "mount --bind svc/ro svc/ro && mount -o remount,bind,ro svc/ro || exit 99",
        &[("URUNIT_RUNDIR", rundir.to_str().unwrap())],
    );
    let key = d.to_str().unwrap()[1..].replace('%', "%25").replace('/', "%2F");
    let st = rundir.join(&key);
    // The supervise files are in R/KEY itself (README "Read-only and non-root").
    wait_until(T, "service up, state in the run directory", || {
        std::fs::read(st.join("status")).is_ok_and(|b| b.len() == 20 && b[19] == 1)
    });
    assert!(!d.join("supervise").exists());
    // `status` says run once ./run is forked; the shell then execs sleep.
    wait_until(T, "one instance", || ns.instances(&d, "100006").len() == 1);
    let o = run(
        {
            let mut c = cmd("sv");
            c.arg("status").arg(&d).env("URUNIT_RUNDIR", &rundir);
            c
        },
        T,
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&format!("run: {}: (pid ", d.display())), "{o:?}");
    assert_eq!(ns.stop(), Some(0));
}

/// The service directory on a full filesystem (a 64 KiB tmpfs, filled): `sv down` and
/// `sv up` still work, and whenever `supervise/status` is not the truth, runsv has said so
/// (a warning naming supervise/status). The service never runs while status says down
/// without such a warning.
#[test]
fn supervise_on_full_filesystem() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-full");
    let d = svc.join("f");
    std::fs::create_dir_all(&d).unwrap();
    let tmpl = t.join("tmpl");
    sleeper(&tmpl, "100007");
    let ns = Ns::start(&t, "mount -t tmpfs -o size=64k tmpfs svc/f && cp -a tmpl/. svc/f/ || exit 99", &[]);
    let rd = ns.root(&d);
    wait_until(T, "service up", || running(&rd) && supervised(&rd));
    // Fill the filesystem.
    let _ = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", rd.join("fill").display()))
        .arg("bs=4k")
        .stderr(Stdio::null())
        .status();
    let check = |ns: &Ns, what: &str| {
        let (pid, _, _, _, state) = status(&rd).unwrap();
        let inst = ns.instances(&d, "100007");
        let truth = match (state, inst.as_slice()) {
            (1, [p]) => p.nspid == pid as i32,
            (0, []) => true,
            _ => false,
        };
        let warned = ns.console().contains("supervise/status");
        assert!(
            truth || warned,
            "{what}: status says state {state} pid {pid}, running: {inst:?}, and no warning; console:\n{}",
            ns.console()
        );
        truth
    };
    control(&rd, b"d");
    wait_until(T, "service down", || ns.instances(&d, "100007").is_empty());
    let t1 = check(&ns, "after sv down on a full disk");
    control(&rd, b"u");
    wait_until(T, "service up again", || ns.instances(&d, "100007").len() == 1);
    // runsv acts on status before the poll sees the process: settle on either outcome.
    let _ = poll(2, || running(&rd).then_some(()));
    let t2 = check(&ns, "after sv up on a full disk");
    eprintln!("full disk: status true after down: {t1}, after up: {t2}; console:\n{}", ns.console());
    std::fs::remove_file(rd.join("fill")).unwrap();
    control(&rd, b"d");
    wait_until(T, "status down once there is space", || {
        status(&rd).is_some_and(|s| s.4 == 0) && ns.instances(&d, "100007").is_empty()
    });
    control(&rd, b"u");
    wait_until(T, "status run once there is space", || running(&rd) && ns.instances(&d, "100007").len() == 1);
    assert_eq!(ns.stop(), Some(0));
}

/// The log directory on a full 64 KiB tmpfs: svlogd pauses (runit's `pausing` warning),
/// the service's lines wait in the pipe, and once space is freed every line arrives once.
#[test]
fn svlogd_enospc_then_space() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("faults-logfull");
    let d = svc.join("l");
    script(
        d.join("run"),
        &format!(
            "#!/bin/sh\ni=0\nwhile [ $i -lt 1500 ]; do i=$((i+1)); echo \"line $i\"; done\necho done > {}/l.done\nexec sleep 100008\n",
            out.display()
        ),
    );
    script(d.join("log/run"), "#!/bin/sh\nexec svlogd main\n");
    std::fs::create_dir_all(d.join("log/main")).unwrap();
    let ns = Ns::start(
        &t,
        "mount -t tmpfs -o size=64k tmpfs svc/l/log/main || exit 99\ndd if=/dev/zero of=svc/l/log/main/fill bs=4k 2>/dev/null\n",
        &[],
    );
    let main = ns.root(&d.join("log/main"));
    wait_until(T, "svlogd pauses", || ns.console().contains("svlogd: pausing: "));
    assert!(!out.join("l.done").exists() || log_lines(&main).len() < 1500, "nothing could be written yet");
    std::fs::remove_file(main.join("fill")).unwrap();
    wait_until(T, "every line in the log", || log_lines(&main).len() >= 1500);
    let log = log_lines(&main);
    assert_eq!(log, (1..=1500).map(|i| format!("line {i}")).collect::<Vec<_>>());
    assert_eq!(ns.stop(), Some(0));
}

// ---------------------------------------------------------------------------------------
// Resource limits

/// 20 services under `ulimit -S -n 16`; once the limit is lifted every service runs within
/// 15 s.
#[test]
fn fd_limit_then_lifted() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-nofile");
    let names: Vec<String> = (0..20).map(|i| format!("n{i:02}")).collect();
    for n in &names {
        sleeper(&svc.join(n), "100009");
    }
    // The soft limit only: raising a hard limit needs CAP_SYS_RESOURCE.
    let ns = Ns::start(&t, "ulimit -S -n 16", &[]);
    // Either everything runs within the limit, or something complains about it.
    let _ = poll(20, || (names.iter().all(|n| running(&svc.join(n))) || ns.console().contains("unable to")).then_some(()));
    let before = names.iter().filter(|n| running(&svc.join(n))).count();
    for p in ns.procs() {
        let _ = Command::new("prlimit").arg(format!("--pid={}", p.pid)).arg("--nofile=1024:").status();
    }
    let t0 = Instant::now();
    wait_until(15, "every service up after the limit was lifted", || {
        names.iter().all(|n| running(&svc.join(n)) && ns.instances(&svc.join(n), "100009").len() == 1)
    });
    eprintln!(
        "ulimit -n 16: {before} of 20 up under the limit, all 20 {:?} after lifting; console:\n{}",
        t0.elapsed(),
        ns.console()
    );
    assert_eq!(ns.stop(), Some(0));
}

/// 20 services run by a non-root user with RLIMIT_NPROC 20 (`prlimit --nproc`): forks fail;
/// once the limit is lifted every service runs within 15 s.
#[test]
fn process_limit_then_lifted() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-nproc");
    let names: Vec<String> = (0..20).map(|i| format!("n{i:02}")).collect();
    for n in &names {
        sleeper(&svc.join(n), "100010");
    }
    // A uid of its own (per test process: RLIMIT_NPROC counts a uid's processes machine-wide),
    // so the count of its processes is ours alone.
    let uid = (40000 + std::process::id() % 20000).to_string();
    let uid = uid.as_str();
    assert!(Command::new("chown").args(["-R", &format!("{uid}:{uid}")]).arg(t.path()).status().unwrap().success());
    let ns = Ns::start_with(
        &t,
        "",
        &format!("exec prlimit --nproc=20: setpriv --reuid={uid} --regid={uid} --clear-groups runsvdir svc"),
        &[],
    );
    let failed = poll(T, || ns.console().contains("unable to fork").then_some(()));
    assert!(failed.is_some(), "no fork failed under the limit; console:\n{}", ns.console());
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills a valid struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut lim) };
    let hard = if lim.rlim_max == libc::RLIM_INFINITY { "unlimited".to_string() } else { lim.rlim_max.to_string() };
    for p in ns.procs() {
        // As that user: root here lacks CAP_SYS_RESOURCE, which another user's limits need.
        let _ = Command::new("setpriv")
            .args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", "prlimit"])
            .arg(format!("--pid={}", p.pid))
            .arg(format!("--nproc={hard}:"))
            .status();
    }
    let t0 = Instant::now();
    let up = || names.iter().filter(|n| running(&svc.join(n)) && ns.instances(&svc.join(n), "100010").len() == 1).count();
    let ok = poll(15, || (up() == names.len()).then_some(()));
    assert!(ok.is_some(), "{} of 20 services up 15 s after the limit was lifted; console:\n{}", up(), ns.console());
    eprintln!("ulimit -u 20: all 20 up {:?} after lifting", t0.elapsed());
    assert_eq!(ns.stop(), Some(0));
}

// ---------------------------------------------------------------------------------------
// Scale

fn many_services(n: usize) {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-many");
    let names: Vec<String> = (0..n).map(|i| format!("s{i:04}")).collect();
    // Written by hand, not script(): a thousand install(1) runs would take long.
    let run = t.join("run");
    std::fs::write(&run, "#!/bin/sh\nexec sleep 100011\n").unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    for s in &names {
        std::fs::create_dir_all(svc.join(s)).unwrap();
        std::fs::hard_link(&run, svc.join(s).join("run")).unwrap();
    }
    let ns = Ns::start(&t, "", &[]);
    let t0 = Instant::now();
    let mut up = 0;
    let ok = poll(120, || {
        up = names.iter().filter(|s| running(&svc.join(s))).count();
        (up == n).then_some(())
    });
    assert!(ok.is_some(), "{up} of {n} services up; console:\n{}", ns.console());
    eprintln!("{n} services up in {:?}", t0.elapsed());
    assert_eq!(ns.console(), "");
    assert_eq!(ns.stop(), Some(0));
}

#[test]
fn thousand_services() {
    many_services(1000);
}

#[test]
fn thousand_and_one_services() {
    many_services(1001);
}

/// A service whose children leave 2,000 orphans: PID 1 reaps every one.
#[test]
fn two_thousand_orphans_reaped() {
    if !namespaces() {
        return;
    }
    let (t, svc, out) = setup("faults-orphans");
    let o = out.display();
    script(
        svc.join("storm/run"),
        &format!(
            "#!/bin/sh\ni=0\nwhile [ $i -lt 2000 ]; do ( sleep 0.01 & ); i=$((i+1)); done\necho done > {o}/storm.done\nexec sleep 100012\n"
        ),
    );
    let ns = Ns::start(&t, "", &[]);
    wait_until(120, "the storm is over", || out.join("storm.done").exists());
    let zombies = |ns: &Ns| ns.procs().iter().filter(|p| p.state == 'Z').count();
    wait_until(T, "no zombie left", || zombies(&ns) == 0 && ns.procs().iter().all(|p| !p.cmdline.starts_with(b"sleep\x000.01")));
    assert_eq!(ns.stop(), Some(0));
}

// ---------------------------------------------------------------------------------------
// Names

/// Service names with a space, a newline, 255 bytes and bytes that are not UTF-8: each
/// is supervised and runs, and `sv status` names it byte for byte.
#[test]
fn odd_service_names() {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup("faults-names");
    let names: Vec<Vec<u8>> =
        vec![b"with space".to_vec(), b"new\nline".to_vec(), vec![b'x'; 255], b"\xff\xfe\x80bytes".to_vec(), b"100%".to_vec()];
    for n in &names {
        sleeper(&svc.join(OsStr::from_bytes(n)), "100013");
    }
    let ns = Ns::start(&t, "", &[]);
    for n in &names {
        let d = svc.join(OsStr::from_bytes(n));
        wait_until(T, "service with an odd name up", || running(&d) && supervised(&d) && ns.instances(&d, "100013").len() == 1);
        let mut c = cmd("sv");
        c.arg("status").arg(&d);
        let o = run(c, T);
        let mut want = b"run: ".to_vec();
        want.extend_from_slice(d.as_os_str().as_bytes());
        want.extend_from_slice(b": (pid ");
        assert!(o.stdout.starts_with(&want), "{:?}: {:?}", String::from_utf8_lossy(n), String::from_utf8_lossy(&o.stdout));
        assert_eq!(o.status.code(), Some(0));
    }
    assert_eq!(ns.console(), "");
    assert_eq!(ns.stop(), Some(0));
}

// ---------------------------------------------------------------------------------------
// The clock

/// The restart pace under a stepped wall clock. CLOCK_REALTIME is not namespaced (a time
/// namespace offsets only the monotonic and boot clocks), so stepping it would change the
/// machine's clock for everyone: not done. runsv paces restarts by CLOCK_MONOTONIC, which
/// `bad_run_restarts_at_runits_pace` measures.
#[test]
fn wall_clock_step() {
    eprintln!(
        "SKIP: stepping the wall clock needs CAP_SYS_TIME on the machine's own clock (time namespaces do not cover CLOCK_REALTIME); not changing it"
    );
}

// ---------------------------------------------------------------------------------------
// A ./finish that never exits

/// `./finish` that hangs (`exec sleep`): after `t` the run exits and finish hangs; then
/// `k` (sv kill), `d` (sv down) or `tcu` (sv restart) ends it, and the service does what
/// was asked: runs again after kill and restart, stays down after down.
fn hanging_finish(tag: &str, cmd_bytes: &[u8], want_up: bool) {
    if !namespaces() {
        return;
    }
    let (t, svc, _out) = setup(tag);
    let d = svc.join("f");
    sleeper(&d, "100014");
    script(d.join("finish"), "#!/bin/sh\necho $$ >> fins\nexec sleep 100015\n");
    let ns = Ns::start(&t, "", &[]);
    // Up, and past the line that records the start (a TERM before it would lose it).
    wait_until(T, "service up", || running(&d) && supervised(&d) && lines(d.join("starts")).len() == 1);
    control(&d, b"t");
    wait_until(T, "finish hangs", || status(&d).is_some_and(|s| s.4 == 2) && ns.instances(&d, "100015").len() == 1);
    control(&d, cmd_bytes);
    let ok = poll(20, || {
        let fin_gone = ns.instances(&d, "100015").is_empty();
        let starts = lines(d.join("starts")).len();
        let ok = if want_up {
            fin_gone && starts == 2 && running(&d) && ns.instances(&d, "100014").len() == 1
        } else {
            fin_gone
                && starts == 1
                && status(&d).is_some_and(|s| s.4 == 0 && s.2 == b'd')
                && ns.instances(&d, "100014").is_empty()
        };
        ok.then_some(())
    });
    assert!(
        ok.is_some(),
        "{:?} during a hanging ./finish: finish left {}, starts {}, status {:?}",
        String::from_utf8_lossy(cmd_bytes),
        ns.instances(&d, "100015").len(),
        lines(d.join("starts")).len(),
        status(&d)
    );
    assert_eq!(ns.stop(), Some(0));
}

#[test]
fn hanging_finish_sv_kill() {
    hanging_finish("faults-finkill", b"k", true);
}

#[test]
fn hanging_finish_sv_down() {
    hanging_finish("faults-findown", b"d", false);
}

#[test]
fn hanging_finish_sv_restart() {
    hanging_finish("faults-finrestart", b"tcu", true);
}
