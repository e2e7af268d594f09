//! Interop: Debian's C `sv` drives urunit's runsv exactly as it drives C runit's runsv.
//! The same command sequence runs against both runsv implementations; every `sv` output
//! (pid and seconds normalised), exit code, the signals the service received and the
//! `supervise/status` bytes 12..20 (time aside) must be the same, and equal to the pinned
//! transcript below (which C runit's run proves).
use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use urunit_tests::*;

const T: u64 = 30;

/// `(pid 123)` -> `(pid N)`, `45s` -> `Ns`.
fn normalise(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let j = (i..b.len()).find(|&j| !b[j].is_ascii_digit()).unwrap_or(b.len());
            let pid = out.ends_with("(pid ");
            let secs = b.get(j) == Some(&b's');
            out.push_str(if pid || secs { "N" } else { &s[i..j] });
            i = j;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

struct Rig {
    tmp: TempDir,
    dir: PathBuf,
    sv: PathBuf,
    runsv: Option<Proc>,
}

impl Rig {
    /// The service `s` (SIGRUN, a `check` that passes while `ready` exists) under runsv `w`.
    fn start(w: Impl) -> Option<Rig> {
        let sv = crunit("sv")?;
        let tmp = TempDir::new("runsv-interop");
        let dir = tmp.join("s");
        script(dir.join("run"), SIGRUN);
        script(dir.join("check"), "#!/bin/sh\nexec test -e ready\n");
        fs::write(dir.join("ready"), "").unwrap();
        let mut c = impl_cmd(w, "runsv")?;
        let err = OpenOptions::new().create(true).append(true).open(tmp.join("err")).unwrap();
        c.arg("s").current_dir(tmp.path()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
        // SAFETY: close_range is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                Ok(())
            })
        };
        let rig = Rig { tmp, dir, sv, runsv: Some(Proc::spawn(c)) };
        let d = rig.dir.clone();
        wait_until(T, "runsv supervising", || supervised(&d));
        rig.wait(|st| st.4 == 1 && st.2 == b'u');
        rig.started(1);
        Some(rig)
    }

    /// Waits until the decoded status (pid, paused, want, term, state) satisfies `f`.
    fn wait(&self, f: impl Fn(&(u32, u8, u8, u8, u8)) -> bool) {
        let got = poll(T, || status(&self.dir).filter(|s| f(s)));
        assert!(
            got.is_some(),
            "status now {:?}, stderr {:?}",
            status(&self.dir),
            String::from_utf8_lossy(&read(self.tmp.join("err")))
        );
    }

    /// Runs C's `sv ARGS` with SVDIR = the temporary directory; one transcript line.
    fn sv(&self, args: &[&str]) -> String {
        let mut c = Command::new(&self.sv);
        c.args(args).env("SVDIR", self.tmp.path()).current_dir(self.tmp.path());
        let o = run(c, T);
        format!(
            "sv {} -> {:?} {:?} {:?}",
            args.join(" "),
            o.status.code(),
            normalise(&String::from_utf8_lossy(&o.stdout)),
            normalise(&String::from_utf8_lossy(&o.stderr))
        )
    }

    /// Status bytes 12..20 with the pid replaced by 0/1 (none/some).
    fn tail(&self) -> String {
        let b = status_bytes(&self.dir).unwrap();
        let pid = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        format!(
            "  status pid={} {:?} stat {:?}",
            (pid != 0) as u8,
            &b[16..20],
            String::from_utf8_lossy(&read(self.dir.join("supervise/stat")))
        )
    }

    fn sigs(&self) -> String {
        format!("  sigs {:?}", lines(self.dir.join("sigs")))
    }

    /// Waits until the run script started `n` times (and set its traps).
    fn started(&self, n: usize) {
        let f = self.dir.join("starts");
        wait_until(T, "run started", || lines(&f).len() >= n);
    }

    fn pid(&self) -> u32 {
        status(&self.dir).unwrap().0
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        drop(self.runsv.take());
        kill_procs_under(self.tmp.path());
    }
}

/// The whole sequence; returns the transcript.
fn transcript(w: Impl) -> Option<Vec<String>> {
    let mut r = Rig::start(w)?;
    // Before a signal is sent, the run script must have set its traps (r.started(n)).
    let mut t =
        vec![r.sv(&["status", "s"]), r.sv(&["-v", "down", "s"]), r.tail(), r.sv(&["status", "s"]), r.sv(&["-v", "up", "s"])];
    r.started(2);
    t.extend([r.tail(), r.sv(&["-v", "once", "s"]), r.tail(), r.sv(&["up", "s"])]);
    r.wait(|st| st.2 == b'u');
    t.push(r.tail());
    let pid = r.pid();
    t.push(r.sv(&["-v", "restart", "s"]));
    r.wait(|st| st.0 != pid && st.0 != 0 && st.4 == 1);
    r.started(3);
    t.push(r.tail());
    let pid = r.pid();
    t.push(r.sv(&["term", "s"]));
    r.wait(|st| st.0 != pid && st.0 != 0 && st.4 == 1);
    let pid = r.pid();
    t.push(r.sv(&["kill", "s"]));
    r.wait(|st| st.0 != pid && st.0 != 0 && st.4 == 1);
    r.started(5);
    t.push(r.tail());
    t.push(r.sv(&["hup", "s"]));
    t.push(r.sv(&["1", "s"]));
    t.push(r.sv(&["alarm", "s"]));
    wait_until(T, "3 more signals", || lines(r.dir.join("sigs")).len() >= 8);
    t.push(r.sigs());
    t.push(r.sv(&["pause", "s"]));
    r.wait(|st| st.1 == 1);
    t.push(r.sv(&["status", "s"]));
    t.push(r.tail());
    t.push(r.sv(&["cont", "s"]));
    r.wait(|st| st.1 == 0);
    t.push(r.sv(&["check", "s"]));
    t.push(r.sv(&["-v", "check", "s"]));
    fs::remove_file(r.dir.join("ready")).unwrap();
    t.push(r.sv(&["-w", "1", "check", "s"]));
    fs::write(r.dir.join("ready"), "").unwrap();
    // A service that does not stop on TERM: -w times out; force-stop kills it.
    fs::write(r.dir.join("hold"), "").unwrap();
    t.push(r.sv(&["-w", "1", "down", "s"]));
    t.push(r.tail());
    t.push(r.sv(&["-w", "1", "force-stop", "s"]));
    r.wait(|st| st.4 == 0);
    t.push(r.tail());
    fs::remove_file(r.dir.join("hold")).unwrap();
    t.push(r.sv(&["-v", "start", "s"]));
    r.started(6);
    fs::write(r.dir.join("down"), "").unwrap();
    t.push(r.sv(&["status", "s"]));
    t.push(r.sv(&["-v", "exit", "s"]));
    assert_eq!(r.runsv.as_mut().unwrap().wait_exit(T).code(), Some(0));
    t.push(r.tail());
    t.push(r.sigs());
    t.push(r.sv(&["status", "s"]));
    t.push(r.sv(&["-v", "up", "s"]));
    t.push(format!("  runsv stderr {:?}", String::from_utf8_lossy(&read(r.tmp.join("err")))));
    Some(t)
}

/// C runit's sv against C runit's runsv (observed; stable over repeated runs).
const EXPECTED: &[&str] = &[
    r#"sv status s -> Some(0) "run: s: (pid N) Ns\n" """#,
    r#"sv -v down s -> Some(0) "ok: down: s: Ns, normally up\n" """#,
    r#"  status pid=0 [0, 100, 0, 0] stat "down\n""#,
    r#"sv status s -> Some(0) "down: s: Ns, normally up\n" """#,
    r#"sv -v up s -> Some(0) "ok: run: s: (pid N) Ns\n" """#,
    r#"  status pid=1 [0, 117, 0, 1] stat "run\n""#,
    r#"sv -v once s -> Some(0) "ok: run: s: (pid N) Ns, want down\n" """#,
    r#"  status pid=1 [0, 100, 0, 1] stat "run, want down\n""#,
    r#"sv up s -> Some(0) "" """#,
    r#"  status pid=1 [0, 117, 0, 1] stat "run\n""#,
    r#"sv -v restart s -> Some(0) "ok: run: s: (pid N) Ns\n" """#,
    r#"  status pid=1 [0, 117, 0, 1] stat "run\n""#,
    r#"sv term s -> Some(0) "" """#,
    r#"sv kill s -> Some(0) "" """#,
    r#"  status pid=1 [0, 117, 0, 1] stat "run\n""#,
    r#"sv hup s -> Some(0) "" """#,
    r#"sv 1 s -> Some(0) "" """#,
    r#"sv alarm s -> Some(0) "" """#,
    r#"  sigs ["TERM", "CONT", "TERM", "CONT", "TERM", "HUP", "USR1", "ALRM"]"#,
    r#"sv pause s -> Some(0) "" """#,
    r#"sv status s -> Some(0) "run: s: (pid N) Ns, paused\n" """#,
    r#"  status pid=1 [1, 117, 0, 1] stat "run, paused\n""#,
    r#"sv cont s -> Some(0) "" """#,
    r#"sv check s -> Some(0) "ok: run: s: (pid N) Ns\n" """#,
    r#"sv -v check s -> Some(0) "ok: run: s: (pid N) Ns\n" """#,
    r#"sv -w 1 check s -> Some(1) "timeout: run: s: (pid N) Ns\n" """#,
    r#"sv -w 1 down s -> Some(1) "timeout: run: s: (pid N) Ns, want down, got TERM\n" """#,
    r#"  status pid=1 [0, 100, 1, 1] stat "run, got TERM, want down\n""#,
    r#"sv -w 1 force-stop s -> Some(1) "kill: run: s: (pid N) Ns, want down, got TERM\n" """#,
    r#"  status pid=0 [0, 100, 0, 0] stat "down\n""#,
    r#"sv -v start s -> Some(0) "ok: run: s: (pid N) Ns\n" """#,
    r#"sv status s -> Some(0) "run: s: (pid N) Ns, normally down\n" """#,
    r#"sv -v exit s -> Some(0) "ok: s: runsv not running\n" """#,
    r#"  status pid=0 [0, 100, 0, 0] stat "down\n""#,
    r#"  sigs ["TERM", "CONT", "TERM", "CONT", "TERM", "HUP", "USR1", "ALRM", "CONT", "TERM", "CONT", "TERM", "CONT"]"#,
    r#"sv status s -> Some(1) "fail: s: runsv not running\n" """#,
    r#"sv -v up s -> Some(1) "fail: s: runsv not running\n" """#,
    r#"  runsv stderr """#,
];

fn check(w: Impl) {
    let Some(t) = transcript(w) else { return };
    let got = t.join("\n");
    let want = EXPECTED.join("\n");
    assert!(got == want, "{w:?} transcript differs:\n--- got\n{got}\n--- want\n{want}\n");
}

#[test]
fn c_sv_against_c_runsv() {
    check(Impl::C);
}

#[test]
fn c_sv_against_urunit_runsv() {
    check(Impl::U);
}
