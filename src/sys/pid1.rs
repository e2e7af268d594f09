//! What runsvdir needs as PID 1 (or as a subreaper): is any child left to wait for; and
//! how it execs runsv (PATH, then itself).
use super::errno;

/// True while this process has a child (running or waitable): waitid(P_ALL, WNOHANG|WNOWAIT)
/// fails with ECHILD only when none is left. Nothing is reaped.
pub fn children_left() -> bool {
    // SAFETY: siginfo_t is plain data; zeroed is a valid out-parameter.
    let mut si: libc::siginfo_t = unsafe { core::mem::zeroed() };
    loop {
        // SAFETY: si is valid; P_ALL ignores the id argument.
        let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut si, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        if r == 0 {
            return true;
        }
        match errno().0 {
            libc::EINTR => continue,
            _ => return false,
        }
    }
}

/// Execs `runsv` found through PATH (runit's pathexec_run); when no PATH element has it,
/// execs this very binary (/proc/self/exe) with argv[0] = "runsv", so a scratch image that
/// holds the binary under one name still works. Returns the PATH lookup's error on failure.
pub fn exec_runsv(argv: &super::proc::CVec, env: &super::proc::Env) -> super::Errno {
    let e = super::proc::execvp(b"runsv", argv, env);
    if e.0 == libc::ENOENT {
        let _ = super::proc::execve(c"/proc/self/exe", argv, env);
    }
    e
}
