//! The entry points: encode, apply, read_info, verify.

use std::io::{self, Read, Write};

use crate::controls::{merge_empty, validate_controls};
use crate::sink::CountingReader;
use crate::v1::{V1BodyInfo, V1Header};
use crate::{bsdiff40, raw, v1};
use crate::{
    ApplyOptions, ApplySummary, Control, Digests, EncodeOptions, EncodeSummary, Format, PatchError,
};

/// Encodes the edit script `controls` for `(src, dst)` as a patch in `format`, written to
/// `out` (a writer that must not be left half-written on error is the caller's business:
/// write to a temporary file and rename it).
///
/// The script is checked first ([`validate_controls`]); steps that produce nothing are
/// merged into the step before them. Output is deterministic.
pub fn encode<W: Write>(
    format: Format,
    src: &[u8],
    dst: &[u8],
    controls: &[Control],
    opts: &EncodeOptions,
    out: W,
) -> Result<EncodeSummary, PatchError> {
    encode_checked(format, src, dst, None, controls, opts, out)
}

/// As [`encode`], with the images' MD5s already known: the v1 header records `digests`
/// instead of hashing the images again (the other formats do not use them).
///
/// The caller vouches that `digests` are the MD5s of `src` and `dst`: a wrong source MD5
/// makes every applier refuse the patch, and a wrong destination MD5 makes every apply
/// report a mismatch, so a patch encoded with wrong digests never verifies.
pub fn encode_with_digests<W: Write>(
    format: Format,
    src: &[u8],
    dst: &[u8],
    digests: &Digests,
    controls: &[Control],
    opts: &EncodeOptions,
    out: W,
) -> Result<EncodeSummary, PatchError> {
    encode_checked(format, src, dst, Some(*digests), controls, opts, out)
}

/// Checks the options and the script, then runs the encoder. v1 hashes the images unless
/// `digests` brings their MD5s.
fn encode_checked<W: Write>(
    format: Format,
    src: &[u8],
    dst: &[u8],
    digests: Option<Digests>,
    controls: &[Control],
    opts: &EncodeOptions,
    out: W,
) -> Result<EncodeSummary, PatchError> {
    opts.validate()?;
    validate_controls(src.len() as u64, dst.len() as u64, controls)?;
    let controls = merge_empty(controls);
    match format {
        Format::Fwdelta => {
            let digests = digests.unwrap_or_else(|| Digests::of(src, dst, opts.threads));
            v1::encode(src, dst, &digests, &controls, opts, out)
        }
        Format::Bsdiff40 => bsdiff40::encode(src, dst, &controls, opts.bzip2_level, out),
        Format::Raw => raw::encode(src, dst, &controls, out),
    }
}

/// Detects the format of a patch from its first bytes (8 are enough): fwdelta v1 or
/// BSDIFF40. Raw streams have no magic and are never detected.
pub fn detect_format(prefix: &[u8]) -> Option<Format> {
    if prefix.len() >= 8 && prefix[..8] == v1::MAGIC {
        Some(Format::Fwdelta)
    } else if prefix.len() >= 8 && &prefix[..8] == bsdiff40::MAGIC {
        Some(Format::Bsdiff40)
    } else {
        None
    }
}

/// Internal result of an apply: everything the public functions need.
struct Applied {
    format: Format,
    written: u64,
    md5: [u8; 16],
    patch_size: u64,
    declared: Option<(u64, [u8; 16])>,
}

fn apply_reader_inner<R: Read, W: Write>(
    src: &[u8],
    patch: R,
    out: W,
    opts: &ApplyOptions,
) -> Result<Applied, PatchError> {
    opts.validate()?;
    let mut rd = CountingReader::new(patch);
    if opts.format == Some(Format::Raw) {
        let (written, md5, patch_size) = raw::apply(src, rd.inner, out, opts)?;
        return Ok(Applied {
            format: Format::Raw,
            written,
            md5,
            patch_size,
            declared: None,
        });
    }
    let mut magic = [0u8; 8];
    let n = crate::sink::read_full(&mut rd.inner, &mut magic).map_err(PatchError::read)?;
    rd.pos = n as u64;
    let detected = detect_format(&magic[..n]);
    let format = match (opts.format, detected) {
        (Some(requested), got) if got != Some(requested) => {
            return Err(PatchError::FormatMismatch {
                requested,
                detected: got,
            })
        }
        (_, Some(got)) => got,
        (_, None) => {
            return Err(PatchError::UnknownFormat {
                magic: magic[..n].to_vec(),
            })
        }
    };
    match format {
        Format::Fwdelta => {
            let mut rest = [0u8; v1::HEADER_LEN - 8];
            let k = crate::sink::read_full(&mut rd.inner, &mut rest).map_err(PatchError::read)?;
            rd.pos += k as u64;
            let mut h = magic.to_vec();
            h.extend_from_slice(&rest[..k]);
            let header = V1Header::parse(&h)?;
            let (written, md5) = v1::apply(src, &mut rd, &header, out, opts)?;
            Ok(Applied {
                format,
                written,
                md5,
                patch_size: rd.pos,
                declared: Some((header.dst_size, header.dst_md5)),
            })
        }
        _ => {
            // BSDIFF40 needs its three streams at once: buffer the patch, within a limit.
            let mut buf = magic.to_vec();
            let limit = opts.max_buffered_patch;
            (&mut rd.inner)
                .take(limit.saturating_sub(8).saturating_add(1))
                .read_to_end(&mut buf)
                .map_err(PatchError::read)?;
            if buf.len() as u64 > limit {
                return Err(PatchError::LimitExceeded {
                    what: "BSDIFF40 patch size read into memory",
                    value: buf.len() as u64,
                    limit,
                });
            }
            let (written, md5) = bsdiff40::apply(src, &buf, out, opts)?;
            Ok(Applied {
                format,
                written,
                md5,
                patch_size: buf.len() as u64,
                declared: None,
            })
        }
    }
}

fn apply_slice_inner<W: Write>(
    src: &[u8],
    patch: &[u8],
    out: W,
    opts: &ApplyOptions,
) -> Result<Applied, PatchError> {
    opts.validate()?;
    let detected = detect_format(patch);
    if opts.format == Some(Format::Bsdiff40)
        || (opts.format.is_none() && detected == Some(Format::Bsdiff40))
    {
        if detected != Some(Format::Bsdiff40) {
            return Err(PatchError::FormatMismatch {
                requested: Format::Bsdiff40,
                detected,
            });
        }
        let (written, md5) = bsdiff40::apply(src, patch, out, opts)?;
        return Ok(Applied {
            format: Format::Bsdiff40,
            written,
            md5,
            patch_size: patch.len() as u64,
            declared: None,
        });
    }
    apply_reader_inner(src, patch, out, opts)
}

fn finish(applied: Applied) -> Result<ApplySummary, PatchError> {
    if let Some((size, md5)) = applied.declared {
        if size != applied.written || md5 != applied.md5 {
            return Err(PatchError::DestMismatch {
                expected_size: size,
                actual_size: applied.written,
                expected_md5: md5,
                actual_md5: applied.md5,
            });
        }
    }
    Ok(ApplySummary {
        format: applied.format,
        dst_size: applied.written,
        dst_md5: applied.md5,
        patch_size: applied.patch_size,
        declared_dst_md5: applied.declared.map(|d| d.1),
    })
}

/// Applies a patch read sequentially from `patch`, writing the rebuilt image to `out`.
///
/// The format is `opts.format`, or detected by magic (v1, BSDIFF40). A v1 patch is applied
/// in one forward pass: the source is checked (size, then MD5) before any byte is written,
/// no more than the declared destination size is ever written, and the destination MD5 is
/// checked at the end ([`PatchError::DestMismatch`]). Memory: three zstd decoders (each at
/// most `2^window_log` bytes of window, less when a stream is smaller) plus three buffers of
/// at most the patch's block size and a 32 KiB input buffer.
///
/// A BSDIFF40 patch is read into memory first (up to `opts.max_buffered_patch`), because its
/// three streams are read in parallel; use [`apply_slice`] on a memory-mapped patch to avoid
/// the copy. A raw stream (`opts.format = Some(Format::Raw)`) is applied sequentially and
/// bounded by `opts.max_output_size`.
///
/// The source is a slice because it is read at random offsets: memory-map large images.
/// On error, `out` may hold a prefix of the output: write to a temporary file.
pub fn apply<R: Read, W: Write>(
    src: &[u8],
    patch: R,
    out: W,
    opts: &ApplyOptions,
) -> Result<ApplySummary, PatchError> {
    finish(apply_reader_inner(src, patch, out, opts)?)
}

/// Like [`apply`], for a patch held in memory (or memory-mapped): BSDIFF40 patches are
/// applied without copying.
pub fn apply_slice<W: Write>(
    src: &[u8],
    patch: &[u8],
    out: W,
    opts: &ApplyOptions,
) -> Result<ApplySummary, PatchError> {
    finish(apply_slice_inner(src, patch, out, opts)?)
}

/// What [`read_info`] learns about a patch without applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatchInfo {
    /// The format.
    pub format: Format,
    /// Patch size in bytes.
    pub patch_size: u64,
    /// Source size, if the format records it (v1).
    pub src_size: Option<u64>,
    /// Source MD5, if the format records it (v1).
    pub src_md5: Option<[u8; 16]>,
    /// Destination size, if the format records it (v1, BSDIFF40; for raw, the sum of the
    /// steps' lengths).
    pub dst_size: Option<u64>,
    /// Destination MD5, if the format records it (v1).
    pub dst_md5: Option<[u8; 16]>,
    /// The v1 header.
    pub v1_header: Option<V1Header>,
    /// The v1 body structure.
    pub v1_body: Option<V1BodyInfo>,
    /// Compressed sizes of the BSDIFF40 control, diff and extra streams.
    pub bsdiff40_streams: Option<[u64; 3]>,
    /// Number of steps (raw streams only: counting them needs a walk of the stream).
    pub raw_controls: Option<u64>,
}

/// Reads the header (and, for v1, the block structure) of a patch held in memory.
/// `format` is `None` to detect it; a raw stream must be named.
pub fn read_info(patch: &[u8], format: Option<Format>) -> Result<PatchInfo, PatchError> {
    let detected = detect_format(patch);
    let format = match (format, detected) {
        (Some(Format::Raw), _) => Format::Raw,
        (Some(requested), got) if got != Some(requested) => {
            return Err(PatchError::FormatMismatch {
                requested,
                detected: got,
            })
        }
        (_, Some(got)) => got,
        (_, None) => {
            return Err(PatchError::UnknownFormat {
                magic: patch[..patch.len().min(8)].to_vec(),
            })
        }
    };
    let mut info = PatchInfo {
        format,
        patch_size: patch.len() as u64,
        src_size: None,
        src_md5: None,
        dst_size: None,
        dst_md5: None,
        v1_header: None,
        v1_body: None,
        bsdiff40_streams: None,
        raw_controls: None,
    };
    match format {
        Format::Fwdelta => {
            let header = V1Header::parse(&patch[..patch.len().min(v1::HEADER_LEN)])?;
            info.src_size = Some(header.src_size);
            info.src_md5 = Some(header.src_md5);
            info.dst_size = Some(header.dst_size);
            info.dst_md5 = Some(header.dst_md5);
            info.v1_body = Some(v1::body_info(patch, &header)?);
            info.v1_header = Some(header);
        }
        Format::Bsdiff40 => {
            let h = bsdiff40::Header::parse(patch)?;
            info.dst_size = Some(h.new_size);
            let extra = patch.len() as u64 - bsdiff40::HEADER_LEN - h.ctrl_len - h.diff_len;
            info.bsdiff40_streams = Some([h.ctrl_len, h.diff_len, extra]);
        }
        Format::Raw => {
            let (count, size) = raw::walk(patch)?;
            info.raw_controls = Some(count);
            info.dst_size = Some(size);
        }
    }
    Ok(info)
}

/// The destination a verification expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// MD5 of the expected destination image.
    pub md5: [u8; 16],
    /// Its size in bytes.
    pub size: u64,
}

/// Why a verification failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The rebuilt image has another size than expected.
    Size {
        /// Expected size.
        expected: u64,
        /// Rebuilt size.
        actual: u64,
    },
    /// Same size, another MD5.
    Md5 {
        /// Expected MD5.
        expected: [u8; 16],
        /// Rebuilt MD5.
        actual: [u8; 16],
    },
    /// The image matches the expectation but not the destination the v1 header declares
    /// (the patch was built for another image, or its header was rewritten).
    Header {
        /// Declared size.
        declared_size: u64,
        /// Declared MD5.
        declared_md5: [u8; 16],
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::hash::md5_hex;
        match self {
            Mismatch::Size { expected, actual } => {
                write!(f, "rebuilt image has {actual} bytes, expected {expected}")
            }
            Mismatch::Md5 { expected, actual } => write!(
                f,
                "rebuilt image has MD5 {}, expected {}",
                md5_hex(actual),
                md5_hex(expected)
            ),
            Mismatch::Header {
                declared_size,
                declared_md5,
            } => write!(
                f,
                "rebuilt image matches, but the patch header declares {declared_size} bytes with MD5 {}",
                md5_hex(declared_md5)
            ),
        }
    }
}

/// The result of [`verify`]: what was rebuilt and whether it is what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// The patch format.
    pub format: Format,
    /// Size of the rebuilt image.
    pub actual_size: u64,
    /// MD5 of the rebuilt image.
    pub actual_md5: [u8; 16],
    /// Patch bytes consumed.
    pub patch_size: u64,
    /// `None` when the rebuilt image is the expected one.
    pub mismatch: Option<Mismatch>,
}

impl Verification {
    /// Whether the rebuilt image is the expected one.
    pub fn matches(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// Applies `patch` to `src`, hashing the output instead of keeping it, and compares it
/// with `expected`. A different image is a normal result ([`Verification::mismatch`]);
/// an unreadable patch or a wrong source is an error. Memory is that of [`apply_slice`].
pub fn verify(
    src: &[u8],
    patch: &[u8],
    expected: Expected,
    opts: &ApplyOptions,
) -> Result<Verification, PatchError> {
    verify_result(apply_slice_inner(src, patch, io::sink(), opts)?, expected)
}

/// Like [`verify`], for a patch read sequentially (v1 streams; see [`apply`]).
pub fn verify_reader<R: Read>(
    src: &[u8],
    patch: R,
    expected: Expected,
    opts: &ApplyOptions,
) -> Result<Verification, PatchError> {
    verify_result(apply_reader_inner(src, patch, io::sink(), opts)?, expected)
}

fn verify_result(applied: Applied, expected: Expected) -> Result<Verification, PatchError> {
    // The v1 applier already hashed the output; compare rather than fail on a declared mismatch.
    let mismatch = if applied.written != expected.size {
        Some(Mismatch::Size {
            expected: expected.size,
            actual: applied.written,
        })
    } else if applied.md5 != expected.md5 {
        Some(Mismatch::Md5 {
            expected: expected.md5,
            actual: applied.md5,
        })
    } else {
        match applied.declared {
            Some((size, md5)) if size != applied.written || md5 != applied.md5 => {
                Some(Mismatch::Header {
                    declared_size: size,
                    declared_md5: md5,
                })
            }
            _ => None,
        }
    };
    Ok(Verification {
        format: applied.format,
        actual_size: applied.written,
        actual_md5: applied.md5,
        patch_size: applied.patch_size,
        mismatch,
    })
}
