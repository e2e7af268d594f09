//! The run directory (read-only service directories): where runsv keeps the supervise
//! files of a service directory whose `supervise/` cannot be used, and where sv finds them.
use alloc::vec::Vec;

/// R: `$URUNIT_RUNDIR` if set and not empty, else `/run/urunit`.
pub fn base() -> &'static [u8] {
    match crate::sys::proc::getenv(b"URUNIT_RUNDIR") {
        Some(r) if !r.is_empty() => r,
        _ => b"/run/urunit",
    }
}

/// Appends KEY for the physical absolute path of a service directory: the path without
/// its leading `/`, with every `%` written `%25` and every `/` written `%2F`.
pub fn key(path: &[u8], out: &mut Vec<u8>) {
    for &c in path.strip_prefix(b"/").unwrap_or(path) {
        match c {
            b'%' => out.extend_from_slice(b"%25"),
            b'/' => out.extend_from_slice(b"%2F"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn k(p: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        key(p, &mut v);
        v
    }
    #[test]
    fn keys() {
        assert_eq!(k(b"/etc/service/app"), b"etc%2Fservice%2Fapp");
        assert_eq!(k(b"/etc/service/app/log"), b"etc%2Fservice%2Fapp%2Flog");
        assert_eq!(k(b"/a%2Fb/c"), b"a%252Fb%2Fc");
        assert_eq!(k(b"/"), b"");
        assert_eq!(k(b"/x y"), b"x y");
    }
    #[test]
    fn appends() {
        let mut v = b"/run/urunit/".to_vec();
        key(b"/srv/a", &mut v);
        assert_eq!(v, b"/run/urunit/srv%2Fa");
    }
}
