//! The Rust crate anchors (`bsdiff`, `qbsdiff`, `bidiff`/`bipatch`), run one operation per
//! process by `fwdelta-bench anchor NAME diff|apply ...` so that each is timed and its peak
//! RSS measured like every other tool. Each reads its inputs into memory, as the crates' own
//! examples and command-line tools do.

use std::fs;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// zstd level for the anchors whose own stream is uncompressed (`bsdiff`, `bidiff`).
pub const ZSTD_LEVEL: i32 = 19;

/// The names accepted by [`run`].
pub const NAMES: [&str; 3] = ["bsdiff", "qbsdiff", "bidiff"];

fn check_name(name: &str) -> Result<()> {
    if !NAMES.contains(&name) {
        bail!("unknown anchor {name:?} (one of {NAMES:?})");
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn create(path: &Path) -> Result<BufWriter<fs::File>> {
    Ok(BufWriter::new(
        fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    ))
}

/// Diffs `src` to `dst` into `patch` with the anchor `name`.
pub fn diff(name: &str, src: &Path, dst: &Path, patch: &Path) -> Result<()> {
    check_name(name)?;
    let (old, new) = (read(src)?, read(dst)?);
    let mut out = create(patch)?;
    match name {
        "bsdiff" => {
            let mut enc = zstd::Encoder::new(&mut out, ZSTD_LEVEL)?;
            bsdiff::diff(&old, &new, &mut enc)?;
            enc.finish()?;
        }
        "qbsdiff" => {
            qbsdiff::Bsdiff::new(&old, &new)
                .parallel_scheme(qbsdiff::ParallelScheme::Auto)
                .compression_level(9)
                .compare(&mut out)?;
        }
        "bidiff" => {
            let mut enc = zstd::Encoder::new(&mut out, ZSTD_LEVEL)?;
            bidiff::simple_diff(&old, &new, &mut enc)?;
            enc.finish()?;
        }
        other => bail!("unknown anchor {other:?} (one of {NAMES:?})"),
    }
    out.flush()?;
    Ok(())
}

/// Rebuilds `out` from `src` and `patch` with the anchor `name`.
pub fn apply(name: &str, src: &Path, patch: &Path, out: &Path) -> Result<()> {
    check_name(name)?;
    let mut w = create(out)?;
    match name {
        "bsdiff" => {
            let old = read(src)?;
            let mut dec = zstd::Decoder::new(fs::File::open(patch)?)?;
            let mut new = Vec::new();
            bsdiff::patch(&old, &mut dec, &mut new)?;
            w.write_all(&new)?;
        }
        "qbsdiff" => {
            let (old, p) = (read(src)?, read(patch)?);
            qbsdiff::Bspatch::new(&p)?.apply(&old, &mut w)?;
        }
        "bidiff" => {
            // bipatch reads the source through Seek, as on a device.
            let dec = zstd::Decoder::new(fs::File::open(patch)?)?;
            let old = BufReader::new(fs::File::open(src)?);
            let mut r = bipatch::Reader::new(dec, old)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            io::copy(&mut r, &mut w)?;
        }
        other => bail!("unknown anchor {other:?} (one of {NAMES:?})"),
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen;
    use std::io::Read;

    /// Diffs and applies through files: returns (patch bytes, rebuilt image).
    fn round_trip(name: &str, old: &[u8], new: &[u8]) -> Result<(usize, Vec<u8>)> {
        let dir = tempfile::tempdir()?;
        let p = |f: &str| dir.path().join(f);
        fs::write(p("s"), old)?;
        fs::write(p("d"), new)?;
        diff(name, &p("s"), &p("d"), &p("p"))?;
        apply(name, &p("s"), &p("p"), &p("o"))?;
        let mut rebuilt = Vec::new();
        fs::File::open(p("o"))?.read_to_end(&mut rebuilt)?;
        Ok((fs::metadata(p("p"))?.len() as usize, rebuilt))
    }

    #[test]
    fn every_anchor_round_trips_a_firmware_edit() {
        let old = gen::firmware_image(5, 200_000);
        let new = gen::edit_image(5, &old);
        for name in NAMES {
            let (n, rebuilt) = round_trip(name, &old, &new).unwrap();
            assert!(rebuilt == new, "{name}: round trip differs");
            assert!(
                n < new.len() / 4,
                "{name}: patch of {n} bytes is not a delta"
            );
        }
    }

    #[test]
    fn unknown_anchor_is_an_error() {
        let d = Path::new("/nonexistent");
        let e = diff("nope", d, d, d).unwrap_err().to_string();
        assert!(e.contains("unknown anchor"), "{e}");
        assert!(apply("nope", d, d, d).is_err());
    }
}
