//! Credentials, scheduling priority and resource limits (chpst's -u, -n, limits).
use super::{Errno, Result, cvt, errno};

// The id and limit calls are raw syscalls: musl's wrappers broadcast them to every
// thread (__synccall), which this single-threaded program does not need and which
// cost several KB of binary.

/// syscall(2) with up to four integer arguments, "-1 and errno" -> Result.
fn sys4(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> Result<usize> {
    // SAFETY: the callers pass valid pointers (or plain integers) for their syscall.
    cvt(|| unsafe { libc::syscall(nr, a, b, c, d) as isize })
}

/// setgroups(2): the supplementary group list.
pub fn setgroups(gids: &[u32]) -> Result<()> {
    sys4(libc::SYS_setgroups, gids.len(), gids.as_ptr() as usize, 0, 0).map(|_| ())
}

/// setgid(2) (real, effective and saved gid, as root).
pub fn setgid(gid: u32) -> Result<()> {
    sys4(libc::SYS_setgid, gid as usize, 0, 0, 0).map(|_| ())
}

/// setuid(2) (real, effective and saved uid, as root), then a check that the real
/// and effective uid really are `uid` now: a program must never run as root by mistake.
pub fn setuid(uid: u32) -> Result<()> {
    sys4(libc::SYS_setuid, uid as usize, 0, 0, 0)?;
    // SAFETY: getuid/geteuid always succeed.
    let (r, e) = unsafe { (libc::getuid(), libc::geteuid()) };
    if r != uid || e != uid {
        return Err(Errno(libc::EPERM));
    }
    Ok(())
}

/// nice(3) as glibc does it: add `inc` to the current nice value (clamped to
/// -20..19); EACCES (not allowed to lower it) reads as EPERM.
pub fn nice(inc: i64) -> Result<()> {
    // The raw syscall returns 20 - nice (1..40), so -1 is never a valid value.
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0) };
    if r < 0 {
        return Err(errno());
    }
    let new = (20 - r as i64).saturating_add(inc).clamp(-20, 19);
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_setpriority, libc::PRIO_PROCESS, 0, new as libc::c_int) };
    if r < 0 {
        let e = errno();
        return Err(if e.0 == libc::EACCES { Errno(libc::EPERM) } else { e });
    }
    Ok(())
}

/// The resource argument type differs between glibc (unit tests) and musl (the binary).
#[cfg(target_env = "gnu")]
pub type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type Resource = libc::c_int;

pub const RLIMIT_DATA: Resource = libc::RLIMIT_DATA as Resource;
pub const RLIMIT_STACK: Resource = libc::RLIMIT_STACK as Resource;
pub const RLIMIT_MEMLOCK: Resource = libc::RLIMIT_MEMLOCK as Resource;
pub const RLIMIT_AS: Resource = libc::RLIMIT_AS as Resource;
pub const RLIMIT_NOFILE: Resource = libc::RLIMIT_NOFILE as Resource;
pub const RLIMIT_NPROC: Resource = libc::RLIMIT_NPROC as Resource;
pub const RLIMIT_FSIZE: Resource = libc::RLIMIT_FSIZE as Resource;
pub const RLIMIT_CORE: Resource = libc::RLIMIT_CORE as Resource;
pub const RLIMIT_RSS: Resource = libc::RLIMIT_RSS as Resource;
pub const RLIMIT_CPU: Resource = libc::RLIMIT_CPU as Resource;

/// getrlimit(2): (soft, hard); RLIM_INFINITY is u64::MAX.
pub fn getrlimit(res: Resource) -> Result<(u64, u64)> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    sys4(libc::SYS_prlimit64, 0, res as usize, 0, &mut r as *mut libc::rlimit as usize)?;
    Ok((r.rlim_cur, r.rlim_max))
}

/// setrlimit(2).
pub fn setrlimit(res: Resource, soft: u64, hard: u64) -> Result<()> {
    let r = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    sys4(libc::SYS_prlimit64, 0, res as usize, &r as *const libc::rlimit as usize, 0).map(|_| ())
}
