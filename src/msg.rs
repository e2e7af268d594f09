//! Messages from byte-slice fragments, each line written with one write(2);
//! warn/die in runit's style, and a small buffered stdout.
use crate::errstr::errstr;
use crate::sys::{self, Errno, fd};
use alloc::vec::Vec;

/// Writes the concatenation of `parts` to fd with one write(2).
pub fn write_parts(fd: fd::RawFd, parts: &[&[u8]]) {
    let mut v = Vec::new();
    cat(&mut v, parts);
    let _ = fd::write_all(fd, &v);
}

/// Appends every part to `v`.
fn cat(v: &mut Vec<u8>, parts: &[&[u8]]) {
    for p in parts {
        v.extend_from_slice(p);
    }
}

/// The program's name in messages with its separator (`chpst: `, `svlogd: `,
/// `- runit: `), set once by the program's main.
static PROG: sys::StaticBytes = sys::StaticBytes::new(&EMPTY);
const EMPTY: &[u8] = b"";

/// Sets the prefix of `fatal`, `warning` and `say` (a `const` promoted to 'static:
/// `msg::set_prog(&PROG)`).
pub fn set_prog(p: &'static &'static [u8]) {
    PROG.set(p);
}

/// The prefix set by set_prog.
pub fn prog() -> &'static [u8] {
    PROG.get()
}

/// One line on stderr with one write(2): `head`, parts, ": REASON" if an errno is
/// given, "\n".
fn line(head: [&[u8]; 2], parts: &[&[u8]], e: Option<Errno>) {
    let mut v = Vec::new();
    cat(&mut v, &head);
    cat(&mut v, parts);
    if let Some(e) = e {
        cat(&mut v, &[b": ", errstr(e)]);
    }
    v.push(b'\n');
    let _ = fd::write_all(fd::STDERR, &v);
}

/// One line on stderr: parts, then ": REASON" if an errno is given, then "\n".
pub fn warn(parts: &[&[u8]], e: Option<Errno>) {
    line([b"", b""], parts, e);
}

/// `PROG KIND PARTS[: REASON]`: runit's message kinds are `fatal: `, `warning: `,
/// `pausing: `, `info: `, or none (runit's own "- runit: enter stage: ...").
pub fn say(kind: &[u8], parts: &[&[u8]], e: Option<Errno>) {
    line([PROG.get(), kind], parts, e);
}

/// `PROG warning: PARTS[: REASON]`.
pub fn warning(parts: &[&[u8]], e: Option<Errno>) {
    say(b"warning: ", parts, e);
}

/// `PROG fatal: PARTS[: REASON]`, then exit with `code`.
pub fn fatal(code: i32, parts: &[&[u8]], e: Option<Errno>) -> ! {
    say(b"fatal: ", parts, e);
    sys::proc::exit(code)
}

/// warn, then exit with code.
pub fn die(code: i32, parts: &[&[u8]], e: Option<Errno>) -> ! {
    warn(parts, e);
    sys::proc::exit(code)
}

/// "usage: NAME TEXT\n\n" on stderr, then exit with code.
pub fn usage(code: i32, name: &[u8], text: &[u8]) -> ! {
    write_parts(fd::STDERR, &[b"usage: ", name, text, b"\n\n"]);
    sys::proc::exit(code)
}

/// A byte buffer that is also a NUL-terminated C string (paths built from parts).
pub struct CBuf(Vec<u8>);

impl CBuf {
    pub fn new(parts: &[&[u8]]) -> CBuf {
        let mut v = Vec::new();
        for p in parts {
            for &b in *p {
                if b != 0 {
                    v.push(b);
                }
            }
        }
        v.push(0);
        CBuf(v)
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0[..self.0.len() - 1]
    }
}

impl core::ops::Deref for CBuf {
    type Target = core::ffi::CStr;
    fn deref(&self) -> &core::ffi::CStr {
        core::ffi::CStr::from_bytes_with_nul(&self.0).unwrap_or(c"")
    }
}

/// The text after the last '/' (runit's basename of argv[0]).
pub fn basename(s: &[u8]) -> &[u8] {
    match s.iter().rposition(|&b| b == b'/') {
        Some(i) => &s[i + 1..],
        None => s,
    }
}

/// A small buffered writer for stdout (sv's status lines): one write per flush.
pub struct Out(Vec<u8>);

impl Out {
    pub const fn new() -> Out {
        Out(Vec::new())
    }
    #[inline(never)]
    pub fn put(&mut self, b: &[u8]) -> &mut Out {
        self.0.extend_from_slice(b);
        self
    }
    pub fn num(&mut self, n: u64) -> &mut Out {
        let mut buf = [0u8; 20];
        let s = crate::num::fmt_u64(&mut buf, n);
        self.0.extend_from_slice(s);
        self
    }
    pub fn flush(&mut self) {
        if !self.0.is_empty() {
            let _ = fd::write_all(fd::STDOUT, &self.0);
            self.0.clear();
        }
    }
}

impl Default for Out {
    fn default() -> Out {
        Out::new()
    }
}

/// The parts + ": " + REASON + "\n" on stderr from a stack buffer (1 KiB at most): for
/// a child between fork and exec, where nothing may allocate.
pub fn warn_noalloc(parts: &[&[u8]], e: Errno) {
    let mut buf = [0u8; 1024];
    let mut n = 0;
    for part in parts.iter().chain(&[&b": "[..], errstr(e), b"\n"]) {
        for &b in *part {
            if n < buf.len() {
                buf[n] = b;
                n += 1;
            }
        }
    }
    let _ = fd::write(fd::STDERR, &buf[..n]);
}
