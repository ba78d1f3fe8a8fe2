//! `roundtrip`: diff → encode → apply on two arbitrary inputs must rebuild the destination
//! exactly, in every format; and any edit script that `validate_controls` accepts must
//! encode and apply back to the destination.
//!
//! Input: `[opts u8] [level u8] [split u16] [rest]`: the source is the first
//! `split % (len + 1)` bytes of `rest`, the destination the others. `opts`:
//! - bits 0-1: format (v1, BSDIFF40, raw; 3 = all three);
//! - bit 2: edit script from the input instead of the matcher (then `rest` is
//!   `[src_len u16] [dst_len u16] [src] [dst] [controls]`, see [`script`]);
//! - bits 3-4: v1 block size 4096 << n; bit 5: context grouping; bit 6: long-distance
//!   matching; bit 7: diff block size 4096 (seams every 4 KiB) instead of 1 MiB.
//!
//! `level`: zstd level `level % 3 + 1`, window log `10 + (level >> 4) % 13`; bit 2: the
//! three-stream v1 body (no zero runs); bit 3: v1 streams compressed on 2 threads.
//!
//! Checks: `apply_slice` rebuilds the destination; `verify` matches with the destination's
//! MD5 and size and reports a size mismatch against a wrong expectation; `read_info`
//! reports the sizes; a v1 patch refuses a wrong source before writing anything.

use std::num::NonZeroUsize;

use fwdelta_diff::{diff, DiffOptions};
use fwdelta_patch::{
    apply_slice, encode, read_info, validate_controls, verify, ApplyOptions, Control,
    EncodeOptions, Expected, Format, PatchError,
};

use super::apply_fwdelta::control;
use crate::input::Input;
use crate::io::CheckedWriter;

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let opts = inp.u8();
    let level = inp.u8();
    let split = usize::from(inp.u16());
    let (src, dst, controls) = if opts & 4 != 0 {
        let (src, dst, controls) = script(&mut inp);
        if let Err(e) = validate_controls(src.len() as u64, dst.len() as u64, &controls) {
            // What validation rejects, every encoder rejects.
            for f in [Format::Fwdelta, Format::Bsdiff40, Format::Raw] {
                let r = encode(
                    f,
                    &src,
                    &dst,
                    &controls,
                    &EncodeOptions::default(),
                    Vec::new(),
                );
                assert!(r.is_err(), "{f} encoded a script validation rejects ({e})");
            }
            return;
        }
        (src, dst, controls)
    } else {
        let rest = inp.rest();
        let cut = split % (rest.len() + 1);
        let (src, dst) = rest.split_at(cut);
        let mut d = DiffOptions::default()
            .threads(NonZeroUsize::new(1))
            .switch_margin(usize::from(level % 16) + 1);
        if opts & 0x80 != 0 {
            d = d.block_size(4096);
        }
        let controls = diff(src, dst, &d).expect("diff with valid options");
        if let Err(e) = validate_controls(src.len() as u64, dst.len() as u64, &controls) {
            panic!("the matcher produced an invalid script: {e}");
        }
        (src.to_vec(), dst.to_vec(), controls)
    };
    let mut eo = EncodeOptions::default();
    eo.zstd_level = i32::from(level % 3) + 1;
    eo.window_log = 10 + u32::from(level >> 4) % 13;
    eo.block_size = 4096 << ((opts >> 3) & 3);
    eo.context_grouping = opts & 0x20 != 0;
    eo.long_distance = opts & 0x40 != 0;
    eo.bzip2_level = 1;
    // `level` bit 2: the three-stream v1 body instead of zero runs; bit 3: streams
    // compressed on 2 threads (the patch must equal the one-thread patch).
    eo.zero_runs = level & 4 == 0;
    eo.threads = if level & 8 != 0 { 2 } else { 1 };
    check_formats(opts, &src, &dst, &controls, &eo);
}

/// Runs [`check_cycle`] in the formats that `opts` bits 0-1 choose: v1, BSDIFF40, raw, or
/// all three.
pub fn check_formats(opts: u8, src: &[u8], dst: &[u8], controls: &[Control], eo: &EncodeOptions) {
    let formats: &[Format] = match opts & 3 {
        0 => &[Format::Fwdelta],
        1 => &[Format::Bsdiff40],
        2 => &[Format::Raw],
        _ => &[Format::Fwdelta, Format::Bsdiff40, Format::Raw],
    };
    for &f in formats {
        check_cycle(f, src, dst, controls, eo);
    }
}

/// Encodes, applies, verifies and inspects one patch.
pub fn check_cycle(f: Format, src: &[u8], dst: &[u8], controls: &[Control], eo: &EncodeOptions) {
    let mut patch = Vec::new();
    let summary = match encode(f, src, dst, controls, eo, &mut patch) {
        Ok(s) => s,
        // The raw stream cannot express a source cursor below zero (nor a seek of
        // i64::MIN): a documented refusal, for scripts the matcher never writes.
        Err(PatchError::InvalidControls { .. }) if f == Format::Raw => return,
        Err(e) => panic!("encoding a valid script as {f}: {e}"),
    };
    assert_eq!(summary.patch_size, patch.len() as u64);
    assert_eq!(summary.add_bytes + summary.extra_bytes, dst.len() as u64);
    if f == Format::Fwdelta && eo.threads != 1 {
        let mut one = eo.clone();
        one.threads = 1;
        let mut again = Vec::new();
        encode(f, src, dst, controls, &one, &mut again).expect("encode on one thread");
        assert!(
            again == patch,
            "the v1 patch depends on the encoder's thread count"
        );
    }

    let mut ao = ApplyOptions::default();
    ao.format = Some(f);
    let mut out = CheckedWriter::new(dst.len() as u64).keeping();
    match apply_slice(src, &patch, &mut out, &ao) {
        Ok(s) => assert_eq!(s.dst_size, dst.len() as u64),
        Err(e) => panic!("{f} patch does not apply: {e}"),
    }
    assert!(out.kept() == Some(dst), "{f} patch rebuilds another image");

    let expected = Expected {
        md5: crate::md5(dst),
        size: dst.len() as u64,
    };
    let v = verify(src, &patch, expected, &ao).expect("verify a patch that applies");
    assert!(v.matches(), "{f}: verify reports {:?}", v.mismatch);
    let wrong = Expected {
        size: expected.size + 1,
        ..expected
    };
    let v = verify(src, &patch, wrong, &ao).expect("verify a patch that applies");
    assert!(!v.matches(), "{f}: verify accepts a wrong size");

    let info = read_info(&patch, Some(f)).expect("read_info of a fresh patch");
    assert_eq!(info.dst_size, Some(dst.len() as u64));
    if f == Format::Fwdelta {
        assert_eq!(info.src_size, Some(src.len() as u64));
        // A wrong source is refused before a byte is written.
        if !src.is_empty() {
            let mut bad = src.to_vec();
            bad[src.len() / 2] ^= 0x55;
            let mut w = CheckedWriter::new(0);
            match apply_slice(&bad, &patch, &mut w, &ao) {
                Err(PatchError::SourceMismatch { .. }) => {}
                other => panic!("v1 patch on a wrong source: {other:?}"),
            }
        }
    }
}

/// An edit script from the input: `[src_len u16] [dst_len u16] [src] [dst]`, then controls
/// (see [`control`]) until the destination is covered or the input ends; the lengths are
/// clipped so that the steps tend to cover the destination.
pub fn script(inp: &mut Input) -> (Vec<u8>, Vec<u8>, Vec<Control>) {
    let src_len = usize::from(inp.u16() % 8192);
    let dst_len = usize::from(inp.u16() % 8192);
    let src = inp.bytes(src_len).to_vec();
    let dst = inp.bytes_padded(dst_len);
    let mut controls = Vec::new();
    let mut left = dst.len() as u64;
    while !inp.is_empty() && controls.len() < 64 {
        let mut c = control(inp);
        if c.add_len <= 8192 {
            c.add_len = c.add_len.min(left);
            c.extra_len = c.extra_len.min(left - c.add_len);
        }
        left = left.saturating_sub(c.add_len.saturating_add(c.extra_len));
        controls.push(c);
    }
    (src, dst, controls)
}
