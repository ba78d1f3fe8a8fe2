//! Interoperability with the reference tools: Debian's bsdiff 4.3 (`bsdiff`, `bspatch`).
//!
//! These tests need `/usr/bin/bsdiff` and `/usr/bin/bspatch`: `apt-get install bsdiff`.
//! They fail (never skip) when the tools are missing.

mod common;

use std::path::Path;
use std::process::Command;

use common::{edit, firmware, naive_controls, Rng};
use fwdelta_patch::{apply_slice, encode, import_bsdiff40, ApplyOptions, EncodeOptions, Format};

fn tool(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: these tests run the reference bsdiff 4.3; install it with `apt-get install bsdiff`"
    );
    path
}

fn pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = Rng(0xc0ff_ee00);
    let mut v = Vec::new();
    for len in [1usize, 700, 9000, 60_000] {
        let src = firmware(&mut rng, len);
        let dst = edit(&mut rng, &src);
        v.push((src, dst));
    }
    v.push((Vec::new(), b"from nothing".to_vec()));
    v
}

#[test]
fn debian_bspatch_applies_our_bsdiff40() {
    let bspatch = tool("bspatch");
    let dir = tempfile::tempdir().unwrap();
    for (i, (src, dst)) in pairs().into_iter().enumerate() {
        let controls = naive_controls(&src, &dst);
        let mut patch = Vec::new();
        encode(
            Format::Bsdiff40,
            &src,
            &dst,
            &controls,
            &EncodeOptions::default(),
            &mut patch,
        )
        .unwrap();
        let (s, p, o) = (
            dir.path().join("s"),
            dir.path().join("p"),
            dir.path().join(format!("o{i}")),
        );
        std::fs::write(&s, &src).unwrap();
        std::fs::write(&p, &patch).unwrap();
        let st = Command::new(&bspatch)
            .arg(&s)
            .arg(&o)
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success(), "case {i}: bspatch failed");
        assert_eq!(
            std::fs::read(&o).unwrap(),
            dst,
            "case {i}: bspatch output differs"
        );
    }
}

#[test]
fn we_apply_and_reencode_debian_bsdiff_patches() {
    let bsdiff = tool("bsdiff");
    let dir = tempfile::tempdir().unwrap();
    // bsdiff 4.3 itself fails on an empty source, so that case is only in the other test.
    for (i, (src, dst)) in pairs()
        .into_iter()
        .enumerate()
        .filter(|(_, (s, _))| !s.is_empty())
    {
        let (s, d, p) = (
            dir.path().join("s"),
            dir.path().join("d"),
            dir.path().join("p"),
        );
        std::fs::write(&s, &src).unwrap();
        std::fs::write(&d, &dst).unwrap();
        let st = Command::new(&bsdiff)
            .arg(&s)
            .arg(&d)
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success(), "case {i}: bsdiff failed");
        let patch = std::fs::read(&p).unwrap();
        let mut out = Vec::new();
        apply_slice(&src, &patch, &mut out, &ApplyOptions::default()).expect("apply BSDIFF40");
        assert_eq!(out, dst, "case {i}");
        // Same edit script, re-encoded in every format.
        let controls = import_bsdiff40(&patch, &ApplyOptions::default()).unwrap();
        for f in [Format::Fwdelta, Format::Bsdiff40, Format::Raw] {
            let mut p2 = Vec::new();
            encode(f, &src, &dst, &controls, &EncodeOptions::default(), &mut p2).unwrap();
            let mut o = ApplyOptions::default();
            o.format = Some(f);
            let mut out = Vec::new();
            apply_slice(&src, &p2, &mut out, &o).unwrap();
            assert_eq!(out, dst, "case {i}, {f}");
        }
    }
}
