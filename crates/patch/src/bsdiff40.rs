//! BSDIFF40: the format of bsdiff 4.x (Colin Percival), applied by the classic `bspatch`.
//!
//! Layout: a 32-byte header (`"BSDIFF40"`, then three 8-byte sign-magnitude integers: the
//! compressed length of the control stream, the compressed length of the diff stream, and
//! the destination size), then three bzip2 streams: controls (triples of 8-byte
//! sign-magnitude integers: add length, extra length, seek), add bytes, extra bytes.

use std::io::{self, Write};

use bzip2::read::BzDecoder;
use bzip2::write::BzEncoder;
use bzip2::Compression;

use crate::sink::{add_source, read_full, Sink, CHUNK};
use crate::{ApplyOptions, Control, EncodeSummary, Format, PatchError};

/// The magic number at the start of every BSDIFF40 patch.
pub(crate) const MAGIC: &[u8; 8] = b"BSDIFF40";
/// Length of the header.
pub(crate) const HEADER_LEN: u64 = 32;

/// Decodes bsdiff's 8-byte sign-magnitude little-endian integer.
pub(crate) fn offtin(b: [u8; 8]) -> i64 {
    let v = u64::from_le_bytes(b);
    let mag = (v & !(1u64 << 63)) as i64;
    if v >> 63 == 1 {
        -mag
    } else {
        mag
    }
}

/// Encodes bsdiff's 8-byte sign-magnitude little-endian integer (`i64::MIN` has no encoding).
pub(crate) fn offtout(x: i64) -> Option<[u8; 8]> {
    if x == i64::MIN {
        return None;
    }
    let mut v = x.unsigned_abs();
    if x < 0 {
        v |= 1 << 63;
    }
    Some(v.to_le_bytes())
}

/// The BSDIFF40 header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) ctrl_len: u64,
    pub(crate) diff_len: u64,
    pub(crate) new_size: u64,
}

impl Header {
    /// Parses and checks the header against the patch length.
    pub(crate) fn parse(patch: &[u8]) -> Result<Header, PatchError> {
        let Some(h) = patch.get(..HEADER_LEN as usize) else {
            return Err(PatchError::Truncated {
                offset: patch.len() as u64,
                what: "BSDIFF40 header",
            });
        };
        if &h[..8] != MAGIC {
            return Err(PatchError::UnknownFormat {
                magic: h[..8].to_vec(),
            });
        }
        let field = |i: usize, what: &str| -> Result<u64, PatchError> {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[8 * i..8 * i + 8]);
            u64::try_from(offtin(b)).map_err(|_| {
                PatchError::corrupt(8 * i as u64, format!("BSDIFF40 {what} is negative"))
            })
        };
        let header = Header {
            ctrl_len: field(1, "control stream length")?,
            diff_len: field(2, "diff stream length")?,
            new_size: field(3, "destination size")?,
        };
        let need = HEADER_LEN
            .checked_add(header.ctrl_len)
            .and_then(|v| v.checked_add(header.diff_len));
        match need {
            Some(n) if n <= patch.len() as u64 => Ok(header),
            _ => Err(PatchError::Truncated {
                offset: patch.len() as u64,
                what: "BSDIFF40 control and diff streams",
            }),
        }
    }

    fn streams<'a>(&self, patch: &'a [u8]) -> [(&'a [u8], u64); 3] {
        // Bounds were checked by `parse`.
        let c0 = HEADER_LEN as usize;
        let d0 = c0 + self.ctrl_len as usize;
        let e0 = d0 + self.diff_len as usize;
        [
            (&patch[c0..d0], c0 as u64),
            (&patch[d0..e0], d0 as u64),
            (&patch[e0..], e0 as u64),
        ]
    }
}

/// Reads from one of the three bzip2 streams, turning errors into patch errors.
struct Stream<'a> {
    dec: BzDecoder<&'a [u8]>,
    start: u64,
    end: u64,
    name: &'static str,
    produced: u64,
}

impl<'a> Stream<'a> {
    fn new((bytes, start): (&'a [u8], u64), name: &'static str) -> Self {
        Stream {
            dec: BzDecoder::new(bytes),
            start,
            end: start + bytes.len() as u64,
            name,
            produced: 0,
        }
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), PatchError> {
        let n = read_full(&mut self.dec, buf).map_err(|e| self.error(e))?;
        self.produced += n as u64;
        if n < buf.len() {
            return Err(PatchError::corrupt(
                self.start,
                format!(
                    "BSDIFF40 {} stream ends after {} bytes, the controls need more",
                    self.name, self.produced
                ),
            ));
        }
        Ok(())
    }

    /// Reads the stream to its end (which checks bzip2's end marker and CRC); fails if it
    /// holds more than `allowed` bytes the controls did not use.
    fn finish(&mut self, allowed: u64) -> Result<(), PatchError> {
        let mut buf = [0u8; 256];
        let mut left_over = 0u64;
        loop {
            let n = read_full(&mut self.dec, &mut buf).map_err(|e| self.error(e))?;
            if n == 0 {
                return Ok(());
            }
            left_over += n as u64;
            if left_over > allowed {
                return Err(PatchError::corrupt(
                    self.start,
                    format!(
                        "BSDIFF40 {} stream holds data the controls do not use",
                        self.name
                    ),
                ));
            }
        }
    }

    fn error(&self, e: io::Error) -> PatchError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            PatchError::Truncated {
                offset: self.end,
                what: self.name,
            }
        } else {
            PatchError::corrupt(
                self.start,
                format!("BSDIFF40 {} stream: bzip2: {e}", self.name),
            )
        }
    }
}

/// Reads controls from the control stream, checking each against the declared size.
struct ControlReader<'a> {
    stream: Stream<'a>,
    new_size: u64,
    covered: u64,
}

impl ControlReader<'_> {
    /// The next control, or `None` once the destination is covered.
    fn next(&mut self) -> Result<Option<Control>, PatchError> {
        if self.covered == self.new_size {
            return Ok(None);
        }
        let mut rec = [0u8; 24];
        self.stream.fill(&mut rec)?;
        let int = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[8 * i..8 * i + 8]);
            offtin(b)
        };
        let at = self.stream.start;
        let (add, extra, seek) = (int(0), int(1), int(2));
        let (Ok(add_len), Ok(extra_len)) = (u64::try_from(add), u64::try_from(extra)) else {
            return Err(PatchError::corrupt(
                at,
                "BSDIFF40 control with a negative length",
            ));
        };
        match add_len
            .checked_add(extra_len)
            .and_then(|c| c.checked_add(self.covered))
        {
            Some(end) if end <= self.new_size => self.covered = end,
            _ => {
                return Err(PatchError::corrupt(
                    at,
                    format!(
                        "BSDIFF40 control covers past the declared destination size {}",
                        self.new_size
                    ),
                ))
            }
        }
        Ok(Some(Control {
            add_len,
            extra_len,
            seek,
        }))
    }
}

/// Decodes the edit script of a BSDIFF40 patch (for re-encoding in another format).
///
/// Steps that produce nothing are merged into the seek of the step before them, so the
/// result has at most one step per destination byte; the declared destination size is
/// checked against `opts.max_output_size` first.
pub fn import_bsdiff40(patch: &[u8], opts: &ApplyOptions) -> Result<Vec<Control>, PatchError> {
    let header = Header::parse(patch)?;
    check_size(header.new_size, opts)?;
    let [ctrl, _, _] = header.streams(patch);
    let mut reader = ControlReader {
        stream: Stream::new(ctrl, "control"),
        new_size: header.new_size,
        covered: 0,
    };
    let mut out: Vec<Control> = Vec::new();
    while let Some(c) = reader.next()? {
        if c.add_len == 0 && c.extra_len == 0 {
            if let Some(last) = out.last_mut() {
                last.seek = last
                    .seek
                    .checked_add(c.seek)
                    .ok_or_else(|| PatchError::corrupt(HEADER_LEN, "BSDIFF40 seeks overflow"))?;
                continue;
            }
        }
        out.push(c);
    }
    Ok(out)
}

fn check_size(new_size: u64, opts: &ApplyOptions) -> Result<(), PatchError> {
    if new_size > opts.max_output_size {
        return Err(PatchError::LimitExceeded {
            what: "declared destination size",
            value: new_size,
            limit: opts.max_output_size,
        });
    }
    Ok(())
}

/// Applies a BSDIFF40 patch in one pass over its three streams (read in parallel from the
/// slice, so memory is three bzip2 decoders, about 3 x 3.6 MB at level 9, plus a 64 KiB buffer).
///
/// Stricter than bspatch 4.3 in one respect: an add range outside the source is an error
/// (bspatch reads it as zeros); bsdiff never writes one.
pub(crate) fn apply<W: Write>(
    src: &[u8],
    patch: &[u8],
    out: W,
    opts: &ApplyOptions,
) -> Result<(u64, [u8; 16]), PatchError> {
    let header = Header::parse(patch)?;
    check_size(header.new_size, opts)?;
    let [ctrl, diff, extra] = header.streams(patch);
    let mut controls = ControlReader {
        stream: Stream::new(ctrl, "control"),
        new_size: header.new_size,
        covered: 0,
    };
    let mut diff = Stream::new(diff, "diff");
    let mut extra = Stream::new(extra, "extra");
    let mut sink = Sink::new(out, header.new_size, "output size");
    let mut buf = vec![0u8; CHUNK];
    let mut oldpos: i64 = 0;
    while let Some(c) = controls.next()? {
        let at = controls.stream.start;
        // The add range must lie inside the source.
        let start = usize::try_from(oldpos).ok();
        let range = start.and_then(|s| Some(s..s.checked_add(usize::try_from(c.add_len).ok()?)?));
        let src_part = match range.and_then(|r| src.get(r)) {
            Some(part) => part,
            None if c.add_len == 0 => &[][..],
            None => {
                return Err(PatchError::corrupt(
                    at,
                    format!(
                        "BSDIFF40 add range at source offset {oldpos} (length {}) lies outside the {}-byte source",
                        c.add_len,
                        src.len()
                    ),
                ))
            }
        };
        for piece in src_part.chunks(CHUNK) {
            let b = &mut buf[..piece.len()];
            diff.fill(b)?;
            add_source(b, piece);
            sink.put(b)?;
        }
        let mut left = c.extra_len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            extra.fill(&mut buf[..n])?;
            sink.put(&buf[..n])?;
            left -= n as u64;
        }
        oldpos = oldpos
            .checked_add(c.add_len as i64)
            .and_then(|v| v.checked_add(c.seek))
            .ok_or_else(|| PatchError::corrupt(at, "BSDIFF40 source cursor overflows"))?;
    }
    // Check that every stream ends where the controls say (and its CRC). Some writers add
    // a final empty control, so a few spare control records are tolerated.
    controls.stream.finish(24 * 4)?;
    diff.finish(0)?;
    extra.finish(0)?;
    sink.finish()
}

/// Writes a BSDIFF40 patch for a validated, empty-merged script.
pub(crate) fn encode<W: Write>(
    src: &[u8],
    dst: &[u8],
    controls: &[Control],
    level: u32,
    out: W,
) -> Result<EncodeSummary, PatchError> {
    let compression = Compression::new(level);
    let enc_err = |e: io::Error| PatchError::Io {
        context: "compressing with bzip2",
        source: e,
    };
    let mut ctrl = BzEncoder::new(Vec::new(), compression);
    let mut diff = BzEncoder::new(Vec::new(), compression);
    let mut extra = BzEncoder::new(Vec::new(), compression);
    let (mut s, mut d) = (0i64, 0usize);
    let (mut add_total, mut extra_total) = (0u64, 0u64);
    let mut delta = Vec::with_capacity(CHUNK);
    for (index, c) in controls.iter().enumerate() {
        for v in [c.add_len as i64, c.extra_len as i64, c.seek] {
            let bytes = offtout(v).ok_or_else(|| PatchError::InvalidControls {
                index,
                what: "a seek of i64::MIN has no BSDIFF40 encoding".into(),
            })?;
            ctrl.write_all(&bytes).map_err(enc_err)?;
        }
        let (a, e) = (c.add_len as usize, c.extra_len as usize);
        if a > 0 {
            // Validated: the add range lies inside the source.
            let su = s as usize;
            for off in (0..a).step_by(CHUNK) {
                let n = CHUNK.min(a - off);
                delta.clear();
                delta.extend(
                    dst[d + off..d + off + n]
                        .iter()
                        .zip(&src[su + off..su + off + n])
                        .map(|(x, y)| x.wrapping_sub(*y)),
                );
                diff.write_all(&delta).map_err(enc_err)?;
            }
        }
        extra.write_all(&dst[d + a..d + a + e]).map_err(enc_err)?;
        add_total += c.add_len;
        extra_total += c.extra_len;
        d += a + e;
        // Validated: no overflow.
        s = s + a as i64 + c.seek;
    }
    let ctrl = ctrl.finish().map_err(enc_err)?;
    let diff = diff.finish().map_err(enc_err)?;
    let extra = extra.finish().map_err(enc_err)?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    for v in [ctrl.len() as i64, diff.len() as i64, dst.len() as i64] {
        header.extend_from_slice(&offtout(v).unwrap_or([0; 8]));
    }
    let mut out = out;
    for part in [&header, &ctrl, &diff, &extra] {
        out.write_all(part).map_err(PatchError::write)?;
    }
    out.flush().map_err(PatchError::write)?;
    Ok(EncodeSummary {
        format: Format::Bsdiff40,
        patch_size: (header.len() + ctrl.len() + diff.len() + extra.len()) as u64,
        controls: controls.len() as u64,
        add_bytes: add_total,
        extra_bytes: extra_total,
        stream_sizes: [ctrl.len() as u64, diff.len() as u64, extra.len() as u64],
        blocks: 0,
        grouped_blocks: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_magnitude() {
        for v in [0i64, 1, -1, 1 << 40, -(1 << 40), i64::MAX, -i64::MAX] {
            assert_eq!(offtin(offtout(v).unwrap()), v);
        }
        assert_eq!(offtout(-1).unwrap(), [1, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(offtout(i64::MIN), None);
        // "Negative zero" decodes to zero, as in bspatch.
        assert_eq!(offtin([0, 0, 0, 0, 0, 0, 0, 0x80]), 0);
    }
}
