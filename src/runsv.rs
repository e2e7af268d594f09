//! runsv: supervises one service and its optional log service; the only writer of
//! `supervise/`. One poll loop over a signalfd and the two control FIFOs: no busy
//! waiting, no periodic wake-up while idle.
use crate::msg::{self, CBuf};
use crate::num;
use crate::svstatus::{stat_text, State, Status, Want};
use crate::sys::proc::{CVec, Env, Pid};
use crate::sys::{fd, fd::Fd, fs, proc, sig, time, Errno};
use crate::Args;
use alloc::vec::Vec;

const FATAL: i32 = 111;
const USAGE: i32 = 1;
/// runit restarts a service that ran less than a second only after a one-second pause.
const THROTTLE_MS: u64 = 1000;
/// runit retries a failed fork after five seconds.
const FORK_RETRY_MS: u64 = 5000;

/// One supervised process: the service (`./run`, `./finish`) or its logger (`log/run`).
struct Svc {
    /// "" for the service, "log/" for the logger: prefix of every path.
    dir: &'static [u8],
    pid: Pid,
    state: State,
    want: Want,
    term: bool,
    paused: bool,
    /// Wall-clock time of the last state change (the TAI64N stamp in `status`).
    stamp: (u64, u32),
    /// Monotonic time `./run` last started: the throttle counts from here (weakness 9:
    /// runit uses the wall clock).
    started_ms: u64,
    /// No start before this monotonic time (the throttle, a fork retry); 0 = none.
    not_before: u64,
    /// `o` while throttled: start once when allowed even though want is down.
    once: bool,
    wstat: i32,
    /// The pid last written to `supervise/pid` (None: never written).
    pid_written: Option<Pid>,
    ctl: Option<Fd>,
    ctl_w: Option<Fd>,
    ok: Option<Fd>,
    lock: Option<Fd>,
}

struct Runsv {
    name: &'static [u8],
    svc: Svc,
    log: Option<Svc>,
    /// The log pipe, held by runsv for its whole life so nothing buffered is lost while
    /// either side restarts; dropped when the service is down for good.
    logpipe: Option<(Fd, Fd)>,
    /// Set when a `critical` service exited on its own: runsv exits with this code.
    critical: Option<i32>,
}

impl Svc {
    fn new(islog: bool) -> Svc {
        Svc {
            dir: if islog { b"log/" } else { b"" },
            pid: 0,
            state: State::Down,
            want: Want::Up,
            term: false,
            paused: false,
            stamp: time::now(),
            started_ms: 0,
            not_before: 0,
            once: false,
            wstat: 0,
            pid_written: None,
            ctl: None,
            ctl_w: None,
            ok: None,
            lock: None,
        }
    }
    fn path(&self, p: &[u8]) -> CBuf {
        CBuf::new(&[self.dir, p])
    }
    fn running(&self) -> bool {
        self.pid != 0 && self.state == State::Run
    }
}

pub fn main(args: Args) -> i32 {
    if args.len() != 2 {
        msg::usage(USAGE, args.first().copied().unwrap_or(b"runsv"), b" dir");
    }
    let name = args[1];
    let die = |what: &[u8], e: Option<Errno>| -> ! { msg::die(FATAL, &[b"runsv ", name, b": fatal: ", what], e) };

    let sigs = sig::SigFd::new(&[sig::SIGCHLD, sig::SIGTERM, sig::SIGINT]).unwrap_or_else(|e| die(b"unable to create selfpipe", Some(e)));
    fs::chdir(&CBuf::new(&[name])).unwrap_or_else(|e| die(b"unable to change to directory", Some(e)));

    let mut r = Runsv { name, svc: Svc::new(false), log: None, logpipe: None, critical: None };
    if fs::exists(c"down") {
        r.svc.want = Want::Down;
    }
    match fs::stat(c"log") {
        Ok(st) if st.is_dir() => {
            let mut l = Svc::new(true);
            if fs::exists(c"log/down") {
                l.want = Want::Down;
            }
            r.log = Some(l);
            r.logpipe = Some(fd::pipe(0).unwrap_or_else(|e| die(b"unable to create log pipe", Some(e))));
        }
        Ok(_) => r.warn(&[b"./log: not a directory."], None),
        Err(e) if e.0 == libc::ENOENT => {}
        // runit prints this with a doubled colon.
        Err(e) => r.warn(&[b"unable to stat() ./log: "], Some(e)),
    }

    r.make_supervise(false);
    r.svc.lock = Some(r.take_lock(b"supervise/lock", false));
    if r.log.is_some() {
        r.make_supervise(true);
        let l = r.take_lock(b"log/supervise/lock", true);
        if let Some(log) = r.log.as_mut() {
            log.lock = Some(l);
        }
    }
    r.open_control(false);
    if r.log.is_some() {
        r.open_control(true);
    }
    r.open_ok(false);
    if r.log.is_some() {
        r.open_ok(true);
    }
    r.run(&sigs)
}

impl Runsv {
    fn warn(&self, what: &[&[u8]], e: Option<Errno>) {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(what.len() + 3);
        parts.extend_from_slice(&[b"runsv ", self.name, b": warning: "]);
        parts.extend_from_slice(what);
        msg::warn(&parts, e);
    }
    fn die(&self, what: &[&[u8]], e: Option<Errno>) -> ! {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(what.len() + 3);
        parts.extend_from_slice(&[b"runsv ", self.name, b": fatal: "]);
        parts.extend_from_slice(what);
        msg::die(FATAL, &parts, e)
    }
    fn sv(&mut self, log: bool) -> &mut Svc {
        match (log, self.log.as_mut()) {
            (true, Some(l)) => l,
            _ => &mut self.svc,
        }
    }

    // ---- Startup.

    /// mkdir `supervise`; if it is a symlink, create its target (one level), as runit does.
    fn make_supervise(&self, log: bool) {
        let base: &[u8] = if log { b"log/" } else { b"" };
        let path = CBuf::new(&[base, b"supervise"]);
        if fs::mkdir(&path, 0o700).is_ok() {
            return;
        }
        let mut buf = [0u8; 256];
        match fs::readlink(&path, &mut buf) {
            Ok(n) if n >= buf.len() => {
                self.die(&[b"unable to readlink ./", if log { b"log/supervise" } else { b"supervise" }, b": name too long"], None)
            }
            Ok(n) => {
                let target = &buf[..n];
                // A relative target resolves from the directory holding the link.
                let t = if target.first() == Some(&b'/') { CBuf::new(&[target]) } else { CBuf::new(&[base, target]) };
                let _ = fs::mkdir(&t, 0o700);
            }
            Err(e) if e.0 == libc::ENOENT || e.0 == libc::EINVAL => {}
            Err(e) => self.die(&[b"unable to readlink ./", if log { b"log/supervise" } else { b"supervise" }], Some(e)),
        }
    }

    /// Opens and flocks a lock file: non-blocking for the service (a second runsv must
    /// fail at once), blocking for the logger, as runit does.
    fn take_lock(&self, path: &[u8], wait: bool) -> Fd {
        let p = CBuf::new(&[path]);
        let f = fd::open_append(&p).unwrap_or_else(|e| self.die(&[b"unable to open ", path], Some(e)));
        let op = if wait { fd::LOCK_EX } else { fd::LOCK_EX | fd::LOCK_NB };
        fd::flock(f.raw(), op).unwrap_or_else(|e| self.die(&[b"unable to lock ", path], Some(e)));
        f
    }

    /// Creates and opens `supervise/control` (reader, and our own writer so it never
    /// reports EOF), then writes the first status.
    fn open_control(&mut self, log: bool) {
        let s = self.sv(log);
        let path = s.path(b"supervise/control");
        let shown: &[u8] = if log { b"log/supervise/control" } else { b"supervise/control" };
        let _ = fs::mkfifo(&path, 0o600);
        match fs::stat(&path) {
            Ok(st) if st.is_fifo() => {}
            Ok(_) => self.die(&[shown, b" exists but is not a fifo"], None),
            Err(e) => self.die(&[b"unable to stat ", shown], Some(e)),
        }
        let r = fd::open(&path, libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap_or_else(|e| self.die(&[b"unable to open ", shown], Some(e)));
        let w = fd::open(&path, libc::O_WRONLY | libc::O_NONBLOCK, 0).unwrap_or_else(|e| self.die(&[b"unable to open ", shown], Some(e)));
        let s = self.sv(log);
        s.ctl = Some(r);
        s.ctl_w = Some(w);
        self.update_status(log);
    }

    /// Creates `supervise/ok` and holds it open for reading: from now on a client's
    /// non-blocking open for writing succeeds, which is how sv knows runsv is running.
    fn open_ok(&mut self, log: bool) {
        let path = self.sv(log).path(b"supervise/ok");
        let _ = fs::mkfifo(&path, 0o600);
        let f = fd::open(&path, libc::O_RDONLY | libc::O_NONBLOCK, 0)
            .unwrap_or_else(|e| self.die(&[b"unable to read ", if log { b"log/supervise/ok" } else { b"supervise/ok" }], Some(e)));
        self.sv(log).ok = Some(f);
    }

    // ---- supervise/ files.

    /// runit's update_status: pid (when it changed), stat, status; each written to
    /// NAME.new and renamed into place. Failures only warn.
    fn update_status(&mut self, log: bool) {
        let s = self.sv(log);
        let dir = s.dir;
        let pid = s.pid;
        let mut text = Vec::with_capacity(40);
        stat_text(&mut text, s.state, s.paused, s.term, s.want);
        let st = Status {
            secs: s.stamp.0,
            nanos: s.stamp.1,
            pid: pid as u32,
            paused: s.paused,
            want: if s.want == Want::Up { b'u' } else { b'd' },
            term: s.term,
            state: s.state as u8,
        }
        .pack();
        if s.pid_written != Some(pid) {
            let mut buf = [0u8; 20];
            let mut body = Vec::with_capacity(12);
            if pid != 0 {
                body.extend_from_slice(num::fmt_u64(&mut buf, pid as u64));
                body.push(b'\n');
            }
            if !self.write_file(dir, b"pid", &body, true) {
                return;
            }
            self.sv(log).pid_written = Some(pid);
        }
        if !self.write_file(dir, b"stat", &text, true) {
            return;
        }
        self.write_file(dir, b"status", &st, false);
    }

    /// Writes supervise/NAME.new and renames it to supervise/NAME. Returns false where
    /// runit gives up on the rest of the update.
    fn write_file(&self, dir: &[u8], name: &[u8], body: &[u8], abort_on_fail: bool) -> bool {
        let new = CBuf::new(&[dir, b"supervise/", name, b".new"]);
        let dst = CBuf::new(&[dir, b"supervise/", name]);
        let f = match fd::open_trunc(&new) {
            Ok(f) => f,
            Err(e) => {
                self.warn(&[b"unable to open ", new.bytes()], Some(e));
                return !abort_on_fail;
            }
        };
        match fd::write(f.raw(), body) {
            Ok(n) if n == body.len() => {}
            Ok(_) => {
                self.warn(&[b"unable to write ", new.bytes(), b": partial write."], None);
                return true;
            }
            Err(e) => {
                self.warn(&[b"unable to write ", new.bytes()], Some(e));
                let _ = fs::unlink(&new);
                return true;
            }
        }
        drop(f);
        if let Err(e) = fs::rename(&new, &dst) {
            self.warn(&[b"unable to rename ", new.bytes(), b" to ", dst.bytes()], Some(e));
            return !abort_on_fail;
        }
        true
    }

    // ---- Processes.

    /// Runs `control/C` if it exists with the owner-execute bit, waiting for it.
    /// True means "handled": it exited 0 (a script killed by a signal is not, unlike
    /// runit: weakness 8). The logger has no custom control.
    fn custom(&mut self, log: bool, c: u8) -> bool {
        if log {
            return false;
        }
        let mut path_b = *b"control/?";
        path_b[8] = c;
        let path = CBuf::new(&[&path_b]);
        match fs::stat(&path) {
            Ok(st) if st.mode & fs::S_IXUSR != 0 => {}
            Ok(_) => return false,
            Err(e) if e.0 == libc::ENOENT => return false,
            Err(e) => {
                self.warn(&[b"unable to stat ", &path_b], Some(e));
                return false;
            }
        }
        let argv = CVec::new([&path_b[..]]);
        let prefix = CBuf::new(&[b"runsv ", self.name, b": fatal: unable to run control/?"]);
        let out = self.logpipe.as_ref().map(|p| p.1.raw());
        match proc::fork() {
            Err(e) => {
                self.warn(&[b"unable to fork for ", &path_b], Some(e));
                false
            }
            Ok(0) => {
                sig::unblock_all();
                if let Some(w) = out {
                    let _ = fd::dup2(w, fd::STDOUT);
                }
                fd::close_from(3);
                let e = proc::execve(&path, &argv, &Env::Inherit);
                msg::warn_noalloc(prefix.bytes(), e);
                proc::exit(FATAL)
            }
            Ok(pid) => match proc::wait_pid(pid, 0) {
                Ok(Some((_, st))) => proc::wifexited(st) && proc::wexitstatus(st) == 0,
                Ok(None) => false,
                Err(e) => {
                    self.warn(&[b"unable to wait for child ", &path_b], Some(e));
                    false
                }
            },
        }
    }

    /// Starts `./run` (or `./finish` after a run) for the service, `log/run` for the
    /// logger. The child gets its own process group, the log pipe on stdout (stdin for
    /// the logger), every signal unblocked, and no descriptor besides 0, 1 and 2.
    fn start(&mut self, log: bool) {
        let finish = !log && self.svc.state == State::Finish;
        if !log && !finish {
            self.custom(false, b'u');
        }
        if self.sv(log).pid != 0 {
            self.stop(log);
        }
        let mut b1 = [0u8; 21];
        let mut b2 = [0u8; 20];
        let argv = if finish {
            let st = self.svc.wstat;
            // runit: the exit code, or -1 if run was killed; then the low byte of the wait status.
            let code = if proc::wifexited(st) { proc::wexitstatus(st) as i64 } else { -1 };
            CVec::new([&b"./finish"[..], num::fmt_i64(&mut b1, code), num::fmt_u64(&mut b2, (st & 0xff) as u64)])
        } else {
            CVec::new([&b"./run"[..]])
        };
        let what: &[u8] = if log { b"log/./run" } else if finish { b"./finish" } else { b"./run" };
        let prefix = CBuf::new(&[b"runsv ", self.name, b": fatal: unable to start ", what]);
        let cdprefix = CBuf::new(&[b"runsv ", self.name, b": fatal: unable to change directory to ./log"]);
        let pipe = self.logpipe.as_ref().map(|(r, w)| (r.raw(), w.raw()));
        let pid = match proc::fork() {
            Ok(0) => {
                sig::unblock_all();
                let _ = proc::setpgid(0, 0);
                match (log, pipe) {
                    (true, Some((r, _))) => {
                        let _ = fd::dup2(r, fd::STDIN);
                    }
                    (false, Some((_, w))) => {
                        let _ = fd::dup2(w, fd::STDOUT);
                    }
                    _ => {}
                }
                if log {
                    if let Err(e) = fs::chdir(c"./log") {
                        msg::warn_noalloc(cdprefix.bytes(), e);
                        proc::exit(FATAL)
                    }
                }
                fd::close_from(3);
                let e = proc::execve(argv.get(0), &argv, &Env::Inherit);
                msg::warn_noalloc(prefix.bytes(), e);
                proc::exit(FATAL)
            }
            Ok(pid) => pid,
            Err(e) => {
                self.warn(&[b"unable to fork, sleeping"], Some(e));
                self.sv(log).not_before = time::mono_ms() + FORK_RETRY_MS;
                return;
            }
        };
        // Also from the parent, so no signal to the group can race the child's setpgid.
        let _ = proc::setpgid(pid, pid);
        let s = self.sv(log);
        if !finish {
            s.state = State::Run;
            s.stamp = time::now();
            s.started_ms = time::mono_ms();
        }
        s.pid = pid;
        s.term = false;
        s.paused = false;
        s.once = false;
        self.update_status(log);
    }

    /// The stop sequence: TERM (unless `control/t` handled it), then for want down or
    /// exit CONT and `control/d` or `control/x`. Signals go to the pid, as runit sends
    /// them; what the service leaves behind is cleaned up when it exits (`reap`).
    fn stop(&mut self, log: bool) {
        let pid = self.sv(log).pid;
        if pid != 0 && !self.custom(log, b't') {
            let _ = proc::kill(pid, sig::SIGTERM);
            self.sv(log).term = true;
            self.update_status(log);
        }
        match self.sv(log).want {
            Want::Down => {
                let _ = proc::kill(pid, sig::SIGCONT);
                self.custom(log, b'd');
            }
            Want::Exit => {
                let _ = proc::kill(pid, sig::SIGCONT);
                self.custom(log, b'x');
            }
            Want::Up => {}
        }
    }

    /// One control byte for the service or the logger.
    fn control(&mut self, log: bool, c: u8) {
        let s = self.sv(log);
        match c {
            b'd' => {
                s.want = Want::Down;
                self.update_status(log);
                if self.sv(log).running() {
                    self.stop(log);
                }
            }
            b'u' => {
                s.want = Want::Up;
                self.update_status(log);
                // The loop starts it (once the throttle allows).
            }
            b'o' => {
                s.want = Want::Down;
                let down = s.pid == 0;
                s.once = down;
                self.update_status(log);
            }
            b'x' => {
                if log {
                    return;
                }
                s.want = Want::Exit;
                self.update_status(log);
                if self.sv(log).running() {
                    self.stop(log);
                }
            }
            b't' => {
                if s.running() {
                    self.stop(log);
                }
            }
            // runit also marks the service down here without a status write, even
            // during ./finish (weakness 7); the reaper records the real state instead.
            b'k' => self.signal(log, c, sig::SIGKILL),
            b'p' => {
                self.signal(log, c, sig::SIGSTOP);
                self.sv(log).paused = true;
                self.update_status(log);
            }
            b'c' => {
                self.signal(log, c, sig::SIGCONT);
                self.sv(log).paused = false;
                self.update_status(log);
            }
            b'h' => self.signal(log, c, sig::SIGHUP),
            b'a' => self.signal(log, c, sig::SIGALRM),
            b'i' => self.signal(log, c, sig::SIGINT),
            b'q' => self.signal(log, c, sig::SIGQUIT),
            b'1' => self.signal(log, c, sig::SIGUSR1),
            b'2' => self.signal(log, c, sig::SIGUSR2),
            _ => {}
        }
    }

    /// Sends sig to a running process unless `control/C` handled it. SIGKILL goes to
    /// the whole process group: nothing the service started survives `sv kill`.
    fn signal(&mut self, log: bool, c: u8, sig_no: i32) {
        if !self.sv(log).running() || self.custom(log, c) {
            return;
        }
        let pid = self.sv(log).pid;
        if sig_no == sig::SIGKILL {
            let _ = proc::kill(-pid, sig_no);
        }
        let _ = proc::kill(pid, sig_no);
    }

    /// Reaps every exited child and updates the state machine.
    fn reap(&mut self) {
        while let Ok(Some((pid, st))) = proc::wait_nohang() {
            if pid == self.svc.pid {
                self.service_exited(pid, st);
            } else if self.log.as_ref().is_some_and(|l| l.pid == pid) {
                let l = self.sv(true);
                l.pid = 0;
                l.state = State::Down;
                l.term = false;
                l.wstat = st;
                l.stamp = time::now();
                Self::throttle(l);
                self.update_status(true);
            }
        }
    }

    fn service_exited(&mut self, pid: Pid, st: i32) {
        let was_run = self.svc.state == State::Run;
        let s = &mut self.svc;
        s.pid = 0;
        s.term = false;
        if was_run {
            s.wstat = st;
            if s.want == Want::Up && fs::exists(c"critical") {
                // A critical service ended on its own: finish, drain the log, then runsv
                // exits with its code so runsvdir can end the container with it.
                let code = if proc::wifexited(st) { proc::wexitstatus(st) } else { 128 + proc::wtermsig(st) };
                self.critical = Some(code);
                s.want = Want::Exit;
            }
        }
        // Whatever the run left in its process group goes when the service is stopped
        // for good (runit's signals reach only the pid: weakness 1).
        if was_run && self.svc.want != Want::Up {
            let _ = proc::kill(-pid, sig::SIGTERM);
            let _ = proc::kill(-pid, sig::SIGCONT);
        }
        let s = &mut self.svc;
        if was_run && fd::open_read(c"finish").is_ok() {
            s.state = State::Finish;
            self.update_status(false);
            return;
        }
        s.state = State::Down;
        s.stamp = time::now();
        Self::throttle(s);
        self.update_status(false);
    }

    /// runit pauses a second before restarting a process that ran less than a second;
    /// here the pause is a deadline, so control commands and signals are still served.
    fn throttle(s: &mut Svc) {
        let now = time::mono_ms();
        if now.saturating_sub(s.started_ms) < THROTTLE_MS {
            s.not_before = now + THROTTLE_MS;
        }
    }

    /// Starts what should run now; returns the poll timeout until the next due start.
    fn start_due(&mut self) -> i32 {
        let mut timeout: i32 = -1;
        let now = time::mono_ms();
        let mut wait_for = |t: u64| {
            let ms = t.saturating_sub(now).min(i32::MAX as u64) as i32;
            if timeout < 0 || ms < timeout {
                timeout = ms;
            }
        };
        if let Some(l) = self.log.as_ref() {
            if l.pid == 0 && (l.want == Want::Up || l.once) {
                if now >= l.not_before {
                    self.start(true);
                } else {
                    wait_for(l.not_before);
                }
            }
        }
        let s = &self.svc;
        if s.pid == 0 && (s.want == Want::Up || s.once || s.state == State::Finish) {
            if s.state == State::Finish || now >= s.not_before {
                self.start(false);
            } else {
                wait_for(s.not_before);
            }
        }
        timeout
    }

    /// Called when the service is down with want exit: without a logger runsv exits;
    /// with one, the logger is told to exit and gets EOF once runsv closes its pipe
    /// ends. A logger waiting out its throttle is started at once so it drains the pipe.
    fn maybe_exit(&mut self) {
        if self.svc.want != Want::Exit || self.svc.state != State::Down || self.svc.pid != 0 {
            return;
        }
        let code = self.critical.unwrap_or(0);
        let Some(l) = self.log.as_ref() else { proc::exit(code) };
        if l.pid == 0 {
            if l.want == Want::Up && self.logpipe.is_some() {
                self.start(true);
                if self.sv(true).pid == 0 {
                    proc::exit(code);
                }
            } else {
                proc::exit(code);
            }
        }
        if self.sv(true).want != Want::Exit {
            self.sv(true).want = Want::Exit;
            self.update_status(true);
            self.logpipe = None;
        }
    }

    // ---- The main loop.

    fn run(&mut self, sigs: &sig::SigFd) -> i32 {
        loop {
            let timeout = self.start_due();
            let mut pfd = [
                fd::pollfd(sigs.raw(), fd::POLLIN),
                fd::pollfd(self.svc.ctl.as_ref().map_or(-1, |f| f.raw()), fd::POLLIN),
                fd::pollfd(self.log.as_ref().and_then(|l| l.ctl.as_ref()).map_or(-1, |f| f.raw()), fd::POLLIN),
            ];
            let _ = fd::poll(&mut pfd, timeout);

            let mut got_term = false;
            while let Some(s) = sigs.next() {
                // SIGINT too: runit's runsv dies of it and orphans its service (weakness
                // 3), which is what Ctrl-C does to every runsv in a terminal's process group.
                if s == sig::SIGTERM || s == sig::SIGINT {
                    got_term = true;
                }
            }
            self.reap();

            // At most one byte per FIFO per turn, as runit: starts and exits in between.
            for log in [false, true] {
                let f = if log { self.log.as_ref().and_then(|l| l.ctl.as_ref()) } else { self.svc.ctl.as_ref() };
                let Some(f) = f else { continue };
                let mut c = [0u8; 1];
                if let Ok(1) = fd::read(f.raw(), &mut c) {
                    self.control(log, c[0]);
                }
            }
            // A second stop signal (Ctrl-C, then runsvdir's graceful stop) does not signal
            // the service again: it is already on its way down.
            if got_term && self.svc.want != Want::Exit {
                self.control(false, b'x');
            }
            self.maybe_exit();
        }
    }
}
