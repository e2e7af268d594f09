//! supervise/status (20 bytes), written by runsv and read by sv; the stat text.

/// runit's tai_unix: the TAI64 label of Unix second 0 (always +10, no leap table).
pub const TAI_EPOCH: u64 = (1 << 62) + 10;

#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum State {
    Down = 0,
    Run = 1,
    Finish = 2,
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Want {
    Up,
    Down,
    Exit,
}

/// The decoded contents of supervise/status.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Unix seconds and nanoseconds of the last state change.
    pub secs: u64,
    pub nanos: u32,
    pub pid: u32,
    pub paused: bool,
    /// b'u' or b'd' (want-exit is written as b'd', as runit does).
    pub want: u8,
    pub term: bool,
    pub state: u8,
}

impl Status {
    /// The 20 bytes: TAI64N big-endian, then the pid **little-endian** (runit writes
    /// the pid over bytes 12-15 with its native byte order on x86; every reader since
    /// expects little-endian), then paused, want, got-TERM, state.
    pub fn pack(&self) -> [u8; 20] {
        let [t0, t1, t2, t3, t4, t5, t6, t7] = (TAI_EPOCH + self.secs).to_be_bytes();
        let [n0, n1, n2, n3] = self.nanos.to_be_bytes();
        let [p0, p1, p2, p3] = self.pid.to_le_bytes();
        [
            t0,
            t1,
            t2,
            t3,
            t4,
            t5,
            t6,
            t7,
            n0,
            n1,
            n2,
            n3,
            p0,
            p1,
            p2,
            p3,
            self.paused as u8,
            self.want,
            self.term as u8,
            self.state,
        ]
    }

    /// The state byte as a State (None: a byte no runsv writes).
    #[cfg(test)]
    pub fn run_state(&self) -> Option<State> {
        match self.state {
            0 => Some(State::Down),
            1 => Some(State::Run),
            2 => Some(State::Finish),
            _ => None,
        }
    }

    /// The want byte as a Want: `u` up, `d` down (runsv writes want-exit as `d` too).
    #[cfg(test)]
    pub fn wants(&self) -> Want {
        match self.want {
            b'u' => Want::Up,
            b'd' => Want::Down,
            _ => Want::Exit,
        }
    }

    pub fn unpack(b: &[u8; 20]) -> Status {
        let tai = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        Status {
            secs: tai.saturating_sub(TAI_EPOCH),
            nanos: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            paused: b[16] != 0,
            want: b[17],
            term: b[18] != 0,
            state: b[19],
        }
    }
}

/// The stat line: state word, ", paused", ", got TERM", then ", want down" or
/// ", want exit" unless down; then "\n".
pub fn stat_text(out: &mut alloc::vec::Vec<u8>, state: State, paused: bool, term: bool, want: Want) {
    out.extend_from_slice(match state {
        State::Down => b"down",
        State::Run => b"run",
        State::Finish => b"finish",
    });
    if paused {
        out.extend_from_slice(b", paused");
    }
    if term {
        out.extend_from_slice(b", got TERM");
    }
    if state != State::Down {
        match want {
            Want::Down => out.extend_from_slice(b", want down"),
            Want::Exit => out.extend_from_slice(b", want exit"),
            Want::Up => {}
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn observed_bytes() {
        // runit 2.1.2 observed: a running service with pid 7178.
        let b: [u8; 20] = [0x40, 0, 0, 0, 0x6b, 0x03, 0x5b, 0x6d, 0x0a, 0x9e, 0x87, 0x5c, 0x0a, 0x1c, 0, 0, 0, 0x75, 0, 1];
        let s = Status::unpack(&b);
        assert_eq!(s.pid, 7178);
        assert_eq!(s.secs, 0x6b035b6d - 10);
        assert_eq!(s.nanos, 0x0a9e875c);
        assert!(!s.paused);
        assert_eq!(s.want, b'u');
        assert!(!s.term);
        assert_eq!(s.state, 1);
        assert_eq!(s.pack(), b);
        assert!(s.run_state() == Some(State::Run) && s.wants() == Want::Up);
    }
    #[test]
    fn each_byte() {
        let s = Status { secs: 1, nanos: 2, pid: 0x01020304, paused: true, want: b'd', term: true, state: 2 };
        let b = s.pack();
        assert_eq!(&b[0..8], &[0x40, 0, 0, 0, 0, 0, 0, 11]);
        assert_eq!(&b[8..12], &[0, 0, 0, 2]);
        assert_eq!(&b[12..16], &[4, 3, 2, 1]);
        assert_eq!(&b[16..20], &[1, b'd', 1, 2]);
        assert!(s.run_state() == Some(State::Finish) && s.wants() == Want::Down);
        let odd = Status { state: 7, want: b'?', ..s };
        assert!(odd.run_state().is_none() && odd.wants() == Want::Exit);
    }
    #[test]
    fn stat_lines() {
        let mut v = alloc::vec::Vec::new();
        stat_text(&mut v, State::Run, false, true, Want::Exit);
        assert_eq!(v, b"run, got TERM, want exit\n");
        v.clear();
        stat_text(&mut v, State::Run, true, false, Want::Down);
        assert_eq!(v, b"run, paused, want down\n");
        v.clear();
        stat_text(&mut v, State::Down, false, false, Want::Down);
        assert_eq!(v, b"down\n");
    }
}
