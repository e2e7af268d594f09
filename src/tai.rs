//! TAI64N labels as runit writes them: supervise/status (svstatus), svlogd's `-t`
//! stamps and its rotated `@TAI64N.s` file names.

/// runit's tai_unix: the TAI64 label of Unix second 0 (always +10, no leap table).
pub const TAI_EPOCH: u64 = (1 << 62) + 10;

/// `@` + the TAI64N label (big-endian seconds label, then nanoseconds) in lower-case hex (runit's fmt_taia): 25 bytes.
pub fn fmt_tai64n(out: &mut [u8; 25], (sec, nano): (u64, u32)) {
    out[0] = b'@';
    let (secs, nanos) = out[1..].split_at_mut(16);
    hex(secs, TAI_EPOCH + sec);
    hex(nanos, nano as u64);
}

/// `v`'s low hex digits (lower case), filling `out`.
fn hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn formats() {
        let mut b = [0u8; 25];
        fmt_tai64n(&mut b, (0x6b035c24 - 10, 0x22a3939c));
        assert_eq!(&b, b"@400000006b035c2422a3939c");
        fmt_tai64n(&mut b, (1, 2));
        assert_eq!(&b, b"@400000000000000b00000002");
    }
}
