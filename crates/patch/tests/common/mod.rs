//! Shared helpers: a naive matcher and firmware-like test images.
#![allow(dead_code)]

use fwdelta_patch::Control;

/// A tiny greedy matcher: for each destination position, looks for the longest match of at
/// least 8 bytes at a few candidate source positions (same offset, last match diagonal,
/// an 8-byte hash table); extends it with bsdiff-style approximate matching (adds absorb
/// small differences). Slow-ish but simple; good enough to produce realistic scripts.
pub fn naive_controls(src: &[u8], dst: &[u8]) -> Vec<Control> {
    use std::collections::HashMap;
    const K: usize = 8;
    let mut table: HashMap<&[u8], usize> = HashMap::new();
    if src.len() >= K {
        for i in (0..=src.len() - K).rev() {
            table.insert(&src[i..i + K], i);
        }
    }
    let mut controls = Vec::new();
    let mut s_cursor: i64 = 0;
    let mut d = 0usize;
    let mut lit_start = 0usize;
    let mut diag: i64 = 0;
    while d < dst.len() {
        let mut best: Option<(usize, usize)> = None; // (src pos, len)
        let mut candidates = Vec::new();
        let by_diag = d as i64 + diag;
        if by_diag >= 0 && (by_diag as usize) < src.len() {
            candidates.push(by_diag as usize);
        }
        if d + K <= dst.len() {
            if let Some(&p) = table.get(&dst[d..d + K]) {
                candidates.push(p);
            }
        }
        for p in candidates {
            // Approximate extension: keep going while at least half the bytes in a window match.
            let mut len = 0;
            let mut matched = 0usize;
            let mut best_len = 0;
            while p + len < src.len() && d + len < dst.len() {
                if src[p + len] == dst[d + len] {
                    matched += 1;
                }
                len += 1;
                if matched * 2 > len {
                    best_len = len;
                } else if len - best_len > 16 {
                    break;
                }
            }
            let exact_prefix = src[p..]
                .iter()
                .zip(&dst[d..])
                .take_while(|(a, b)| a == b)
                .count();
            let acceptable = exact_prefix >= K || (best_len >= 32 && p == by_diag as usize);
            if acceptable && best.is_none_or(|(_, l)| best_len > l) {
                best = Some((p, best_len));
            }
        }
        match best {
            Some((p, len)) if len > 0 => {
                // Close the pending literal run onto the previous control.
                let extra = (d - lit_start) as u64;
                let target = p as i64;
                if let Some(last) = controls.last_mut() {
                    let c: &mut Control = last;
                    c.extra_len += extra;
                    c.seek = target - (s_cursor + c.add_len as i64);
                    s_cursor = s_cursor + c.add_len as i64 + c.seek;
                } else {
                    controls.push(Control {
                        add_len: 0,
                        extra_len: extra,
                        seek: target,
                    });
                    s_cursor = target;
                }
                controls.push(Control {
                    add_len: len as u64,
                    extra_len: 0,
                    seek: 0,
                });
                diag = p as i64 - d as i64;
                d += len;
                lit_start = d;
            }
            _ => d += 1,
        }
    }
    let extra = (d - lit_start) as u64;
    if let Some(last) = controls.last_mut() {
        last.extra_len += extra;
    } else {
        controls.push(Control {
            add_len: 0,
            extra_len: extra,
            seek: 0,
        });
    }
    controls
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A firmware-like image: code-ish bytes, tables of little-endian pointers, 0xFF padding.
pub fn firmware(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        match rng.below(4) {
            0 => {
                let n = 16 + rng.below(200);
                for _ in 0..n {
                    v.push((rng.next() % 64) as u8);
                }
            }
            1 => {
                let base = 0x0800_0000u32 + (rng.below(1 << 16) as u32);
                for k in 0..(4 + rng.below(32)) as u32 {
                    v.extend_from_slice(&(base + 4 * k).to_le_bytes());
                }
            }
            2 => v.extend(std::iter::repeat_n(0xFF, 8 + rng.below(300))),
            _ => v.extend(std::iter::repeat_n(0x00, 4 + rng.below(64))),
        }
    }
    v.truncate(len);
    v
}

/// A new version of `old`: insertions that shift code, changed constants, relocated
/// pointers (+delta on every 4-byte word of a region), deleted ranges.
pub fn edit(rng: &mut Rng, old: &[u8]) -> Vec<u8> {
    let mut v = old.to_vec();
    for _ in 0..(1 + rng.below(6)) {
        if v.is_empty() {
            v.extend_from_slice(b"seed");
        }
        let at = rng.below(v.len());
        match rng.below(4) {
            0 => {
                let n = 1 + rng.below(64);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, ins);
            }
            1 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                for b in &mut v[at..end] {
                    *b = b.wrapping_add(1 + rng.below(200) as u8);
                }
            }
            2 => {
                let end = (at + 4 * (1 + rng.below(64))).min(v.len());
                let mut i = at;
                while i + 4 <= end {
                    let w =
                        u32::from_le_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]).wrapping_add(0x40);
                    v[i..i + 4].copy_from_slice(&w.to_le_bytes());
                    i += 4;
                }
            }
            _ => {
                let end = (at + 1 + rng.below(48)).min(v.len());
                v.drain(at..end);
            }
        }
    }
    v
}
