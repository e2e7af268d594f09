//! "Everything left" at the end of runsvdir's graceful stop: as PID 1 every other process of
//! the namespace (kill(-1)); as a subreaper under another init only our own descendants,
//! found through /proc, so a host's other processes are never touched.
use crate::msg::CBuf;
use crate::num::scan_u64;
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

/// Every process whose chain of parents leads to us, by a walk over /proc/*/stat.
fn descendants() -> Vec<proc::Pid> {
    let Ok(entries) = fs::read_dir(c"/proc") else { return Vec::new() };
    let mut all: Vec<(proc::Pid, proc::Pid)> = Vec::new();
    for e in entries {
        let Some((pid, n)) = scan_u64(&e.name) else { continue };
        if n == 0 || n != e.name.len() {
            continue;
        }
        if let Some(ppid) = read_ppid(&e.name) {
            all.push((pid as proc::Pid, ppid));
        }
    }
    let mut out = Vec::new();
    let mut todo = alloc::vec![proc::getpid()];
    while let Some(parent) = todo.pop() {
        for &(pid, ppid) in &all {
            if ppid == parent && !out.contains(&pid) {
                out.push(pid);
                todo.push(pid);
            }
        }
    }
    out
}

/// Field 4 of /proc/PID/stat; the command name (field 2) may hold spaces and ')'.
fn read_ppid(pid: &[u8]) -> Option<proc::Pid> {
    let text = fd::read_file(&CBuf::new(&[b"/proc/", pid, b"/stat"])).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    // ") S 123 ..." -> skip ") ", the state letter and a space.
    let rest = text.get(close + 4..)?;
    scan_u64(rest).filter(|&(_, n)| n > 0).map(|(p, _)| p as proc::Pid)
}
