//! Golden patches (tests/data/golden, written by `examples/golden.rs`): every version of
//! this crate must keep applying them. Never regenerate them to make this test pass.

use std::path::PathBuf;

use fwdelta_patch::{apply_slice, md5_of, read_info, verify, ApplyOptions, Expected, Format};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/golden")
}

#[test]
fn golden_patches_still_apply() {
    let mut checked = 0;
    for case in ["edits", "x86-calls", "moves"] {
        let dir = golden_dir().join(case);
        let src = std::fs::read(dir.join("src.bin")).expect("golden src.bin");
        let dst = std::fs::read(dir.join("dst.bin")).expect("golden dst.bin");
        for (file, format) in [
            ("patch.fwdelta", Format::Fwdelta),
            ("patch-zr.fwdelta", Format::Fwdelta),
            ("patch.bsdiff40", Format::Bsdiff40),
            ("bsdiff43.bsdiff40", Format::Bsdiff40),
            ("patch.raw", Format::Raw),
        ] {
            let patch =
                std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{case}/{file}: {e}"));
            let mut opts = ApplyOptions::default();
            if format == Format::Raw {
                opts.format = Some(Format::Raw);
            }
            let mut out = Vec::new();
            let summary = apply_slice(&src, &patch, &mut out, &opts)
                .unwrap_or_else(|e| panic!("{case}/{file}: {e}"));
            assert_eq!(summary.format, format);
            assert!(out == dst, "{case}/{file}: output differs");
            let expected = Expected {
                md5: md5_of(&dst),
                size: dst.len() as u64,
            };
            assert!(verify(&src, &patch, expected, &opts).unwrap().matches());
            if format == Format::Fwdelta {
                let info = read_info(&patch, None).unwrap();
                assert_eq!(info.src_md5, Some(md5_of(&src)));
                assert_eq!(info.dst_md5, Some(md5_of(&dst)));
                let zero_runs = file == "patch-zr.fwdelta";
                assert_eq!(
                    patch[10],
                    u8::from(zero_runs),
                    "{case}/{file}: header flags"
                );
                let body = info.v1_body.unwrap();
                if case == "x86-calls" {
                    assert!(
                        body.grouped_blocks > 0,
                        "golden must cover the context-grouped add order"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
}
