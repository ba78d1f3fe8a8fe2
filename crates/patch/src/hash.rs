//! MD5 helpers shared by the applier, the verifier and the CLI.

use std::io::{self, Write};

use md5::{Digest, Md5};

/// MD5 of a byte slice.
pub fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// The MD5s of a source and a destination image, as the v1 header records them.
///
/// [`encode_with_digests`](crate::encode_with_digests) takes them from a caller that has
/// already hashed the images (to report them, or while the diff was running), so that the
/// encoder does not hash each image a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    /// MD5 of the source image.
    pub src_md5: [u8; 16],
    /// MD5 of the destination image.
    pub dst_md5: [u8; 16],
}

impl Digests {
    /// Hashes both images; on two threads at once when `threads` is not 1 (0 = as many as
    /// the machine has cores, as in [`EncodeOptions::threads`](crate::EncodeOptions)).
    pub fn of(src: &[u8], dst: &[u8], threads: usize) -> Digests {
        if threads == 1 {
            return Digests {
                src_md5: md5_of(src),
                dst_md5: md5_of(dst),
            };
        }
        std::thread::scope(|s| {
            let d = s.spawn(|| md5_of(dst));
            let src_md5 = md5_of(src);
            Digests {
                src_md5,
                // A panic in the hasher is a bug; re-raise it here rather than hide it.
                dst_md5: d.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            }
        })
    }
}

/// Lower-case hexadecimal form of a digest (32 characters for an MD5).
pub fn md5_hex(digest: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for &b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Parses a 32-character hexadecimal MD5 (either case). Returns `None` if malformed.
pub fn parse_md5_hex(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let nibble = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// A writer that hashes (MD5) and counts everything written through it, then passes it on.
///
/// Use `Md5Writer::new(io::sink())` to hash a stream without keeping it. Call
/// [`finish`](Md5Writer::finish) to get the inner writer, the digest and the byte count.
#[derive(Debug)]
pub struct Md5Writer<W> {
    inner: W,
    hasher: Md5,
    written: u64,
}

impl<W: Write> Md5Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Md5Writer {
            inner,
            hasher: Md5::new(),
            written: 0,
        }
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The MD5 of everything written so far (the writer can continue).
    pub fn digest(&self) -> [u8; 16] {
        self.hasher.clone().finalize().into()
    }

    /// Returns the inner writer, the MD5 of everything written and its length.
    pub fn finish(self) -> (W, [u8; 16], u64) {
        (self.inner, self.hasher.finalize().into(), self.written)
    }
}

impl<W: Write> Write for Md5Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash only what the inner writer accepted, so the digest matches its content.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_hex_round_trip() {
        let d = md5_of(b"abc");
        assert_eq!(md5_hex(&d), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(parse_md5_hex("900150983CD24FB0D6963F7D28E17F72"), Some(d));
        assert_eq!(parse_md5_hex("900150983cd24fb0d6963f7d28e17f7"), None);
        assert_eq!(parse_md5_hex("g00150983cd24fb0d6963f7d28e17f72"), None);
    }

    #[test]
    fn writer_hashes_what_passes() {
        let mut w = Md5Writer::new(Vec::new());
        w.write_all(b"a").unwrap();
        w.write_all(b"bc").unwrap();
        assert_eq!(w.digest(), md5_of(b"abc"));
        let (inner, d, n) = w.finish();
        assert_eq!(inner, b"abc");
        assert_eq!(d, md5_of(b"abc"));
        assert_eq!(n, 3);
    }
}
