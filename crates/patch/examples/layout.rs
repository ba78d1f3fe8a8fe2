//! Measures v1 body layout alternatives on the edit scripts of bsdiff 4.3 patches.
//!
//! ```text
//! cargo run --release -p fwdelta-patch --example layout -- /work/corpus/pairs.tsv $DIR \
//!     [--level 19] [--window-log 23] [--block-size 1048576] [--no-ldm] [--only a,b]
//! ```
//!
//! Each variant compresses the streams the way v1 does (one zstd frame per stream, flushed
//! at every block end) and reports the body size (chunks plus an estimate of 6 varints of
//! block header per block). Variants:
//! - `base`: controls interleaved as varints `add, extra, zigzag(seek)` (what v1 writes);
//! - `diag`: `add, extra, zigzag(seek - extra)` (the change of the diagonal);
//! - `cols`: per block, all adds, then all extras, then all zigzag seeks;
//! - `fixed`: bsdiff's fixed 8-byte integers, zstd-compressed;
//! - `shared`: add and extra bytes in one stream (adds then extras per block);
//! - `indep`: every chunk an independent zstd frame (no history across blocks);
//! - `bz-add`: as `base` but the add stream compressed with bzip2 (whole stream; size only).

use std::io::Write;

use fwdelta_patch::{import_bsdiff40, ApplyOptions, Control};
use zstd::zstd_safe::CParameter;

struct Params {
    level: i32,
    wlog: u32,
    block: u64,
    ldm: bool,
}

fn zstream(p: &Params, chunks: &[Vec<u8>]) -> u64 {
    let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), p.level).unwrap();
    enc.set_parameter(CParameter::WindowLog(p.wlog)).unwrap();
    enc.set_parameter(CParameter::EnableLongDistanceMatching(p.ldm))
        .unwrap();
    enc.set_parameter(CParameter::ChecksumFlag(false)).unwrap();
    enc.set_pledged_src_size(Some(total)).unwrap();
    let mut size = 0u64;
    for (i, c) in chunks.iter().enumerate() {
        enc.write_all(c).unwrap();
        if i + 1 < chunks.len() {
            enc.flush().unwrap();
        }
    }
    let out = enc.finish().unwrap();
    size += out.len() as u64;
    size
}

fn zindep(p: &Params, chunks: &[Vec<u8>]) -> u64 {
    chunks
        .iter()
        .map(|c| {
            let mut enc = zstd::bulk::Compressor::new(p.level).unwrap();
            enc.set_parameter(CParameter::WindowLog(p.wlog)).unwrap();
            enc.set_parameter(CParameter::EnableLongDistanceMatching(p.ldm))
                .unwrap();
            enc.set_parameter(CParameter::ChecksumFlag(false)).unwrap();
            enc.compress(c).unwrap().len() as u64
        })
        .sum()
}

fn bz(data: &[u8]) -> u64 {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(9));
    e.write_all(data).unwrap();
    e.finish().unwrap().len() as u64
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zz(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Splits the script into blocks of `block` output bytes (as v1 does).
fn blocks(controls: &[Control], block: u64) -> Vec<Vec<Control>> {
    let mut out = vec![Vec::new()];
    let mut span = 0u64;
    for &c in controls {
        let mut c = c;
        loop {
            if span == block {
                out.push(Vec::new());
                span = 0;
            }
            let room = block - span;
            if c.add_len + c.extra_len <= room {
                out.last_mut().unwrap().push(c);
                span += c.add_len + c.extra_len;
                break;
            }
            let first = if room <= c.add_len {
                Control {
                    add_len: room,
                    extra_len: 0,
                    seek: 0,
                }
            } else {
                Control {
                    add_len: c.add_len,
                    extra_len: room - c.add_len,
                    seek: 0,
                }
            };
            out.last_mut().unwrap().push(first);
            span += room;
            c.add_len -= first.add_len;
            c.extra_len -= first.extra_len;
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut p = Params {
        level: 19,
        wlog: 23,
        block: 1 << 20,
        ldm: true,
    };
    let mut only: Option<Vec<String>> = None;
    let mut i = 3;
    while i < args.len() {
        let val = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--level" => p.level = val().parse().unwrap(),
            "--window-log" => p.wlog = val().parse().unwrap(),
            "--block-size" => p.block = val().parse().unwrap(),
            "--only" => only = Some(val().split(',').map(String::from).collect()),
            "--no-ldm" => {
                p.ldm = false;
                i -= 1;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let names = ["base", "diag", "cols", "fixed", "shared", "indep", "bz-add"];
    println!("| pair | bsdiff 4.3 | {} |", names.join(" | "));
    println!("|---|---:|{}", "---:|".repeat(names.len()));
    let mut totals = vec![0u64; names.len() + 1];
    let tsv = std::fs::read_to_string(&args[1]).unwrap();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let name = cols[0];
        if only.as_ref().is_some_and(|o| !o.iter().any(|x| x == name)) {
            continue;
        }
        let Ok(bsd) = std::fs::read(format!("{}/{}.bsdiff", args[2], name)) else {
            continue;
        };
        let src = std::fs::read(cols[1]).unwrap();
        let dst = std::fs::read(cols[2]).unwrap();
        let controls = import_bsdiff40(&bsd, &ApplyOptions::default()).unwrap();
        let blks = blocks(&controls, p.block);
        // Per-block raw streams.
        let (mut c_base, mut c_diag, mut c_cols, mut c_fixed) = (vec![], vec![], vec![], vec![]);
        let (mut adds, mut extras, mut shared) = (vec![], vec![], vec![]);
        let mut ctx: Vec<u8> = Vec::new();
        let (mut s, mut d) = (0i64, 0usize);
        for b in &blks {
            let (mut cb, mut cd, mut cf) = (vec![], vec![], vec![]);
            let (mut ca, mut ce, mut cs) = (vec![], vec![], vec![]);
            let (mut a_bytes, mut e_bytes) = (vec![], vec![]);
            for c in b {
                put(&mut cb, c.add_len);
                put(&mut cb, c.extra_len);
                put(&mut cb, zz(c.seek));
                put(&mut cd, c.add_len);
                put(&mut cd, c.extra_len);
                put(&mut cd, zz(c.seek - c.extra_len as i64));
                put(&mut ca, c.add_len);
                put(&mut ce, c.extra_len);
                put(&mut cs, zz(c.seek));
                for v in [c.add_len as i64, c.extra_len as i64, c.seek] {
                    cf.extend_from_slice(&v.to_le_bytes());
                }
                let (a, e) = (c.add_len as usize, c.extra_len as usize);
                if a > 0 {
                    let su = s as usize;
                    a_bytes.extend(
                        dst[d..d + a]
                            .iter()
                            .zip(&src[su..su + a])
                            .map(|(x, y)| x.wrapping_sub(*y)),
                    );
                    ctx.extend((su..su + a).map(|p| if p == 0 { 0 } else { src[p - 1] }));
                }
                e_bytes.extend_from_slice(&dst[d + a..d + a + e]);
                d += a + e;
                s += a as i64 + c.seek;
            }
            ca.extend(ce);
            ca.extend(cs);
            c_base.push(cb);
            c_diag.push(cd);
            c_cols.push(ca);
            c_fixed.push(cf);
            let mut sh = a_bytes.clone();
            sh.extend_from_slice(&e_bytes);
            shared.push(sh);
            adds.push(a_bytes);
            extras.push(e_bytes);
        }
        let hdr = 76 + 12 * blks.len() as u64;
        let za = zstream(&p, &adds);
        let ze = zstream(&p, &extras);
        let zc = zstream(&p, &c_base);
        let all_adds: Vec<u8> = adds.concat();
        if let Ok(dir) = std::env::var("LAYOUT_DUMP") {
            std::fs::write(format!("{dir}/{name}.add"), &all_adds).unwrap();
            std::fs::write(format!("{dir}/{name}.extra"), extras.concat()).unwrap();
            std::fs::write(format!("{dir}/{name}.ctrl"), c_base.concat()).unwrap();
            std::fs::write(format!("{dir}/{name}.ctx"), &ctx).unwrap();
        }
        let row = [
            hdr + zc + za + ze,
            hdr + zstream(&p, &c_diag) + za + ze,
            hdr + zstream(&p, &c_cols) + za + ze,
            hdr + zstream(&p, &c_fixed) + za + ze,
            hdr + zc + zstream(&p, &shared),
            hdr + zindep(&p, &c_base) + zindep(&p, &adds) + zindep(&p, &extras),
            hdr + zc + bz(&all_adds) + ze,
        ];
        totals[0] += bsd.len() as u64;
        for (t, v) in totals[1..].iter_mut().zip(row) {
            *t += v;
        }
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        println!("| {name} | {} | {} |", bsd.len(), cells.join(" | "));
        eprintln!(
            "{name}: ctrl {zc} add {za} extra {ze} (bz add {})",
            bz(&all_adds)
        );
    }
    let cells: Vec<String> = totals[1..].iter().map(|v| v.to_string()).collect();
    println!("| **total** | {} | {} |", totals[0], cells.join(" | "));
}
