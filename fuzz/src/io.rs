//! The writer and reader the appliers are driven with.

use std::io::{self, Read, Write};

use md5::{Digest, Md5};

/// A writer that hashes and counts what it receives and **panics** if it is asked to take
/// more than `limit` bytes: an applier must refuse a patch before it writes past the
/// destination size it validated. It can also fail on purpose after `fail_after` bytes (a
/// full disk), and accepts at most `max_write` bytes per call (partial writes).
#[derive(Debug, Clone)]
pub struct CheckedWriter {
    limit: u64,
    written: u64,
    hasher: Md5,
    fail_after: Option<u64>,
    max_write: usize,
    keep: Option<Vec<u8>>,
}

impl CheckedWriter {
    /// A writer that panics past `limit` bytes.
    pub fn new(limit: u64) -> Self {
        CheckedWriter {
            limit,
            written: 0,
            hasher: Md5::new(),
            fail_after: None,
            max_write: usize::MAX,
            keep: None,
        }
    }

    /// Fails every write once `n` bytes have been taken.
    pub fn fail_after(mut self, n: Option<u64>) -> Self {
        self.fail_after = n;
        self
    }

    /// Takes at most `n` (at least 1) bytes per `write` call.
    pub fn max_write(mut self, n: usize) -> Self {
        self.max_write = n.max(1);
        self
    }

    /// Also keeps the bytes (for comparing outputs; only where they are small).
    pub fn keeping(mut self) -> Self {
        self.keep = Some(Vec::new());
        self
    }

    /// Bytes taken so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The bytes kept, if [`keeping`](Self::keeping).
    pub fn kept(&self) -> Option<&[u8]> {
        self.keep.as_deref()
    }

    /// Byte count and MD5 of everything taken.
    pub fn digest(&self) -> (u64, [u8; 16]) {
        (self.written, self.hasher.clone().finalize().into())
    }
}

impl Write for CheckedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = buf.len().min(self.max_write);
        if let Some(f) = self.fail_after {
            if self.written >= f {
                return Err(io::Error::other("injected write failure (disk full)"));
            }
            n = n.min(usize::try_from(f - self.written).unwrap_or(usize::MAX));
        }
        let after = self.written + n as u64;
        assert!(
            after <= self.limit,
            "the applier wrote {after} bytes, past the {} bytes it may write",
            self.limit
        );
        self.hasher.update(&buf[..n]);
        if let Some(k) = &mut self.keep {
            k.extend_from_slice(&buf[..n]);
        }
        self.written = after;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader over a slice that returns short reads (1..=`step` bytes, varying) and, if
/// asked, an `Interrupted` error before every few reads: a patch read from a pipe or socket.
#[derive(Debug, Clone)]
pub struct ShortReader<'a> {
    data: &'a [u8],
    step: usize,
    turn: usize,
    interrupt: bool,
}

impl<'a> ShortReader<'a> {
    /// A reader of `data` that returns at most `step` bytes per call.
    pub fn new(data: &'a [u8], step: usize, interrupt: bool) -> Self {
        ShortReader {
            data,
            step: step.max(1),
            turn: 0,
            interrupt,
        }
    }
}

impl Read for ShortReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.turn += 1;
        if self.interrupt && self.turn.is_multiple_of(5) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        // Vary the size: step, step/2+1, 1, step, ...
        let want = match self.turn % 3 {
            0 => self.step,
            1 => self.step / 2 + 1,
            _ => 1,
        };
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
