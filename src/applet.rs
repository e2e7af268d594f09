//! The front end: the table of programs, dispatch on the basename of argv[0], and
//! `urunit PROGRAM ARGS...`, `--install DIR`, `--list`, `--version`, `--help`.
use crate::msg::{self, CBuf};
use crate::sys::{self, fd, fs};
use crate::{chpst, init, runsv, runsvdir, sv, svlogd};

/// argv as byte slices; [0] is the program name as given.
pub type Args = alloc::vec::Vec<&'static [u8]>;

/// Every name the binary answers to, and the program behind it.
pub const PROGRAMS: &[(&[u8], fn(Args) -> i32)] = &[
    (b"runsvdir", runsvdir::main),
    (b"runsv", runsv::main),
    (b"sv", sv::main),
    (b"chpst", chpst::main),
    (b"envdir", chpst::main),
    (b"envuidgid", chpst::main),
    (b"pgrphack", chpst::main),
    (b"setlock", chpst::main),
    (b"setuidgid", chpst::main),
    (b"softlimit", chpst::main),
    (b"svlogd", svlogd::main),
    (b"runit", init::runit_main),
    (b"runit-init", init::runit_init_main),
];

/// Dispatch on the exact basename of argv[0]; `urunit` itself is the applet front end,
/// and any other name is sv's LSB mode (`/etc/init.d/NAME -> sv`), as in runit.
#[cfg_attr(test, allow(dead_code))] // called by rt's main only
pub fn dispatch(args: Args) -> i32 {
    sys::fd::sanitize_std();
    let name = msg::basename(args.first().copied().unwrap_or(b"urunit"));
    if name == b"urunit" {
        return main(args);
    }
    run_program(name, args)
}

/// Runs the program called `name` (exact match), or sv in LSB mode.
pub fn run_program(name: &[u8], args: Args) -> i32 {
    // runit-init is installed as /sbin/init (not listed: `--install` must not make an `init`).
    let name: &[u8] = if name == b"init" { b"runit-init" } else { name };
    match PROGRAMS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => f(args),
        None => sv::main(args),
    }
}

const VERSION: &[u8] = concat!("urunit ", env!("CARGO_PKG_VERSION"), "\n").as_bytes();
const USAGE: &[u8] = b" PROGRAM [ARGS...] | --install DIR | --list | --version | --help";
const EXIT_FATAL: i32 = 111;
const EXIT_USAGE: i32 = 100;
const PROG: &[u8] = b"urunit: ";

const OPTIONS: [&[u8]; 4] = [b"--list", b"--help", b"--version", b"--install"];

#[inline(never)]
pub fn main(args: Args) -> i32 {
    msg::set_prog(&PROG);
    let Some(&first) = args.get(1) else { msg::usage(EXIT_USAGE, b"urunit", USAGE) };
    match OPTIONS.iter().position(|&o| o == first) {
        Some(k @ 0..=1) => {
            let help = k == 1;
            let mut o = msg::Out::new();
            if help {
                o.put(b"usage: urunit").put(USAGE).put(b"\n\nA runit-compatible process supervisor. Programs:");
            }
            for (n, _) in PROGRAMS {
                if help {
                    o.put(b" ").put(n);
                } else {
                    o.put(n).put(b"\n");
                }
            }
            if help {
                o.put(b"\nRun one as `urunit PROGRAM ARGS...`, or through a link named after it.\n");
            }
            o.flush();
            0
        }
        Some(2) => {
            msg::write_parts(fd::STDOUT, &[VERSION]);
            0
        }
        Some(_) => match args.get(2) {
            Some(dir) => install(dir),
            None => msg::usage(EXIT_USAGE, b"urunit", USAGE),
        },
        None if first.first() == Some(&b'-') => {
            msg::write_parts(fd::STDERR, &[b"urunit: illegal option -- ", first, b"\n"]);
            msg::usage(EXIT_USAGE, b"urunit", USAGE)
        }
        None => match PROGRAMS.iter().find(|(n, _)| *n == first) {
            Some((_, f)) => {
                let mut rest = args;
                rest.remove(0);
                f(rest)
            }
            None => msg::fatal(EXIT_USAGE, &[b"unknown program: ", first, b" (see urunit --list)"], None),
        },
    }
}

/// Creates DIR/NAME -> this binary for every program. An existing link to this binary
/// is kept; anything else at that path is refused, never overwritten.
#[inline(never)]
fn install(dir: &[u8]) -> i32 {
    let mut exe = [0u8; 4096];
    let n = fs::readlink(c"/proc/self/exe", &mut exe)
        .unwrap_or_else(|e| msg::fatal(EXIT_FATAL, &[b"unable to read /proc/self/exe"], Some(e)));
    let target = CBuf::new(&[&exe[..n]]);
    let me = fs::stat(c"/proc/self/exe").ok().map(|st| (st.dev, st.ino));
    let mut rc = 0;
    for (name, _) in PROGRAMS {
        let path = CBuf::new(&[dir, b"/", name]);
        let (what, tail, e): (&[u8], &[u8], _) = match fs::lstat(&path) {
            // A link that leads to this binary (same file) is kept.
            Ok(st) if st.is_link() => {
                if me.is_some() && fs::stat(&path).ok().map(|st| (st.dev, st.ino)) == me {
                    continue;
                }
                (b"not replacing ", b": a link to another file", None)
            }
            Ok(_) => (b"not replacing ", b": not a link to urunit", None),
            Err(_) => match fs::symlink(&target, &path) {
                Ok(()) => continue,
                Err(e) => (b"unable to create ", b"", Some(e)),
            },
        };
        msg::warning(&[what, path.bytes(), tail], e);
        rc = EXIT_FATAL;
    }
    rc
}
