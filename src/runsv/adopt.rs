//! Adoption (README "Faults"): a runsv that starts where a killed runsv left its service
//! (or logger) running takes it over instead of starting a second instance. The process
//! is known by `supervise/status` (state and pid) and checked against /proc: it must still
//! lead its own process group (runsv makes every run a group leader) and have started
//! when `status` says it did, so a reused pid is never taken for the service.
use super::Svc;
use crate::msg::CBuf;
use crate::svstatus::{State, Status, Want};
use crate::sys::{fd, fd::Fd, proc, sig, time};

/// /proc/PID/stat: (state letter, process group, start time in clock ticks since boot).
pub fn parse_stat(b: &[u8]) -> Option<(u8, u64, u64)> {
    let i = b.iter().rposition(|&c| c == b')')?;
    let f = &b[i + 1..];
    let state = *super::word(f, 0)?.first()?;
    let pgrp = crate::num::parse_u64(super::word(f, 2)?)?;
    let start = crate::num::parse_u64(super::word(f, 19)?)?;
    Some((state, pgrp, start))
}

/// `/proc/PID` followed by `tail`.
#[inline(never)]
fn proc_path(pid: u64, tail: &[u8]) -> CBuf {
    let mut p = [0u8; 20];
    CBuf::new(&[b"/proc/", crate::num::fmt_u64(&mut p, pid), tail])
}

/// Boot time in Unix seconds (the `btime` line of /proc/stat).
fn boot_time() -> Option<u64> {
    let b = fd::read_file(c"/proc/stat").ok()?;
    let i = b.windows(6).position(|w| w == b"btime ")?;
    crate::num::scan_u64(&b[i + 6..]).map(|(n, _)| n)
}

/// `pid` is alive, leads its process group and started within two seconds of `secs`.
#[inline(never)]
fn ours(pid: u32, secs: u64) -> bool {
    let stat = fd::read_file(&proc_path(pid as u64, b"/stat"));
    let Some((state, pgrp, start)) = stat.ok().as_deref().and_then(parse_stat) else { return false };
    // Linux reports start times in USER_HZ, which is 100 on every architecture.
    let began = boot_time().unwrap_or(0) + start / 100;
    state != b'Z' && pgrp == pid as u64 && began.abs_diff(secs) <= 2
}

/// Looks at the status the dead runsv left; adopts a live process of ours (watching it
/// with a pidfd), or, where it cannot be watched, stops its process group before anything
/// new starts. Never two instances.
#[inline(never)]
pub(super) fn adopt(s: &mut Svc) {
    let mut b = [0u8; 20];
    let read = fd::open_read(&s.sup_path(b"status")).and_then(|f| fd::read_full(f.raw(), &mut b));
    if read != Ok(20) {
        return;
    }
    let st = Status::unpack(&b);
    if st.state == 0 || st.pid == 0 || !ours(st.pid, st.secs) {
        return;
    }
    let pid = st.pid as proc::Pid;
    match proc::pidfd_open(pid) {
        Ok(f) => {
            s.pid = pid;
            s.adopted = Some(f);
            s.stamp = (st.secs, st.nanos);
            let m = &mut s.m;
            m.state = if st.state == 2 { State::Finish } else { State::Run };
            m.busy = true;
            m.ready = true;
            if st.want == b'd' {
                m.want = Want::Down;
            }
            let mut p = [0u8; 20];
            let what: &[u8] = if m.log {
                b"log/run"
            } else if st.state == 2 {
                b"./finish"
            } else {
                b"./run"
            };
            crate::msg::warning(
                &[b"adopted ", what, b" (pid ", crate::num::fmt_u64(&mut p, pid as u64), b") left running by a runsv that died"],
                None,
            );
            s.mark();
        }
        Err(_) => {
            // No pidfd (Linux before 5.3): the old instance goes: TERM and CONT, up to
            // 5 s (250 x 20 ms) for the group to go, then KILL.
            let _ = proc::kill(-pid, sig::SIGTERM);
            let _ = proc::kill(-pid, sig::SIGCONT);
            let mut n = 250;
            while n > 0 && proc::kill(-pid, 0).is_ok() {
                time::sleep_ms(20);
                n -= 1;
            }
            let _ = proc::kill(-pid, sig::SIGKILL);
        }
    }
}

/// The pipe between an adopted service and its logger, reopened through /proc (the
/// service's stdout, else the logger's stdin), so no line either side holds is lost.
pub(super) fn recover_pipe(svc_pid: proc::Pid, log_pid: proc::Pid) -> Option<(Fd, Fd)> {
    let (pid, n): (proc::Pid, &[u8]) = if svc_pid != 0 { (svc_pid, b"/fd/1") } else { (log_pid, b"/fd/0") };
    if pid == 0 {
        return None;
    }
    let path = proc_path(pid as u64, n);
    let r = fd::open_read_nb(&path).ok()?;
    if !crate::sys::fs::fstat(r.raw()).is_ok_and(|st| st.is_fifo()) {
        return None;
    }
    let w = fd::open_write_nb(&path).ok()?;
    let _ = fd::set_nonblock(r.raw(), false);
    let _ = fd::set_nonblock(w.raw(), false);
    Some((r, w))
}

#[cfg(test)]
mod tests {
    #[test]
    fn stat_fields() {
        let line =
            b"4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(super::parse_stat(line), Some((b'S', 4242, 987654)));
        assert_eq!(super::parse_stat(b"garbage"), None);
        assert_eq!(super::parse_stat(b"1 (x) Z 0"), None);
    }
}
