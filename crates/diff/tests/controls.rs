//! Properties of the edit scripts: validity on random and firmware-like pairs, and determinism
//! across thread counts.

use std::num::NonZeroUsize;

use fwdelta_diff::{diff, Control, DiffError, DiffOptions, SourceIndex};
use fwdelta_patch::{apply_slice, encode, ApplyOptions, EncodeOptions, Format};
use proptest::prelude::*;

/// Checks that `controls` is a valid script for `(src, dst)` and rebuilds `dst` from it, the
/// way an applier does (add bytes are `dst - src`, so the rebuild checks coverage, not content).
fn check(src: &[u8], dst: &[u8], controls: &[Control]) {
    let (mut s, mut d) = (0i64, 0u64);
    let mut out = Vec::with_capacity(dst.len());
    for (i, c) in controls.iter().enumerate() {
        let end = s + c.add_len as i64;
        assert!(
            s >= 0 && end <= src.len() as i64,
            "control {i} {c:?} reads source {s}..{end} of {}",
            src.len()
        );
        let dend = d + c.add_len + c.extra_len;
        assert!(
            dend <= dst.len() as u64,
            "control {i} {c:?} writes past {}",
            dst.len()
        );
        for k in 0..c.add_len as usize {
            let delta = dst[d as usize + k].wrapping_sub(src[s as usize + k]);
            out.push(src[s as usize + k].wrapping_add(delta));
        }
        out.extend_from_slice(&dst[(d + c.add_len) as usize..dend as usize]);
        s = end + c.seek;
        d = dend;
    }
    assert_eq!(
        d,
        dst.len() as u64,
        "controls cover {d} of {} bytes",
        dst.len()
    );
    assert_eq!(out, dst);
}

/// Bytes that look like code: a small pseudo-random generator, seeded.
fn code_like(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Skewed towards a few opcodes, like compiled code.
            let b = (x >> 32) as u8;
            if b < 96 {
                b & 0x0F
            } else {
                b
            }
        })
        .collect()
}

/// An edit applied to a source image to make a destination image.
#[derive(Debug, Clone)]
enum Edit {
    /// Insert `len` new bytes at `at` (per mille of the length), shifting what follows.
    Insert { at: u16, len: u16, seed: u64 },
    /// Delete `len` bytes at `at`.
    Delete { at: u16, len: u16 },
    /// Change a 4-byte constant at `at`.
    Constant { at: u16, value: u32 },
    /// Add `delta` to every 4-byte little-endian word at multiples of `stride` (relocated
    /// pointers).
    Relocate { stride: u8, delta: u32 },
    /// Overwrite `len` bytes at `at` with `byte` (0x00 or 0xFF padding).
    Fill { at: u16, len: u16, byte: u8 },
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u16..1000, 1u16..300, any::<u64>()).prop_map(|(at, len, seed)| Edit::Insert {
            at,
            len,
            seed
        }),
        (0u16..1000, 1u16..300).prop_map(|(at, len)| Edit::Delete { at, len }),
        (0u16..1000, any::<u32>()).prop_map(|(at, value)| Edit::Constant { at, value }),
        (16u8..128, 1u32..4096).prop_map(|(stride, delta)| Edit::Relocate { stride, delta }),
        (0u16..1000, 1u16..2000, prop_oneof![Just(0u8), Just(0xFFu8)])
            .prop_map(|(at, len, byte)| Edit::Fill { at, len, byte }),
    ]
}

fn apply_edit(img: &mut Vec<u8>, e: &Edit) {
    let at = |p: u16, img: &Vec<u8>| img.len() * p as usize / 1000;
    match *e {
        Edit::Insert { at: p, len, seed } => {
            let i = at(p, img);
            img.splice(i..i, code_like(seed, len as usize));
        }
        Edit::Delete { at: p, len } => {
            let i = at(p, img);
            let j = img.len().min(i + len as usize);
            img.drain(i..j);
        }
        Edit::Constant { at: p, value } => {
            let i = at(p, img);
            if i + 4 <= img.len() {
                img[i..i + 4].copy_from_slice(&value.to_le_bytes());
            }
        }
        Edit::Relocate { stride, delta } => {
            let mut i = 0;
            while i + 4 <= img.len() {
                let w = u32::from_le_bytes(img[i..i + 4].try_into().unwrap());
                img[i..i + 4].copy_from_slice(&w.wrapping_add(delta).to_le_bytes());
                i += stride as usize * 4;
            }
        }
        Edit::Fill { at: p, len, byte } => {
            let i = at(p, img);
            let j = img.len().min(i + len as usize);
            img[i..j].fill(byte);
        }
    }
}

/// A firmware-like image: code, a pointer table, and erased flash.
fn firmware(seed: u64, code: usize, pad: usize, pad_byte: u8) -> Vec<u8> {
    let mut img = code_like(seed, code);
    for i in 0..64u32 {
        img.extend_from_slice(&(0x0800_0000 + i * 0x40).to_le_bytes());
    }
    img.resize(img.len() + pad, pad_byte);
    img
}

/// Encodes `controls` in `format` and applies the patch: the full round trip.
fn round_trip(src: &[u8], dst: &[u8], controls: &[Control], format: Format) -> Vec<u8> {
    let mut patch = Vec::new();
    encode(
        format,
        src,
        dst,
        controls,
        &EncodeOptions::default(),
        &mut patch,
    )
    .unwrap();
    let mut out = Vec::new();
    let mut opts = ApplyOptions::default();
    opts.format = Some(format);
    apply_slice(src, &patch, &mut out, &opts).unwrap();
    assert!(out == dst, "{format:?} round trip differs");
    patch
}

fn small_blocks() -> DiffOptions {
    DiffOptions::default().block_size(4096)
}

fn threads(n: usize) -> Option<NonZeroUsize> {
    NonZeroUsize::new(n)
}

#[test]
fn trivial_inputs() {
    let opts = DiffOptions::default();
    let cases: [(&[u8], &[u8]); 7] = [
        (b"", b""),
        (b"", b"x"),
        (b"x", b""),
        (b"x", b"x"),
        (b"x", b"y"),
        (b"abcdefgh", b"abcdefgh"),
        (b"abcdefgh", b"zyxwvuts"),
    ];
    for (src, dst) in cases {
        let c = diff(src, dst, &opts).unwrap();
        check(src, dst, &c);
        for format in [Format::Fwdelta, Format::Bsdiff40, Format::Raw] {
            round_trip(src, dst, &c, format);
        }
    }
    assert!(diff(b"", b"", &opts).unwrap().is_empty());
}

#[test]
fn identical_images_take_one_control() {
    let img = firmware(1, 20_000, 10_000, 0xFF);
    let c = diff(&img, &img, &DiffOptions::default()).unwrap();
    check(&img, &img, &c);
    assert_eq!(
        c,
        [Control {
            add_len: img.len() as u64,
            extra_len: 0,
            seek: 0
        }]
    );
    // Across block seams too: aligned blocks continue each other and are merged.
    let c = diff(&img, &img, &small_blocks()).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
}

#[test]
fn unrelated_images_are_literal() {
    let src = code_like(1, 5000);
    let dst = code_like(2, 7000);
    let c = diff(&src, &dst, &DiffOptions::default()).unwrap();
    check(&src, &dst, &c);
    let extra: u64 = c.iter().map(|c| c.extra_len).sum();
    assert!(extra > 6000, "{c:?}");
}

#[test]
fn an_insertion_costs_its_bytes_and_a_few_controls() {
    let src = firmware(3, 30_000, 4000, 0xFF);
    let mut dst = src.clone();
    dst.splice(12_345..12_345, code_like(9, 500));
    let c = diff(&src, &dst, &DiffOptions::default()).unwrap();
    check(&src, &dst, &c);
    for format in [Format::Fwdelta, Format::Bsdiff40, Format::Raw] {
        round_trip(&src, &dst, &c, format);
    }
    let extra: u64 = c.iter().map(|c| c.extra_len).sum();
    assert!((500..600).contains(&extra), "extra {extra}: {c:?}");
    assert!(c.len() <= 3, "{c:?}");
}

#[test]
fn long_runs_stay_fast_and_small() {
    // 2 MiB of zeros, one changed byte, on each side: bsdiff 4.3 creeps through such runs.
    let n = 2 << 20;
    let mut a = vec![0u8; n];
    let b = vec![0u8; n];
    a[n / 3] = 7;
    let t = std::time::Instant::now();
    for (src, dst) in [(&a, &b), (&b, &a)] {
        let c = diff(src, dst, &DiffOptions::default()).unwrap();
        check(src, dst, &c);
        assert!(c.len() <= 4, "{c:?}");
    }
    // Generous: about 0.1 s in a release build; this only catches quadratic behaviour.
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
}

#[test]
fn options_are_checked() {
    let bad = DiffOptions::default().block_size(100);
    assert!(matches!(
        diff(b"a", b"b", &bad),
        Err(DiffError::InvalidOption {
            option: "block_size",
            value: 100,
            ..
        })
    ));
    let bad = DiffOptions::default().switch_margin(0);
    assert!(matches!(
        SourceIndex::new(b"a", &bad),
        Err(DiffError::InvalidOption {
            option: "switch_margin",
            ..
        })
    ));
}

#[test]
fn index_is_reusable() {
    let src = firmware(5, 10_000, 3000, 0xFF);
    let opts = DiffOptions::default();
    let idx = SourceIndex::new(&src, &opts).unwrap();
    for seed in 0..3 {
        let mut dst = src.clone();
        apply_edit(
            &mut dst,
            &Edit::Insert {
                at: 100 * seed,
                len: 40,
                seed: u64::from(seed),
            },
        );
        let c = idx.diff(&dst, &opts).unwrap();
        check(&src, &dst, &c);
        assert_eq!(c, diff(&src, &dst, &opts).unwrap());
    }
}

#[test]
fn thread_count_does_not_change_the_script() {
    // Several blocks of 4 KiB, with shifts that straddle the seams.
    let src = firmware(11, 120_000, 30_000, 0xFF);
    let mut dst = src.clone();
    for e in [
        Edit::Insert {
            at: 100,
            len: 777,
            seed: 4,
        },
        Edit::Relocate {
            stride: 9,
            delta: 0x40,
        },
        Edit::Delete { at: 600, len: 123 },
        Edit::Fill {
            at: 900,
            len: 1500,
            byte: 0,
        },
    ] {
        apply_edit(&mut dst, &e);
    }
    let reference = diff(&src, &dst, &small_blocks().threads(threads(1))).unwrap();
    check(&src, &dst, &reference);
    let patch = round_trip(&src, &dst, &reference, Format::Fwdelta);
    for t in [2, 3, 8] {
        let c = diff(&src, &dst, &small_blocks().threads(threads(t))).unwrap();
        assert_eq!(c, reference, "{t} threads");
        assert_eq!(round_trip(&src, &dst, &c, Format::Fwdelta), patch);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn firmware_edits_give_valid_scripts(
        seed in any::<u64>(),
        code in 0usize..40_000,
        pad in 0usize..20_000,
        pad_byte in prop_oneof![Just(0u8), Just(0xFFu8)],
        edits in proptest::collection::vec(edit_strategy(), 0..6),
    ) {
        let src = firmware(seed, code, pad, pad_byte);
        let mut dst = src.clone();
        for e in &edits {
            apply_edit(&mut dst, e);
        }
        for opts in [DiffOptions::default(), small_blocks()] {
            let c = diff(&src, &dst, &opts).unwrap();
            check(&src, &dst, &c);
            round_trip(&src, &dst, &c, Format::Fwdelta);
        }
    }

    #[test]
    fn random_pairs_give_valid_scripts(
        src in proptest::collection::vec(0u8..4, 0..3000),
        dst in proptest::collection::vec(0u8..4, 0..3000),
    ) {
        let c = diff(&src, &dst, &small_blocks()).unwrap();
        check(&src, &dst, &c);
        round_trip(&src, &dst, &c, Format::Fwdelta);
    }
}
