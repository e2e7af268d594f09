//! The graceful stop in a real container: a FROM scratch image holding only the urunit binary
//! (as /bin/runsvdir), busybox for the run scripts, and the 20 test services; run with podman,
//! stopped with `podman stop`; exit code and `podman logs` checked.
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;
use urunit_tests::*;

mod runsvdir_common;

/// podman with the runtime and configuration that work on these machines (CONTAINERS.md).
struct Podman {
    conf: std::path::PathBuf,
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf).args(["--runtime", "/usr/sbin/runc"]).args(args);
        c
    }
    fn run(&self, args: &[&str], secs: u64) -> Output {
        let o = run(self.cmd(args), secs);
        assert!(o.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        o
    }
}

/// Removes the container and the image, whatever happened.
struct Cleanup<'a> {
    p: &'a Podman,
    name: String,
    image: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = run(self.p.cmd(&["rm", "-f", &self.name]), 60);
        let _ = run(self.p.cmd(&["rmi", "-f", &self.image]), 60);
    }
}

/// The image's root: the urunit binary as /bin/runsvdir and nothing else of urunit (runsv is
/// then this binary through /proc/self/exe), busybox with the applets the scripts use, the
/// services in /etc/service, and /out (a volume at run time).
fn rootfs(root: &Path) {
    let b = root.join("bin");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(bin(), b.join("runsvdir")).unwrap();
    std::fs::copy("/bin/busybox", b.join("busybox")).unwrap();
    for applet in ["sh", "sleep", "tee", "cat"] {
        symlink("busybox", b.join(applet)).unwrap();
    }
    std::fs::create_dir_all(root.join("out")).unwrap();
    runsvdir_common::write(&root.join("etc/service"), "/out");
}

#[test]
fn podman_stop_is_graceful() {
    if Command::new("podman").arg("--version").output().is_err() || !Path::new("/usr/sbin/runc").exists() {
        skip("podman or runc not installed (make deps); the container stop test was not run");
        return;
    }
    if !Path::new("/bin/busybox").exists() {
        skip("busybox-static not installed (make deps); the container stop test was not run");
        return;
    }
    let t = TempDir::new("podman-stop");
    let conf = t.join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n").unwrap();
    let p = Podman { conf };
    rootfs(&t.join("ctx/rootfs"));
    std::fs::write(
        t.join("ctx/Containerfile"),
        "FROM scratch\nCOPY rootfs/ /\nENV URUNIT_STOP_TIMEOUT=4\nCMD [\"/bin/runsvdir\", \"/etc/service\"]\n",
    )
    .unwrap();
    let tag = format!("{}-{}", std::process::id(), t.path().file_name().unwrap().to_string_lossy().rsplit('-').next().unwrap());
    let c = Cleanup { p: &p, name: format!("urunit-rsd-stop-{tag}"), image: format!("localhost/urunit-rsd-stop:{tag}") };
    let ctx = t.join("ctx");
    p.run(&["build", "-q", "-t", &c.image, "-f", &ctx.join("Containerfile").to_string_lossy(), &ctx.to_string_lossy()], 300);

    let out = t.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let vol = format!("{}:/out", out.display());
    p.run(&["run", "-d", "--network", "none", "--name", &c.name, "-v", &vol, &c.image], 120);
    wait_until(60, "all 20 services up in the container", || runsvdir_common::all_up(&out));

    let t0 = Instant::now();
    p.run(&["stop", "-t", "10", &c.name], 60);
    eprintln!("podman stop took {:?} (URUNIT_STOP_TIMEOUT=4, one service ignores TERM)", t0.elapsed());
    let code = p.run(&["inspect", &c.name, "--format", "{{.State.ExitCode}}"], 60);
    assert_eq!(String::from_utf8_lossy(&code.stdout).trim(), "0", "runsvdir exited 0, not killed by podman");

    runsvdir_common::check(&out);
    let logs = p.run(&["logs", &c.name], 60);
    let text = String::from_utf8_lossy(&logs.stdout).into_owned() + &String::from_utf8_lossy(&logs.stderr);
    let numbered: Vec<String> =
        text.lines().filter(|l| l.starts_with("line ") || l.starts_with("last ")).map(String::from).collect();
    runsvdir_common::check_numbered(&numbered);
    assert!(text.contains("runsvdir /etc/service: warning: stop deadline reached, killed what was left.\n"), "{text}");
}
