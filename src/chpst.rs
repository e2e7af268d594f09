//! chpst: runs a program with a changed process state (ids, environment, root, nice,
//! lock, closed fds, limits), and runit's daemontools emulations envdir, envuidgid,
//! pgrphack, setlock, setuidgid and softlimit, chosen by the basename of argv[0].
//! Users and groups come from /etc/passwd and /etc/group read directly (no NSS).
use crate::msg::{self, CBuf};
use crate::num;
use crate::opt::{Getopt, Got};
use crate::sys::{cred, fd, fs, proc, Errno};
use crate::Args;
use alloc::vec::Vec;

const EXIT_FATAL: i32 = 111;
const EXIT_USAGE: i32 = 100;
/// Every program here speaks as chpst (runit's FATAL/WARNING "chpst: ").
const PROG: &[u8] = b"chpst: ";
// Debian's runit 2.1.2 text (upstream's omits -V and -t); the interop tests compare it.
const USAGE_MAIN: &[u8] = b" [-vVP012] [-u user[:group]] [-U user[:group]] [-b argv0] [-e dir] [-/ root] [-n nice] [-l|-L lock] [-m n] [-d n] [-o n] [-p n] [-f n] [-c n] [-t n] prog";
const USAGE_ACCOUNT: &[u8] = b" account child";
const USAGE_ENVDIR: &[u8] = b" dir child";
const USAGE_PGRPHACK: &[u8] = b" child";
const USAGE_SETLOCK: &[u8] = b" [ -nNxX ] file program [ arg ... ]";
const USAGE_SOFTLIMIT: &[u8] = b" [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child";
const VERSION: &[u8] = b"$Id: f279d44141c981dd7535a12260efcf1ef7beed26 $\n";
const OPTS_MAIN: &[u8] = b"u:U:b:e:m:d:o:p:f:c:r:t:/:n:l:L:vP012V";

/// runit uidgid.h: at most 60 groups are taken from `user:g1:g2...`.
const MAX_GROUPS: usize = 60;
/// An envdir entry that is not a regular file (a device, a FIFO) is read up to this
/// much without finding a newline; C runit would read /dev/zero forever.
const MAX_ODD_FILE: usize = 1 << 20;
/// read_env_file's "no newline within MAX_ODD_FILE bytes" (not an errno).
const TOO_BIG: Errno = Errno(-1);

/// The limits chpst and softlimit set, in runit's order (slimit()).
const LIMITS: [cred::Resource; 10] = [
    cred::RLIMIT_DATA,
    cred::RLIMIT_STACK,
    cred::RLIMIT_MEMLOCK,
    cred::RLIMIT_AS,
    cred::RLIMIT_NOFILE,
    cred::RLIMIT_NPROC,
    cred::RLIMIT_FSIZE,
    cred::RLIMIT_CORE,
    cred::RLIMIT_RSS,
    cred::RLIMIT_CPU,
];
const L_DATA: usize = 0;
const L_STACK: usize = 1;
const L_MEMLOCK: usize = 2;
const L_AS: usize = 3;
const L_NOFILE: usize = 4;
const L_NPROC: usize = 5;
const L_FSIZE: usize = 6;
const L_CORE: usize = 7;
const L_RSS: usize = 8;
const L_CPU: usize = 9;
/// A requested soft limit; `u64::MAX` ("=" in softlimit, or too large) means the hard limit.
type Limits = [Option<u64>; 10];

pub fn main(args: Args) -> i32 {
    msg::set_prog(&PROG);
    let name = msg::basename(args.first().copied().unwrap_or(b"chpst"));
    match name {
        b"setuidgid" => setuidgid(&args, name),
        b"envuidgid" => envuidgid(&args, name),
        b"envdir" => envdir(&args, name),
        b"pgrphack" => pgrphack(&args, name),
        b"setlock" => setlock(&args, name),
        b"softlimit" => softlimit(&args, name),
        _ => chpst(&args, name),
    }
}

/// `chpst: fatal: PARTS[: REASON]`, exit 111.
fn die(parts: &[&[u8]], e: Option<Errno>) -> ! {
    msg::fatal(EXIT_FATAL, parts, e)
}

/// runit's `optarg[scan_ulong(optarg, &ul)]` check: digits only ("" is 0). A number too
/// large for 64 bits saturates (C runit wraps it around, so `-o 18446744073709551616`
/// would set 0 there).
fn parse_num(s: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add((b - b'0') as u64);
    }
    Some(n)
}

/// `-n inc`: `N`, `+N` or `-N`.
fn parse_nice(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = parse_num(digits)?.min(i64::MAX as u64) as i64;
    Some(if neg { -n } else { n })
}

// ---- Users and groups from /etc/passwd and /etc/group ----

/// A uid and its groups; `gids[0]` is the primary gid, all of them the supplementary list.
#[derive(PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
struct Ids {
    uid: u32,
    gids: Vec<u32>,
}

/// Why a `user[:group...]` argument did not resolve.
enum LookupErr {
    /// No such user or group (or, numeric form, bad syntax).
    Unknown,
    /// /etc/passwd or /etc/group could not be read.
    Sys(Errno),
}

/// A decimal id field (digits only, fits in 32 bits).
fn parse_id(s: &[u8]) -> Option<u32> {
    num::parse_u64(s).and_then(|n| u32::try_from(n).ok())
}

/// The `:`-separated fields of the line in `db` whose first field is `name` and that
/// has at least `min` fields and numeric ids in the fields numbered `ids` (musl's parsing).
fn db_find<'a>(db: &'a [u8], name: &[u8], min: usize, ids: &[usize]) -> Option<Vec<&'a [u8]>> {
    if name.is_empty() {
        return None;
    }
    db.split(|&b| b == b'\n').find_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        let ok = f.len() >= min && f[0] == name && ids.iter().all(|&i| parse_id(f[i]).is_some());
        ok.then_some(f)
    })
}

/// getpwnam: (uid, gid) of `name` in passwd text `name:pw:uid:gid:gecos:dir:shell`.
fn passwd_find(db: &[u8], name: &[u8]) -> Option<(u32, u32)> {
    let f = db_find(db, name, 7, &[2, 3])?;
    Some((parse_id(f[2])?, parse_id(f[3])?))
}

/// getgrnam: the gid of `name` in group text `name:pw:gid:members`.
#[inline(never)]
fn group_find(db: &[u8], name: &[u8]) -> Option<u32> {
    parse_id(db_find(db, name, 4, &[2])?[2])
}

fn read_db(path: &core::ffi::CStr) -> Result<Vec<u8>, LookupErr> {
    fd::read_file(path).map_err(LookupErr::Sys)
}

/// runit's uidgid_get (setuidgid, envuidgid): a user name only; its primary gid is
/// the only group.
fn account_ids(user: &[u8]) -> Result<Ids, LookupErr> {
    let pw = read_db(c"/etc/passwd")?;
    let (uid, gid) = passwd_find(&pw, user).ok_or(LookupErr::Unknown)?;
    Ok(Ids { uid, gids: alloc::vec![gid] })
}

/// runit's uidgids_set: `uid:gid[:gid...]` with no lookups; each gid is leading digits
/// (empty means 0), and anything else left over makes it invalid.
fn numeric_ids(s: &[u8]) -> Option<Ids> {
    let (uid, n) = num::scan_u64(s)?;
    let mut rest = s.get(n..)?.strip_prefix(b":")?;
    let mut gids = Vec::new();
    loop {
        let (gid, n) = num::scan_u64(rest)?;
        gids.push(u32::try_from(gid).ok()?);
        rest = &rest[n..];
        match rest.strip_prefix(b":") {
            Some(r) => rest = r,
            None => break,
        }
        if gids.len() == MAX_GROUPS {
            break;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    Some(Ids { uid: u32::try_from(uid).ok()?, gids })
}

/// runit's uidgids_get: `:uid:gid...`, `user` (its primary group only: no initgroups),
/// or `user:group[:group...]` (the first group is the primary one).
fn user_group_ids(arg: &[u8]) -> Result<Ids, LookupErr> {
    if let Some(num) = arg.strip_prefix(b":") {
        return numeric_ids(num).ok_or(LookupErr::Unknown);
    }
    let mut parts = arg.splitn(2, |&b| b == b':');
    let user = parts.next().unwrap_or(b"");
    let groups = parts.next();
    let pw = read_db(c"/etc/passwd")?;
    let (uid, gid) = passwd_find(&pw, user).ok_or(LookupErr::Unknown)?;
    let Some(groups) = groups else { return Ok(Ids { uid, gids: alloc::vec![gid] }) };
    let gr = read_db(c"/etc/group")?;
    let mut gids = Vec::new();
    for g in groups.split(|&b| b == b':').take(MAX_GROUPS) {
        gids.push(group_find(&gr, g).ok_or(LookupErr::Unknown)?);
    }
    Ok(Ids { uid, gids })
}

/// Resolves `-u`/`-U`'s argument (`ext`) or an alias's account, dying with runit's
/// message when that fails.
fn resolve(arg: &[u8], ext: bool) -> Ids {
    let r = if ext { user_group_ids(arg) } else { account_ids(arg) };
    match r {
        Ok(ids) => ids,
        Err(_) if ext && arg.first() == Some(&b':') => die(&[b"invalid uid/gids: ", &arg[1..]], None),
        Err(LookupErr::Sys(e)) if ext => die(&[b"unable to get password/group file entry"], Some(e)),
        Err(LookupErr::Sys(e)) => die(&[b"unable to get password file entry"], Some(e)),
        Err(LookupErr::Unknown) if ext => die(&[b"unknown user/group: ", arg], None),
        Err(LookupErr::Unknown) => die(&[b"unknown account: ", arg], None),
    }
}

/// Drops privileges in the safe order: supplementary groups, gid, then uid.
/// Any failure is fatal: the program never runs with the old ids.
fn set_ids(arg: &[u8], ext: bool) {
    let ids = resolve(arg, ext);
    cred::setgroups(&ids.gids).unwrap_or_else(|e| die(&[b"unable to setgroups"], Some(e)));
    cred::setgid(ids.gids[0]).unwrap_or_else(|e| die(&[b"unable to setgid"], Some(e)));
    cred::setuid(ids.uid).unwrap_or_else(|e| die(&[b"unable to setuid"], Some(e)));
}

/// `-U` / envuidgid: GID= the first gid, UID= the uid.
fn env_ids(arg: &[u8], ext: bool, env: &mut Vec<Vec<u8>>) {
    let ids = resolve(arg, ext);
    let mut b = [0u8; 20];
    env.push([b"GID=", num::fmt_u64(&mut b, ids.gids[0] as u64)].concat());
    env.push([b"UID=", num::fmt_u64(&mut b, ids.uid as u64)].concat());
}

// ---- The environment ----

/// The value an envdir file sets: its first line without trailing blanks, NULs turned
/// into newlines. `None` (unset) for an empty file.
#[inline(never)]
fn env_value(content: &[u8]) -> Option<Vec<u8>> {
    if content.is_empty() {
        return None;
    }
    let mut line = content.split(|&b| b == b'\n').next().unwrap_or(b"");
    while let Some(l) = line.strip_suffix(b" ").or_else(|| line.strip_suffix(b"\t")) {
        line = l;
    }
    Some(line.iter().map(|&b| if b == 0 { b'\n' } else { b }).collect())
}

/// Reads up to the first newline of an envdir file (the rest is never used). Opened
/// non-blocking as runit does, so a FIFO without a writer reads as empty. `Ok(None)`
/// if the file does not exist (a dangling symlink: unset).
#[inline(never)]
fn read_env_file(name: &CBuf) -> Result<Option<Vec<u8>>, Errno> {
    let f = match fd::open_read_nb(name) {
        Ok(f) => f,
        Err(e) if e == Errno::NOENT => return Ok(None),
        Err(e) => return Err(e),
    };
    let regular = fs::fstat(f.raw()).map(|st| st.is_reg()).unwrap_or(false);
    let mut v = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = fd::read(f.raw(), &mut buf)?;
        if n == 0 {
            return Ok(Some(v));
        }
        v.extend_from_slice(&buf[..n]);
        if buf[..n].contains(&b'\n') {
            return Ok(Some(v));
        }
        if !regular && v.len() > MAX_ODD_FILE {
            return Err(TOO_BIG);
        }
    }
}

/// runit's edir: every file of `dir` not starting with `.` sets (first line) or
/// unsets (empty file) the variable named like it. A subdirectory is skipped by
/// `chpst -e` (a warning with -v) and fatal for envdir (`skip_dirs` false).
fn read_envdir(dir: &[u8], skip_dirs: bool, verbose: bool, env: &mut Vec<Vec<u8>>) {
    let wdir = fd::open_dir_path(c".").unwrap_or_else(|e| die(&[b"unable to open current working directory"], Some(e)));
    fs::chdir(&CBuf::new(&[dir])).unwrap_or_else(|e| die(&[b"unable to switch to directory: ", dir], Some(e)));
    let dfd = fd::open_read(c".").unwrap_or_else(|e| die(&[b"unable to open directory: ", dir], Some(e)));
    let entries = fs::read_dir_fd(dfd.raw()).unwrap_or_else(|e| die(&[b"unable to read directory: ", dir], Some(e)));
    drop(dfd);
    for ent in entries.iter().filter(|d| d.name.first() != Some(&b'.')) {
        let name = &ent.name[..];
        let content = match read_env_file(&CBuf::new(&[name])) {
            Ok(c) => c,
            Err(e) if e == Errno::ISDIR && skip_dirs => {
                if verbose {
                    msg::warning(&[b"unable to read ", dir, b"/", name], Some(e));
                }
                continue;
            }
            Err(e) if e == TOO_BIG => die(&[b"unable to read ", dir, b"/", name, b": file too big"], None),
            Err(e) => die(&[b"unable to read ", dir, b"/", name], Some(e)),
        };
        match content.and_then(|c| env_value(&c)) {
            Some(v) => env.push([name, b"=", &v].concat()),
            None => env.push(name.to_vec()),
        }
    }
    fs::fchdir(wdir.raw()).unwrap_or_else(|e| die(&[b"unable to switch to starting directory"], Some(e)));
}

/// runit's pathexec_env_run: each change `NAME=value` (set) or `NAME` (unset) first
/// removes the first `NAME=` entry (the last entry takes its place), then a set is
/// appended. The process's own environ is never modified.
fn build_env<'a>(base: Vec<&'a [u8]>, changes: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
    let mut e = base;
    for c in changes {
        let split = c.iter().position(|&b| b == b'=').unwrap_or(c.len());
        let name = &c[..split];
        if let Some(t) = e.iter().position(|v| v.len() > split && v.starts_with(name) && v[split] == b'=') {
            e.swap_remove(t);
        }
        if split < c.len() {
            e.push(c);
        }
    }
    e
}

/// A program to exec, with argv and envp built beforehand: after the limits are
/// set, malloc may fail.
struct Exec<'a> {
    file: &'a [u8],
    argv0: &'a [u8],
    argv: proc::CVec,
    envp: proc::CVec,
}

impl<'a> Exec<'a> {
    fn new(file: &'a [u8], argv: &[&'a [u8]], env: &[Vec<u8>]) -> Exec<'a> {
        let envp = proc::CVec::new(build_env(proc::env_vars(), env));
        Exec { file, argv0: argv[0], argv: proc::CVec::new(argv.iter().copied()), envp }
    }

    /// Execs the program (PATH lookup in the new environment, runit's pathexec
    /// rules); dies with `unable to run: ARGV0: REASON`, or exits 0 if `quiet`
    /// (setlock -x). `limits` are lifted again first, so that message can be written.
    fn run(self, quiet: bool, limits: &Limits) -> ! {
        let e = proc::execvp(self.file, &self.argv, &proc::Env::Built(&self.envp));
        if quiet {
            proc::exit(0);
        }
        for (&res, _) in LIMITS.iter().zip(limits).filter(|(_, l)| l.is_some()) {
            if let Ok((_, hard)) = cred::getrlimit(res) {
                let _ = cred::setrlimit(res, hard, hard);
            }
        }
        die(&[b"unable to run: ", self.argv0], Some(e))
    }
}

/// The aliases' exec: the child's argv as given, no limits.
fn exec(child: &[&[u8]], env: &[Vec<u8>], quiet: bool) -> ! {
    Exec::new(child[0], child, env).run(quiet, &[None; 10])
}

// ---- Locks, descriptors, limits ----

/// runit's slock: open (create 0600, append) and flock exclusively, waiting or not.
/// The descriptor crosses exec so the program holds the lock. With `quiet`
/// (setlock -x) a failure exits 0 silently.
fn lock(file: &[u8], wait: bool, quiet: bool) {
    let fail = |what: &[u8], e: Errno| -> ! {
        if quiet {
            proc::exit(0);
        }
        die(&[what, b": ", file], Some(e))
    };
    let f = fd::open_append(&CBuf::new(&[file])).unwrap_or_else(|e| fail(b"unable to open lock", e));
    let op = if wait { fd::LOCK_EX } else { fd::LOCK_EX | fd::LOCK_NB };
    fd::flock(f.raw(), op).unwrap_or_else(|e| fail(b"unable to lock", e));
    fd::set_cloexec(f.raw(), false).unwrap_or_else(|e| fail(b"unable to lock", e));
    let _ = f.into_raw();
}

/// Sets the soft limits asked for (never above the hard limit; hard limits stay).
fn set_limits(limits: &Limits) {
    for (&res, want) in LIMITS.iter().zip(limits) {
        let Some(want) = *want else { continue };
        let (_, hard) = cred::getrlimit(res).unwrap_or_else(|e| die(&[b"unable to getrlimit()"], Some(e)));
        cred::setrlimit(res, want.min(hard), hard).unwrap_or_else(|e| die(&[b"unable to setrlimit()"], Some(e)));
    }
}

// ---- chpst ----

#[derive(Default)]
struct Opts {
    set_user: Option<&'static [u8]>,
    env_user: Option<&'static [u8]>,
    argv0: Option<&'static [u8]>,
    env_dir: Option<&'static [u8]>,
    root: Option<&'static [u8]>,
    lock: Option<(&'static [u8], bool)>,
    nice: i64,
    verbose: bool,
    pgrp: bool,
    close: [bool; 3],
    limits: Limits,
}

fn chpst(args: &[&'static [u8]], name: &[u8]) -> ! {
    let usage = || -> ! { msg::usage(EXIT_USAGE, name, USAGE_MAIN) };
    let num = |a: &[u8]| parse_num(a).unwrap_or_else(|| usage());
    let mut o = Opts::default();
    let mut g = Getopt::new(args);
    loop {
        let (c, arg) = match g.next(OPTS_MAIN) {
            Got::Done => break,
            Got::Bad => usage(),
            Got::Opt(c, arg) => (c, arg),
        };
        match c {
            b'u' => o.set_user = Some(arg),
            b'U' => o.env_user = Some(arg),
            b'b' => o.argv0 = Some(arg),
            b'e' => o.env_dir = Some(arg),
            b'/' => o.root = Some(arg),
            b'm' => {
                let n = num(arg);
                for i in [L_DATA, L_STACK, L_MEMLOCK, L_AS] {
                    o.limits[i] = Some(n);
                }
            }
            b'd' => o.limits[L_DATA] = Some(num(arg)),
            b'o' => o.limits[L_NOFILE] = Some(num(arg)),
            b'p' => o.limits[L_NPROC] = Some(num(arg)),
            b'f' => o.limits[L_FSIZE] = Some(num(arg)),
            b'c' => o.limits[L_CORE] = Some(num(arg)),
            b'r' => o.limits[L_RSS] = Some(num(arg)),
            b't' => o.limits[L_CPU] = Some(num(arg)),
            b'n' => o.nice = parse_nice(arg).unwrap_or_else(|| usage()),
            b'l' | b'L' if o.lock.is_some() => usage(),
            b'l' | b'L' => o.lock = Some((arg, c == b'l')),
            b'v' => o.verbose = true,
            b'P' => o.pgrp = true,
            b'0' | b'1' | b'2' => o.close[(c - b'0') as usize] = true,
            b'V' => {
                msg::write_parts(fd::STDERR, &[VERSION]);
                usage()
            }
            _ => usage(),
        }
    }
    let argv = g.rest();
    if argv.is_empty() {
        usage();
    }

    // runit's order of operations (chpst.c main()).
    if o.pgrp {
        let _ = proc::setsid();
    }
    let mut env = Vec::new();
    if let Some(dir) = o.env_dir {
        read_envdir(dir, true, o.verbose, &mut env);
    }
    if let Some(root) = o.root {
        fs::chdir(&CBuf::new(&[root])).unwrap_or_else(|e| die(&[b"unable to change directory: ", root], Some(e)));
        fs::chroot(c".").unwrap_or_else(|e| die(&[b"unable to change root directory"], Some(e)));
    }
    if o.nice != 0 {
        cred::nice(o.nice).unwrap_or_else(|e| die(&[b"unable to set nice level"], Some(e)));
    }
    if let Some(u) = o.env_user {
        env_ids(u, true, &mut env);
    }
    if let Some(u) = o.set_user {
        set_ids(u, true);
    }
    if let Some((file, wait)) = o.lock {
        lock(file, wait, false);
    }
    for (i, what) in [&b"stdin"[..], b"stdout", b"stderr"].iter().enumerate() {
        if o.close[i] {
            fd::close_raw(i as fd::RawFd).unwrap_or_else(|e| die(&[b"unable to close ", what], Some(e)));
        }
    }
    let mut av: Vec<&[u8]> = argv.to_vec();
    if let Some(a0) = o.argv0 {
        av[0] = a0;
    }
    let prog = Exec::new(argv[0], &av, &env);
    set_limits(&o.limits);
    prog.run(false, &o.limits)
}

// ---- The daemontools emulations ----

/// `NAME ARG child...`: the argument and the child's argv, or the alias's usage.
fn arg_and_child<'a>(args: &'a [&'static [u8]], name: &[u8], usage: &[u8]) -> (&'static [u8], &'a [&'static [u8]]) {
    match args {
        [_, arg, child @ ..] if !child.is_empty() => (arg, child),
        _ => msg::usage(EXIT_USAGE, name, usage),
    }
}

fn setuidgid(args: &[&'static [u8]], name: &[u8]) -> ! {
    let (account, child) = arg_and_child(args, name, USAGE_ACCOUNT);
    set_ids(account, false);
    exec(child, &[], false)
}

fn envuidgid(args: &[&'static [u8]], name: &[u8]) -> ! {
    let (account, child) = arg_and_child(args, name, USAGE_ACCOUNT);
    let mut env = Vec::new();
    env_ids(account, false, &mut env);
    exec(child, &env, false)
}

fn envdir(args: &[&'static [u8]], name: &[u8]) -> ! {
    let (dir, child) = arg_and_child(args, name, USAGE_ENVDIR);
    let mut env = Vec::new();
    read_envdir(dir, false, false, &mut env);
    exec(child, &env, false)
}

fn pgrphack(args: &[&'static [u8]], name: &[u8]) -> ! {
    let Some(child) = args.get(1..).filter(|c| !c.is_empty()) else { msg::usage(EXIT_USAGE, name, USAGE_PGRPHACK) };
    let _ = proc::setsid();
    exec(child, &[], false)
}

/// setlock as C runit has it: the default does NOT wait (`-N`), `-n` waits — the
/// reverse of daemontools' setlock. `-x`: exit 0 silently if the lock or exec fails.
fn setlock(args: &[&'static [u8]], name: &[u8]) -> ! {
    let usage = || -> ! { msg::usage(EXIT_USAGE, name, USAGE_SETLOCK) };
    let (mut wait, mut quiet) = (false, false);
    let mut g = Getopt::new(args);
    loop {
        match g.next(b"nNxX") {
            Got::Done => break,
            Got::Opt(b'n', _) => wait = true,
            Got::Opt(b'N', _) => wait = false,
            Got::Opt(b'x', _) => quiet = true,
            Got::Opt(b'X', _) => quiet = false,
            _ => usage(),
        }
    }
    let [file, child @ ..] = g.rest() else { usage() };
    if child.is_empty() {
        usage();
    }
    lock(file, wait, quiet);
    exec(child, &[], quiet)
}

fn softlimit(args: &[&'static [u8]], name: &[u8]) -> ! {
    // A bad number prints chpst's usage, not softlimit's (runit's getlarg()).
    let value = |a: &[u8]| if a == b"=" { u64::MAX } else { parse_num(a).unwrap_or_else(|| msg::usage(EXIT_USAGE, name, USAGE_MAIN)) };
    let mut limits: Limits = [None; 10];
    let mut g = Getopt::new(args);
    loop {
        let (c, arg) = match g.next(b"a:c:d:f:l:m:o:p:r:s:t:") {
            Got::Done => break,
            Got::Bad => msg::usage(EXIT_USAGE, name, USAGE_SOFTLIMIT),
            Got::Opt(c, arg) => (c, arg),
        };
        let v = Some(value(arg));
        let slots: &[usize] = match c {
            b'a' => &[L_AS],
            b'c' => &[L_CORE],
            b'd' => &[L_DATA],
            b'f' => &[L_FSIZE],
            b'l' => &[L_MEMLOCK],
            b'm' => &[L_DATA, L_STACK, L_MEMLOCK, L_AS],
            b'o' => &[L_NOFILE],
            b'p' => &[L_NPROC],
            b'r' => &[L_RSS],
            b's' => &[L_STACK],
            _ => &[L_CPU],
        };
        for &i in slots {
            limits[i] = v;
        }
    }
    let child = g.rest();
    if child.is_empty() {
        msg::usage(EXIT_USAGE, name, USAGE_SOFTLIMIT);
    }
    let prog = Exec::new(child[0], child, &[]);
    set_limits(&limits);
    prog.run(false, &limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nbad:x:1\nnobody:x:65534:65534:nobody:/:/bin/false\nweird:x:1x:2:::\nshort:x:5:5\n";
    const GR: &[u8] = b"root:x:0:\nnogroup:x:65534:\ndaemon:x:1:a,b\nbroken:x:\n";

    #[test]
    fn passwd() {
        assert_eq!(passwd_find(PW, b"root"), Some((0, 0)));
        assert_eq!(passwd_find(PW, b"nobody"), Some((65534, 65534)));
        assert_eq!(passwd_find(PW, b"bad"), None);
        assert_eq!(passwd_find(PW, b"weird"), None);
        assert_eq!(passwd_find(PW, b"short"), None);
        assert_eq!(passwd_find(PW, b""), None);
        assert_eq!(passwd_find(PW, b"nob"), None);
        assert_eq!(group_find(GR, b"daemon"), Some(1));
        assert_eq!(group_find(GR, b"broken"), None);
        assert_eq!(group_find(GR, b"nosuch"), None);
    }

    #[test]
    fn numeric() {
        let ids = |uid, g: &[u32]| Some(Ids { uid, gids: g.to_vec() });
        assert_eq!(numeric_ids(b"65534:65534:1:2"), ids(65534, &[65534, 1, 2]));
        assert_eq!(numeric_ids(b"5:"), ids(5, &[0]));
        assert_eq!(numeric_ids(b"5:6:"), ids(5, &[6, 0]));
        assert_eq!(numeric_ids(b":"), ids(0, &[0]));
        assert_eq!(numeric_ids(b"5"), None);
        assert_eq!(numeric_ids(b""), None);
        assert_eq!(numeric_ids(b"abc"), None);
        assert_eq!(numeric_ids(b"1:2x"), None);
        assert_eq!(numeric_ids(b"4294967296:1"), None);
        let sixty: Vec<u8> = (0..60).map(|_| &b":7"[..]).collect::<Vec<_>>().concat();
        assert_eq!(numeric_ids(&[&b"1"[..], &sixty].concat()).map(|i| i.gids.len()), Some(60));
        assert_eq!(numeric_ids(&[&b"1"[..], &sixty, b":7"].concat()), None);
        assert_eq!(numeric_ids(&[&b"1"[..], &sixty, b":"].concat()).map(|i| i.gids.len()), Some(60));
    }

    #[test]
    fn values() {
        assert_eq!(env_value(b"val  \t\nsecond"), Some(b"val".to_vec()));
        assert_eq!(env_value(b"   \n"), Some(b"".to_vec()));
        assert_eq!(env_value(b"\n"), Some(b"".to_vec()));
        assert_eq!(env_value(b"nonl"), Some(b"nonl".to_vec()));
        assert_eq!(env_value(b"x\0y\n"), Some(b"x\ny".to_vec()));
        assert_eq!(env_value(b" a \t "), Some(b" a".to_vec()));
        assert_eq!(env_value(b""), None);
    }

    #[test]
    fn env_changes() {
        let base: Vec<&[u8]> = alloc::vec![b"A=1", b"B=2", b"C=3", b"A=dup"];
        let ch = alloc::vec![b"A=x".to_vec(), b"C".to_vec(), b"Z".to_vec(), b"B=y=z".to_vec()];
        let e = build_env(base, &ch);
        assert_eq!(e, alloc::vec![&b"A=dup"[..], b"A=x", b"B=y=z"]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num(b""), Some(0));
        assert_eq!(parse_num(b"12"), Some(12));
        assert_eq!(parse_num(b"5x"), None);
        assert_eq!(parse_num(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_nice(b"-3"), Some(-3));
        assert_eq!(parse_nice(b"+3"), Some(3));
        assert_eq!(parse_nice(b"-"), Some(0));
        assert_eq!(parse_nice(b"+-3"), None);
    }
}
