//! Round trips of every format, with hand-made and generated edit scripts.

mod common;

use common::{edit, firmware, naive_controls, Rng};
use fwdelta_patch::{
    apply, apply_slice, encode, md5_of, read_info, validate_controls, verify, ApplyOptions,
    Control, EncodeOptions, Expected, Format,
};

const FORMATS: [Format; 3] = [Format::Fwdelta, Format::Bsdiff40, Format::Raw];

fn opts_for(f: Format) -> ApplyOptions {
    let mut o = ApplyOptions::default();
    o.format = Some(f);
    o
}

fn fast() -> EncodeOptions {
    let mut o = EncodeOptions::default();
    o.zstd_level = 3;
    o.block_size = 4096;
    o
}

fn round_trip(src: &[u8], dst: &[u8], controls: &[Control], enc: &EncodeOptions) {
    validate_controls(src.len() as u64, dst.len() as u64, controls).expect("test script is valid");
    for f in FORMATS {
        let mut patch = Vec::new();
        let sum = encode(f, src, dst, controls, enc, &mut patch).expect("encode");
        assert_eq!(sum.patch_size, patch.len() as u64, "{f}");
        let mut out = Vec::new();
        let applied = apply_slice(src, &patch, &mut out, &opts_for(f)).expect("apply_slice");
        assert_eq!(out, dst, "{f}: apply_slice rebuilds dst");
        assert_eq!(applied.dst_md5, md5_of(dst));
        let mut out2 = Vec::new();
        apply(src, &patch[..], &mut out2, &opts_for(f)).expect("apply (reader)");
        assert_eq!(out2, dst, "{f}: apply rebuilds dst");
        let expected = Expected {
            md5: md5_of(dst),
            size: dst.len() as u64,
        };
        assert!(verify(src, &patch, expected, &opts_for(f))
            .expect("verify")
            .matches());
        let info = read_info(&patch, Some(f)).expect("info");
        assert_eq!(info.dst_size, Some(dst.len() as u64), "{f}");
        if f != Format::Raw {
            // Auto-detection.
            let mut out3 = Vec::new();
            apply(src, &patch[..], &mut out3, &ApplyOptions::default()).expect("detected");
            assert_eq!(out3, dst);
        }
    }
}

#[test]
fn hand_made_scripts() {
    let src: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut dst = src.clone();
    dst[100] ^= 0x55;
    dst.splice(500..500, b"inserted!".iter().copied());
    let dst_len = dst.len() as u64;
    // Whole destination as literals.
    round_trip(
        &src,
        &dst,
        &[Control {
            add_len: 0,
            extra_len: dst_len,
            seek: 0,
        }],
        &fast(),
    );
    // Add 500, insert 9, continue at source 500.
    let script = [
        Control {
            add_len: 500,
            extra_len: 9,
            seek: 0,
        },
        Control {
            add_len: 2500,
            extra_len: 0,
            seek: 0,
        },
    ];
    round_trip(&src, &dst, &script, &fast());
    // Leading seek, empty steps, negative seeks.
    let dst2: Vec<u8> = src[1000..1100].iter().chain(&src[0..50]).copied().collect();
    let script2 = [
        Control {
            add_len: 0,
            extra_len: 0,
            seek: 1000,
        },
        Control {
            add_len: 100,
            extra_len: 0,
            seek: -1100,
        },
        Control {
            add_len: 0,
            extra_len: 0,
            seek: 0,
        },
        Control {
            add_len: 50,
            extra_len: 0,
            seek: 7,
        },
    ];
    round_trip(&src, &dst2, &script2, &fast());
    // Empty destination and empty source.
    round_trip(&src, &[], &[], &fast());
    round_trip(
        &[],
        b"abc",
        &[Control {
            add_len: 0,
            extra_len: 3,
            seek: 0,
        }],
        &fast(),
    );
    round_trip(&[], &[], &[], &fast());
}

#[test]
fn generated_pairs() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..12 {
        let len = 1 + rng.below(40_000);
        let src = firmware(&mut rng, len);
        let dst = edit(&mut rng, &src);
        let controls = naive_controls(&src, &dst);
        let enc = if round % 2 == 0 {
            fast()
        } else {
            EncodeOptions::default()
        };
        round_trip(&src, &dst, &controls, &enc);
    }
}

#[test]
fn blocks_split_long_steps() {
    // One step much longer than a block, both in its add and extra parts.
    let mut rng = Rng(7);
    let src = firmware(&mut rng, 20_000);
    let mut dst = src.clone();
    dst.extend((0..10_000).map(|i| (i * 7) as u8));
    let script = [Control {
        add_len: 20_000,
        extra_len: 10_000,
        seek: -20_000,
    }];
    let mut patch = Vec::new();
    let sum = encode(Format::Fwdelta, &src, &dst, &script, &fast(), &mut patch).unwrap();
    assert_eq!(sum.blocks, 30_000u64.div_ceil(4096));
    round_trip(&src, &dst, &script, &fast());
}

#[test]
fn bsdiff_crate_applies_our_raw_export() {
    let mut rng = Rng(99);
    for _ in 0..6 {
        let len = 5000 + rng.below(20_000);
        let src = firmware(&mut rng, len);
        let dst = edit(&mut rng, &src);
        let controls = naive_controls(&src, &dst);
        let mut patch = Vec::new();
        encode(Format::Raw, &src, &dst, &controls, &fast(), &mut patch).unwrap();
        let mut out = Vec::new();
        bsdiff::patch(&src, &mut &patch[..], &mut out).expect("bsdiff crate applies");
        assert_eq!(out, dst);
    }
}

#[test]
fn we_apply_the_bsdiff_crates_stream() {
    let mut rng = Rng(1234);
    let src = firmware(&mut rng, 30_000);
    let dst = edit(&mut rng, &src);
    let mut patch = Vec::new();
    bsdiff::diff(&src, &dst, &mut patch).unwrap();
    let mut out = Vec::new();
    apply(&src, &patch[..], &mut out, &opts_for(Format::Raw)).unwrap();
    assert_eq!(out, dst);
}

#[test]
fn deterministic_output() {
    let mut rng = Rng(42);
    let src = firmware(&mut rng, 50_000);
    let dst = edit(&mut rng, &src);
    let controls = naive_controls(&src, &dst);
    for f in FORMATS {
        let mut a = Vec::new();
        let mut b = Vec::new();
        encode(f, &src, &dst, &controls, &EncodeOptions::default(), &mut a).unwrap();
        encode(f, &src, &dst, &controls, &EncodeOptions::default(), &mut b).unwrap();
        assert_eq!(a, b, "{f}");
    }
}

/// The v1 streams are compressed on up to four threads; the patch must not depend on how
/// many (several blocks, both body layouts, with and without context grouping).
#[test]
fn v1_patch_is_the_same_for_every_encoder_thread_count() {
    let mut rng = Rng(7);
    let src = firmware(&mut rng, 200_000);
    let dst = edit(&mut rng, &src);
    let controls = naive_controls(&src, &dst);
    for (zero_runs, grouping) in [(true, true), (true, false), (false, true), (false, false)] {
        let patch_with = |threads: usize| {
            let mut enc = EncodeOptions::default();
            enc.block_size = 16 * 1024;
            enc.zstd_level = 3;
            enc.zero_runs = zero_runs;
            enc.context_grouping = grouping;
            enc.threads = threads;
            let mut patch = Vec::new();
            let sum = encode(Format::Fwdelta, &src, &dst, &controls, &enc, &mut patch).unwrap();
            assert!(sum.blocks > 4, "several blocks");
            patch
        };
        let one = patch_with(1);
        for threads in [0, 2, 3, 4, 16] {
            assert!(
                patch_with(threads) == one,
                "zero runs {zero_runs}, grouping {grouping}: {threads} threads differ from 1"
            );
        }
        let mut out = Vec::new();
        apply_slice(&src, &one, &mut out, &ApplyOptions::default()).unwrap();
        assert_eq!(out, dst);
    }
}

/// Regression: zstd fails after 16 calls that neither read nor write; a long run of
/// blocks whose extra (or add) chunk is empty used to trigger it (found on the grpcio pair
/// with 256 KiB blocks).
#[test]
fn regression_many_blocks_with_empty_chunks() {
    let mut rng = Rng(5);
    let src = firmware(&mut rng, 40 * 4096 + 17);
    // Identical images: every block is adds only.
    round_trip(
        &src,
        &src,
        &[Control {
            add_len: src.len() as u64,
            extra_len: 0,
            seek: 0,
        }],
        &fast(),
    );
    // All literals: every block is extras only.
    round_trip(
        &[],
        &src,
        &[Control {
            add_len: 0,
            extra_len: src.len() as u64,
            seek: 0,
        }],
        &fast(),
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// The central property on firmware-like edits, across encoder settings.
        #[test]
        fn apply_of_encode_rebuilds_dst(
            seed in any::<u64>(),
            len in 0usize..20_000,
            window_log in proptest::sample::select(vec![10u32, 16, 23]),
            block_size in proptest::sample::select(vec![4096u32, 65536]),
            level in proptest::sample::select(vec![1i32, 3, 19]),
            grouping in any::<bool>(),
            zero_runs in any::<bool>(),
        ) {
            let mut rng = Rng(seed | 1);
            let src = firmware(&mut rng, len);
            let dst = edit(&mut rng, &src);
            let controls = naive_controls(&src, &dst);
            let mut enc = EncodeOptions::default();
            enc.window_log = window_log;
            enc.block_size = block_size;
            enc.zstd_level = level;
            enc.context_grouping = grouping;
            enc.zero_runs = zero_runs;
            let mut patch = Vec::new();
            encode(Format::Fwdelta, &src, &dst, &controls, &enc, &mut patch).unwrap();
            let mut lim = ApplyOptions::default();
            lim.max_window_log = window_log;
            lim.max_block_size = block_size;
            let mut out = Vec::new();
            apply(&src, &patch[..], &mut out, &lim).unwrap();
            prop_assert_eq!(out, dst);
        }
    }
}
