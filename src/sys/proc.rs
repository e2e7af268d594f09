//! Processes: argv and environ, fork/exec/wait/kill, sessions, PATH lookup.
use super::{Errno, Result, cvti, errno};
use alloc::vec::Vec;
use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(core::ptr::null_mut());

unsafe extern "C" {
    static mut environ: *const *const c_char;
    /// fork without the atfork handlers and libc-wide locks (musl >= 1.2.3, glibc >= 2.34).
    fn _Fork() -> libc::pid_t;
}

/// Records argc/argv (called once by rt's main).
pub fn set_argv(argc: c_int, argv: *mut *mut c_char) {
    ARGC.store(argc as usize, Ordering::Relaxed);
    ARGV.store(argv, Ordering::Relaxed);
}

/// The command line as byte slices (they live as long as the process).
pub fn args() -> Vec<&'static [u8]> {
    let argc = ARGC.load(Ordering::Relaxed);
    let argv = ARGV.load(Ordering::Relaxed);
    let mut v = Vec::with_capacity(argc);
    for i in 0..argc {
        // SAFETY: the kernel gives argc valid NUL-terminated strings that live for the
        // whole process.
        v.push(unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes());
    }
    v
}

/// argv[i]'s storage, rewritten in place (runsvdir's readproctitle area). The writes go
/// through a raw pointer, so no `&mut` aliases the shared slices args() handed out; the
/// caller stops reading argv[i] through those once it takes the area.
pub struct ArgvArea {
    p: *mut u8,
    len: usize,
}

/// The area of argv[i], or None if i is out of range.
pub fn argv_area(i: usize) -> Option<ArgvArea> {
    let argc = ARGC.load(Ordering::Relaxed);
    if i >= argc {
        return None;
    }
    let argv = ARGV.load(Ordering::Relaxed);
    // SAFETY: argv[i] is a valid NUL-terminated string in writable memory that lives for
    // the whole process.
    let (p, len) = unsafe {
        let p = *argv.add(i) as *mut u8;
        (p, CStr::from_ptr(p as *const c_char).to_bytes().len())
    };
    Some(ArgvArea { p, len })
}

impl ArgvArea {
    /// runit's readproctitle step: bytes after `fixed` move left by one, `b` goes last.
    pub fn push(&mut self, fixed: usize, b: u8) {
        if self.len <= fixed + 1 {
            return;
        }
        // SAFETY: both ranges lie inside argv[i]'s len bytes (checked above); copy
        // handles the overlap.
        unsafe {
            core::ptr::copy(self.p.add(fixed + 1), self.p.add(fixed), self.len - fixed - 1);
            *self.p.add(self.len - 1) = b;
        }
    }
}

/// The environment block, for execve.
pub fn environ_ptr() -> *const *const c_char {
    // SAFETY: reading the environ pointer; this program never calls setenv.
    unsafe { environ }
}

/// All environment entries ("NAME=value").
pub fn env_vars() -> Vec<&'static [u8]> {
    let mut v = Vec::new();
    let mut p = environ_ptr();
    if p.is_null() {
        return v;
    }
    // SAFETY: environ is a NULL-terminated array of NUL-terminated strings that live
    // for the whole process (nothing here modifies it).
    unsafe {
        while !(*p).is_null() {
            v.push(CStr::from_ptr(*p).to_bytes());
            p = p.add(1);
        }
    }
    v
}

/// The value of an environment variable.
/// Walks environ without allocating: execvp calls it in forked children.
pub fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    let mut p = environ_ptr();
    if p.is_null() {
        return None;
    }
    // SAFETY: environ is a NULL-terminated array of NUL-terminated strings that live for
    // the whole process (nothing here modifies it).
    unsafe {
        while !(*p).is_null() {
            let e = CStr::from_ptr(*p).to_bytes();
            if let Some(v) = e.strip_prefix(name).and_then(|v| v.strip_prefix(b"=")) {
                return Some(v);
            }
            p = p.add(1);
        }
    }
    None
}

/// A NULL-terminated array of NUL-terminated strings, built before fork so the
/// child never allocates.
pub struct CVec {
    bufs: Vec<Vec<u8>>,
    ptrs: Vec<*const c_char>,
}

impl CVec {
    #[inline(never)]
    pub fn new<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> CVec {
        let mut v = CVec { bufs: Vec::new(), ptrs: Vec::new() };
        for it in items {
            v.push(it);
        }
        v.ptrs.push(core::ptr::null());
        v
    }
    /// Appends one string (before the terminating NULL). Not inlined: `new` is
    /// instantiated for several iterator types and this keeps them small.
    #[inline(never)]
    fn push(&mut self, it: &[u8]) {
        let mut b = Vec::with_capacity(it.len() + 1);
        b.extend_from_slice(it);
        b.push(0);
        // The bytes stay put when `bufs` grows: only the Vec header moves.
        self.ptrs.push(b.as_ptr() as *const c_char);
        self.bufs.push(b);
    }
    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
    pub fn len(&self) -> usize {
        self.bufs.len()
    }
    /// The i-th string with its NUL.
    pub fn get(&self, i: usize) -> &CStr {
        CStr::from_bytes_with_nul(&self.bufs[i]).unwrap_or(c"")
    }
}

/// Environment for execve: either this process's own, or a built one.
pub enum Env<'a> {
    Inherit,
    Built(&'a CVec),
}

impl Env<'_> {
    fn ptr(&self) -> *const *const c_char {
        match self {
            Env::Inherit => environ_ptr(),
            Env::Built(v) => v.as_ptr(),
        }
    }
}

/// fork(2), as _Fork: urunit registers no atfork handlers and starts no threads, so
/// fork's extra work (handlers, taking every libc lock) is moot; this drops ~1 KB of
/// musl's locking. _Fork still updates the child's thread id, which raise() uses.
pub fn fork() -> Result<libc::pid_t> {
    // SAFETY: this program is single-threaded, so the child may continue normally.
    let r = unsafe { _Fork() };
    if r < 0 { Err(errno()) } else { Ok(r) }
}

/// A child for exec, as vfork makes it: `child` runs in a new process that shares this
/// one's memory, on the stack below the caller's, while the caller waits until it execs or
/// exits.
/// No page tables are copied and nothing is copied on write afterwards, so starting a
/// service costs a fraction of a fork. `child` must end in execve or exit (if it returns,
/// the child exits 127) and must not allocate; no signal handler is ever installed in
/// urunit (signals are read from a signalfd or left at SIG_DFL/SIG_IGN), so nothing else
/// runs on the child's stack.
pub fn spawn<F: FnMut()>(mut child: F) -> Result<libc::pid_t> {
    extern "C" fn start<F: FnMut()>(arg: *mut core::ffi::c_void) -> c_int {
        // SAFETY: arg is the &mut below, alive while the caller is suspended.
        let f = unsafe { &mut *(arg as *mut F) };
        f();
        127
    }
    spawn_raw(start::<F>, (&mut child as *mut F).cast())
}

/// spawn's body, shared by every kind of child: f(arg) in the child.
#[inline(never)]
fn spawn_raw(f: extern "C" fn(*mut core::ffi::c_void) -> c_int, arg: *mut core::ffi::c_void) -> Result<libc::pid_t> {
    // SAFETY: f(arg) is safe to call in the child (spawn's `start`).
    let r = unsafe { clone_vfork(f, arg) };
    if r < 0 { Err(Errno(-r as c_int)) } else { Ok(r as libc::pid_t) }
}

/// clone(CLONE_VM | CLONE_VFORK | SIGCHLD), where the child calls f(arg) and exits with
/// its value: the raw system call (musl's clone() is 450 bytes of thread set-up that a
/// child which only execs does not need). The child's stack is the caller's, 256 bytes below
/// its stack pointer (as vfork's child runs on its parent's stack): pages the process has
/// mostly used already, free while the caller is suspended. Returns the pid or -errno.
/// SAFETY: f(arg) must be safe to call in the child (see spawn).
#[cfg(target_arch = "x86_64")]
unsafe fn clone_vfork(f: extern "C" fn(*mut core::ffi::c_void) -> c_int, arg: *mut core::ffi::c_void) -> isize {
    let r: isize;
    // SAFETY: see the function's contract. Below rsp, past the 128-byte red zone, nothing
    // of ours lives; the child runs only the code between the two syscalls and never comes
    // back into this function; the parent sees the syscall's result.
    unsafe {
        core::arch::asm!(
            "lea rsi, [rsp - 256]",
            "and rsi, -16",
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r13",
            "call r12",
            "mov edi, eax",
            "mov eax, 60",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone as isize => r,
            in("rdi") (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as usize,
            out("rsi") _,
            in("rdx") 0usize,
            in("r10") 0usize,
            in("r8") 0usize,
            in("r12") f,
            in("r13") arg,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

#[cfg(target_arch = "aarch64")]
unsafe fn clone_vfork(f: extern "C" fn(*mut core::ffi::c_void) -> c_int, arg: *mut core::ffi::c_void) -> isize {
    let r: isize;
    // SAFETY: as for x86_64 (no red zone here; x19 is LLVM's, so f and arg travel in x20
    // and x21).
    unsafe {
        core::arch::asm!(
            "sub x1, sp, #256",
            "svc 0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x0, x21",
            "blr x20",
            "mov x8, #93",
            "svc 0",
            "brk #0",
            "2:",
            inlateout("x0") (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as isize => r,
            out("x1") _,
            in("x2") 0usize,
            in("x3") 0usize,
            in("x4") 0usize,
            in("x8") libc::SYS_clone,
            in("x20") f,
            in("x21") arg,
            options(nostack),
        );
    }
    r
}

/// execve(2); returns only on failure, with the errno.
pub fn execve(path: &CStr, argv: &CVec, env: &Env) -> Errno {
    // SAFETY: path, argv and env are NUL-terminated / NULL-terminated and outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), env.ptr()) };
    errno()
}

/// runit's pathexec_run: a name with '/' is exec'd directly; otherwise each PATH
/// element is tried (empty = "."); ENOENT goes on, EACCES/EPERM/EISDIR are remembered
/// and go on, any other error stops. PATH unset means "/bin:/usr/bin".
/// Returns only on failure, with the error to report.
pub fn execvp(file: &[u8], argv: &CVec, env: &Env) -> Errno {
    // A fixed buffer, no malloc: this runs in forked children, and in chpst after
    // its resource limits, where malloc may fail.
    let mut buf = [0u8; libc::PATH_MAX as usize];
    let mut run = |dir: &[u8], sep: &[u8]| -> Errno {
        let n = dir.len() + sep.len() + file.len();
        if n >= buf.len() {
            return Errno(libc::ENAMETOOLONG);
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()..dir.len() + sep.len()].copy_from_slice(sep);
        buf[n - file.len()..n].copy_from_slice(file);
        buf[n] = 0;
        execve(CStr::from_bytes_with_nul(&buf[..=n]).unwrap_or(c""), argv, env)
    };
    if file.contains(&b'/') {
        return run(b"", b"");
    }
    let path = match env {
        Env::Built(v) => (0..v.len()).find_map(|i| v.get(i).to_bytes().strip_prefix(b"PATH=")),
        Env::Inherit => getenv(b"PATH"),
    };
    let path = path.unwrap_or(b"/bin:/usr/bin");
    let mut saved: Option<Errno> = None;
    for dir in path.split(|&b| b == b':') {
        let e = run(if dir.is_empty() { b"." } else { dir }, b"/");
        match e.0 {
            libc::ENOENT => {}
            libc::EACCES | libc::EPERM | libc::EISDIR => saved = Some(e),
            _ => return e,
        }
    }
    saved.unwrap_or(Errno(libc::ENOENT))
}

/// _exit(2): no atexit handlers, no stdio flush.
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit never returns.
    unsafe { libc::_exit(code) }
}

/// waitpid(2) with WNOHANG: Some((pid, wstat)), or None when no child has changed.
/// ECHILD is Ok(None) too.
pub fn wait_nohang() -> Result<Option<(libc::pid_t, c_int)>> {
    wait_pid(-1, libc::WNOHANG)
}

/// waitpid(2) for one pid (blocking unless flags has WNOHANG), retrying EINTR.
pub fn wait_pid(pid: libc::pid_t, flags: c_int) -> Result<Option<(libc::pid_t, c_int)>> {
    let mut st: c_int = 0;
    loop {
        // SAFETY: st is a valid out-parameter.
        let r = unsafe { libc::waitpid(pid, &mut st, flags) };
        if r > 0 {
            return Ok(Some((r, st)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = errno();
        match e.0 {
            libc::EINTR => continue,
            libc::ECHILD => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// kill(2).
pub fn kill(pid: libc::pid_t, sig: c_int) -> Result<()> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::kill(pid, sig) }).map(|_| ())
}

/// getpid(2).
pub fn getpid() -> libc::pid_t {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}

/// setsid(2).
pub fn setsid() -> Result<libc::pid_t> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::setsid() })
}

/// setpgid(2).
pub fn setpgid(pid: libc::pid_t, pgid: libc::pid_t) -> Result<()> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::setpgid(pid, pgid) }).map(|_| ())
}

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of our descendants come to us.
pub fn set_subreaper() -> Result<()> {
    // SAFETY: plain prctl with integer arguments.
    cvti(|| unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) }).map(|_| ())
}

/// pidfd_open(2): a descriptor that polls readable once `pid` has exited (close-on-exec
/// by definition); how runsv watches a service it adopted and so cannot wait for.
pub fn pidfd_open(pid: libc::pid_t) -> Result<super::fd::Fd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = cvti(|| unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long) as c_int })?;
    Ok(super::fd::Fd::from_raw(fd))
}

/// A wait status as an exit code: the code, or 128 + the signal (the shells' convention).
pub fn exit_code(st: c_int) -> c_int {
    if wifsignaled(st) { 128 + wtermsig(st) } else { wexitstatus(st) }
}

pub fn wifexited(st: c_int) -> bool {
    libc::WIFEXITED(st)
}
pub fn wexitstatus(st: c_int) -> c_int {
    libc::WEXITSTATUS(st)
}
pub fn wifsignaled(st: c_int) -> bool {
    libc::WIFSIGNALED(st)
}
pub fn wtermsig(st: c_int) -> c_int {
    libc::WTERMSIG(st)
}

pub type Pid = libc::pid_t;

/// True while this process has a child (running or waitable): waitid(P_ALL, WNOHANG|WNOWAIT)
/// fails with ECHILD only when none is left (it never waits, so never fails with EINTR).
/// Nothing is reaped.
pub fn children_left() -> bool {
    // SAFETY: siginfo_t is plain data; zeroed is a valid out-parameter.
    let mut si: libc::siginfo_t = unsafe { core::mem::zeroed() };
    // SAFETY: si is valid; P_ALL ignores the id argument.
    unsafe { libc::waitid(libc::P_ALL, 0, &mut si, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) == 0 }
}

/// Takes every `NAME=...` starting with `prefix` out of this process's environment (runsvdir
/// keeps URUNIT_PID1 from its runsvs and services).
pub fn unset_env(prefix: &[u8]) {
    let mut p = environ_ptr() as *mut *const libc::c_char;
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
            if !core::ffi::CStr::from_ptr(*p).to_bytes().starts_with(prefix) {
                *q = *p;
                q = q.add(1);
            }
            p = p.add(1);
        }
        *q = core::ptr::null();
    }
}
