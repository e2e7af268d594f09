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

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's civil_from_days, for days >= 0).
fn civil(z: u64) -> (u64, u64, u64) {
    let z = z + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as u64, m, d)
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
