//! chpst: runs a program with a changed process state (ids, environment, root, nice,
//! lock, closed fds, limits), and runit's daemontools emulations envdir, envuidgid,
//! pgrphack, setlock, setuidgid and softlimit, chosen by the basename of argv[0].
//! Users and groups come from /etc/passwd and /etc/group read directly (no NSS).
use crate::Args;
use crate::msg::{self, CBuf};
use crate::num;
use crate::opt::{Getopt, Got};
use crate::sys::{Errno, cred, fd, fs, proc};
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
/// softlimit's limit options; chpst's (`-m -d -o -p -f -c -r -t`) are a subset with the
/// same meanings. LIMIT_SETS[i]: the limits (bit n = LIMITS[n]) LIMIT_OPTS[i] sets.
const LIMIT_OPTS: &[u8; 11] = b"acdflmoprst";
const LIMIT_SETS: [u16; 11] = [
    1 << L_AS,
    1 << L_CORE,
    1 << L_DATA,
    1 << L_FSIZE,
    1 << L_MEMLOCK,
    1 << L_DATA | 1 << L_STACK | 1 << L_MEMLOCK | 1 << L_AS,
    1 << L_NOFILE,
    1 << L_NPROC,
    1 << L_RSS,
    1 << L_STACK,
    1 << L_CPU,
];
/// The soft limits asked for: LIMITS[i] is set to `val[i]` if bit i of `set` is on
/// (`u64::MAX`, "=" in softlimit or too large, means the hard limit).
#[derive(Default)]
struct Limits {
    set: u16,
    val: [u64; 10],
}

/// Records limit option `c` (one of LIMIT_OPTS) with value `v`.
fn set_limit(limits: &mut Limits, c: u8, v: u64) {
    let set = LIMIT_OPTS.iter().position(|&o| o == c).map_or(0, |i| LIMIT_SETS[i]);
    limits.set |= set;
    for (i, l) in limits.val.iter_mut().enumerate() {
        if set & (1 << i) != 0 {
            *l = v;
        }
    }
}

const ALIASES: [&[u8]; 6] = [b"setuidgid", b"envuidgid", b"envdir", b"pgrphack", b"setlock", b"softlimit"];

pub fn main(args: Args) -> i32 {
    msg::set_prog(&PROG);
    let name = msg::basename(args.first().copied().unwrap_or(b"chpst"));
    match ALIASES.iter().position(|&a| a == name) {
        Some(k @ 0..=2) => arg_alias(&args, name, k),
        Some(3) => pgrphack(&args, name),
        Some(4) => setlock(&args, name),
        Some(_) => softlimit(&args, name),
        None => chpst(&args, name),
    }
}

/// `chpst: fatal: PARTS[: REASON]`, exit 111.
fn die(parts: &[&[u8]], e: Option<Errno>) -> ! {
    msg::fatal(EXIT_FATAL, parts, e)
}

/// `chpst: fatal: WHAT ARG: REASON` if `r` failed.
#[inline(never)]
fn check(r: Result<(), Errno>, what: &[u8], arg: &[u8]) {
    if let Err(e) = r {
        die(&[what, arg], Some(e))
    }
}

/// runit's `optarg[scan_ulong(optarg, &ul)]` check: digits only ("" is 0). A number too
/// large for 64 bits saturates (C runit wraps it around, so `-o 18446744073709551616`
/// would set 0 there).
pub(crate) fn parse_num(s: &[u8]) -> Option<u64> {
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
pub(crate) fn parse_nice(s: &[u8]) -> Option<i64> {
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
pub(crate) struct Ids {
    pub(crate) uid: u32,
    pub(crate) gids: Vec<u32>,
}

/// A decimal id field (digits only, fits in 32 bits).
fn parse_id(s: &[u8]) -> Option<u32> {
    num::parse_u64(s).and_then(|n| u32::try_from(n).ok())
}

/// The ids in fields 2 and 3 (3 only if `min` is 7: passwd) of the first line in `db`
/// whose first field is `name`, that has at least `min` `:`-separated fields and
/// numeric ids there (musl's parsing).
fn db_find(db: &[u8], name: &[u8], min: usize) -> Option<(u32, u32)> {
    if name.is_empty() {
        return None;
    }
    for line in db.split(|&b| b == b'\n') {
        let mut f: [&[u8]; 4] = [b""; 4];
        let mut n = 0;
        for (i, x) in line.split(|&b| b == b':').enumerate() {
            if i < 4 {
                f[i] = x;
            }
            n = i + 1;
        }
        if n >= min && f[0] == name {
            let gid = if min == 7 { parse_id(f[3]) } else { Some(0) };
            if let (Some(a), Some(b)) = (parse_id(f[2]), gid) {
                return Some((a, b));
            }
        }
    }
    None
}

/// getpwnam: (uid, gid) of `name` in passwd text `name:pw:uid:gid:gecos:dir:shell`.
pub(crate) fn passwd_find(db: &[u8], name: &[u8]) -> Option<(u32, u32)> {
    db_find(db, name, 7)
}

/// getgrnam: the gid of `name` in group text `name:pw:gid:members`.
#[inline(never)]
pub(crate) fn group_find(db: &[u8], name: &[u8]) -> Option<u32> {
    Some(db_find(db, name, 4)?.0)
}

/// runit's uidgids_set: `uid:gid[:gid...]` with no lookups; each gid is leading digits
/// (empty means 0), and anything else left over makes it invalid.
pub(crate) fn numeric_ids(s: &[u8]) -> Option<Ids> {
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

/// Resolves `-u`/`-U`'s argument (`ext`: runit's uidgids_get: `:uid:gid...`, `user`
/// (its primary group only: no initgroups), or `user:group[:group...]`, the first group
/// the primary one) or an alias's account (uidgid_get: a user name only, its primary
/// gid the only group), dying with runit's message when that fails.
fn resolve(arg: &[u8], ext: bool) -> Ids {
    let fail = |e: Option<Errno>| -> ! {
        let what: &[u8] = match (e, ext) {
            (Some(_), true) => b"unable to get password/group file entry",
            (Some(_), false) => b"unable to get password file entry",
            (None, true) => b"unknown user/group: ",
            (None, false) => b"unknown account: ",
        };
        die(&[what, if e.is_some() { b"" } else { arg }], e)
    };
    let (mut user, mut groups) = (arg, None);
    if ext {
        if let Some(num) = arg.strip_prefix(b":") {
            return numeric_ids(num).unwrap_or_else(|| die(&[b"invalid uid/gids: ", num], None));
        }
        if let Some(i) = arg.iter().position(|&b| b == b':') {
            (user, groups) = (&arg[..i], Some(&arg[i + 1..]));
        }
    }
    let pw = fd::read_file(c"/etc/passwd").unwrap_or_else(|e| fail(Some(e)));
    let (uid, gid) = passwd_find(&pw, user).unwrap_or_else(|| fail(None));
    let mut gids = alloc::vec![gid];
    if let Some(groups) = groups {
        let gr = fd::read_file(c"/etc/group").unwrap_or_else(|e| fail(Some(e)));
        gids.clear();
        for g in groups.split(|&b| b == b':').take(MAX_GROUPS) {
            gids.push(group_find(&gr, g).unwrap_or_else(|| fail(None)));
        }
    }
    Ids { uid, gids }
}

/// Drops privileges in the safe order: supplementary groups, gid, then uid.
/// Any failure is fatal: the program never runs with the old ids.
fn set_ids(arg: &[u8], ext: bool) {
    let ids = resolve(arg, ext);
    check(cred::setgroups(&ids.gids), b"unable to setgroups", b"");
    check(cred::setgid(ids.gids[0]), b"unable to setgid", b"");
    check(cred::setuid(ids.uid), b"unable to setuid", b"");
}

/// `-U` / envuidgid: GID= the first gid, UID= the uid.
fn env_ids(arg: &[u8], ext: bool, env: &mut Vec<Vec<u8>>) {
    let ids = resolve(arg, ext);
    for (k, n) in [(b"GID=", ids.gids[0]), (b"UID=", ids.uid)] {
        let mut b = [0u8; 20];
        let mut v = k.to_vec();
        v.extend_from_slice(num::fmt_u64(&mut b, n as u64));
        env.push(v);
    }
}

// ---- The environment ----

/// The entry an envdir file `name` gives: `NAME=` its first line without trailing
/// blanks, NULs turned into newlines, or `NAME` (unset) for an empty file or one that
/// does not exist (a dangling symlink). Reads up to the first newline only (the rest
/// is never used); opened non-blocking as runit does, so a FIFO without a writer reads
/// as empty.
fn env_entry(name: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut v = name.to_vec();
    match fd::open_read_nb(&CBuf::new(&[name])) {
        Ok(f) => read_value(f.raw(), &mut v)?,
        Err(e) if e == Errno::NOENT => {}
        Err(e) => return Err(e),
    }
    Ok(v)
}

/// Appends `=` and the value read from `f` to `v`, or nothing if `f` is empty.
#[inline(never)]
fn read_value(f: fd::RawFd, v: &mut Vec<u8>) -> Result<(), Errno> {
    let regular = fs::fstat(f).map(|st| st.is_reg()).unwrap_or(false);
    v.push(b'=');
    let start = v.len();
    loop {
        let at = v.len();
        v.resize(at + 4096, 0);
        let n = fd::read(f, &mut v[at..])?;
        v.truncate(at + n);
        if n == 0 || v[at..].contains(&b'\n') {
            break;
        }
        if !regular && v.len() - start > MAX_ODD_FILE {
            return Err(TOO_BIG);
        }
    }
    if v.len() == start {
        v.pop();
    } else {
        first_line(v, start);
    }
    Ok(())
}

/// The value an envdir file sets, in place from `v[start..]`: its first line without
/// trailing blanks, NULs turned into newlines.
pub(crate) fn first_line(v: &mut Vec<u8>, start: usize) {
    if let Some(nl) = v[start..].iter().position(|&b| b == b'\n') {
        v.truncate(start + nl);
    }
    while v.len() > start && matches!(v.last(), Some(b' ' | b'\t')) {
        v.pop();
    }
    for b in &mut v[start..] {
        if *b == 0 {
            *b = b'\n';
        }
    }
}

/// runit's edir: every file of `dir` not starting with `.` sets (first line) or
/// unsets (empty file) the variable named like it. A subdirectory is skipped by
/// `chpst -e` (a warning with -v) and fatal for envdir (`skip_dirs` false).
fn read_envdir(dir: &[u8], skip_dirs: bool, verbose: bool, env: &mut Vec<Vec<u8>>) {
    let wdir = fd::open_dir_path(c".").unwrap_or_else(|e| die(&[b"unable to open current working directory"], Some(e)));
    check(fs::chdir(&CBuf::new(&[dir])), b"unable to switch to directory: ", dir);
    let entries = match fd::open_read(c".") {
        Ok(d) => fs::read_dir_fd(d.raw()).unwrap_or_else(|e| die(&[b"unable to read directory: ", dir], Some(e))),
        Err(e) => die(&[b"unable to open directory: ", dir], Some(e)),
    };
    for ent in &entries {
        let name = &ent.name[..];
        if name.first() == Some(&b'.') {
            continue;
        }
        match env_entry(name) {
            Ok(v) => env.push(v),
            Err(e) => {
                let big = e == TOO_BIG;
                let what = [&b"unable to read "[..], dir, b"/", name, if big { b": file too big" } else { b"" }];
                let e = if big { None } else { Some(e) };
                if e == Some(Errno::ISDIR) && skip_dirs {
                    if verbose {
                        msg::warning(&what, e);
                    }
                    continue;
                }
                die(&what, e)
            }
        }
    }
    check(fs::fchdir(wdir.raw()), b"unable to switch to starting directory", b"");
}

/// runit's pathexec_env_run: each change `NAME=value` (set) or `NAME` (unset) first
/// removes the first `NAME=` entry (the last entry takes its place), then a set is
/// appended. The process's own environ is never modified.
pub(crate) fn build_env<'a>(base: Vec<&'a [u8]>, changes: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
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
    fn new(file: &'a [u8], argv: Vec<&'a [u8]>, env: &[Vec<u8>]) -> Exec<'a> {
        let envp = proc::CVec::new(build_env(proc::env_vars(), env));
        Exec { file, argv0: argv[0], argv: proc::CVec::new(argv), envp }
    }

    /// Execs the program (PATH lookup in the new environment, runit's pathexec
    /// rules); dies with `unable to run: ARGV0: REASON`, or exits 0 if `quiet`
    /// (setlock -x). `limits` are lifted again first, so that message can be written.
    fn run(self, quiet: bool, limits: &Limits) -> ! {
        let e = proc::execvp(self.file, &self.argv, &proc::Env::Built(&self.envp));
        if quiet {
            proc::exit(0);
        }
        for (i, &res) in LIMITS.iter().enumerate() {
            if limits.set & (1 << i) == 0 {
                continue;
            }
            if let Ok((_, hard)) = cred::getrlimit(res) {
                let _ = cred::setrlimit(res, hard, hard);
            }
        }
        die(&[b"unable to run: ", self.argv0], Some(e))
    }
}

/// The aliases' exec: the child's argv as given, no limits.
fn exec(child: &[&[u8]], env: &[Vec<u8>], quiet: bool) -> ! {
    Exec::new(child[0], child.to_vec(), env).run(quiet, &Limits::default())
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
    if let Err(e) = fd::flock(f.raw(), op).and_then(|_| fd::set_cloexec(f.raw(), false)) {
        fail(b"unable to lock", e)
    }
    let _ = f.into_raw();
}

/// Sets the soft limits asked for (never above the hard limit; hard limits stay).
fn set_limits(limits: &Limits) {
    for (i, (&res, &want)) in LIMITS.iter().zip(&limits.val).enumerate() {
        if limits.set & (1 << i) == 0 {
            continue;
        }
        let (_, hard) = cred::getrlimit(res).unwrap_or_else(|e| die(&[b"unable to getrlimit()"], Some(e)));
        check(cred::setrlimit(res, want.min(hard), hard), b"unable to setrlimit()", b"");
    }
}

/// Builds the program, sets the limits, and execs it.
fn exec_limited(file: &[u8], argv: Vec<&[u8]>, env: &[Vec<u8>], limits: &Limits) -> ! {
    let prog = Exec::new(file, argv, env);
    set_limits(limits);
    prog.run(false, limits)
}

// ---- chpst ----

/// chpst's options whose argument is kept as given, and its flags.
const ARG_OPTS: &[u8; 5] = b"uUbe/";
const FLAG_OPTS: &[u8; 5] = b"vP012";
const F_VERBOSE: u8 = 1;
const F_PGRP: u8 = 2;
/// `-0 -1 -2`: F_CLOSE << fd.
const F_CLOSE: u8 = 4;

fn chpst(args: &[&'static [u8]], name: &[u8]) -> ! {
    let usage = || -> ! { msg::usage(EXIT_USAGE, name, USAGE_MAIN) };
    let mut given: [Option<&[u8]>; 5] = [None; 5];
    let mut flags = 0u8;
    let mut nice = 0;
    let mut lock_opt: Option<(&[u8], bool)> = None;
    let mut limits = Limits::default();
    let mut g = Getopt::new(args);
    loop {
        let (c, arg) = match g.next(OPTS_MAIN) {
            Got::Done => break,
            Got::Bad => usage(),
            Got::Opt(c, arg) => (c, arg),
        };
        if let Some(i) = ARG_OPTS.iter().position(|&o| o == c) {
            given[i] = Some(arg);
            continue;
        }
        if let Some(i) = FLAG_OPTS.iter().position(|&o| o == c) {
            flags |= 1 << i;
            continue;
        }
        match c {
            b'n' => nice = parse_nice(arg).unwrap_or_else(|| usage()),
            b'l' | b'L' if lock_opt.is_some() => usage(),
            b'l' | b'L' => lock_opt = Some((arg, c == b'l')),
            b'V' => {
                msg::write_parts(fd::STDERR, &[VERSION]);
                usage()
            }
            // -m -d -o -p -f -c -r -t
            _ => set_limit(&mut limits, c, parse_num(arg).unwrap_or_else(|| usage())),
        }
    }
    let [set_user, env_user, argv0, env_dir, root] = given;
    let argv = g.rest();
    if argv.is_empty() {
        usage();
    }

    // runit's order of operations (chpst.c main()).
    if flags & F_PGRP != 0 {
        let _ = proc::setsid();
    }
    let mut env = Vec::new();
    if let Some(dir) = env_dir {
        read_envdir(dir, true, flags & F_VERBOSE != 0, &mut env);
    }
    if let Some(root) = root {
        check(fs::chdir(&CBuf::new(&[root])), b"unable to change directory: ", root);
        check(fs::chroot(c"."), b"unable to change root directory", b"");
    }
    if nice != 0 {
        check(cred::nice(nice), b"unable to set nice level", b"");
    }
    if let Some(u) = env_user {
        env_ids(u, true, &mut env);
    }
    if let Some(u) = set_user {
        set_ids(u, true);
    }
    if let Some((file, wait)) = lock_opt {
        lock(file, wait, false);
    }
    for (i, what) in [&b"stdin"[..], b"stdout", b"stderr"].iter().enumerate() {
        if flags & (F_CLOSE << i) != 0 {
            check(fd::close_raw(i as fd::RawFd), b"unable to close ", what);
        }
    }
    let mut av: Vec<&[u8]> = argv.to_vec();
    if let Some(a0) = argv0 {
        av[0] = a0;
    }
    exec_limited(argv[0], av, &env, &limits)
}

// ---- The daemontools emulations ----

/// setuidgid, envuidgid and envdir (`kind` 0, 1, 2): `NAME ARG child...`.
fn arg_alias(args: &[&'static [u8]], name: &[u8], kind: usize) -> ! {
    let [_, arg, child @ ..] = args else { alias_usage(name, kind) };
    if child.is_empty() {
        alias_usage(name, kind);
    }
    let mut env = Vec::new();
    match kind {
        0 => set_ids(arg, false),
        1 => env_ids(arg, false, &mut env),
        _ => read_envdir(arg, false, false, &mut env),
    }
    exec(child, &env, false)
}

fn alias_usage(name: &[u8], kind: usize) -> ! {
    msg::usage(EXIT_USAGE, name, if kind == 2 { USAGE_ENVDIR } else { USAGE_ACCOUNT })
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
    let mut limits = Limits::default();
    let mut g = Getopt::new(args);
    loop {
        let (c, arg) = match g.next(b"a:c:d:f:l:m:o:p:r:s:t:") {
            Got::Done => break,
            Got::Bad => msg::usage(EXIT_USAGE, name, USAGE_SOFTLIMIT),
            Got::Opt(c, arg) => (c, arg),
        };
        // A bad number prints chpst's usage, not softlimit's (runit's getlarg()).
        let v = if arg == b"=" { u64::MAX } else { parse_num(arg).unwrap_or_else(|| msg::usage(EXIT_USAGE, name, USAGE_MAIN)) };
        set_limit(&mut limits, c, v);
    }
    let child = g.rest();
    if child.is_empty() {
        msg::usage(EXIT_USAGE, name, USAGE_SOFTLIMIT);
    }
    exec_limited(child[0], child.to_vec(), &[], &limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &[u8] =
        b"root:x:0:0:root:/root:/bin/sh\nbad:x:1\nnobody:x:65534:65534:nobody:/:/bin/false\nweird:x:1x:2:::\nshort:x:5:5\n";
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
        let env_value = |c: &[u8]| {
            let mut v = [&b"N="[..], c].concat();
            first_line(&mut v, 2);
            v
        };
        assert_eq!(env_value(b"val  \t\nsecond"), b"N=val");
        assert_eq!(env_value(b"   \n"), b"N=");
        assert_eq!(env_value(b"\n"), b"N=");
        assert_eq!(env_value(b"nonl"), b"N=nonl");
        assert_eq!(env_value(b"x\0y\n"), b"N=x\ny");
        assert_eq!(env_value(b" a \t "), b"N= a");
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
