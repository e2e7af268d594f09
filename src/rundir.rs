//! The run directory: where runsv keeps the supervise files of a service whose directory is
//! read-only (README "Read-only and non-root"), and where sv finds them. One rule for both.
use crate::sys::proc;
use alloc::vec::Vec;

/// The default place, a tmpfs in containers and on hosts.
const DEFAULT: &[u8] = b"/run/urunit";

/// `$URUNIT_RUNDIR` if set and not empty, else /run/urunit.
pub fn base() -> &'static [u8] {
    proc::getenv(b"URUNIT_RUNDIR").filter(|v| !v.is_empty()).unwrap_or(DEFAULT)
}

/// The directory name for a service at the physical absolute `path`: the path without its
/// leading '/', with '%' written "%25" and '/' written "%2F" (so two paths never collide).
pub fn key(path: &[u8], out: &mut Vec<u8>) {
    let p = path.strip_prefix(b"/").unwrap_or(path);
    for &b in p {
        match b {
            b'%' => out.extend_from_slice(b"%25"),
            b'/' => out.extend_from_slice(b"%2F"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys() {
        let mut v = alloc::vec::Vec::new();
        super::key(b"/etc/service/app", &mut v);
        assert_eq!(v, b"etc%2Fservice%2Fapp");
        v.clear();
        super::key(b"/a%b/c", &mut v);
        assert_eq!(v, b"a%25b%2Fc");
    }
}
