//! Issue 14: locked-down containers and Kubernetes "restricted" pods. The Alpine and FROM
//! scratch images (built from the repository's Containerfiles, as containers.rs does) run with
//! a read-only root, as a non-root uid, with every capability dropped and no-new-privileges:
//! the services run, `sv` reaches them through the run directory (/run/urunit, README "Read-only
//! and non-root"), `podman stop` is graceful, nothing is written outside /run. With no writable
//! place at all the services still run and sv says why it cannot reach them. chpst says what it
//! cannot do without privilege. k8s/urunit-pod.yaml runs under `podman kube play`.
//! Needs root, podman and runc, busybox-static and rustc's musl target (`make deps`).
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use urunit_tests::*;

/// The prefix of every podman name made here (parallel runs do not collide).
const PREFIX: &str = "locked";

/// Seconds allowed for anything to start or stop (the machine is shared and noisy).
const SLOW: u64 = 90;

/// The uid OpenShift's restricted SCC gives (random, in the project's range, gid 0, no passwd
/// entry), and nobody.
const OPENSHIFT: &str = "1000680000:0";
const NOBODY: &str = "65534:65534";

/// sv's words for a service runsv had no writable place for (contract, section 4).
const NO_PLACE: &str = "unable to open supervise/ok: file does not exist \
                        (read-only service directory and no writable $URUNIT_RUNDIR or /run/urunit)";

/// podman can run here; otherwise a skip (a failure with URUNIT_REQUIRE_ALL=1).
fn ready(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let why = if unsafe { libc::geteuid() } != 0 {
        Some("not root: podman needs root".to_string())
    } else if !Path::new("/usr/sbin/runc").exists() {
        Some("runc not installed (make deps)".to_string())
    } else {
        ["podman", "busybox", "rustc", "tar"]
            .iter()
            .find(|t| which(t).is_none())
            .map(|t| format!("{t} not installed (make deps)"))
    };
    match why {
        Some(why) => {
            skip(&format!("{what}: {why}"));
            false
        }
        None => true,
    }
}

// ---- podman

/// Removes the containers a test started, whatever happened.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for c in &self.0 {
            podman_run(&["rm", "-f", "-t", "0", c]);
        }
    }
}

/// The images every test here shares, built once per test process and removed at its exit.
struct Images {
    alpine: String,
    scratch: String,
}

/// Every image this process made (the atexit handler removes them).
static MADE: Mutex<Vec<String>> = Mutex::new(Vec::new());

extern "C" fn remove_images() {
    let names = std::mem::take(&mut *MADE.lock().unwrap_or_else(|e| e.into_inner()));
    for i in names {
        podman_run(&["rmi", "-f", &i]);
    }
}

fn made(name: String) -> String {
    let mut m = MADE.lock().unwrap();
    if m.is_empty() {
        // SAFETY: registers a plain extern "C" function, run once when the process exits.
        unsafe { libc::atexit(remove_images) };
    }
    m.push(name.clone());
    name
}

/// Builds both images from a context holding the repository's alpine/ and service-examples/,
/// the binary under test and the demo program. The service directories in the context are
/// made private (go-rwx, as a checkout with umask 077 has them): the Containerfiles must
/// give every user read and search access to them all the same.
fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let tmp = TempDir::new("locked-ctx");
        let ctx = tmp.join("ctx");
        std::fs::create_dir_all(ctx.join("prebuilt")).unwrap();
        let mut cp = Command::new("cp");
        cp.arg("-a").arg(repo().join("alpine")).arg(repo().join("service-examples")).arg(&ctx);
        ok(&run(cp, 30), "cp -a context");
        let mut chmod = Command::new("chmod");
        chmod.arg("-R").arg("go-rwx").arg(ctx.join("service-examples"));
        ok(&run(chmod, 30), "chmod -R go-rwx");
        std::fs::copy(bin(), ctx.join("prebuilt/urunit")).unwrap();
        std::fs::copy(demo_app(), ctx.join("prebuilt/demo-app")).unwrap();
        let base = made(format!("localhost/{}", unique(PREFIX, "standin")));
        let mut s = Command::new(repo().join("alpine/standin.sh"));
        s.args([base.as_str(), "podman", "--runtime", "/usr/sbin/runc"]).env("CONTAINERS_CONF", containers_conf());
        ok(&run(s, 180), "alpine/standin.sh");
        let alpine = made(format!("localhost/{}", unique(PREFIX, "alpine")));
        build(&ctx, "alpine/Dockerfile", &alpine, &[&format!("BASE_IMAGE={base}")]);
        let scratch = made(format!("localhost/{}", unique(PREFIX, "scratch")));
        build(&ctx, "alpine/Containerfile.scratch", &scratch, &["APP_BIN=prebuilt/demo-app"]);
        Images { alpine, scratch }
    })
}

// ---- what the two images hold

struct Kind {
    /// The image's services (name, has a log/).
    services: &'static [(&'static str, bool)],
    /// Lines in the log once the services trap SIGTERM.
    ready: &'static [&'static str],
    /// Per service: the start of its next-to-last line after a stop, and its last line.
    ends: &'static [(&'static str, &'static str, &'static str)],
    /// The service `sv restart` is tried on, and the line it logs when it (re)starts.
    restart: (&'static str, &'static str),
    shell: bool,
}

const FINISHED: &str = "finish ran (exit=0 signal=0)";

const ALPINE: Kind = Kind {
    services: &[("web", true), ("worker", true)],
    ready: &["web: listening on", "worker: started"],
    ends: &[("web", "stopped", FINISHED), ("worker", "SIGTERM after job", FINISHED)],
    restart: ("web", "listening on :8080"),
    shell: true,
};

const SCRATCH: Kind = Kind {
    services: &[("app", false), ("ticker", false)],
    ready: &["app: started", "ticker: started"],
    ends: &[("app", "SIGTERM, exiting", FINISHED), ("ticker", "SIGTERM, exiting", FINISHED)],
    restart: ("app", "started (pid "),
    shell: false,
};

impl Kind {
    fn image(&self) -> String {
        if self.shell { images().alpine.clone() } else { images().scratch.clone() }
    }
    fn dirs(&self) -> Vec<String> {
        self.services.iter().map(|(s, _)| format!("/etc/service/{s}")).collect()
    }
}

/// Every service's last two lines are its stop and its ./finish.
#[track_caller]
fn check_ends(kind: &Kind, logs: &str) {
    for (name, before, last) in kind.ends {
        let lines = logged(logs, name);
        let n = lines.len();
        assert!(n >= 2, "too few lines of {name} in:\n{logs}");
        assert_eq!(lines[n - 1], *last, "last line of {name}, in:\n{logs}");
        assert!(lines[n - 2].starts_with(before), "{name}'s line before {last:?} should start with {before:?}, in:\n{logs}");
    }
}

fn logs_of(name: &str) -> String {
    let o = podman_run(&["logs", name]);
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// Fails at once, with the logs, if the container is no longer running.
#[track_caller]
fn still_running(name: &str) {
    if podman_run(&["inspect", name, "--format", "{{.State.Running}}"]).stdout.starts_with(b"false") {
        panic!("the container stopped; logs:\n{}", logs_of(name));
    }
}

fn wait_log(name: &str, what: &[&str]) {
    wait_until(SLOW, &format!("{what:?} in the container's log"), || {
        let all = logs_of(name);
        what.iter().all(|r| all.contains(r))
    });
}

/// `podman exec NAME sv status` on every service, once all run; checks the lines.
fn wait_status(name: &str, kind: &Kind) {
    let dirs = kind.dirs();
    let mut last = String::new();
    wait_until(SLOW, "every service running (podman exec sv status)", || {
        let mut a = vec!["exec", name, "sv", "status"];
        a.extend(dirs.iter().map(String::as_str));
        let o = podman_run(&a);
        last = format!("{}{}", text(&o.stdout), text(&o.stderr));
        if !o.status.success() {
            still_running(name);
        }
        o.status.success()
            && last.lines().count() == dirs.len()
            && last.lines().zip(kind.services).all(|(l, (_, log))| l.starts_with("run: ") && l.contains("; run: log: ") == *log)
    });
    check_status(&last, &dirs.iter().zip(kind.services).map(|(d, (_, log))| (d.as_str(), *log)).collect::<Vec<_>>());
}

/// What podman itself adds to every container's upper layer (mount points for /etc/hosts and
/// the like, /etc/passwd and /etc/group entries for a --user with none, --read-only's tmpfs
/// mount points): `podman diff` may show these and nothing else.
const RUNTIME_PATHS: &[&str] = &[
    "/etc",
    "/etc/passwd",
    "/etc/group",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/run",
    "/run/.containerenv",
    "/tmp",
    "/var",
    "/var/tmp",
    "/dev",
    "/dev/shm",
    "/proc",
    "/sys",
];

/// Nothing written outside the tmpfs: only the runtime's own entries in `podman diff`.
#[track_caller]
fn check_diff(name: &str) {
    let diff = ok(&podman_run(&["diff", name]), "podman diff");
    let written: Vec<&str> =
        diff.lines().filter(|l| !l.split_once(' ').is_some_and(|(_, p)| RUNTIME_PATHS.contains(&p))).collect();
    assert!(written.is_empty(), "written outside /run: {written:?}\npodman diff:\n{diff}");
}

/// The flags of a locked-down run: read-only root, user, no capabilities, no-new-privileges.
fn locked_flags(user: &str) -> Vec<&str> {
    vec!["--read-only", "--user", user, "--cap-drop=ALL", "--security-opt", "no-new-privileges"]
}

fn start(ctrs: &mut Containers, tag: &str, flags: &[&str], image: &str) -> String {
    let name = unique(PREFIX, tag);
    ctrs.0.push(name.clone());
    let mut a = vec!["run", "-d", "--network", "none", "--no-healthcheck", "--name", &name];
    a.extend_from_slice(flags);
    a.push(image);
    ok(&podman_run(&a), "podman run");
    name
}

/// `podman stop`: exit code 0; returns the logs.
fn stop(name: &str) -> String {
    ok(&podman_run(&["stop", "-t", "30", name]), "podman stop");
    let code = ok(&podman_run(&["inspect", name, "--format", "{{.State.ExitCode}}"]), "podman inspect");
    let logs = logs_of(name);
    assert_eq!(code.trim(), "0", "exit code after podman stop, logs:\n{logs}");
    logs
}

fn count(logs: &str, service: &str, line: &str) -> usize {
    logged(logs, service).iter().filter(|l| l.starts_with(line)).count()
}

// ---- a run directory on /run

/// The image run locked down as `user`, with a tmpfs on /run that the user can write: every
/// service runs, `sv status`, `sv check` and `sv -w 5 restart` work through /run/urunit, the
/// stop is graceful, and nothing is written outside /run.
///
/// `tmpfs` is `/run:rw,mode=1777,U`: runc before 1.1.8 (this machine has 1.1.5) gives a tmpfs
/// mounted on an existing directory that directory's mode (the images' /run: 0755 root) whatever
/// `mode=` says (runc#3911), which would leave nowhere to write; `U` makes podman mount it owned
/// by the container's user instead. Newer runc and crun honour mode=1777, and Kubernetes' emptyDir
/// is 0777. Or `/run/urunit:rw,mode=1777`, which works with any runc (the images have no
/// /run/urunit, so the runtime makes the mount point and the mode stays).
fn run_locked(kind: &Kind, user: &str, tmpfs: &str) {
    if !ready("locked-down containers") {
        return;
    }
    let image = kind.image();
    let mut ctrs = Containers(vec![]);
    let mut flags = locked_flags(user);
    flags.extend(["--tmpfs", tmpfs]);
    let name = start(&mut ctrs, "run", &flags, &image);
    wait_status(&name, kind);
    ok(&podman_run(&["exec", &name, "sv", "check", "/etc/service"]), "sv check /etc/service");
    if kind.shell {
        let o = podman_run(&["exec", &name, "sh", "-c", "id -u; id -g; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"]);
        let (uid, gid) = user.split_once(':').unwrap();
        assert_eq!(ok(&o, "id"), format!("{uid}\n{gid}\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n"));
        // The run directory: mode 0700, one KEY per service directory and log (contract, 4).
        let o = podman_run(&[
            "exec",
            &name,
            "sh",
            "-c",
            "stat -c '%a %u' /run/urunit; ls /run/urunit; ls /run/urunit/etc%2Fservice%2Fweb",
        ]);
        // runsv makes R with mode 0700; a tmpfs mounted there keeps its own mode.
        let r = if tmpfs.starts_with("/run/urunit:") { "1777 0".to_string() } else { format!("700 {uid}") };
        let want = format!(
            "{r}\netc%2Fservice%2Fweb\netc%2Fservice%2Fweb%2Flog\netc%2Fservice%2Fworker\netc%2Fservice%2Fworker%2Flog\n\
             control\nhealth\nlock\nok\npid\nstat\nstatus\n"
        );
        assert_eq!(ok(&o, "ls /run/urunit"), want);
        // The service directories themselves are untouched: no supervise/.
        let o = podman_run(&["exec", &name, "sh", "-c", "find /etc/service -name supervise | wc -l"]);
        assert_eq!(ok(&o, "find supervise").trim(), "0");
    }
    wait_log(&name, kind.ready);

    // sv -w 5 restart: a new pid, up again.
    let (svc, started) = kind.restart;
    let dir = format!("/etc/service/{svc}");
    let before = ok(&podman_run(&["exec", &name, "sv", "status", &dir]), "sv status");
    let o = podman_run(&["exec", &name, "sv", "-w", "5", "restart", &dir]);
    let out = ok(&o, "sv -w 5 restart");
    assert!(out.starts_with(&format!("ok: run: {dir}: (pid ")) && out.lines().count() == 1, "sv restart said:\n{out}");
    let pid = |s: &str| s.split("(pid ").nth(1).and_then(|p| p.split(')').next()).map(str::to_string);
    assert_ne!(pid(&out), pid(&before), "the pid after the restart: {out}, before: {before}");
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    wait_until(SLOW, "the restarted service's start-up line", || count(&logs_of(&name), svc, started) == 2);
    ok(&podman_run(&["exec", &name, "sv", "check", &dir]), "sv check after the restart");

    check_diff(&name);
    let logs = stop(&name);
    check_ends(kind, &logs);
    assert_eq!(count(&logs, svc, FINISHED), 2, "./finish once for the restart and once for the stop:\n{logs}");
    assert!(!logs.lines().any(|l| l.starts_with("runsv")), "runsv had something to say:\n{logs}");
    check_diff(&name);
}

/// The tmpfs for the run directory (see run_locked).
const RUN_TMPFS: &str = "/run:rw,mode=1777,U";

#[test]
fn alpine_read_only_as_an_openshift_uid() {
    run_locked(&ALPINE, OPENSHIFT, RUN_TMPFS);
}

#[test]
fn alpine_read_only_as_nobody() {
    run_locked(&ALPINE, NOBODY, RUN_TMPFS);
}

#[test]
fn alpine_read_only_with_a_tmpfs_on_run_urunit() {
    run_locked(&ALPINE, OPENSHIFT, "/run/urunit:rw,mode=1777");
}

#[test]
fn scratch_read_only_as_an_openshift_uid() {
    run_locked(&SCRATCH, OPENSHIFT, RUN_TMPFS);
}

#[test]
fn scratch_read_only_as_nobody() {
    run_locked(&SCRATCH, NOBODY, RUN_TMPFS);
}

// ---- nowhere to write at all

/// Read-only with no tmpfs (podman's --read-only would add a root-owned one on /run, /tmp and
/// /var/tmp: --read-only-tmpfs=false leaves none): the services run all the same, runsv says
/// once per service that sv cannot reach it, sv says why, and the stop is still graceful.
fn run_nowhere(kind: &Kind) {
    if !ready("read-only containers") {
        return;
    }
    let image = kind.image();
    let mut ctrs = Containers(vec![]);
    let mut flags = locked_flags(OPENSHIFT);
    flags.push("--read-only-tmpfs=false");
    let name = start(&mut ctrs, "nowhere", &flags, &image);
    wait_log(&name, kind.ready);
    let dirs = kind.dirs();
    let warnings: String = dirs.iter().map(|d| format!("warning: {d}: {NO_PLACE}\n")).collect();
    for verb in [&["status"][..], &["check"], &["-w", "5", "restart"]] {
        let mut a = vec!["exec", name.as_str(), "sv"];
        a.extend_from_slice(verb);
        a.extend(dirs.iter().map(String::as_str));
        let o = podman_run(&a);
        assert_eq!((text(&o.stdout), text(&o.stderr)), (warnings.clone(), String::new()), "sv {verb:?}");
        assert_eq!(o.status.code(), Some(dirs.len() as i32), "sv {verb:?}'s exit code");
    }
    check_diff(&name);
    let logs = stop(&name);
    check_ends(kind, &logs);
    // runsv says it once for each service (and once for its logger).
    for (svc, log) in kind.services {
        let said = format!("runsv {svc}: warning: no writable supervise directory");
        let n = logs.lines().filter(|l| l.starts_with(&said)).count();
        assert_eq!(n, 1 + *log as usize, "{said:?} lines in:\n{logs}");
        let cannot = format!("runsv {svc}: warning: ");
        let n = logs.lines().filter(|l| l.starts_with(&cannot) && l.contains("sv cannot control this service")).count();
        assert_eq!(n, 1, "'sv cannot control this service' lines of {svc} in:\n{logs}");
    }
    // No restart loop: each service started once.
    for (svc, _, _) in kind.ends {
        assert_eq!(count(&logs, svc, FINISHED), 1, "{svc} restarted:\n{logs}");
    }
    check_diff(&name);
}

#[test]
fn alpine_read_only_with_nowhere_to_write() {
    run_nowhere(&ALPINE);
}

#[test]
fn scratch_read_only_with_nowhere_to_write() {
    run_nowhere(&SCRATCH);
}

// ---- the images' service directories

/// Every file and directory under /etc/service in both images: readable by everyone,
/// directories and programs searchable/executable by everyone, writable by root only (the
/// group is 0 for an OpenShift uid, so no group write either), owned by root.
#[test]
fn service_directories_are_readable_by_any_uid_and_writable_by_none() {
    if !ready("image permissions") {
        return;
    }
    for image in [&images().alpine, &images().scratch] {
        let root = ok(&podman_run(&["image", "mount", image]), "podman image mount").trim().to_string();
        let mut bad = vec![];
        let mut seen = 0;
        let mut stack = vec![PathBuf::from(&root).join("etc/service")];
        while let Some(p) = stack.pop() {
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                continue;
            }
            seen += 1;
            let mode = m.permissions().mode() & 0o7777;
            let exec = m.is_dir() || mode & 0o100 != 0;
            let want_set = if exec { 0o555 } else { 0o444 };
            if mode & want_set != want_set || mode & 0o022 != 0 || m.uid() != 0 {
                bad.push(format!("{:o} {} {}", mode, m.uid(), p.strip_prefix(&root).unwrap().display()));
            }
            if m.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        }
        podman_run(&["image", "unmount", image]);
        assert!(seen >= 3, "{image}: nothing under /etc/service");
        assert!(bad.is_empty(), "{image}: modes that an arbitrary uid cannot use, or may write:\n{}", bad.join("\n"));
    }
}

// ---- chpst without privilege

/// Inside a locked-down container (uid 1000680000, gid 0, no capabilities, no-new-privileges):
/// what needs privilege fails runit's way (`chpst: fatal: unable to ...: permission denied`,
/// exit 111); limits above the hard limit are lowered to it, as runit's chpst does.
#[test]
fn chpst_without_privilege() {
    if !ready("chpst in a locked-down container") {
        return;
    }
    let mut ctrs = Containers(vec![]);
    let mut flags = locked_flags(OPENSHIFT);
    flags.extend(["--tmpfs", "/run:rw,mode=1777,U"]);
    let name = start(&mut ctrs, "chpst", &flags, &images().alpine);
    let exec = |args: &[&str]| {
        let mut a = vec!["exec", name.as_str()];
        a.extend_from_slice(args);
        podman_run(&a)
    };
    let o = exec(&["grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status"]);
    assert_eq!(ok(&o, "grep CapEff"), "CapEff:\t0000000000000000\nNoNewPrivs:\t1\n");
    for (args, err) in [
        (&["chpst", "-u", "nobody", "true"][..], "chpst: fatal: unable to setgroups: permission denied\n"),
        (&["chpst", "-u", "root", "true"], "chpst: fatal: unable to setgroups: permission denied\n"),
        (&["chpst", "-/", "/etc/service", "true"], "chpst: fatal: unable to change root directory: permission denied\n"),
        (&["chpst", "-n", "-5", "true"], "chpst: fatal: unable to set nice level: permission denied\n"),
    ] {
        expect(&exec(args), 111, "", err);
    }
    // Lowering the priority needs no privilege.
    expect(&exec(&["chpst", "-n", "5", "sh", "-c", "cut -d' ' -f19 /proc/self/stat"]), 0, "5\n", "");
    // -o and -m above the hard limits: the soft limits become the hard ones, no error.
    let o = exec(&["sh", "-c", "ulimit -Hn; chpst -o 999999999 sh -c 'ulimit -n'"]);
    let out = ok(&o, "chpst -o");
    let v: Vec<&str> = out.lines().collect();
    assert!(v.len() == 2 && v[0] == v[1] && v[0] != "unlimited", "hard limit, then chpst -o's soft limit:\n{out}");
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    // -m sets the data, stack, locked-memory and address-space limits (ulimit -d -s -l -v).
    let o = exec(&[
        "sh",
        "-c",
        "for r in d s l v; do ulimit -H$r; done; chpst -m 999999999999999 sh -c 'for r in d s l v; do ulimit -$r; done'",
    ]);
    let out = ok(&o, "chpst -m");
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v.len(), 8, "{out}");
    for i in 0..4 {
        // KiB: the hard limit, or the request where the hard limit is higher (unlimited).
        let want = if v[i] == "unlimited" { (999999999999999u64 / 1024).to_string() } else { v[i].to_string() };
        assert_eq!(v[4 + i], want, "limit {i} (d s l v), hard limits then chpst -m's soft limits:\n{out}");
    }
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
}

// ---- Kubernetes

fn manifest() -> String {
    std::fs::read_to_string(repo().join("k8s/urunit-pod.yaml")).unwrap()
}

/// The value of the first `KEY: VALUE` line of `yaml` (indentation and quotes removed).
fn value<'a>(yaml: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    yaml.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| l.trim_start().trim_start_matches("- ").strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {key:?} in the manifest"))
        .trim_matches('"')
}

/// The exec probes' commands, in order (readiness, liveness).
fn probes(yaml: &str) -> Vec<Vec<String>> {
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix("command: [\"sv\""))
        .map(|rest| {
            let list = format!("\"sv\"{}", rest.strip_suffix(']').unwrap());
            list.split(", ").map(|w| w.trim_matches('"').to_string()).collect()
        })
        .collect()
}

/// The shipped manifest has the restricted profile, an emptyDir on /run, sv check probes and
/// a grace period above the stop deadline.
#[test]
fn shipped_manifest_is_restricted() {
    let y = manifest();
    for (key, want) in [
        ("kind", "Pod"),
        ("readOnlyRootFilesystem", "true"),
        ("allowPrivilegeEscalation", "false"),
        ("runAsNonRoot", "true"),
        ("drop", "[\"ALL\"]"),
        ("type", "RuntimeDefault"),
        ("mountPath", "/run"),
    ] {
        assert_eq!(value(&y, key), want, "{key}");
    }
    assert!(value(&y, "runAsUser").parse::<u32>().is_ok_and(|u| u > 0));
    assert!(y.contains("\n      emptyDir:\n") && !y.contains("hostPath"), "the run directory is an emptyDir");
    let stop: u32 = value(&y, "value").parse().unwrap();
    assert_eq!(y.lines().filter(|l| l.contains("name: URUNIT_STOP_TIMEOUT")).count(), 1);
    let grace: u32 = value(&y, "terminationGracePeriodSeconds").parse().unwrap();
    assert!(grace > stop, "terminationGracePeriodSeconds {grace} must exceed URUNIT_STOP_TIMEOUT {stop}");
    let p = probes(&y);
    assert_eq!(p.len(), 2, "readiness and liveness probes: {p:?}");
    assert!(p.iter().all(|c| c.contains(&"check".to_string())), "{p:?}");
    assert!(y.contains("readinessProbe:\n        exec:") && y.contains("livenessProbe:\n        exec:"));
    // Each probe's timeout is longer than its sv -w wait.
    for (c, t) in p.iter().zip(y.lines().filter_map(|l| l.trim().strip_prefix("timeoutSeconds: "))) {
        let w: u32 = c[c.iter().position(|a| a == "-w").unwrap() + 1].parse().unwrap();
        assert!(t.parse::<u32>().unwrap() > w, "probe {c:?}: timeout {t}");
    }
}

/// Replaces `from` (which must occur exactly once) by `to`.
#[track_caller]
fn once(s: &str, from: &str, to: &str) -> String {
    assert_eq!(s.matches(from).count(), 1, "{from:?} in the manifest");
    s.replacen(from, to, 1)
}

/// Removes the pod a test played, whatever happened.
struct Pod {
    file: PathBuf,
    name: String,
}

impl Drop for Pod {
    fn drop(&mut self) {
        podman_run(&["kube", "down", self.file.to_str().unwrap()]);
        podman_run(&["pod", "rm", "-f", "-t", "0", &self.name]);
    }
}

/// k8s/urunit-pod.yaml under `podman kube play`: the container runs as the manifest's user,
/// read-only, with no capabilities; every service runs; the probe commands pass inside; a stop
/// with the grace period is graceful (every ./finish, exit 0, every service's lines in the
/// logs); `kube down` removes the pod. The manifest is played as a copy with: this test's image
/// and pod name; no `ports` (podman publishes a containerPort on the host: parallel runs would
/// collide); and, because podman 4.3 makes an emptyDir owned by root with mode 0755 (Kubernetes:
/// 0777), which the non-root user cannot write, a hostPath to a directory made with mode 1777
/// in place of the emptyDir.
#[test]
fn kube_play_runs_the_restricted_pod() {
    if !ready("podman kube play") {
        return;
    }
    let y = manifest();
    let tmp = TempDir::new("locked-kube");
    let run_dir = tmp.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let pod = unique(PREFIX, "pod");
    let mut play = once(&y, "\n  name: urunit\n", &format!("\n  name: {pod}\n"));
    play = once(&play, "image: localhost/urunit:alpine", &format!("image: {}", images().alpine));
    play = once(&play, "      ports:\n        - containerPort: 8080\n", "");
    play = once(
        &play,
        "      emptyDir:\n        medium: Memory\n        sizeLimit: 1Mi\n",
        &format!(
            "      # In this test only: podman 4.3's emptyDir is root-owned 0755 (Kubernetes: 0777), so\n      \
             # a host directory made with mode 1777 stands in for it.\n      \
             hostPath: {{path: {}, type: Directory}}\n",
            run_dir.display()
        ),
    );
    let file = tmp.join("pod.yaml");
    std::fs::write(&file, &play).unwrap();
    let guard = Pod { file: file.clone(), name: pod.clone() };
    ok(&podman_run(&["kube", "play", "--network", "none", file.to_str().unwrap()]), "podman kube play");
    let name = format!("{pod}-app");

    wait_status(&name, &ALPINE);
    let uid = value(&y, "runAsUser");
    let o =
        podman_run(&["exec", &name, "sh", "-c", "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; touch /etc/x 2>&1"]);
    assert_eq!(
        text(&o.stdout),
        format!("{uid}\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\ntouch: /etc/x: Read-only file system\n")
    );
    for probe in probes(&y) {
        let mut a = vec!["exec", name.as_str()];
        a.extend(probe.iter().map(String::as_str));
        let out = ok(&podman_run(&a), &format!("probe {probe:?}"));
        assert!(!out.is_empty() && out.lines().all(|l| l.starts_with("ok: run: /etc/service/")), "probe {probe:?}:\n{out}");
    }
    // The run directory is the pod's volume.
    let status = run_dir.join("urunit/etc%2Fservice%2Fweb/status");
    assert_eq!(std::fs::metadata(&status).map(|m| m.uid().to_string()).ok().as_deref(), Some(uid), "{}", status.display());
    wait_log(&name, ALPINE.ready);

    // podman before 5.1 SIGKILLs a pod's containers at `kube down` without waiting
    // (podman#22397); the kubelet sends SIGTERM and waits terminationGracePeriodSeconds, which is
    // what `pod stop -t` does. Then `kube down` removes the stopped pod.
    let grace = value(&y, "terminationGracePeriodSeconds");
    ok(&podman_run(&["pod", "stop", "-t", grace, &pod]), "podman pod stop");
    let code = ok(&podman_run(&["inspect", &name, "--format", "{{.State.ExitCode}}"]), "podman inspect");
    let logs = logs_of(&name);
    assert_eq!(code.trim(), "0", "exit code after the stop, logs:\n{logs}");
    check_ends(&ALPINE, &logs);
    for (svc, _) in ALPINE.services {
        assert!(logged(&logs, svc).len() >= 3, "{svc}'s lines in:\n{logs}");
    }
    assert!(!logs.lines().any(|l| l.starts_with("runsv")), "runsv had something to say:\n{logs}");
    let down = ok(&podman_run(&["kube", "down", file.to_str().unwrap()]), "podman kube down");
    assert!(down.contains("Pods removed:"), "{down}");
    assert_eq!(podman_run(&["pod", "exists", &pod]).status.code(), Some(1), "the pod is gone");
    drop(guard);
}
