//! Output plumbing shared by the appliers.

use std::io::{self, Read, Write};

use md5::{Digest, Md5};

use crate::PatchError;

/// Size of the fixed buffers the appliers read through.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The output side of an applier: writes, hashes and counts, and refuses to pass a limit.
pub(crate) struct Sink<W: Write> {
    w: W,
    hasher: Md5,
    written: u64,
    limit: u64,
    limit_what: &'static str,
}

impl<W: Write> Sink<W> {
    pub(crate) fn new(w: W, limit: u64, limit_what: &'static str) -> Self {
        Sink {
            w,
            hasher: Md5::new(),
            written: 0,
            limit,
            limit_what,
        }
    }

    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Room left before the limit.
    pub(crate) fn room(&self) -> u64 {
        self.limit - self.written
    }

    /// Fails with `LimitExceeded` if `n` more bytes would pass the limit.
    pub(crate) fn reserve(&self, n: u64) -> Result<(), PatchError> {
        match self.written.checked_add(n) {
            Some(total) if total <= self.limit => Ok(()),
            total => Err(PatchError::LimitExceeded {
                what: self.limit_what,
                value: total.unwrap_or(u64::MAX),
                limit: self.limit,
            }),
        }
    }

    pub(crate) fn put(&mut self, buf: &[u8]) -> Result<(), PatchError> {
        self.reserve(buf.len() as u64)?;
        self.w.write_all(buf).map_err(PatchError::write)?;
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        Ok(())
    }

    /// Flushes the writer; returns the byte count and MD5 of everything written.
    pub(crate) fn finish(mut self) -> Result<(u64, [u8; 16]), PatchError> {
        self.w.flush().map_err(PatchError::write)?;
        Ok((self.written, self.hasher.finalize().into()))
    }
}

/// `delta[i] += src[i]` (wrapping), the bsdiff "add" step.
pub(crate) fn add_source(delta: &mut [u8], src: &[u8]) {
    for (d, s) in delta.iter_mut().zip(src) {
        *d = d.wrapping_add(*s);
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A reader that counts the bytes it has delivered, for error offsets.
pub(crate) struct CountingReader<R> {
    pub(crate) inner: R,
    pub(crate) pos: u64,
}

impl<R: Read> CountingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        CountingReader { inner, pos: 0 }
    }

    /// Fills `buf` completely or fails with `Truncated` at the offset where the patch ended.
    pub(crate) fn read_exact_or(
        &mut self,
        buf: &mut [u8],
        what: &'static str,
    ) -> Result<(), PatchError> {
        let n = read_full(&mut self.inner, buf).map_err(PatchError::read)?;
        self.pos += n as u64;
        if n < buf.len() {
            return Err(PatchError::Truncated {
                offset: self.pos,
                what,
            });
        }
        Ok(())
    }

    /// Reads one byte, or `None` at the end of the patch.
    pub(crate) fn read_byte(&mut self) -> Result<Option<u8>, PatchError> {
        let mut b = [0u8; 1];
        let n = read_full(&mut self.inner, &mut b).map_err(PatchError::read)?;
        self.pos += n as u64;
        Ok((n == 1).then_some(b[0]))
    }

    /// Reads one LEB128 varint byte by byte.
    pub(crate) fn read_varint(&mut self, what: &'static str) -> Result<u64, PatchError> {
        let start = self.pos;
        let mut bytes = [0u8; crate::varint::MAX_LEN];
        for slot in bytes.iter_mut() {
            let Some(b) = self.read_byte()? else {
                return Err(PatchError::Truncated {
                    offset: self.pos,
                    what,
                });
            };
            *slot = b;
            if b & 0x80 == 0 {
                break;
            }
        }
        match crate::varint::get(&bytes) {
            Ok((v, _)) => Ok(v),
            Err(crate::varint::VarintError::Truncated) => Err(PatchError::Truncated {
                offset: self.pos,
                what,
            }),
            Err(crate::varint::VarintError::Invalid(why)) => {
                Err(PatchError::corrupt(start, format!("{what}: {why}")))
            }
        }
    }
}
