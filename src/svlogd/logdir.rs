//! svlogd: one log directory: open/lock/config, `current`, rotation to `@TAI64N.s|.u`,
//! the count limit, the disk-full rule, and the processor (`!`) protocol.
use super::conf::Conf;
use super::{stamp, verbose};
use crate::msg::{self, CBuf};
use crate::sys::fd::{self, Fd};
use crate::sys::{Errno, fs, proc, sig, time};
use alloc::vec::Vec;
use core::ffi::CStr;

/// How often, and how far apart, a lock held by our own processor child is retried.
const LOCK_RETRIES: u32 = 200;
const LOCK_RETRY_MS: u64 = 5;
/// runit's pause: warn, then sleep 3 seconds and try again. Also how often a directory
/// given up in stdout mode is tried again.
pub const PAUSE_MS: u64 = 3000;
/// scan_old's modes.
const ALL: u8 = 0;
const TIDY: u8 = 1;
const LEFTOVER: u8 = 2;

pub fn pause(what: &[u8], name: &[u8], e: Errno) {
    msg::say(b"pausing: ", &[what, b": ", name], Some(e));
    time::sleep_ms(PAUSE_MS);
}

pub struct LogDir {
    /// The directory as given on the command line (messages use it verbatim).
    pub name: &'static [u8],
    pub dir: Option<Fd>,
    cur: Option<Fd>,
    lock: Option<Fd>,
    pub conf: Conf,
    /// Bytes in `current`, counting what is still in `out`.
    pub size: u64,
    /// Inode of `current` (the journal records it).
    pub ino: u64,
    /// Monotonic deadline of the next time-based rotation (ms), if `t` is set.
    pub trotate: u64,
    pub ppid: proc::Pid,
    /// Name of the last rotated file (`@…` + `.s|.u|.t`), runit's fnsave.
    fnsave: Name,
    /// Is the line in progress selected for this directory?
    pub sel: bool,
    /// Output for `current` not yet written (one write per batch).
    pub out: Vec<u8>,
    /// runit sets ld->name only once a lock was taken: until then "close: " has no name.
    named: bool,
    /// Stdout mode (`-o`/`-O`): a directory that cannot be opened or written is given
    /// up for a while instead of pausing, so lines keep reaching stdout.
    pub nonstop: bool,
    /// Given up (stdout mode): its warning was printed; retries are silent until the
    /// directory works again.
    pub failing: bool,
    /// Given up (stdout mode): monotonic ms of the next try to open it; 0 = none.
    pub retry_at: u64,
}

impl LogDir {
    pub fn new(name: &'static [u8], nonstop: bool) -> LogDir {
        LogDir {
            name,
            dir: None,
            cur: None,
            lock: None,
            conf: Conf::new(),
            size: 0,
            ino: 0,
            trotate: 0,
            ppid: 0,
            fnsave: [0; 28],
            sel: true,
            out: Vec::new(),
            named: false,
            nonstop,
            failing: false,
            retry_at: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        self.dir.is_some()
    }

    fn dirfd(&self) -> fd::RawFd {
        self.dir.as_ref().map_or(-1, |d| d.raw())
    }

    fn warn(&self, what: &[u8], e: Errno) {
        if !self.failing {
            msg::warning(&[what, b": ", self.name], Some(e));
        }
    }

    /// `svlogd: KIND WHAT NAME/FILE` (without `/` when FILE is empty).
    #[inline(never)]
    fn note(&self, kind: &[u8], what: &[u8], file: &[u8]) {
        msg::say(kind, &[what, self.name, if file.is_empty() { b"" } else { b"/" }, file], None);
    }

    /// `svlogd: info: WHAT NAME/FILE` with -v.
    #[inline(never)]
    fn info(&self, what: &[u8], file: &[u8]) {
        if verbose() {
            self.note(b"info: ", what, file);
        }
    }

    /// Stdout mode: gives the directory up after `what` failed (one warning per
    /// outage), `current` marked as closed cleanly if possible; it is tried again
    /// every PAUSE_MS (Svlogd::retry_dirs) while lines keep going to stdout.
    fn give_up(&mut self, what: &[u8], e: Errno) {
        self.warn(what, e);
        self.failing = true;
        if let Some(cur) = self.cur.take() {
            let _ = fd::fchmod(cur.raw(), 0o744);
        }
        self.drop_fds();
        self.out.clear();
        self.retry_at = time::mono_ms() + PAUSE_MS;
    }

    /// `what` failed: runit's pause, true (try again); in stdout mode the directory
    /// is given up instead, false.
    #[inline(never)]
    fn failed(&mut self, what: &[u8], e: Errno) -> bool {
        if self.nonstop {
            self.give_up(what, e);
            return false;
        }
        pause(what, self.name, e);
        true
    }

    /// `current` becomes fnsave. None: given up (stdout mode).
    fn rename_current(&mut self) -> Option<()> {
        let to = self.fnsave;
        while let Err(e) = fs::renameat(self.dirfd(), c"current", cs(&to)) {
            if !self.failed(b"unable to rename current", e) {
                return None;
            }
        }
        Some(())
    }

    /// First half of runit's logdir_open: the directory, its lock, the defaults and
    /// `config`. `current` is opened by `open_current` (the journal looks in between).
    pub fn open_config(&mut self) -> bool {
        let path = CBuf::new(&[self.name]);
        let d = match fd::open_read(&path) {
            Ok(d) => d,
            Err(e) => {
                self.warn(b"unable to open log directory", e);
                return false;
            }
        };
        // runit fchdir()s here; a non-directory fails with ENOTDIR.
        match fs::fstat(d.raw()) {
            Ok(st) if st.is_dir() => {}
            Ok(_) => {
                self.info_close();
                self.warn(b"unable to change directory", Errno::NOTDIR);
                return false;
            }
            Err(e) => {
                self.info_close();
                self.warn(b"unable to change directory", e);
                return false;
            }
        }
        let lock = fd::openat(d.raw(), c"lock", fd::O_WRONLY | fd::O_APPEND | fd::O_CREAT, 0o600).and_then(|l| {
            // Our own processor child shares the old lock until it execs (the descriptor is
            // close-on-exec): while one runs, a busy lock is retried for up to a second
            // before it counts as another svlogd's.
            let mut tries = if self.ppid != 0 { LOCK_RETRIES } else { 0 };
            loop {
                match fd::flock(l.raw(), fd::LOCK_EX | fd::LOCK_NB) {
                    Err(e) if e == Errno::WOULDBLOCK && tries > 0 => {
                        tries -= 1;
                        time::sleep_ms(LOCK_RETRY_MS);
                    }
                    r => return r.map(|_| l),
                }
            }
        });
        match lock {
            Ok(l) => self.lock = Some(l),
            Err(e) => {
                self.info_close();
                self.warn(b"unable to lock directory", e);
                return false;
            }
        }
        self.named = true;
        self.dir = Some(d);
        self.size = 0;
        // runit forgets a processor still running at SIGHUP; it is kept here, so its
        // end is handled and its `.u` not processed twice.
        self.sel = true;
        self.conf = Conf::new();
        match fd::read_file(&CBuf::new(&[self.name, b"/config"])) {
            Ok(sa) => {
                self.info(b"read: ", b"config");
                self.conf.parse(&sa);
                self.conf.text = sa;
            }
            Err(e) if e == Errno::NOENT => {}
            Err(e) => self.warn(b"unable to read config", e),
        }
        if self.conf.tmax != 0 {
            self.trotate = time::mono_ms() + self.conf.tmax.saturating_mul(1000);
        }
        true
    }

    /// Second half of logdir_open: a `current` left without the x bit by a killed
    /// svlogd becomes `@NOW.u`; then `current` is opened for appending, mode 0644.
    pub fn open_current(&mut self) -> bool {
        let dirfd = self.dirfd();
        let mut fresh = true;
        match fs::statat(dirfd, c"current") {
            Ok(st) if st.size > 0 && st.mode & fs::S_IXUSR == 0 => {
                self.new_name(b'u');
                if self.rename_current().is_none() {
                    return false;
                }
                self.delete_oldest(true);
            }
            Ok(st) => {
                self.size = st.size;
                fresh = false;
            }
            Err(e) if e == Errno::NOENT => {}
            Err(e) => {
                self.info_close();
                self.warn(b"unable to stat current", e);
                self.drop_fds();
                return false;
            }
        }
        if self.open_new_current(b"unable to open current").is_none() {
            return false;
        }
        self.info(if fresh { b"new: " } else { b"append: " }, b"current");
        self.process_leftover();
        true
    }

    /// A `.u` file left by a killed svlogd is "rotated, not yet processed": with a
    /// processor configured it is processed too, oldest first (runit never does).
    fn process_leftover(&mut self) {
        if self.conf.processor().is_empty() || self.ppid != 0 {
            return;
        }
        if let (_, Some(name)) = self.scan_old(LEFTOVER) {
            self.fnsave = name;
            self.processor_start();
        }
    }

    /// runit's logdir_close on a half-opened directory only says "close: NAME".
    fn info_close(&self) {
        if verbose() && !self.failing {
            msg::say(b"info: ", &[b"close: ", if self.named { self.name } else { b"" }], None);
        }
    }

    fn open_new_current(&mut self, what: &[u8]) -> Option<()> {
        let dirfd = self.dirfd();
        let cur = loop {
            match fd::openat(dirfd, c"current", fd::O_WRONLY | fd::O_APPEND | fd::O_CREAT, 0o600) {
                Ok(f) => break f,
                Err(e) if !self.failed(what, e) => return None,
                Err(_) => {}
            }
        };
        while let Err(e) = fd::fchmod(cur.raw(), 0o644) {
            if !self.failed(b"unable to set mode of current", e) {
                return None;
            }
        }
        self.ino = fs::fstat(cur.raw()).map_or(0, |st| st.ino);
        self.cur = Some(cur);
        Some(())
    }

    fn drop_fds(&mut self) {
        self.cur = None;
        self.lock = None;
        self.dir = None;
    }

    /// Picks a free `@NOW.x` name into fnsave (a new stamp while the name exists).
    fn new_name(&mut self, suffix: u8) {
        loop {
            let mut s = [0u8; stamp::LEN];
            stamp::tai64n(&mut s, time::now());
            self.fnsave[..25].copy_from_slice(&s);
            self.fnsave[25] = b'.';
            self.fnsave[26] = suffix;
            match fs::statat(self.dirfd(), cs(&self.fnsave)) {
                Err(e) if e == Errno::NOENT => return,
                _ => {}
            }
        }
    }

    /// Writes `out` to `current`, pausing and retrying on any error; on a full disk
    /// the oldest log goes first while more than N remain (runit's buffer_pwrite).
    pub fn flush(&mut self) {
        let mut off = 0;
        while off < self.out.len() {
            let Some(cur) = self.cur.as_ref() else { break };
            match fd::write(cur.raw(), &self.out[off..]) {
                Ok(n) => {
                    off += n;
                    self.failing = false;
                }
                Err(e) => {
                    if e == Errno::NOSPC && self.conf.nmin < self.conf.nmax && self.delete_for_space() {
                        continue;
                    }
                    if !self.failed(b"unable to write to current", e) {
                        break;
                    }
                }
            }
        }
        self.out.clear();
    }

    /// Deletes the oldest `@…` file if more than N exist; true if one went.
    pub fn delete_for_space(&mut self) -> bool {
        self.delete_oldest(false)
    }

    /// Deletes the oldest `@…` file: with `count`, runit's count limit (more than n
    /// old logs, `.t` leftovers removed first); without, on a full disk while more
    /// than N remain. True if one went.
    #[inline(never)]
    fn delete_oldest(&mut self, count: bool) -> bool {
        let (n, oldest) = self.scan_old(if count { TIDY } else { ALL });
        let max = if count { self.conf.nmax } else { self.conf.nmin };
        let Some(o) = oldest else { return false };
        if n <= max || (count && max == 0) {
            return false;
        }
        if count {
            self.info(b"delete: ", &o[..27]);
        } else {
            self.note(b"warning: ", b"out of disk space, delete: ", &o[..27]);
        }
        match fs::unlinkat(self.dirfd(), cs(&o)) {
            Ok(()) => true,
            Err(e) => {
                self.warn(b"unable to unlink oldest logfile", e);
                false
            }
        }
    }

    /// Counts the `@` + 26 byte entries and finds the smallest name. With TIDY,
    /// `.t` leftovers are deleted and not counted, nor is our pending `.u` (runit's
    /// rmoldest); with ALL, everything counts (buffer_pwrite); LEFTOVER looks only
    /// at `.u` files, silently.
    fn scan_old(&self, mode: u8) -> (u64, Option<Name>) {
        let dirfd = self.dirfd();
        let tidy = mode == TIDY;
        let entries = match fd::openat(dirfd, c".", fd::O_RDONLY | fd::O_DIRECTORY, 0).and_then(|d| fs::read_dir_fd(d.raw())) {
            Ok(v) => v,
            Err(e) => {
                if mode != LEFTOVER {
                    self.warn(b"unable to read directory", e);
                }
                return (0, None);
            }
        };
        let mut n = 0;
        let mut oldest: Option<Name> = None;
        for ent in &entries {
            if ent.name.len() != 27 || ent.name[0] != b'@' || (mode == LEFTOVER && ent.name[26] != b'u') {
                continue;
            }
            let mut name: Name = [0; 28];
            name[..27].copy_from_slice(&ent.name);
            if tidy && name[26] == b't' {
                if let Err(e) = fs::unlinkat(dirfd, cs(&name)) {
                    msg::warning(&[b"unable to unlink processor leftover: ", &ent.name], Some(e));
                }
                continue;
            }
            // Debian's svlogd (observed) neither counts nor deletes the `.u` just
            // handed to the processor: with a processor, n processed logs are kept.
            if tidy && self.fnsave[26] == b'u' && name == self.fnsave {
                continue;
            }
            n += 1;
            if oldest.is_none_or(|o| name < o) {
                oldest = Some(name);
            }
        }
        (n, oldest)
    }

    /// runit's rotate(): waits for a running processor, then (if `current` is not
    /// empty) flush, fsync, chmod 0744, rename to `@NOW.s|.u`, new `current`, count
    /// limit, processor. `before_rename` sees the new name first (the journal).
    pub fn rotate(&mut self, before_rename: &mut dyn FnMut(&Name)) {
        if !self.is_open() {
            self.conf.tmax = 0;
            return;
        }
        self.processor_wait();
        self.new_name(if self.conf.processor().is_empty() { b's' } else { b'u' });
        if self.conf.tmax != 0 {
            let now = time::mono_ms();
            if self.trotate <= now {
                self.trotate = now + self.conf.tmax.saturating_mul(1000);
            }
        }
        if self.size == 0 {
            return;
        }
        self.flush();
        if self.close_current().is_none() {
            return;
        }
        if verbose() {
            let mut b = [0u8; 20];
            msg::say(
                b"info: ",
                &[b"rename: ", self.name, b"/current ", &self.fnsave[..27], b" ", crate::num::fmt_u64(&mut b, self.size)],
                None,
            );
        }
        before_rename(&self.fnsave);
        if self.rename_current().is_none() || self.open_new_current(b"unable to create new current").is_none() {
            return;
        }
        self.size = 0;
        self.delete_oldest(true);
        self.processor_start();
    }

    /// fsync, mark closed cleanly (chmod 0744), close. None: given up (stdout mode).
    fn close_current(&mut self) -> Option<()> {
        let raw = self.cur.as_ref()?.raw();
        while let Err(e) = fd::fsync(raw) {
            if !self.failed(b"unable to fsync current logfile", e) {
                return None;
            }
        }
        while let Err(e) = fd::fchmod(raw, 0o744) {
            if !self.failed(b"unable to set mode of current", e) {
                return None;
            }
        }
        self.cur = None;
        Some(())
    }

    /// runit's logdir_close.
    pub fn close(&mut self) {
        if !self.is_open() {
            return;
        }
        self.info(b"close: ", b"");
        self.flush();
        self.close_current();
        self.drop_fds();
        self.conf.no_processor();
    }

    /// Starts `sh -c processor` on the rotated `.u` file (runit's processorstart).
    pub fn processor_start(&mut self) {
        if self.conf.processor().is_empty() {
            return;
        }
        if self.ppid != 0 {
            self.note(b"warning: ", b"processor already running: ", b"");
            return;
        }
        let argv = proc::CVec::new([&b"sh"[..], b"-c", self.conf.processor()]);
        let pid = loop {
            match proc::fork() {
                Ok(p) => break p,
                Err(e) => pause(b"unable to fork for processor", self.name, e),
            }
        };
        if pid == 0 {
            self.processor_child(&argv);
        }
        self.ppid = pid;
    }

    fn processor_child(&self, argv: &proc::CVec) -> ! {
        sig::unblock_all();
        // stdout mode ignores SIGPIPE; a processor gets the usual default.
        sig::default(sig::SIGPIPE);
        let fatal = |what: &[u8], e: Errno| -> ! { msg::fatal(super::EXIT_FATAL, &[what, b": ", self.name], Some(e)) };
        let dirfd = self.dirfd();
        if let Err(e) = fs::fchdir(dirfd) {
            fatal(b"unable to change directory", e);
        }
        self.info(b"processing: ", &self.fnsave[..27]);
        let mut name = self.fnsave;
        let input = fd::open_read(cs(&name)).unwrap_or_else(|e| fatal(b"unable to open input for processor", e));
        move_fd(input, 0).unwrap_or_else(|e| fatal(b"unable to move filedescriptor for processor", e));
        name[26] = b't';
        let output = fd::open_trunc(cs(&name)).unwrap_or_else(|e| fatal(b"unable to open output for processor", e));
        move_fd(output, 1).unwrap_or_else(|e| fatal(b"unable to move filedescriptor for processor", e));
        let state = match fd::open_read(c"state") {
            Err(e) if e == Errno::NOENT => {
                fd::open_trunc(c"state").unwrap_or_else(|e| fatal(b"unable to create empty state for processor", e));
                fd::open_read(c"state")
            }
            r => r,
        };
        let state = state.unwrap_or_else(|e| fatal(b"unable to open state for processor", e));
        move_fd(state, 4).unwrap_or_else(|e| fatal(b"unable to move filedescriptor for processor", e));
        let newstate = fd::open_trunc(c"newstate").unwrap_or_else(|e| fatal(b"unable to open newstate for processor", e));
        move_fd(newstate, 5).unwrap_or_else(|e| fatal(b"unable to move filedescriptor for processor", e));
        // runit runs /bin/sh only; without one (scratch images) `sh` is looked up in PATH.
        let mut e = proc::execve(c"/bin/sh", argv, &proc::Env::Inherit);
        if e == Errno::NOENT {
            e = proc::execvp(b"sh", argv, &proc::Env::Inherit);
        }
        fatal(b"unable to run processor", e)
    }

    /// A processor ended (runit's processorstop after the wait): on success `.t`
    /// becomes `.s` (0744), `.u` goes and `newstate` becomes `state`; else it restarts.
    pub fn processor_done(&mut self, wstat: i32) {
        if !self.is_open() {
            return;
        }
        let dirfd = self.dirfd();
        let ok = proc::wifexited(wstat) && proc::wexitstatus(wstat) == 0;
        let mut t = self.fnsave;
        t[26] = b't';
        if !ok {
            self.note(b"warning: ", b"processor failed, restart: ", b"");
            let _ = fs::unlinkat(dirfd, cs(&t));
            self.processor_start();
            return;
        }
        let mut s = t;
        s[26] = b's';
        let (tc, sc) = (cs(&t), cs(&s));
        while let Err(e) = fs::renameat(dirfd, tc, sc) {
            pause(b"unable to rename processed", self.name, e);
        }
        while let Err(e) = fd::openat(dirfd, sc, fd::O_RDONLY, 0).and_then(|f| fd::fchmod(f.raw(), 0o744)) {
            pause(b"unable to set mode of processed", self.name, e);
        }
        if fs::unlinkat(dirfd, cs(&self.fnsave)).is_err() {
            self.note(b"warning: ", b"unable to unlink: ", &self.fnsave[..27]);
        }
        while let Err(e) = fs::renameat(dirfd, c"newstate", c"state") {
            pause(b"unable to rename state", self.name, e);
        }
        self.info(b"processed: ", &s[..27]);
        self.process_leftover();
    }

    /// Waits for a running processor until it has succeeded (at exit).
    pub fn processor_wait(&mut self) {
        while self.ppid != 0 {
            let st = loop {
                match proc::wait_pid(self.ppid, 0) {
                    Ok(st) => break st,
                    Err(e) => pause(b"error waiting for processor", self.name, e),
                }
            };
            self.ppid = 0;
            self.processor_done(st.map_or(0, |(_, w)| w));
        }
    }

    /// Rolls `current` (or the rotated file `rot`) back to `len` bytes: what a killed
    /// svlogd wrote after the journal's last commit point (see journal.rs).
    pub fn roll_back(&self, ino: u64, len: u64, rot: Option<&Name>) {
        let dirfd = self.dirfd();
        let cur = fs::statat(dirfd, c"current").ok();
        if cur.is_some_and(|st| st.ino == ino) {
            truncate_at(dirfd, c"current", len);
            return;
        }
        let Some(rot) = rot else { return };
        let rot = cs(rot);
        if fs::statat(dirfd, rot).is_ok_and(|st| st.ino == ino) {
            if len == 0 {
                let _ = fs::unlinkat(dirfd, rot);
            } else {
                truncate_at(dirfd, rot, len);
            }
            if cur.is_some() {
                truncate_at(dirfd, c"current", 0);
            }
        }
    }
}

fn truncate_at(dirfd: fd::RawFd, name: &CStr, len: u64) {
    if let Ok(f) = fd::openat(dirfd, name, fd::O_WRONLY, 0) {
        let _ = fd::ftruncate(f.raw(), len);
    }
}

/// Moves an owned descriptor onto `to`, leaving it open across exec.
fn move_fd(f: Fd, to: fd::RawFd) -> Result<(), Errno> {
    if f.raw() == to { fd::set_cloexec(f.into_raw(), false) } else { fd::dup2(f.raw(), to) }
}

/// A log file name (`@` + 24 hex digits + `.` + s|u|t) and its NUL.
pub type Name = [u8; 28];

/// A name as a C string.
fn cs(name: &Name) -> &CStr {
    CStr::from_bytes_with_nul(name).unwrap_or(c"")
}
