//! `make bench` stays runnable: bench/bench.py --quick (small N, one repetition) against the
//! shipped binary, C runit, s6 and busybox (when there) exits 0 and prints its table. No figure is
//! asserted on (tests never judge speed), only that the C runit side, which always works, was
//! really measured, and that s6 has its column or the reason it has none is printed.
use std::path::Path;
use std::process::Command;
use urunit_tests::*;

#[test]
fn bench_quick_prints_the_table() {
    let Some(cdir) = crunit_dir() else {
        skip("C runit not found (run `make crunit`): bench smoke test not run");
        return;
    };
    if Command::new("python3").arg("--version").output().is_err() {
        skip("python3 not found: bench smoke test not run");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let script = root.join("bench/bench.py");
    let tmp = TempDir::new("bench");
    let mut c = Command::new("python3");
    c.arg(&script).arg("--quick").arg("--urunit").arg(bin()).arg("--crunit").arg(&cdir).arg("--tmp").arg(tmp.path());
    // `make bench` builds this busybox; without it the bench prints why the column is missing.
    c.arg("--busybox").arg(root.join("target/busybox-runit/busybox"));
    let o = run(c, 120);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "bench failed\nstdout:\n{out}\nstderr:\n{err}");
    let header = out
        .lines()
        .find(|l| l.starts_with("| figure | unit | urunit | C runit |"))
        .unwrap_or_else(|| panic!("no table header:\n{out}"));
    let heads: Vec<&str> = header.split('|').map(str::trim).collect();
    assert!(heads.contains(&"urunit / C") && heads.contains(&"runs"), "header {header:?}");
    for name in ["s6", "busybox"] {
        let has_col = heads.contains(&name);
        let why = out.lines().any(|l| l.starts_with(&format!("{name}: not measured, no column: ")));
        assert!(has_col != why, "{name}: want its column or the reason it has none (not both):\n{out}");
        if has_col && name == "s6" {
            assert!(heads.contains(&"urunit / s6"), "no urunit / s6 ratio column: {header:?}");
        }
    }
    for top in ["machine: ", "date: "] {
        assert!(out.lines().any(|l| l.starts_with(top)), "no {top:?} line:\n{out}");
    }
    let col = |name: &str| heads.iter().position(|h| *h == name).unwrap();
    // The C column of these rows holds a number (a median, maybe with its range), not n/a.
    for fig in [
        "| runsv / s6-supervise: start to service running |",
        "| status: sv status / s6-svstat |",
        "| svlogd / s6-log: CPU (user+sys) per line |",
    ] {
        let line = out.lines().find(|l| l.starts_with(fig)).unwrap_or_else(|| panic!("no row {fig}:\n{out}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let c_col = cells[col("C runit")].split_whitespace().next().unwrap_or("");
        assert!(c_col.parse::<f64>().is_ok(), "C runit not measured in {line:?}\n{out}");
    }
    // Every figure measured for C runit is measured for urunit too (in CI every program exists;
    // elsewhere an unfinished program is reported, as the bench itself does).
    for line in out.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| figure")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == heads.len() && cells[col("urunit")] == "n/a" && cells[col("C runit")] != "n/a" {
            skip(&format!("the bench could not measure urunit: {line}\n{out}"));
        }
    }
    // Nothing is left behind in the temporary directory.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "bench left files in {}", tmp.path().display());
}
