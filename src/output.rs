//! Output files: written to a temporary file beside the target and renamed into place only when
//! complete, so a failed or interrupted run never leaves a half-written file under the name the
//! user asked for; and never an input.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The output path names one of the inputs.
#[derive(Debug, thiserror::Error)]
#[error("refusing to write {output}: it is the input {input} (choose another -o)")]
pub struct OutputIsInput {
    /// The requested output.
    pub output: PathBuf,
    /// The input it names.
    pub input: PathBuf,
}

/// Fails when `output` names the same file as any of `inputs` (same path after resolving
/// links, or the same inode through a hard link).
pub fn refuse_input_as_output(output: &Path, inputs: &[&Path]) -> Result<(), OutputIsInput> {
    let out_canon = canonical_even_if_missing(output);
    let out_meta = std::fs::metadata(output).ok();
    for input in inputs {
        let same_path = out_canon.is_some() && out_canon == canonical_even_if_missing(input);
        let same_inode = match (&out_meta, std::fs::metadata(input).ok()) {
            (Some(a), Some(b)) => same_file(a, &b),
            _ => false,
        };
        if same_path || same_inode {
            return Err(OutputIsInput {
                output: output.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// The canonical form of `path`, or of its parent joined with its file name when the file does
/// not exist yet.
fn canonical_even_if_missing(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

/// A file being written: a temporary file in the target's directory, renamed onto the target by
/// [`AtomicOutput::commit`]. Dropped without commit, the temporary file is removed.
#[derive(Debug)]
pub struct AtomicOutput {
    target: PathBuf,
    writer: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicOutput {
    /// Creates the temporary file beside `target`.
    pub fn create(target: &Path) -> anyhow::Result<Self> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a file path", target.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        Ok(Self {
            target: target.to_path_buf(),
            writer: BufWriter::with_capacity(1 << 20, tmp),
        })
    }

    /// The path of the temporary file (for re-reading what was written before commit).
    pub fn temp_path(&self) -> &Path {
        self.writer.get_ref().path()
    }

    /// Flushes, syncs and renames the temporary file onto the target.
    pub fn commit(self) -> anyhow::Result<()> {
        let target = self.target;
        let tmp = self
            .writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", target.display()))?;
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", target.display()))?;
        // Temporary files are created private (0600); a finished output is an ordinary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("cannot set permissions of {}", target.display()))?;
        }
        tmp.persist(&target).map_err(|e| e.error).with_context(|| {
            format!("cannot rename the finished file onto {}", target.display())
        })?;
        Ok(())
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_same_path_symlink_and_hardlink() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        std::fs::write(&a, b"x").unwrap();
        assert!(refuse_input_as_output(&a, &[&a]).is_err());
        let dotted = dir.path().join(".").join("a.bin");
        assert!(refuse_input_as_output(&dotted, &[&a]).is_err());
        let hard = dir.path().join("hard.bin");
        std::fs::hard_link(&a, &hard).unwrap();
        assert!(refuse_input_as_output(&hard, &[&a]).is_err());
        #[cfg(unix)]
        {
            let soft = dir.path().join("soft.bin");
            std::os::unix::fs::symlink(&a, &soft).unwrap();
            assert!(refuse_input_as_output(&soft, &[&a]).is_err());
        }
        let other = dir.path().join("new.bin");
        assert!(refuse_input_as_output(&other, &[&a]).is_ok());
    }

    #[test]
    fn uncommitted_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        {
            let mut out = AtomicOutput::create(&target).unwrap();
            out.write_all(b"half").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut out = AtomicOutput::create(&target).unwrap();
        out.write_all(b"whole").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o644,
                "finished outputs are not private temp files"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
