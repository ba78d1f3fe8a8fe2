//! Corpus directories: `pairs.tsv` plus `pairs/<name>/{src,dst}.bin`, as written by
//! `benches/corpus/fetch.sh` (real firmware) and `fwdelta-bench gen` (generated pairs).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::gen;

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A line of `pairs.tsv` is malformed.
    #[error("{path}:{line}: {reason}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a pair comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// Two released versions of real firmware or a real binary.
    Firmware,
    /// A generated pair (pathological or firmware-like), see [`gen::GENERATED`].
    Generated,
}

/// One source/destination image pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// Unique name.
    pub name: String,
    /// Where it comes from.
    pub kind: PairKind,
    /// Path of the old image.
    pub src: PathBuf,
    /// Path of the new image.
    pub dst: PathBuf,
    /// Size of the old image in bytes.
    pub src_size: u64,
    /// Size of the new image in bytes.
    pub dst_size: u64,
    /// MD5 of the old image (hex), as listed.
    pub src_md5: String,
    /// MD5 of the new image (hex), as listed.
    pub dst_md5: String,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CorpusError + '_ {
    move |source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `DIR/pairs.tsv`. Relative image paths are taken relative to `DIR`; an absolute path
/// that no longer exists (the corpus was moved) falls back to `DIR/pairs/<name>/{src,dst}.bin`.
/// Pairs whose name starts with `gen-` are [`PairKind::Generated`].
pub fn read_corpus(dir: &Path) -> Result<Vec<Pair>, CorpusError> {
    let path = dir.join("pairs.tsv");
    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 || line.trim().is_empty() {
            continue; // header
        }
        let bad = |reason: String| CorpusError::BadLine {
            path: path.clone(),
            line: i + 1,
            reason,
        };
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 {
            return Err(bad(format!(
                "expected 7 tab-separated fields, found {}",
                f.len()
            )));
        }
        let size = |s: &str| {
            s.parse::<u64>()
                .map_err(|e| bad(format!("size {s:?}: {e}")))
        };
        let md5 = |s: &str| {
            if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(s.to_ascii_lowercase())
            } else {
                Err(bad(format!("not an MD5: {s:?}")))
            }
        };
        let name = f[0].to_string();
        if name.is_empty() || name.contains('/') {
            return Err(bad(format!("bad pair name {name:?}")));
        }
        let locate = |p: &str, file: &str| {
            let p = Path::new(p);
            let p = if p.is_relative() {
                dir.join(p)
            } else {
                p.to_path_buf()
            };
            if p.exists() {
                p
            } else {
                dir.join("pairs").join(&name).join(file)
            }
        };
        pairs.push(Pair {
            kind: if name.starts_with("gen-") {
                PairKind::Generated
            } else {
                PairKind::Firmware
            },
            src: locate(f[1], "src.bin"),
            dst: locate(f[2], "dst.bin"),
            src_size: size(f[3])?,
            dst_size: size(f[4])?,
            src_md5: md5(f[5])?,
            dst_md5: md5(f[6])?,
            name,
        });
    }
    Ok(pairs)
}

/// Streams a file through MD5; returns (hex digest, size).
pub fn file_md5(path: &Path) -> io::Result<(String, u64)> {
    let mut f = fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Writes the generated pairs `names` (all of [`gen::GENERATED`] when empty) with a source
/// size of `size` bytes under `dir`, in the corpus layout, and returns them.
pub fn write_generated(
    dir: &Path,
    names: &[String],
    size: usize,
) -> Result<Vec<Pair>, CorpusError> {
    let wanted: Vec<&str> = if names.is_empty() {
        gen::GENERATED.iter().map(|(n, _)| *n).collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let mut pairs = Vec::new();
    for name in wanted {
        let Some((src, dst)) = gen::generate(name, size) else {
            return Err(CorpusError::BadLine {
                path: PathBuf::from("<generated>"),
                line: 0,
                reason: format!("unknown generated pair {name:?}"),
            });
        };
        let pd = dir.join("pairs").join(name);
        fs::create_dir_all(&pd).map_err(io_err(&pd))?;
        let (sp, dp) = (pd.join("src.bin"), pd.join("dst.bin"));
        fs::write(&sp, &src).map_err(io_err(&sp))?;
        fs::write(&dp, &dst).map_err(io_err(&dp))?;
        pairs.push(Pair {
            name: name.to_string(),
            kind: PairKind::Generated,
            src_size: src.len() as u64,
            dst_size: dst.len() as u64,
            src_md5: hex::encode(Md5::digest(&src)),
            dst_md5: hex::encode(Md5::digest(&dst)),
            src: sp,
            dst: dp,
        });
    }
    let tsv = dir.join("pairs.tsv");
    let mut out = Vec::new();
    writeln!(out, "name\tsrc\tdst\tsrc_size\tdst_size\tsrc_md5\tdst_md5").expect("vec write");
    for p in &pairs {
        writeln!(
            out,
            "{}\tpairs/{}/src.bin\tpairs/{}/dst.bin\t{}\t{}\t{}\t{}",
            p.name, p.name, p.name, p.src_size, p.dst_size, p.src_md5, p.dst_md5
        )
        .expect("vec write");
    }
    fs::write(&tsv, out).map_err(io_err(&tsv))?;
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_corpus_round_trips_through_tsv() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_generated(dir.path(), &["gen-zero16m".into()], 4096).unwrap();
        let read = read_corpus(dir.path()).unwrap();
        assert_eq!(written, read);
        assert_eq!(read[0].kind, PairKind::Generated);
        let (md5, size) = file_md5(&read[0].dst).unwrap();
        assert_eq!(
            (md5.as_str(), size),
            (read[0].dst_md5.as_str(), read[0].dst_size)
        );
    }

    #[test]
    fn malformed_lines_are_rejected_with_their_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = dir.path().join("pairs.tsv");
        let header = "name\tsrc\tdst\tsrc_size\tdst_size\tsrc_md5\tdst_md5\n";
        let md5 = "0123456789abcdef0123456789abcdef";
        for (body, want) in [
            ("a\tb\tc\n".to_string(), "expected 7"),
            (format!("a\ts\td\tx\t1\t{md5}\t{md5}\n"), "size"),
            (format!("a\ts\td\t1\t1\tzz\t{md5}\n"), "not an MD5"),
            (format!("a/b\ts\td\t1\t1\t{md5}\t{md5}\n"), "bad pair name"),
        ] {
            fs::write(&tsv, format!("{header}{body}")).unwrap();
            match read_corpus(dir.path()) {
                Err(CorpusError::BadLine { line, reason, .. }) => {
                    assert_eq!(line, 2);
                    assert!(reason.contains(want), "{reason}");
                }
                other => panic!("expected BadLine, got {other:?}"),
            }
        }
        assert!(matches!(
            read_corpus(&dir.path().join("missing")),
            Err(CorpusError::Io { .. })
        ));
    }

    #[test]
    fn firmware_pairs_resolve_moved_paths() {
        let dir = tempfile::tempdir().unwrap();
        let pd = dir.path().join("pairs/fw");
        fs::create_dir_all(&pd).unwrap();
        fs::write(pd.join("src.bin"), b"a").unwrap();
        fs::write(pd.join("dst.bin"), b"b").unwrap();
        let md5 = "0123456789abcdef0123456789abcdef";
        fs::write(
            dir.path().join("pairs.tsv"),
            format!("h\n\nfw\t/gone/src.bin\t/gone/dst.bin\t1\t1\t{md5}\t{md5}\n"),
        )
        .unwrap();
        let p = &read_corpus(dir.path()).unwrap()[0];
        assert_eq!(p.kind, PairKind::Firmware);
        assert_eq!(p.src, pd.join("src.bin"));
        assert_eq!(p.dst, pd.join("dst.bin"));
    }
}
