//! svlogd: runit's log service. Reads lines on stdin and writes them to log
//! directories (rotated by size, count and age, optionally processed, selected by
//! patterns, copied to stderr and UDP), and, as urunit's container extension, to
//! standard output with a per-service prefix (`-o` / `-O prefix`).
mod conf;
mod journal;
mod logdir;
mod stamp;

use crate::Args;
use crate::msg;
use crate::num::scan_ulong;
use crate::opt::{Getopt, Got};
use crate::sys::fd;
use crate::sys::{Errno, fs, net, proc, sig, time};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use journal::Journal;
use logdir::LogDir;

const USAGE: &[u8] = b" [-ttv] [-r c] [-R abc] [-l len] [-b buflen] dir ...";
const VERSION: &[u8] = b"$Id: 5e55a90e0a1b35ec47fed3021453c50675ea1117 $\n";
/// runit's "R:r:l:b:tvV", and urunit's -o / -O prefix.
const OPTS: &[u8] = b"R:r:l:b:tvVoO:";
/// runit's svlogd exits 111 on fatal errors and on usage errors.
pub const EXIT_FATAL: i32 = 111;
const EXIT_USAGE: i32 = 111;
const PROG: &[u8] = b"svlogd: ";
/// runit never sleeps longer than this between looks at the clock.
const MAX_SLEEP_MS: u64 = 2744 * 1000;
/// Lines on standard output are written whole, at most this many bytes per write(2):
/// a pipe writes that much atomically, so lines of services never mix.
const PIPE_BUF: usize = 4096;
/// The most taken from stdin at once (a default pipe's capacity).
const PIPE_CHUNK: usize = 64 * 1024;
/// Input buffer: a partial line is processed in pieces once it fills half of it.
const BUF_MIN: usize = 128 * 1024;

/// `-v`: the `info:` messages.
static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn verbose() -> bool {
    VERBOSE.load(Relaxed)
}

/// Command line settings.
struct Opts {
    timestamp: u8,
    linemax: usize,
    repl: u8,
    replace: &'static [u8],
}

pub fn main(args: Args) -> i32 {
    let argv0 = args.first().copied().unwrap_or(b"svlogd");
    msg::set_prog(&PROG);
    let usage = || -> ! { msg::usage(EXIT_USAGE, argv0, USAGE) };
    let mut o = Opts { timestamp: 0, linemax: 1000, repl: 0, replace: b"" };
    // `-o` / `-O prefix`: copy every line to stdout with this prefix.
    let mut stdout: Option<&'static [u8]> = None;
    let mut buflen: u64 = 1024;
    let mut g = Getopt::new(&args);
    loop {
        let (c, optarg) = match g.next(OPTS) {
            Got::Done => break,
            Got::Bad => usage(),
            Got::Opt(c, arg) => (c, arg),
        };
        match c {
            b'R' => {
                o.replace = optarg;
                if o.repl == 0 {
                    o.repl = b'_';
                }
            }
            b'r' => {
                if optarg.len() != 1 || optarg[0] == 0 {
                    usage();
                }
                o.repl = optarg[0];
            }
            b'l' => {
                o.linemax = scan_ulong(optarg).0 as usize;
                if o.linemax == 0 {
                    o.linemax = 1000;
                }
            }
            b'b' => {
                buflen = scan_ulong(optarg).0;
                if buflen == 0 {
                    buflen = 1024;
                }
            }
            b't' => o.timestamp = (o.timestamp + 1).min(3),
            b'v' => VERBOSE.store(true, Relaxed),
            b'o' => stdout = Some(service_prefix()),
            b'O' => stdout = Some(&optarg[..optarg.len().min(1024)]),
            _ => {
                // -V: runit prints its version, then the usage.
                msg::write_parts(fd::STDERR, &[VERSION]);
                usage()
            }
        }
    }
    let names = g.rest();
    if (names.is_empty() && stdout.is_none()) || buflen <= o.linemax as u64 {
        usage();
    }
    let cwd =
        fd::open_read(c".").unwrap_or_else(|e| msg::fatal(EXIT_FATAL, &[b"unable to open current working directory"], Some(e)));
    drop(cwd);
    Svlogd::new(o, names, stdout).run()
}

/// `-o`: the service's name and ": ". svlogd runs in SERVICE/log, so that is the
/// parent's name; anywhere else the current directory's own name.
fn service_prefix() -> &'static [u8] {
    let mut buf = [0u8; 4096];
    let n = fs::getcwd(&mut buf).unwrap_or(0);
    let mut path = &buf[..n];
    if msg::basename(path) == b"log" && path.len() > 4 {
        path = &path[..path.len() - 4];
    }
    let mut p = msg::basename(path).to_vec();
    p.extend_from_slice(b": ");
    p.leak()
}

/// Standard output of the container: whole lines, each write(2) at most PIPE_BUF
/// bytes and holding only whole lines; a longer line is cut into prefixed pieces.
struct StdOut {
    prefix: &'static [u8],
    /// The line being built.
    cur: Vec<u8>,
    /// Whole lines waiting for one write.
    batch: Vec<u8>,
    dead: bool,
}

impl StdOut {
    fn start(&mut self, stamp: &[u8]) {
        self.cur.clear();
        self.cur.extend_from_slice(self.prefix);
        self.cur.extend_from_slice(stamp);
    }
    fn add(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            let room = (PIPE_BUF - 1).saturating_sub(self.cur.len());
            if room == 0 {
                self.end();
                self.cur.extend_from_slice(self.prefix);
                continue;
            }
            let n = room.min(b.len());
            self.cur.extend_from_slice(&b[..n]);
            b = &b[n..];
        }
    }
    fn end(&mut self) {
        self.cur.push(b'\n');
        if self.batch.len() + self.cur.len() > PIPE_BUF {
            self.flush();
        }
        self.batch.extend_from_slice(&self.cur);
        self.cur.clear();
    }
    fn flush(&mut self) {
        let mut off = 0;
        while off < self.batch.len() && !self.dead {
            match fd::write(fd::STDOUT, &self.batch[off..]) {
                Ok(n) => off += n,
                Err(e) if e == Errno::AGAIN => {
                    let mut p = [fd::pollfd(fd::STDOUT, fd::POLLOUT)];
                    let _ = fd::poll(&mut p, 1000);
                }
                Err(e) if e == Errno::PIPE || e == Errno::BADF => {
                    msg::warning(&[b"unable to write to standard output"], Some(e));
                    self.dead = true;
                }
                Err(e) => logdir::pause(b"unable to write to standard output", b"-", e),
            }
        }
        self.batch.clear();
    }
}

struct Svlogd {
    o: Opts,
    dirs: Vec<LogDir>,
    journal: Option<Journal>,
    /// The directory holding the journal.
    jdir: usize,
    sout: Option<StdOut>,
    /// Unprocessed input (in journal mode: the journal from `done` on).
    buf: Vec<u8>,
    bufmax: usize,
    /// Inside a line whose start (and selection) has been handled.
    midline: bool,
    /// Set by a rotation inside a batch: the batch ends after this line.
    rotated: bool,
    stamp: [u8; stamp::LEN + 1],
    eof: bool,
    exiting: bool,
    rotateasap: bool,
    reopenasap: bool,
}

impl Svlogd {
    fn new(o: Opts, names: &[&'static [u8]], stdout: Option<&'static [u8]>) -> Svlogd {
        let bufmax = BUF_MIN.max(2 * (o.linemax + 1));
        let sout = stdout.map(|prefix| StdOut { prefix, cur: Vec::new(), batch: Vec::new(), dead: false });
        Svlogd {
            dirs: names.iter().map(|n| LogDir::new(n, sout.is_some())).collect(),
            o,
            journal: None,
            jdir: 0,
            sout,
            buf: Vec::with_capacity(bufmax),
            bufmax,
            midline: false,
            rotated: false,
            stamp: [b' '; stamp::LEN + 1],
            eof: false,
            exiting: false,
            rotateasap: false,
            reopenasap: false,
        }
    }

    fn info(&self, m: &[u8]) {
        if verbose() {
            msg::say(b"info: ", &[m], None);
        }
    }

    /// runit's logdirs_reopen: close and open every directory, reading `config`
    /// again; at startup the journal rolls back a killed svlogd's last batch first.
    fn reopen(&mut self, startup: bool) {
        self.settle();
        let fifo = startup && fs::fstat(fd::STDIN).is_ok_and(|st| st.is_fifo());
        let mut ok = false;
        for i in 0..self.dirs.len() {
            let d = &mut self.dirs[i];
            d.close();
            if !d.open_config() {
                continue;
            }
            if fifo && self.journal.is_none() {
                // The journal lives in the first directory that opens.
                match d.dir.as_ref().map(|f| Journal::open(f.raw())) {
                    Some(Ok(mut j)) => {
                        j.read_header();
                        self.journal = Some(j);
                        self.jdir = i;
                    }
                    Some(Err(e)) => msg::warning(&[b"unable to open journal: ", d.name], Some(e)),
                    None => {}
                }
            }
            if let (true, Some(j)) = (startup, self.journal.as_ref()) {
                j.recover(i, d);
            }
            if d.open_current() {
                ok = true;
            }
        }
        self.schedule_retries();
        if let (true, Some(j)) = (startup, self.journal.as_mut()) {
            self.midline = j.recovered(&self.dirs);
            j.load(&mut self.buf);
        }
        if !ok && self.sout.is_none() {
            msg::fatal(EXIT_FATAL, &[b"no functional log directories."], None);
        }
    }

    /// Stdout mode: a directory that did not open is tried again every PAUSE_MS,
    /// silently after its first warning (LogDir::give_up).
    fn schedule_retries(&mut self) {
        let now = time::mono_ms();
        for d in self.dirs.iter_mut().filter(|d| d.nonstop) {
            if d.is_open() {
                d.retry_at = 0;
            } else {
                d.failing = true;
                d.retry_at = now + logdir::PAUSE_MS;
            }
        }
    }

    /// Stdout mode: tries again the directories given up whose time has come.
    fn retry_dirs(&mut self, now: u64) {
        let mut any = false;
        for d in self.dirs.iter_mut().filter(|d| d.retry_at != 0 && d.retry_at <= now) {
            any = true;
            if d.open_config() {
                d.open_current();
            }
        }
        if any {
            self.schedule_retries();
        }
    }

    fn settle(&mut self) {
        if let Some(j) = self.journal.as_mut() {
            j.settle(&self.dirs, self.midline);
        }
    }

    fn compact(&mut self) {
        if let Some(j) = self.journal.as_mut() {
            j.compact(&self.dirs, self.midline);
        }
    }

    /// Rotates directory i; inside a batch the journal learns the new name first.
    fn rotate(&mut self, i: usize, in_batch: bool) {
        let j = &mut self.journal;
        self.dirs[i].rotate(&mut |name| {
            if let (Some(j), true) = (j.as_mut(), in_batch) {
                j.note_rotation(i, name);
            }
        });
    }

    #[inline(never)]
    fn run(mut self) -> i32 {
        let sigfd = sig::SigFd::new(&[sig::SIGTERM, sig::SIGHUP, sig::SIGALRM, sig::SIGCHLD])
            .unwrap_or_else(|e| msg::fatal(EXIT_FATAL, &[b"unable to create signalfd"], Some(e)));
        if self.sout.is_some() {
            sig::ignore(sig::SIGPIPE);
        }
        let _ = fd::set_nonblock(fd::STDIN, true);
        self.reopen(true);
        // What a killed svlogd left in the journal goes first.
        while self.batch() > 0 {}
        loop {
            // The order of runit's buffer_pread: rotate, exit, reopen, timers, wait.
            if self.rotateasap {
                self.settle();
                for i in 0..self.dirs.len() {
                    self.rotate(i, false);
                }
                self.rotateasap = false;
            }
            if self.exiting && self.buf.is_empty() && !self.midline {
                break;
            }
            if self.eof {
                break;
            }
            if self.reopenasap {
                self.reopen(false);
                self.reopenasap = false;
            }
            let now = time::mono_ms();
            self.retry_dirs(now);
            let mut deadline = now + MAX_SLEEP_MS;
            for i in 0..self.dirs.len() {
                let d = &self.dirs[i];
                if d.retry_at != 0 {
                    deadline = deadline.min(d.retry_at);
                }
                if d.conf.tmax != 0 && d.is_open() {
                    if d.trotate <= now {
                        self.settle();
                        self.rotate(i, false);
                    }
                    deadline = deadline.min(self.dirs[i].trotate);
                }
            }
            let want_input = self.buf.len() < self.bufmax;
            let mut p = [fd::pollfd(sigfd.raw(), fd::POLLIN), fd::pollfd(if want_input { fd::STDIN } else { -1 }, fd::POLLIN)];
            let _ = fd::poll(&mut p, deadline.saturating_sub(now).min(MAX_SLEEP_MS) as i32);
            while let Some(s) = sigfd.next() {
                self.signal(s);
            }
            if p[1].revents != 0 {
                // At most a pipe's worth at a time: the journal stays small.
                let max = if self.exiting { 1 } else { (self.bufmax - self.buf.len()).min(PIPE_CHUNK) };
                self.ingest(max);
            }
            while self.batch() > 0 {}
            self.compact();
        }
        self.finish()
    }

    /// Takes input: spliced into the journal, or read() when stdin is not a pipe.
    fn ingest(&mut self, max: usize) {
        let r = match self.journal.as_mut() {
            Some(j) => j.ingest(&mut self.buf, max),
            None => {
                let old = self.buf.len();
                self.buf.resize(old + max, 0);
                let r = fd::read(fd::STDIN, &mut self.buf[old..]);
                self.buf.truncate(old + *r.as_ref().unwrap_or(&0));
                r
            }
        };
        match r {
            Ok(0) => self.eof = true,
            Ok(_) => {}
            Err(e) if e == Errno::AGAIN => {}
            Err(e) if self.journal.is_some() && (e == Errno::INVAL || self.sout.is_some()) => {
                // A file system that takes no splice(2): go on with read(2), as runit.
                // In stdout mode also a journal that cannot be written: the lines must
                // keep reaching stdout.
                let d = &mut self.dirs[self.jdir];
                if !d.failing {
                    msg::warning(&[b"unable to use journal: ", d.name], Some(e));
                }
                // One warning per outage in stdout mode (LogDir::give_up).
                d.failing = d.nonstop;
                if let Some(mut j) = self.journal.take() {
                    // What it holds is in memory now: the file must not be replayed.
                    j.done = j.end;
                    j.settle(&self.dirs, self.midline);
                    j.compact(&self.dirs, self.midline);
                }
            }
            Err(e)
                if self.journal.is_some() && matches!(e, Errno::NOSPC | Errno::DQUOT | Errno::FBIG | Errno::ROFS | Errno::IO) =>
            {
                // The journal could not take the input: it stays in the pipe. On a full
                // disk the N rule may make room, as for current.
                let d = &mut self.dirs[self.jdir];
                if !(e == Errno::NOSPC && d.conf.nmin < d.conf.nmax && d.delete_for_space()) {
                    logdir::pause(b"unable to write to journal", d.name, e);
                }
            }
            Err(e) => {
                // runit: warn, then leave as at end of input.
                msg::warning(&[b"unable to read standard input"], Some(e));
                self.eof = true;
            }
        }
        if self.eof {
            // Whatever is left is processed now, an unterminated last line included.
            while self.batch() > 0 {}
        }
    }

    fn signal(&mut self, s: i32) {
        match s {
            sig::SIGTERM => {
                self.info(b"sigterm received.");
                self.exiting = true;
            }
            sig::SIGHUP => {
                self.info(b"sighangup received.");
                self.reopenasap = true;
            }
            sig::SIGALRM => {
                self.info(b"sigalarm received.");
                self.rotateasap = true;
            }
            sig::SIGCHLD => {
                self.info(b"sigchild received.");
                while let Ok(Some((pid, wstat))) = proc::wait_nohang() {
                    if let Some(d) = self.dirs.iter_mut().find(|d| d.ppid == pid) {
                        d.ppid = 0;
                        d.processor_done(wstat);
                    }
                }
            }
            _ => {}
        }
    }

    /// Can the buffer's head be processed now?
    fn processable(&self) -> bool {
        !self.buf.is_empty() && (self.midline || self.eof || self.buf.len() >= self.bufmax / 2 || self.buf.contains(&b'\n'))
    }

    /// One batch: record the commit point, process lines (up to a rotation), write
    /// the output with one write per directory, and move the commit point on.
    fn batch(&mut self) -> usize {
        if !self.processable() {
            return 0;
        }
        if let Some(j) = self.journal.as_mut() {
            j.begin(&self.dirs, self.midline);
        }
        let buf = core::mem::take(&mut self.buf);
        let n = self.process(&buf);
        self.buf = buf;
        for d in self.dirs.iter_mut() {
            d.flush();
        }
        if let Some(s) = self.sout.as_mut() {
            s.flush();
        }
        if let Some(j) = self.journal.as_mut() {
            j.done += n as u64;
        }
        self.buf.drain(..n);
        n
    }

    /// Processes lines from the front of `data`; returns the bytes used.
    fn process(&mut self, data: &[u8]) -> usize {
        if let (t @ 1.., Some(s)) = (self.o.timestamp, self.stamp.first_chunk_mut()) {
            let now = time::now();
            match t {
                1 => stamp::tai64n(s, now),
                _ => stamp::ptime(s, now, if t == 2 { b'_' } else { b'T' }),
            }
        }
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            let nl = rest.iter().position(|&b| b == b'\n');
            // Inside a line any piece goes on; a line start waits for its end, or for
            // half the buffer.
            let (l, done) = match nl {
                Some(k) => (&rest[..k], true),
                None if self.eof => (rest, true),
                None if self.midline || rest.len() >= self.bufmax / 2 => (rest, false),
                None => break,
            };
            if self.midline {
                self.piece(l, done);
            } else {
                self.line(l, done);
            }
            pos += l.len() + nl.is_some() as usize;
            self.midline = !done;
            if self.rotated {
                self.rotated = false;
                break;
            }
        }
        pos
    }

    /// A line from its start: `line` is all of it, or (not `done`) its first piece.
    #[inline(never)]
    fn line(&mut self, line: &[u8], done: bool) {
        let linemax = self.o.linemax;
        let hl = line.len().min(linemax);
        // runit reads a line to its first len bytes, replacing as it goes; a line of
        // len bytes or more is "cut": `...` on stderr and UDP, the rest copied raw.
        let cut = line.len() >= linemax;
        let mut head = line[..hl].to_vec();
        if self.o.repl != 0 {
            for b in head.iter_mut() {
                if *b < 32 || *b > 126 || self.o.replace.contains(b) {
                    *b = self.o.repl;
                }
            }
        }
        let stamp_buf = self.stamp;
        let stamp: &[u8] = if self.o.timestamp != 0 { &stamp_buf } else { b"" };
        let dots: &[u8] = if cut { b"..." } else { b"" };
        for i in 0..self.dirs.len() {
            let d = &mut self.dirs[i];
            if !d.is_open() {
                continue;
            }
            let (sel, err) = d.conf.matches(&head);
            d.sel = sel;
            let udp = d.conf.udp.filter(|_| sel);
            let write = sel && !d.conf.udponly;
            let mut m = [stamp, d.conf.prefix(), &head].concat();
            let plain = m.len();
            if err || udp.is_some() {
                // The copy for stderr and UDP: the line's head, `...` if it was cut.
                m.extend_from_slice(dots);
                m.push(b'\n');
                if err {
                    let _ = fd::write_all(fd::STDERR, &m);
                }
                if let Some((ip, port)) = udp {
                    self.udp(i, ip, port, &m, plain);
                }
                m.truncate(plain);
            }
            if write {
                // One piece for the log: emit's size rules see the same bytes.
                m.extend_from_slice(&line[hl..]);
                if done {
                    m.push(b'\n');
                }
                self.emit(i, &m);
            }
        }
        if let Some(s) = self.sout.as_mut() {
            s.start(stamp);
            s.add(&head);
            s.add(&line[hl..]);
            if done {
                s.end();
            }
        }
    }

    /// More of a line whose start was handled (raw bytes, as runit copies them).
    #[inline(never)]
    fn piece(&mut self, piece: &[u8], done: bool) {
        for i in 0..self.dirs.len() {
            let d = &self.dirs[i];
            if d.is_open() && d.sel && !d.conf.udponly {
                self.emit(i, piece);
                if done {
                    self.emit(i, b"\n");
                }
            }
        }
        if let Some(s) = self.sout.as_mut() {
            s.add(piece);
            if done {
                s.end();
            }
        }
    }

    /// One datagram per line; a failure is noted in the directory's log (runit): the
    /// line as sent, or without a socket its first `plain` bytes.
    fn udp(&mut self, i: usize, ip: [u8; 4], port: u16, m: &[u8], plain: usize) {
        let (w, body, nl): (&[u8], &[u8], &[u8]) = match net::udp_socket() {
            Err(_) => (b"warning: no udp socket available: ", &m[..plain], b"\n"),
            Ok(s) => match net::udp_sendto(&s, ip, port, m) {
                Ok(n) if n == m.len() => return,
                _ => (b"warning: failure sending through udp: ", m, b""),
            },
        };
        self.emit(i, &[w, body, nl].concat());
    }

    /// Appends output for directory i with runit's size rules: rotate first when
    /// `current` is full, never write past the size limit (a long line is split
    /// over two files), and rotate after a line end that leaves it nearly full.
    fn emit(&mut self, i: usize, mut b: &[u8]) {
        let linemax = self.o.linemax as u64;
        while !b.is_empty() {
            // No size limit (s0): one that is never reached.
            let smax = match self.dirs[i].conf.sizemax {
                0 => u64::MAX,
                s => s,
            };
            if self.dirs[i].size >= smax {
                self.rotate(i, true);
                self.rotated = true;
            }
            let d = &mut self.dirs[i];
            let n = b.len().min(smax.saturating_sub(d.size) as usize);
            if n == 0 {
                return;
            }
            d.out.extend_from_slice(&b[..n]);
            d.size += n as u64;
            let nl = b[n - 1] == b'\n';
            b = &b[n..];
            // runit computes sizemax - linemax in unsigned arithmetic: below len it wraps.
            if nl && smax.checked_sub(linemax).is_some_and(|t| d.size >= t) {
                self.rotate(i, true);
                self.rotated = true;
            }
        }
    }

    /// End of input or SIGTERM: settle the journal, wait for processors, close.
    fn finish(mut self) -> i32 {
        while self.batch() > 0 {}
        self.settle();
        self.compact();
        for d in self.dirs.iter_mut() {
            d.processor_wait();
            d.close();
        }
        if let Some(s) = self.sout.as_mut() {
            s.flush();
        }
        // The process exits now: its memory and descriptors go with it.
        core::mem::forget(self);
        0
    }
}
