//! runit as the command of a real OCI container: podman (runc) running an image built
//! `FROM scratch` with `CMD ["runit"]`. `podman stop` sends SIGTERM to PID 1; the
//! container holds no CAP_SYS_BOOT, so runit cannot halt anything and must exit.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use urunit_tests::*;

const SLOW: u64 = 120;

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var("PATH").ok()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

/// podman with this machine's adjustments (runc; no rlimit changes), see CONTAINERS.md.
struct Podman {
    conf: TempDir,
    image: String,
    containers: std::sync::Mutex<Vec<String>>,
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tool("podman").unwrap());
        c.env("CONTAINERS_CONF", self.conf.join("containers.conf")).arg("--runtime").arg(tool("runc").unwrap()).args(args);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        let o = run(self.cmd(args), SLOW);
        assert!(o.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        o
    }
    /// Starts a detached container of the image; returns its name.
    fn start(&self, tag: &str, opts: &[&str]) -> String {
        let name = format!("urunit-init-{tag}-{}", std::process::id());
        self.containers.lock().unwrap().push(name.clone());
        let mut args = vec!["run", "-d", "--network", "none", "--name", &name];
        args.extend_from_slice(opts);
        args.push(&self.image);
        self.run(&args);
        name
    }
    fn logs(&self, name: &str) -> String {
        let o = self.run(&["logs", name]);
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    }
    fn exit_code(&self, name: &str) -> i32 {
        let o = self.run(&["wait", name]);
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    }
    fn wait_log(&self, name: &str, what: &str) {
        wait_until(SLOW, what, || self.logs(name).contains(what));
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in self.containers.lock().unwrap().iter() {
            let _ = run(self.cmd(&["rm", "-f", "-t", "0", c]), SLOW);
        }
        let _ = run(self.cmd(&["rmi", "-f", &self.image]), SLOW);
    }
}

/// Builds the image: the static binary and its links, busybox, three stage scripts.
/// Stage 1 fails when the container's environment has FAIL1; everything prints to stderr
/// so that `podman logs` keeps the order.
fn image() -> Option<Podman> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || tool("podman").is_none() || tool("runc").is_none() || tool("busybox").is_none() {
        skip("podman/runc/busybox-static or root missing: runit container tests not run");
        return None;
    }
    let conf = TempDir::new("init-podman-conf");
    std::fs::write(conf.join("containers.conf"), "[containers]\ndefault_ulimits = []\n").unwrap();
    let ctx = TempDir::new("init-podman-ctx");
    let root = ctx.join("rootfs");
    for d in ["bin", "sbin", "etc/runit", "etc/service", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(bin(), root.join("bin/urunit")).unwrap();
    for n in ["runsvdir", "runsv", "sv", "chpst", "svlogd"] {
        std::os::unix::fs::symlink("urunit", root.join("bin").join(n)).unwrap();
    }
    for n in ["runit", "runit-init"] {
        std::os::unix::fs::symlink("../bin/urunit", root.join("sbin").join(n)).unwrap();
    }
    std::fs::copy(tool("busybox").unwrap(), root.join("bin/busybox")).unwrap();
    for n in ["sh", "cat", "sleep", "env"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(n)).unwrap();
    }
    script(root.join("etc/runit/1"), "#!/bin/sh\nexec >&2\necho \"stage 1: $0 $#\"\n[ -n \"$FAIL1\" ] && exit 100\nexit 0\n");
    script(
        root.join("etc/runit/2"),
        "#!/bin/sh\nexec >&2\necho \"stage 2: URUNIT_PID1=$URUNIT_PID1\"\n\
         [ -n \"$RUNSVDIR\" ] && exec runsvdir /etc/service\n\
         trap 'echo \"stage 2: TERM\"; exit 0' TERM\nwhile :; do sleep 0.1; done\n",
    );
    let web = root.join("etc/service/web");
    script(
        web.join("run"),
        "#!/bin/sh\nexec >&2\ntrap 'echo \"web: TERM\"; exit 0' TERM\necho \"web: up\"\nwhile :; do sleep 0.1; done\n",
    );
    script(web.join("finish"), "#!/bin/sh\necho \"web: finish\" >&2\n");
    script(root.join("etc/runit/3"), "#!/bin/sh\nexec >&2\necho \"stage 3\"\nexit 3\n");
    std::fs::write(ctx.join("Containerfile"), "FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin:/sbin\nCMD [\"runit\"]\n").unwrap();
    let p = Podman { conf, image: format!("localhost/urunit-init-test-{}", std::process::id()), containers: Default::default() };
    let ctxs = ctx.path().to_str().unwrap();
    p.run(&["build", "-q", "-t", &p.image, "-f", &format!("{ctxs}/Containerfile"), ctxs]);
    Some(p)
}

const BOOT: &str = "- runit: $Id: 25da3b86f7bed4038b8a039d2f8e8c9bbcf0822b $: booting.\n\
                    - runit: warning: unable to open /dev/console: file does not exist\n\
                    - runit: enter stage: /etc/runit/1\nstage 1: /etc/runit/1 0\n- runit: leave stage: /etc/runit/1\n";
const STAGE3: &str = "- runit: enter stage: /etc/runit/3\nstage 3\n- runit: warning: child failed: /etc/runit/3\n\
                      - runit: leave stage: /etc/runit/3\n- runit: sending KILL signal to all processes...\n";

/// A container of the image, and `runit-init ARG` run in it once stage 2 is up: the logs
/// must be booting, `stage2`, stage 3, `end`, and stage 3's exit code 3.
fn init_request(p: &Podman, tag: &str, opts: &[&str], arg: &str, stage2: &str, end: &str) {
    let c = p.start(tag, opts);
    p.wait_log(&c, "stage 2: URUNIT_PID1=");
    p.run(&["exec", &c, "runit-init", arg]);
    assert_eq!(p.exit_code(&c), 3);
    assert_eq!(p.logs(&c), format!("{BOOT}{stage2}{STAGE3}{end}- runit: exit 3.\n"));
}

/// One image, the scenarios run one after the other (each is a container of its own).
#[test]
fn runit_in_podman() {
    let Some(p) = image() else { return };
    let stage2 = "- runit: enter stage: /etc/runit/2\nstage 2: URUNIT_PID1=1\n";

    // podman stop: SIGTERM to runit, stage 2 stops gracefully, stage 3 runs, its code is
    // the container's.
    let c = p.start("stop", &[]);
    p.wait_log(&c, "stage 2: URUNIT_PID1=1");
    p.run(&["stop", "-t", "60", &c]);
    assert_eq!(p.exit_code(&c), 3);
    assert_eq!(
        p.logs(&c),
        format!("{BOOT}{stage2}stage 2: TERM\n- runit: leave stage: /etc/runit/2\n{STAGE3}- runit: exit 3.\n")
    );

    // The real stage 2, `exec runsvdir /etc/service`: the service stops the graceful way
    // (its TERM trap, then ./finish) before stage 3.
    if run(cmd("runsvdir"), SLOW).status.code() == Some(1) {
        let c = p.start("runsvdir", &["-e", "RUNSVDIR=1"]);
        p.wait_log(&c, "web: up");
        p.run(&["stop", "-t", "60", &c]);
        assert_eq!(p.exit_code(&c), 3);
        let logs = p.logs(&c);
        assert!(logs.starts_with(&format!("{BOOT}{stage2}")), "{logs}");
        let want = format!("web: TERM\nweb: finish\n- runit: leave stage: /etc/runit/2\n{STAGE3}- runit: exit 3.\n");
        assert!(logs.ends_with(&want), "{logs}");
    } else {
        skip("this binary has no runsvdir yet: stage 2 with runsvdir not tested in podman");
    }

    // runit-init 0 inside the container.
    let term = "stage 2: TERM\n- runit: leave stage: /etc/runit/2\n";
    init_request(&p, "init0", &[], "0", &format!("{stage2}{term}"), "");
    // runit-init 6: no CAP_SYS_BOOT, so no reboot: runit says so and exits.
    let end = "- runit: system reboot.\n- runit: warning: unable to reboot: permission denied\n";
    init_request(&p, "init6", &[], "6", &format!("{stage2}{term}"), end);
    // C runit's machine behaviour forced (URUNIT_CONTAINER=0): halting is attempted as C
    // runit does, fails for want of CAP_SYS_BOOT, and runit exits instead of hanging.
    let stage2 = "- runit: enter stage: /etc/runit/2\nstage 2: URUNIT_PID1=\n";
    let end = "- runit: power off...\n- runit: system halt.\n- runit: warning: unable to halt: permission denied\n";
    init_request(&p, "machine", &["-e", "URUNIT_CONTAINER=0"], "0", &format!("{stage2}{term}"), end);

    // Stage 1 fails: runit's messages, stage 2 skipped, the container ends by itself
    // with stage 1's code.
    let c = p.start("fail1", &["-e", "FAIL1=1"]);
    assert_eq!(p.exit_code(&c), 100);
    assert_eq!(
        p.logs(&c),
        "- runit: $Id: 25da3b86f7bed4038b8a039d2f8e8c9bbcf0822b $: booting.\n\
         - runit: warning: unable to open /dev/console: file does not exist\n\
         - runit: enter stage: /etc/runit/1\nstage 1: /etc/runit/1 0\n\
         - runit: warning: child failed: /etc/runit/1\n- runit: leave stage: /etc/runit/1\n\
         - runit: warning: skipping stage 2...\n"
            .to_string()
            + STAGE3
            + "- runit: exit 100.\n"
    );
}
