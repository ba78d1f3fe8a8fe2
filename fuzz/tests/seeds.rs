//! The committed seeds and regression inputs pass their targets, and the seeds reach the
//! parts of the targets they are meant for (a seed that only ever fails early is useless).

use std::fs;
use std::path::Path;

use fwdelta_fuzz::input::Input;
use fwdelta_fuzz::targets::{self, apply_bsdiff40, apply_fwdelta, common};
use fwdelta_fuzz::v1::{build, reference_apply};
use fwdelta_patch::{apply_slice, Format};

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), fs::read(&p).expect("read input")))
        .collect();
    out.sort();
    out
}

#[test]
fn seeds_and_regressions_pass() {
    let mut n = 0;
    for name in targets::NAMES {
        for dir in [
            Path::new("seeds").join(name),
            Path::new("../tests/data/fuzz-regressions").join(name),
        ] {
            for (path, data) in inputs(&dir) {
                eprintln!("{path}");
                assert!(targets::run(name, &data));
                n += 1;
            }
        }
        assert!(
            !inputs(&Path::new("seeds").join(name)).is_empty(),
            "no seeds for {name}"
        );
    }
    assert!(n >= 40, "only {n} inputs");
}

/// Splits an apply-target input like the targets do.
fn split(data: &[u8]) -> (u8, Vec<u8>, Input<'_>) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let _ = common::Drive::read(&mut inp);
    let n = usize::from(inp.u16());
    let src = inp.bytes(n).to_vec();
    (mode, src, inp)
}

#[test]
fn apply_seeds_apply() {
    for (path, data) in inputs(Path::new("seeds/apply_fwdelta")) {
        let (mode, src, mut inp) = split(&data);
        let opts = common::options(None);
        let patch = match mode % 3 {
            0 => inp.rest().to_vec(),
            1 => fwdelta_fuzz::v1::fix_header(inp.rest(), &src),
            _ => {
                let (h, blocks, so) = apply_fwdelta::structured(&mut inp, &src);
                reference_apply(&src, &h, &blocks, apply_fwdelta::limits())
                    .unwrap_or_else(|e| panic!("{path}: reference refuses: {e}"));
                build(&h, &blocks, so).expect("build")
            }
        };
        apply_slice(&src, &patch, Vec::new(), &opts)
            .unwrap_or_else(|e| panic!("{path} does not apply: {e}"));
    }
    for (path, data) in inputs(Path::new("seeds/apply_bsdiff40")) {
        let (mode, src, mut inp) = split(&data);
        let (patch, format) = match mode % 4 {
            0 => (inp.rest().to_vec(), None),
            1 => (inp.rest().to_vec(), Some(Format::Raw)),
            2 => {
                let (size, c, d, e) = apply_bsdiff40::structured_bsdiff40(&mut inp);
                (fwdelta_fuzz::bsdiff::build_bsdiff40(size, &c, &d, &e), None)
            }
            _ => {
                let steps = apply_bsdiff40::structured_raw(&mut inp);
                (fwdelta_fuzz::bsdiff::build_raw(&steps), Some(Format::Raw))
            }
        };
        apply_slice(&src, &patch, Vec::new(), &common::options(format))
            .unwrap_or_else(|e| panic!("{path} does not apply: {e}"));
    }
}
