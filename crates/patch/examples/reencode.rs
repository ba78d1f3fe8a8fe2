//! Re-encodes bsdiff 4.3 patches in fwdelta v1 (same edit script) and compares sizes.
//!
//! ```text
//! # once: make the BSDIFF40 patches with Debian's bsdiff 4.3
//! for n in $(cut -f1 /work/corpus/pairs.tsv | tail -n +2); do
//!   bsdiff /work/corpus/pairs/$n/src.bin /work/corpus/pairs/$n/dst.bin $DIR/$n.bsdiff; done
//! cargo run --release -p fwdelta-patch --example reencode -- /work/corpus/pairs.tsv $DIR \
//!     [--level 19] [--window-log 23] [--block-size 1048576] [--no-ldm] [--no-grouping]
//!     [--only a,b] [--check] [--write DIR]
//! ```
//!
//! For every pair: imports the controls from `$DIR/<name>.bsdiff`, encodes them as v1 and
//! as BSDIFF40 (ours), applies the v1 patch and checks that it rebuilds `dst` (`--check`
//! also applies our BSDIFF40 and raw exports; `--write DIR` keeps the v1 patches as
//! `DIR/<name>.fwdelta`), and prints a table.

use std::time::Instant;

use fwdelta_patch::{
    apply, encode, import_bsdiff40, read_info, ApplyOptions, EncodeOptions, Format,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: reencode PAIRS.TSV BSDIFF_DIR [--level N] [--window-log N] [--block-size N] [--no-ldm] [--only a,b] [--check]");
        std::process::exit(2);
    }
    let mut opts = EncodeOptions::default();
    let mut only: Option<Vec<String>> = None;
    let mut check = false;
    let mut write_dir: Option<String> = None;
    let mut i = 3;
    while i < args.len() {
        let val = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--level" => opts.zstd_level = val().parse().expect("level"),
            "--window-log" => opts.window_log = val().parse().expect("window log"),
            "--block-size" => opts.block_size = val().parse().expect("block size"),
            "--only" => only = Some(val().split(',').map(String::from).collect()),
            "--write" => write_dir = Some(val()),
            "--no-grouping" => {
                opts.context_grouping = false;
                i -= 1;
            }
            "--no-ldm" => {
                opts.long_distance = false;
                i -= 1;
            }
            "--check" => {
                check = true;
                i -= 1;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let tsv = std::fs::read_to_string(&args[1]).expect("read pairs.tsv");
    println!(
        "| pair | dst bytes | bsdiff 4.3 | v1 | v1/bsdiff | ctrl z | add z | extra z | blocks | v1 encode s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut tot_b, mut tot_v) = (0u64, 0u64);
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let name = cols[0];
        if let Some(o) = &only {
            if !o.iter().any(|x| x == name) {
                continue;
            }
        }
        let bsd_path = format!("{}/{}.bsdiff", args[2], name);
        let Ok(bsd) = std::fs::read(&bsd_path) else {
            eprintln!("skip {name}: no {bsd_path}");
            continue;
        };
        let src = std::fs::read(cols[1]).expect("src");
        let dst = std::fs::read(cols[2]).expect("dst");
        let controls = import_bsdiff40(&bsd, &ApplyOptions::default()).expect("import");
        let t = Instant::now();
        let mut v1 = Vec::new();
        let sum =
            encode(Format::Fwdelta, &src, &dst, &controls, &opts, &mut v1).expect("encode v1");
        let secs = t.elapsed().as_secs_f64();
        let mut out = Vec::with_capacity(dst.len());
        apply(&src, &v1[..], &mut out, &ApplyOptions::default()).expect("apply v1");
        assert!(out == dst, "{name}: v1 does not rebuild dst");
        drop(out);
        if let Some(dir) = &write_dir {
            std::fs::write(format!("{dir}/{name}.fwdelta"), &v1).expect("write v1 patch");
        }
        if check {
            for f in [Format::Bsdiff40, Format::Raw] {
                let mut p = Vec::new();
                encode(f, &src, &dst, &controls, &opts, &mut p).expect("encode");
                let mut o = ApplyOptions::default();
                o.format = Some(f);
                let mut out = Vec::new();
                fwdelta_patch::apply_slice(&src, &p, &mut out, &o).expect("apply");
                assert!(out == dst, "{name}: {f} does not rebuild dst");
                if f == Format::Bsdiff40 {
                    eprintln!(
                        "{name}: our BSDIFF40 export {} bytes (bsdiff 4.3: {})",
                        p.len(),
                        bsd.len()
                    );
                }
            }
        }
        let info = read_info(&v1, None).expect("info");
        let body = info.v1_body.expect("body");
        tot_b += bsd.len() as u64;
        tot_v += v1.len() as u64;
        println!(
            "| {name} | {} | {} | {} | {:.3} | {} | {} | {} | {} | {:.2} |",
            dst.len(),
            bsd.len(),
            v1.len(),
            v1.len() as f64 / bsd.len() as f64,
            sum.stream_sizes[0],
            sum.stream_sizes[1],
            sum.stream_sizes[2],
            body.blocks,
            secs
        );
    }
    println!(
        "| **total** | | {tot_b} | {tot_v} | {:.3} | | | | | |",
        tot_v as f64 / tot_b.max(1) as f64
    );
}
