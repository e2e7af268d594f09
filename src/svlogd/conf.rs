//! svlogd: a log directory's `config` file and runit's pattern matcher (pmatch).
use crate::msg;
use crate::num::scan_ulong as scan;
use alloc::vec::Vec;

/// The settings of one log directory (runit's defaults until `config` says otherwise).
pub struct Conf {
    pub sizemax: u64,
    pub nmax: u64,
    pub nmin: u64,
    pub tmax: u64,
    /// Where `!`'s argument is in `text`.
    processor: (usize, usize),
    pub udp: Option<([u8; 4], u16)>,
    pub udponly: bool,
    /// Where `p`'s argument is in `text`.
    prefix: (usize, usize),
    /// `config` as read (set after parse): its `+ - e E` lines select lines (matches).
    pub text: Vec<u8>,
    /// The `+ - e E` lines (the fuzz tests look at them).
    #[cfg(test)]
    pub inst: Vec<Vec<u8>>,
}

impl Conf {
    pub fn new() -> Conf {
        Conf {
            sizemax: 1_000_000,
            nmax: 10,
            nmin: 10,
            tmax: 0,
            processor: (0, 0),
            udp: None,
            udponly: false,
            prefix: (0, 0),
            text: Vec::new(),
            #[cfg(test)]
            inst: Vec::new(),
        }
    }

    /// Parses `config` as runit's logdir_open does: each line's first byte selects the
    /// setting, the rest is its untrimmed argument; a lone last byte is not looked at.
    #[inline(never)]
    pub fn parse(&mut self, sa: &[u8]) {
        #[cfg(test)]
        {
            self.text = sa.to_vec();
        }
        for line in Lines(sa) {
            #[cfg(test)]
            if let Some(b'+' | b'-' | b'e' | b'E') = line.first() {
                self.inst.push(line.to_vec());
            }
            // runit cuts the argument at a NUL byte as well.
            let arg = line.get(1..).unwrap_or(b"");
            let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
            match line.first() {
                Some(b's') => self.sizemax = scan_suffix(arg, b'k', 1024, b'm', 1024 * 1024),
                Some(b'n') => self.nmax = scan(arg).0,
                Some(b'N') => self.nmin = scan(arg).0,
                Some(b't') => self.tmax = scan_suffix(arg, b'm', 60, b'h', 3600),
                Some(b'!') if !arg.is_empty() => self.processor = at(sa, arg),
                Some(b'p') if !arg.is_empty() => self.prefix = at(sa, arg),
                Some(&c @ (b'u' | b'U')) => {
                    // runit: an invalid `U` line still stops writing to current.
                    if c == b'U' {
                        self.udponly = true;
                    }
                    self.scan_udp(arg);
                }
                _ => {}
            }
        }
    }

    fn part(&self, r: (usize, usize)) -> &[u8] {
        self.text.get(r.0..r.1).unwrap_or(b"")
    }

    /// The processor (`!`), empty if none.
    pub fn processor(&self) -> &[u8] {
        self.part(self.processor)
    }

    pub fn no_processor(&mut self) {
        self.processor = (0, 0);
    }

    /// The line prefix (`p`), empty if none.
    pub fn prefix(&self) -> &[u8] {
        self.part(self.prefix)
    }

    fn scan_udp(&mut self, arg: &[u8]) {
        let Some((ip, c)) = ip4_scan(arg) else {
            msg::warning(&[b"unable to scan ip address: ", arg], None);
            return;
        };
        let port = if arg.get(c) == Some(&b':') {
            let (p, _) = scan(&arg[c + 1..]);
            if p == 0 {
                msg::warning(&[b"unable to scan port number: ", &arg[c + 1..]], None);
                return;
            }
            p
        } else {
            514
        };
        // runit stores htons(port): only the low 16 bits count, and 0 means "no UDP".
        self.udp = if port as u16 != 0 { Some((ip, port as u16)) } else { None };
    }

    /// Is the line (its first len bytes) selected for the log, and for stderr?
    /// The last matching `+`/`-` (resp. `e`/`E`) decides (runit's logmatch).
    #[inline(never)]
    pub fn matches(&self, line: &[u8]) -> (bool, bool) {
        let (mut sel, mut err) = (true, false);
        for i in Lines(&self.text) {
            if let [c @ (b'+' | b'-' | b'e' | b'E'), p @ ..] = i {
                if pmatch(p, line) {
                    match c {
                        b'+' => sel = true,
                        b'-' => sel = false,
                        b'e' => err = true,
                        _ => err = false,
                    }
                }
            }
        }
        (sel, err)
    }
}

/// The lines of `config` as runit takes them: a lone last byte is not looked at.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let sa = self.0;
        if sa.len() < 2 {
            return None;
        }
        let len = sa.iter().position(|&b| b == b'\n').unwrap_or(sa.len());
        self.0 = sa.get(len + 1..).unwrap_or(b"");
        Some(&sa[..len])
    }
}

/// Where `arg` (a part of `sa`) is in `sa`.
fn at(sa: &[u8], arg: &[u8]) -> (usize, usize) {
    let off = arg.as_ptr() as usize - sa.as_ptr() as usize;
    (off, off + arg.len())
}

/// A number with an optional unit letter right after the digits (`s100k`, `t2h`).
fn scan_suffix(arg: &[u8], u1: u8, m1: u64, u2: u8, m2: u64) -> u64 {
    let (n, l) = scan(arg);
    match arg.get(l) {
        Some(&c) if c == u1 => n.wrapping_mul(m1),
        Some(&c) if c == u2 => n.wrapping_mul(m2),
        _ => n,
    }
}

/// libdjbdns's ip4_scan: four dotted numbers; returns the address and the length used.
fn ip4_scan(s: &[u8]) -> Option<([u8; 4], usize)> {
    let mut ip = [0u8; 4];
    let mut pos = 0;
    for (k, b) in ip.iter_mut().enumerate() {
        if k > 0 {
            if s.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
        let (n, l) = scan(&s[pos..]);
        if l == 0 {
            return None;
        }
        *b = n as u8;
        pos += l;
    }
    Some((ip, pos))
}

/// runit's pmatch: literal bytes; `*c` skips to the first c (no backtracking), a
/// trailing `*` matches the rest; `+c` matches one or more c; all of s must be used.
pub fn pmatch(p: &[u8], s: &[u8]) -> bool {
    let (mut p, mut s) = (p, s);
    loop {
        let Some((&c, rest)) = p.split_first() else { return s.is_empty() };
        p = rest;
        match c {
            b'*' => {
                let Some(&c) = p.first() else { return true };
                match s.iter().position(|&b| b == c) {
                    Some(i) => s = &s[i..],
                    None => return false,
                }
            }
            b'+' => {
                let Some((&c, rest)) = p.split_first() else { return false };
                p = rest;
                if s.first() != Some(&c) {
                    return false;
                }
                let n = s.iter().take_while(|&&b| b == c).count();
                s = &s[n..];
                if s.is_empty() {
                    return true;
                }
            }
            _ => match s.split_first() {
                Some((&b, rest)) if b == c => s = rest,
                _ => return false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn patterns() {
        assert!(pmatch(b"*", b"anything"));
        assert!(!pmatch(b"*skip*", b"please skip me"));
        assert!(pmatch(b"*err*", b"an err line"));
        assert!(pmatch(b"a+bc", b"abbbc"));
        assert!(pmatch(b"a+b", b"abbb"));
        assert!(!pmatch(b"abc", b"abcd"));
        assert!(pmatch(b"", b""));
    }
    #[test]
    fn config() {
        let mut c = Conf::new();
        c.parse(b"s100k\nn5\nN2\nt2m\n!gzip\npP:\n+a*\n-*b\ns 100\nu127.0.0.1:99\nx\n#c\n\nE*");
        assert_eq!((c.sizemax, c.nmax, c.nmin, c.tmax), (0, 5, 2, 120));
        assert_eq!((c.processor(), c.prefix()), (&b"gzip"[..], &b"P:"[..]));
        assert_eq!((c.matches(b"ab"), c.matches(b"ax"), c.matches(b"x")), ((false, false), (true, false), (true, false)));
        assert_eq!(c.udp, Some(([127, 0, 0, 1], 99)));
        assert!(!c.udponly);
    }
}
