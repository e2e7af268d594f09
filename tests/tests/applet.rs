//! The multi-call front end: dispatch on argv[0], `urunit PROGRAM`, --install, --list.
use std::process::Command;
use urunit_tests::*;

/// The binary run as `urunit ARGS...`.
fn urunit(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args);
    c
}

const PROGRAMS: &str =
    "runsvdir\nrunsv\nsv\nchpst\nenvdir\nenvuidgid\npgrphack\nsetlock\nsetuidgid\nsoftlimit\nsvlogd\nrunit\nrunit-init\n";

#[test]
fn list_names_every_program() {
    let o = run(
        {
            let mut c = urunit(&["--list"]);
            c.env_clear();
            c
        },
        10,
    );
    expect(&o, 0, PROGRAMS, "");
}

#[test]
fn version_and_help() {
    let o = run(urunit(&["--version"]), 10);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.starts_with(b"urunit "), "{:?}", String::from_utf8_lossy(&o.stdout));
    let o = run(urunit(&["--help"]), 10);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("runsvdir"));
}

#[test]
fn usage_and_unknown_program() {
    let o = run(urunit(&[]), 10);
    expect(&o, 100, "", "usage: urunit PROGRAM [ARGS...] | --install DIR | --list | --version | --help\n\n");
    let o = run(urunit(&["nosuch"]), 10);
    expect(&o, 100, "", "urunit: fatal: unknown program: nosuch (see urunit --list)\n");
    let o = run(urunit(&["-x"]), 10);
    expect(
        &o,
        100,
        "",
        "urunit: illegal option -- -x\nusage: urunit PROGRAM [ARGS...] | --install DIR | --list | --version | --help\n\n",
    );
}

#[test]
fn install_makes_links_that_dispatch() {
    let t = TempDir::new("install");
    let o = run(urunit(&["--install", t.path().to_str().unwrap()]), 10);
    expect(&o, 0, "", "");
    for name in PROGRAMS.lines() {
        let l = t.join(name);
        let target = std::fs::read_link(&l).unwrap_or_else(|_| panic!("{name} is not a link"));
        assert_eq!(std::fs::canonicalize(&target).unwrap(), std::fs::canonicalize(bin()).unwrap());
    }
    // Through a real link, runsv prints argv[0] as given.
    let runsv = t.join("runsv");
    let o = run(Command::new(&runsv), 10);
    expect(&o, 1, "", &format!("usage: {} dir\n\n", runsv.display()));
    // Installing again keeps the links; a foreign file is never replaced.
    let o = run(urunit(&["--install", t.path().to_str().unwrap()]), 10);
    expect(&o, 0, "", "");
    std::fs::remove_file(t.join("sv")).unwrap();
    std::fs::write(t.join("sv"), b"mine").unwrap();
    let o = run(urunit(&["--install", t.path().to_str().unwrap()]), 10);
    expect(&o, 111, "", &format!("urunit: warning: not replacing {}/sv: not a link to urunit\n", t.path().display()));
    assert_eq!(read(t.join("sv")), b"mine");
}

#[test]
fn front_end_runs_a_program() {
    let o = run(urunit(&["runsv"]), 10);
    expect(&o, 1, "", "usage: runsv dir\n\n");
}

#[test]
fn binary_is_static() {
    let o = Command::new("file").arg("-L").arg(bin()).output().expect("file(1)");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("statically linked") || s.contains("static-pie linked"), "{s}");
    assert!(s.contains(", stripped"), "{s}");
}
