//! `make bench` stays runnable: bench/bench.py --quick (small N, one repetition) against the
//! shipped binary and C runit exits 0 and prints its table. No figure is asserted on (tests
//! never judge speed), only that the C runit side, which always works, was really measured.
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("bench/bench.py");
    let tmp = TempDir::new("bench");
    let mut c = Command::new("python3");
    c.arg(&script).arg("--quick").arg("--urunit").arg(bin()).arg("--crunit").arg(&cdir).arg("--tmp").arg(tmp.path());
    let o = run(c, 120);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "bench failed\nstdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("| figure | unit | urunit | C runit | urunit / C | runs |\n"), "no table header:\n{out}");
    // The C column of the runsv and sv rows holds a number, not n/a.
    for fig in ["| runsv: start to service running |", "| sv status |", "| svlogd: CPU (user+sys) per line |"] {
        let line = out.lines().find(|l| l.starts_with(fig)).unwrap_or_else(|| panic!("no row {fig}:\n{out}"));
        let c_col = line.split('|').nth(4).unwrap().trim();
        assert!(c_col.parse::<f64>().is_ok(), "C runit not measured in {line:?}\n{out}");
    }
    // Every figure measured for C runit is measured for urunit too (in CI every program exists;
    // elsewhere an unfinished program is reported, as the bench itself does).
    for line in out.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| figure")) {
        let col: Vec<&str> = line.split('|').map(str::trim).collect();
        if col.len() > 4 && col[3] == "n/a" && col[4] != "n/a" {
            skip(&format!("the bench could not measure urunit: {line}\n{out}"));
        }
    }
    // Nothing is left behind in the temporary directory.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "bench left files in {}", tmp.path().display());
}
