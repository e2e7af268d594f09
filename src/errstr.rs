//! errno -> runit's wording (its error_str table), not strerror.
use crate::sys::Errno;

/// In runit's order: where two names share a value (EAGAIN/EWOULDBLOCK) the first wins.
const TABLE: &[(Errno, &[u8])] = &[
    (Errno(0), b"no error"),
    (Errno::INTR, b"interrupted system call"),
    (Errno::NOMEM, b"out of memory"),
    (Errno::NOENT, b"file does not exist"),
    (Errno::TXTBSY, b"text busy"),
    (Errno::IO, b"input/output error"),
    (Errno::EXIST, b"file already exists"),
    (Errno::TIMEDOUT, b"timed out"),
    (Errno::INPROGRESS, b"operation in progress"),
    (Errno::AGAIN, b"temporary failure"),
    (Errno::WOULDBLOCK, b"input/output would block"),
    (Errno::PIPE, b"broken pipe"),
    (Errno::PERM, b"permission denied"),
    (Errno::ACCES, b"access denied"),
    (Errno::NXIO, b"device not configured"),
    (Errno::PROTO, b"protocol error"),
    (Errno::ISCONN, b"already connected"),
    (Errno::SRCH, b"no such process"),
    (Errno::TOOBIG, b"argument list too long"),
    (Errno::NOEXEC, b"exec format error"),
    (Errno::BADF, b"file descriptor not open"),
    (Errno::CHILD, b"no child processes"),
    (Errno::DEADLK, b"operation would cause deadlock"),
    (Errno::FAULT, b"bad address"),
    (Errno::NOTBLK, b"not a block device"),
    (Errno::BUSY, b"device busy"),
    (Errno::XDEV, b"cross-device link"),
    (Errno::NODEV, b"device does not support operation"),
    (Errno::NOTDIR, b"not a directory"),
    (Errno::ISDIR, b"is a directory"),
    (Errno::INVAL, b"invalid argument"),
    (Errno::NFILE, b"system cannot open more files"),
    (Errno::MFILE, b"process cannot open more files"),
    (Errno::NOTTY, b"not a tty"),
    (Errno::FBIG, b"file too big"),
    (Errno::NOSPC, b"out of disk space"),
    (Errno::SPIPE, b"unseekable descriptor"),
    (Errno::ROFS, b"read-only file system"),
    (Errno::MLINK, b"too many links"),
    (Errno::DOM, b"input out of range"),
    (Errno::RANGE, b"output out of range"),
    (Errno::ALREADY, b"operation already in progress"),
    (Errno::NOTSOCK, b"not a socket"),
    (Errno::DESTADDRREQ, b"destination address required"),
    (Errno::MSGSIZE, b"message too long"),
    (Errno::PROTOTYPE, b"incorrect protocol type"),
    (Errno::NOPROTOOPT, b"protocol not available"),
    (Errno::PROTONOSUPPORT, b"protocol not supported"),
    (Errno::SOCKTNOSUPPORT, b"socket type not supported"),
    (Errno::OPNOTSUPP, b"operation not supported"),
    (Errno::PFNOSUPPORT, b"protocol family not supported"),
    (Errno::AFNOSUPPORT, b"address family not supported"),
    (Errno::ADDRINUSE, b"address already used"),
    (Errno::ADDRNOTAVAIL, b"address not available"),
    (Errno::NETDOWN, b"network down"),
    (Errno::NETUNREACH, b"network unreachable"),
    (Errno::NETRESET, b"network reset"),
    (Errno::CONNABORTED, b"connection aborted"),
    (Errno::CONNRESET, b"connection reset"),
    (Errno::NOBUFS, b"out of buffer space"),
    (Errno::NOTCONN, b"not connected"),
    (Errno::SHUTDOWN, b"socket shut down"),
    (Errno::TOOMANYREFS, b"too many references"),
    (Errno::CONNREFUSED, b"connection refused"),
    (Errno::LOOP, b"symbolic link loop"),
    (Errno::NAMETOOLONG, b"file name too long"),
    (Errno::HOSTDOWN, b"host down"),
    (Errno::HOSTUNREACH, b"host unreachable"),
    (Errno::NOTEMPTY, b"directory not empty"),
    (Errno::USERS, b"too many users"),
    (Errno::DQUOT, b"disk quota exceeded"),
    (Errno::STALE, b"stale NFS file handle"),
    (Errno::REMOTE, b"too many levels of remote in path"),
    (Errno::NOLCK, b"no locks available"),
    (Errno::NOSYS, b"system call not available"),
    (Errno::NOSTR, b"not a stream device"),
    (Errno::TIME, b"timer expired"),
    (Errno::NOSR, b"out of stream resources"),
    (Errno::NOMSG, b"no message of desired type"),
    (Errno::BADMSG, b"bad message type"),
    (Errno::IDRM, b"identifier removed"),
    (Errno::NONET, b"machine not on network"),
    (Errno::NOLINK, b"link severed"),
    (Errno::ADV, b"advertise error"),
    (Errno::SRMNT, b"srmount error"),
    (Errno::COMM, b"communication error"),
    (Errno::MULTIHOP, b"multihop attempted"),
    (Errno::REMCHG, b"remote address changed"),
];

/// The highest errno in TABLE.
const MAX: usize = max_errno();

/// TABLE packed at compile time and indexed by errno: for every errno 0..=MAX in turn,
/// a length byte and the text of its first entry in TABLE (length 0: not in the table).
/// About 2 KB smaller than the table of slices (every text length fits a byte).
static PACKED: [u8; packed_len()] = pack();

const fn max_errno() -> usize {
    let (mut m, mut i) = (0, 0);
    while i < TABLE.len() {
        assert!(TABLE[i].0.0 >= 0 && TABLE[i].1.len() < 256);
        if TABLE[i].0.0 as usize > m {
            m = TABLE[i].0.0 as usize;
        }
        i += 1;
    }
    m
}

/// The text of errno `n`'s first entry in TABLE, or "".
const fn text(n: usize) -> &'static [u8] {
    let mut i = 0;
    while i < TABLE.len() {
        if TABLE[i].0.0 as usize == n {
            return TABLE[i].1;
        }
        i += 1;
    }
    b""
}

const fn packed_len() -> usize {
    let mut len = MAX + 1;
    let mut n = 0;
    while n <= MAX {
        len += text(n).len();
        n += 1;
    }
    len
}

const fn pack() -> [u8; packed_len()] {
    let mut out = [0u8; packed_len()];
    let (mut n, mut at) = (0, 0);
    while n <= MAX {
        let s = text(n);
        out[at] = s.len() as u8;
        let mut k = 0;
        while k < s.len() {
            out[at + 1 + k] = s[k];
            k += 1;
        }
        at += 1 + s.len();
        n += 1;
    }
    out
}

/// runit's text for an errno; "unknown error" for anything not in the table.
pub fn errstr(e: Errno) -> &'static [u8] {
    let mut rest = &PACKED[..];
    let mut n = 0;
    while let [len, tail @ ..] = rest {
        let (text, next) = tail.split_at(*len as usize);
        if n == e.0 && !text.is_empty() {
            return text;
        }
        rest = next;
        n += 1;
    }
    b"unknown error"
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn words() {
        assert_eq!(errstr(Errno::NOENT), b"file does not exist");
        assert_eq!(errstr(Errno::AGAIN), b"temporary failure");
        assert_eq!(errstr(Errno::NXIO), b"device not configured");
        assert_eq!(errstr(Errno::ACCES), b"access denied");
        assert_eq!(errstr(Errno(0)), b"no error");
        assert_eq!(errstr(Errno(9999)), b"unknown error");
        assert_eq!(errstr(Errno(-1)), b"unknown error");
        assert_eq!(errstr(Errno(41)), b"unknown error"); // no errno 41 on Linux
        for (n, t) in TABLE {
            assert!(errstr(*n) == *t || *n == Errno::WOULDBLOCK);
        }
    }
}
