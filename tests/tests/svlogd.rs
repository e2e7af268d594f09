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
