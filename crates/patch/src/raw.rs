//! The raw stream of the `bsdiff` Rust crate (0.2), applied by `bsdiff::patch`.
//!
//! No header and no compression: for each step, 24 bytes (add length and extra length as
//! unsigned 64-bit little-endian, then the seek as bsdiff's sign-magnitude 64-bit integer),
//! then the add bytes (destination minus source), then the extra bytes. The stream ends at a
//! step boundary.

use std::io::{Read, Write};

use crate::bsdiff40::{offtin, offtout};
use crate::sink::{add_source, CountingReader, Sink, CHUNK};
use crate::{ApplyOptions, Control, EncodeSummary, Format, PatchError};

/// Writes a raw stream for a validated, empty-merged script.
///
/// `bsdiff::patch` refuses a source cursor that goes below zero after a seek, or that lies
/// past the end of the source when a step starts, so such scripts are refused here too.
pub(crate) fn encode<W: Write>(
    src: &[u8],
    dst: &[u8],
    controls: &[Control],
    out: W,
) -> Result<EncodeSummary, PatchError> {
    let mut out = out;
    let (mut s, mut d) = (0i64, 0usize);
    let mut size = 0u64;
    let mut delta = Vec::with_capacity(CHUNK);
    for (index, c) in controls.iter().enumerate() {
        // `bsdiff::patch` (like `apply` here) slices the source at the cursor even for an
        // empty add part, so a step may not start past the end of the source.
        if s > src.len() as i64 {
            return Err(PatchError::InvalidControls {
                index,
                what: format!(
                    "source cursor {s} is past the end of the {}-byte source, which the raw bsdiff stream cannot express",
                    src.len()
                ),
            });
        }
        let seek = offtout(c.seek).ok_or_else(|| PatchError::InvalidControls {
            index,
            what: "a seek of i64::MIN has no bsdiff encoding".into(),
        })?;
        let mut rec = [0u8; 24];
        rec[..8].copy_from_slice(&c.add_len.to_le_bytes());
        rec[8..16].copy_from_slice(&c.extra_len.to_le_bytes());
        rec[16..].copy_from_slice(&seek);
        out.write_all(&rec).map_err(PatchError::write)?;
        let (a, e) = (c.add_len as usize, c.extra_len as usize);
        if a > 0 {
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
                out.write_all(&delta).map_err(PatchError::write)?;
            }
        }
        out.write_all(&dst[d + a..d + a + e])
            .map_err(PatchError::write)?;
        size += 24 + (a + e) as u64;
        d += a + e;
        s = s + a as i64 + c.seek;
        if s < 0 {
            return Err(PatchError::InvalidControls {
                index,
                what: format!(
                    "source cursor {s} is negative, which the raw bsdiff stream cannot express"
                ),
            });
        }
    }
    out.flush().map_err(PatchError::write)?;
    let add_bytes = controls.iter().map(|c| c.add_len).sum();
    let extra_bytes = controls.iter().map(|c| c.extra_len).sum();
    Ok(EncodeSummary {
        format: Format::Raw,
        patch_size: size,
        controls: controls.len() as u64,
        add_bytes,
        extra_bytes,
        stream_sizes: [24 * controls.len() as u64, add_bytes, extra_bytes],
        blocks: 0,
        grouped_blocks: 0,
    })
}

/// Applies a raw stream read sequentially. The stream declares no size, so the output is
/// bounded by `opts.max_output_size`. Memory: one 64 KiB buffer.
pub(crate) fn apply<R: Read, W: Write>(
    src: &[u8],
    patch: R,
    out: W,
    opts: &ApplyOptions,
) -> Result<(u64, [u8; 16], u64), PatchError> {
    let mut rd = CountingReader::new(patch);
    let mut sink = Sink::new(out, opts.max_output_size, "output size");
    let mut buf = vec![0u8; CHUNK];
    let mut oldpos: u64 = 0;
    loop {
        let at = rd.pos;
        let Some(first) = rd.read_byte()? else {
            break;
        };
        let mut rec = [0u8; 24];
        rec[0] = first;
        rd.read_exact_or(&mut rec[1..], "raw bsdiff control")?;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[8 * i..8 * i + 8]);
            b
        };
        let add_len = u64::from_le_bytes(word(0));
        let extra_len = u64::from_le_bytes(word(1));
        let seek = offtin(word(2));
        sink.reserve(add_len.saturating_add(extra_len))?;
        let src_part = oldpos
            .checked_add(add_len)
            .and_then(|end| src.get(usize::try_from(oldpos).ok()?..usize::try_from(end).ok()?))
            .ok_or_else(|| {
                PatchError::corrupt(
                    at,
                    format!(
                        "add range at source offset {oldpos} (length {add_len}) lies outside the {}-byte source",
                        src.len()
                    ),
                )
            })?;
        for piece in src_part.chunks(CHUNK) {
            let b = &mut buf[..piece.len()];
            rd.read_exact_or(b, "raw bsdiff add bytes")?;
            add_source(b, piece);
            sink.put(b)?;
        }
        let mut left = extra_len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            rd.read_exact_or(&mut buf[..n], "raw bsdiff extra bytes")?;
            sink.put(&buf[..n])?;
            left -= n as u64;
        }
        // As in `bsdiff::patch`, the cursor may not go below zero.
        oldpos = i64::try_from(oldpos + add_len)
            .ok()
            .and_then(|p| p.checked_add(seek))
            .and_then(|p| u64::try_from(p).ok())
            .ok_or_else(|| {
                PatchError::corrupt(at, "seek moves the source cursor below zero or overflows")
            })?;
    }
    let (n, md5) = sink.finish()?;
    Ok((n, md5, rd.pos))
}

/// Walks a raw stream held in memory: returns the number of steps and the output size.
pub(crate) fn walk(patch: &[u8]) -> Result<(u64, u64), PatchError> {
    let (mut pos, mut count, mut size) = (0usize, 0u64, 0u64);
    while pos < patch.len() {
        let Some(rec) = patch.get(pos..pos + 24) else {
            return Err(PatchError::Truncated {
                offset: patch.len() as u64,
                what: "raw bsdiff control",
            });
        };
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[8 * i..8 * i + 8]);
            u64::from_le_bytes(b)
        };
        let step = word(0).checked_add(word(1));
        let next = step.and_then(|n| (pos as u64 + 24).checked_add(n));
        match next {
            Some(n) if n <= patch.len() as u64 => {
                pos = n as usize;
                size += step.unwrap_or(0);
                count += 1;
            }
            _ => {
                return Err(PatchError::Truncated {
                    offset: patch.len() as u64,
                    what: "raw bsdiff add and extra bytes",
                })
            }
        }
    }
    Ok((count, size))
}
