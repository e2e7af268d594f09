//! The system layer: the only place with `unsafe` and `libc::` calls.
//! Functions return `Result<T, Errno>`; they never print or exit.
#![allow(unsafe_code)]

pub mod cred;
pub mod fd;
pub mod fs;
pub mod heap;
pub mod initsys;
pub mod inotify;
pub mod net;
pub mod proc;
pub mod sig;
pub mod time;

pub use libc::c_int;

/// An errno value, read right after the failing call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub c_int);

pub type Result<T> = core::result::Result<T, Errno>;

/// `Errno::NAME` for libc's ENAME, so programs compare and report errors without libc.
macro_rules! errnos {
    ($($name:ident = $e:ident,)*) => {
        #[allow(dead_code)]
        impl Errno {
            $(pub const $name: Errno = Errno(libc::$e);)*
        }
    };
}

// Every errno runit's error_str knows (errstr.rs), in its order; E2BIG is TOOBIG.
errnos! {
    INTR = EINTR,
    NOMEM = ENOMEM,
    NOENT = ENOENT,
    TXTBSY = ETXTBSY,
    IO = EIO,
    EXIST = EEXIST,
    TIMEDOUT = ETIMEDOUT,
    INPROGRESS = EINPROGRESS,
    AGAIN = EAGAIN,
    WOULDBLOCK = EWOULDBLOCK,
    PIPE = EPIPE,
    PERM = EPERM,
    ACCES = EACCES,
    NXIO = ENXIO,
    PROTO = EPROTO,
    ISCONN = EISCONN,
    SRCH = ESRCH,
    TOOBIG = E2BIG,
    NOEXEC = ENOEXEC,
    BADF = EBADF,
    CHILD = ECHILD,
    DEADLK = EDEADLK,
    FAULT = EFAULT,
    NOTBLK = ENOTBLK,
    BUSY = EBUSY,
    XDEV = EXDEV,
    NODEV = ENODEV,
    NOTDIR = ENOTDIR,
    ISDIR = EISDIR,
    INVAL = EINVAL,
    NFILE = ENFILE,
    MFILE = EMFILE,
    NOTTY = ENOTTY,
    FBIG = EFBIG,
    NOSPC = ENOSPC,
    SPIPE = ESPIPE,
    ROFS = EROFS,
    MLINK = EMLINK,
    DOM = EDOM,
    RANGE = ERANGE,
    ALREADY = EALREADY,
    NOTSOCK = ENOTSOCK,
    DESTADDRREQ = EDESTADDRREQ,
    MSGSIZE = EMSGSIZE,
    PROTOTYPE = EPROTOTYPE,
    NOPROTOOPT = ENOPROTOOPT,
    PROTONOSUPPORT = EPROTONOSUPPORT,
    SOCKTNOSUPPORT = ESOCKTNOSUPPORT,
    OPNOTSUPP = EOPNOTSUPP,
    PFNOSUPPORT = EPFNOSUPPORT,
    AFNOSUPPORT = EAFNOSUPPORT,
    ADDRINUSE = EADDRINUSE,
    ADDRNOTAVAIL = EADDRNOTAVAIL,
    NETDOWN = ENETDOWN,
    NETUNREACH = ENETUNREACH,
    NETRESET = ENETRESET,
    CONNABORTED = ECONNABORTED,
    CONNRESET = ECONNRESET,
    NOBUFS = ENOBUFS,
    NOTCONN = ENOTCONN,
    SHUTDOWN = ESHUTDOWN,
    TOOMANYREFS = ETOOMANYREFS,
    CONNREFUSED = ECONNREFUSED,
    LOOP = ELOOP,
    NAMETOOLONG = ENAMETOOLONG,
    HOSTDOWN = EHOSTDOWN,
    HOSTUNREACH = EHOSTUNREACH,
    NOTEMPTY = ENOTEMPTY,
    USERS = EUSERS,
    DQUOT = EDQUOT,
    STALE = ESTALE,
    REMOTE = EREMOTE,
    NOLCK = ENOLCK,
    NOSYS = ENOSYS,
    NOSTR = ENOSTR,
    TIME = ETIME,
    NOSR = ENOSR,
    NOMSG = ENOMSG,
    BADMSG = EBADMSG,
    IDRM = EIDRM,
    NONET = ENONET,
    NOLINK = ENOLINK,
    ADV = EADV,
    SRMNT = ESRMNT,
    COMM = ECOMM,
    MULTIHOP = EMULTIHOP,
    REMCHG = EREMCHG,
}

/// A `&'static [u8]` that is set at startup and read anywhere: the program's message
/// prefix (msg::set_prog). One atomic pointer to a static slice reference, so a read
/// always sees a whole value.
pub struct StaticBytes(core::sync::atomic::AtomicPtr<&'static [u8]>);

impl StaticBytes {
    pub const fn new(v: &'static &'static [u8]) -> StaticBytes {
        StaticBytes(core::sync::atomic::AtomicPtr::new(v as *const &[u8] as *mut &'static [u8]))
    }
    pub fn set(&self, v: &'static &'static [u8]) {
        self.0.store(v as *const &[u8] as *mut &'static [u8], core::sync::atomic::Ordering::Relaxed);
    }
    pub fn get(&self) -> &'static [u8] {
        // SAFETY: the pointer always comes from a `&'static &'static [u8]` (new or set):
        // valid for reads for the whole process and never written through.
        unsafe { *self.0.load(core::sync::atomic::Ordering::Relaxed) }
    }
}

/// The calling thread's errno.
pub fn errno() -> Errno {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    Errno(unsafe { *libc::__errno_location() })
}

/// "-1 and errno" -> Result, retrying EINTR (skalibs' "safe wrappers").
pub(crate) fn cvt(mut f: impl FnMut() -> isize) -> Result<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = errno();
        if e != Errno::INTR {
            return Err(e);
        }
    }
}

/// Like `cvt` for calls returning c_int.
pub(crate) fn cvti(mut f: impl FnMut() -> c_int) -> Result<c_int> {
    cvt(|| f() as isize).map(|r| r as c_int)
}
