//! runit and runit-init, run as PID 1 of a PID namespace (`unshare --pid --fork`) inside a
//! scratch-like root (`chroot`): the static binary, busybox-static and /etc/runit/{1,2,3}.
//! Never on the machine's real init. Differential tests run C runit in the same root.
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use urunit_tests::*;

const BOOT: &str = "- runit: $Id: 25da3b86f7bed4038b8a039d2f8e8c9bbcf0822b $: booting.\n\
                    - runit: warning: unable to open /dev/console: file does not exist\n";
const SLOW: u64 = 60;

/// An executable found on the test's PATH.
fn tool(name: &str) -> Option<PathBuf> {
    std::env::var("PATH").ok()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

/// True if this machine can run a PID namespace with a chroot (root, util-linux, busybox).
fn ns_ok() -> bool {
    static OK: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let r = OK.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: no PID namespace/chroot for runit tests".into());
        }
        for t in ["unshare", "chroot", "nsenter", "busybox"] {
            if tool(t).is_none() {
                return Err(format!("{t} not installed (util-linux, coreutils, busybox-static)"));
            }
        }
        let o = Command::new(tool("unshare").unwrap()).args(["--pid", "--fork", "true"]).output().unwrap();
        if !o.status.success() {
            return Err(format!("unshare --pid fails here: {}", String::from_utf8_lossy(&o.stderr)));
        }
        Ok(())
    });
    match r {
        Ok(()) => true,
        Err(why) => {
            skip(why);
            false
        }
    }
}

/// True once the binary has the real runsvdir (its usage exits 1), else a clear skip.
fn has_runsvdir() -> bool {
    if run(cmd("runsvdir"), SLOW).status.code() == Some(1) {
        return true;
    }
    skip("this binary has no runsvdir yet: stage 2 with runsvdir not tested");
    false
}

/// A scratch-like root: /bin/urunit with its links, busybox, /etc/runit, /etc/service.
struct Root {
    dir: TempDir,
}

impl Root {
    fn new(tag: &str) -> Root {
        let dir = TempDir::new(tag);
        for d in ["bin", "sbin", "etc/runit", "etc/service", "tmp", "proc", "dev"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        // /dev/null as in a container (busybox sh gives it to `cmd &`); no /dev/console.
        let null = std::ffi::CString::new(dir.join("dev/null").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: mknod on a NUL-terminated path in our own temporary directory.
        assert_eq!(unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) }, 0, "mknod /dev/null");
        copy_or_link(&bin(), &dir.join("bin/urunit"));
        for n in ["runsvdir", "runsv", "sv", "chpst", "svlogd"] {
            std::os::unix::fs::symlink("urunit", dir.join("bin").join(n)).unwrap();
        }
        for n in ["runit", "runit-init", "init"] {
            std::os::unix::fs::symlink("../bin/urunit", dir.join("sbin").join(n)).unwrap();
        }
        copy_or_link(&tool("busybox").unwrap(), &dir.join("bin/busybox"));
        for n in ["sh", "cat", "echo", "sleep", "kill", "env", "sort", "grep", "ls", "stat", "touch", "chmod", "rm", "mkdir"] {
            std::os::unix::fs::symlink("busybox", dir.join("bin").join(n)).unwrap();
        }
        Root { dir }
    }

    /// The same root with Debian's C runit as /sbin/runit (and the glibc it needs).
    fn with_crunit(tag: &str) -> Option<Root> {
        let c = crunit("runit")?;
        let r = Root::new(tag);
        std::fs::remove_file(r.join("sbin/runit")).unwrap();
        std::fs::copy(c, r.join("sbin/runit")).unwrap();
        for lib in ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"] {
            let to = r.join(&lib[1..]);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(lib, to).unwrap();
        }
        Some(r)
    }

    /// A root whose /etc/runit/1, 2 and 3 have these bodies.
    fn with_stages(tag: &str, stages: [&str; 3]) -> Root {
        let r = Root::new(tag);
        for (n, body) in ["1", "2", "3"].into_iter().zip(stages) {
            r.stage(n, body);
        }
        r
    }

    fn join(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn stage(&self, n: &str, body: &str) {
        script(self.join("etc/runit").join(n), &format!("#!/bin/sh\n{body}"));
    }
    /// Lines the stage scripts appended to /tmp/log.
    fn log(&self) -> Vec<String> {
        lines(self.join("tmp/log"))
    }
    fn has(&self, p: &str) -> bool {
        self.join(p).exists()
    }
}

/// `unshare --pid --fork chroot ROOT PROG`: PROG is PID 1 of a new PID namespace. Killing
/// unshare (the Proc guard does) SIGKILLs the namespace's init (--kill-child).
struct Pid1 {
    proc: Proc,
    /// The namespace init's pid as seen from here.
    init: i32,
    stderr: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

fn boot(root: &Root, prog: &str, env: &[(&str, &str)]) -> Pid1 {
    let mut c = Command::new(tool("unshare").unwrap());
    c.arg("--pid").arg("--fork").arg("--kill-child").arg(format!("--mount-proc={}", root.join("proc").display()));
    c.arg(tool("chroot").unwrap()).arg(root.path()).arg(prog);
    c.env_clear().env("PATH", "/bin:/sbin").envs(env.iter().copied());
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut proc = Proc::spawn(c);
    let mut se = proc.child.stderr.take().unwrap();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let buf = stderr.clone();
    let reader = std::thread::spawn(move || {
        let mut b = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut se, &mut b) {
            if n == 0 {
                break;
            }
            buf.lock().unwrap().extend_from_slice(&b[..n]);
        }
    });
    let u = proc.pid();
    // 0 if the namespace is already gone (an init that failed at once).
    let init = wait_for(SLOW, "the namespace's init", || {
        let children = std::fs::read_to_string(format!("/proc/{u}/task/{u}/children")).unwrap_or_default();
        match children.split_whitespace().next() {
            Some(pid) => pid.parse().ok(),
            None => proc.child.try_wait().unwrap().map(|_| 0),
        }
    });
    Pid1 { proc, init, stderr, reader }
}

impl Pid1 {
    /// Waits for stage 2's `up` marker; on timeout the failure shows what PID 1 printed.
    fn wait_up(&self, r: &Root) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(SLOW);
        while !r.has("tmp/up") {
            assert!(std::time::Instant::now() < end, "stage 2 not up after {SLOW}s; PID 1 printed:\n{}", self.stderr());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    fn signal(&self, sig: i32) {
        assert!(self.init > 0, "the namespace has ended");
        // SAFETY: kill on the namespace init we started.
        unsafe { libc::kill(self.init, sig) };
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }
    fn wait_stderr(&self, what: &str) {
        wait_until(SLOW, what, || self.stderr().contains(what));
    }
    /// Runs PROG ARGS inside the namespace and root (not as its PID 1).
    fn exec(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(tool("nsenter").unwrap());
        c.arg("-t").arg(self.init.to_string()).args(["-p", "-r"]).args(args);
        c.env_clear().env("PATH", "/bin:/sbin");
        run(c, SLOW)
    }
    /// Waits for the namespace to end: (exit status, runit's stderr).
    fn end(mut self) -> (ExitStatus, String) {
        let st = self.proc.wait_exit(SLOW);
        // The pipe closes when the last process of the namespace is gone.
        wait_until(SLOW, "stderr closed", || self.reader.is_finished());
        (st, self.stderr())
    }
}

/// Boots runit in `r`, waits for a stage to create /tmp/up, sends `sig` to PID 1, and
/// waits for the end.
fn stop_with(r: &Root, sig: i32, env: &[(&str, &str)]) -> (ExitStatus, String) {
    let p = boot(r, "/sbin/runit", env);
    wait_until(SLOW, "a stage's /tmp/up", || r.has("tmp/up"));
    p.signal(sig);
    p.end()
}

/// runit's stderr for stages that all succeed, from booting up to (excluding) the end.
fn stages_ok() -> String {
    let mut s = String::from(BOOT);
    for n in 1..=3 {
        s += &format!("- runit: enter stage: /etc/runit/{n}\n- runit: leave stage: /etc/runit/{n}\n");
    }
    s
}
const KILL_ALL: &str = "- runit: sending KILL signal to all processes...\n";

#[test]
fn runit_not_pid1() {
    let o = run(cmd("runit"), SLOW);
    expect(&o, 111, "", "- runit: fatal: must be run as process no 1.\n");
    if let Some(c) = crunit("runit") {
        let oc = run(Command::new(c), SLOW);
        assert_eq!((oc.status.code(), oc.stderr), (o.status.code(), o.stderr));
    }
}

#[test]
fn runit_init_usage() {
    // Never `0` or `6` here: that would signal the machine's init.
    let u = "usage: runit-init 0|6\n\n";
    for args in [&[][..], &[""], &["x"], &["-"], &["-x"], &["1", "0"]] {
        let mut c = cmd("runit-init");
        c.args(args);
        expect(&run(c, SLOW), 0, "", u);
    }
    let mut c = cmd("runit-init");
    c.arg("-V");
    expect(&run(c, SLOW), 0, "", &format!("$Id: f075d98bf7dd17c893021f9572cbb970cdad8dcf $\n\n{u}"));
    // argv[0] as given.
    let mut c = Command::new(bin());
    std::os::unix::process::CommandExt::arg0(&mut c, "/sbin/runit-init");
    expect(&run(c, SLOW), 0, "", "usage: /sbin/runit-init 0|6\n\n");
}

/// runit-init 0 and 6 in a namespace whose PID 1 is a shell, so only it gets the SIGCONT.
#[test]
fn runit_init_flag_files() {
    if !ns_ok() {
        return;
    }
    let r = Root::new("init-flags");
    let sh = |cmdline: &str| {
        let mut c = Command::new(tool("unshare").unwrap());
        c.args(["--pid", "--fork", "--kill-child"]).arg(tool("chroot").unwrap()).arg(r.path());
        // Not the last command: busybox sh would exec it as PID 1.
        c.args(["/bin/sh", "-c", &format!("{cmdline}; exit $?")]).env_clear().env("PATH", "/bin:/sbin");
        run(c, SLOW)
    };
    let mode = |p: &str| std::fs::metadata(r.join(p)).unwrap().mode() & 0o7777;

    expect(&sh("runit-init 0"), 0, "", "");
    assert_eq!(mode("etc/runit/stopit"), 0o100);
    assert_eq!(std::fs::metadata(r.join("etc/runit/stopit")).unwrap().len(), 0);
    assert!(!r.has("etc/runit/reboot"), "halt does not create the reboot flag");

    std::fs::write(r.join("etc/runit/stopit"), "x").unwrap();
    expect(&sh("/sbin/init 6"), 0, "", "");
    assert_eq!((mode("etc/runit/stopit"), mode("etc/runit/reboot")), (0o100, 0o100));
    assert_eq!(std::fs::metadata(r.join("etc/runit/stopit")).unwrap().len(), 0, "truncated");

    expect(&sh("runit-init 0halt"), 0, "", "");
    assert_eq!((mode("etc/runit/stopit"), mode("etc/runit/reboot")), (0o100, 0), "0 clears the reboot flag");

    std::fs::remove_dir_all(r.join("etc/runit")).unwrap();
    expect(&sh("runit-init 6"), 111, "", "init: fatal: unable to create /etc/runit/stopit: file does not exist\n");
}

/// runit-init as PID 1 becomes /sbin/runit (argv ["runit"]).
#[test]
fn runit_init_as_pid1() {
    if !ns_ok() {
        return;
    }
    let r = Root::with_stages(
        "init-pid1",
        ["echo \"1 $0 $#\" >> /tmp/log", "echo \"2 $(cat /proc/1/cmdline)\" >> /tmp/log", "exit 0"],
    );
    let (st, err) = boot(&r, "/sbin/runit-init", &[]).end();
    assert_eq!(st.code(), Some(0), "{err}");
    assert_eq!(err, format!("{}{KILL_ALL}- runit: exit 0.\n", stages_ok()));
    assert_eq!(r.log(), ["1 /etc/runit/1 0", "2 runit"]);

    std::fs::remove_file(r.join("sbin/runit")).unwrap();
    let (st, err) = boot(&r, "/sbin/init", &[]).end();
    assert_eq!((st.code(), err.as_str()), (Some(111), "init: fatal: unable to start runit: file does not exist\n"));
}

const LOG_STAGE: &str = r#"read -r _ _ _ _ _ sid _ < /proc/$$/stat
blk=$(grep SigBlk /proc/$$/status); set -- $(grep SigIgn /proc/$$/status)
echo "$N $0 pid1=${URUNIT_PID1-unset} foo=$FOO leader=$([ $sid = $$ ] && echo yes || echo no) $blk cont-ignored=$(( 0x$2 >> 17 & 1 ))" >> /tmp/log
"#;

/// Stages run in order, with argv [path] and runit's environment; stages 2 and 3 lead a
/// session, stage 1 does not; no signal is blocked or (SIGCONT) ignored in them. Stage 2
/// returning 0 leads to stage 3, and the container's exit code is stage 3's.
#[test]
fn stages_in_order() {
    if !ns_ok() {
        return;
    }
    let r = Root::with_stages(
        "stages",
        [&format!("N=1\n{LOG_STAGE}"), &format!("N=2\n{LOG_STAGE}exit 0"), &format!("N=3\n{LOG_STAGE}exit 0")],
    );
    let (st, err) = boot(&r, "/sbin/runit", &[("FOO", "bar"), ("URUNIT_PID1", "7")]).end();
    assert_eq!(st.code(), Some(0));
    assert_eq!(err, format!("{}{KILL_ALL}- runit: exit 0.\n", stages_ok()));
    let tail = "SigBlk:\t0000000000000000 cont-ignored=0";
    assert_eq!(
        r.log(),
        [
            format!("1 /etc/runit/1 pid1=7 foo=bar leader=no {tail}"),
            format!("2 /etc/runit/2 pid1=1 foo=bar leader=yes {tail}"),
            format!("3 /etc/runit/3 pid1=7 foo=bar leader=yes {tail}"),
        ]
    );
}

/// Runs the same stages under C runit and urunit: the same stage logs, the same stderr up
/// to the end, where C runit powers off (the namespace ends as if its init got SIGINT) and
/// urunit exits with `code`. Returns urunit's stderr.
fn same_as_c_runit(tag: &str, stages: [&str; 3], code: i32) -> Option<String> {
    let c = Root::with_crunit(&format!("{tag}-c"))?;
    let r = Root::with_stages(&format!("{tag}-u"), stages);
    for (n, body) in ["1", "2", "3"].into_iter().zip(stages) {
        c.stage(n, body);
    }
    let (cst, cerr) = boot(&c, "/sbin/runit", &[]).end();
    let (st, err) = boot(&r, "/sbin/runit", &[]).end();
    assert_eq!(c.log(), r.log());
    let cerr = cerr.strip_suffix("- runit: power off...\n").unwrap_or_else(|| panic!("{cerr}"));
    assert_eq!(err.strip_suffix(&format!("- runit: exit {code}.\n")), Some(cerr));
    assert_eq!((cst.signal(), st.code()), (Some(libc::SIGINT), Some(code)));
    Some(err)
}

/// Stage 2 exiting non-zero (not 111): runit's warning, then stage 3; in a container the
/// code is the container's.
#[test]
fn stages_like_c_runit() {
    if !ns_ok() {
        return;
    }
    let stages = ["echo 1 >> /tmp/log", "echo 2 >> /tmp/log; exit 7", "echo 3 >> /tmp/log; exit 0"];
    if let Some(err) = same_as_c_runit("stages", stages, 7) {
        assert!(err.contains("- runit: warning: child failed: /etc/runit/2\n- runit: leave stage: /etc/runit/2\n"), "{err}");
    }
}

/// Stage 2 exiting 111 or crashing: its process group is killed, and it runs again 5 s later.
#[test]
fn stage2_restarted() {
    if !ns_ok() {
        return;
    }
    let r = Root::new("restart");
    r.stage("1", "exit 0");
    r.stage(
        "2",
        r#"echo run >> /tmp/runs; n=$(grep -c run /tmp/runs)
case $n in
1) sleep 1000 & echo $! > /tmp/bg; exit 111 ;;
2) [ -e /proc/$(cat /tmp/bg) ] && echo "bg alive" >> /tmp/log || echo "bg killed" >> /tmp/log; kill -9 $$ ;;
*) echo "run $n" >> /tmp/log; exit 0 ;;
esac"#,
    );
    r.stage("3", "exit 0");
    let (st, err) = boot(&r, "/sbin/runit", &[]).end();
    assert_eq!(st.code(), Some(0), "{err}");
    let restart = "- runit: enter stage: /etc/runit/2\n\
                   - runit: warning: child failed: /etc/runit/2\n\
                   - runit: warning: killing all processes in stage 2...\n\
                   - runit: warning: restarting.\n\
                   - runit: enter stage: /etc/runit/2\n\
                   - runit: warning: child crashed: /etc/runit/2\n\
                   - runit: warning: killing all processes in stage 2...\n\
                   - runit: warning: restarting.\n";
    assert_eq!(
        err,
        format!(
            "{BOOT}- runit: enter stage: /etc/runit/1\n- runit: leave stage: /etc/runit/1\n{restart}\
             - runit: enter stage: /etc/runit/2\n- runit: leave stage: /etc/runit/2\n\
             - runit: enter stage: /etc/runit/3\n- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: exit 0.\n"
        )
    );
    assert_eq!(r.log(), ["bg killed", "run 3"]);
}

/// A stage 2 that waits for SIGTERM and records it.
const STAGE2_TRAP: &str = "trap 'echo term >> /tmp/log; exit 0' TERM\necho up > /tmp/up\nwhile :; do sleep 0.1; done";

/// `runit-init 0` inside the container: SIGCONT with the stopit flag stops stage 2, runs
/// stage 3, and runit exits with stage 3's code.
#[test]
fn runit_init_0_stops() {
    if !ns_ok() {
        return;
    }
    let r = Root::with_stages("init0", ["exit 0", STAGE2_TRAP, "echo 3 >> /tmp/log; exit 4"]);
    let p = boot(&r, "/sbin/runit", &[]);
    p.wait_up(&r);
    // SIGCONT without the flag does nothing.
    p.signal(libc::SIGCONT);
    let o = p.exec(&["/sbin/runit-init", "0"]);
    expect(&o, 0, "", "");
    let (st, err) = p.end();
    assert_eq!(st.code(), Some(4), "{err}");
    assert_eq!(
        err,
        format!(
            "{BOOT}- runit: enter stage: /etc/runit/1\n- runit: leave stage: /etc/runit/1\n\
             - runit: enter stage: /etc/runit/2\n- runit: leave stage: /etc/runit/2\n\
             - runit: enter stage: /etc/runit/3\n- runit: warning: child failed: /etc/runit/3\n\
             - runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: exit 4.\n"
        )
    );
    assert_eq!(r.log(), ["term", "3"]);
    assert_eq!(std::fs::metadata(r.join("etc/runit/stopit")).unwrap().mode() & 0o7777, 0, "runit clears the flag");
}

/// `runit-init 6` in a container that holds CAP_SYS_BOOT: reboot(2) ends the namespace as
/// if its init got SIGHUP (what LXC reads as "restart me").
#[test]
fn runit_init_6_reboots_namespace() {
    if !ns_ok() {
        return;
    }
    let r = Root::with_stages("init6", ["exit 0", STAGE2_TRAP, "exit 0"]);
    let p = boot(&r, "/sbin/runit", &[]);
    p.wait_up(&r);
    expect(&p.exec(&["/sbin/runit-init", "6"]), 0, "", "");
    let (st, err) = p.end();
    assert!(err.ends_with(&format!("- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: system reboot.\n")), "{err}");
    assert_eq!(st.signal().or(st.code().map(|c| c - 128)), Some(libc::SIGHUP));
}

/// docker stop: SIGTERM (and SIGINT) to PID 1 stop stage 2 gracefully, then stage 3 runs
/// and its code is the container's.
#[test]
fn sigterm_and_sigint_stop_gracefully() {
    if !ns_ok() {
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let r = Root::with_stages("term", ["exit 0", STAGE2_TRAP, "echo 3 >> /tmp/log; exit 3"]);
        let (st, err) = stop_with(&r, sig, &[]);
        assert_eq!(st.code(), Some(3), "{err}");
        assert!(
            err.contains(
                "- runit: enter stage: /etc/runit/2\n- runit: leave stage: /etc/runit/2\n- runit: enter stage: /etc/runit/3\n"
            ),
            "{err}"
        );
        assert!(err.ends_with(&format!("{KILL_ALL}- runit: exit 3.\n")), "{err}");
        assert_eq!(r.log(), ["term", "3"]);
    }
}

/// A stage 2 that ignores SIGTERM is SIGKILLed (its whole process group) after
/// URUNIT_STOP_TIMEOUT plus a margin, and stage 3 still runs.
#[test]
fn sigterm_deadline() {
    if !ns_ok() {
        return;
    }
    let stage2 = "trap 'echo term >> /tmp/log' TERM\nsleep 1000 &\necho up > /tmp/up\nwhile :; do sleep 0.1; done";
    let r = Root::with_stages("deadline", ["exit 0", stage2, "echo 3 >> /tmp/log; exit 0"]);
    let (st, err) = stop_with(&r, libc::SIGTERM, &[("URUNIT_STOP_TIMEOUT", "1")]);
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "- runit: enter stage: /etc/runit/2\n\
             - runit: warning: stage 2 not terminated, sending sigkill...\n\
             - runit: leave stage: /etc/runit/2\n- runit: enter stage: /etc/runit/3\n"
        ),
        "{err}"
    );
    assert_eq!(r.log(), ["term", "3"]);
}

/// A stop during stage 1 ends stage 1, skips stage 2 and runs stage 3.
#[test]
fn sigterm_in_stage1() {
    if !ns_ok() {
        return;
    }
    let stage1 = "echo up > /tmp/up\nwhile :; do sleep 0.1; done";
    let r = Root::with_stages("term1", [stage1, "echo 2 >> /tmp/log", "echo 3 >> /tmp/log"]);
    let (st, err) = stop_with(&r, libc::SIGTERM, &[]);
    assert_eq!(st.code(), Some(0), "{err}");
    assert_eq!(
        err,
        format!(
            "{BOOT}- runit: enter stage: /etc/runit/1\n- runit: leave stage: /etc/runit/1\n\
             - runit: warning: skipping stage 2...\n\
             - runit: enter stage: /etc/runit/3\n- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: exit 0.\n"
        )
    );
    assert_eq!(r.log(), ["3"]);
}

/// Stage 1 exiting 100 or crashing skips stage 2 (runit's messages), and the container
/// exits with that failure's code; other failures go on to stage 2. A stage that cannot be
/// started has failed with 100 (C runit lets it "succeed").
#[test]
fn stage1_fails() {
    if !ns_ok() {
        return;
    }
    let skip = |fail: &str, code: i32, pre: &str| {
        let r = Root::new("fail1");
        if fail.is_empty() {
            std::fs::remove_dir_all(r.join("etc/runit")).unwrap();
            std::fs::create_dir(r.join("etc/runit")).unwrap();
        } else {
            r.stage("1", fail);
        }
        r.stage("2", "echo 2 >> /tmp/log");
        r.stage("3", "echo 3 >> /tmp/log; exit 0");
        let (st, err) = boot(&r, "/sbin/runit", &[]).end();
        assert_eq!(st.code(), Some(code), "{err}");
        assert_eq!(
            err,
            format!(
                "{BOOT}- runit: enter stage: /etc/runit/1\n{pre}\
                 - runit: leave stage: /etc/runit/1\n- runit: warning: skipping stage 2...\n\
                 - runit: enter stage: /etc/runit/3\n- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: exit {code}.\n"
            )
        );
        assert_eq!(r.log(), ["3"]);
    };
    skip("exit 100", 100, "- runit: warning: child failed: /etc/runit/1\n");
    skip("kill -9 $$", 137, "- runit: warning: child crashed: /etc/runit/1\n");
    skip(
        "",
        100,
        "- runit: fatal: unable to start child: /etc/runit/1: file does not exist\n- runit: warning: child failed: /etc/runit/1\n",
    );
    let r = Root::new("fail1b");
    std::fs::write(r.join("etc/runit/1"), "#!/bin/sh\n").unwrap();
    r.stage("2", "echo 2 >> /tmp/log");
    r.stage("3", "echo 3 >> /tmp/log; exit 0");
    let (st, err) = boot(&r, "/sbin/runit", &[]).end();
    assert_eq!(st.code(), Some(100), "{err}");
    assert!(err.contains("- runit: fatal: unable to start child: /etc/runit/1: access denied\n"), "{err}");

    // exit 1 is only reported: stage 2 follows.
    let r = Root::with_stages("fail1c", ["exit 1", "echo 2 >> /tmp/log", "echo 3 >> /tmp/log; exit 0"]);
    let (st, err) = boot(&r, "/sbin/runit", &[]).end();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(err.contains("- runit: warning: child failed: /etc/runit/1\n- runit: leave stage: /etc/runit/1\n- runit: enter stage: /etc/runit/2\n"), "{err}");
    assert_eq!(r.log(), ["2", "3"]);
}

/// The stage 1 failure prints what C runit prints.
#[test]
fn stage1_fails_like_c_runit() {
    if ns_ok() {
        same_as_c_runit("fail1", ["exit 100", "echo 2 >> /tmp/log", "echo 3 >> /tmp/log"], 100);
    }
}

/// Signals in stage 1 or 3 are only reported (runit); SIGCONT without the flag does nothing.
#[test]
fn signals_only_in_stage2() {
    if !ns_ok() {
        return;
    }
    let r = Root::with_stages(
        "sig13",
        [
            "echo up > /tmp/up1\nwhile [ ! -e /tmp/go1 ]; do sleep 0.05; done",
            "exit 0",
            "echo up > /tmp/up3\nwhile [ ! -e /tmp/go3 ]; do sleep 0.05; done; exit 0",
        ],
    );
    let p = boot(&r, "/sbin/runit", &[]);
    wait_until(SLOW, "stage 1", || r.has("tmp/up1"));
    p.signal(libc::SIGCONT);
    p.wait_stderr("- runit: warning: signals only work in stage 2.\n");
    std::fs::write(r.join("tmp/go1"), "").unwrap();
    wait_until(SLOW, "stage 3", || r.has("tmp/up3"));
    p.signal(libc::SIGCONT);
    wait_until(SLOW, "second warning", || p.stderr().matches("signals only work").count() == 2);
    // A stop request in stage 3 changes nothing: the stop is under way.
    p.signal(libc::SIGTERM);
    std::fs::write(r.join("tmp/go3"), "").unwrap();
    let (st, err) = p.end();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(err.ends_with(&format!("- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: exit 0.\n")), "{err}");
}

/// URUNIT_CONTAINER=0 keeps runit's signals in a container: SIGTERM has no effect, SIGINT
/// runs /etc/runit/ctrlaltdel and then stops as SIGCONT does; at the end runit powers off
/// (here: the namespace ends as if its init got SIGINT), exactly like C runit.
#[test]
fn machine_mode_like_c_runit() {
    if !ns_ok() {
        return;
    }
    // A stage 2 that ends on SIGTERM, and one that ignores it (SIGKILL 5 s later).
    let stubborn = "trap 'echo term >> /tmp/log' TERM\necho up > /tmp/up\nwhile :; do sleep 0.1; done";
    for (tag, stage2, kill) in [
        ("machine", STAGE2_TRAP, ""),
        ("machine-kill", stubborn, "- runit: warning: stage 2 not terminated, sending sigkill...\n"),
    ] {
        let Some(c) = Root::with_crunit(&format!("{tag}-c")) else { return };
        let r = Root::new(&format!("{tag}-u"));
        let mut errs = Vec::new();
        for root in [&c, &r] {
            for (n, body) in ["1", "2", "3"].into_iter().zip(["exit 0", stage2, "echo 3 >> /tmp/log"]) {
                root.stage(n, body);
            }
            // Debian's C runit looks for /run/runit.stopit instead.
            script(
                root.join("etc/runit/ctrlaltdel"),
                "#!/bin/sh\necho cad >> /tmp/log\nmkdir -p /run\nfor f in /etc/runit/stopit /run/runit.stopit; do touch $f; chmod 100 $f; done\n",
            );
            let p = boot(root, "/sbin/runit", &[("URUNIT_CONTAINER", "0")]);
            wait_until(SLOW, "stage 2", || root.has("tmp/up"));
            p.signal(libc::SIGTERM);
            p.signal(libc::SIGINT);
            let (st, err) = p.end();
            assert_eq!(st.signal().or(st.code().map(|c| c - 128)), Some(libc::SIGINT), "{err}");
            assert_eq!(root.log(), ["cad", "term", "3"]);
            errs.push(err);
        }
        assert_eq!(errs[0], errs[1]);
        assert_eq!(
            errs[1],
            format!(
                "{BOOT}- runit: enter stage: /etc/runit/1\n- runit: leave stage: /etc/runit/1\n\
                 - runit: enter stage: /etc/runit/2\n- runit: ctrl-alt-del request...\n\
                 - runit: enter stage: /etc/runit/ctrlaltdel\n- runit: leave stage: /etc/runit/ctrlaltdel\n\
                 {kill}- runit: leave stage: /etc/runit/2\n\
                 - runit: enter stage: /etc/runit/3\n- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: power off...\n"
            )
        );
    }
}

/// A stop during the pause before stage 2's restart cancels the restart: stage 3 follows.
#[test]
fn sigterm_cancels_restart() {
    if !ns_ok() {
        return;
    }
    let r = Root::with_stages("cancel", ["exit 0", "echo 2 >> /tmp/log; exit 111", "echo 3 >> /tmp/log; exit 0"]);
    let p = boot(&r, "/sbin/runit", &[]);
    p.wait_stderr("- runit: warning: killing all processes in stage 2...\n");
    p.signal(libc::SIGTERM);
    let (st, err) = p.end();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "- runit: warning: killing all processes in stage 2...\n\
             - runit: leave stage: /etc/runit/2\n- runit: enter stage: /etc/runit/3\n"
        ),
        "{err}"
    );
    assert_eq!(r.log(), ["2", "3"]);
}

/// A service for stage 2's runsvdir: it records SIGTERM and its ./finish in /tmp/log.
fn service(r: &Root, name: &str, run_tail: &str) {
    let d = r.join("etc/service").join(name);
    script(
        d.join("run"),
        &format!("#!/bin/sh\ntrap 'echo {name}-term >> /tmp/log; exit 0' TERM\necho up > /tmp/{name}-up\n{run_tail}"),
    );
    script(d.join("finish"), &format!("#!/bin/sh\necho {name}-finish >> /tmp/log\n"));
}

/// docker stop with the real stage 2, `exec runsvdir /etc/service`: every service is
/// stopped the graceful way (TERM trap, ./finish) before stage 3 runs.
#[test]
fn sigterm_stops_services_then_stage3() {
    if !ns_ok() || !has_runsvdir() {
        return;
    }
    let r = Root::with_stages("svstop", ["exit 0", "exec runsvdir /etc/service", "echo 3 >> /tmp/log; exit 0"]);
    for s in ["a", "b"] {
        service(&r, s, "while :; do sleep 0.1; done");
    }
    let p = boot(&r, "/sbin/runit", &[]);
    wait_until(SLOW, "both services", || r.has("tmp/a-up") && r.has("tmp/b-up"));
    p.signal(libc::SIGTERM);
    let (st, err) = p.end();
    assert_eq!(st.code(), Some(0), "{err}");
    let log = r.log();
    assert_eq!(log.len(), 5, "{log:?}");
    assert_eq!(log[4], "3", "stage 3 runs after every service stopped: {log:?}");
    for s in ["a", "b"] {
        let (t, f) = (log.iter().position(|l| *l == format!("{s}-term")), log.iter().position(|l| *l == format!("{s}-finish")));
        assert!(t.is_some() && f.is_some() && t < f, "{log:?}");
    }
    assert!(err.contains("- runit: enter stage: /etc/runit/2\n"), "{err}");
    assert!(err.ends_with(&format!("- runit: leave stage: /etc/runit/2\n- runit: enter stage: /etc/runit/3\n- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: exit 0.\n")), "{err}");
    assert!(!err.contains("not terminated"), "{err}");
}

/// A critical service exiting ends stage 2's runsvdir with its code: the other services stop
/// gracefully, stage 3 runs, and the container exits with the service's code.
#[test]
fn critical_service_code_is_the_exit_code() {
    if !ns_ok() || !has_runsvdir() {
        return;
    }
    let r = Root::with_stages("critical", ["exit 0", "exec runsvdir /etc/service", "echo 3 >> /tmp/log; exit 0"]);
    service(&r, "a", "while :; do sleep 0.1; done");
    service(&r, "c", "while [ ! -e /tmp/a-up ]; do sleep 0.1; done; exit 5");
    std::fs::write(r.join("etc/service/c/critical"), "").unwrap();
    let (st, err) = boot(&r, "/sbin/runit", &[]).end();
    assert_eq!(st.code(), Some(5), "{err}");
    let log = r.log();
    assert_eq!(log.last().map(String::as_str), Some("3"), "{log:?}");
    assert!(log.contains(&"a-term".to_string()) && log.contains(&"a-finish".to_string()), "{log:?}");
    assert!(err.ends_with(&format!("- runit: warning: child failed: /etc/runit/2\n- runit: leave stage: /etc/runit/2\n- runit: enter stage: /etc/runit/3\n- runit: leave stage: /etc/runit/3\n{KILL_ALL}- runit: exit 5.\n")), "{err}");
}

/// A stage 1 that ignores the stop is SIGKILLed after the same deadline; stage 3 follows.
#[test]
fn sigterm_in_stage1_deadline() {
    if !ns_ok() {
        return;
    }
    let stage1 = "trap '' TERM\necho up > /tmp/up\nwhile :; do sleep 0.1; done";
    let r = Root::with_stages("term1k", [stage1, "echo 2 >> /tmp/log", "echo 3 >> /tmp/log"]);
    let (st, err) = stop_with(&r, libc::SIGTERM, &[("URUNIT_STOP_TIMEOUT", "0")]);
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "- runit: enter stage: /etc/runit/1\n- runit: warning: stage 1 not terminated, sending sigkill...\n\
             - runit: leave stage: /etc/runit/1\n- runit: warning: skipping stage 2...\n"
        ),
        "{err}"
    );
    assert_eq!(r.log(), ["3"]);
}
