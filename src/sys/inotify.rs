//! inotify(7): sv's event-fast waits.
use super::{Result, cvti, fd::Fd};
use alloc::vec::Vec;
use core::ffi::CStr;

#[allow(unused_imports)]
pub use libc::{
    IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_IGNORED, IN_MODIFY, IN_MOVE_SELF, IN_MOVED_FROM,
    IN_MOVED_TO, IN_ONLYDIR, IN_Q_OVERFLOW,
};

/// An inotify instance (non-blocking, close-on-exec).
pub struct Inotify(Fd);

/// One event: the watch, the mask, and the name (empty for the watched path itself).
pub struct Event {
    #[allow(dead_code)]
    pub wd: i32,
    pub mask: u32,
    pub name: Vec<u8>,
}

impl Inotify {
    pub fn new() -> Result<Inotify> {
        // SAFETY: plain syscall with flags.
        cvti(|| unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) }).map(|fd| Inotify(Fd::from_raw(fd)))
    }
    pub fn raw(&self) -> i32 {
        self.0.raw()
    }
    /// inotify_add_watch(2): returns the watch descriptor.
    pub fn add(&self, path: &CStr, mask: u32) -> Result<i32> {
        // SAFETY: path is NUL-terminated.
        cvti(|| unsafe { libc::inotify_add_watch(self.0.raw(), path.as_ptr(), mask) })
    }
    /// inotify_rm_watch(2).
    pub fn remove(&self, wd: i32) {
        // SAFETY: plain syscall; an unknown wd just fails.
        unsafe { libc::inotify_rm_watch(self.0.raw(), wd) };
    }
    /// Reads every pending event (none if nothing is pending). (Not inlined: smaller.)
    #[inline(never)]
    pub fn read_events(&self) -> Vec<Event> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match super::fd::read(self.0.raw(), &mut buf) {
                Ok(n) if n > 0 => n,
                _ => return out,
            };
            let mut off = 0;
            // struct inotify_event: i32 wd, u32 mask, u32 cookie, u32 len, name[len]
            while off + 16 <= n {
                let wd = i32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
                let mask = u32::from_ne_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]);
                let len = u32::from_ne_bytes([buf[off + 12], buf[off + 13], buf[off + 14], buf[off + 15]]) as usize;
                let end = (off + 16 + len).min(n);
                let name = &buf[off + 16..end];
                let nl = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                out.push(Event { wd, mask, name: name[..nl].to_vec() });
                off = end;
            }
        }
    }
}

/// A file opened without write access was closed (runsv closing supervise/ok at exit).
pub const IN_CLOSE_NOWRITE: u32 = libc::IN_CLOSE_NOWRITE;
