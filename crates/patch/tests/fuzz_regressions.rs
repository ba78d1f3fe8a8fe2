//! Regressions found by the fuzz campaigns (`fuzz/`, see `fuzz/README.md`). Each test is
//! named after what broke; the fuzz input that found it is kept under
//! `tests/data/fuzz-regressions/<target>/` and replayed by `scripts/fuzz-smoke.sh`.

use fwdelta_patch::{
    apply_slice, encode, validate_controls, ApplyOptions, Control, EncodeOptions, Format,
    PatchError,
};

/// Encodes `controls` in every format; each must either refuse the script or produce a
/// patch that rebuilds `dst`.
fn every_format_refuses_or_round_trips(src: &[u8], dst: &[u8], controls: &[Control]) {
    for format in [Format::Fwdelta, Format::Bsdiff40, Format::Raw] {
        let mut patch = Vec::new();
        if encode(
            format,
            src,
            dst,
            controls,
            &EncodeOptions::default(),
            &mut patch,
        )
        .is_err()
        {
            continue;
        }
        let mut opts = ApplyOptions::default();
        opts.format = Some(format);
        let mut out = Vec::new();
        if let Err(e) = apply_slice(src, &patch, &mut out, &opts) {
            panic!("{format}: encoded a script its applier rejects: {e}");
        }
        assert_eq!(out, dst, "{format}");
    }
}

/// fuzz target `roundtrip`, input `raw-cursor-past-source-end`: the raw encoder accepted a
/// script whose source cursor lies past the end of the source when a step starts (here
/// after a seek, before a step with no add part). `bsdiff::patch` and our raw applier both
/// slice the source at the cursor for every step, so the stream it wrote could not be
/// applied. The encoder now refuses such scripts.
#[test]
fn raw_encoder_refuses_a_step_starting_past_the_source_end() {
    let src = [7u8; 40];
    let dst = b"0123456789".to_vec();
    let controls = [
        Control {
            add_len: 0,
            extra_len: 5,
            seek: 1000,
        },
        Control {
            add_len: 0,
            extra_len: 5,
            seek: 0,
        },
    ];
    validate_controls(40, 10, &controls).expect("a valid script");
    let mut patch = Vec::new();
    let err = encode(
        Format::Raw,
        &src,
        &dst,
        &controls,
        &EncodeOptions::default(),
        &mut patch,
    )
    .unwrap_err();
    assert!(
        matches!(err, PatchError::InvalidControls { index: 1, .. }),
        "{err}"
    );
    // The stream the encoder used to write is refused by `bsdiff::patch` too.
    let mut old_stream = Vec::new();
    for c in &controls {
        old_stream.extend_from_slice(&c.add_len.to_le_bytes());
        old_stream.extend_from_slice(&c.extra_len.to_le_bytes());
        old_stream.extend_from_slice(&(c.seek as u64).to_le_bytes());
        old_stream.extend_from_slice(&dst[..5]);
    }
    let mut rebuilt = Vec::new();
    assert!(bsdiff::patch(&src, &mut &old_stream[..], &mut rebuilt).is_err());
    // Every format either refuses the script or rebuilds the destination.
    every_format_refuses_or_round_trips(&src, &dst, &controls);
    // A cursor past the end after the last step reads nothing: the raw stream is fine.
    let at_end = [controls[1], controls[0]];
    let mut patch = Vec::new();
    encode(
        Format::Raw,
        &src,
        &dst,
        &at_end,
        &EncodeOptions::default(),
        &mut patch,
    )
    .expect("cursor past the end only after the last step");
    every_format_refuses_or_round_trips(&src, &dst, &at_end);
}
