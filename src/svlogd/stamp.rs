//! svlogd's line and file-name stamps: TAI64N (`@` + 24 hex digits) and the
//! `YYYY-MM-DD_HH:MM:SS.xxxxx` forms of -tt / -ttt (runit's fmt_taia / fmt_ptime).

/// Every stamp is 25 bytes; a space follows it in a log line.
pub const LEN: usize = 25;
/// `@` + the TAI64N label in lower-case hex.
pub use crate::tai::fmt_tai64n as tai64n;

/// UTC `YYYY-MM-DD<sep>HH:MM:SS.fffff` (the first five of nine nanosecond digits).
pub fn ptime(out: &mut [u8; LEN], (sec, nano): (u64, u32), sep: u8) {
    let rem = sec % 86400;
    let (y, m, d) = civil(sec / 86400);
    // Filled from the end: a `0` takes the next digit of the current field, any other
    // byte is copied and moves on to the field before.
    let mut v = [nano as u64 / 10_000, rem % 60, rem / 60 % 60, rem / 3600, d, m, y];
    let mut k = 0;
    for (o, &t) in out.iter_mut().zip(b"0000-00-00_00:00:00.00000").rev() {
        *o = t;
        if t == b'0' {
            *o += (v[k] % 10) as u8;
            v[k] /= 10;
        } else {
            k += 1;
        }
    }
    out[10] = sep;
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar:
/// whole 400-year cycles (146097 days each), then year by year and month by month.
fn civil(z: u64) -> (u64, u64, u64) {
    let mut y = 1970 + z / 146_097 * 400;
    let mut z = z % 146_097;
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0 || y % 400 == 0) as u64;
    while z >= 365 + leap(y) {
        z -= 365 + leap(y);
        y += 1;
    }
    let mut m = 0;
    loop {
        // 31 days: January, March, May, July, August, October, December.
        let n = if m == 1 { 28 + leap(y) } else { 30 + (0xAD5 >> m & 1) };
        if z < n {
            return (y, m + 1, z + 1);
        }
        z -= n;
        m += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn formats() {
        let mut b = [0u8; LEN];
        ptime(&mut b, (1_795_382_298, 586_220_500), b'_');
        assert_eq!(&b, b"2026-11-22_21:18:18.58622");
        ptime(&mut b, (951_782_400, 0), b'T');
        assert_eq!(&b, b"2000-02-29T00:00:00.00000");
        ptime(&mut b, (0, 0), b'_');
        assert_eq!(&b, b"1970-01-01_00:00:00.00000");
        ptime(&mut b, (4_107_542_399, 999_999_999), b'_');
        assert_eq!(&b, b"2100-02-28_23:59:59.99999");
        ptime(&mut b, (4_107_542_400, 0), b'_');
        assert_eq!(&b, b"2100-03-01_00:00:00.00000");
        ptime(&mut b, (1_735_689_599, 0), b'_');
        assert_eq!(&b, b"2024-12-31_23:59:59.00000");
        ptime(&mut b, (253_402_300_799, 0), b'_');
        assert_eq!(&b, b"9999-12-31_23:59:59.00000");
    }
}
