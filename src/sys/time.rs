//! Clocks: the wall clock for TAI64 stamps, the monotonic clock for deadlines.
/// Wall-clock time: (seconds since the epoch, nanoseconds).
pub fn now() -> (u64, u32) {
    clock(libc::CLOCK_REALTIME)
}

/// Monotonic milliseconds: deadlines and throttles, immune to clock steps.
pub fn mono_ms() -> u64 {
    let (s, ns) = clock(libc::CLOCK_MONOTONIC);
    s * 1000 + (ns / 1_000_000) as u64
}

fn clock(id: libc::clockid_t) -> (u64, u32) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-parameter; the clocks used always exist.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Sleeps for ms milliseconds (restarted after signals until the time is up).
pub fn sleep_ms(ms: u64) {
    let mut ts = libc::timespec { tv_sec: (ms / 1000) as _, tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long };
    loop {
        let mut rem = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: both timespecs are valid. (The raw system call: musl's nanosleep goes
        // through clock_nanosleep and its cancellation point.)
        if unsafe { libc::syscall(libc::SYS_nanosleep, &ts, &mut rem) } == 0 {
            return;
        }
        ts = rem;
    }
}
