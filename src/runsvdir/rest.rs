//! "Everything left" at the end of runsvdir's graceful stop: as PID 1 every other process of
//! the namespace (kill(-1)); as a subreaper under another init only our own descendants,
//! found through /proc/PID/task/TID/children, so a host's other processes are never touched.
use crate::msg::CBuf;
use crate::num::{fmt_u64, parse_u64};
use crate::sys::{fd, fs, proc};
use alloc::vec::Vec;

/// Sends `sig` to every process left; returns how many were signalled (for a subreaper).
pub fn signal_rest(sig: i32) -> usize {
    if proc::getpid() == 1 {
        // The kernel skips PID 1 itself; ESRCH only means nobody is left.
        return proc::kill(-1, sig).map(|_| 1).unwrap_or(0);
    }
    let d = descendants();
    for &p in &d {
        let _ = proc::kill(p, sig);
    }
    d.len()
}

/// Every process below us: the children of each thread of us, then of each of them, and so
/// on (all found before any is signalled).
fn descendants() -> Vec<proc::Pid> {
    let mut out = Vec::new();
    let mut p = proc::getpid();
    let mut i = 0;
    loop {
        let mut b = [0u8; 20];
        let ps = fmt_u64(&mut b, p as u64);
        for t in fs::read_dir(&CBuf::new(&[b"/proc/", ps, b"/task"])).unwrap_or_default() {
            let text = fd::read_file(&CBuf::new(&[b"/proc/", ps, b"/task/", &t.name, b"/children"])).unwrap_or_default();
            for w in text.split(|&c| c == b' ') {
                if let Some(n) = parse_u64(w) {
                    out.push(n as proc::Pid);
                }
            }
        }
        let Some(&q) = out.get(i) else { return out };
        p = q;
        i += 1;
    }
}
