//! Containers: urunit as PID 1 on service-examples/ (a PID namespace around a scratch-like
//! root), and the Alpine and FROM scratch images built and run with podman: `sv status`
//! inside, `podman stop`, the exit code, every service's ./finish and its last log line.
//! Needs root (unshare, chroot, podman); busybox-static; podman and runc (`make deps`).
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use urunit_tests::*;

/// The prefix of every podman name made here (parallel runs do not collide).
const PREFIX: &str = "urunit-test";

/// Seconds allowed for anything to start or stop (the machine is shared and noisy).
const SLOW: u64 = 60;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Why these tests cannot run here, if they cannot (reported through skip()).
fn missing(tools: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("not root: PID namespaces, chroot and podman need root".into());
    }
    tools.iter().find(|t| which(t).is_none()).map(|t| format!("{t} not installed (make deps)"))
}

/// The stdout of `prog ARGS`, which must succeed.
fn output_of(prog: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    let mut c = Command::new(prog.as_ref());
    c.args(args);
    ok(&run(c, SLOW), &format!("{} {args:?}", prog.as_ref().to_string_lossy()))
}

/// Asserts that `lines` ends with `last` (the service's finish line), after `before`.
#[track_caller]
fn ends_with(lines: &[&str], before: &str, last: &str, all: &str) {
    let n = lines.len();
    assert!(n >= 2, "too few lines for {last:?} in:\n{all}");
    assert_eq!(lines[n - 1], last, "last line, in:\n{all}");
    assert!(lines[n - 2].starts_with(before), "line before {last:?} should start with {before:?}, in:\n{all}");
}

// ---- urunit as PID 1 of a PID namespace, in a scratch-like root

/// A root like a container image's: urunit and its links in /usr/bin, busybox's shell and tools
/// in /bin, /etc/passwd and /etc/group, the example's services in /etc/service.
fn make_root(tmp: &TempDir, example: &str) -> PathBuf {
    let root = tmp.join("root");
    for d in ["bin", "usr/bin", "etc", "tmp", "proc", "dev"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    // Shells start background jobs on /dev/null.
    let mut mknod = Command::new("mknod");
    mknod.args(["-m", "666"]).arg(root.join("dev/null")).args(["c", "1", "3"]);
    ok(&run(mknod, SLOW), "mknod /dev/null");
    std::fs::copy(bin(), root.join("usr/bin/urunit")).unwrap();
    let mut list = cmd("urunit");
    list.arg("--list");
    for p in ok(&run(list, SLOW), "urunit --list").lines() {
        std::os::unix::fs::symlink("urunit", root.join("usr/bin").join(p)).unwrap();
    }
    std::fs::copy(which("busybox").unwrap(), root.join("bin/busybox")).unwrap();
    for a in output_of(which("busybox").unwrap(), &["--list"]).lines() {
        if !root.join("usr/bin").join(a).exists() && a != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
        }
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
    let mut cp = Command::new("cp");
    cp.arg("-a").arg(repo().join("service-examples").join(example).join("service")).arg(root.join("etc/service"));
    ok(&run(cp, 30), "cp -a service");
    root
}

/// runsvdir as PID 1: `unshare --pid --net --fork chroot ROOT runsvdir /etc/service` (a network
/// namespace of its own too, so port 8080 is free), output in OUT.
struct Pid1 {
    unshare: Proc,
    pid1: i32,
    out: PathBuf,
}

impl Pid1 {
    fn start(root: &Path, out: PathBuf) -> Pid1 {
        let mut c = Command::new("unshare");
        c.arg("--pid").arg("--net").arg("--fork").arg(format!("--mount-proc={}", root.join("proc").display()));
        c.args(["env", "-i", "PATH=/usr/bin:/bin", "URUNIT_STOP_TIMEOUT=7"]).arg(which("chroot").unwrap()).arg(root);
        c.args(["/usr/bin/runsvdir", "/etc/service"]);
        let f = std::fs::File::create(&out).unwrap();
        c.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
        let unshare = Proc::spawn(c);
        let u = unshare.pid();
        let pid1 = wait_for(SLOW, "PID 1 of the namespace", || {
            std::fs::read_to_string(format!("/proc/{u}/task/{u}/children")).ok()?.trim().parse::<i32>().ok()
        });
        Pid1 { unshare, pid1, out }
    }
    fn output(&self) -> String {
        text(&read(&self.out))
    }
}

/// `sv ARGS` inside the root, as `docker exec` would run it.
fn sv_in(root: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(which("chroot").unwrap());
    c.env_clear().env("PATH", "/usr/bin:/bin").arg(root).arg("/usr/bin/sv").args(args);
    run(c, SLOW)
}

/// Waits until every service of the root (and its log service) runs; fails at once, with
/// the output, if PID 1 exits instead.
fn wait_running(p: &mut Pid1, root: &Path, services: &[(&str, bool)]) {
    for (name, log) in services {
        let d = root.join("etc/service").join(name);
        let dirs = if *log { vec![d.clone(), d.join("log")] } else { vec![d] };
        for d in dirs {
            wait_until(SLOW, &format!("{} running", d.display()), || {
                if let Some(st) = p.unshare.child.try_wait().unwrap() {
                    panic!("PID 1 exited ({st:?}) before {} ran; output:\n{}", d.display(), p.output());
                }
                status(&d).is_some_and(|s| s.0 > 0 && s.4 == 1)
            });
        }
    }
}

/// Runs `example` under PID 1 until its services run, checks `sv status`, and with
/// `stop_when` = Some(lines), once every line is in the output (the services are past their
/// start-up), sends SIGTERM (docker stop); then checks PID 1's exit code. Returns the temporary
/// directory (the root is its `root/`) and the whole output; None (and a skip) where it cannot run.
fn pid1_example(example: &str, services: &[(&str, bool)], stop_when: Option<&[&str]>, code: i32) -> Option<(TempDir, String)> {
    if let Some(why) = missing(&["unshare", "chroot", "busybox"]) {
        skip(&format!("service-examples under PID 1: {why}"));
        return None;
    }
    let tmp = TempDir::new(&format!("ex-{example}"));
    let root = make_root(&tmp, example);
    let mut p = Pid1::start(&root, tmp.join("out"));
    wait_running(&mut p, &root, services);
    let names: Vec<String> = services.iter().map(|(s, _)| format!("/etc/service/{s}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let st = sv_in(&root, &[&["status"], names.as_slice()].concat());
    check_status(&ok(&st, "sv status"), &services.iter().zip(&names).map(|((_, l), n)| (*n, *l)).collect::<Vec<_>>());
    if let Some(ready) = stop_when {
        wait_until(SLOW, &format!("{ready:?} in the output"), || {
            let out = p.output();
            ready.iter().all(|r| out.contains(r))
        });
        // SAFETY: kill on the PID 1 we started.
        unsafe { libc::kill(p.pid1, libc::SIGTERM) };
    }
    let st = p.unshare.wait_exit(SLOW);
    let out = p.output();
    assert_eq!(st.code(), Some(code), "PID 1's exit code, output:\n{out}");
    Some((tmp, out))
}

/// The web-worker services trap SIGTERM from these lines on.
const WEB_WORKER_READY: &[&str] = &["web: listening on", "worker: started"];

#[test]
fn web_worker_example_stops_gracefully_as_pid1() {
    let Some((tmp, out)) = pid1_example("web-worker", &[("web", true), ("worker", true)], Some(WEB_WORKER_READY), 0) else {
        return;
    };
    ends_with(&logged(&out, "web"), "stopped", "finish ran (exit=0 signal=0)", &out);
    ends_with(&logged(&out, "worker"), "SIGTERM after job", "finish ran (exit=0 signal=0)", &out);
    assert!(logged(&out, "web").iter().any(|l| l.starts_with("listening on :8080")), "{out}");
    assert!(tmp.join("root/etc/service/web/supervise/status").exists());
}

#[test]
fn cron_app_example_logs_the_job_to_stdout_and_files() {
    let Some((tmp, out)) =
        pid1_example("cron-app", &[("app", true), ("periodic", true)], Some(&["app: started", " job ran, "]), 0)
    else {
        return;
    };
    ends_with(&logged(&out, "app"), "SIGTERM, shutting down", "finish ran (exit=0 signal=0)", &out);
    // svlogd -tt: "YYYY-MM-DD_HH:MM:SS.xxxxx " before each line.
    let current = lines(tmp.join("root/etc/service/periodic/log/main/current"));
    let body: Vec<&str> = current
        .iter()
        .map(|l| l.split_once(' ').map_or("", |(ts, b)| if ts.len() == 25 && ts.as_bytes()[10] == b'_' { b } else { "" }))
        .collect();
    assert!(body.iter().any(|l| l.starts_with("job ran, ")), "job history: {current:?}");
    assert_eq!(body.last().copied(), Some("finish ran (exit=-1 signal=15)"), "job history: {current:?}");
    // The same lines, stamped, on the container's stdout (svlogd -tt -o ./main).
    let stdout: Vec<&str> = logged(&out, "periodic").iter().filter_map(|l| l.split_once(' ').map(|(_, b)| b)).collect();
    assert_eq!(stdout, body, "{out}");
}

#[test]
fn privdrop_example_runs_the_server_as_nobody() {
    let Some((_tmp, out)) = pid1_example("privdrop", &[("app", true)], Some(&["app: serving as"]), 0) else { return };
    let app = logged(&out, "app");
    assert!(app.contains(&"preparing as root"), "{out}");
    assert!(app.contains(&"serving as nobody (uid 65534)"), "{out}");
    ends_with(&app, "SIGTERM as nobody, exiting", "finish ran (exit=0 signal=0)", &out);
}

#[test]
fn critical_example_stops_the_container_with_its_exit_code() {
    // No signal: main exits 3 after 3 s, and the container with it.
    let Some((_tmp, out)) = pid1_example("critical", &[("main", true), ("sidecar", false)], None, 3) else { return };
    ends_with(&logged(&out, "main"), "fatal: lost the database connection", "finish ran (exit=3 signal=0)", &out);
    assert!(out.lines().any(|l| l == "sidecar: SIGTERM, exiting"), "{out}");
    assert!(out.lines().any(|l| l == "sidecar: finish ran (exit=0 signal=0)"), "{out}");
}

// ---- podman: the Alpine and FROM scratch images

/// Removes the images and containers a test made, whatever happened.
struct Podman {
    images: Vec<String>,
    containers: Vec<String>,
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in &self.containers {
            podman_run(&["rm", "-f", "-t", "0", c]);
        }
        for i in &self.images {
            podman_run(&["rmi", "-f", i]);
        }
    }
}

fn podman_ready() -> bool {
    match missing(&["podman", "busybox", "rustc"]) {
        Some(why) => {
            skip(&format!("container images: {why}"));
            false
        }
        None if !Path::new("/usr/sbin/runc").exists() => {
            skip("container images: runc not installed (make deps)");
            false
        }
        None => true,
    }
}

/// A build context: the repository's alpine/ and service-examples/, the binary under test
/// and the scratch example's program (what `make images` builds from, without target/).
fn context(tmp: &TempDir) -> PathBuf {
    let ctx = tmp.join("ctx");
    std::fs::create_dir_all(ctx.join("prebuilt")).unwrap();
    let mut cp = Command::new("cp");
    cp.arg("-a").arg(repo().join("alpine")).arg(repo().join("service-examples")).arg(&ctx);
    ok(&run(cp, 30), "cp -a context");
    std::fs::copy(bin(), ctx.join("prebuilt/urunit")).unwrap();
    std::fs::copy(demo_app(), ctx.join("prebuilt/demo-app")).unwrap();
    ctx
}

/// The image's CMD and health check are the documented ones.
fn check_config(image: &str) {
    let o = podman_run(&["image", "inspect", image, "--format", "{{json .Config.Cmd}} {{json .Config.Healthcheck.Test}}"]);
    assert_eq!(ok(&o, "podman image inspect").trim(), r#"["runsvdir","/etc/service"] ["CMD","sv","check","/etc/service"]"#);
}

/// Runs the image, waits until `sv status` inside shows every service running, checks
/// `sv check`, runs `extra` inside, waits for the `ready` lines in its log, then `podman stop`s
/// it: checks the exit code, returns the logs.
fn run_and_stop(pm: &mut Podman, image: &str, services: &[(&str, bool)], ready: &[&str], extra: impl Fn(&str)) -> String {
    let name = unique(PREFIX, "ctr");
    pm.containers.push(name.clone());
    ok(&podman_run(&["run", "-d", "--network", "none", "--no-healthcheck", "--name", &name, image]), "podman run");
    let names: Vec<String> = services.iter().map(|(s, _)| format!("/etc/service/{s}")).collect();
    let expected: Vec<(&str, bool)> = names.iter().zip(services).map(|(n, (_, l))| (n.as_str(), *l)).collect();
    let mut last = String::new();
    wait_until(SLOW, "every service running (podman exec sv status)", || {
        let mut a = vec!["exec", &name, "sv", "status"];
        a.extend(names.iter().map(String::as_str));
        let o = podman_run(&a);
        last = format!("{}{}", text(&o.stdout), text(&o.stderr));
        if !o.status.success() && podman_run(&["inspect", &name, "--format", "{{.State.Running}}"]).stdout.starts_with(b"false") {
            let logs = podman_run(&["logs", &name]);
            panic!("the container stopped before its services ran; logs:\n{}{}", text(&logs.stdout), text(&logs.stderr));
        }
        o.status.success()
            && last.lines().count() == services.len()
            && last.lines().all(|l| l.starts_with("run: ") && (l.contains("; run: log: ") || !l.contains("; ")))
            && last.lines().zip(services).all(|(l, (_, log))| l.contains("; run: log: ") == *log)
    });
    check_status(&last, &expected);
    ok(&podman_run(&["exec", &name, "sv", "check", "/etc/service"]), "sv check /etc/service");
    extra(&name);
    wait_until(SLOW, &format!("{ready:?} in the container's log"), || {
        let o = podman_run(&["logs", &name]);
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        ready.iter().all(|r| all.contains(r))
    });
    ok(&podman_run(&["stop", "-t", "30", &name]), "podman stop");
    let code = ok(&podman_run(&["inspect", &name, "--format", "{{.State.ExitCode}}"]), "podman inspect");
    let logs = podman_run(&["logs", &name]);
    let all = format!("{}{}", text(&logs.stdout), text(&logs.stderr));
    assert_eq!(code.trim(), "0", "exit code after podman stop, logs:\n{all}");
    all
}

/// An image test's start: None (and a skip) without podman, else a temporary directory, the
/// guard that removes what the test makes, and a unique image name already in its care.
fn image_test(tag: &str) -> Option<(TempDir, Podman, String)> {
    if !podman_ready() {
        return None;
    }
    let image = format!("localhost/{}", unique(PREFIX, tag));
    let pm = Podman { images: vec![image.clone()], containers: vec![] };
    Some((TempDir::new(&format!("img-{tag}")), pm, image))
}

#[test]
fn alpine_image_runs_the_services_and_stops_gracefully() {
    let Some((tmp, mut pm, image)) = image_test("alpine") else { return };
    let base = format!("localhost/{}", unique(PREFIX, "alpine-standin"));
    pm.images.push(base.clone());
    let mut s = Command::new(repo().join("alpine/standin.sh"));
    s.args([base.as_str(), "podman", "--runtime", "/usr/sbin/runc"]).env("CONTAINERS_CONF", containers_conf());
    ok(&run(s, 120), "alpine/standin.sh");
    build(&context(&tmp), "alpine/Dockerfile", &image, &[&format!("BASE_IMAGE={base}")]);
    check_config(&image);
    let logs = run_and_stop(&mut pm, &image, &[("web", true), ("worker", true)], WEB_WORKER_READY, |name| {
        // The web server answers inside the container (loopback works with --network none).
        let o = podman_run(&["exec", name, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]);
        assert_eq!(ok(&o, "wget"), "<h1>served by a urunit-supervised httpd</h1>\n");
        // The five programs are links to one binary, first in PATH.
        let o = podman_run(&[
            "exec",
            name,
            "sh",
            "-c",
            "for p in runsvdir runsv sv chpst svlogd; do readlink $(command -v $p); done",
        ]);
        assert_eq!(ok(&o, "readlink"), "urunit\n".repeat(5));
    });
    ends_with(&logged(&logs, "web"), "stopped", "finish ran (exit=0 signal=0)", &logs);
    ends_with(&logged(&logs, "worker"), "SIGTERM after job", "finish ran (exit=0 signal=0)", &logs);
}

/// Files podman's runtime creates (empty) in every container, image or not.
const RUNTIME_FILES: &[&str] = &["etc/hostname", "etc/hosts", "etc/resolv.conf", "run/.containerenv"];
/// The image's own regular files besides /etc/service: the two static programs.
const IMAGE_FILES: &[&str] = &["usr/bin/urunit", "usr/local/bin/demo-app"];

#[test]
fn scratch_image_has_no_shell_and_stops_gracefully() {
    let Some((tmp, mut pm, image)) = image_test("scratch") else { return };
    build(&context(&tmp), "alpine/Containerfile.scratch", &image, &["APP_BIN=prebuilt/demo-app"]);
    check_config(&image);
    let services = [("app", false), ("ticker", false)];
    let logs = run_and_stop(&mut pm, &image, &services, &["app: started", "ticker: started"], |name| {
        let o = podman_run(&["exec", name, "sh", "-c", "true"]);
        assert!(!o.status.success(), "a shell ran in the scratch image");
    });
    for (s, _) in services {
        let mine: Vec<&str> = logs.lines().filter(|l| l.starts_with(&format!("{s}: "))).collect();
        assert!(mine.first().is_some_and(|l| l.starts_with(&format!("{s}: started (pid "))), "{logs}");
        ends_with(&mine, &format!("{s}: SIGTERM, exiting"), &format!("{s}: finish ran (exit=0 signal=0)"), &logs);
    }
    // Only the two static programs and the service tree (and the empty files the runtime
    // adds to every container): no shell, no libc.
    let ctr = pm.containers[0].clone();
    let mut c = podman();
    c.args(["export", &ctr]);
    let tar = run(c, 120);
    let mut t = Command::new("tar");
    let list = tmp.join("export.tar");
    std::fs::write(&list, &tar.stdout).unwrap();
    t.arg("-tvf").arg(&list);
    let listing = ok(&run(t, 60), "tar -t");
    let files: Vec<&str> = listing.lines().filter(|l| l.starts_with('-')).filter_map(|l| l.split_whitespace().last()).collect();
    let unexpected: Vec<&&str> = files
        .iter()
        .filter(|f| !(f.starts_with("etc/service/") || RUNTIME_FILES.contains(*f) || IMAGE_FILES.contains(*f)))
        .collect();
    assert!(unexpected.is_empty(), "unexpected files in the scratch image: {unexpected:?}\n{listing}");
}
