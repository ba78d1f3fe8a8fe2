//! Apply throughput of fwdelta v1 and BSDIFF40 patches made by fwdelta, on generated
//! pathological pairs and small corpus pairs. Every patch is checked to rebuild its
//! destination before it is timed, and the timed output is checked again afterwards.
//!
//! `cargo bench --bench apply` (see `benches/common/mod.rs` for the input settings).
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fwdelta_patch::{ApplyOptions, Format};

mod common;

fn apply(c: &mut Criterion) {
    let inputs = common::inputs();
    let mut g = c.benchmark_group("apply");
    for input in &inputs {
        for (label, format) in [("fwdelta", Format::Fwdelta), ("bsdiff40", Format::Bsdiff40)] {
            let patch = common::checked_patch(input, format);
            let mut opts = ApplyOptions::default();
            opts.format = Some(format);
            let mut out = Vec::with_capacity(input.dst.len());
            g.throughput(Throughput::Bytes(input.dst.len() as u64));
            g.bench_function(format!("{label}/{}", input.name), |b| {
                b.iter(|| {
                    out.clear();
                    fwdelta_patch::apply_slice(
                        black_box(&input.src),
                        black_box(&patch),
                        &mut out,
                        &opts,
                    )
                    .expect("apply")
                })
            });
            assert!(
                out == input.dst,
                "{}: timed apply did not rebuild the destination",
                input.name
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = apply
}
criterion_main!(benches);
