//! Applies a patch file to a source file, streaming the patch from disk, and prints the
//! summary: a way to measure the applier's time and peak memory.
//!
//! ```text
//! cargo run --release -p fwdelta-patch --example apply_file -- SRC PATCH OUT [raw]
//! /usr/bin/time -v target/release/examples/apply_file src.bin patch.fwdelta out.bin
//! ```
//!
//! The source is read into memory (the CLI memory-maps it instead), so subtract its size
//! from the peak RSS to get the applier's own memory.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::time::Instant;

use fwdelta_patch::{apply, md5_hex, ApplyOptions, Format};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: apply_file SRC PATCH OUT [raw]");
        std::process::exit(2);
    }
    let src = std::fs::read(&args[1]).expect("read source");
    let patch = BufReader::new(File::open(&args[2]).expect("open patch"));
    let out = BufWriter::new(File::create(&args[3]).expect("create output"));
    let mut opts = ApplyOptions::default();
    if args.get(4).map(String::as_str) == Some("raw") {
        opts.format = Some(Format::Raw);
    }
    let t = Instant::now();
    match apply(&src, patch, out, &opts) {
        Ok(s) => println!(
            "{}: {} bytes, md5 {}, patch {} bytes, {:.2} s (source {} bytes held in memory)",
            s.format,
            s.dst_size,
            md5_hex(&s.dst_md5),
            s.patch_size,
            t.elapsed().as_secs_f64(),
            src.len()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
