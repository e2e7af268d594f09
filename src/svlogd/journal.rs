//! svlogd's journal: how a SIGKILL at any instant neither loses nor duplicates a line.
//!
//! Input is never read from the pipe into memory: splice(2) moves it from stdin into
//! the file `journal` of the first log directory, which consumes it from the pipe and
//! keeps it in one step. Lines are then processed from the journal. Before the output
//! of a batch is written, the journal's header records where processing starts
//! (`done`) and, for every directory, the inode and length of `current` (and the name
//! a rotation inside the batch gives it). A restarted svlogd truncates what the
//! killed one wrote after that point and processes the batch again: every line is
//! in the log directories exactly once. stderr, UDP and stdout copies cannot be taken
//! back: they are at least once.
use super::logdir::LogDir;
use crate::sys::fd::{self, Fd};
use crate::sys::{Result, fs};
use alloc::vec::Vec;

/// Data starts after one page of header.
const HDR: u64 = 4096;
const MAGIC: &[u8; 8] = b"svlogdJ1";
const SLOT: usize = 64;
const MAX_SLOTS: usize = (HDR as usize - SLOT) / SLOT;
const F_SEL: u8 = 1;
const F_PENDING: u8 = 2;
const F_ROT: u8 = 4;

pub struct Journal {
    fd: Fd,
    /// Journal offset of the first byte not yet processed.
    pub done: u64,
    /// Journal length: everything taken from stdin so far.
    pub end: u64,
    /// A batch's intent is recorded and not yet settled.
    dirty: bool,
    /// The header found at startup (empty if none or nothing to redo).
    old: Vec<u8>,
}

impl Journal {
    pub fn open(dirfd: fd::RawFd) -> Result<Journal> {
        let f = fd::openat(dirfd, c"journal", fd::O_RDWR | fd::O_CREAT, 0o600)?;
        let size = fs::fstat(f.raw())?.size;
        Ok(Journal { fd: f, done: HDR, end: size.max(HDR), dirty: false, old: Vec::new() })
    }

    /// Reads the header left by the previous svlogd: where processing resumes.
    pub fn read_header(&mut self) {
        let mut h = [0u8; HDR as usize];
        let n = fd::pread(self.fd.raw(), &mut h, 0).unwrap_or(0);
        self.done = self.end;
        if n >= SLOT && &h[..8] == MAGIC {
            let done = u64::from_le_bytes(h[8..16].try_into().unwrap_or([0; 8]));
            if (HDR..self.end).contains(&done) {
                self.done = done;
                self.old = h[..n].to_vec();
            }
        }
    }

    /// Rolls directory i back to the last commit point of a killed svlogd (before its
    /// `current` is opened), and restores its line state there.
    pub fn recover(&self, i: usize, d: &mut LogDir) {
        let Some(s) = self.old.get(SLOT * (i + 1)..SLOT * (i + 2)) else { return };
        if i >= self.old[17] as usize {
            return;
        }
        let flags = s[16];
        d.sel = flags & F_SEL != 0;
        if flags & F_PENDING != 0 {
            let ino = u64::from_le_bytes(s[..8].try_into().unwrap_or([0; 8]));
            let len = u64::from_le_bytes(s[8..16].try_into().unwrap_or([0; 8]));
            let mut rot = [0u8; 28];
            rot[..27].copy_from_slice(&s[17..44]);
            d.roll_back(ino, len, (flags & F_ROT != 0).then_some(&rot));
        }
    }

    /// After recovery: the previous svlogd's "midline", and a clean header.
    pub fn recovered(&mut self, dirs: &[LogDir]) -> bool {
        let midline = self.old.get(16) == Some(&1);
        self.old = Vec::new();
        self.dirty = true;
        self.settle(dirs, midline);
        self.compact(dirs, midline);
        midline
    }

    /// Writes the header: the commit point, and for each directory `current`'s inode,
    /// length and line state; `pending` (a batch's intent) until settled.
    #[inline(never)]
    fn write_header(&mut self, dirs: &[LogDir], midline: bool, pending: bool) {
        let n = dirs.len().min(MAX_SLOTS);
        let mut h = [0u8; HDR as usize];
        h[..8].copy_from_slice(MAGIC);
        h[8..16].copy_from_slice(&self.done.to_le_bytes());
        h[16] = midline as u8;
        h[17] = n as u8;
        for (s, d) in h[SLOT..].chunks_mut(SLOT).zip(dirs) {
            s[..8].copy_from_slice(&d.ino.to_le_bytes());
            s[8..16].copy_from_slice(&d.size.to_le_bytes());
            s[16] = if d.sel { F_SEL } else { 0 } | if pending && d.is_open() { F_PENDING } else { 0 };
        }
        let h = &h[..SLOT * (n + 1)];
        while let Err(e) = fd::pwrite_all(self.fd.raw(), h, 0) {
            super::logdir::pause(b"unable to write to journal", dirs_name(dirs), e);
        }
        self.dirty = pending;
    }

    /// Records the commit point before a batch's output is written.
    pub fn begin(&mut self, dirs: &[LogDir], midline: bool) {
        self.write_header(dirs, midline, true);
    }

    /// A rotation inside the batch: remember the rotated name so a restart can find
    /// (and shorten) the file the batch started in. Only the first one is kept.
    pub fn note_rotation(&mut self, i: usize, name: &super::logdir::Name) {
        if i >= MAX_SLOTS {
            return;
        }
        let off = (SLOT * (i + 1) + 16) as u64;
        let mut f = [0u8; 1];
        if fd::pread(self.fd.raw(), &mut f, off).is_ok() && f[0] & F_PENDING != 0 && f[0] & F_ROT == 0 {
            let mut b = [0u8; 28];
            b[0] = f[0] | F_ROT;
            b[1..].copy_from_slice(&name[..27]);
            let _ = fd::pwrite_all(self.fd.raw(), &b, off);
        }
    }

    /// Marks everything before `done` as written for good (before a rotation, close
    /// or exit outside a batch).
    pub fn settle(&mut self, dirs: &[LogDir], midline: bool) {
        if self.dirty {
            self.write_header(dirs, midline, false);
        }
    }

    /// Drops processed data once nothing is left to process: the journal never holds
    /// more than what is not yet written (small file systems fill up otherwise).
    pub fn compact(&mut self, dirs: &[LogDir], midline: bool) {
        if self.done == self.end && self.end > HDR {
            self.settle(dirs, midline);
            // A crash from here on finds done >= length: nothing to redo.
            if fd::ftruncate(self.fd.raw(), HDR).is_ok() {
                self.done = HDR;
                self.end = HDR;
                self.dirty = true;
                self.settle(dirs, midline);
            }
        }
    }

    /// Unprocessed journal bytes into `buf` (after a restart).
    pub fn load(&self, buf: &mut Vec<u8>) {
        let mut off = self.done;
        let mut chunk = [0u8; 8192];
        while off < self.end {
            match fd::pread(self.fd.raw(), &mut chunk, off) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    off += n as u64;
                }
            }
        }
    }

    /// Moves up to `max` bytes from stdin into the journal and appends them to `buf`.
    /// Ok(0) is end of input; EAGAIN means nothing is there.
    pub fn ingest(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<usize> {
        fd::seek_set(self.fd.raw(), self.end)?;
        let n = fd::splice(fd::STDIN, self.fd.raw(), max, fd::SPLICE_F_NONBLOCK)?;
        let old = buf.len();
        buf.resize(old + n, 0);
        let mut got = 0;
        while got < n {
            match fd::pread(self.fd.raw(), &mut buf[old + got..], self.end + got as u64) {
                Ok(0) => crate::msg::fatal(super::EXIT_FATAL, &[b"unable to read journal: short read"], None),
                // The bytes are in the journal but not here: exit, and the restarted
                // svlogd replays them (going on would skip them or write them twice).
                Err(e) => crate::msg::fatal(super::EXIT_FATAL, &[b"unable to read journal"], Some(e)),
                Ok(k) => got += k,
            }
        }
        self.end += n as u64;
        Ok(n)
    }
}

fn dirs_name(dirs: &[LogDir]) -> &'static [u8] {
    dirs.iter().find(|d| d.is_open()).map_or(b"", |d| d.name)
}
