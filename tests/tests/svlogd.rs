//! svlogd: the shipped binary against runit's behaviour (and, where Debian's C svlogd
//! is available, against it byte for byte), the journal under SIGKILL, the disk-full
//! pause, and the container stdout mode.
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use urunit_tests::*;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Imp {
    U,
    C,
}

/// svlogd of one implementation, run as `svlogd` in `cwd`.
fn svlogd(imp: Imp, cwd: &Path) -> Option<Command> {
    let mut c = match imp {
        Imp::U => cmd("svlogd"),
        Imp::C => {
            let mut c = Command::new(crunit("svlogd")?);
            c.arg0("svlogd");
            c
        }
    };
    c.current_dir(cwd);
    Some(c)
}

/// Runs `c` with `input` on a pipe as stdin; returns its output.
fn feed(c: Command, input: &[u8], secs: u64) -> Output {
    let mut l = Live::start(c);
    let _ = l.stdin.as_mut().unwrap().write_all(input);
    l.finish(secs)
}

/// Replaces TAI64N and -tt/-ttt stamps by `STAMP`.
fn unstamp(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let tai = b[i] == b'@' && b.len() >= i + 25 && b[i + 1..i + 25].iter().all(|c| c.is_ascii_hexdigit());
        let pt = b.len() >= i + 25 && {
            let t = &b[i..i + 25];
            t[..4].iter().all(u8::is_ascii_digit)
                && t[4] == b'-'
                && t[7] == b'-'
                && (t[10] == b'_' || t[10] == b'T')
                && t[13] == b':'
                && t[19] == b'.'
        };
        if tai || pt {
            out.push_str(if tai {
                "STAMP"
            } else if b[i + 10] == b'_' {
                "PSTAMP"
            } else {
                "ISTAMP"
            });
            i += 25;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// A log directory's files in name order (lock, journal and config left out), each
/// as "kind mode: content" with stamps masked.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
        .iter()
        .filter(|n| !["lock", "journal", "config"].contains(&n.as_str()))
        .map(|n| {
            let p = dir.join(n);
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            let kind = if n.starts_with('@') && n.len() == 27 { format!("@{}", &n[26..]) } else { n.clone() };
            format!("{kind} {mode:o}: {}", unstamp(&String::from_utf8_lossy(&read(&p))))
        })
        .collect()
}

/// One scenario on both implementations: same exit code, stdout, stderr and files.
fn differential(args: &[&str], config: Option<&str>, input: &[u8]) -> (Output, Vec<String>) {
    let mut res = Vec::new();
    for imp in [Imp::U, Imp::C] {
        let t = TempDir::new("svlogd-diff");
        std::fs::create_dir(t.join("log")).unwrap();
        if let Some(c) = config {
            std::fs::write(t.join("log/config"), c).unwrap();
        }
        let Some(mut c) = svlogd(imp, t.path()) else { return (run_u(args, config, input), vec![]) };
        c.args(args).arg("log");
        let o = feed(c, input, 60);
        res.push((o, snapshot(&t.join("log"))));
    }
    let (u, c) = (&res[0], &res[1]);
    assert_eq!(u.0.status.code(), c.0.status.code(), "exit code for {args:?}");
    assert_eq!(
        unstamp(&String::from_utf8_lossy(&u.0.stderr)),
        unstamp(&String::from_utf8_lossy(&c.0.stderr)),
        "stderr for {args:?}"
    );
    assert_eq!(u.1, c.1, "files for {args:?} {config:?}");
    res.swap_remove(0)
}

fn run_u(args: &[&str], config: Option<&str>, input: &[u8]) -> Output {
    let t = TempDir::new("svlogd-u");
    std::fs::create_dir(t.join("log")).unwrap();
    if let Some(c) = config {
        std::fs::write(t.join("log/config"), c).unwrap();
    }
    let mut c = svlogd(Imp::U, t.path()).unwrap();
    c.args(args).arg("log");
    feed(c, input, 60)
}

fn numbered(n: usize, width: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 1..=n {
        v.extend_from_slice(format!("line {i:0width$} {}\n", "x".repeat(i % 37)).as_bytes());
    }
    v
}

const USAGE: &str = "usage: svlogd [-ttv] [-r c] [-R abc] [-l len] [-b buflen] dir ...\n\n";

#[test]
fn usage_and_fatal_errors() {
    let t = TempDir::new("svlogd-usage");
    std::fs::write(t.join("file"), b"").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&[], USAGE),
        (&["-x", "d"], &format!("svlogd: illegal option -- x\n{USAGE}")),
        (&["-r"], &format!("svlogd: option requires an argument -- r\n{USAGE}")),
        (&["-r", "ab", "d"], USAGE),
        (&["-l", "1000", "-b", "1000", "d"], USAGE),
        (&["-V"], &format!("$Id: 5e55a90e0a1b35ec47fed3021453c50675ea1117 $\n{USAGE}")),
        (
            &["nonexistent"],
            "svlogd: warning: unable to open log directory: nonexistent: file does not exist\nsvlogd: fatal: no functional log directories.\n",
        ),
        (
            &["file"],
            "svlogd: warning: unable to change directory: file: not a directory\nsvlogd: fatal: no functional log directories.\n",
        ),
    ];
    for (args, err) in cases {
        for imp in [Imp::U, Imp::C] {
            let Some(mut c) = svlogd(imp, t.path()) else { continue };
            c.args(*args);
            let o = run(c, 20);
            expect(&o, 111, "", err);
        }
    }
}

#[test]
fn lock_busy_and_verbose_messages() {
    for imp in [Imp::U, Imp::C] {
        let t = TempDir::new("svlogd-lock");
        std::fs::create_dir(t.join("d")).unwrap();
        let Some(mut c) = svlogd(imp, t.path()) else { continue };
        c.args(["-v", "d", "d"]);
        let o = feed(c, b"one\n", 20);
        expect(
            &o,
            0,
            "",
            "svlogd: info: new: d/current\nsvlogd: info: close: \nsvlogd: warning: unable to lock directory: d: temporary failure\nsvlogd: info: close: d\n",
        );
        assert_eq!(read(t.join("d/current")), b"one\n");
        let mode = std::fs::metadata(t.join("d/current")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o744, "{imp:?}: current is marked closed cleanly");
    }
}

#[test]
fn rotation_by_size_and_count_matches_c() {
    let input = numbered(400, 4);
    differential(&[], Some("s2000\nn3\n"), &input);
    differential(&[], Some("s500\nn0\n"), &input);
    differential(&["-l", "20"], Some("s100\nn0\n"), &input);
    differential(&["-l", "30", "-b", "64"], Some("s100\nn5\n"), &numbered(50, 2));
    // Lines longer than the line length and the buffer are written whole, and may be
    // split over two files at the size limit.
    let mut long = Vec::new();
    for i in 0..20 {
        long.extend_from_slice(format!("{i}:{}\n", "y".repeat(300 + i * 77)).as_bytes());
    }
    differential(&["-l", "100", "-b", "101"], Some("s1000\nn0\n"), &long);
    differential(&["-b", "1001"], None, &long);
}

#[test]
fn patterns_prefix_and_replacement_match_c() {
    let input = b"an err line\nplease skip me\nskip this\nok \x01tab\there\nE:fatal thing\nx\n";
    let cfg = "-*skip*\n-skip*\ne*err*\nE*\ne*fatal*\npP:\n";
    differential(&[], Some(cfg), input);
    differential(&["-r", "#"], Some("+*\n-x\npA b \n"), input);
    differential(&["-R", "ae"], None, input);
    differential(&["-R", "ae", "-r", ".", "-l", "5"], Some("e*\n"), input);
    let o = run_u(&[], Some(cfg), input);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "P:E:fatal thing\n");
}

#[test]
fn timestamps_match_c_and_formats() {
    let input = b"one\ntwo\n";
    for (flag, re) in [("-t", "STAMP"), ("-tt", "PSTAMP"), ("-ttt", "ISTAMP"), ("-tttt", "ISTAMP")] {
        let (_, files) = differential(&[flag], Some("e*\n"), input);
        if !files.is_empty() {
            assert_eq!(files, vec![format!("current 744: {re} one\n{re} two\n")]);
        }
    }
    // The stamps themselves: now, in each format.
    let t = TempDir::new("svlogd-stamp");
    for (i, flag) in ["-t", "-tt", "-ttt"].iter().enumerate() {
        let d = t.join(format!("d{i}"));
        std::fs::create_dir(&d).unwrap();
        let mut c = svlogd(Imp::U, t.path()).unwrap();
        c.args([flag, d.to_str().unwrap()]);
        expect(&feed(c, b"hello\n", 20), 0, "", "");
        let line = String::from_utf8(read(d.join("current"))).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let secs = if i == 0 {
            assert!(line.starts_with("@4000") && line.len() == 26 + 6, "{line}");
            u64::from_str_radix(&line[1..17], 16).unwrap() - (1 << 62) - 10
        } else {
            let o = Command::new("date").args(["-u", "-d", &line[..19].replace(['_', 'T'], " "), "+%s"]).output().unwrap();
            assert_eq!(&line[10..11], if i == 1 { "_" } else { "T" });
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        assert!(now.abs_diff(secs) < 60, "{line}");
        assert_eq!(&line[25..], " hello\n");
    }
}

#[test]
fn unterminated_last_line_is_kept() {
    // runit drops it (a listed weakness); urunit writes it with a newline.
    let o = run_u(&["-t"], None, b"one\ntwo\npartial");
    assert_eq!(o.status.code(), Some(0));
}

/// runsv programs to run the log service under: urunit's, and C runit's if present.
fn runsvs() -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![("urunit runsv", bindir().join("runsv"))];
    if let Some(c) = crunit("runsv") {
        v.push(("C runsv", c));
    }
    v
}

/// All lines of a log directory in order: rotated files by name, then current.
fn all_lines(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names.iter().filter(|n| n.starts_with('@') || *n == "current").flat_map(|n| lines(dir.join(n))).collect()
}

fn log_pid(svc: &Path) -> Option<i32> {
    std::fs::read_to_string(svc.join("log/supervise/pid")).ok()?.trim().parse().ok().filter(|&p| p > 0)
}

#[test]
fn sigkill_under_runsv_loses_and_duplicates_nothing() {
    const N: usize = 100_000;
    for (what, runsv) in runsvs() {
        let t = TempDir::new("svlogd-kill");
        let _k = KillUnder(t.path().to_path_buf());
        let svc = t.join("svc");
        script(
            svc.join("run"),
            "#!/bin/sh\nfor k in $(seq 0 99); do seq $((k*1000+1)) $((k*1000+1000)); sleep 0.03; done\n: > written\nexec sleep 3600\n",
        );
        script(svc.join("log/run"), &format!("#!/bin/sh\nexec {} main\n", bindir().join("svlogd").display()));
        std::fs::create_dir(svc.join("log/main")).unwrap();
        std::fs::write(svc.join("log/main/config"), "s20000\nn0\n").unwrap();
        let mut c = Command::new(&runsv);
        c.arg(&svc).stdout(Stdio::null()).stderr(Stdio::null());
        let _p = Proc::spawn(c);
        let mut kills = 0;
        let mut last = 0;
        while !svc.join("written").exists() || kills < 3 {
            let pid = wait_for(30, "a running svlogd", || log_pid(&svc).filter(|&p| p != last && alive(p)));
            // Let it work a little, then kill it in the middle of whatever it does.
            std::thread::sleep(std::time::Duration::from_millis(150 + 97 * (kills % 5)));
            unsafe { libc::kill(pid, libc::SIGKILL) };
            last = pid;
            kills += 1;
            assert!(kills < 200, "{what}: the service never finished writing");
        }
        let main = svc.join("log/main");
        let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while all_lines(&main).len() < N && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let got = all_lines(&main);
        let want: Vec<String> = (1..=N).map(|i| i.to_string()).collect();
        if got != want {
            let first = got.iter().zip(&want).position(|(a, b)| a != b);
            let stat = String::from_utf8_lossy(&read(svc.join("log/supervise/stat"))).into_owned();
            let files: Vec<_> = std::fs::read_dir(&main).unwrap().map(|e| e.unwrap().file_name()).collect();
            panic!(
                "{what}: after {kills} kills: {} lines, first difference at {first:?} ({:?}), log {stat}, files {files:?}",
                got.len(),
                first.map(|i| (&got[i], &want[i]))
            );
        }
        eprintln!(
            "{what}: {kills} SIGKILLs, {N} lines exactly once, in order, over {} files",
            std::fs::read_dir(&main).unwrap().count()
        );
    }
}

#[test]
fn stdout_mode_three_services_under_runsvdir() {
    const N: usize = 100_000;
    let mut runsvdirs = vec![("urunit runsvdir", bindir().join("runsvdir"))];
    runsvdirs.extend(crunit("runsvdir").map(|p| ("C runsvdir", p)));
    for ((what, runsv), (what2, runsvdir)) in
        runsvs().into_iter().flat_map(|a| runsvdirs.iter().cloned().map(move |b| (a.clone(), b)))
    {
        let what = format!("{what2} + {what}");
        let t = TempDir::new("svlogd-stdout");
        let pathdir = t.join("bin");
        std::fs::create_dir(&pathdir).unwrap();
        std::os::unix::fs::symlink(&runsv, pathdir.join("runsv")).unwrap();
        let sd = t.join("service");
        let dots = ".".repeat(80);
        for s in 1..=3 {
            let svc = sd.join(format!("svc{s}"));
            script(svc.join("run"), &format!("#!/bin/sh\nseq -f 'line %06g {dots}' 1 {N}\nexec sleep 3600\n"));
            script(svc.join("log/run"), &format!("#!/bin/sh\nexec {} -o\n", bindir().join("svlogd").display()));
        }
        let mut c = Command::new(&runsvdir);
        c.arg(&sd).env("PATH", format!("{}:/usr/bin:/bin", pathdir.display())).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut p = Proc::spawn(c);
        let mut out = p.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut lines = 0;
            loop {
                match std::io::Read::read(&mut out, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        v.extend_from_slice(&buf[..n]);
                        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
                        if lines >= 3 * N {
                            break;
                        }
                    }
                }
            }
            let _ = tx.send(v);
        });
        let v = rx.recv_timeout(std::time::Duration::from_secs(180)).expect("300000 lines on runsvdir's stdout");
        drop(p);
        // urunit's services and loggers have process groups of their own: killing runsvdir's
        // group leaves them, so end everything working inside the test's directory.
        kill_procs_under(t.path());
        let text = String::from_utf8(v).unwrap();
        let mut next = [1usize; 3];
        for l in text.lines() {
            let (svc, rest) = l.split_once(": ").unwrap_or_else(|| panic!("{what}: unprefixed line {l:?}"));
            let s: usize =
                svc.strip_prefix("svc").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{what}: bad prefix {l:?}"));
            assert_eq!(rest, format!("line {:06} {dots}", next[s - 1]), "{what}: line of svc{s}");
            next[s - 1] += 1;
        }
        assert_eq!(next, [N + 1; 3], "{what}");
    }
}

/// A running svlogd with its stdin open and its output collected as it comes.
struct Live {
    p: Proc,
    stdin: Option<std::process::ChildStdin>,
    out: Collector,
    err: Collector,
}

impl Live {
    /// Bytes written to svlogd's stdin that it has not read yet (FIONREAD on the pipe).
    fn unread(&self) -> i32 {
        use std::os::fd::AsRawFd;
        let mut n: libc::c_int = 0;
        let fd = self.stdin.as_ref().expect("stdin open").as_raw_fd();
        // SAFETY: FIONREAD writes one int; fd is our end of the child's stdin pipe.
        assert_eq!(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) }, 0, "FIONREAD");
        n
    }
}

/// A thread reading a pipe into a shared buffer.
struct Collector(std::sync::Arc<std::sync::Mutex<Vec<u8>>>, Option<std::thread::JoinHandle<()>>);

impl Collector {
    fn new(mut r: impl std::io::Read + Send + 'static) -> Collector {
        let v = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let v2 = v.clone();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                v2.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Collector(v, Some(h))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn join(mut self) -> Vec<u8> {
        let _ = self.1.take().unwrap().join();
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Live {
    fn start(mut c: Command) -> Live {
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut p = Proc::spawn(c);
        let stdin = p.child.stdin.take();
        let out = Collector::new(p.child.stdout.take().unwrap());
        let err = Collector::new(p.child.stderr.take().unwrap());
        Live { p, stdin, out, err }
    }
    fn write(&mut self, b: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(b).unwrap();
    }
    fn stderr(&self) -> String {
        self.err.text()
    }
    /// Closes stdin, waits for the exit and the last output.
    fn finish(mut self, secs: u64) -> Output {
        drop(self.stdin.take());
        let status = self.p.wait_exit(secs);
        Output { status, stdout: self.out.join(), stderr: self.err.join() }
    }
    /// finish, expecting exit 0: (stdout, stderr).
    fn close(self) -> (String, String) {
        let o = self.finish(60);
        let (so, se) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
        assert_eq!(o.status.code(), Some(0), "svlogd exit; stderr: {se}");
        (so, se)
    }
}

#[test]
fn processor_compresses_and_keeps_state_matches_c() {
    let input = numbered(300, 3);
    let cfg = "s2000\nn4\n!gzip -n && (cat <&4; echo rotated) >&5\n";
    let (_, files) = differential(&[], Some(cfg), &input);
    let t = TempDir::new("svlogd-gz");
    std::fs::create_dir(t.join("log")).unwrap();
    std::fs::write(t.join("log/config"), cfg).unwrap();
    let mut c = svlogd(Imp::U, t.path()).unwrap();
    c.args(["-v", "log"]);
    let o = feed(c, &input, 60);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("svlogd: info: processing: log/@") && err.contains("svlogd: info: processed: log/@"), "{err}");
    // The rotated files are gzip'ed logs; with current they hold the last lines in order.
    let log = t.join("log");
    let mut names: Vec<String> =
        std::fs::read_dir(&log).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut text = Vec::new();
    for n in names.iter().filter(|n| n.starts_with('@')) {
        assert!(n.ends_with(".s"), "{names:?}");
        let o = Command::new("gzip").arg("-dc").arg(log.join(n)).output().unwrap();
        assert!(o.status.success());
        text.extend_from_slice(&o.stdout);
    }
    text.extend_from_slice(&read(log.join("current")));
    assert!(input.ends_with(&text) && text.len() > 4 * 1000, "{} bytes", text.len());
    let state = String::from_utf8_lossy(&read(log.join("state"))).into_owned();
    assert!(state.lines().count() >= 4 && state.lines().all(|l| l == "rotated"), "{state}");
    if !files.is_empty() {
        assert!(files.iter().any(|f| f.starts_with("state 644: rotated\n")), "{files:?}");
    }
}

#[test]
fn age_rotation_sigalrm_sighup_and_sigterm() {
    for imp in [Imp::U, Imp::C] {
        let t = TempDir::new("svlogd-sig");
        let log = t.join("log");
        std::fs::create_dir(&log).unwrap();
        std::fs::write(log.join("config"), "t1\n").unwrap();
        let Some(mut c) = svlogd(imp, t.path()) else { continue };
        c.args(["-v", "log"]);
        let mut l = Live::start(c);
        let rotated = |l: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(l)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.starts_with('@'))
                .collect();
            v.sort();
            v
        };
        // `t1`: a non-empty current is rotated after a second.
        l.write(b"one\n");
        wait_until(20, "age rotation", || rotated(&log).len() == 1);
        assert_eq!(read(log.join(&rotated(&log)[0])), b"one\n");
        // SIGALRM rotates now; SIGHUP rereads config (a prefix, no more age rotation).
        std::fs::write(log.join("config"), "pP:\n").unwrap();
        l.p.signal(libc::SIGHUP);
        wait_until(20, "sighup", || l.stderr().contains("sighangup received."));
        l.write(b"two\n");
        wait_until(20, "two written", || read(log.join("current")) == b"P:two\n");
        l.p.signal(libc::SIGALRM);
        wait_until(20, "sigalarm rotation", || rotated(&log).len() == 2);
        assert_eq!(read(log.join(&rotated(&log)[1])), b"P:two\n");
        // SIGTERM: the line in progress is completed first; urunit also writes it
        // (runit drops it, a listed weakness).
        l.write(b"thr");
        // Only once svlogd has taken "thr" from its stdin is it the line in progress.
        wait_until(20, "svlogd read the partial line", || l.unread() == 0);
        l.p.signal(libc::SIGTERM);
        wait_until(20, "sigterm", || l.stderr().contains("sigterm received."));
        l.write(b"ee\nfour\n");
        let (_, err) = l.close();
        let want = if imp == Imp::U { "P:three\n" } else { "" };
        assert_eq!(String::from_utf8_lossy(&read(log.join("current"))), want, "{imp:?}");
        assert!(err.contains("svlogd: info: sigalarm received.\n") && err.ends_with("svlogd: info: close: log\n"), "{err}");
    }
}

#[test]
fn udp_to_loopback() {
    for imp in [Imp::U, Imp::C] {
        for only in [false, true] {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
            let port = sock.local_addr().unwrap().port();
            let t = TempDir::new("svlogd-udp");
            std::fs::create_dir(t.join("log")).unwrap();
            std::fs::write(t.join("log/config"), format!("{}127.0.0.1:{port}\npP:\n-*skip*\n", if only { "U" } else { "u" }))
                .unwrap();
            let Some(mut c) = svlogd(imp, t.path()) else { continue };
            c.args(["-tt", "-l", "20", "log"]);
            let o = feed(c, b"hello udp\nskip me\n012345678901234567890123456789\n", 30);
            assert_eq!(o.status.code(), Some(0));
            let mut got = Vec::new();
            for _ in 0..2 {
                let mut b = [0u8; 2048];
                let n = sock.recv(&mut b).unwrap();
                got.push(unstamp(&String::from_utf8_lossy(&b[..n])));
            }
            assert_eq!(got, ["PSTAMP P:hello udp\n", "PSTAMP P:01234567890123456789...\n"], "{imp:?}");
            let cur = unstamp(&String::from_utf8_lossy(&read(t.join("log/current"))));
            assert_eq!(cur, if only { "" } else { "PSTAMP P:hello udp\nPSTAMP P:012345678901234567890123456789\n" }, "{imp:?}");
        }
    }
    let o = run_u(&[], Some("u1.2.3\nU127.0.0.1:x\n"), b"a\n");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "svlogd: warning: unable to scan ip address: 1.2.3\nsvlogd: warning: unable to scan port number: x\n"
    );
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);
impl Tmpfs {
    fn new(dir: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            skip("cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(Tmpfs(dir))
    }
    fn resize(&self, size: &str) {
        assert!(Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap().success());
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// svlogd writing to `mnt/log` on a tmpfs of `size`, with `config`.
fn on_tmpfs(size: &str, config: &str) -> Option<(TempDir, Tmpfs, PathBuf, Live)> {
    let t = TempDir::new("svlogd-tmpfs");
    let fs = Tmpfs::new(t.join("mnt"), size)?;
    let log = t.join("mnt/log");
    std::fs::create_dir(&log).unwrap();
    std::fs::write(log.join("config"), config).unwrap();
    let mut c = svlogd(Imp::U, t.path()).unwrap();
    c.arg("mnt/log");
    Some((t, fs, log, Live::start(c)))
}

/// Lines "N" 1..=n, checked to be in `dir` exactly once and in order.
fn assert_sequence(dir: &Path, from: usize, to: usize) {
    let got = all_lines(dir);
    let want: Vec<String> = (from..=to).map(|i| format!("{i:06} {}", "z".repeat(40))).collect();
    if got != want {
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        panic!("{} lines, want {}; first difference at {first:?}", got.len(), want.len());
    }
}

fn zlines(from: usize, to: usize) -> Vec<u8> {
    (from..=to).flat_map(|i| format!("{i:06} {}\n", "z".repeat(40)).into_bytes()).collect()
}

#[test]
fn full_disk_pauses_then_resumes_without_loss() {
    let Some((_t, fs, log, mut l)) = on_tmpfs("64k", "s8192\nn0\n") else { return };
    // About 120 KB: more than the file system holds.
    let data = zlines(1, 2500);
    let mut stdin = l.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(&data).map(|_| stdin));
    wait_until(60, "pausing on a full disk", || l.stderr().contains(": mnt/log: out of disk space\n"));
    fs.resize("2m");
    l.stdin = Some(w.join().unwrap().unwrap());
    let (_, err) = l.close();
    assert!(
        err.lines().all(|e| e.starts_with("svlogd: pausing: unable to write to ") && e.ends_with(": mnt/log: out of disk space")),
        "{err}"
    );
    assert_sequence(&log, 1, 2500);
}

#[test]
fn full_disk_with_minimum_deletes_oldest() {
    let Some((_t, _fs, log, mut l)) = on_tmpfs("256k", "s16384\nn40\nN3\n") else { return };
    l.write(&zlines(1, 10000));
    let (_, err) = l.close();
    assert!(
        err.lines().count() > 0 && err.lines().all(|e| e.starts_with("svlogd: warning: out of disk space, delete: mnt/log/@")),
        "{err}"
    );
    // What is left is the newest part, each line once, in order.
    let got = all_lines(&log);
    let first: usize = got[0][..6].parse().unwrap();
    assert_sequence(&log, first, 10000);
    assert!(
        std::fs::read_dir(&log).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('@')).count()
            >= 3
    );
}

#[test]
fn read_only_directory_pauses_then_resumes_without_loss() {
    // As root every directory is writable: run svlogd as nobody, then take away
    // the directory's write permission (rotation needs it) and give it back.
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip("setpriv missing");
        return;
    }
    let t = TempDir::new("svlogd-ro");
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = t.join("log");
    std::fs::create_dir(&log).unwrap();
    std::fs::write(log.join("config"), "s4096\nn0\n").unwrap();
    assert!(Command::new("chown").args(["-R", "65534:65534"]).arg(&log).status().unwrap().success());
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(bindir().join("svlogd")).arg("log").current_dir(t.path());
    let mut l = Live::start(c);
    l.write(&zlines(1, 50));
    wait_until(20, "first lines", || all_lines(&log).len() == 50);
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o555)).unwrap();
    let data = zlines(51, 1000);
    let mut stdin = l.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(&data).map(|_| stdin));
    wait_until(60, "pausing on a read-only directory", || {
        l.stderr().contains("svlogd: pausing: unable to rename current: log: access denied\n")
    });
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o755)).unwrap();
    l.stdin = Some(w.join().unwrap().unwrap());
    l.close();
    assert_sequence(&log, 1, 1000);
}

#[test]
fn stdout_mode_prefix_stamps_long_lines_and_a_directory() {
    let t = TempDir::new("svlogd-out");
    let svc = t.join("web/log");
    std::fs::create_dir_all(svc.join("main")).unwrap();
    // -o: the service's name (the parent of log/) as prefix; no directory needed.
    let mut c = svlogd(Imp::U, &svc).unwrap();
    c.arg("-o");
    let o = feed(c, b"hello\nworld", 20);
    expect(&o, 0, "web: hello\nweb: world\n", "");
    let mut c = svlogd(Imp::U, &t.join("web")).unwrap();
    c.arg("-o");
    expect(&feed(c, b"x\n", 20), 0, "web: x\n", "");
    // -O PREFIX with -tt, together with a rotated directory that has its own prefix.
    std::fs::write(svc.join("main/config"), "pD:\n-*skip*\n").unwrap();
    let mut c = svlogd(Imp::U, &svc).unwrap();
    c.args(["-tt", "-O", "web | ", "main"]);
    let long = "L".repeat(10_000);
    let o = feed(c, format!("one\nskip this\n{long}\n").as_bytes(), 20);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    let outl: Vec<&str> = out.lines().collect();
    assert_eq!(outl[0], "web | PSTAMP one".replace("PSTAMP", &outl[0][6..31]));
    assert_eq!(unstamp(outl[1]), "web | PSTAMP skip this");
    // The 10000-byte line comes in pieces of at most PIPE_BUF bytes, each prefixed.
    assert!(
        outl[2..].iter().all(|l| l.starts_with("web | ") && l.len() < 4096),
        "{:?}",
        outl.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    let joined: String = outl[2..].iter().enumerate().map(|(i, l)| if i == 0 { &l[32..] } else { &l[6..] }).collect();
    assert_eq!(joined, long);
    assert_eq!(unstamp(&String::from_utf8_lossy(&read(svc.join("main/current")))), format!("PSTAMP D:one\nPSTAMP D:{long}\n"));
}

#[test]
fn several_directories_with_their_own_settings_match_c() {
    let input = numbered(200, 3);
    let mut snaps = Vec::new();
    for imp in [Imp::U, Imp::C] {
        let t = TempDir::new("svlogd-multi");
        for (d, cfg) in [("a", "s600\nn3\n-*x\npA:\n"), ("b", "s1000\nn0\n-*\n+line 1*\n"), ("c", "U127.0.0.1:9\n")] {
            std::fs::create_dir(t.join(d)).unwrap();
            std::fs::write(t.join(d).join("config"), cfg).unwrap();
        }
        let Some(mut c) = svlogd(imp, t.path()) else { continue };
        c.args(["-ttt", "a", "b", "c"]);
        let o = feed(c, &input, 60);
        assert_eq!(o.status.code(), Some(0));
        snaps.push(["a", "b", "c"].map(|d| snapshot(&t.join(d))));
    }
    if snaps.len() == 2 {
        assert_eq!(snaps[0], snaps[1]);
    }
    assert_eq!(snaps[0][2], vec!["current 744: ".to_string()]);
}

#[test]
fn leftover_u_files_are_processed() {
    // runit leaves `.u` files of a killed svlogd unprocessed forever (a listed weakness).
    let t = TempDir::new("svlogd-left");
    let log = t.join("log");
    std::fs::create_dir(&log).unwrap();
    std::fs::write(log.join("config"), "!tr a-z A-Z\n").unwrap();
    std::fs::write(log.join("@400000006000000000000000.u"), "old\n").unwrap();
    std::fs::write(log.join("current"), "crash\n").unwrap();
    std::fs::set_permissions(log.join("current"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = svlogd(Imp::U, t.path()).unwrap();
    c.arg("log");
    expect(&feed(c, b"new\n", 30), 0, "", "");
    let files = snapshot(&log);
    assert_eq!(files, ["@s 744: OLD\n", "@s 744: CRASH\n", "current 744: new\n", "state 644: "], "{files:?}");
    assert!(log.join("@400000006000000000000000.s").exists());
}

/// A pipe whose write end has been filled with `data` and closed; the read end stays
/// here (as runsv keeps the log pipe), so unread data outlives a killed svlogd.
fn filled_pipe(data: &[u8]) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (r, w) = unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
    assert!(data.len() < 60_000);
    (&w).write_all(data).unwrap();
    r
}

/// The bytes of a log directory in order (rotated files by name, then current).
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names.iter().filter(|n| n.starts_with('@') || *n == "current").flat_map(|n| read(dir.join(n))).collect()
}

#[test]
fn sigkill_before_each_write_rename_or_truncate_is_harmless() {
    // strace kills svlogd on entering the k-th call of one system call: every state
    // a SIGKILL can leave behind, one after the other. A second svlogd then finishes,
    // and every directory must hold each of its lines exactly once, in order.
    if Command::new("strace").arg("-V").output().is_err() {
        skip("strace missing: the deterministic crash-point test needs it");
        return;
    }
    // URUNIT_CRASH_FULL=1: bigger inputs, about 1800 crash points (several minutes).
    let full = std::env::var("URUNIT_CRASH_FULL").as_deref() == Ok("1");
    let short = numbered(if full { 150 } else { 40 }, 3);
    let long: Vec<u8> =
        (1..=if full { 60 } else { 14 }).flat_map(|i| format!("{i} {}\n", "w".repeat(i * 37 % 290)).into_bytes()).collect();
    let each = |input: &[u8], f: &dyn Fn(&str) -> Option<String>| -> String {
        String::from_utf8_lossy(input).lines().filter_map(f).collect()
    };
    // (arguments, [(config, expected log) per directory], input)
    type Scenario<'a> = (&'a [&'a str], Vec<(&'a str, String)>, &'a Vec<u8>);
    let scenarios: Vec<Scenario> = vec![
        (
            &["-t"],
            vec![(if full { "s1500\nn0\n" } else { "s500\nn0\n" }, each(&short, &|l| Some(format!("STAMP {l}\n"))))],
            &short,
        ),
        // Lines longer than -l and split over two files at the size limit.
        (&["-l", "40"], vec![("s700\nn0\n", String::from_utf8(long.clone()).unwrap())], &long),
        (
            &[],
            vec![
                (if full { "s1000\nn0\npA:\n" } else { "s400\nn0\npA:\n" }, each(&short, &|l| Some(format!("A:{l}\n")))),
                (
                    if full { "s800\nn0\n-*5*\n" } else { "s300\nn0\n-*5*\n" },
                    each(&short, &|l| (!l.contains('5')).then(|| format!("{l}\n"))),
                ),
            ],
            &short,
        ),
    ];
    let mut points = 0;
    for (args, dirs, input) in &scenarios {
        for sys in ["splice", "pwrite64", "write", "renameat", "ftruncate", "fsync", "fchmod", "openat", "unlinkat"] {
            for k in 1.. {
                let t = TempDir::new("svlogd-crash");
                let names: Vec<String> = (0..dirs.len()).map(|i| format!("d{i}")).collect();
                for (n, (cfg, _)) in names.iter().zip(dirs) {
                    std::fs::create_dir(t.join(n)).unwrap();
                    std::fs::write(t.join(n).join("config"), cfg).unwrap();
                }
                let r = filled_pipe(input);
                let mut c = Command::new("strace");
                c.args([
                    "-f",
                    "-qq",
                    "-o",
                    "/dev/null",
                    "-e",
                    &format!("trace={sys}"),
                    "-e",
                    &format!("inject={sys}:signal=KILL:when={k}"),
                    "--",
                ]);
                c.arg(bindir().join("svlogd")).args(*args).args(&names).current_dir(t.path());
                c.stdin(r.try_clone().unwrap()).stdout(Stdio::null()).stderr(Stdio::null());
                if Proc::spawn(c).output(60).status.success() {
                    break;
                }
                points += 1;
                let mut c = svlogd(Imp::U, t.path()).unwrap();
                c.args(*args).args(&names).stdin(r).stdout(Stdio::piped()).stderr(Stdio::piped());
                let o = Proc::spawn(c).output(60);
                assert_eq!(o.status.code(), Some(0), "{sys} #{k}: {}", String::from_utf8_lossy(&o.stderr));
                for (n, (_, want)) in names.iter().zip(dirs) {
                    let got = unstamp(&String::from_utf8_lossy(&all_bytes(&t.join(n))));
                    if &got != want {
                        let first = got.bytes().zip(want.bytes()).position(|(a, b)| a != b);
                        panic!(
                            "{args:?} {n}: killed before {sys} #{k}: {} bytes, want {}, first difference at byte {first:?}",
                            got.len(),
                            want.len()
                        );
                    }
                }
            }
        }
    }
    eprintln!("{points} crash points, each line exactly once");
    assert!(points > 60, "only {points} crash points");
}

#[test]
fn sighup_while_a_processor_runs() {
    let t = TempDir::new("svlogd-hupproc");
    let log = t.join("log");
    std::fs::create_dir(&log).unwrap();
    std::fs::write(log.join("config"), "!sleep 1; tr a-z A-Z\n").unwrap();
    let mut c = svlogd(Imp::U, t.path()).unwrap();
    c.args(["-v", "log"]);
    let mut l = Live::start(c);
    l.write(b"one\n");
    wait_until(20, "one written", || read(log.join("current")) == b"one\n");
    l.p.signal(libc::SIGALRM);
    wait_until(20, "processor started", || l.stderr().contains("processing: log/@"));
    l.p.signal(libc::SIGHUP);
    wait_until(20, "processed", || l.stderr().contains("processed: log/@"));
    l.write(b"two\n");
    let (_, err) = l.close();
    assert!(!err.contains("failed") && err.matches("processing:").count() == 1, "{err}");
    assert_eq!(snapshot(&log), ["@s 744: ONE\n", "current 744: two\n", "state 644: "]);
}

/// A tmpfs at `t/mnt` holding an empty log directory `mnt/log`, remounted read-only
/// (a read-only root as in a container with `--read-only`).
fn read_only_log(t: &TempDir) -> Option<(Tmpfs, PathBuf)> {
    let fs = Tmpfs::new(t.join("mnt"), "1m")?;
    let log = t.join("mnt/log");
    std::fs::create_dir(&log).unwrap();
    assert!(Command::new("mount").args(["-o", "remount,ro"]).arg(t.join("mnt")).status().unwrap().success());
    Some((fs, log))
}

/// Writes `data` to svlogd's stdin from a thread; the thread must finish (svlogd keeps
/// reading), and `l.stdin` is given back.
fn write_unblocked(l: &mut Live, data: Vec<u8>) {
    let mut stdin = l.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(&data).map(|_| stdin));
    wait_until(60, "the writer to finish (never blocked)", || w.is_finished());
    l.stdin = Some(w.join().unwrap().unwrap());
}

#[test]
fn stdout_mode_read_only_log_dir_keeps_lines_flowing_and_retries() {
    let t = TempDir::new("svlogd-ro-o");
    let Some((fs, log)) = read_only_log(&t) else { return };
    let mut c = svlogd(Imp::U, t.path()).unwrap();
    c.args(["-O", "", "mnt/log"]);
    let mut l = Live::start(c);
    // Far more than a pipe holds: every line reaches stdout, the writer never waits.
    write_unblocked(&mut l, zlines(1, 20000));
    wait_until(60, "every line on stdout", || l.out.text().lines().count() == 20000);
    assert_eq!(l.out.text(), String::from_utf8(zlines(1, 20000)).unwrap());
    // The directory is retried in the background: once writable, it is used again.
    assert!(Command::new("mount").args(["-o", "remount,rw"]).arg(&fs.0).status().unwrap().success());
    let mut n = 20000;
    wait_until(60, "the directory used again", || {
        n += 1;
        l.write(&zlines(n, n));
        log.join("current").exists() && !all_lines(&log).is_empty()
    });
    let (out, err) = l.close();
    // Every line on stdout; in the directory, those from its reopening on.
    assert_eq!(out, String::from_utf8(zlines(1, n)).unwrap());
    let first: usize = all_lines(&log)[0][..6].parse().unwrap();
    assert_sequence(&log, first, n);
    // One warning for the whole outage.
    assert_eq!(err, "svlogd: warning: unable to lock directory: mnt/log: read-only file system\n");
}

#[test]
fn read_only_log_dir_without_stdout_mode_is_runits() {
    // No -o: runit's behaviour, compared with C svlogd where it is installed (a directory
    // that fails while in use pauses: full_disk_pauses_then_resumes_without_loss).
    for imp in [Imp::U, Imp::C] {
        let t = TempDir::new("svlogd-ro-plain");
        let Some((_fs, _log)) = read_only_log(&t) else { return };
        let Some(mut c) = svlogd(imp, t.path()) else { continue };
        c.arg("mnt/log");
        let o = feed(c, b"x\n", 30);
        expect(
            &o,
            111,
            "",
            "svlogd: warning: unable to lock directory: mnt/log: read-only file system\nsvlogd: fatal: no functional log directories.\n",
        );
    }
}

#[test]
fn stdout_mode_full_disk_does_not_block_then_resumes() {
    let t = TempDir::new("svlogd-full-o");
    let Some(fs) = Tmpfs::new(t.join("mnt"), "64k") else { return };
    let log = t.join("mnt/log");
    std::fs::create_dir(&log).unwrap();
    std::fs::write(log.join("config"), "s8192\nn0\n").unwrap();
    let mut c = svlogd(Imp::U, t.path()).unwrap();
    c.args(["-O", "", "mnt/log"]);
    let mut l = Live::start(c);
    // About 1.2 MB: far more than the file system holds.
    write_unblocked(&mut l, zlines(1, 25000));
    wait_until(60, "every line on stdout", || l.out.text().lines().count() == 25000);
    assert_eq!(l.out.text(), String::from_utf8(zlines(1, 25000)).unwrap());
    // One warning for the outage (whichever of current and the journal failed first).
    let err = l.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("svlogd: warning: unable to ") && err.ends_with(": mnt/log: out of disk space\n"), "{err}");
    // Room again: the directory is used again within a few seconds.
    fs.resize("2m");
    let before = all_lines(&log).len();
    wait_until(60, "the directory used again", || {
        l.write(&zlines(25001, 25001));
        all_lines(&log).iter().any(|x| x.starts_with("025001 "))
    });
    let (_, err) = l.close();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(all_lines(&log).len() > before);
}
