//! urunit's own settings, read from the environment (the URUNIT_* variables), in one
//! place so every program parses them alike.
use crate::num;
use crate::sys::proc;

/// The default of URUNIT_STOP_TIMEOUT: under Docker's 10 s before its SIGKILL.
pub const STOP_TIMEOUT_S: u64 = 7;

/// The graceful stop's deadline: URUNIT_STOP_TIMEOUT seconds (anything but plain digits
/// keeps the default). runsvdir stops its services within it; runit's container mode
/// waits for the same deadline.
pub fn stop_timeout_ms() -> u64 {
    proc::getenv(b"URUNIT_STOP_TIMEOUT").and_then(num::parse_u64).unwrap_or(STOP_TIMEOUT_S).saturating_mul(1000)
}

/// URUNIT_PID1=1: runsvdir acts as PID 1 (under another init).
pub fn pid1() -> bool {
    proc::getenv(b"URUNIT_PID1") == Some(b"1")
}

/// URUNIT_CONTAINER: `0` makes runit treat a container as a machine; unset or anything
/// else leaves the decision to reboot(RB_DISABLE_CAD).
pub fn container_off() -> bool {
    proc::getenv(b"URUNIT_CONTAINER") == Some(b"0")
}

// URUNIT_RUNDIR is read by rundir::base, the one rule runsv and sv share.
