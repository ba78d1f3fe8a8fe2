//! Times suffix array construction on files or synthetic inputs and reports MB/s and peak
//! memory. Usage: `sa_time [--threads N] [--reps R] [--algo ours|libsais|divsufsort] INPUT...`
//! where INPUT is a file path or `random:MiB`, `zero:MiB`, `ff:MiB`, `periodic:MiB`.

use std::time::Instant;

fn synth(spec: &str) -> Option<Vec<u8>> {
    let (kind, mib) = spec.split_once(':')?;
    let n = mib.parse::<usize>().ok()? << 20;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    Some(match kind {
        "random" => (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect(),
        "zero" => vec![0; n],
        "ff" => vec![0xFF; n],
        "periodic" => b"\x00\x10\x20\xFF\x7Fperiod"
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect(),
        _ => return None,
    })
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut threads = 1usize;
    let mut reps = 3usize;
    let mut algo = "ours".to_string();
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().unwrap().parse().unwrap(),
            "--reps" => reps = args.next().unwrap().parse().unwrap(),
            "--algo" => algo = args.next().unwrap(),
            _ => inputs.push(a),
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    for input in inputs {
        let text = synth(&input).unwrap_or_else(|| std::fs::read(&input).unwrap());
        let base = peak_rss_kib();
        let mut best = f64::MAX;
        for _ in 0..reps {
            let t = Instant::now();
            let ok = match algo.as_str() {
                "ours" => {
                    let sa = pool.install(|| fwdelta_sufsort::suffix_array(&text).unwrap());
                    let dt = t.elapsed().as_secs_f64();
                    best = best.min(dt);
                    fwdelta_sufsort::verify(&text, &sa).is_ok()
                }
                "libsais" => {
                    use libsais::{SuffixArrayConstruction, ThreadCount};
                    let c = SuffixArrayConstruction::for_text(&text[..]).in_owned_buffer32();
                    let sa: Vec<i32> = if threads == 1 {
                        c.single_threaded().run().unwrap().into_vec()
                    } else {
                        c.multi_threaded(ThreadCount::fixed(threads as u16))
                            .run()
                            .unwrap()
                            .into_vec()
                    };
                    best = best.min(t.elapsed().as_secs_f64());
                    sa.len() == text.len()
                }
                "divsufsort" => {
                    let sa = divsufsort::sort(&text).into_parts().1;
                    best = best.min(t.elapsed().as_secs_f64());
                    sa.len() == text.len()
                }
                other => panic!("unknown algo {other}"),
            };
            assert!(ok, "{algo} produced a wrong suffix array for {input}");
        }
        let mb = text.len() as f64 / 1e6;
        println!(
            "{algo:10} t={threads} {input:50} {:>9} B  best {:8.3} s  {:7.1} MB/s  peak +{:.2} B/B",
            text.len(),
            best,
            mb / best,
            (peak_rss_kib().saturating_sub(base)) as f64 * 1024.0 / text.len() as f64
        );
    }
}
