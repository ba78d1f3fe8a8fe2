//! Times the two stages of a diff apart: building the source index (suffix sort) and
//! matching, on one pair, and prints a digest of the edit script so that a change to the
//! matcher can be checked for its effect on the output as well as its speed.
//!
//! ```text
//! cargo run --release -p fwdelta-diff --example match_time -- SRC DST [THREADS] [REPS]
//! ```
#![allow(missing_docs)]

use std::num::NonZeroUsize;
use std::time::Instant;

use fwdelta_diff::{DiffOptions, SourceIndex};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: match_time SRC DST [THREADS] [REPS]");
        std::process::exit(2);
    }
    let threads: usize = args.get(2).map_or(0, |t| t.parse().expect("THREADS"));
    let reps: usize = args.get(3).map_or(1, |r| r.parse().expect("REPS"));
    let src = fwdelta_diff::map_file(args[0].as_ref()).expect("SRC");
    let dst = fwdelta_diff::map_file(args[1].as_ref()).expect("DST");
    let opts = DiffOptions::default().threads(NonZeroUsize::new(threads));
    let t = Instant::now();
    let index = SourceIndex::new(&src, &opts).expect("index");
    let sort_s = t.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut digest = String::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let controls = index.diff(&dst, &opts).expect("diff");
        times.push(t.elapsed().as_secs_f64());
        let mut bytes = Vec::with_capacity(controls.len() * 24);
        for c in &controls {
            bytes.extend_from_slice(&c.add_len.to_le_bytes());
            bytes.extend_from_slice(&c.extra_len.to_le_bytes());
            bytes.extend_from_slice(&c.seek.to_le_bytes());
        }
        let extra: u64 = controls.iter().map(|c| c.extra_len).sum();
        digest = format!(
            "controls {} extra {} md5 {}",
            controls.len(),
            extra,
            fwdelta_patch::md5_hex(&fwdelta_patch::md5_of(&bytes))
        );
    }
    times.sort_by(f64::total_cmp);
    println!(
        "index {:.3} s  match median {:.3} s (min {:.3}, {} reps)  {}",
        sort_s,
        times[times.len() / 2],
        times[0],
        times.len(),
        digest
    );
}
