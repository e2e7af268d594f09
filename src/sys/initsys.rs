//! What only the stage init needs: reboot(2), sync(2), and the console's controlling tty.
use super::{Result, cvti, fd::RawFd};

pub use libc::{RB_AUTOBOOT, RB_DISABLE_CAD, RB_HALT_SYSTEM, RB_POWER_OFF};

/// reboot(2). Besides halting the machine, its answer tells runit where it runs: in the
/// initial PID namespace (a machine) RB_DISABLE_CAD succeeds; in any other PID namespace
/// (a container) the kernel refuses it, with EINVAL when CAP_SYS_BOOT is held and EPERM
/// when not. There, RB_POWER_OFF/RB_AUTOBOOT end the namespace instead of the machine.
pub fn reboot(cmd: libc::c_int) -> Result<()> {
    // SAFETY: plain syscall on an integer.
    cvti(|| unsafe { libc::reboot(cmd) }).map(|_| ())
}

/// sync(2).
pub fn sync() {
    // SAFETY: plain syscall without arguments; it cannot fail.
    unsafe { libc::sync() }
}

/// ioctl(TIOCSCTTY, 0): makes the terminal on fd the caller's controlling tty.
pub fn set_ctty(fd: RawFd) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal it from another session).
    cvti(|| unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(|_| ())
}
