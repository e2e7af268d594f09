//! File descriptors: the owned `Fd`, open/read/write/pipe/dup2/poll.
use super::{Errno, Result, cvt, cvti, errno};
use core::ffi::{CStr, c_int};

pub type RawFd = c_int;
pub const STDIN: RawFd = 0;
pub const STDOUT: RawFd = 1;
pub const STDERR: RawFd = 2;

/// open(2) flags for `open`/`openat` (O_CLOEXEC is always added).
pub use libc::{O_APPEND, O_CREAT, O_DIRECTORY, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY};

/// An owned descriptor: never -1, close-on-exec unless made otherwise, closed on drop.
pub struct Fd(c_int);

impl Fd {
    /// Takes ownership of a descriptor this process opened.
    pub fn from_raw(fd: RawFd) -> Fd {
        Fd(fd)
    }
    pub fn raw(&self) -> RawFd {
        self.0
    }
    /// Gives the descriptor up without closing it.
    pub fn into_raw(self) -> RawFd {
        let fd = self.0;
        core::mem::forget(self);
        fd
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // Not retried on EINTR: the fd is gone either way on Linux, and a retry
        // could close one that someone else just got.
        // SAFETY: we own self.0; nothing uses it after this.
        unsafe { libc::close(self.0) };
    }
}

/// open(2) with O_CLOEXEC added, retrying EINTR. (As openat: musl's open adds an
/// FD_CLOEXEC fallback for pre-2.6.23 kernels.)
pub fn open(path: &CStr, flags: c_int, mode: libc::mode_t) -> Result<Fd> {
    openat(libc::AT_FDCWD, path, flags, mode)
}

/// openat(2) with O_CLOEXEC added, retrying EINTR.
pub fn openat(dir: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> Result<Fd> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::openat(dir, path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) }).map(Fd)
}

/// open(O_RDONLY).
pub fn open_read(path: &CStr) -> Result<Fd> {
    open(path, libc::O_RDONLY, 0)
}

/// open(O_WRONLY|O_APPEND|O_CREAT, 0600): runit's open_append, used for locks.
pub fn open_append(path: &CStr) -> Result<Fd> {
    open(path, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, 0o600)
}

/// open(O_WRONLY|O_TRUNC|O_CREAT, 0644): runit's open_trunc.
pub fn open_trunc(path: &CStr) -> Result<Fd> {
    open(path, libc::O_WRONLY | libc::O_TRUNC | libc::O_CREAT, 0o644)
}

/// read(2), retrying EINTR.
pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes of writes.
    cvt(|| unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) })
}

/// write(2), retrying EINTR.
pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes of reads.
    cvt(|| unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) })
}

/// Writes all of buf, looping over short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        let n = write(fd, buf)?;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// Reads until EOF or `buf` is full; returns how many bytes were read.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = read(fd, &mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Reads a whole (small) file into a Vec.
pub fn read_file(path: &CStr) -> Result<alloc::vec::Vec<u8>> {
    let fd = open_read(path)?;
    let mut v = alloc::vec::Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = read(fd.raw(), &mut buf)?;
        if n == 0 {
            return Ok(v);
        }
        v.extend_from_slice(&buf[..n]);
    }
}

/// pipe2(2) with O_CLOEXEC added: (read end, write end).
pub fn pipe(flags: c_int) -> Result<(Fd, Fd)> {
    let mut p = [0 as c_int; 2];
    // SAFETY: p has room for two descriptors.
    // (The raw system call: musl's pipe2 adds a fallback for pre-2.6.27 kernels.)
    cvt(|| unsafe { libc::syscall(libc::SYS_pipe2, p.as_mut_ptr(), (flags | libc::O_CLOEXEC) as libc::c_long) as isize })?;
    Ok((Fd(p[0]), Fd(p[1])))
}

/// dup2(2): the only way a descriptor crosses exec (onto 0, 1 or 2 in a child).
pub fn dup2(from: RawFd, to: RawFd) -> Result<()> {
    // SAFETY: plain syscall on integers.
    cvti(|| unsafe { libc::dup2(from, to) }).map(|_| ())
}

/// close(2) on a raw descriptor (for 0/1/2 in chpst -0/-1/-2 and children).
pub fn close_raw(fd: RawFd) -> Result<()> {
    // SAFETY: the caller owns fd.
    if unsafe { libc::close(fd) } == 0 { Ok(()) } else { Err(errno()) }
}

/// Sets or clears O_NONBLOCK.
pub fn set_nonblock(fd: RawFd, on: bool) -> Result<()> {
    // SAFETY: plain fcntl calls on an integer descriptor.
    let fl = cvti(|| unsafe { fcntl(fd, libc::F_GETFL, 0) })?;
    let nfl = if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK };
    // SAFETY: as above.
    cvti(|| unsafe { fcntl(fd, libc::F_SETFL, nfl) }).map(|_| ())
}

/// Clears FD_CLOEXEC (only for a descriptor that must cross exec on purpose).
pub fn set_cloexec(fd: RawFd, on: bool) -> Result<()> {
    // SAFETY: plain fcntl call.
    cvti(|| unsafe { fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 }) }).map(|_| ())
}

/// True if fd is open (fcntl F_GETFD succeeds).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: plain fcntl call.
    unsafe { fcntl(fd, libc::F_GETFD, 0) >= 0 }
}

/// Makes sure fds 0-2 are open (s6's fd_sanitize), so the first open can't become stdout.
pub fn sanitize_std() {
    for fd in 0..3 {
        if !is_open(fd) {
            // SAFETY: open of a literal path; the result is left open on purpose as fd 0..2.
            unsafe { libc::openat(libc::AT_FDCWD, c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

pub use libc::pollfd as PollFd;
pub const POLLIN: i16 = libc::POLLIN;
pub const POLLOUT: i16 = libc::POLLOUT;

pub fn pollfd(fd: RawFd, events: i16) -> PollFd {
    PollFd { fd, events, revents: 0 }
}

/// poll(2). EINTR is returned as Ok(0): the caller's loop looks at its signals anyway.
pub fn poll(fds: &mut [PollFd], timeout_ms: c_int) -> Result<usize> {
    // SAFETY: fds is a valid slice of pollfd.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r >= 0 {
        return Ok(r as usize);
    }
    let e = errno();
    if e.0 == libc::EINTR { Ok(0) } else { Err(e) }
}

/// flock(2), retrying EINTR.
pub fn flock(fd: RawFd, op: c_int) -> Result<()> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::flock(fd, op) }).map(|_| ())
}
pub const LOCK_EX: c_int = libc::LOCK_EX;
pub const LOCK_NB: c_int = libc::LOCK_NB;

/// fsync(2).
pub fn fsync(fd: RawFd) -> Result<()> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::fsync(fd) }).map(|_| ())
}

/// lseek(2) from the start.
pub fn seek_set(fd: RawFd, off: u64) -> Result<u64> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::lseek(fd, off as libc::off_t, libc::SEEK_SET) };
    if r < 0 { Err(errno()) } else { Ok(r as u64) }
}

/// ftruncate(2).
pub fn ftruncate(fd: RawFd, len: u64) -> Result<()> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::ftruncate(fd, len as libc::off_t) }).map(|_| ())
}

/// splice(2) between descriptors (one must be a pipe), moving up to len bytes.
pub fn splice(from: RawFd, to: RawFd, len: usize, flags: libc::c_uint) -> Result<usize> {
    // SAFETY: null offsets mean "use the file position"; plain syscall.
    cvt(|| unsafe { libc::splice(from, core::ptr::null_mut(), to, core::ptr::null_mut(), len, flags) })
}

pub const SPLICE_F_NONBLOCK: libc::c_uint = libc::SPLICE_F_NONBLOCK;

/// Closes every descriptor from `min` up (close_range(2), or a loop where the kernel
/// lacks it). Used in a child just before exec so a service sees only 0, 1 and 2.
/// Async-signal-safe, no allocation.
pub fn close_from(min: RawFd) {
    close_between(min, RawFd::MAX);
}

/// Closes every descriptor from `min` up except `keep` (a service's notification fd).
pub fn close_from_but(min: RawFd, keep: RawFd) {
    if keep > min {
        close_between(min, keep - 1);
    }
    close_between(keep.max(min - 1) + 1, RawFd::MAX);
}

/// Closes lo..=hi: close_range(2), or a loop up to 1024 where the kernel lacks it.
fn close_between(lo: RawFd, hi: RawFd) {
    // SAFETY: plain syscall; closing descriptors we are about to lose at exec anyway.
    let r = unsafe { libc::syscall(libc::SYS_close_range, lo as libc::c_uint, hi as libc::c_uint, 0 as libc::c_uint) };
    if r != 0 {
        for fd in lo..hi.min(1024) {
            // SAFETY: as above; EBADF for unused numbers is harmless.
            unsafe { libc::close(fd) };
        }
    }
}

/// open(O_RDONLY|O_NONBLOCK): runit's open_read (opening a FIFO never waits for a writer).
pub fn open_read_nb(path: &CStr) -> Result<Fd> {
    open(path, libc::O_RDONLY | libc::O_NONBLOCK, 0)
}

/// open(O_PATH|O_DIRECTORY): a handle to fchdir back to, without needing read access.
pub fn open_dir_path(path: &CStr) -> Result<Fd> {
    open(path, libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// open(O_WRONLY|O_NONBLOCK): runit's open_write, how sv asks "is a reader there?"
/// of the supervise/ok and supervise/control FIFOs (ENXIO: nobody reads).
pub fn open_write_nb(path: &CStr) -> Result<Fd> {
    open(path, libc::O_WRONLY | libc::O_NONBLOCK, 0)
}

/// fcntl(F_SETPIPE_SZ): asks for a larger pipe buffer (the kernel may refuse: EPERM
/// above /proc/sys/fs/pipe-max-size for an unprivileged process).
pub fn set_pipe_size(fd: RawFd, size: c_int) -> Result<()> {
    // SAFETY: F_SETPIPE_SZ takes an integer argument.
    cvti(|| unsafe { fcntl(fd, libc::F_SETPIPE_SZ, size) }).map(|_| ())
}

/// pread(2) at `off`, retrying EINTR (svlogd's journal).
pub fn pread(fd: RawFd, buf: &mut [u8], off: u64) -> Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes of writes.
    cvt(|| unsafe { libc::pread(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), off as libc::off_t) })
}

/// pwrite(2) of all of buf at `off`, retrying EINTR and short writes (svlogd's journal).
pub fn pwrite_all(fd: RawFd, mut buf: &[u8], mut off: u64) -> Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for buf.len() bytes of reads.
        let n = cvt(|| unsafe { libc::pwrite(fd, buf.as_ptr() as *const libc::c_void, buf.len(), off as libc::off_t) })?;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = &buf[n..];
        off += n as u64;
    }
    Ok(())
}

/// fchmod(2).
pub fn fchmod(fd: RawFd, mode: u32) -> Result<()> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(|_| ())
}

/// fcntl(2) with an integer argument as the raw system call: musl's wrapper handles
/// F_GETOWN, locks and pre-2.6.24 kernels, none of which urunit needs (~340 bytes).
///
/// # Safety
/// The same as fcntl(2): cmd must take an integer (or no) argument.
unsafe fn fcntl(fd: RawFd, cmd: c_int, arg: c_int) -> c_int {
    // SAFETY: the caller passes a command with an integer argument.
    unsafe { libc::syscall(libc::SYS_fcntl, fd as libc::c_long, cmd as libc::c_long, arg as libc::c_long) as c_int }
}
