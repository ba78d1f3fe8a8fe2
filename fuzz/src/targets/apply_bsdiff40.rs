//! `apply_bsdiff40`: an arbitrary BSDIFF40 patch or raw bsdiff stream applied to an
//! arbitrary source.
//!
//! Input: `[mode u8] [drive u8 u16] [src_len u16] [src] [rest]`. `mode % 4`:
//! - 0: `rest` is a BSDIFF40 patch (format detected by magic);
//! - 1: `rest` is a raw stream (format named), checked against
//!   [`reference_raw`](crate::bsdiff::reference_raw);
//! - 2: a structured BSDIFF40 patch: control records, add bytes and extra bytes from the
//!   input, bzip2-compressed here, checked against
//!   [`reference_bsdiff40`](crate::bsdiff::reference_bsdiff40);
//! - 3: a structured raw stream, checked against the reference.
//!
//! Every mode runs [`check_apply`](super::common::check_apply). When a BSDIFF40 patch
//! applies, its edit script is imported ([`fwdelta_patch::import_bsdiff40`]) and must be a
//! valid script for (source, output) that, re-encoded as fwdelta v1 and as a raw stream,
//! rebuilds the same output: the conversion path of `fwdelta` for existing bsdiff patches.

use fwdelta_patch::{
    apply_slice, encode, import_bsdiff40, validate_controls, EncodeOptions, Format, PatchError,
};

use super::common::{check_apply, compare_with_reference, options, Drive, MAX_OUTPUT};
use crate::bsdiff::{
    build_bsdiff40, build_raw, reference_bsdiff40, reference_raw, RawStep, Record,
};
use crate::input::Input;

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let drive = Drive::read(&mut inp);
    let src_len = usize::from(inp.u16());
    let src = inp.bytes(src_len).to_vec();
    match mode % 4 {
        0 => {
            let patch = inp.rest();
            let out = check_apply(&src, patch, &options(None), drive);
            if out.result.is_ok() {
                cross_check(&src, patch);
            }
        }
        1 => {
            let patch = inp.rest();
            let out = check_apply(&src, patch, &options(Some(Format::Raw)), drive);
            compare_with_reference(&out, &reference_raw(&src, patch, MAX_OUTPUT));
        }
        2 => {
            let (new_size, ctrl, diff, extra) = structured_bsdiff40(&mut inp);
            let patch = build_bsdiff40(new_size, &ctrl, &diff, &extra);
            let reference = reference_bsdiff40(&src, new_size, &ctrl, &diff, &extra, MAX_OUTPUT);
            let out = check_apply(&src, &patch, &options(None), drive);
            compare_with_reference(&out, &reference);
            if out.result.is_ok() {
                cross_check(&src, &patch);
            }
        }
        _ => {
            let patch = build_raw(&structured_raw(&mut inp));
            let out = check_apply(&src, &patch, &options(Some(Format::Raw)), drive);
            compare_with_reference(&out, &reference_raw(&src, &patch, MAX_OUTPUT));
        }
    }
}

fn length(inp: &mut Input, tag: u8) -> i64 {
    match tag & 3 {
        0 => i64::from(inp.u8()),
        1 => i64::from(inp.u16() % 8192),
        2 => i64::from(inp.u8() % 4),
        _ => inp.u64() as i64,
    }
}

fn seek(inp: &mut Input, tag: u8) -> i64 {
    match (tag >> 2) & 3 {
        0 => i64::from(inp.u8() as i8),
        1 => -i64::from(inp.u16()),
        2 => 0,
        _ => inp.u64() as i64,
    }
}

/// `[nrec u8] [flags u8]`, then per record `[tag u8]` and its lengths and seek, then the add
/// bytes and extra bytes the records use, then a size adjustment if `flags` asks.
pub fn structured_bsdiff40(inp: &mut Input) -> (i64, Vec<u8>, Vec<u8>, Vec<u8>) {
    let n = usize::from(inp.u8() % 16);
    let flags = inp.u8();
    let mut ctrl = Vec::new();
    let (mut adds, mut extras, mut size) = (0u64, 0u64, 0i64);
    for _ in 0..n {
        let tag = inp.u8();
        let mut r = Record {
            add: length(inp, tag),
            extra: length(inp, tag >> 4),
            seek: seek(inp, tag),
        };
        if tag & 0x40 != 0 {
            r.add = -r.add;
        }
        ctrl.extend_from_slice(&r.to_bytes());
        adds = adds.saturating_add(r.add.max(0) as u64);
        extras = extras.saturating_add(r.extra.max(0) as u64);
        size = size.saturating_add(r.add).saturating_add(r.extra);
    }
    let cap = |n: u64| n.min(MAX_OUTPUT + 1) as usize;
    let mut diff = inp.bytes_padded(cap(adds));
    let mut extra = inp.bytes_padded(cap(extras));
    if flags & 1 != 0 {
        size = size.wrapping_add(i64::from(inp.u8() as i8));
    }
    if flags & 2 != 0 {
        diff.push(inp.u8());
    }
    if flags & 4 != 0 {
        extra.pop();
    }
    if flags & 8 != 0 {
        // Spare records after the last one (some writers add an empty one).
        let spare = usize::from(inp.u8() % 6);
        for _ in 0..spare {
            ctrl.extend_from_slice(
                &Record {
                    add: 0,
                    extra: 0,
                    seek: 0,
                }
                .to_bytes(),
            );
        }
    }
    (size, ctrl, diff, extra)
}

/// `[nsteps u8]`, then per step `[tag u8]`, its lengths and seek, and the bytes it uses
/// (fewer if the input ends, which truncates the stream).
pub fn structured_raw(inp: &mut Input) -> Vec<RawStep> {
    let n = usize::from(inp.u8() % 16);
    let mut steps = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = inp.u8();
        let add = length(inp, tag) as u64;
        let extra = length(inp, tag >> 4) as u64;
        let seek = seek(inp, tag);
        let want = add.saturating_add(extra).min(MAX_OUTPUT + 1) as usize;
        let data = inp.bytes(want).to_vec();
        steps.push(RawStep {
            add,
            extra,
            seek,
            data,
        });
    }
    steps
}

/// The conversion path: import the script of an applying BSDIFF40 patch and re-encode it.
fn cross_check(src: &[u8], patch: &[u8]) {
    let opts = options(None);
    let mut dst = Vec::new();
    apply_slice(src, patch, &mut dst, &opts).expect("applied a moment ago");
    let controls = import_bsdiff40(patch, &opts).expect("import of a patch that applies");
    if let Err(e) = validate_controls(src.len() as u64, dst.len() as u64, &controls) {
        panic!("imported script is invalid for the output it produced: {e}");
    }
    let mut eo = EncodeOptions::default();
    eo.zstd_level = 1;
    eo.window_log = 16;
    eo.block_size = 4096;
    for format in [Format::Fwdelta, Format::Raw] {
        let mut p = Vec::new();
        match encode(format, src, &dst, &controls, &eo, &mut p) {
            Ok(_) => {}
            // The raw stream cannot express a source cursor below zero.
            Err(PatchError::InvalidControls { .. }) if format == Format::Raw => continue,
            Err(e) => panic!("re-encoding an imported script as {format}: {e}"),
        }
        let mut again = Vec::new();
        let mut o = options(Some(format));
        o.max_window_log = 16;
        if let Err(e) = apply_slice(src, &p, &mut again, &o) {
            panic!("the {format} re-encoding of an imported script does not apply: {e}");
        }
        assert!(
            again == dst,
            "the {format} re-encoding rebuilds another image"
        );
    }
}
