//! The system layer: the only place with `unsafe` and `libc::` calls.
//! Functions return `Result<T, Errno>`; they never print or exit.
#![allow(unsafe_code)]

pub mod cred;
pub mod fd;
pub mod fs;
pub mod heap;
pub mod inotify;
pub mod initsys;
pub mod net;
pub mod pid1;
pub mod proc;
pub mod sig;
pub mod time;

pub use libc::c_int;

/// An errno value, read right after the failing call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub c_int);

pub type Result<T> = core::result::Result<T, Errno>;

/// The calling thread's errno.
pub fn errno() -> Errno {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    Errno(unsafe { *libc::__errno_location() })
}

/// "-1 and errno" -> Result, retrying EINTR (skalibs' "safe wrappers").
pub(crate) fn cvt(mut f: impl FnMut() -> isize) -> Result<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = errno();
        if e.0 != libc::EINTR {
            return Err(e);
        }
    }
}

/// Like `cvt` for calls returning c_int.
pub(crate) fn cvti(mut f: impl FnMut() -> c_int) -> Result<c_int> {
    cvt(|| f() as isize).map(|r| r as c_int)
}
