//! LEB128 varints (unsigned) and zigzag mapping for signed values.

/// Largest encoded length of a `u64`.
pub(crate) const MAX_LEN: usize = 10;

/// Appends `value` as an unsigned LEB128 varint (7 bits per byte, low bits first,
/// high bit set on every byte but the last).
pub(crate) fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// More than 64 bits, or a redundant (over-long) encoding such as `0x80 0x00`.
    Invalid(&'static str),
}

/// Decodes one varint from the front of `input`; returns the value and the bytes used.
///
/// Rejects encodings longer than 10 bytes, a 10th byte above 1 (overflow), and over-long
/// encodings whose last byte is 0 (so every value has exactly one encoding).
pub(crate) fn get(input: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for i in 0..MAX_LEN {
        let Some(&byte) = input.get(i) else {
            return Err(VarintError::Truncated);
        };
        let payload = u64::from(byte & 0x7f);
        if i == MAX_LEN - 1 && byte > 1 {
            return Err(VarintError::Invalid("varint overflows 64 bits"));
        }
        value |= payload << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(VarintError::Invalid("over-long varint"));
            }
            return Ok((value, i + 1));
        }
    }
    Err(VarintError::Invalid("varint overflows 64 bits"))
}

/// Maps a signed value to an unsigned one so that small magnitudes stay small.
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put(&mut buf, v);
            assert_eq!(get(&buf), Ok((v, buf.len())));
            for cut in 0..buf.len() {
                assert_eq!(get(&buf[..cut]), Err(VarintError::Truncated));
            }
        }
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn rejects_overflow_and_overlong() {
        let eleven = [0xffu8; 11];
        assert!(matches!(get(&eleven), Err(VarintError::Invalid(_))));
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02;
        assert!(matches!(get(&ten), Err(VarintError::Invalid(_))));
        assert!(matches!(get(&[0x80, 0x00]), Err(VarintError::Invalid(_))));
        assert_eq!(get(&[0x00]), Ok((0, 1)));
    }
}
