//! Writes the golden patches of `tests/data/golden/` (committed; every later version of
//! the crate must keep applying them, see `tests/golden.rs`).
//!
//! ```text
//! cargo run -p fwdelta-patch --example golden -- tests/data/golden [--force]
//! ```
//!
//! Existing files are kept unless `--force` is given: regenerate only to add a case or when
//! a new format version is introduced (then keep the old files under a new name).
//! Each case directory holds `src.bin`, `dst.bin`, `patch.fwdelta` (v1 with the original
//! three-stream body), `patch-zr.fwdelta` (v1 with `FLAG_ZERO_RUNS`), `patch.bsdiff40`
//! (our BSDIFF40 export), `patch.raw` (the `bsdiff` crate's stream) and, when
//! `/usr/bin/bsdiff` exists, `bsdiff43.bsdiff40` made by Debian's bsdiff 4.3.

use std::path::Path;

use fwdelta_patch::{encode, Control, EncodeOptions, Format};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn c(add_len: u64, extra_len: u64, seek: i64) -> Control {
    Control {
        add_len,
        extra_len,
        seek,
    }
}

/// A golden case: name, source, destination, edit script.
type Case = (&'static str, Vec<u8>, Vec<u8>, Vec<Control>);

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x0601_de11);
    // 1. Edits: a changed constant, an insertion, trailing 0xFF padding shortened.
    let mut src: Vec<u8> = (0..5000).map(|_| (rng.next() % 48) as u8).collect();
    src.extend(std::iter::repeat_n(0xFF, 1000));
    let mut dst = src.clone();
    dst[1234] ^= 0x5a;
    dst.splice(3000..3000, b"NEW CODE HERE".iter().copied());
    dst.truncate(dst.len() - 400);
    let edits = vec![c(3000, 13, 0), c(src.len() as u64 - 3000 - 400, 0, 0)];
    // 2. x86-like code whose call displacements all moved by -32: exercises the
    //    context-grouped add order (two full blocks of add bytes).
    let mut x86 = Vec::new();
    while x86.len() < 8192 {
        x86.push(0xE8);
        x86.extend_from_slice(&((rng.next() % 0x10000) as u32 + 0x100).to_le_bytes());
        for _ in 0..(3 + rng.next() % 20) {
            x86.push((rng.next() % 0xE0) as u8 + 0x10);
        }
    }
    x86.truncate(8192);
    let mut x86_new = x86.clone();
    for i in 0..x86.len() - 4 {
        if x86[i] == 0xE8 && i + 1 < x86.len() {
            x86_new[i + 1] = x86[i + 1].wrapping_sub(32);
        }
    }
    let x86_script = vec![c(8192, 0, 0)];
    // 3. Moves: two halves swapped around a literal, with negative seeks.
    let moves_src: Vec<u8> = (0..4000).map(|_| (rng.next() % 251) as u8).collect();
    let mut moves_dst = moves_src[2000..].to_vec();
    moves_dst.extend_from_slice(b"-- literal --");
    moves_dst.extend_from_slice(&moves_src[..2000]);
    let moves_script = vec![c(0, 0, 2000), c(2000, 13, -4000), c(2000, 0, 0)];
    vec![
        ("edits", src, dst, edits),
        ("x86-calls", x86, x86_new, x86_script),
        ("moves", moves_src, moves_dst, moves_script),
    ]
}

fn write(path: &Path, bytes: &[u8], force: bool) {
    if path.exists() && !force {
        println!("kept    {}", path.display());
        return;
    }
    std::fs::write(path, bytes).unwrap();
    println!("wrote   {} ({} bytes)", path.display(), bytes.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("tests/data/golden"),
    );
    let force = args.iter().any(|a| a == "--force");
    let mut opts = EncodeOptions::default();
    opts.block_size = 4096;
    for (name, src, dst, script) in cases() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir.join("src.bin"), &src, force);
        write(&dir.join("dst.bin"), &dst, force);
        for (format, zero_runs, file) in [
            (Format::Fwdelta, false, "patch.fwdelta"),
            (Format::Fwdelta, true, "patch-zr.fwdelta"),
            (Format::Bsdiff40, false, "patch.bsdiff40"),
            (Format::Raw, false, "patch.raw"),
        ] {
            opts.zero_runs = zero_runs;
            let mut patch = Vec::new();
            let sum = encode(format, &src, &dst, &script, &opts, &mut patch).unwrap();
            if format == Format::Fwdelta {
                println!(
                    "{name}: {} blocks, {} grouped",
                    sum.blocks, sum.grouped_blocks
                );
            }
            write(&dir.join(file), &patch, force);
        }
        let theirs = dir.join("bsdiff43.bsdiff40");
        if Path::new("/usr/bin/bsdiff").exists() && (force || !theirs.exists()) {
            let st = std::process::Command::new("/usr/bin/bsdiff")
                .arg(dir.join("src.bin"))
                .arg(dir.join("dst.bin"))
                .arg(&theirs)
                .status()
                .unwrap();
            assert!(st.success());
            println!("wrote   {} (Debian bsdiff 4.3)", theirs.display());
        }
    }
}
