//! Suffix sorting throughput: ours (1 and 2 threads) against libsais (1 and 2 threads) and
//! divsufsort, on synthetic inputs and on the firmware corpus.
//!
//! Inputs: random, all-0xFF, all-zero and periodic data of 16 MiB (and 64 MiB when
//! `FWDELTA_BENCH_LARGE` is set: each run then takes seconds), plus every `pairs/*/src.bin`
//! of the corpus at `$FWDELTA_CORPUS` (default `/work/corpus`) up to 16 MiB (all sizes with
//! `FWDELTA_BENCH_LARGE`); a missing corpus is skipped. Every sorter's output is checked once
//! before it is timed.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

fn xorshift_bytes(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let large = std::env::var_os("FWDELTA_BENCH_LARGE").is_some();
    let mut sizes = vec![16usize];
    if large {
        sizes.push(64);
    }
    let mut v = Vec::new();
    for mib in sizes {
        let n = mib << 20;
        v.push((format!("random-{mib}M"), xorshift_bytes(n)));
        v.push((format!("ff-{mib}M"), vec![0xFF; n]));
        v.push((format!("zero-{mib}M"), vec![0; n]));
        let periodic = b"\x00\x10\x20\xFF\x7Fperiod"
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect();
        v.push((format!("periodic-{mib}M"), periodic));
    }
    let corpus = std::env::var_os("FWDELTA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/corpus"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join("pairs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("src.bin"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        let Ok(data) = std::fs::read(&f) else {
            continue;
        };
        if data.len() < 1 << 20 || (!large && data.len() > 16 << 20) {
            continue;
        }
        let name = f
            .parent()
            .and_then(|d| d.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        v.push((name, data));
    }
    v
}

fn ours(text: &[u8], pool: &rayon::ThreadPool) -> Vec<u32> {
    pool.install(|| fwdelta_sufsort::suffix_array(text).expect("input below the u32 limit"))
}

fn libsais_sa(text: &[u8], threads: u16) -> Vec<i32> {
    use libsais::{SuffixArrayConstruction, ThreadCount};
    let c = SuffixArrayConstruction::for_text(text).in_owned_buffer32();
    if threads == 1 {
        c.single_threaded().run().expect("libsais").into_vec()
    } else {
        c.multi_threaded(ThreadCount::fixed(threads))
            .run()
            .expect("libsais")
            .into_vec()
    }
}

fn divsufsort_sa(text: &[u8]) -> Vec<i32> {
    divsufsort::sort(text).into_parts().1
}

fn bench(c: &mut Criterion) {
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, 2]
        .into_iter()
        .map(|t| {
            (
                t,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    for (name, text) in inputs() {
        // Check every sorter once: the benchmark doubles as a cross-check.
        let expect = ours(&text, &pools[0].1);
        fwdelta_sufsort::verify(&text, &expect).expect("our suffix array verifies");
        assert_eq!(
            ours(&text, &pools[1].1),
            expect,
            "thread count changed the result"
        );
        let as_u32 = |v: Vec<i32>| v.into_iter().map(|x| x as u32).collect::<Vec<_>>();
        assert_eq!(as_u32(libsais_sa(&text, 1)), expect, "libsais disagrees");
        assert_eq!(as_u32(divsufsort_sa(&text)), expect, "divsufsort disagrees");

        let mut g = c.benchmark_group(format!("sufsort/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(100));
        g.measurement_time(Duration::from_secs(1));
        for (t, pool) in &pools {
            g.bench_function(BenchmarkId::new("ours", format!("{t}t")), |b| {
                b.iter(|| ours(&text, pool))
            });
        }
        for t in [1u16, 2] {
            g.bench_function(BenchmarkId::new("libsais", format!("{t}t")), |b| {
                b.iter(|| libsais_sa(&text, t))
            });
        }
        g.bench_function(BenchmarkId::new("divsufsort", "1t"), |b| {
            b.iter(|| divsufsort_sa(&text))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
