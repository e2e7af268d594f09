//! urunit: runit's programs in one static binary, chosen by the basename of argv[0].
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod errstr;
mod msg;
mod num;
mod opt;
#[cfg(not(test))]
mod rt;
mod rundir;
mod settings;
mod svstatus;
mod sys;
mod tai;

mod applet;
mod chpst;
#[cfg(test)]
mod fuzz;
mod init;
mod runsv;
mod runsvdir;
mod sv;
mod svlogd;

pub use applet::Args;
