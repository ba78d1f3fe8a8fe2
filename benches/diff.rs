//! Suffix sorting and diff throughput on generated pathological pairs and small corpus pairs.
//! Every diff bench first checks that its patch applies back to the destination.
//!
//! `cargo bench --bench diff` (see `benches/common/mod.rs` for the input settings).
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

mod common;

fn sufsort(c: &mut Criterion) {
    let inputs = common::inputs();
    let mut g = c.benchmark_group("sufsort");
    for input in &inputs {
        // Checked once outside the timing: the array is a valid suffix array.
        let sa = fwdelta_sufsort::suffix_array(&input.src).expect("source below 2 GiB");
        fwdelta_sufsort::verify(&input.src, &sa).expect("valid suffix array");
        g.throughput(Throughput::Bytes(input.src.len() as u64));
        g.bench_function(&input.name, |b| {
            b.iter(|| fwdelta_sufsort::suffix_array(black_box(&input.src)).expect("sorted"))
        });
    }
    g.finish();
}

fn diff(c: &mut Criterion) {
    let inputs = common::inputs();
    let mut g = c.benchmark_group("diff");
    for input in &inputs {
        let patch = common::checked_patch(input, fwdelta_patch::Format::Fwdelta);
        eprintln!(
            "{}: {} -> {} bytes, patch {} bytes (ratio {:.4})",
            input.name,
            input.src.len(),
            input.dst.len(),
            patch.len(),
            patch.len() as f64 / input.dst.len().max(1) as f64
        );
        g.throughput(Throughput::Bytes(input.dst.len() as u64));
        // The matcher alone (suffix sort included: it is part of every diff).
        g.bench_function(format!("match/{}", input.name), |b| {
            b.iter(|| {
                fwdelta_diff::diff(
                    black_box(&input.src),
                    black_box(&input.dst),
                    &fwdelta_diff::DiffOptions::default(),
                )
                .expect("diff")
            })
        });
        // Matcher plus encoding: what `fwdelta diff` does before verification.
        g.bench_function(format!("match+encode/{}", input.name), |b| {
            b.iter(|| common::make_patch(input))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = sufsort, diff
}
criterion_main!(benches);
