//! TAI64N labels as runit writes them: supervise/status (svstatus), svlogd's `-t`
//! stamps and its rotated `@TAI64N.s` file names.

/// runit's tai_unix: the TAI64 label of Unix second 0 (always +10, no leap table).
pub const TAI_EPOCH: u64 = (1 << 62) + 10;

/// The 12-byte TAI64N label (big-endian seconds label, then nanoseconds).
pub fn label(sec: u64, nano: u32) -> [u8; 12] {
    let mut l = [0u8; 12];
    l[..8].copy_from_slice(&(TAI_EPOCH + sec).to_be_bytes());
    l[8..].copy_from_slice(&nano.to_be_bytes());
    l
}

/// `@` + the label in lower-case hex (runit's fmt_taia): 25 bytes.
pub fn fmt_tai64n(out: &mut [u8; 25], (sec, nano): (u64, u32)) {
    const D: &[u8; 16] = b"0123456789abcdef";
    out[0] = b'@';
    for (i, b) in label(sec, nano).iter().enumerate() {
        out[1 + 2 * i] = D[(b >> 4) as usize];
        out[2 + 2 * i] = D[(b & 15) as usize];
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
        assert_eq!(label(1, 2), [0x40, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 2]);
    }
}
