//! svlogd's line and file-name stamps: TAI64N (`@` + 24 hex digits) and the
//! `YYYY-MM-DD_HH:MM:SS.xxxxx` forms of -tt / -ttt (runit's fmt_taia / fmt_ptime).

/// Every stamp is 25 bytes; a space follows it in a log line.
pub const LEN: usize = 25;
/// `@` + the TAI64N label in lower-case hex.
pub use crate::tai::fmt_tai64n as tai64n;

/// UTC `YYYY-MM-DD<sep>HH:MM:SS.fffff` (the first five of nine nanosecond digits).
pub fn ptime(out: &mut [u8; LEN], (sec, nano): (u64, u32), sep: u8) {
    let days = (sec / 86400) as i64;
    let rem = sec % 86400;
    let (y, m, d) = civil(days);
    put(&mut out[0..4], y as u64);
    out[4] = b'-';
    put(&mut out[5..7], m as u64);
    out[7] = b'-';
    put(&mut out[8..10], d as u64);
    out[10] = sep;
    put(&mut out[11..13], rem / 3600);
    out[13] = b':';
    put(&mut out[14..16], rem / 60 % 60);
    out[16] = b':';
    put(&mut out[17..19], rem % 60);
    out[19] = b'.';
    put(&mut out[20..25], nano as u64 / 10_000);
}

/// Zero-padded decimal filling `out`.
fn put(out: &mut [u8], mut n: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's civil_from_days).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
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
    }
}
