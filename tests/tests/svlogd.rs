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
fn feed(mut c: Command, input: &[u8], secs: u64) -> Output {
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut p = Proc::spawn(c);
    let mut i = p.child.stdin.take().unwrap();
    let data = input.to_vec();
    let w = std::thread::spawn(move || {
        let _ = i.write_all(&data);
    });
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
    w.join().unwrap();
    let status = p.wait_exit(secs);
    Output { status, stdout: t1.join().unwrap(), stderr: t2.join().unwrap() }
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
            t[..4].iter().all(u8::is_ascii_digit) && t[4] == b'-' && t[7] == b'-' && (t[10] == b'_' || t[10] == b'T') && t[13] == b':' && t[19] == b'.'
        };
        if tai || pt {
            out.push_str(if tai { "STAMP" } else if b[i + 10] == b'_' { "PSTAMP" } else { "ISTAMP" });
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
    assert_eq!(unstamp(&String::from_utf8_lossy(&u.0.stderr)), unstamp(&String::from_utf8_lossy(&c.0.stderr)), "stderr for {args:?}");
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
        (&["nonexistent"], "svlogd: warning: unable to open log directory: nonexistent: file does not exist\nsvlogd: fatal: no functional log directories.\n"),
        (&["file"], "svlogd: warning: unable to change directory: file: not a directory\nsvlogd: fatal: no functional log directories.\n"),
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
        expect(&o, 0, "", "svlogd: info: new: d/current\nsvlogd: info: close: \nsvlogd: warning: unable to lock directory: d: temporary failure\nsvlogd: info: close: d\n");
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
            let o = Command::new("date").args(["-u", "-d", &line[..19].replace('_', " ").replace('T', " "), "+%s"]).output().unwrap();
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
        let svc = t.join("svc");
        script(svc.join("run"), "#!/bin/sh\nfor k in $(seq 0 99); do seq $((k*1000+1)) $((k*1000+1000)); sleep 0.03; done\n: > written\nexec sleep 3600\n");
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
            panic!("{what}: after {kills} kills: {} lines, first difference at {first:?} ({:?}), log {stat}, files {files:?}", got.len(), first.map(|i| (&got[i], &want[i])));
        }
        eprintln!("{what}: {kills} SIGKILLs, {N} lines exactly once, in order, over {} files", std::fs::read_dir(&main).unwrap().count());
    }
}

#[test]
fn stdout_mode_three_services_under_runsvdir() {
    const N: usize = 100_000;
    let Some(runsvdir) = crunit("runsvdir") else { return };
    for (what, runsv) in runsvs() {
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
            loop {
                match std::io::Read::read(&mut out, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        v.extend_from_slice(&buf[..n]);
                        if v.iter().filter(|&&b| b == b'\n').count() >= 3 * N {
                            break;
                        }
                    }
                }
            }
            let _ = tx.send(v);
        });
        let v = rx.recv_timeout(std::time::Duration::from_secs(180)).expect("300000 lines on runsvdir's stdout");
        drop(p);
        let text = String::from_utf8(v).unwrap();
        let mut next = [1usize; 3];
        for l in text.lines() {
            let (svc, rest) = l.split_once(": ").unwrap_or_else(|| panic!("{what}: unprefixed line {l:?}"));
            let s: usize = svc.strip_prefix("svc").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{what}: bad prefix {l:?}"));
            assert_eq!(rest, format!("line {:06} {dots}", next[s - 1]), "{what}: line of svc{s}");
            next[s - 1] += 1;
        }
        assert_eq!(next, [N + 1; 3], "{what}");
    }
}
