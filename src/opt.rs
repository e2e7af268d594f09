//! Command-line options as runit parses them (djb's sgetopt), for every program:
//! no permutation, bundled flags (`-v012`), an argument attached (`-uroot`) or in the
//! next word (`-u root`), and runit's two messages on stderr.
use crate::msg;
use crate::sys::fd;

pub enum Got {
    Opt(u8, &'static [u8]),
    Bad,
    Done,
}

/// sgetopt: no permutation; stops at the first non-option, at a lone "-" (kept), or
/// after an argument starting with "--" (consumed). Problems are reported on stderr as
/// `NAME: illegal option -- X` / `NAME: option requires an argument -- X`.
pub struct Getopt<'a> {
    args: &'a [&'static [u8]],
    ind: usize,
    pos: usize,
}

impl<'a> Getopt<'a> {
    pub fn new(args: &'a [&'static [u8]]) -> Getopt<'a> {
        Getopt { args, ind: 1, pos: 0 }
    }

    /// The arguments left after the options.
    #[inline(never)]
    pub fn rest(&self) -> &'a [&'static [u8]] {
        self.args.get(self.ind..).unwrap_or(&[])
    }

    pub fn next(&mut self, opts: &[u8]) -> Got {
        let args = self.args;
        let Some(&a) = args.get(self.ind) else { return Got::Done };
        let mut a = a;
        if self.pos != 0 && self.pos >= a.len() {
            self.ind += 1;
            self.pos = 0;
            match args.get(self.ind) {
                Some(&n) => a = n,
                None => return Got::Done,
            }
        }
        if self.pos == 0 {
            if a.first() != Some(&b'-') {
                return Got::Done;
            }
            match a.get(1) {
                None => return Got::Done,
                Some(b'-') => {
                    self.ind += 1;
                    return Got::Done;
                }
                Some(_) => self.pos = 1,
            }
        }
        let c = a[self.pos];
        self.pos += 1;
        let mut i = 0;
        while i < opts.len() {
            if opts[i] == c {
                if opts.get(i + 1) != Some(&b':') {
                    return Got::Opt(c, b"");
                }
                let attached = &a[self.pos..];
                self.ind += 1;
                self.pos = 0;
                if !attached.is_empty() {
                    return Got::Opt(c, attached);
                }
                return match args.get(self.ind) {
                    Some(&arg) => {
                        self.ind += 1;
                        Got::Opt(c, arg)
                    }
                    None => self.problem(b": option requires an argument -- ", c),
                };
            }
            i += 1;
            if opts.get(i) == Some(&b':') {
                i += 1;
            }
        }
        self.problem(b": illegal option -- ", c)
    }

    fn problem(&self, what: &[u8], c: u8) -> Got {
        let name = msg::basename(self.args.first().copied().unwrap_or(b""));
        msg::write_parts(fd::STDERR, &[name, what, &[c], b"\n"]);
        Got::Bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn opts(args: &[&'static [u8]], spec: &[u8]) -> (Vec<(u8, &'static [u8])>, bool, usize) {
        let mut g = Getopt::new(args);
        let mut v = Vec::new();
        loop {
            match g.next(spec) {
                Got::Opt(c, a) => v.push((c, a)),
                Got::Bad => return (v, false, g.ind),
                Got::Done => return (v, true, g.ind),
            }
        }
    }

    #[test]
    fn getopt() {
        let s = b"u:vP012";
        assert_eq!(
            opts(&[b"x", b"-v012", b"-uroot", b"prog"], s),
            (alloc::vec![(b'v', &b""[..]), (b'0', &b""[..]), (b'1', &b""[..]), (b'2', &b""[..]), (b'u', &b"root"[..])], true, 3)
        );
        assert_eq!(opts(&[b"x", b"-u", b"-v", b"p"], s), (alloc::vec![(b'u', &b"-v"[..])], true, 3));
        assert_eq!(opts(&[b"x", b"--foo", b"p"], s), (alloc::vec![], true, 2));
        assert_eq!(opts(&[b"x", b"-", b"p"], s), (alloc::vec![], true, 1));
        assert_eq!(opts(&[b"x", b"-v", b"p", b"-v"], s).2, 2);
        assert!(!opts(&[b"x", b"-u"], s).1);
        assert!(!opts(&[b"x", b"-:"], s).1);
    }
}
