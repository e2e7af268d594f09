//! urunit: runit's programs in one static binary, chosen by the basename of argv[0].
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod errstr;
mod msg;
mod num;
mod rundir;
#[cfg(not(test))]
mod rt;
mod svstatus;
mod sys;

mod applet;
mod chpst;
mod init;
mod runsv;
mod runsvdir;
mod sv;
mod svlogd;

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
pub fn dispatch(args: Args) -> i32 {
    sys::fd::sanitize_std();
    let name = msg::basename(args.first().copied().unwrap_or(b"urunit"));
    if name == b"urunit" {
        return applet::main(args);
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
