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

/// Process CPU time in seconds (user + system), from /proc.
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
    ticks as f64 / 100.0
}

fn main() {
    let mut verify = false;
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
            "--verify" => verify = true,
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
        let mut best_cpu = f64::MAX;
        for _ in 0..reps {
            let t = Instant::now();
            let c0 = cpu_secs();
            let ok = match algo.as_str() {
                "ours" => {
                    let sa = pool.install(|| fwdelta_sufsort::suffix_array(&text).unwrap());
                    best = best.min(t.elapsed().as_secs_f64());
                    best_cpu = best_cpu.min(cpu_secs() - c0);
                    !verify || fwdelta_sufsort::verify(&text, &sa).is_ok()
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
                    best_cpu = best_cpu.min(cpu_secs() - c0);
                    sa.len() == text.len()
                }
                "divsufsort" => {
                    let sa = divsufsort::sort(&text).into_parts().1;
                    best = best.min(t.elapsed().as_secs_f64());
                    best_cpu = best_cpu.min(cpu_secs() - c0);
                    sa.len() == text.len()
                }
                other => panic!("unknown algo {other}"),
            };
            assert!(ok, "{algo} produced a wrong suffix array for {input}");
        }
        let mb = text.len() as f64 / 1e6;
        println!(
            "{algo:10} t={threads} {input:42} {:>9} B  wall {:7.3} s {:6.1} MB/s  cpu {:7.2} s {:6.1} MB/cpu-s  peak +{:.2} B/B",
            text.len(),
            best,
            mb / best,
            best_cpu,
            mb / best_cpu,
            (peak_rss_kib().saturating_sub(base)) as f64 * 1024.0 / text.len() as f64
        );
    }
}
