//! chpst and its aliases (envdir, envuidgid, pgrphack, setlock, setuidgid, softlimit),
//! run from the shipped binary. Every effect is observed from the exec'd program
//! (/proc/self/status, /proc/self/limits, /proc/self/stat, its environment, its fds,
//! /proc/locks), and messages and exit codes are compared with Debian's C chpst.
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use urunit_tests::*;

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const USAGE: &str = "usage: chpst [-vVP012] [-u user[:group]] [-U user[:group]] [-b argv0] [-e dir] [-/ root] [-n nice] [-l|-L lock] [-m n] [-d n] [-o n] [-p n] [-f n] [-c n] [-t n] prog\n\n";
const SOFTLIMIT_USAGE: &str = "usage: softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child\n\n";

/// `@chpst` in an argument list stands for "this implementation's chpst" (urunit: the
/// binary plus `chpst`; C runit: its chpst), for nested runs such as `-u nobody @chpst ...`.
fn expand(args: &[&str], c_chpst: Option<&Path>) -> Vec<String> {
    let mut v = Vec::new();
    for a in args {
        match (*a, c_chpst) {
            ("@chpst", None) => v.extend([bin().display().to_string(), "chpst".into()]),
            ("@chpst", Some(c)) => v.push(c.display().to_string()),
            (a, _) => v.push(a.to_string()),
        }
    }
    v
}

/// `prog` run as `name` (argv[0]) in `cwd`, with a small fixed environment and only
/// fds 0-2 (whatever else the test runner leaked to us is closed).
fn command(prog: &Path, name: &str, args: &[String], cwd: &Path) -> Command {
    let mut c = Command::new(prog);
    c.arg0(name).args(args).current_dir(cwd).env_clear().env("PATH", PATH).env("KEEP", "kept").env("DROPME", "x");
    only_std_fds(&mut c);
    c
}

fn only_std_fds(c: &mut Command) {
    // SAFETY: close_range is async-signal-safe; the child closes fds it inherited.
    unsafe {
        c.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
}

/// urunit as `name`.
fn ur(name: &str, args: &[&str], cwd: &Path) -> Output {
    run(command(&bin(), name, &expand(args, None), cwd), 60)
}

/// The same argv through urunit and C runit's chpst: stdout, stderr and exit code must
/// be identical. Returns urunit's output.
#[track_caller]
fn same(name: &str, args: &[&str], cwd: &Path) -> Output {
    same_by(name, args, cwd, text)
}

/// `same`, comparing only `view` of stdout (for outputs holding pids or timings).
#[track_caller]
fn same_by(name: &str, args: &[&str], cwd: &Path, view: impl Fn(&[u8]) -> String) -> Output {
    let u = ur(name, args, cwd);
    if let Some(c) = crunit("chpst") {
        let o = run(command(&c, name, &expand(args, Some(&c)), cwd), 60);
        let show = |o: &Output| (o.status.code(), view(&o.stdout), text(&o.stderr));
        assert_eq!(show(&u), show(&o), "urunit (left) vs C runit (right): {name} {args:?}");
    }
    u
}

/// `same`, then the exact expected result.
#[track_caller]
fn same_expect(name: &str, args: &[&str], cwd: &Path, code: i32, stdout: &str, stderr: &str) {
    expect(&same(name, args, cwd), code, stdout, stderr);
}

fn tmp(tag: &str) -> TempDir {
    let t = TempDir::new(tag);
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}

/// The Uid, Gid and Groups lines of a /proc/self/status text.
fn ids(status: &[u8]) -> Vec<String> {
    text(status)
        .lines()
        .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Fields of /proc/PID/stat after the command name: [0] is field 3 (state).
fn stat_fields(stat: &[u8]) -> Vec<String> {
    let s = text(stat);
    s[s.rfind(')').unwrap() + 2..].split(' ').map(String::from).collect()
}

/// Soft limits from a /proc/self/limits text, by the row's name.
fn soft_limit(limits: &[u8], row: &str) -> String {
    let t = text(limits);
    let line = t.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("no {row} in {t}"));
    line[26..].split_whitespace().next().unwrap().to_string()
}

fn hard_limit(row: &str) -> String {
    let t = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = t.lines().find(|l| l.starts_with(row)).unwrap().to_string();
    line[26..].split_whitespace().nth(1).unwrap().to_string()
}

/// Runs without a new process group (a group leader cannot setsid, so -P needs this).
fn run_plain(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

/// Spawns `sleep 1000` behind urunit (argv[0] `name`) and waits until it has exec'd.
fn spawn_sleeper(name: &str, args: &[&str], cwd: &Path) -> Proc {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["sleep", "1000"]);
    let mut c = command(&bin(), name, &expand(&all, None), cwd);
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let p = Proc::spawn(c);
    let pid = p.pid();
    // Exec'd, and asleep: past the dynamic loader, which opens files of its own.
    wait_until(60, "sleep to be exec'd and asleep", || {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x001000\x00")
            && std::fs::read(format!("/proc/{pid}/stat")).is_ok_and(|s| stat_fields(&s)[0] == "S")
    });
    p
}

/// The fds a process has open, sorted.
fn open_fds(pid: i32) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    v.sort();
    v
}

/// An exclusive flock held by the test itself (released on drop).
fn hold_lock(path: &Path) -> std::fs::File {
    let f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    f
}

/// True if someone else holds an flock on `path`.
fn locked(path: &Path) -> bool {
    let f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
}

/// True if /proc/locks shows `pid` waiting for an flock.
fn waiting_for_lock(pid: i32) -> bool {
    let needle = format!(" {pid} ");
    std::fs::read_to_string("/proc/locks").unwrap().lines().any(|l| l.contains("-> FLOCK") && l.contains(&needle))
}

// ---- usage and options ----

#[test]
fn usage_and_bad_options() {
    let t = tmp("chpst-usage");
    let d = t.path();
    same_expect("chpst", &[], d, 100, "", USAGE);
    same_expect("chpst", &["-V"], d, 100, "", &format!("$Id: f279d44141c981dd7535a12260efcf1ef7beed26 $\n{USAGE}"));
    same_expect("chpst", &["-vV"], d, 100, "", &format!("$Id: f279d44141c981dd7535a12260efcf1ef7beed26 $\n{USAGE}"));
    same_expect("chpst", &["-x", "true"], d, 100, "", &format!("chpst: illegal option -- x\n{USAGE}"));
    same_expect("chpst", &["-u"], d, 100, "", &format!("chpst: option requires an argument -- u\n{USAGE}"));
    same_expect("chpst", &["-b"], d, 100, "", &format!("chpst: option requires an argument -- b\n{USAGE}"));
    same_expect("chpst", &["-v"], d, 100, "", USAGE);
    for bad in [
        &["-o", "5x", "true"][..],
        &["-m", "-1", "true"],
        &["-d", "1k", "true"],
        &["-t", " 1", "true"],
        &["-n", "5x", "true"],
        &["-n", "+-5", "true"],
        &["-l", "a", "-L", "b", "true"],
        &["-l", "a", "-l", "b", "true"],
    ] {
        same_expect("chpst", bad, d, 100, "", USAGE);
    }
    // Option syntax: bundles, attached arguments, "--" (and anything starting "--") ends the options.
    same_expect("chpst", &["-v012", "true"], d, 0, "", "");
    same_expect("chpst", &["-o5", "-b", "x", "--", "sh", "-c", "ulimit -n"], d, 0, "5\n", "");
    same_expect("chpst", &["--whatever", "sh", "-c", "echo ok"], d, 0, "ok\n", "");
    same_expect("chpst", &["-", "x"], d, 111, "", "chpst: fatal: unable to run: -: file does not exist\n");
}

#[test]
fn alias_usages() {
    let t = tmp("chpst-ausage");
    let d = t.path();
    for (name, args, usage) in [
        ("envdir", &[][..], "usage: envdir dir child\n\n"),
        ("envdir", &["d"], "usage: envdir dir child\n\n"),
        ("envuidgid", &["nobody"], "usage: envuidgid account child\n\n"),
        ("setuidgid", &[], "usage: setuidgid account child\n\n"),
        ("setuidgid", &["nobody"], "usage: setuidgid account child\n\n"),
        ("pgrphack", &[], "usage: pgrphack child\n\n"),
        ("setlock", &[], "usage: setlock [ -nNxX ] file program [ arg ... ]\n\n"),
        ("setlock", &["-n", "f"], "usage: setlock [ -nNxX ] file program [ arg ... ]\n\n"),
        ("setlock", &["-y", "f", "true"], "setlock: illegal option -- y\nusage: setlock [ -nNxX ] file program [ arg ... ]\n\n"),
        ("softlimit", &[], SOFTLIMIT_USAGE),
        ("softlimit", &["-o", "5"], SOFTLIMIT_USAGE),
        ("softlimit", &["-x", "true"], &format!("softlimit: illegal option -- x\n{SOFTLIMIT_USAGE}")),
        ("softlimit", &["-V"], &format!("softlimit: illegal option -- V\n{SOFTLIMIT_USAGE}")),
        ("softlimit", &["-o"], &format!("softlimit: option requires an argument -- o\n{SOFTLIMIT_USAGE}")),
        // runit quirk: a bad number prints chpst's usage under softlimit's name.
        ("softlimit", &["-o", "5x", "true"], &USAGE.replacen("chpst", "softlimit", 1)),
    ] {
        same_expect(name, args, d, 100, "", usage);
    }
}

// ---- -u, -U, setuidgid, envuidgid ----

#[test]
fn user_and_groups() {
    let t = tmp("chpst-user");
    let d = t.path();
    let st = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["cat", "/proc/self/status"]);
        let o = same_by(a[0], &a[1..], d, |s| ids(s).join("\n"));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        ids(&o.stdout)
    };
    let nobody = |groups: &str| {
        vec!["Uid: 65534 65534 65534 65534".to_string(), "Gid: 65534 65534 65534 65534".into(), format!("Groups: {groups}")]
    };
    // A user alone gets only its primary group: runit does no initgroups.
    assert_eq!(st(&["chpst", "-u", "nobody"]), nobody("65534"));
    assert_eq!(st(&["chpst", "-u", "nobody:nogroup:daemon"]), nobody("1 65534"));
    assert_eq!(st(&["chpst", "-u", ":65534:65534:1:2"]), nobody("1 2 65534"));
    assert_eq!(st(&["chpst", "-u", ":65534:65534:"]), nobody("0 65534"));
    assert_eq!(st(&["chpst", "-u", "daemon:nogroup"])[..2], ["Uid: 1 1 1 1", "Gid: 65534 65534 65534 65534"]);
    assert_eq!(st(&["setuidgid", "nobody"]), nobody("65534"));
    // -U changes nothing but the environment.
    assert_eq!(st(&["chpst", "-U", "nobody"])[0], "Uid: 0 0 0 0");

    same_expect("chpst", &["-U", "nobody:daemon:nogroup", "sh", "-c", "echo $UID $GID"], d, 0, "65534 1\n", "");
    same_expect("chpst", &["-U", ":5:6:7", "-u", "nobody", "sh", "-c", "echo $UID $GID; id -u"], d, 0, "5 6\n65534\n", "");
    same_expect("envuidgid", &["daemon", "sh", "-c", "echo $UID $GID; id -u"], d, 0, "1 1\n0\n", "");
    // GID then UID are appended to the environment, replacing inherited ones.
    same_expect("envuidgid", &["nobody", "env"], d, 0, &format!("DROPME=x\nKEEP=kept\nPATH={PATH}\nGID=65534\nUID=65534\n"), "");
}

#[test]
fn bad_users_and_groups() {
    let t = tmp("chpst-baduser");
    let d = t.path();
    let fatal = |args: &[&str], msg: &str| same_expect(args[0], &args[1..], d, 111, "", &format!("chpst: fatal: {msg}\n"));
    fatal(&["chpst", "-u", "nosuchuser", "true"], "unknown user/group: nosuchuser");
    fatal(&["chpst", "-u", "nobody:nosuchgroup", "true"], "unknown user/group: nobody:nosuchgroup");
    fatal(&["chpst", "-u", "nobody:nogroup:nosuchgroup", "true"], "unknown user/group: nobody:nogroup:nosuchgroup");
    fatal(&["chpst", "-u", "nobody:", "true"], "unknown user/group: nobody:");
    fatal(&["chpst", "-u", "", "true"], "unknown user/group: ");
    fatal(&["chpst", "-U", "nosuchuser", "true"], "unknown user/group: nosuchuser");
    fatal(&["chpst", "-u", ":abc", "true"], "invalid uid/gids: abc");
    fatal(&["chpst", "-u", ":0", "true"], "invalid uid/gids: 0");
    fatal(&["chpst", "-u", ":", "true"], "invalid uid/gids: ");
    fatal(&["chpst", "-u", ":1:2x", "true"], "invalid uid/gids: 1:2x");
    fatal(&["chpst", "-U", ":1:2:", "-u", ":1:x", "true"], "invalid uid/gids: 1:x");
    // setuidgid and envuidgid take an account name only.
    fatal(&["setuidgid", "nobody:nogroup", "true"], "unknown account: nobody:nogroup");
    fatal(&["setuidgid", "nosuchuser", "true"], "unknown account: nosuchuser");
    fatal(&["envuidgid", "nosuchuser", "true"], "unknown account: nosuchuser");
    // Dropping privileges fails as an ordinary user: fatal, never a run with the old ids.
    fatal(&["chpst", "-u", "nobody", "@chpst", "-u", "daemon", "true"], "unable to setgroups: permission denied");
    fatal(&["chpst", "-u", "nobody", "@chpst", "-u", ":65534:65534", "true"], "unable to setgroups: permission denied");
    fatal(&["chpst", "-u", "nobody", "@chpst", "-n", "-3", "true"], "unable to set nice level: permission denied");
}

// ---- -e, envdir ----

/// An envdir exercising runit's rules.
fn make_envdir(d: &Path) {
    std::fs::create_dir_all(d).unwrap();
    std::fs::write(d.join("A"), "val  \t\nsecond line\n").unwrap();
    std::fs::write(d.join("BLANK"), "   \n").unwrap();
    std::fs::write(d.join("NONL"), "nonl").unwrap();
    std::fs::write(d.join("NUL"), "x\0y\n").unwrap();
    std::fs::write(d.join("DROPME"), "").unwrap();
    std::fs::write(d.join("KEEP"), "new").unwrap();
    std::fs::write(d.join(".hidden"), "no").unwrap();
    std::fs::write(d.join("X=Y"), "z").unwrap();
}

#[test]
fn envdir_values() {
    let t = tmp("chpst-envdir");
    let d = t.path();
    make_envdir(&d.join("env"));
    for (name, args) in [("chpst", &["-e", "env", "env"][..]), ("envdir", &["env", "env"])] {
        let o = same(name, args, d);
        assert_eq!(o.status.code(), Some(0));
        let mut lines: Vec<String> = text(&o.stdout).split_inclusive('\n').map(String::from).collect();
        lines.sort();
        assert_eq!(lines.concat(), format!("A=val\nBLANK=\nKEEP=new\nNONL=nonl\nNUL=x\nPATH={PATH}\nX=Y=z\ny\n"));
    }
    // The exec'd program sees the exact bytes.
    same_expect(
        "chpst",
        &["-e", "env", "sh", "-c", "printf '[%s]' \"$A\" \"$BLANK\" \"$NUL\" \"${DROPME-unset}\""],
        d,
        0,
        "[val][][x\ny][unset]",
        "",
    );
}

#[test]
fn envdir_odd_entries() {
    let t = tmp("chpst-envodd");
    let d = t.path();
    let e = d.join("env");
    make_envdir(&e);
    std::fs::create_dir(e.join("sub")).unwrap();
    // chpst -e skips a subdirectory (warning only with -v); the envdir alias dies.
    same_expect("chpst", &["-e", "env", "sh", "-c", "echo $NONL"], d, 0, "nonl\n", "");
    same_expect(
        "chpst",
        &["-v", "-e", "env", "sh", "-c", "echo $NONL"],
        d,
        0,
        "nonl\n",
        "chpst: warning: unable to read env/sub: is a directory\n",
    );
    same_expect("envdir", &["env", "true"], d, 111, "", "chpst: fatal: unable to read env/sub: is a directory\n");
    std::fs::remove_dir(e.join("sub")).unwrap();

    // A FIFO without a writer reads as empty (unset); with a writer but no data it is an error.
    let f = tmp("chpst-fifo");
    let fifo = f.join("F");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    same_expect("chpst", &["-e", f.path().to_str().unwrap(), "env"], d, 0, &format!("DROPME=x\nKEEP=kept\nPATH={PATH}\n"), "");
    let _writer = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
    same_expect(
        "envdir",
        &[f.path().to_str().unwrap(), "true"],
        d,
        111,
        "",
        &format!("chpst: fatal: unable to read {}/F: temporary failure\n", f.path().display()),
    );

    // A file the user cannot read, a directory it cannot enter (run as nobody).
    let u = tmp("chpst-unread");
    std::fs::write(u.join("SECRET"), "x").unwrap();
    std::fs::set_permissions(u.join("SECRET"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let udir = u.path().to_str().unwrap();
    same_expect(
        "chpst",
        &["-u", "nobody", "@chpst", "-e", udir, "true"],
        d,
        111,
        "",
        &format!("chpst: fatal: unable to read {udir}/SECRET: access denied\n"),
    );
    std::fs::set_permissions(u.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    same_expect(
        "chpst",
        &["-u", "nobody", "@chpst", "-e", udir, "true"],
        d,
        111,
        "",
        &format!("chpst: fatal: unable to switch to directory: {udir}: access denied\n"),
    );

    same_expect(
        "envdir",
        &["nonexistent", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to switch to directory: nonexistent: file does not exist\n",
    );
    same_expect(
        "chpst",
        &["-e", "env/A", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to switch to directory: env/A: not a directory\n",
    );

    // urunit only (C runit reuses the previous file's value, or reads /dev/zero forever):
    // a dangling symlink unsets, an endless device is refused.
    let o = tmp("chpst-envodd2");
    symlink("/nonexistent", o.join("GONE")).unwrap();
    expect(&ur("chpst", &["-e", o.path().to_str().unwrap(), "sh", "-c", "echo ${GONE-unset}"], d), 0, "unset\n", "");
    symlink("/dev/zero", o.join("ZERO")).unwrap();
    expect(
        &ur("envdir", &[o.path().to_str().unwrap(), "true"], d),
        111,
        "",
        &format!("chpst: fatal: unable to read {}/ZERO: file too big\n", o.path().display()),
    );
}

#[test]
fn envdir_path_is_used_for_lookup() {
    // urunit looks the program up in the new environment's PATH (C runit uses its own).
    let t = tmp("chpst-envpath");
    let d = t.path();
    script(d.join("bin/hello-from-envdir"), "#!/bin/sh\necho hello $KEEP\n");
    std::fs::create_dir(d.join("env")).unwrap();
    std::fs::write(d.join("env/PATH"), format!("{}:/bin:/usr/bin\n", d.join("bin").display())).unwrap();
    expect(&ur("envdir", &["env", "hello-from-envdir"], d), 0, "hello kept\n", "");
    expect(&ur("chpst", &["-e", "env", "hello-from-envdir"], d), 0, "hello kept\n", "");
    std::fs::write(d.join("env/PATH"), "/nonexistent\n").unwrap();
    expect(&ur("chpst", &["-e", "env", "sh"], d), 111, "", "chpst: fatal: unable to run: sh: file does not exist\n");
}

// ---- -/, and a scratch root ----

/// A temp dir with `root/` holding static busybox at `busybox_at` and the given
/// etc/passwd and etc/group, or None (skipped) without busybox-static.
fn busybox_root(tag: &str, busybox_at: &str, passwd: &str, group: &str) -> Option<(TempDir, PathBuf)> {
    let bb = Path::new("/bin/busybox");
    if !bb.exists() {
        skip(&format!("busybox-static not installed: {tag} not tested"));
        return None;
    }
    let t = tmp(tag);
    let root = t.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join(busybox_at).parent().unwrap()).unwrap();
    copy_or_link(bb, &root.join(busybox_at));
    std::fs::write(root.join("etc/passwd"), passwd).unwrap();
    std::fs::write(root.join("etc/group"), group).unwrap();
    Some((t, root))
}

#[test]
fn chroot_and_lookups_inside_it() {
    // A user only this root knows: lookups happen after the chroot (runit's order).
    let Some((t, root)) =
        busybox_root("chpst-root", "bin/busybox", "rootonly:x:4321:4322::/:/bin/false\n", "rootgrp:x:4322:\nextra:x:4323:\n")
    else {
        return;
    };
    std::fs::write(root.join("marker"), "inside the new root\n").unwrap();
    let r = root.to_str().unwrap();
    let d = t.path();
    same_expect("chpst", &["-/", r, "/bin/busybox", "cat", "/marker"], d, 0, "inside the new root\n", "");
    same_expect(
        "chpst",
        &["-/", "root", "-u", "rootonly:rootgrp:extra", "/bin/busybox", "id"],
        d,
        0,
        "uid=4321(rootonly) gid=4322(rootgrp) groups=4322(rootgrp),4323(extra)\n",
        "",
    );
    same_expect("chpst", &["-/", r, "-U", "rootonly", "/bin/busybox", "sh", "-c", "echo $UID $GID"], d, 0, "4321 4322\n", "");
    same_expect("chpst", &["-/", r, "-u", "nobody", "true"], d, 111, "", "chpst: fatal: unknown user/group: nobody\n");
    same_expect("chpst", &["-/", r, "nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
    // The lock path is inside the new root too, opened as the new user.
    same_expect(
        "chpst",
        &["-/", r, "-u", "rootonly", "-l", "/etc/lk", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to open lock: /etc/lk: access denied\n",
    );
    same_expect(
        "chpst",
        &["-/", "/nonexistent", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to change directory: /nonexistent: file does not exist\n",
    );
    same_expect(
        "chpst",
        &["-/", "root/marker", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to change directory: root/marker: not a directory\n",
    );
    std::fs::remove_file(root.join("etc/passwd")).unwrap();
    same_expect(
        "chpst",
        &["-/", r, "-u", "rootonly", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to get password/group file entry: file does not exist\n",
    );
}

#[test]
fn scratch_root() {
    // A root holding only the static binary (and busybox to report the ids), plus
    // passwd/group: `chpst -u` works there without any name service.
    let passwd = "root:x:0:0::/:/busybox\napp:x:1234:2345::/:/busybox\n";
    let Some((t, root)) = busybox_root("chpst-scratch", "busybox", passwd, "root:x:0:\napp:x:2345:\nlogs:x:3456:app\n") else {
        return;
    };
    copy_or_link(&bin(), &root.join("urunit"));
    let chroot = |args: &[&str]| {
        let mut c = Command::new("/usr/sbin/chroot");
        c.arg(&root).args(args).env_clear().env("PATH", "/");
        run(c, 60)
    };
    expect(
        &chroot(&["/urunit", "chpst", "-u", "app", "/busybox", "id"]),
        0,
        "uid=1234(app) gid=2345(app) groups=2345(app)\n",
        "",
    );
    expect(
        &chroot(&["/urunit", "chpst", "-u", "app:logs:app", "/busybox", "id"]),
        0,
        "uid=1234(app) gid=3456(logs) groups=2345(app),3456(logs)\n",
        "",
    );
    expect(
        &chroot(&["/urunit", "chpst", "-U", "app", "/urunit", "chpst", "-u", "app", "/busybox", "sh", "-c", "echo $UID $GID"]),
        0,
        "1234 2345\n",
        "",
    );
    expect(
        &chroot(&["/urunit", "chpst", "-u", "nobody", "/busybox", "id"]),
        111,
        "",
        "chpst: fatal: unknown user/group: nobody\n",
    );
    // Through chpst's own -/ as well.
    let mut c = command(
        &bin(),
        "chpst",
        &["-/".into(), root.display().to_string(), "-u".into(), "app".into(), "/busybox".into(), "id".into()],
        t.path(),
    );
    c.env("PATH", "/");
    expect(&run(c, 60), 0, "uid=1234(app) gid=2345(app) groups=2345(app)\n", "");
    // Numeric ids need no files at all.
    std::fs::remove_dir_all(root.join("etc")).unwrap();
    expect(
        &chroot(&["/urunit", "chpst", "-u", ":1234:2345:3456", "/busybox", "id"]),
        0,
        "uid=1234 gid=2345 groups=2345,3456\n",
        "",
    );
    expect(
        &chroot(&["/urunit", "setuidgid", "app", "/busybox", "id"]),
        111,
        "",
        "chpst: fatal: unable to get password file entry: file does not exist\n",
    );
}

// ---- -n, -P, pgrphack ----

#[test]
fn nice_level() {
    let t = tmp("chpst-nice");
    let d = t.path();
    let base: i64 = stat_fields(&std::fs::read("/proc/self/stat").unwrap())[16].parse().unwrap();
    let nice = |stat: &[u8]| stat_fields(stat)[16].clone();
    for (arg, delta) in [("5", 5), ("+3", 3), ("-2", -2), ("-30", -30)] {
        let o = same_by("chpst", &["-n", arg, "cat", "/proc/self/stat"], d, nice);
        let got: i64 = nice(&o.stdout).parse().unwrap();
        assert_eq!(got, (base + delta).clamp(-20, 19), "-n {arg}");
    }
    // Beyond 64 bits urunit saturates (C runit wraps around, here to a negative value).
    for (arg, delta) in [("99999999999999999999999", 100), ("-99999999999999999999999", -100)] {
        let o = ur("chpst", &["-n", arg, "cat", "/proc/self/stat"], d);
        let got: i64 = nice(&o.stdout).parse().unwrap();
        assert_eq!(got, (base + delta).clamp(-20, 19), "-n {arg}");
    }
    same_expect("chpst", &["-n", "-", "sh", "-c", "echo ok"], d, 0, "ok\n", "");
}

#[test]
fn new_session() {
    let t = tmp("chpst-setsid");
    let d = t.path();
    for (name, args) in [("chpst", &["-P", "cat", "/proc/self/stat"][..]), ("pgrphack", &["cat", "/proc/self/stat"])] {
        let o = run_plain(command(&bin(), name, &expand(args, None), d));
        assert_eq!(o.status.code(), Some(0));
        let f = stat_fields(&o.stdout);
        let pid = text(&o.stdout).split(' ').next().unwrap().to_string();
        assert_eq!((&f[2], &f[3]), (&pid, &pid), "{name}: process group and session are the program's own");
    }
    // Without -P the program stays in the caller's session.
    let o = run_plain(command(&bin(), "chpst", &expand(&["cat", "/proc/self/stat"], None), d));
    let f = stat_fields(&o.stdout);
    let pid = text(&o.stdout).split(' ').next().unwrap().to_string();
    assert_ne!(f[3], pid);
    same_expect("pgrphack", &["nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
}

// ---- -l, -L, setlock ----

#[test]
fn locks() {
    let t = tmp("chpst-lock");
    let d = t.path();
    let lk = d.join("lk");
    let lks = lk.to_str().unwrap();

    // The program holds the lock (the fd crosses exec); the file is created 0600.
    let mut p = spawn_sleeper("chpst", &["-L", lks], d);
    assert_eq!(open_fds(p.pid()), [0, 1, 2, 3]);
    assert_eq!(std::fs::read_link(format!("/proc/{}/fd/3", p.pid())).unwrap(), lk);
    assert!(locked(&lk));
    assert_eq!(std::fs::metadata(&lk).unwrap().permissions().mode() & 0o777, 0o600);
    p.signal(libc::SIGKILL);
    p.wait_exit(30);
    assert!(!locked(&lk));
    drop(p);

    // Held by someone else: -L and setlock (default, -N) fail at once, -x silently.
    let held = hold_lock(&lk);
    let busy = format!("chpst: fatal: unable to lock: {lks}: temporary failure\n");
    same_expect("chpst", &["-L", lks, "true"], d, 111, "", &busy);
    same_expect("setlock", &[lks, "true"], d, 111, "", &busy);
    same_expect("setlock", &["-nN", lks, "true"], d, 111, "", &busy);
    same_expect("setlock", &["-x", lks, "true"], d, 0, "", "");
    same_expect("setlock", &["-xX", lks, "true"], d, 111, "", &busy);

    // -l and setlock -n wait for it.
    let mut waiters = Vec::new();
    for (name, args) in [("chpst", vec!["-l", lks]), ("setlock", vec!["-n", lks])] {
        let out = d.join(format!("{name}.out"));
        let mut a = args.clone();
        a.extend(["sh", "-c", "echo got > \"$0\"", out.to_str().unwrap()]);
        let mut c = command(&bin(), name, &expand(&a, None), d);
        c.stdin(Stdio::null());
        let p = Proc::spawn(c);
        let pid = p.pid();
        wait_until(60, "chpst waiting for the lock", || waiting_for_lock(pid));
        assert!(!out.exists());
        waiters.push((p, out));
    }
    drop(held);
    for (mut p, out) in waiters {
        assert!(p.wait_exit(60).success());
        assert_eq!(read(&out), b"got\n");
    }

    same_expect(
        "chpst",
        &["-l", "nodir/lk", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to open lock: nodir/lk: file does not exist\n",
    );
    same_expect(
        "setlock",
        &["nodir/lk", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to open lock: nodir/lk: file does not exist\n",
    );
    same_expect("setlock", &["-x", "nodir/lk", "true"], d, 0, "", "");
    same_expect("setlock", &["-x", lks, "nosuch"], d, 0, "", "");
    same_expect("setlock", &[lks, "nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
    std::fs::create_dir(d.join("private")).unwrap();
    std::fs::set_permissions(d.join("private"), std::fs::Permissions::from_mode(0o700)).unwrap();
    same_expect(
        "chpst",
        &["-u", "nobody", "-l", "private/lk", "true"],
        d,
        111,
        "",
        "chpst: fatal: unable to open lock: private/lk: access denied\n",
    );
}

// ---- -0, -1, -2 ----

#[test]
fn closed_fds() {
    let t = tmp("chpst-fds");
    let d = t.path();
    let p = spawn_sleeper("chpst", &[], d);
    assert_eq!(open_fds(p.pid()), [0, 1, 2], "only 0, 1 and 2 reach the program");
    drop(p);
    let p = spawn_sleeper("chpst", &["-0", "-2"], d);
    assert_eq!(open_fds(p.pid()), [1]);
    drop(p);
    let p = spawn_sleeper("chpst", &["-012"], d);
    assert_eq!(open_fds(p.pid()), [] as [u32; 0]);
    drop(p);
    same_expect("chpst", &["-1", "sh", "-c", "echo err >&2"], d, 0, "", "err\n");
}

// ---- limits ----

#[test]
fn limits() {
    let t = tmp("chpst-limits");
    let d = t.path();
    let lim = |name: &str, args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["cat", "/proc/self/limits"]);
        let o = same(name, &a, d);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        o.stdout
    };
    let o = lim(
        "chpst",
        &["-m", "300000000", "-d", "200000000", "-o", "100", "-p", "50", "-f", "3000", "-c", "0", "-r", "4000000", "-t", "7"],
    );
    for (row, v) in [
        ("Max data size", "200000000"),
        ("Max stack size", "300000000"),
        ("Max locked memory", "300000000"),
        ("Max address space", "300000000"),
        ("Max open files", "100"),
        ("Max processes", "50"),
        ("Max file size", "3000"),
        ("Max core file size", "0"),
        ("Max resident set", "4000000"),
        ("Max cpu time", "7"),
    ] {
        assert_eq!(soft_limit(&o, row), v.min_limit(row), "{row}");
    }
    let o = lim(
        "softlimit",
        &[
            "-a",
            "300000000",
            "-c",
            "1",
            "-d",
            "200000000",
            "-f",
            "3000",
            "-l",
            "4096",
            "-o",
            "33",
            "-p",
            "44",
            "-r",
            "55555",
            "-s",
            "666666",
            "-t",
            "8",
        ],
    );
    for (row, v) in [
        ("Max address space", "300000000"),
        ("Max core file size", "1"),
        ("Max data size", "200000000"),
        ("Max file size", "3000"),
        ("Max locked memory", "4096"),
        ("Max open files", "33"),
        ("Max processes", "44"),
        ("Max resident set", "55555"),
        ("Max stack size", "666666"),
        ("Max cpu time", "8"),
    ] {
        assert_eq!(soft_limit(&o, row), v.min_limit(row), "{row}");
    }
    let o = lim("softlimit", &["-m", "300000000", "-d", "200000000"]);
    assert_eq!((soft_limit(&o, "Max data size"), soft_limit(&o, "Max stack size")), ("200000000".into(), "300000000".into()));
    // Above the hard limit (or "=" for softlimit): the hard limit, silently.
    let hard = hard_limit("Max open files");
    assert_eq!(soft_limit(&lim("chpst", &["-o", "999999999"]), "Max open files"), hard);
    assert_eq!(soft_limit(&lim("chpst", &["-o", "99999999999999999999999"]), "Max open files"), hard);
    assert_eq!(soft_limit(&lim("softlimit", &["-o", "="]), "Max open files"), hard);
    // Far beyond 64 bits: urunit saturates to the hard limit (C runit wraps to 0 here).
    expect(&ur("chpst", &["-o", "18446744073709551616", "sh", "-c", "ulimit -n"], d), 0, &format!("{hard}\n"), "");
    // A limit so low that malloc fails still runs the program or reports why not.
    same_expect(
        "softlimit",
        &["-d", "1", "/nonexistent"],
        d,
        111,
        "",
        "chpst: fatal: unable to run: /nonexistent: file does not exist\n",
    );
    // Limits are set after the user change, and apply to the program.
    same_expect("chpst", &["-u", "nobody", "-o", "5", "sh", "-c", "id -u; ulimit -n"], d, 0, "65534\n5\n", "");
}

trait MinLimit {
    fn min_limit(&self, row: &str) -> String;
}
impl MinLimit for &str {
    /// The value, or the hard limit if that is lower (a soft limit never exceeds it).
    fn min_limit(&self, row: &str) -> String {
        let hard = hard_limit(row);
        match hard.parse::<u64>() {
            Ok(h) if h < self.parse::<u64>().unwrap() => hard,
            _ => self.to_string(),
        }
    }
}

// ---- exec ----

#[test]
fn exec_and_argv0() {
    let t = tmp("chpst-exec");
    let d = t.path();
    std::fs::write(d.join("noexec"), "#!/bin/sh\n").unwrap();
    script(d.join("noshebang"), "echo hi\n");
    same_expect("chpst", &["nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
    same_expect("chpst", &["-b", "shown", "nosuch"], d, 111, "", "chpst: fatal: unable to run: shown: file does not exist\n");
    same_expect("chpst", &["./noexec"], d, 111, "", "chpst: fatal: unable to run: ./noexec: access denied\n");
    same_expect("chpst", &["./noshebang"], d, 111, "", "chpst: fatal: unable to run: ./noshebang: exec format error\n");
    same_expect("chpst", &["/"], d, 111, "", "chpst: fatal: unable to run: /: access denied\n");
    same_expect("setuidgid", &["nobody", "nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
    same_expect("envuidgid", &["nobody", "nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
    same_expect("envdir", &[".", "nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
    same_expect("softlimit", &["-o", "50", "nosuch"], d, 111, "", "chpst: fatal: unable to run: nosuch: file does not exist\n");
    // -b sets argv[0]; the file is still found by the original name; arguments pass unchanged.
    same_expect("chpst", &["-b", "myname", "cat", "/proc/self/cmdline"], d, 0, "myname\0/proc/self/cmdline\0", "");
    same_expect("chpst", &["sh", "-c", "exit 7"], d, 7, "", "");
}

#[test]
fn through_real_links() {
    // The names installed by `urunit --install` (real symlinks), and all options at once
    // in runit's order: envdir, then user, then lock as that user, then limits.
    let t = tmp("chpst-links");
    let d = t.path();
    make_envdir(&d.join("env"));
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let links = bindir();
    let c = |name: &str, args: &[&str]| {
        let mut c = Command::new(links.join(name));
        c.args(args).current_dir(d).env_clear().env("PATH", PATH);
        only_std_fds(&mut c);
        run(c, 60)
    };
    expect(
        &c("chpst", &["-e", "env", "-u", "nobody", "-L", "lk", "-o", "9", "sh", "-c", "echo $A $NONL; id -u; ulimit -n"]),
        0,
        "val nonl\n65534\n9\n",
        "",
    );
    assert_eq!(std::fs::metadata(d.join("lk")).map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap(), 65534);
    expect(&c("envdir", &["env", "sh", "-c", "echo $NONL"]), 0, "nonl\n", "");
    expect(&c("setuidgid", &["daemon", "id", "-u"]), 0, "1\n", "");
    expect(&c("envuidgid", &["daemon", "sh", "-c", "echo $UID"]), 0, "1\n", "");
    expect(&c("softlimit", &["-o", "11", "sh", "-c", "ulimit -n"]), 0, "11\n", "");
    expect(&c("setlock", &["lk2", "sh", "-c", "echo locked"]), 0, "locked\n", "");
    expect(&c("pgrphack", &["sh", "-c", "echo ok"]), 0, "ok\n", "");
    expect(&c("envdir", &[]), 100, "", "usage: envdir dir child\n\n");
}
