//! Start order (README "Readiness and start order"): `dependencies.d/NAME` holds `./run`
//! until the service `../NAME` of the same directory is ready, as its `supervise/health`
//! says. Looked at before each start; woken by inotify on the dependency's supervise
//! directory, with a backing-off poll where it cannot be watched (not there yet).
use crate::msg::{self, CBuf};
use crate::rundir;
use crate::svstatus::Status;
use crate::sys::{fd, fs, inotify};
use alloc::vec::Vec;

const POLL_FIRST_MS: u64 = 5;
/// Graphs larger than this are not searched for cycles (each node is a directory read).
const MAX_NODES: usize = 4096;

pub struct Deps {
    name: Vec<u8>,
    /// The dependencies to wait for, read at the first start.
    list: Vec<Vec<u8>>,
    read: bool,
    /// The `supervise/health` line while ./run is held (empty: not held).
    held: Vec<u8>,
    /// The index in `list` already warned about (one warning per reason).
    warned: usize,
    ino: Option<inotify::Inotify>,
    gap: u64,
}

impl Deps {
    pub fn new(arg: &[u8]) -> Deps {
        let trimmed = arg.strip_suffix(b"/").unwrap_or(arg);
        let name = crate::msg::basename(trimmed).to_vec();
        Deps { name, list: Vec::new(), read: false, held: Vec::new(), warned: usize::MAX, ino: None, gap: POLL_FIRST_MS }
    }

    pub fn held(&self) -> Option<&[u8]> {
        if self.held.is_empty() { None } else { Some(&self.held) }
    }

    pub fn raw(&self) -> i32 {
        self.ino.as_ref().map_or(-1, |i| i.raw())
    }

    pub fn drain(&mut self) {
        if let Some(i) = self.ino.as_ref() {
            let _ = i.read_events();
        }
        self.gap = POLL_FIRST_MS;
    }

    /// None: ./run may start. Some(t): it is held; look again by monotonic time t.
    /// `changed`: the held line is not what it was.
    #[inline(never)]
    pub fn check(&mut self, now: u64, changed: &mut bool) -> Option<u64> {
        if !self.read {
            self.read = true;
            self.read_list();
        }
        let mut held = Vec::new();
        for (i, d) in self.list.iter().enumerate() {
            let dir = CBuf::new(&[b"../", d]);
            if !fs::stat(&dir).is_ok_and(|st| st.is_dir()) {
                held.extend_from_slice(b"missing ");
                if self.warned != i {
                    msg::warning(&[b"dependency ", d, b" does not exist, waiting for it"], None);
                    self.warned = i;
                }
            } else {
                let sup = sup_dir(&dir);
                if is_ready(&sup) {
                    continue;
                }
                held.extend_from_slice(b"waiting ");
                // Watched again on every look (the same watch: no cost but a system call).
                if self.ino.is_none() {
                    self.ino = inotify::Inotify::new().ok();
                }
                if let Some(i) = self.ino.as_ref() {
                    let _ = i.add(&CBuf::new(&[&sup]), inotify::IN_MOVED_TO);
                }
            }
            held.extend_from_slice(d);
            break;
        }
        *changed = held != self.held;
        self.held = held;
        if self.held.is_empty() {
            self.gap = POLL_FIRST_MS;
            return None;
        }
        let t = now + self.gap;
        self.gap = (self.gap * 2).min(super::DEP_POLL_MAX_MS);
        Some(t)
    }

    /// The names in dependencies.d (not starting with '.'), sorted, less those that close a
    /// cycle back to this service through a greater name: the kept edges of a cycle then
    /// all lead to smaller names, so the order is deterministic and never deadlocks.
    #[inline(never)]
    fn read_list(&mut self) {
        for d in names(c"dependencies.d") {
            if d == self.name {
                continue;
            }
            if d > self.name && reaches(&d, &self.name) {
                msg::warning(&[b"dependency cycle through ", &d, b": not waiting for it"], None);
                continue;
            }
            self.list.push(d);
        }
    }
}

/// Sorted entry names of a directory, without dot names.
#[inline(never)]
fn names(dir: &core::ffi::CStr) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = Vec::new();
    for e in fs::read_dir(dir).unwrap_or_default() {
        if e.name.first() != Some(&b'.') {
            let at = v.partition_point(|x| *x < e.name);
            v.insert(at, e.name);
        }
    }
    v
}

/// Service `from` (a name in the same directory) depends on `target`, directly or not.
#[inline(never)]
fn reaches(from: &[u8], target: &[u8]) -> bool {
    let mut seen: Vec<Vec<u8>> = alloc::vec![from.to_vec()];
    let mut i = 0;
    while i < seen.len() && seen.len() < MAX_NODES {
        for n in names(&CBuf::new(&[b"../", &seen[i], b"/dependencies.d"])) {
            if n == target {
                return true;
            }
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        i += 1;
    }
    false
}

/// The supervise directory of the service at `dir`, with a trailing '/': its own
/// `supervise/`, or the one in the run directory when it has none (README "Read-only").
#[inline(never)]
fn sup_dir(dir: &CBuf) -> Vec<u8> {
    let local = [dir.bytes(), b"/supervise/"].concat();
    if fs::exists(&CBuf::new(&[&local, b"status"])) {
        return local;
    }
    let mut v = rundir::base().to_vec();
    v.push(b'/');
    if let Some(p) = super::physical(dir) {
        rundir::key(&p, &mut v);
    }
    v.push(b'/');
    v
}

/// READY: `health` says `ready PID` for the pid that `status` shows running.
#[inline(never)]
fn is_ready(sup: &[u8]) -> bool {
    let h = fd::read_file(&CBuf::new(&[sup, b"health"])).unwrap_or_default();
    let Some(pid) = h.strip_prefix(b"ready ").and_then(|p| crate::num::parse_u64(super::trim(p))) else {
        return false;
    };
    let mut b = [0u8; 20];
    match fd::open_read(&CBuf::new(&[sup, b"status"])).and_then(|f| fd::read_full(f.raw(), &mut b)) {
        Ok(20) => {
            let s = Status::unpack(&b);
            s.state == 1 && s.pid as u64 == pid
        }
        _ => false,
    }
}
