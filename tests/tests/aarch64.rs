//! The aarch64 build (`make aarch64`) run under qemu-aarch64-static: the core scenarios run
//! with the x86_64 binary under test and with the aarch64 one, and their transcripts (exit
//! codes, stdout, stderr, files; pids and times masked) must be identical, besides checks that
//! the scenarios did what they should. Then the core test files (runsv, runsv_control,
//! runsv_finish, runsv_log, runsvdir, sv, chpst, svlogd, pid1) run with URUNIT_BIN set to a
//! launcher that runs the aarch64 binary under qemu.
//! binfmt_misc need not be registered: qemu is run explicitly (`-0 NAME` sets argv[0]), and a
//! PATH of small wrapper scripts (or the launcher's links) lets runsvdir find an aarch64 `runsv`.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use urunit_tests::*;

const SLOW: u64 = 60;
const PROGRAMS: &[&str] = &["runsvdir", "runsv", "sv", "chpst", "svlogd", "setuidgid", "envdir"];

/// One build of urunit: how to run it as program NAME, and a PATH that finds its programs.
struct Arch {
    name: &'static str,
    qemu: Option<PathBuf>,
    bin: PathBuf,
    path: String,
}

impl Arch {
    fn cmd(&self, prog: &str) -> Command {
        let mut c = match &self.qemu {
            Some(q) => {
                let mut c = Command::new(q);
                c.arg("-0").arg(prog).arg(&self.bin);
                c
            }
            None => {
                let mut c = Command::new(&self.bin);
                std::os::unix::process::CommandExt::arg0(&mut c, prog);
                c
            }
        };
        c.env("PATH", &self.path);
        c
    }
}

fn aarch64_bin() -> PathBuf {
    std::env::var("URUNIT_AARCH64_BIN").map(PathBuf::from).unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/aarch64-unknown-linux-musl/release/urunit")
    })
}

fn qemu() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':').map(|d| Path::new(d).join("qemu-aarch64-static")).find(|p| p.is_file())
}

/// A PATH whose first directory holds scripts named after the programs, each running the
/// aarch64 binary under qemu as that program (runsvdir runs `runsv` through PATH).
fn qemu_path(qemu: &Path, arm: &Path) -> String {
    let d = std::env::temp_dir().join(format!("urunit-aarch64-wrap-{}", std::process::id()));
    for p in PROGRAMS {
        script(d.join(p), &format!("#!/bin/sh\nexec {} -0 {p} {} \"$@\"\n", qemu.display(), arm.display()));
    }
    format!("{}:/usr/bin:/bin", d.display())
}

/// (native, aarch64), or None with a skip() when the aarch64 binary or qemu is missing.
fn arches() -> Option<&'static (Arch, Arch)> {
    static ONCE: OnceLock<Option<(Arch, Arch)>> = OnceLock::new();
    ONCE.get_or_init(|| {
        let arm = aarch64_bin();
        let Some(q) = qemu() else {
            skip("qemu-aarch64-static not installed (make aarch64 installs qemu-user-static)");
            return None;
        };
        if !arm.exists() {
            skip(&format!("no aarch64 binary at {} (make aarch64)", arm.display()));
            return None;
        }
        let native = Arch { name: "x86_64", qemu: None, bin: bin(), path: format!("{}:/usr/bin:/bin", bindir().display()) };
        let path = qemu_path(&q, &arm);
        Some((native, Arch { name: "aarch64", qemu: Some(q), bin: arm, path }))
    })
    .as_ref()
}

/// Digits masked (pids, seconds, timestamps) and the scenario's directory named DIR.
fn mask(s: &str, dir: &Path) -> String {
    let s = s.replace(&dir.display().to_string(), "DIR");
    let mut out = String::new();
    let mut digit = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            if !digit {
                out.push('N');
            }
            digit = true;
        } else {
            out.push(ch);
            digit = false;
        }
    }
    out
}

fn transcript(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}stderr:\n{}", o.status.code(), text(&o.stdout), text(&o.stderr))
}

/// Runs `scenario` for both builds in fresh directories and compares the masked transcripts.
fn same_on_both(tag: &str, scenario: impl Fn(&Arch, &Path) -> String) {
    let Some((native, arm)) = arches() else { return };
    let a = TempDir::new(&format!("{tag}-x86"));
    let b = TempDir::new(&format!("{tag}-arm"));
    let ta = mask(&scenario(native, a.path()), a.path());
    let tb = mask(&scenario(arm, b.path()), b.path());
    assert_eq!(tb, ta, "{tag}: {} differs from {}", arm.name, native.name);
}

#[test]
fn aarch64_binary_is_static_for_arm() {
    let Some((_, arm)) = arches() else { return };
    let head = std::fs::read(&arm.bin).unwrap();
    assert_eq!(&head[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([head[18], head[19]]), 183, "e_machine is EM_AARCH64");
    // No PT_INTERP: nothing to load it, it runs FROM scratch.
    let phoff = u64::from_le_bytes(head[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) =
        (u16::from_le_bytes([head[54], head[55]]) as usize, u16::from_le_bytes([head[56], head[57]]) as usize);
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        assert_ne!(u32::from_le_bytes(head[p..p + 4].try_into().unwrap()), 3, "PT_INTERP found");
    }
}

#[test]
fn front_end_and_usage_messages_match() {
    same_on_both("usage", |a, _| {
        let mut t = String::new();
        for (prog, args) in [
            ("urunit", &["--version"][..]),
            ("urunit", &["--list"]),
            ("urunit", &["--help"]),
            ("urunit", &[]),
            ("urunit", &["nosuch"]),
            ("runsv", &[]),
            ("runsvdir", &[]),
            ("sv", &[]),
            ("sv", &["frobnicate", "x"]),
            ("chpst", &[]),
            ("svlogd", &[]),
        ] {
            let mut c = a.cmd(prog);
            c.args(args);
            t += &format!("$ {prog} {args:?}\n{}", transcript(&run(c, SLOW)));
        }
        t
    });
}

#[test]
fn sv_without_runsv_matches() {
    same_on_both("sv-norunsv", |a, d| {
        std::fs::create_dir_all(d.join("svc")).unwrap();
        let mut c = a.cmd("sv");
        c.arg("status").arg(d.join("svc")).arg(d.join("missing"));
        transcript(&run(c, SLOW))
    });
}

#[test]
fn chpst_env_and_user_match() {
    if !is_root() {
        skip("chpst -u needs root");
        return;
    }
    same_on_both("chpst", |a, d| {
        std::fs::create_dir_all(d.join("env")).unwrap();
        std::fs::write(d.join("env/GREETING"), "hello\n").unwrap();
        let mut t = String::new();
        let mut c = a.cmd("chpst");
        c.arg("-e").arg(d.join("env")).args(["-u", "nobody", "sh", "-c", "echo $GREETING; id -u; id -g"]);
        let o = run(c, SLOW);
        assert_eq!(text(&o.stdout), "hello\n65534\n65534\n", "{}", transcript(&o));
        t += &transcript(&o);
        let mut c = a.cmd("setuidgid");
        c.args(["nobody", "id", "-u"]);
        t += &transcript(&run(c, SLOW));
        t
    });
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn svlogd_writes_the_same_log() {
    same_on_both("svlogd", |a, d| {
        let log = d.join("log");
        std::fs::create_dir_all(&log).unwrap();
        std::fs::write(d.join("input"), "one\ntwo\nno newline at end").unwrap();
        let mut c = a.cmd("svlogd");
        c.arg(&log).stdin(Stdio::from(std::fs::File::open(d.join("input")).unwrap()));
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let o = Proc::spawn(c).output(SLOW);
        let current = text(&read(log.join("current")));
        assert!(current.starts_with("one\ntwo\n"), "{current:?}");
        format!("{}current:\n{current}", transcript(&o))
    });
}

/// Waits until the service in `dir` runs and its trace (next to `dir`) has `n` lines, so a
/// signal cannot beat its `started` line; fails at once if `p` (its supervisor) exits.
fn wait_up(p: &mut Proc, dir: &Path, n: usize) {
    let trace = dir.parent().unwrap().join("trace");
    wait_until(SLOW, &format!("{} up", dir.display()), || {
        if let Some(st) = p.child.try_wait().unwrap() {
            panic!("the supervisor exited ({st:?}) before {} ran", dir.display());
        }
        status(dir).is_some_and(|st| st.0 > 0 && st.4 == 1) && lines(&trace).len() >= n
    });
}

/// A service that records its start and its finish in DIR/trace, and its pid in DIR/pids.
fn traced_service(dir: &Path, name: &str) -> PathBuf {
    let s = dir.join(name);
    script(s.join("run"), &format!("#!/bin/sh\necho $$ >> ../pids\necho {name} started >> ../trace\nexec sleep 1000\n"));
    script(s.join("finish"), &format!("#!/bin/sh\necho {name} finish $1 $2 >> ../trace\n"));
    s
}

/// Kills the traced services' processes left behind when a scenario fails (runsv puts each
/// in a session of its own, out of reach of the Proc guard).
struct Services(PathBuf);

impl Drop for Services {
    fn drop(&mut self) {
        for pid in lines(self.0.join("pids")).iter().filter_map(|l| l.parse::<i32>().ok()) {
            if alive(pid) {
                // SAFETY: kill on a pid a service of this test wrote, and that is still alive.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn runsv_and_sv_lifecycle_match() {
    same_on_both("runsv", |a, d| {
        let _left = Services(d.to_path_buf());
        let s = traced_service(d, "svc");
        let mut runsv = a.cmd("runsv");
        runsv.arg(&s).stdin(Stdio::null());
        let mut p = Proc::spawn(runsv);
        wait_up(&mut p, &s, 1);
        let mut t = String::new();
        for args in [&["status"][..], &["-w", "30", "down"], &["status"], &["-w", "30", "up"], &["exit"]] {
            let mut c = a.cmd("sv");
            c.args(args).arg(&s);
            t += &format!("$ sv {args:?}\n{}", transcript(&run(c, SLOW)));
            if args == ["-w", "30", "down"] {
                // Down, with ./finish done: the next status must not race it.
                wait_until(SLOW, "finish ran", || lines(d.join("trace")).len() >= 2);
                wait_until(SLOW, "svc down", || status(&s).is_some_and(|st| st.0 == 0 && st.4 == 0));
            }
            if args == ["-w", "30", "up"] {
                wait_up(&mut p, &s, 3);
            }
        }
        let code = p.wait_exit(SLOW).code();
        assert_eq!(code, Some(0), "runsv after sv exit");
        let trace = lines(d.join("trace"));
        assert_eq!(trace[..2], ["svc started", "svc finish -1 15"], "{trace:?}");
        format!("{t}runsv exit {code:?}\ntrace:\n{}\n", trace.join("\n"))
    });
}

#[test]
fn runsvdir_starts_and_stops_services_gracefully() {
    same_on_both("runsvdir", |a, d| {
        let sd = d.join("service");
        let _left = Services(sd.clone());
        let services = [traced_service(&sd, "one"), traced_service(&sd, "two")];
        let mut c = a.cmd("runsvdir");
        c.arg(&sd).env("URUNIT_PID1", "1").env("URUNIT_STOP_TIMEOUT", "30").stdin(Stdio::null());
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut p = Proc::spawn(c);
        for s in &services {
            wait_up(&mut p, s, 2);
        }
        p.signal(libc::SIGTERM);
        let o = p.output(SLOW);
        assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
        let mut trace = lines(sd.join("trace"));
        trace.sort();
        assert_eq!(trace, ["one finish -1 15", "one started", "two finish -1 15", "two started"]);
        format!("{}trace:\n{}\n", transcript(&o), trace.join("\n"))
    });
}

// ---- the core test files, against the aarch64 binary

/// Tests whose names hold these words run the binary inside an image or a chroot, where
/// there is no qemu to run it with (cargo's --skip matches substrings).
const NO_QEMU_INSIDE: &[&str] = &["podman", "image", "scratch", "chroot"];

/// The test files that make up the core, run whole under qemu, and the tests of each that
/// cannot pass there for reasons of emulation, not of the binary.
const CORE: &[(&str, &[&str])] = &[
    ("runsv", &[]),
    ("runsv_control", &[]),
    ("runsv_finish", &[]),
    // child_fds_env compares the service's environment with runsv's /proc/PID/environ,
    // which under qemu is qemu's own.
    ("runsv_log", &["child_fds_env"]),
    // These find runsv processes by /proc/PID/cmdline, which under qemu is qemu's own, or
    // exec /proc/self/exe, an aarch64 binary the kernel cannot run here without binfmt.
    (
        "runsvdir",
        &["readproctitle_log", "runsv_not_on_path_falls_back_to_self", "dead_runsv_restarted", "pickup_add_remove_replace"],
    ),
    // The orphan is not reparented to a runsvdir under qemu-user (its prctl emulation).
    // 1,001 runsv under qemu would need a qemu process (and its memory) each.
    ("pid1", &["urunit_pid1_variable_as_subreaper", "more_than_a_thousand_services"]),
    ("sv", &[]),
    // limits: qemu itself needs the address space and data the limits deny.
    ("chpst", &["limits"]),
    // Its C runit half depends on a 200 ms sleep winning a race, which a machine busy with
    // qemu does not always give it.
    ("svlogd", &["age_rotation_sigalrm_sighup_and_sigterm"]),
];

/// A native static program named `urunit` that runs the aarch64 binary under qemu with its own
/// argv[0] (a script cannot: the kernel gives its interpreter the script's path instead).
/// `urunit --install DIR` is done natively, with links to the launcher, so that what runsvdir
/// finds on PATH is runnable here too.
fn launcher(q: &Path, arm: &Path) -> PathBuf {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("urunit-aarch64-launcher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("launcher.rs");
        std::fs::write(
            &src,
            LAUNCHER.replace("QEMU_PATH", &q.display().to_string()).replace("ARM_PATH", &arm.display().to_string()),
        )
        .unwrap();
        let exe = dir.join("urunit");
        let mut c = Command::new("rustc");
        c.args(["--edition", "2021", "-O", "--target", "x86_64-unknown-linux-musl"]).arg(&src).arg("-o").arg(&exe);
        let o = run(c, 120);
        assert!(o.status.success(), "rustc launcher: {}", transcript(&o));
        exe
    })
    .clone()
}

// no_main: std's start-up would set SIGPIPE to ignored, and exec would pass that on.
// qemu-user gives the guest its environment in reverse order: it gets it reversed first.
const LAUNCHER: &str = r#"
#![no_main]
use std::ffi::{c_char, CStr, CString};
use std::ptr::null;
const QEMU: &str = "QEMU_PATH";
const ARM: &str = "ARM_PATH";
extern "C" {
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> i32;
}
#[no_mangle]
pub extern "C" fn main(argc: i32, argv: *const *const c_char, envp: *const *const c_char) -> i32 {
    let args: Vec<&CStr> = (0..argc as isize).map(|i| unsafe { CStr::from_ptr(*argv.offset(i)) }).collect();
    let base = args[0].to_bytes().rsplit(|&b| b == b'/').next().unwrap_or(b"");
    if base == b"urunit" && args.len() == 3 && args[1].to_bytes() == b"--install" {
        let list = std::process::Command::new(QEMU).args(["-0", "urunit", ARM, "--list"]).output().expect("qemu");
        let me = std::env::current_exe().expect("/proc/self/exe");
        let dir = std::path::Path::new(args[2].to_str().expect("utf-8 dir"));
        for name in String::from_utf8_lossy(&list.stdout).lines() {
            if std::fs::symlink_metadata(dir.join(name)).is_err() {
                std::os::unix::fs::symlink(&me, dir.join(name)).expect("symlink");
            }
        }
        return 0;
    }
    let mut env: Vec<*const c_char> = (0..).map(|i| unsafe { *envp.offset(i) }).take_while(|p| !p.is_null()).collect();
    env.reverse();
    env.push(null());
    let (q, a) = (CString::new(QEMU).unwrap(), CString::new(ARM).unwrap());
    let mut v = vec![q.as_ptr(), c"-0".as_ptr(), args[0].as_ptr(), a.as_ptr()];
    v.extend(args[1..].iter().map(|s| s.as_ptr()));
    v.push(null());
    unsafe { execve(q.as_ptr(), v.as_ptr(), env.as_ptr()) };
    eprintln!("launcher: {QEMU}: {}", std::io::Error::last_os_error());
    126
}
"#;

/// The newest build of test file `name` beside this one (cargo builds them all before running any).
fn sibling_test(name: &str) -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let prefix = format!("{name}-");
    std::fs::read_dir(&deps)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix).is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
}

/// How many core test files run at once: their tests mostly wait, but more than two at a
/// time on a busy two-core machine pushes some past their own deadlines.
const AT_ONCE: usize = 2;

#[test]
fn core_test_files_pass_on_aarch64() {
    let Some((_, arm)) = arches() else { return };
    let exe = launcher(arm.qemu.as_ref().unwrap(), &arm.bin);
    let mut todo: Vec<(&str, Command)> = vec![];
    for (name, skips) in CORE {
        // A file that is not there (renamed, or `cargo test --test aarch64` alone) is named,
        // and only none at all counts as a skip.
        let Some(t) = sibling_test(name) else {
            eprintln!("NOTE: test file {name} not built, not run on aarch64");
            continue;
        };
        let mut c = Command::new(&t);
        c.args(["--test-threads", "2"]).env("URUNIT_BIN", &exe);
        for s in skips.iter().chain(NO_QEMU_INSIDE) {
            c.args(["--skip", s]);
        }
        todo.push((name, c));
    }
    if todo.is_empty() {
        skip("no core test file built beside this one (run the whole suite: make test)");
    }
    let queue = std::sync::Mutex::new(todo);
    let results = std::sync::Mutex::new(vec![]);
    std::thread::scope(|sc| {
        for _ in 0..AT_ONCE {
            sc.spawn(|| {
                loop {
                    // (A `while let` on the lock would hold it through the run.)
                    let next = queue.lock().unwrap().pop();
                    let Some((name, c)) = next else { break };
                    let o = run(c, 600);
                    results.lock().unwrap().push((name, o));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    for (name, o) in &results {
        assert!(o.status.success(), "{name} under qemu-aarch64:\n{}", transcript(o));
    }
    eprintln!("core test files passed on aarch64: {:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
}
