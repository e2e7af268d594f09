//! What the runsvdir tests share: a temp dir with `svc/` and `out/`, a service that records
//! what happens to it, and the graceful-stop scenario of the PID-namespace test (pid1.rs) and
//! the real container test (podman_stop.rs): 20 services, one ignoring TERM, one with a slow
//! `./finish`, one writing numbered lines to its logger.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use urunit_tests::{TempDir, lines, read, script};

/// A temp dir holding `svc/` and `out/`.
pub fn setup(tag: &str) -> (TempDir, PathBuf, PathBuf) {
    let t = TempDir::new(tag);
    let (svc, out) = (t.join("svc"), t.join("out"));
    std::fs::create_dir_all(&svc).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    (t, svc, out)
}

/// A service that records `up` (its pid), TERM and its `./finish` in `out` (NAME.up/.term/.finish).
/// NAME.up appears whole (written aside, then renamed): a test that sees it can read the pid.
pub fn service(dir: &Path, out: &Path, name: &str) {
    let o = out.display();
    script(
        dir.join("run"),
        &format!(
            "#!/bin/sh\nPATH=/usr/bin:/bin\nsleep 100000 &\np=$!\ntrap 'echo term >> {o}/{name}.term; kill $p; exit 0' TERM\necho $$ > {o}/{name}.up.new\nmv {o}/{name}.up.new {o}/{name}.up\nwait\n"
        ),
    );
    script(dir.join("finish"), &format!("#!/bin/sh\necho \"$@\" >> {o}/{name}.finish\n"));
}

/// The child pids of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    s.split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

pub const IGNORER: &str = "ign";
pub const SLOW_FINISH: &str = "slowfin";
pub const LOGGED: &str = "logged";

/// The 20 service names.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = (1..=17).map(|i| format!("n{i:02}")).collect();
    v.extend([IGNORER, SLOW_FINISH, LOGGED].map(String::from));
    v
}

/// Writes the services into `svdir`; they record what happens to them in `out`, the
/// directory as the services see it (a host path, or a volume inside a container).
pub fn write(svdir: &Path, out: &str) {
    for n in names() {
        let d = svdir.join(&n);
        let run = match n.as_str() {
            // Records TERM and carries on.
            IGNORER => format!(
                "#!/bin/sh\ntrap 'echo term >> {out}/{n}.term' TERM\necho up > {out}/{n}.up\nwhile :; do sleep 0.1; done\n"
            ),
            // Numbered lines in bursts; the last line says how many came before it.
            LOGGED => format!(
                "#!/bin/sh\nexec 2>&1\ni=0\nstop=\ntrap 'stop=1' TERM\necho up > {out}/{n}.up\n\
                 while [ -z \"$stop\" ]; do i=$((i+1)); echo \"line $i\"; [ $((i % 20)) = 0 ] && sleep 0.02; done\n\
                 echo term >> {out}/{n}.term\necho \"last $i\"\n"
            ),
            _ => format!(
                "#!/bin/sh\nsleep 100000 &\np=$!\ntrap 'echo term >> {out}/{n}.term; kill $p; exit 0' TERM\necho up > {out}/{n}.up\nwait\n"
            ),
        };
        script(d.join("run"), &run);
        let pause = if n == SLOW_FINISH { "sleep 1\n" } else { "" };
        script(d.join("finish"), &format!("#!/bin/sh\n{pause}echo \"$@\" >> {out}/{n}.finish\n"));
        if n == LOGGED {
            script(d.join("log/run"), &format!("#!/bin/sh\nexec tee {out}/{n}.log\n"));
        }
    }
}

/// True once every service has written its `up` marker into `out` (a host path),
pub fn all_up(out: &Path) -> bool {
    // And the logged service has a line in its log: a stop before that would leave
    // nothing to check but "last 0".
    names().iter().all(|n| out.join(format!("{n}.up")).exists()) && !read(out.join(format!("{LOGGED}.log"))).is_empty()
}

/// Checks the outcome in `out` (a host path): every service got TERM, every finish ran but
/// the TERM-ignorer's (it was killed at the deadline), the logger lost no line.
pub fn check(out: &Path) {
    for n in names() {
        assert_eq!(lines(out.join(format!("{n}.term"))), ["term"], "{n} got TERM once");
        let fin = lines(out.join(format!("{n}.finish")));
        if n == IGNORER {
            assert!(fin.is_empty(), "the TERM-ignorer was killed, its finish never ran: {fin:?}");
        } else {
            // finish gets the exit code and runit's wstat & 0xff.
            assert_eq!(fin, ["0 0"], "{n}'s ./finish ran once after a clean exit");
        }
    }
    check_numbered(&lines(out.join(format!("{LOGGED}.log"))));
}

/// `line 1` .. `line N`, then `last N`, nothing missing or repeated.
pub fn check_numbered(log: &[String]) {
    let last = log.last().unwrap_or_else(|| panic!("empty log"));
    let n: usize = last.strip_prefix("last ").unwrap_or_else(|| panic!("log ends with {last:?}")).parse().unwrap();
    assert!(n > 0, "some lines were written");
    assert_eq!(log.len(), n + 1, "every line reached the logger");
    for (i, l) in log[..n].iter().enumerate() {
        assert_eq!(l, &format!("line {}", i + 1));
    }
}
