//! Generated image pairs: firmware-like edits and the pathological inputs that break naive
//! diff engines (long runs of `0xFF` or `0x00`, random data).
//!
//! Everything here is deterministic (a fixed-seed SplitMix64 generator, no platform
//! randomness) and depends on `std` only, so the root package's criterion benches include this
//! file directly (`#[path = ".../gen.rs"] mod gen;`) without depending on the bench crate.

/// One MiB.
pub const MIB: usize = 1 << 20;

/// A small deterministic pseudo-random generator (SplitMix64). Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n
    }

    /// A number in `lo..hi` (`lo < hi`).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo) as u64) as usize
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Base address that pointer tables in generated images point into (an MCU flash base).
const FLASH_BASE: u32 = 0x0800_0000;

/// A firmware-like image of exactly `len` bytes: code words drawn from a small instruction
/// vocabulary with branch offsets, pointer tables into flash, string tables, and erased-flash
/// (`0xFF`) or zero padding.
pub fn firmware_image(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let vocab: Vec<u32> = (0..96).map(|_| rng.next_u64() as u32).collect();
    const WORDS: [&str; 12] = [
        "error", "flash", "boot", "init", "timer", "uart", "spi", "dma", "irq", "config", "ok",
        "fail",
    ];
    let mut out = Vec::with_capacity(len + 8192);
    while out.len() < len {
        match rng.below(16) {
            0..=9 => {
                for _ in 0..rng.range(64, 1024) {
                    let w = if rng.below(5) == 0 {
                        // A branch: opcode byte plus a 24-bit word offset.
                        0xEB00_0000 | (rng.below(1 << 14) as u32)
                    } else {
                        vocab[rng.below(vocab.len() as u64) as usize]
                    };
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
            10..=12 => {
                for _ in 0..rng.range(16, 256) {
                    let p = FLASH_BASE + ((rng.below(len.max(4) as u64) as u32) & !3);
                    out.extend_from_slice(&p.to_le_bytes());
                }
            }
            13 | 14 => {
                for _ in 0..rng.range(8, 64) {
                    out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
                    out.push(if rng.below(4) == 0 { 0 } else { b' ' });
                }
            }
            _ => {
                let fill = if rng.below(2) == 0 { 0xFF } else { 0x00 };
                let n = rng.range(64, 4096);
                out.resize(out.len() + n, fill);
            }
        }
    }
    out.truncate(len);
    out
}

/// What a new build does to a firmware image: a few insertions and deletions that shift the
/// code after them, changed constants, and pointers into flash relocated by the shift.
pub fn edit_image(seed: u64, img: &[u8]) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0x5EED_ED17);
    let mut out = Vec::with_capacity(img.len() + img.len() / 64 + 4096);
    // Edit points, in order: about 8 per MiB, at least 2.
    let n_edits = (img.len() / MIB * 8).max(2);
    let mut points: Vec<usize> = (0..n_edits)
        .map(|_| rng.below(img.len().max(1) as u64) as usize & !3)
        .collect();
    points.sort_unstable();
    let mut shift: i64 = 0;
    let mut pos = 0;
    for p in points {
        if p < pos {
            continue;
        }
        copy_relocated(&img[pos..p], shift, &mut rng, &mut out);
        pos = p;
        if rng.below(3) == 0 {
            // Delete a few words.
            let n = (rng.range(1, 64) * 4).min(img.len() - pos);
            pos += n;
            shift -= n as i64;
        } else {
            // Insert new code.
            let n = rng.range(4, 256) * 4;
            let start = out.len();
            out.resize(start + n, 0);
            rng.fill(&mut out[start..]);
            shift += n as i64;
        }
    }
    copy_relocated(&img[pos..], shift, &mut rng, &mut out);
    out
}

/// Copies `part`, adding `shift` to aligned words that look like pointers into flash and
/// changing about one word in a thousand (a changed constant).
fn copy_relocated(part: &[u8], shift: i64, rng: &mut Rng, out: &mut Vec<u8>) {
    let mut words = part.chunks_exact(4);
    for w in &mut words {
        let mut v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        if v >> 24 == FLASH_BASE >> 24 && shift != 0 {
            v = (i64::from(v) + shift) as u32;
        } else if rng.below(1000) == 0 {
            v = rng.next_u64() as u32;
        }
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(words.remainder());
}

/// The generated pairs, by name.
pub const GENERATED: [(&str, &str); 4] = [
    (
        "gen-ff16m-shifted",
        "16 MiB of erased flash (0xFF) with a 1 MiB firmware-like image at the front; the new image is shifted by a 4 KiB header and edited",
    ),
    (
        "gen-zero16m",
        "all-zero images: 16 MiB of 0x00 to 16 MiB + 64 KiB of 0x00",
    ),
    (
        "gen-random8m",
        "8 MiB of random bytes; the new image has insertions, deletions and changed bytes",
    ),
    (
        "gen-firmware8m",
        "an 8 MiB firmware-like image (code, pointer tables, strings, padding) and its next build (shifted code, relocated pointers, changed constants)",
    ),
];

/// Builds the generated pair `name` with `size` bytes of source image (the sizes in
/// [`GENERATED`] are for the default `size` of 16 MiB; the other pairs scale with it).
/// Returns `None` for an unknown name.
pub fn generate(name: &str, size: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    match name {
        "gen-ff16m-shifted" => {
            let image_len = (size / 16).max(4096);
            let image = firmware_image(16, image_len);
            let mut src = image.clone();
            src.resize(size.max(image_len), 0xFF);
            let mut dst = vec![0u8; 4096];
            Rng::new(17).fill(&mut dst);
            dst.extend_from_slice(&edit_image(16, &image));
            dst.resize(size.max(dst.len()), 0xFF);
            Some((src, dst))
        }
        "gen-zero16m" => Some((vec![0; size], vec![0; size + size / 256])),
        "gen-random8m" => {
            let mut src = vec![0u8; size / 2];
            Rng::new(8).fill(&mut src);
            let mut rng = Rng::new(9);
            let mut dst = Vec::with_capacity(src.len() + 65536);
            let mut pos = 0;
            while pos < src.len() {
                let run = rng.range(16 << 10, 512 << 10).min(src.len() - pos);
                dst.extend_from_slice(&src[pos..pos + run]);
                pos += run;
                match rng.below(3) {
                    0 => pos += rng.range(1, 4096).min(src.len() - pos),
                    1 => {
                        let start = dst.len();
                        dst.resize(start + rng.range(1, 4096), 0);
                        rng.fill(&mut dst[start..]);
                    }
                    _ => {
                        if let Some(b) = dst.last_mut() {
                            *b ^= 0x5A;
                        }
                    }
                }
            }
            Some((src, dst))
        }
        "gen-firmware8m" => {
            let src = firmware_image(8, size / 2);
            let dst = edit_image(8, &src);
            Some((src, dst))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    // The root package's benches include this file with `cfg(test)` set but without a test
    // harness, which drops the `#[test]` functions and leaves this import unused there.
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        for (name, _) in GENERATED {
            let a = generate(name, 256 << 10).unwrap();
            let b = generate(name, 256 << 10).unwrap();
            assert!(a == b, "{name} differs between two runs");
            assert!(!a.0.is_empty() && !a.1.is_empty());
            assert_ne!(a.0, a.1, "{name}: source and destination must differ");
        }
        assert!(generate("nope", 1024).is_none());
    }

    #[test]
    fn firmware_image_has_exact_length_and_padding() {
        for len in [0, 1, 4095, 65536] {
            assert_eq!(firmware_image(1, len).len(), len);
        }
        let img = firmware_image(1, MIB);
        let ff_runs = img
            .windows(64)
            .filter(|w| w.iter().all(|&b| b == 0xFF))
            .count();
        assert!(ff_runs > 0, "expected erased-flash padding");
    }

    #[test]
    fn edit_keeps_most_of_the_image() {
        let img = firmware_image(3, MIB);
        let new = edit_image(3, &img);
        assert_ne!(img, new);
        let diff = img.len().abs_diff(new.len());
        assert!(diff < img.len() / 20, "edits changed the length by {diff}");
        // A long stretch from the start survives unchanged or relocated: the first 4 KiB
        // before the first edit usually matches; at least the images share many 64-byte blocks.
        let set: std::collections::HashSet<&[u8]> = img.chunks_exact(64).collect();
        let shared = new.chunks(64).filter(|c| set.contains(c)).count();
        assert!(shared > 100, "only {shared} shared blocks");
    }

    #[test]
    fn pathological_shapes() {
        let (src, dst) = generate("gen-zero16m", MIB).unwrap();
        assert!(src.iter().chain(&dst).all(|&b| b == 0));
        assert_eq!(dst.len(), MIB + MIB / 256);
        let (src, dst) = generate("gen-ff16m-shifted", MIB).unwrap();
        assert_eq!(src.len(), MIB);
        assert_eq!(dst.len(), MIB);
        assert!(src[MIB / 2..].iter().all(|&b| b == 0xFF));
        assert_ne!(src[..4096], dst[..4096]);
    }
}
