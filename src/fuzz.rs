//! Seeded random inputs for every parser that reads outside input (issue 16). Unit tests
//! only: a tiny xorshift generator, no crate. `FUZZ_ITERS` sets the inputs per parser
//! (default 20,000, the `make unit` smoke); `make fuzz` runs millions. A panic fails the
//! test; every loop is bounded and every input capped in size, so nothing can hang or
//! allocate without limit. Each test prints how many inputs its parser took.
//!
//! Reached here: num (scan_u64, parse_u64, fmt_u64, fmt_i64; the URUNIT_STOP_TIMEOUT,
//! SVWAIT/-w, svlogd -l/-b, notification-fd, settle-ms and restart-file numbers all go
//! through them), svstatus (Status::unpack/pack, stat_text), svlogd's `config` lines and
//! pattern matcher (conf.rs, compiled here a second time because `svlogd::conf` is a
//! private module), chpst's numbers, `uid:gid` lists, passwd/group text and envdir values,
//! runsv's state machine under random control bytes and events, /proc/PID/stat lines
//! (adoption) and sv's reading of `supervise/health`.
use crate::num;
use crate::svstatus::{State, Status, TAI_EPOCH, Want, stat_text};
use alloc::vec::Vec;

#[path = "svlogd/conf.rs"]
#[allow(dead_code)]
mod conf;

/// xorshift64*: deterministic per seed, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn pick<'a>(&mut self, v: &[&'a [u8]]) -> &'a [u8] {
        v[self.below(v.len() as u64) as usize]
    }
    /// A length: mostly short, sometimes up to `max`.
    fn len(&mut self, max: u64) -> usize {
        match self.below(8) {
            0 => self.below(max + 1) as usize,
            1 => 0,
            _ => self.below(24) as usize,
        }
    }
    /// Bytes mixing raw noise with tokens from `dict`.
    fn bytes(&mut self, dict: &[&[u8]], max: u64) -> Vec<u8> {
        let n = self.len(max);
        let mut v = Vec::with_capacity(n + 32);
        while v.len() < n {
            match self.below(4) {
                0 => v.push(self.byte()),
                1 => {
                    let k = self.below(30) + 1;
                    for _ in 0..k {
                        v.push(b'0' + self.below(10) as u8);
                    }
                }
                _ => v.extend_from_slice(self.pick(dict)),
            }
        }
        v.truncate(max as usize);
        v
    }
}

/// Inputs per parser: $FUZZ_ITERS, else 20,000.
fn iters() -> u64 {
    std::env::var("FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000)
}

/// Runs `f` on `iters()` seeded generators' worth of inputs and reports the count.
fn fuzz(name: &str, seed: u64, mut f: impl FnMut(&mut Rng)) {
    let n = iters();
    let mut r = Rng::new(seed);
    for _ in 0..n {
        f(&mut r);
    }
    println!("fuzz: {name}: {n} inputs");
}

const NUM_DICT: &[&[u8]] = &[
    b"0",
    b"9",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-",
    b"+",
    b" ",
    b"\n",
    b"\0",
    b"x",
    b":",
    b"00000000000000000000000",
];

/// Reference: the value of a digit string, if it fits in 64 bits.
fn reference(d: &[u8]) -> Option<u64> {
    let mut n: u128 = 0;
    for &b in d {
        n = n * 10 + (b - b'0') as u128;
        if n > u64::MAX as u128 {
            return None;
        }
    }
    Some(n as u64)
}

#[test]
fn num_scan_and_parse() {
    fuzz("num::scan_u64/parse_u64", 1, |r| {
        let s = r.bytes(NUM_DICT, 256);
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        let want = reference(&s[..digits]);
        match num::scan_u64(&s) {
            Some((n, len)) => {
                assert_eq!(len, digits);
                assert_eq!(Some(n), want);
            }
            None => assert_eq!(want, None),
        }
        let p = num::parse_u64(&s);
        if digits == s.len() && digits > 0 {
            assert_eq!(p, want);
        } else {
            assert_eq!(p, None);
        }
        // URUNIT_STOP_TIMEOUT: parse_u64, default 7, then milliseconds without overflow.
        let _ms = p.unwrap_or(7).saturating_mul(1000);
    });
}

#[test]
fn num_format_round_trip() {
    fuzz("num::fmt_u64/fmt_i64", 2, |r| {
        let n = match r.below(3) {
            0 => r.next(),
            1 => r.below(1000),
            _ => u64::MAX - r.below(1000),
        };
        let mut b = [0u8; 20];
        let s = num::fmt_u64(&mut b, n);
        assert_eq!(num::parse_u64(s), Some(n));
        let i = n as i64;
        let mut c = [0u8; 21];
        let t = num::fmt_i64(&mut c, i);
        let (neg, digits) = match t.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, t),
        };
        assert_eq!(neg, i < 0);
        assert_eq!(num::parse_u64(digits), Some(i.unsigned_abs()));
    });
}

#[test]
fn status_unpack() {
    let mut text = Vec::new();
    fuzz("svstatus::Status::unpack", 3, |r| {
        let mut b = [0u8; 20];
        for x in b.iter_mut() {
            *x = r.byte();
        }
        // Plausible files too: the TAI64 label near now, small flags.
        if r.below(2) == 0 {
            b[0..8].copy_from_slice(&(TAI_EPOCH + r.below(1 << 40)).to_be_bytes());
            b[16] = r.below(3) as u8;
            b[18] = r.below(3) as u8;
            b[19] = r.below(4) as u8;
        }
        let s = Status::unpack(&b);
        let tai = u64::from_be_bytes(b[0..8].try_into().unwrap());
        let p = s.pack();
        // Every field but the normalised ones survives a round trip.
        assert_eq!(p[8..16], b[8..16]);
        assert_eq!((p[17], p[19]), (b[17], b[19]));
        assert_eq!(p[16], (b[16] != 0) as u8);
        assert_eq!(p[18], (b[18] != 0) as u8);
        if tai >= TAI_EPOCH {
            assert_eq!(p[0..8], b[0..8]);
        }
        let state = match s.state {
            0 => State::Down,
            1 => State::Run,
            _ => State::Finish,
        };
        let want = match s.want {
            b'u' => Want::Up,
            b'd' => Want::Down,
            _ => Want::Exit,
        };
        text.clear();
        stat_text(&mut text, state, s.paused, s.term, want);
        assert_eq!(text.last(), Some(&b'\n'));
        assert!(text.len() <= 40);
    });
}

/// A random `config` text: lines of every kind, valid and not.
fn config_text(r: &mut Rng) -> Vec<u8> {
    const SEL: &[&[u8]] = &[b"s", b"n", b"N", b"t", b"!", b"p", b"+", b"-", b"e", b"E", b"#", b"x", b" ", b"", b"\0"];
    const ARG: &[&[u8]] =
        &[b"*", b"+", b"k", b"m", b"h", b"a", b"\0", b" ", b"\t", b"\r", b"18446744073709551616", b"99999999999k", b"1h"];
    let lines = r.below(12);
    let mut v = Vec::new();
    for _ in 0..lines {
        if r.below(8) == 0 {
            // u/U with an address that scans (a bad one only warns: kept out of the loop
            // so millions of inputs do not print millions of warnings).
            v.push(if r.below(2) == 0 { b'u' } else { b'U' });
            for k in 0..4 {
                if k > 0 {
                    v.push(b'.');
                }
                let mut b = [0u8; 20];
                v.extend_from_slice(num::fmt_u64(&mut b, r.below(1000)));
            }
            if r.below(2) == 0 {
                v.push(b':');
                let mut b = [0u8; 20];
                v.extend_from_slice(num::fmt_u64(&mut b, 1 + r.below(200_000)));
            }
        } else {
            let start = v.len();
            v.extend_from_slice(r.pick(SEL));
            v.extend(r.bytes(ARG, 200).into_iter().filter(|&b| b != b'\n'));
            if matches!(v.get(start), Some(b'u' | b'U')) {
                v[start] = b'#';
            }
        }
        if r.below(10) != 0 {
            v.push(b'\n');
        }
    }
    v
}

#[test]
fn svlogd_config_lines() {
    fuzz("svlogd config (Conf::parse, Conf::matches)", 4, |r| {
        let mut c = conf::Conf::new();
        let text = config_text(r);
        c.parse(&text);
        assert!(c.inst.len() <= text.len());
        for i in &c.inst {
            assert!(matches!(i[0], b'+' | b'-' | b'e' | b'E'));
        }
        if let Some((_, port)) = c.udp {
            assert_ne!(port, 0);
        }
        let line = r.bytes(&[b"a", b"*", b"+", b" "], 300);
        let _ = c.matches(&line);
    });
    // The warnings, once each: an address or a port that does not scan.
    let mut c = conf::Conf::new();
    c.parse(b"ux\nu1.2.3.4:0\nU1.2.3\n");
    assert_eq!(c.udp, None);
    assert!(c.udponly);
}

#[test]
fn svlogd_pmatch() {
    fuzz("svlogd pmatch", 5, |r| {
        const P: &[&[u8]] = &[b"*", b"+", b"a", b"b", b"**", b"*a", b"+a", b"\0"];
        let p = r.bytes(P, 64);
        let s = r.bytes(&[b"a", b"b", b"aa", b"ab"], 256);
        let m = conf::pmatch(&p, &s);
        // Literal patterns match exactly themselves.
        if !p.contains(&b'*') && !p.contains(&b'+') {
            assert_eq!(m, p == s);
            assert!(conf::pmatch(&p, &p));
        }
        let mut star = alloc::vec![b'*'];
        star.extend_from_slice(&p);
        let _ = conf::pmatch(&star, &s);
        assert!(conf::pmatch(b"*", &s));
    });
}

// ---- chpst: numbers, `uid:gid[:gid]`, /etc/passwd and /etc/group text, envdir values.

const ID_DICT: &[&[u8]] = &[b"0", b"65534", b"4294967296", b":", b"::", b"root", b"x", b"-", b"\n", b"#", b" ", b"\0"];

#[test]
fn chpst_numbers_and_ids() {
    use crate::chpst::{numeric_ids, parse_nice, parse_num};
    fuzz("chpst parse_num/parse_nice/numeric_ids", 0xc4b5, |r| {
        let s = r.bytes(ID_DICT, 12);
        let _ = parse_num(&s);
        let _ = parse_nice(&s);
        if let Some(ids) = numeric_ids(&s) {
            // What it accepts it read as digits: no more groups than the text has fields.
            assert!(ids.gids.len() <= s.iter().filter(|&&b| b == b':').count());
        }
    });
}

#[test]
fn chpst_passwd_and_group_text() {
    use crate::chpst::{group_find, passwd_find};
    fuzz("chpst passwd_find/group_find", 0x9a55, |r| {
        let db = r.bytes(ID_DICT, 40);
        let name = r.bytes(&[b"root", b"x", b"", b":"], 2);
        let _ = passwd_find(&db, &name);
        let _ = group_find(&db, &name);
    });
}

#[test]
fn chpst_envdir_values() {
    use crate::chpst::first_line;
    fuzz("chpst envdir first_line", 0xe4d1, |r| {
        let mut v = b"NAME=".to_vec();
        v.extend(r.bytes(&[b"a", b" ", b"\t", b"\n", b"\0", b"=", b"\r"], 16));
        first_line(&mut v, 5);
        assert!(v.starts_with(b"NAME=") && !v[5..].contains(&0) && !v[5..].ends_with(b" "));
    });
}

// ---- runsv: every control byte and event in any order (the state machine), /proc/PID/stat.

#[test]
fn runsv_machine_events() {
    use crate::runsv::machine::{Action, Event, Machine};
    fuzz("runsv machine events", 0x5eed, |r| {
        let mut m = Machine::new(r.below(2) == 1, if r.below(2) == 1 { Want::Up } else { Want::Down });
        let mut now = 0u64;
        for _ in 0..r.len(24) {
            now += r.below(3000);
            let ev = match r.below(8) {
                0 => Event::Term,
                1 => Event::Exited { wstat: r.next() as i32, finish: r.below(2) == 1, critical: r.below(2) == 1 },
                2 => Event::Due,
                3 => Event::Forked(r.below(4) != 0),
                4 => Event::Ready,
                _ => Event::Ctl(r.byte()),
            };
            // Events only come as the executor would send them: an exit while a process
            // runs, a fork result after a start.
            if matches!(ev, Event::Exited { .. }) && !m.busy || matches!(ev, Event::Forked(_)) && m.busy {
                continue;
            }
            let busy = m.busy;
            for a in m.step(ev, now).into_iter().flatten() {
                assert!(!(busy && matches!(a, Action::Start | Action::Finish)), "a start while a process runs");
            }
            assert!(!m.busy || m.state != State::Down, "busy while down");
        }
    });
}

#[test]
fn runsv_proc_stat_lines() {
    use crate::runsv::adopt::parse_stat;
    fuzz("runsv /proc/PID/stat", 0x57a7, |r| {
        let s = r.bytes(&[b"1", b" ", b"(", b")", b"S", b"Z", b"4294967295", b"18446744073709551616"], 40);
        let _ = parse_stat(&s);
    });
}

#[test]
fn sv_health_lines() {
    fuzz("sv supervise/health", 0x4ea1, |r| {
        let s = r.bytes(
            &[
                b"ready ",
                b"starting ",
                b"exited ",
                b"killed ",
                b"failed ",
                b"waiting ",
                b"missing ",
                b"1",
                b"99999999999999999999",
                b" ",
                b"\n",
                b"x",
            ],
            8,
        );
        let _ = crate::sv::Health::parse(&s);
    });
}
