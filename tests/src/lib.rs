//! The integration-test harness: it runs the shipped static binary (built by `make`
//! before the tests), in temporary directories, and asserts exact bytes.
//! Nothing here sleeps a fixed time: waits poll against generous deadlines.
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The release binary under test: $URUNIT_BIN, default target/x86_64-unknown-linux-musl/release/urunit.
pub fn bin() -> PathBuf {
    if let Ok(p) = std::env::var("URUNIT_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let p = root.join("target/x86_64-unknown-linux-musl/release/urunit");
    assert!(p.exists(), "no release binary at {} (run `make` first)", p.display());
    p
}

/// A bin directory holding links for every program (urunit --install), made once per test process.
pub fn bindir() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("urunit-bin-{}", std::process::id()));
        // A stale directory of an earlier process with the same pid: --install won't replace.
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let out = Command::new(bin()).arg("--install").arg(&d).output().unwrap();
        assert!(out.status.success(), "urunit --install failed: {}", String::from_utf8_lossy(&out.stderr));
        d
    })
    .clone()
}

/// PATH with our bindir first (runsvdir finds runsv through PATH, as runit does).
pub fn path_env() -> String {
    format!("{}:{}", bindir().display(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
}

/// A command running the shipped binary as program `name` (argv[0] = name).
pub fn cmd(name: &str) -> Command {
    let mut c = Command::new(bin());
    c.arg0(name).env("PATH", path_env());
    c
}

/// Directory of Debian's C runit binaries (from `make crunit`), if present.
pub fn crunit_dir() -> Option<PathBuf> {
    let d = std::env::var("CRUNIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/crunit"));
    if d.join("usr/bin/runsv").exists() { Some(d) } else { None }
}

/// C runit's program `name`, or a clear skip: when URUNIT_REQUIRE_ALL=1 (CI) a missing
/// dependency is a failure, never a silent pass.
pub fn crunit(name: &str) -> Option<PathBuf> {
    match crunit_dir() {
        Some(d) => {
            for sub in ["usr/bin", "usr/sbin", "sbin"] {
                let p = d.join(sub).join(name);
                if p.exists() {
                    return Some(p);
                }
            }
            panic!("C runit has no {name}");
        }
        None => {
            skip(&format!("C runit not found (run `make crunit`), {name} interop not tested"));
            None
        }
    }
}

/// Reports a skipped check; fails instead when URUNIT_REQUIRE_ALL=1.
pub fn skip(why: &str) {
    if std::env::var("URUNIT_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("required but unavailable: {why}");
    }
    eprintln!("SKIP: {why}");
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::var("URUNIT_TEST_TMP").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
        let p = base.join(format!("urunit-{tag}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes an executable script.
pub fn script(path: impl AsRef<Path>, body: &str) {
    let path = path.as_ref();
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    // Written by a child process (install(1)) from a temporary file, never opened for
    // writing here: a child that another test thread forks meanwhile would inherit that
    // descriptor until its exec, and exec'ing the script would fail with ETXTBSY.
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name().unwrap().to_string_lossy(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, body).unwrap();
    let st = Command::new("install").arg("-m").arg("755").arg(&tmp).arg(path).status().expect("install(1)");
    std::fs::remove_file(&tmp).unwrap();
    assert!(st.success(), "install {}", path.display());
}

/// Polls `f` every few milliseconds until it returns Some, or panics with `what` after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Polls until `f` is true.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    wait_for(secs, what, || f().then_some(()))
}

/// A child process, SIGKILLed (with its process group if it leads one) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub group: bool,
}

impl Proc {
    /// Spawns `c` in a new process group (so drop can end everything it started).
    pub fn spawn(mut c: Command) -> Proc {
        c.process_group(0);
        Proc { child: c.spawn().expect("spawn"), group: true }
    }
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill on a pid we started.
        unsafe { libc::kill(self.pid(), sig) };
    }
    /// Waits for exit (deadline `secs`), returning the exit status.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let c = &mut self.child;
        wait_for(secs, "process exit", || c.try_wait().unwrap())
    }
    /// Waits for exit and collects stdout/stderr if they were piped.
    pub fn output(mut self, secs: u64) -> Output {
        let status = self.wait_exit(secs);
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        use std::io::Read;
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_end(&mut stdout);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_end(&mut stderr);
        }
        Output { status, stdout, stderr }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill on a pid / process group we started.
            unsafe {
                if self.group {
                    libc::kill(-self.pid(), libc::SIGKILL);
                }
                libc::kill(self.pid(), libc::SIGKILL);
            }
            let _ = self.child.wait();
        } else if self.group {
            // SAFETY: the group we created; anything left in it is ours.
            unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        }
    }
}

/// Runs a command to completion with a deadline and returns its output.
pub fn run(mut c: Command, secs: u64) -> Output {
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Read pipes on threads so a chatty child cannot block.
    let mut p = Proc::spawn(c);
    let mut so = p.child.stdout.take().unwrap();
    let mut se = p.child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).ok();
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).ok();
        v
    });
    let status = p.wait_exit(secs);
    Output { status, stdout: t1.join().unwrap(), stderr: t2.join().unwrap() }
}

/// Asserts exact stdout, stderr and exit code, showing text on failure.
#[track_caller]
pub fn expect(o: &Output, code: i32, stdout: &str, stderr: &str) {
    let so = String::from_utf8_lossy(&o.stdout);
    let se = String::from_utf8_lossy(&o.stderr);
    assert_eq!((o.status.code(), so.as_ref(), se.as_ref()), (Some(code), stdout, stderr));
}

/// Reads a file or returns empty bytes.
pub fn read(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

/// The 20-byte supervise/status of a service directory, if complete.
pub fn status_bytes(svc: impl AsRef<Path>) -> Option<[u8; 20]> {
    std::fs::read(svc.as_ref().join("supervise/status")).ok()?.try_into().ok()
}

/// Decoded status: (pid, paused, want, term, state).
pub fn status(svc: impl AsRef<Path>) -> Option<(u32, u8, u8, u8, u8)> {
    let b = status_bytes(svc)?;
    Some((u32::from_le_bytes([b[12], b[13], b[14], b[15]]), b[16], b[17], b[18], b[19]))
}

/// Writes control bytes into supervise/control (as `printf X > supervise/control`).
pub fn control(svc: impl AsRef<Path>, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(svc.as_ref().join("supervise/control")).unwrap();
    f.write_all(bytes).unwrap();
}

/// True if `supervise/ok` has a reader (a runsv is supervising the directory).
pub fn supervised(svc: impl AsRef<Path>) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(svc.as_ref().join("supervise/ok")).is_ok()
}

/// True if a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Lines of a file as strings.
pub fn lines(p: impl AsRef<Path>) -> Vec<String> {
    String::from_utf8_lossy(&read(p)).lines().map(String::from).collect()
}

/// The path of a helper binary built with the tests (e.g. "splicecat").
pub fn helper(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<triple?>/debug/deps/test-xxxx -> target/<...>/debug/name
    let p = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(p.exists(), "helper {} not built", p.display());
    p
}

/// Runs `f` with `OsStr` conversions handy.
pub fn s<S: AsRef<OsStr> + ?Sized>(x: &S) -> &OsStr {
    x.as_ref()
}

/// Which implementation a differential test runs: Debian's C runit or the shipped urunit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Impl {
    C,
    U,
}

/// Program `name` of implementation `which` with argv[0] = `name`; None (after skip()) when
/// C runit is missing.
pub fn impl_cmd(which: Impl, name: &str) -> Option<Command> {
    match which {
        Impl::U => Some(cmd(name)),
        Impl::C => crunit(name).map(|p| {
            let mut c = Command::new(p);
            c.arg0(name);
            c
        }),
    }
}

/// SIGKILLs every process whose working directory is `dir` or below it (a service's
/// leftovers, whichever process group they ended up in), until none is left.
pub fn kill_procs_under(dir: impl AsRef<Path>) {
    let dir = dir.as_ref();
    for _ in 0..50 {
        let mut found = false;
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            if std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c.starts_with(dir)) && alive(pid) {
                // SAFETY: kill on a process running inside our own temporary directory.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                found = true;
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A run script that records every catchable signal it gets in `sigs` (one name a line) and
/// its pid in `starts` once its traps are set. On TERM it exits, but first waits while the
/// file `hold` exists, so a test can look at the "got TERM" state. `pre`, if present, is
/// sourced first.
pub const SIGRUN: &str = r#"#!/bin/sh
[ -e pre ] && . ./pre
for s in HUP INT QUIT USR1 USR2 ALRM CONT; do trap "echo $s >> sigs" $s; done
trap 'echo TERM >> sigs; stop=1' TERM
stop=
echo $$ >> starts
while :; do
  sleep 5 & p=$!
  wait $p
  kill $p 2>/dev/null
  if [ -n "$stop" ]; then
    while [ -e hold ]; do sleep 0.05; done
    # a CONT sent right after the TERM is recorded before the exit
    sleep 0.2
    exit 0
  fi
done
"#;

/// Polls `f` every 10 ms until it gives Some, at most `secs`.
pub fn poll<R>(secs: u64, mut f: impl FnMut() -> Option<R>) -> Option<R> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// On drop, ends every process working under a directory (kill_procs_under): for services
/// urunit's runsv puts in process groups of their own, which a group kill of runsvdir or
/// runsv does not reach. Declare it after the TempDir and before the Proc it outlives.
pub struct KillUnder(pub PathBuf);

impl Drop for KillUnder {
    fn drop(&mut self) {
        kill_procs_under(&self.0);
    }
}

/// True if this machine lets us make PID namespaces (root, unshare(1)); a clear skip otherwise.
pub fn namespaces() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *OK.get_or_init(|| {
        Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).status().is_ok_and(|s| s.success())
    });
    if !ok {
        skip("cannot create PID namespaces here (needs root and unshare(1)); PID-namespace tests not run");
    }
    ok
}

// ---- containers (containers.rs, locked.rs)

/// The repository's root directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The absolute path of a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Bytes as text (invalid UTF-8 replaced).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The stdout of a command that must have succeeded (else a failure showing its output).
#[track_caller]
pub fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what} failed ({:?}):\n{}{}", o.status, text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

/// A unique podman name for this test process, `PREFIX-TAG-PID-N` (each suite keeps its own
/// prefix, so parallel runs do not collide).
pub fn unique(prefix: &str, tag: &str) -> String {
    format!("{prefix}-{tag}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A containers.conf without default ulimits (shared CONTAINERS.md), written once per test process.
pub fn containers_conf() -> PathBuf {
    static CONF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CONF.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("urunit-containers-{}.conf", std::process::id()));
        std::fs::write(&p, "[containers]\ndefault_ulimits = []\n").unwrap();
        p
    })
    .clone()
}

/// podman with runc and containers_conf().
pub fn podman() -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", containers_conf()).args(["--runtime", "/usr/sbin/runc"]);
    c
}

/// `podman ARGS` to completion (deadline 300 s), whatever its exit status.
pub fn podman_run(args: &[&str]) -> Output {
    let mut c = podman();
    c.args(args);
    run(c, 300)
}

/// `podman build` of the Containerfile `file` in the context `ctx` (holding prebuilt/urunit)
/// as image `tag`, with more `--build-arg`s `args`; it must succeed.
pub fn build(ctx: &Path, file: &str, tag: &str, args: &[&str]) {
    let mut c = podman();
    c.args(["build", "-q", "--pull=never", "--layers=false", "--format", "docker", "--network", "none", "-f"])
        .arg(ctx.join(file));
    c.args(["--build-arg", "URUNIT_FROM=prebuilt", "--build-arg", "URUNIT_BIN=prebuilt/urunit", "-t", tag]);
    for a in args {
        c.args(["--build-arg", a]);
    }
    c.arg(ctx);
    ok(&run(c, 300), &format!("podman build {file}"));
}

/// The static demo program of the scratch example, compiled once per test process.
pub fn demo_app() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("urunit-demo-app-{}", std::process::id()));
        let mut c = Command::new("rustc");
        c.args(["--edition", "2021", "-O", "-C", "strip=symbols", "--target", "x86_64-unknown-linux-musl"])
            .arg(repo().join("service-examples/scratch/demo-app.rs"))
            .arg("-o")
            .arg(&out);
        ok(&run(c, 180), "rustc demo-app.rs");
        out
    })
    .clone()
}

/// Lines of `out` that service `name` wrote through its logger (svlogd -o, and the scratch
/// example's demo-app: "NAME: LINE"), without the prefix.
pub fn logged<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}: ");
    out.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
}

/// Checks `sv status` lines: "run: SVC: (pid N) Ns" and, with a log, "; run: log: (pid N) Ns".
#[track_caller]
pub fn check_status(out: &str, services: &[(&str, bool)]) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), services.len(), "sv status:\n{out}");
    for (line, (svc, log)) in lines.iter().zip(services) {
        let rest = line.strip_prefix(&format!("run: {svc}: (pid ")).unwrap_or_else(|| panic!("sv status line {line:?}"));
        let (main, logpart) = match rest.split_once("; run: log: (pid ") {
            Some((m, l)) => (m, Some(l)),
            None => (rest, None),
        };
        assert_eq!(logpart.is_some(), *log, "log part of {line:?}");
        for part in [Some(main), logpart].into_iter().flatten() {
            let (pid, secs) = part.split_once(") ").unwrap_or_else(|| panic!("sv status line {line:?}"));
            assert!(pid.parse::<u32>().is_ok_and(|p| p > 1), "pid in {line:?}");
            let secs = secs.strip_suffix('s').unwrap_or_else(|| panic!("seconds in {line:?}"));
            assert!(secs.trim_end_matches("; ").parse::<u64>().is_ok(), "seconds in {line:?}");
        }
    }
}

/// Puts an executable at `to`: a hard link where it can be, else a copy (mode 755). A copy is
/// a file just written, and a test thread that forks meanwhile holds it open for writing
/// until its child execs, so exec'ing it then fails with "text busy".
pub fn copy_or_link(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
