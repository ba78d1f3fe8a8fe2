//! Random identifiers in the shapes the real service uses.

use rand::Rng;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn pick(set: &[u8], n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(set[rng.gen_range(0..set.len())]))
        .collect()
}

/// `n` random letters and digits.
pub fn alnum(n: usize) -> String {
    pick(ALNUM, n)
}

/// `n` random lowercase letters and digits.
pub fn lower_alnum(n: usize) -> String {
    pick(LOWER_ALNUM, n)
}

/// A request id shaped like the real ones: an uppercase UUID
/// (`291438BA-6E10-4C4C-B761-243B9A0D324F`).
pub fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A FirmwareId: 26 letters and digits (the documented example is
/// `s8SSHiKjpBfrM3BSN0z803****`).
pub fn firmware_id() -> String {
    alnum(26)
}

/// A verification JobId: 26 letters and digits.
pub fn job_id() -> String {
    alnum(26)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        let r = super::request_id();
        assert_eq!(r.len(), 36);
        assert_eq!(r.matches('-').count(), 4);
        assert_eq!(super::firmware_id().len(), 26);
        assert!(super::lower_alnum(25)
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }
}
