//! Firmware-like sample images for `fwdelta demo`, the tests and the benchmarks.
//!
//! The model is a small MCU image: a vector table, code made of functions whose instructions
//! include PC-relative branches and absolute pointers into the image, a read-only data section
//! of strings and tables, a pointer table, and erased flash (0xFF) up to the image size. The new
//! version inserts functions (which shifts everything after them and so changes every branch and
//! pointer that crosses the insertion), edits a few constants, bumps the version string and grows
//! into the padding: the kinds of change that make compiled-code deltas hard.

/// A small deterministic generator (SplitMix64), so samples are identical everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const BASE: u32 = 0x0800_0000;

#[derive(Debug, Clone, Copy)]
enum Insn {
    /// An instruction word with no address in it.
    Plain(u32),
    /// A branch to the start of function `n` (PC-relative offset in the low 24 bits).
    Call(u32, usize),
    /// A literal-pool word holding the absolute address of function `n`.
    Addr(usize),
}

#[derive(Debug, Clone)]
struct Model {
    funcs: Vec<Vec<Insn>>,
    strings: Vec<u8>,
    table: Vec<u32>,
    version: String,
}

fn random_function(rng: &mut Rng, nfuncs: usize) -> Vec<Insn> {
    // Opcodes come from a small vocabulary, as in real code: a few common words dominate.
    const OPCODES: [u32; 12] = [
        0xE92D_4000,
        0xE8BD_8000,
        0xE350_0000,
        0xE59F_0000,
        0xE3A0_0000,
        0xE080_0001,
        0xE1A0_F00E,
        0xE591_0000,
        0xE581_0000,
        0xE240_0001,
        0x1A00_0000,
        0xE12F_FF1E,
    ];
    let len = 8 + rng.below(120) as usize;
    (0..len)
        .map(|_| match rng.below(16) {
            0 | 1 => Insn::Call(0xEB00_0000, rng.below(nfuncs as u64) as usize),
            2 => Insn::Addr(rng.below(nfuncs as u64) as usize),
            _ => {
                let op = OPCODES[rng.below(OPCODES.len() as u64) as usize];
                Insn::Plain(op | (rng.below(16) as u32) << 12 | rng.below(256) as u32)
            }
        })
        .collect()
}

impl Model {
    fn new(rng: &mut Rng, code_bytes: usize) -> Self {
        let nfuncs = (code_bytes / 256).max(4);
        let funcs = (0..nfuncs).map(|_| random_function(rng, nfuncs)).collect();
        const WORDS: [&str; 16] = [
            "error", "sensor", "timeout", "flash", "write", "read", "config", "uart", "spi", "i2c",
            "boot", "update", "checksum", "failed", "ok", "retry",
        ];
        let mut strings = Vec::new();
        while strings.len() < code_bytes / 6 {
            for _ in 0..1 + rng.below(5) {
                strings.extend_from_slice(WORDS[rng.below(16) as usize].as_bytes());
                strings.push(b' ');
            }
            strings.push(0);
        }
        let table = (0..code_bytes / 64)
            .map(|i| (i as u32).wrapping_mul(2654435761) >> 8)
            .collect();
        Self {
            funcs,
            strings,
            table,
            version: "fw-1.0.0".into(),
        }
    }

    fn serialize(&self, size: usize) -> Vec<u8> {
        let mut addr = Vec::with_capacity(self.funcs.len());
        let mut at = 256u32;
        for f in &self.funcs {
            addr.push(BASE + at);
            at += 4 * f.len() as u32;
        }
        let mut out = Vec::with_capacity(size);
        // Vector table: stack pointer, then handlers.
        out.extend_from_slice(&0x2000_8000u32.to_le_bytes());
        for i in 0..47 {
            out.extend_from_slice(&(addr[i % addr.len()] | 1).to_le_bytes());
        }
        let mut version = self.version.clone().into_bytes();
        version.resize(64, 0);
        out.extend_from_slice(&version);
        out.resize(256, 0);
        for f in &self.funcs {
            for insn in f {
                let pc = BASE + out.len() as u32;
                let word = match *insn {
                    Insn::Plain(w) => w,
                    Insn::Call(op, n) => op | ((addr[n].wrapping_sub(pc + 8) >> 2) & 0x00FF_FFFF),
                    Insn::Addr(n) => addr[n],
                };
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out.extend_from_slice(&self.strings);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        for t in &self.table {
            out.extend_from_slice(&t.to_le_bytes());
        }
        for a in addr.iter().step_by(3) {
            out.extend_from_slice(&a.to_le_bytes());
        }
        assert!(
            out.len() <= size,
            "sample model does not fit in {size} bytes"
        );
        out.resize(size, 0xFF);
        out
    }
}

/// A firmware-like pair `(v1, v2)` of `size` bytes each, from `seed`.
///
/// About 60 % of each image is code and data, the rest erased flash. `size` must be at least
/// 4 KiB.
pub fn firmware_pair(seed: u64, size: usize) -> (Vec<u8>, Vec<u8>) {
    assert!(size >= 4096, "sample images are at least 4 KiB");
    let mut rng = Rng::new(seed);
    let code_bytes = size * 2 / 5;
    let v1 = Model::new(&mut rng, code_bytes);
    let mut v2 = v1.clone();
    v2.version = "fw-1.1.0".into();
    // New functions at a few places: everything after them moves.
    let inserts = 1 + code_bytes / (512 * 1024);
    let nfuncs = v2.funcs.len();
    for _ in 0..inserts {
        let at = rng.below(v2.funcs.len() as u64) as usize;
        let f = random_function(&mut rng, nfuncs);
        v2.funcs.insert(at, f);
    }
    // Edited code: a few functions changed in place.
    for _ in 0..1 + nfuncs / 200 {
        let n = rng.below(v2.funcs.len() as u64) as usize;
        let f = &mut v2.funcs[n];
        let i = rng.below(f.len() as u64) as usize;
        f[i] = Insn::Plain(0xE3A0_0000 | rng.below(4096) as u32);
    }
    // Changed constants.
    for _ in 0..1 + v2.table.len() / 500 {
        let i = rng.below(v2.table.len() as u64) as usize;
        v2.table[i] ^= 0x5A5A;
    }
    (v1.serialize(size), v2.serialize(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_deterministic_and_look_like_firmware() {
        let (a, b) = firmware_pair(7, 64 * 1024);
        assert_eq!((a.clone(), b.clone()), firmware_pair(7, 64 * 1024));
        assert_eq!(a.len(), 64 * 1024);
        assert_ne!(a, b);
        assert_eq!(a[a.len() - 1], 0xFF, "ends in erased flash");
        let ff = a.iter().filter(|&&x| x == 0xFF).count();
        assert!(ff > a.len() / 5, "has erased flash padding");
        // The new version differs in many places (shifted code), not in one.
        let diffs = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(diffs > 1000, "only {diffs} bytes differ");
        assert_ne!(firmware_pair(8, 64 * 1024).0, a);
    }
}
