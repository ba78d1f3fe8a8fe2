//! Measures the matcher on the corpus and on generated pathological pairs, next to bsdiff 4.3.
//!
//! ```text
//! cargo run --release -p fwdelta-diff --example measure -- [--corpus DIR] [--only a,b] \
//!     [--threads 1,2] [--block-size N] [--no-bsdiff] [--bsdiff-timeout SECS]
//! ```
//! For every pair and thread count it runs itself as a child (`one SRC DST THREADS BLOCK`) so
//! that the peak RSS (VmHWM) belongs to that run alone, and runs `/usr/bin/time -v bsdiff` on
//! the same pair. Sizes: `bz2` is the BSDIFF40 layout (8-byte controls, three bzip2 streams),
//! the same container as bsdiff 4.3, so the difference is the matcher's; `v1` is the fwdelta v1
//! patch with default encoder options (applied back and checked). The child also prints a
//! three-stream zstd -19 proxy (`zst`).
#![allow(missing_docs)]

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use fwdelta_diff::{Control, DiffOptions, SourceIndex};

fn offtout(x: i64, out: &mut Vec<u8>) {
    let mut b = x.unsigned_abs().to_le_bytes();
    if x < 0 {
        b[7] |= 0x80;
    }
    out.extend_from_slice(&b);
}

fn varint(mut x: u64, out: &mut Vec<u8>) {
    while x >= 0x80 {
        out.push(x as u8 | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// The three streams of a bsdiff patch: controls (bsdiff's 8-byte form and varints), diff
/// bytes, extra bytes.
fn streams(src: &[u8], dst: &[u8], controls: &[Control]) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut c8, mut cv, mut db, mut eb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut s, mut d) = (0i64, 0usize);
    for c in controls {
        offtout(c.add_len as i64, &mut c8);
        offtout(c.extra_len as i64, &mut c8);
        offtout(c.seek, &mut c8);
        varint(c.add_len, &mut cv);
        varint(c.extra_len, &mut cv);
        varint(((c.seek << 1) ^ (c.seek >> 63)) as u64, &mut cv);
        for k in 0..c.add_len as usize {
            db.push(dst[d + k].wrapping_sub(src[s as usize + k]));
        }
        d += c.add_len as usize;
        eb.extend_from_slice(&dst[d..d + c.extra_len as usize]);
        d += c.extra_len as usize;
        s += c.add_len as i64 + c.seek;
    }
    assert_eq!(d, dst.len());
    (c8, cv, db, eb)
}

fn bz(data: &[u8]) -> usize {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap().len()
}

fn zs(data: &[u8]) -> usize {
    zstd::bulk::compress(data, 19).unwrap().len()
}

fn vm_hwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child mode: diff one pair, print `bz2 zst controls sort_s match_s vmhwm_kib`.
fn one(src: &Path, dst: &Path, threads: usize, block: usize) {
    let s = fwdelta_diff::map_file(src).unwrap();
    let d = fwdelta_diff::map_file(dst).unwrap();
    let opts = DiffOptions::default()
        .threads(NonZeroUsize::new(threads))
        .block_size(block);
    let t0 = Instant::now();
    let idx = SourceIndex::new(&s, &opts).unwrap();
    let t1 = Instant::now();
    let controls = idx.diff(&d, &opts).unwrap();
    let t2 = Instant::now();
    let hwm = vm_hwm_kib();
    let (c8, cv, db, eb) = streams(&s, &d, &controls);
    let (bc, bd, be) = (bz(&c8), bz(&db), bz(&eb));
    let bz2 = 32 + bc + bd + be;
    let zst = zs(&cv) + zs(&db) + zs(&eb);
    // The real v1 patch, applied back as a check.
    let mut patch = Vec::new();
    let enc = fwdelta_patch::EncodeOptions::default();
    let es = fwdelta_patch::encode(
        fwdelta_patch::Format::Fwdelta,
        &s,
        &d,
        &controls,
        &enc,
        &mut patch,
    )
    .unwrap();
    if std::env::var_os("MEASURE_DETAIL").is_some() {
        eprintln!("v1 streams (ctrl, add, extra): {:?}", es.stream_sizes);
    }
    let sum = fwdelta_patch::apply_slice(&s, &patch, std::io::sink(), &Default::default()).unwrap();
    assert_eq!(
        sum.dst_md5,
        fwdelta_patch::md5_of(&d),
        "v1 round trip failed"
    );
    if let Some(dir) = std::env::var_os("MEASURE_DUMP") {
        let dir = PathBuf::from(dir);
        std::fs::write(dir.join("ctrl8"), &c8).unwrap();
        std::fs::write(dir.join("ctrlv"), &cv).unwrap();
        std::fs::write(dir.join("diff"), &db).unwrap();
        std::fs::write(dir.join("extra"), &eb).unwrap();
    }
    if std::env::var_os("MEASURE_DETAIL").is_some() {
        let nz = db.iter().filter(|&&b| b != 0).count();
        eprintln!(
            "bz2 ctrl {bc} diff {bd} extra {be}; diff bytes {} ({nz} nonzero), extra bytes {}",
            db.len(),
            eb.len()
        );
    }
    println!(
        "{bz2} {zst} {} {:.3} {:.3} {hwm} {}",
        controls.len(),
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        patch.len()
    );
}

struct Pair {
    name: String,
    src: PathBuf,
    dst: PathBuf,
    note: &'static str,
}

/// Deterministic code-like bytes.
fn code_like(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 32) as u8;
            if b < 96 {
                b & 0x0F
            } else {
                b
            }
        })
        .collect()
}

fn generated(dir: &Path) -> Vec<Pair> {
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    let mut put = |name: &str, src: Vec<u8>, dst: Vec<u8>, note| {
        let (s, d) = (
            dir.join(format!("{name}.src")),
            dir.join(format!("{name}.dst")),
        );
        std::fs::write(&s, src).unwrap();
        std::fs::write(&d, dst).unwrap();
        out.push(Pair {
            name: name.to_string(),
            src: s,
            dst: d,
            note,
        });
    };
    // 8 MiB of zeros; the other side has one changed byte.
    let n = 8 << 20;
    let mut one = vec![0u8; n];
    one[n / 3] = 0x5A;
    put("gen-zeros8m-dst1", vec![0u8; n], one.clone(), "generated");
    put("gen-zeros8m-src1", one, vec![0u8; n], "generated");
    // 16 MiB erased flash with a 1 MiB image at the front that grows by 48 KiB (three
    // insertions) and gets a few patched constants.
    let n = 16 << 20;
    let code = code_like(7, 1 << 20);
    let mut src = code.clone();
    src.resize(n, 0xFF);
    let mut new = code;
    for (i, at) in [100_000usize, 400_000, 900_000].into_iter().enumerate() {
        new.splice(at..at, code_like(100 + i as u64, 16 << 10));
    }
    for at in (0..new.len()).step_by(50_000) {
        new[at..at + 4].copy_from_slice(&(at as u32).to_le_bytes());
    }
    new.resize(n, 0xFF);
    put("gen-ff16m-grow", src, new, "generated");
    out
}

fn bsdiff(p: &Pair, timeout: u64) -> String {
    let out = std::env::temp_dir().join(format!("measure-bsdiff-{}.patch", std::process::id()));
    let r = Command::new("/usr/bin/time")
        .arg("-v")
        .arg("timeout")
        .arg(timeout.to_string())
        .arg("/usr/bin/bsdiff")
        .arg(&p.src)
        .arg(&p.dst)
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    let field = |k: &str| {
        err.lines()
            .find_map(|l| l.trim().strip_prefix(k).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&out);
    if !r.status.success() {
        return format!("| timeout >{timeout}s | | |");
    }
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
    let rss = field("Maximum resident set size (kbytes):")
        .parse::<u64>()
        .unwrap_or(0);
    format!("| {size} | {wall} | {} MiB |", rss / 1024)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("one") {
        one(
            Path::new(&args[2]),
            Path::new(&args[3]),
            args[4].parse().unwrap(),
            args[5].parse().unwrap(),
        );
        return;
    }
    let mut corpus = PathBuf::from("/work/corpus");
    let mut only: Option<Vec<String>> = None;
    let mut threads = vec![1usize, 2];
    let mut block = DiffOptions::default().block_size;
    let mut run_bsdiff = true;
    let mut timeout = 900u64;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let mut v = || it.next().expect("missing value").clone();
        match a.as_str() {
            "--corpus" => corpus = PathBuf::from(v()),
            "--only" => only = Some(v().split(',').map(str::to_string).collect()),
            "--threads" => threads = v().split(',').map(|t| t.parse().unwrap()).collect(),
            "--block-size" => block = v().parse().unwrap(),
            "--no-bsdiff" => run_bsdiff = false,
            "--bsdiff-timeout" => timeout = v().parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    let mut pairs = Vec::new();
    if let Ok(tsv) = std::fs::read_to_string(corpus.join("pairs.tsv")) {
        for line in tsv.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            pairs.push(Pair {
                name: f[0].to_string(),
                src: corpus.join("pairs").join(f[0]).join("src.bin"),
                dst: corpus.join("pairs").join(f[0]).join("dst.bin"),
                note: "corpus",
            });
        }
    }
    pairs.extend(generated(&std::env::temp_dir().join("fwdelta-measure")));
    if let Some(only) = &only {
        pairs.retain(|p| only.contains(&p.name));
    }
    let exe = std::env::current_exe().unwrap();
    print!("| pair | dst bytes |");
    for t in &threads {
        print!(" {t}T time s (sort+match) | {t}T peak RSS |");
    }
    println!(
        " ours BSDIFF40 | ours v1 | controls | bsdiff 4.3 | bsdiff time | bsdiff RSS | bz2 / bsdiff |"
    );
    println!("|{}", "---|".repeat(2 + 2 * threads.len() + 7));
    for p in &pairs {
        let dst_len = std::fs::metadata(&p.dst).unwrap().len();
        print!("| {} | {dst_len} |", p.name);
        let mut sizes = None;
        for &t in &threads {
            let r = Command::new(&exe)
                .args(["one"])
                .arg(&p.src)
                .arg(&p.dst)
                .arg(t.to_string())
                .arg(block.to_string())
                .output()
                .unwrap();
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let o = String::from_utf8_lossy(&r.stdout);
            let f: Vec<&str> = o.split_whitespace().collect();
            let (sort, mat): (f64, f64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
            let hwm: u64 = f[5].parse().unwrap();
            print!(
                " {:.2} ({sort:.2}+{mat:.2}) | {} MiB |",
                sort + mat,
                hwm / 1024
            );
            let s = (f[0].to_string(), f[6].to_string(), f[2].to_string());
            if let Some(prev) = &sizes {
                assert_eq!(prev, &s, "thread counts disagree on {}", p.name);
            }
            sizes = Some(s);
            std::io::stdout().flush().unwrap();
        }
        let (b, z, c) = sizes.unwrap();
        print!(" {b} | {z} | {c} ");
        if run_bsdiff {
            let row = bsdiff(p, timeout);
            let bs: f64 = row
                .trim_start_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap_or(f64::NAN);
            println!("{row} {:.3} |", b.parse::<f64>().unwrap() / bs);
        } else {
            println!("| (skipped) | | | |");
        }
        let _ = p.note;
    }
}
