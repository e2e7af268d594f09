//! Decimal numbers on byte slices (runit's fmt_ulong / scan_ulong), no core::fmt.

/// Decimal digits of `n`, right-aligned in `buf`.
pub fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Decimal digits of a signed number ("-1" for finish's crash argument).
pub fn fmt_i64(buf: &mut [u8; 21], n: i64) -> &[u8] {
    let mut tmp = [0u8; 20];
    let digits = fmt_u64(&mut tmp, n.unsigned_abs());
    let start = 21 - digits.len() - (n < 0) as usize;
    buf[21 - digits.len()..].copy_from_slice(digits);
    if n < 0 {
        buf[start] = b'-';
    }
    &buf[start..]
}

/// Digits parsed from the front of `s`, and how many bytes they took; None on overflow.
/// No digits gives Some((0, 0)) (runit's scan_ulong).
pub fn scan_u64(s: &[u8]) -> Option<(u64, usize)> {
    let mut n: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add((s[i] - b'0') as u64)?;
        i += 1;
    }
    Some((n, i))
}

/// runit's scan_ulong exactly: leading digits in unsigned arithmetic that wraps on
/// overflow (as C's unsigned long does), and how many bytes they took.
pub fn scan_ulong(s: &[u8]) -> (u64, usize) {
    let mut n: u64 = 0;
    let mut i = 0;
    while let Some(&b) = s.get(i).filter(|b| b.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add((b - b'0') as u64);
        i += 1;
    }
    (n, i)
}

/// The whole of `s` as a decimal number (at least one digit, nothing else).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    match scan_u64(s) {
        Some((n, len)) if len == s.len() && len > 0 => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn fmt() {
        let mut b = [0u8; 20];
        assert_eq!(fmt_u64(&mut b, 0), b"0");
        assert_eq!(fmt_u64(&mut b, 1234567890), b"1234567890");
        assert_eq!(fmt_u64(&mut b, u64::MAX), b"18446744073709551615");
        let mut c = [0u8; 21];
        assert_eq!(fmt_i64(&mut c, -1), b"-1");
        assert_eq!(fmt_i64(&mut c, 111), b"111");
        assert_eq!(fmt_i64(&mut c, i64::MIN), b"-9223372036854775808");
    }
    #[test]
    fn scan() {
        assert_eq!(scan_u64(b"12x"), Some((12, 2)));
        assert_eq!(scan_u64(b"x"), Some((0, 0)));
        assert_eq!(scan_u64(b"99999999999999999999999"), None);
        assert_eq!(scan_ulong(b"12x"), (12, 2));
        assert_eq!(scan_ulong(b"18446744073709551617"), (1, 20));
        assert_eq!(parse_u64(b"5"), Some(5));
        assert_eq!(parse_u64(b"5x"), None);
        assert_eq!(parse_u64(b""), None);
    }
}
