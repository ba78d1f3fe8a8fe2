//! Inputs shared by the criterion benches: generated pairs (always) and corpus pairs (when a
//! corpus is present).
//!
//! - `FWDELTA_BENCH_CORPUS`: a corpus directory with `pairs.tsv` (written by
//!   `benches/corpus/fetch.sh`; default `bench-out/corpus` when it exists).
//! - `FWDELTA_BENCH_MAX_MIB`: largest corpus source to bench, MiB (default 4).
//! - `FWDELTA_BENCH_GEN_MIB`: source size of the generated pathological pairs, MiB (default 2).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use criterion::Criterion;

#[path = "../../crates/bench/src/gen.rs"]
#[allow(dead_code)]
pub mod gen;

/// One benchmark input.
pub struct Input {
    pub name: String,
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Generated pairs first, then the corpus pairs whose source fits the size limit.
pub fn inputs() -> Vec<Input> {
    let gen_size = env_usize("FWDELTA_BENCH_GEN_MIB", 2) * gen::MIB;
    let mut out: Vec<Input> = gen::GENERATED
        .iter()
        .map(|(name, _)| {
            let (src, dst) = gen::generate(name, gen_size).expect("known generated pair");
            Input {
                name: name.to_string(),
                src,
                dst,
            }
        })
        .collect();
    let max = env_usize("FWDELTA_BENCH_MAX_MIB", 4) as u64 * gen::MIB as u64;
    let dir = std::env::var_os("FWDELTA_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-out/corpus"));
    let Ok(tsv) = std::fs::read_to_string(dir.join("pairs.tsv")) else {
        eprintln!(
            "no corpus at {} (set FWDELTA_BENCH_CORPUS): generated pairs only",
            dir.display()
        );
        return out;
    };
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        let Ok(src_size) = f[3].parse::<u64>() else {
            continue;
        };
        if src_size > max {
            continue;
        }
        let path = |p: &str, file: &str| {
            let p = if Path::new(p).is_relative() {
                dir.join(p)
            } else {
                PathBuf::from(p)
            };
            if p.exists() {
                p
            } else {
                dir.join("pairs").join(f[0]).join(file)
            }
        };
        let (Ok(src), Ok(dst)) = (
            std::fs::read(path(f[1], "src.bin")),
            std::fs::read(path(f[2], "dst.bin")),
        ) else {
            eprintln!("skipping corpus pair {}: unreadable", f[0]);
            continue;
        };
        out.push(Input {
            name: f[0].to_string(),
            src,
            dst,
        });
    }
    out
}

/// Small samples, so that a full `cargo bench` stays within minutes on two cores.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3))
        .configure_from_args()
}

/// Diffs and encodes `input` in `format`; panics unless the patch applies back to `dst`.
pub fn checked_patch(input: &Input, format: fwdelta_patch::Format) -> Vec<u8> {
    let controls = fwdelta_diff::diff(
        &input.src,
        &input.dst,
        &fwdelta_diff::DiffOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{}: diff failed: {e}", input.name));
    let mut patch = Vec::new();
    fwdelta_patch::encode(
        format,
        &input.src,
        &input.dst,
        &controls,
        &fwdelta_patch::EncodeOptions::default(),
        &mut patch,
    )
    .unwrap_or_else(|e| panic!("{}: encode failed: {e}", input.name));
    assert_applies(input, &patch, format);
    patch
}

/// Panics unless `patch` rebuilds `input.dst` from `input.src`.
pub fn assert_applies(input: &Input, patch: &[u8], format: fwdelta_patch::Format) {
    let mut out = Vec::with_capacity(input.dst.len());
    let mut opts = fwdelta_patch::ApplyOptions::default();
    opts.format = Some(format);
    fwdelta_patch::apply_slice(&input.src, patch, &mut out, &opts)
        .unwrap_or_else(|e| panic!("{}: apply failed: {e}", input.name));
    assert!(
        out == input.dst,
        "{}: the patch does not rebuild the destination",
        input.name
    );
}

/// Diffs and encodes `input` as fwdelta v1 without checking (for timing loops; call
/// [`checked_patch`] once first).
pub fn make_patch(input: &Input) -> Vec<u8> {
    let controls = fwdelta_diff::diff(
        &input.src,
        &input.dst,
        &fwdelta_diff::DiffOptions::default(),
    )
    .expect("diff");
    let mut patch = Vec::new();
    fwdelta_patch::encode(
        fwdelta_patch::Format::Fwdelta,
        &input.src,
        &input.dst,
        &controls,
        &fwdelta_patch::EncodeOptions::default(),
        &mut patch,
    )
    .expect("encode");
    patch
}
