//! Times the v1 encoder alone on one pair, given its edit script as a BSDIFF40 patch (for
//! example from `fwdelta diff --format bsdiff40`), and prints the patch's size and MD5 so
//! that runs with different thread counts can be checked for identical output.
//!
//! ```text
//! cargo run --release -p fwdelta-patch --example encode_time -- SRC DST BSDIFF40 [THREADS] [REPS]
//! ```
#![allow(missing_docs)]

use std::time::Instant;

use fwdelta_patch::{encode, import_bsdiff40, md5_hex, md5_of, EncodeOptions, Format};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: encode_time SRC DST BSDIFF40 [THREADS] [REPS]");
        std::process::exit(2);
    }
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let (src, dst, script) = (read(&args[0]), read(&args[1]), read(&args[2]));
    let controls = import_bsdiff40(&script, &Default::default()).expect("BSDIFF40 patch");
    let mut opts = EncodeOptions::default();
    opts.threads = args.get(3).map_or(0, |t| t.parse().expect("THREADS"));
    let reps: usize = args.get(4).map_or(3, |r| r.parse().expect("REPS"));
    let mut times = Vec::new();
    let mut patch = Vec::new();
    for _ in 0..reps.max(1) {
        patch.clear();
        let t = Instant::now();
        encode(Format::Fwdelta, &src, &dst, &controls, &opts, &mut patch).expect("encode");
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "encode median {:.3} s (min {:.3}, {} reps, threads {})  patch {} bytes md5 {}",
        times[times.len() / 2],
        times[0],
        times.len(),
        opts.threads,
        patch.len(),
        md5_hex(&md5_of(&patch))
    );
}
