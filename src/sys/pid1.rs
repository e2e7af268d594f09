//! What runsvdir needs as PID 1 (or as a subreaper): is any child left to wait for; and
//! how it execs runsv (PATH, then itself).

/// True while this process has a child (running or waitable): waitid(P_ALL, WNOHANG|WNOWAIT)
/// fails with ECHILD only when none is left (it never waits, so never fails with EINTR).
/// Nothing is reaped.
pub fn children_left() -> bool {
    // SAFETY: siginfo_t is plain data; zeroed is a valid out-parameter.
    let mut si: libc::siginfo_t = unsafe { core::mem::zeroed() };
    // SAFETY: si is valid; P_ALL ignores the id argument.
    unsafe { libc::waitid(libc::P_ALL, 0, &mut si, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) == 0 }
}

/// Execs `runsv` found through PATH (runit's pathexec_run); when no PATH element has it,
/// execs this very binary (/proc/self/exe) with argv[0] = "runsv", so a scratch image that
/// holds the binary under one name still works. Returns the PATH lookup's error on failure.
pub fn exec_runsv(argv: &super::proc::CVec) -> super::Errno {
    let env = &super::proc::Env::Inherit;
    let e = super::proc::execvp(b"runsv", argv, env);
    if e.0 == libc::ENOENT {
        let _ = super::proc::execve(c"/proc/self/exe", argv, env);
    }
    e
}

/// Takes `URUNIT_PID1=...` out of this process's environment, so that runsvs and services
/// inherit everything else but not that.
pub fn unset_pid1_env() {
    let mut p = super::proc::environ_ptr() as *mut *const libc::c_char;
    if p.is_null() {
        return;
    }
    let mut q = p;
    // SAFETY: environ is a NULL-terminated array of pointers to NUL-terminated strings that
    // this single-threaded process may rewrite (musl's initial one lies on the writable
    // stack); entries only move down over the removed one, no string is changed or freed,
    // so what getenv handed out stays valid.
    unsafe {
        while !(*p).is_null() {
            if !core::ffi::CStr::from_ptr(*p).to_bytes().starts_with(b"URUNIT_PID1=") {
                *q = *p;
                q = q.add(1);
            }
            p = p.add(1);
        }
        *q = core::ptr::null();
    }
}

/// dnotify (fcntl F_NOTIFY) on a directory open as `dir`: SIGIO whenever one of its entries is
/// created, removed or renamed, until `dir` is closed. runsvdir's instant pickup uses it rather
/// than inotify, whose descriptor's close (at exit too) waits for an RCU grace period, up to
/// 25 ms, when any inotify watch of the system is being torn down.
pub fn notify_dir(dir: super::fd::RawFd) -> super::Result<()> {
    const DN_CREATE: libc::c_int = 0x4;
    const DN_DELETE: libc::c_int = 0x8;
    const DN_RENAME: libc::c_int = 0x10;
    const DN_MULTISHOT: libc::c_int = 0x8000_0000u32 as libc::c_int;
    // SAFETY: fcntl on a descriptor with an int argument.
    super::cvti(|| unsafe { libc::fcntl(dir, libc::F_NOTIFY, DN_CREATE | DN_DELETE | DN_RENAME | DN_MULTISHOT) }).map(|_| ())
}
