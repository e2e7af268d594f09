//! runsvdir's readproctitle log (runit's third argument): stderr of runsvdir and of every
//! child goes into a pipe whose bytes scroll through that argument in `ps`.
use crate::sys::{fd, proc};

/// The first bytes of the argument stay put (`log: `); the rest is a FIFO of recent output.
const FIXED: usize = 5; // runit's loop `for (i =6; ...) rplog[i -1] =rplog[i]`
const MIN_LEN: usize = 7;
/// runit writes a `.` every 15 minutes so old messages scroll away.
pub const DOT_MS: u64 = 900_000;

pub struct Log {
    area: proc::ArgvArea,
    rd: fd::Fd,
    /// A blocking description of the same pipe for children (unlike runit's, which hands them the non-blocking one: their
    /// writes no longer fail with EAGAIN); runsvdir's own fd 2 stays non-blocking so it
    /// never waits on itself. None when /proc could not reopen the pipe.
    child: Option<fd::Fd>,
    pub next_dot: u64,
}

/// Why the log could not be set up: runit's warning text.
type Failed = &'static [u8];
const SHORT: Failed = b"log must have at least seven characters.";
const PIPE: Failed = b"unable to create pipe for log.";

impl Log {
    /// Makes a pipe the process's fd 2 and takes over the argv storage of `arg`.
    pub fn setup(arg: &'static [u8], now: u64) -> Result<Log, Failed> {
        if arg.len() < MIN_LEN {
            return Err(SHORT);
        }
        // The argv slot holding `arg` (the slices of args() point into argv itself).
        let idx = proc::args().iter().position(|a| a.as_ptr() == arg.as_ptr()).ok_or(SHORT)?;
        let (rd, wr) = fd::pipe(0).map_err(|_| PIPE)?;
        fd::set_nonblock(rd.raw(), true).map_err(|_| PIPE)?;
        fd::set_nonblock(wr.raw(), true).map_err(|_| PIPE)?;
        fd::dup2(wr.raw(), fd::STDERR).map_err(|_| &b"unable to set filedescriptor for log."[..])?;
        drop(wr);
        // open_append: O_WRONLY (append and create mean nothing for a pipe).
        let child = fd::open_append(c"/proc/self/fd/2").ok();
        let area = proc::argv_area(idx).ok_or(SHORT)?;
        Ok(Log { area, rd, child, next_dot: now })
    }

    pub fn raw(&self) -> fd::RawFd {
        self.rd.raw()
    }

    /// The descriptor a child gets as its fd 2.
    pub fn child_fd(&self) -> Option<fd::RawFd> {
        self.child.as_ref().map(|f| f.raw())
    }

    /// Reads everything pending into the argument (NUL bytes are ignored, as in runit).
    pub fn drain(&mut self) {
        let mut buf = [0u8; 256];
        while let Ok(n) = fd::read(self.rd.raw(), &mut buf) {
            if n == 0 {
                return;
            }
            for &b in buf[..n].iter().filter(|&&b| b != 0) {
                self.area.push(FIXED, b);
            }
        }
    }

    /// Writes runit's `.` every 15 minutes.
    pub fn tick(&mut self, now: u64) {
        if now >= self.next_dot {
            let _ = fd::write(fd::STDERR, b".");
            self.next_dot = now + DOT_MS;
        }
    }
}
