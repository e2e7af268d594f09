//! errno -> runit's wording (its error_str table), not strerror.
use crate::sys::Errno;

/// In runit's order: where two names share a value (EAGAIN/EWOULDBLOCK) the first wins.
const TABLE: &[(i32, &[u8])] = &[
    (0, b"no error"),
    (libc::EINTR, b"interrupted system call"),
    (libc::ENOMEM, b"out of memory"),
    (libc::ENOENT, b"file does not exist"),
    (libc::ETXTBSY, b"text busy"),
    (libc::EIO, b"input/output error"),
    (libc::EEXIST, b"file already exists"),
    (libc::ETIMEDOUT, b"timed out"),
    (libc::EINPROGRESS, b"operation in progress"),
    (libc::EAGAIN, b"temporary failure"),
    (libc::EWOULDBLOCK, b"input/output would block"),
    (libc::EPIPE, b"broken pipe"),
    (libc::EPERM, b"permission denied"),
    (libc::EACCES, b"access denied"),
    (libc::ENXIO, b"device not configured"),
    (libc::EPROTO, b"protocol error"),
    (libc::EISCONN, b"already connected"),
    (libc::ESRCH, b"no such process"),
    (libc::E2BIG, b"argument list too long"),
    (libc::ENOEXEC, b"exec format error"),
    (libc::EBADF, b"file descriptor not open"),
    (libc::ECHILD, b"no child processes"),
    (libc::EDEADLK, b"operation would cause deadlock"),
    (libc::EFAULT, b"bad address"),
    (libc::ENOTBLK, b"not a block device"),
    (libc::EBUSY, b"device busy"),
    (libc::EXDEV, b"cross-device link"),
    (libc::ENODEV, b"device does not support operation"),
    (libc::ENOTDIR, b"not a directory"),
    (libc::EISDIR, b"is a directory"),
    (libc::EINVAL, b"invalid argument"),
    (libc::ENFILE, b"system cannot open more files"),
    (libc::EMFILE, b"process cannot open more files"),
    (libc::ENOTTY, b"not a tty"),
    (libc::EFBIG, b"file too big"),
    (libc::ENOSPC, b"out of disk space"),
    (libc::ESPIPE, b"unseekable descriptor"),
    (libc::EROFS, b"read-only file system"),
    (libc::EMLINK, b"too many links"),
    (libc::EDOM, b"input out of range"),
    (libc::ERANGE, b"output out of range"),
    (libc::EALREADY, b"operation already in progress"),
    (libc::ENOTSOCK, b"not a socket"),
    (libc::EDESTADDRREQ, b"destination address required"),
    (libc::EMSGSIZE, b"message too long"),
    (libc::EPROTOTYPE, b"incorrect protocol type"),
    (libc::ENOPROTOOPT, b"protocol not available"),
    (libc::EPROTONOSUPPORT, b"protocol not supported"),
    (libc::ESOCKTNOSUPPORT, b"socket type not supported"),
    (libc::EOPNOTSUPP, b"operation not supported"),
    (libc::EPFNOSUPPORT, b"protocol family not supported"),
    (libc::EAFNOSUPPORT, b"address family not supported"),
    (libc::EADDRINUSE, b"address already used"),
    (libc::EADDRNOTAVAIL, b"address not available"),
    (libc::ENETDOWN, b"network down"),
    (libc::ENETUNREACH, b"network unreachable"),
    (libc::ENETRESET, b"network reset"),
    (libc::ECONNABORTED, b"connection aborted"),
    (libc::ECONNRESET, b"connection reset"),
    (libc::ENOBUFS, b"out of buffer space"),
    (libc::ENOTCONN, b"not connected"),
    (libc::ESHUTDOWN, b"socket shut down"),
    (libc::ETOOMANYREFS, b"too many references"),
    (libc::ECONNREFUSED, b"connection refused"),
    (libc::ELOOP, b"symbolic link loop"),
    (libc::ENAMETOOLONG, b"file name too long"),
    (libc::EHOSTDOWN, b"host down"),
    (libc::EHOSTUNREACH, b"host unreachable"),
    (libc::ENOTEMPTY, b"directory not empty"),
    (libc::EUSERS, b"too many users"),
    (libc::EDQUOT, b"disk quota exceeded"),
    (libc::ESTALE, b"stale NFS file handle"),
    (libc::EREMOTE, b"too many levels of remote in path"),
    (libc::ENOLCK, b"no locks available"),
    (libc::ENOSYS, b"system call not available"),
    (libc::ENOSTR, b"not a stream device"),
    (libc::ETIME, b"timer expired"),
    (libc::ENOSR, b"out of stream resources"),
    (libc::ENOMSG, b"no message of desired type"),
    (libc::EBADMSG, b"bad message type"),
    (libc::EIDRM, b"identifier removed"),
    (libc::ENONET, b"machine not on network"),
    (libc::ENOLINK, b"link severed"),
    (libc::EADV, b"advertise error"),
    (libc::ESRMNT, b"srmount error"),
    (libc::ECOMM, b"communication error"),
    (libc::EMULTIHOP, b"multihop attempted"),
    (libc::EREMCHG, b"remote address changed"),
];

/// TABLE packed at compile time as [errno, length, text...] records: about 2 KB
/// smaller than the table of slices (every Linux errno and text length fit a byte).
static PACKED: [u8; packed_len()] = pack();

const fn packed_len() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < TABLE.len() {
        n += 2 + TABLE[i].1.len();
        i += 1;
    }
    n
}

const fn pack() -> [u8; packed_len()] {
    let mut out = [0u8; packed_len()];
    let (mut i, mut at) = (0, 0);
    while i < TABLE.len() {
        let (n, s) = TABLE[i];
        assert!(n >= 0 && n < 256 && s.len() < 256);
        out[at] = n as u8;
        out[at + 1] = s.len() as u8;
        let mut k = 0;
        while k < s.len() {
            out[at + 2 + k] = s[k];
            k += 1;
        }
        at += 2 + s.len();
        i += 1;
    }
    out
}

/// runit's text for an errno; "unknown error" for anything not in the table.
pub fn errstr(e: Errno) -> &'static [u8] {
    let mut rest = &PACKED[..];
    while let [n, len, tail @ ..] = rest {
        let (text, next) = tail.split_at(*len as usize);
        if *n as i32 == e.0 {
            return text;
        }
        rest = next;
    }
    b"unknown error"
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn words() {
        assert_eq!(errstr(Errno(libc::ENOENT)), b"file does not exist");
        assert_eq!(errstr(Errno(libc::EAGAIN)), b"temporary failure");
        assert_eq!(errstr(Errno(libc::ENXIO)), b"device not configured");
        assert_eq!(errstr(Errno(libc::EACCES)), b"access denied");
        assert_eq!(errstr(Errno(0)), b"no error");
        assert_eq!(errstr(Errno(9999)), b"unknown error");
    }
}
