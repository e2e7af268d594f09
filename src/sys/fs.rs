//! Paths: stat, mkdir, mkfifo, readlink, rename, unlink, chdir, directories.
use super::{Result, cvti, errno};
use alloc::vec::Vec;
use core::ffi::CStr;

/// The parts of `struct stat` the programs use.
#[derive(Clone, Copy)]
pub struct Stat {
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_ns: i64,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_fifo(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFIFO
    }
    pub fn is_reg(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    pub fn is_link(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }
}

fn conv(st: &libc::stat) -> Stat {
    Stat {
        mode: st.st_mode,
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        size: st.st_size as u64,
        mtime: st.st_mtime as i64,
        mtime_ns: st.st_mtime_nsec as i64,
    }
}

/// fstatat(2) as the raw system call: on 64-bit Linux `struct stat` is the kernel's,
/// and musl's wrapper only adds fallbacks for pre-3.6 kernels (and ~450 bytes).
fn stat_raw(dir: super::fd::RawFd, path: &CStr, flags: super::c_int) -> Result<Stat> {
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: path is NUL-terminated; st is valid for a struct stat.
    super::cvt(|| unsafe {
        libc::syscall(libc::SYS_newfstatat, dir as libc::c_long, path.as_ptr(), &mut st, flags as libc::c_long) as isize
    })?;
    Ok(conv(&st))
}

/// stat(2), following symlinks.
pub fn stat(path: &CStr) -> Result<Stat> {
    stat_raw(libc::AT_FDCWD, path, 0)
}

/// lstat(2).
pub fn lstat(path: &CStr) -> Result<Stat> {
    stat_raw(libc::AT_FDCWD, path, libc::AT_SYMLINK_NOFOLLOW)
}

/// fstat(2).
pub fn fstat(fd: super::fd::RawFd) -> Result<Stat> {
    stat_raw(fd, c"", libc::AT_EMPTY_PATH)
}

/// True if `path` exists (stat succeeds).
pub fn exists(path: &CStr) -> bool {
    stat(path).is_ok()
}

/// mkdir(2).
pub fn mkdir(path: &CStr, mode: u32) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::mkdir(path.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// mkfifo(3).
pub fn mkfifo(path: &CStr, mode: u32) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::mkfifo(path.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// readlink(2) into buf; returns the length (not NUL-terminated).
pub fn readlink(path: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let r = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if r < 0 { Err(errno()) } else { Ok(r as usize) }
}

/// rename(2).
pub fn rename(from: &CStr, to: &CStr) -> Result<()> {
    // SAFETY: both paths are NUL-terminated.
    cvti(|| unsafe { libc::rename(from.as_ptr(), to.as_ptr()) }).map(|_| ())
}

/// unlink(2).
pub fn unlink(path: &CStr) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::unlink(path.as_ptr()) }).map(|_| ())
}

/// symlink(2).
pub fn symlink(target: &CStr, path: &CStr) -> Result<()> {
    // SAFETY: both paths are NUL-terminated.
    cvti(|| unsafe { libc::symlink(target.as_ptr(), path.as_ptr()) }).map(|_| ())
}

/// chdir(2).
pub fn chdir(path: &CStr) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::chdir(path.as_ptr()) }).map(|_| ())
}

/// fchdir(2).
pub fn fchdir(fd: super::fd::RawFd) -> Result<()> {
    // SAFETY: plain syscall.
    cvti(|| unsafe { libc::fchdir(fd) }).map(|_| ())
}

/// chroot(2).
pub fn chroot(path: &CStr) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::chroot(path.as_ptr()) }).map(|_| ())
}

/// access(2) with X_OK etc.
pub fn access(path: &CStr, mode: i32) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::access(path.as_ptr(), mode) }).map(|_| ())
}

/// chmod(2).
pub fn chmod(path: &CStr, mode: u32) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::chmod(path.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// One directory entry: its name (no NUL).
pub struct DirEntry {
    pub name: Vec<u8>,
}

/// Reads all entries of an open directory with getdents64, "." and ".." left out.
/// Entries come in the kernel's (readdir) order.
pub fn read_dir_fd(fd: super::fd::RawFd) -> Result<Vec<DirEntry>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is valid for its length; getdents64 writes whole records.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            let e = errno();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(out);
        }
        let mut off = 0usize;
        while off < n as usize {
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name...
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name = &buf[off + 19..off + reclen];
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name = &name[..len];
            if name != b"." && name != b".." {
                out.push(DirEntry { name: name.to_vec() });
            }
            off += reclen;
        }
    }
}

/// Opens and reads a directory.
pub fn read_dir(path: &CStr) -> Result<Vec<DirEntry>> {
    let fd = super::fd::open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    read_dir_fd(fd.raw())
}

pub const S_IXUSR: u32 = libc::S_IXUSR;
pub const X_OK: i32 = libc::X_OK;
pub const W_OK: i32 = libc::W_OK;

/// renameat(2) within one directory descriptor.
pub fn renameat(dir: super::fd::RawFd, from: &CStr, to: &CStr) -> Result<()> {
    // SAFETY: both paths are NUL-terminated.
    cvti(|| unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) }).map(|_| ())
}

/// unlinkat(2) of a non-directory.
pub fn unlinkat(dir: super::fd::RawFd, path: &CStr) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    cvti(|| unsafe { libc::unlinkat(dir, path.as_ptr(), 0) }).map(|_| ())
}

/// fstatat(2), following symlinks.
pub fn statat(dir: super::fd::RawFd, path: &CStr) -> Result<Stat> {
    stat_raw(dir, path, 0)
}

/// getcwd(3) into buf; returns the length. The raw system call, checked as musl's
/// getcwd does (an unreachable directory is ENOENT): musl's getcwd links malloc.
pub fn getcwd(buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if r < 0 {
        return Err(errno());
    }
    if r == 0 || buf.first() != Some(&b'/') {
        return Err(super::Errno(libc::ENOENT));
    }
    Ok(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()))
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
