//! Read-only file mapping: the only `unsafe` in this crate.
#![allow(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::path::Path;

/// The bytes of a file, memory-mapped when it is a non-empty regular file.
///
/// Dereferences to `&[u8]`. An empty file (which cannot be mapped) and a non-regular file
/// (a pipe, a character device) are read into memory instead, so every readable path works.
///
/// A mapping reflects the file on disk: if another process truncates or rewrites the file while
/// it is mapped, reads may fault or see the new bytes. fwdelta checks the MD5 of what it rebuilds,
/// so a file changed under it is caught; do not diff files that are being written.
pub struct Mapped {
    inner: Inner,
}

enum Inner {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Map(_) => "mapped",
            Inner::Owned(_) => "owned",
        };
        f.debug_struct("Mapped")
            .field("kind", &kind)
            .field("len", &self.len())
            .finish()
    }
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Map(m) => m,
            Inner::Owned(v) => v,
        }
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// Maps `path` read-only.
///
/// Returns the file's bytes: a memory map for a non-empty regular file, an owned buffer for an
/// empty or non-regular file (mapping zero bytes is an error on every platform).
///
/// # Errors
/// Any error from opening, inspecting, mapping or reading the file.
pub fn map_file(path: &Path) -> io::Result<Mapped> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        return Ok(Mapped {
            inner: Inner::Owned(buf),
        });
    }
    // SAFETY: the map is read-only and private to this value; it stays valid while `Mapped` lives
    // (memmap2 keeps its own handle). Undefined behaviour is only possible if another process
    // truncates or modifies the file while it is mapped, which the type's documentation excludes
    // and fwdelta detects afterwards through the MD5 of the rebuilt image.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Mapped {
        inner: Inner::Map(map),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_regular_and_empty_files() {
        let dir = std::env::temp_dir().join(format!("fwdelta-diff-mmap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let full = dir.join("full.bin");
        let empty = dir.join("empty.bin");
        std::fs::File::create(&full)
            .unwrap()
            .write_all(b"firmware")
            .unwrap();
        std::fs::File::create(&empty).unwrap();
        let m = map_file(&full).unwrap();
        assert_eq!(&*m, b"firmware");
        assert!(format!("{m:?}").contains("mapped"));
        let e = map_file(&empty).unwrap();
        assert!(e.is_empty());
        assert!(map_file(&dir.join("missing.bin")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
