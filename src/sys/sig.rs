//! Signals read as data: block them, then read a signalfd in the same poll as the
//! other descriptors.
use super::{Result, cvt, cvti, fd::Fd};
use core::ffi::c_int;

#[allow(unused_imports)]
pub use libc::{
    SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGIO, SIGKILL, SIGPIPE, SIGPWR, SIGQUIT, SIGSTOP, SIGTERM, SIGUSR1, SIGUSR2,
    SIGWINCH,
};

fn set_of(sigs: &[c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; all-zero is the empty set.
    let mut s: libc::sigset_t = unsafe { core::mem::zeroed() };
    // The bits are set directly: musl's sigaddset refuses 32-34, which runsv must block too.
    // SAFETY: sigset_t is at least 8 bytes of plain data, bit n-1 standing for signal n.
    let words = unsafe { &mut *(&mut s as *mut libc::sigset_t as *mut [u64; 1]) };
    for &g in sigs {
        if (1..=64).contains(&g) {
            words[0] |= 1u64 << (g - 1);
        }
    }
    s
}

/// Blocks `sigs` (adds them to the mask).
pub fn block(sigs: &[c_int]) {
    let s = set_of(sigs);
    // SAFETY: s is a valid set; the old mask is not wanted.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &s, core::ptr::null_mut()) };
}

/// Unblocks every signal: called in a child before exec so services start clean.
/// Async-signal-safe, no allocation.
pub fn unblock_all() {
    let s = set_of(&[]);
    // SAFETY: s is a valid empty set.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &s, core::ptr::null_mut()) };
}

/// Sets the disposition of sig to SIG_DFL.
pub fn default(sig: c_int) {
    set_disposition(sig, libc::SIG_DFL);
}

/// Sets the disposition of sig to SIG_IGN.
pub fn ignore(sig: c_int) {
    set_disposition(sig, libc::SIG_IGN);
}

/// The kernel's struct sigaction (not libc's): handler, flags, restorer, mask.
#[repr(C)]
struct KSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// signal(sig, SIG_DFL or SIG_IGN) as the raw rt_sigaction system call, with signal()'s
/// SA_RESTART. Without a handler no restorer is needed, and musl's sigaction machinery
/// (~580 bytes) is not linked.
fn set_disposition(sig: c_int, handler: libc::sighandler_t) {
    let k = KSigaction { handler, flags: libc::SA_RESTART as libc::c_ulong, restorer: 0, mask: 0 };
    // SAFETY: k is a valid kernel sigaction for the call's duration; no old action is wanted.
    unsafe {
        libc::syscall(libc::SYS_rt_sigaction, sig as libc::c_long, &k, 0usize, core::mem::size_of::<u64>());
    }
}

/// A signalfd for a set of blocked signals (non-blocking, close-on-exec).
pub struct SigFd(Fd);

impl SigFd {
    /// Blocks `sigs` and opens a signalfd for them.
    pub fn new(sigs: &[c_int]) -> Result<SigFd> {
        block(sigs);
        let s = set_of(sigs);
        // SAFETY: s is a valid set; -1 asks for a new descriptor.
        let fd = cvti(|| unsafe { libc::signalfd(-1, &s, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
        Ok(SigFd(Fd::from_raw(fd)))
    }
    pub fn raw(&self) -> c_int {
        self.0.raw()
    }
    /// The next pending signal, or None.
    pub fn next(&self) -> Option<c_int> {
        // SAFETY: signalfd_siginfo is plain data; zeroed is valid.
        let mut si: libc::signalfd_siginfo = unsafe { core::mem::zeroed() };
        let sz = core::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: si is valid for sz bytes.
        match cvt(|| unsafe { libc::read(self.0.raw(), &mut si as *mut _ as *mut libc::c_void, sz) }) {
            Ok(n) if n == sz => Some(si.ssi_signo as c_int),
            _ => None,
        }
    }
}
