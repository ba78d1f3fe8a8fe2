//! Formats, options and summaries.

use crate::PatchError;

/// A patch format this crate writes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// fwdelta format v1: zstd, one forward pass, source and destination MD5 in the header
    /// (see `docs/FORMAT.md`).
    Fwdelta,
    /// Colin Percival's bsdiff 4.x format (`BSDIFF40` magic, three bzip2 streams), applied by
    /// the classic `bspatch`.
    Bsdiff40,
    /// The uncompressed, header-less stream of the `bsdiff` Rust crate (0.2), applied by
    /// `bsdiff::patch`. It has no magic, so it is never auto-detected.
    Raw,
}

impl Format {
    /// Short lower-case name: `fwdelta`, `bsdiff40` or `raw`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Fwdelta => "fwdelta",
            Format::Bsdiff40 => "bsdiff40",
            Format::Raw => "raw",
        }
    }

    /// Parses a name as printed by [`Format::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "fwdelta" | "v1" | "fwdelta-v1" => Some(Format::Fwdelta),
            "bsdiff40" | "bsdiff" => Some(Format::Bsdiff40),
            "raw" | "bsdiff-raw" => Some(Format::Raw),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Smallest accepted zstd window log.
pub const MIN_WINDOW_LOG: u32 = 10;
/// Largest accepted zstd window log (zstd's limit on 64-bit targets is 31; 30 keeps the
/// window addressable on 32-bit devices).
pub const MAX_WINDOW_LOG: u32 = 30;
/// Smallest accepted v1 block size.
pub const MIN_BLOCK_SIZE: u32 = 4096;
/// Largest accepted v1 block size (64 MiB).
pub const MAX_BLOCK_SIZE: u32 = 64 << 20;

/// How to encode a patch. Invalid values are reported by the encoder as
/// [`PatchError::InvalidOption`], never clamped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// zstd compression level for v1, 1..=22. Default: 19.
    pub zstd_level: i32,
    /// zstd window log for v1, 10..=30: the decoder needs up to `2^window_log` bytes per
    /// stream (three streams, or four with `zero_runs`; a stream smaller than the window needs
    /// only its own size), so this is the knob that sizes a patch for a small device.
    /// Default: 23 (8 MiB).
    pub window_log: u32,
    /// zstd long-distance matching for v1. Default: true.
    pub long_distance: bool,
    /// Output bytes covered by one v1 block, 4096..=64 MiB; the applier holds about three
    /// blocks' worth of buffers. Default: 1 MiB.
    pub block_size: u32,
    /// bzip2 level for BSDIFF40, 1..=9 (9 = 900 kB blocks, what bsdiff uses). Default: 9.
    pub bzip2_level: u32,
    /// v1: for each block, also try the add bytes grouped by source context (see
    /// `docs/FORMAT.md`) and keep that order when a quick estimate says it compresses
    /// better. Default: true.
    pub context_grouping: bool,
    /// v1: split the add bytes into runs of zero bytes and the nonzero bytes, compressed
    /// as two streams (header flag `FLAG_ZERO_RUNS`, `docs/FORMAT.md`). Most add bytes of
    /// a good match are zero, so this spares zstd most of its input: faster to encode and
    /// mostly smaller (figures and the command that measured them: `docs/FORMAT.md`).
    /// `false` writes the original three-stream body. Default: true.
    pub zero_runs: bool,
    /// v1: threads that compress the streams at the same time (at most one per stream, so
    /// up to 4 are used); 0 = as many as the machine has cores, 1 = one after the other.
    /// The patch is the same for every value. Default: 0.
    pub threads: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            zstd_level: 19,
            window_log: 23,
            long_distance: true,
            block_size: 1 << 20,
            bzip2_level: 9,
            context_grouping: true,
            zero_runs: true,
            threads: 0,
        }
    }
}

impl EncodeOptions {
    /// The thread count [`EncodeOptions::threads`] stands for.
    pub(crate) fn encode_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Checks every field; the encoders call this first.
    pub fn validate(&self) -> Result<(), PatchError> {
        if !(1..=22).contains(&self.zstd_level) {
            return Err(PatchError::InvalidOption {
                what: "zstd_level",
                value: i64::from(self.zstd_level),
                expected: "1..=22",
            });
        }
        check_window_log("window_log", self.window_log)?;
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.block_size) {
            return Err(PatchError::InvalidOption {
                what: "block_size",
                value: i64::from(self.block_size),
                expected: "4096..=67108864",
            });
        }
        if !(1..=9).contains(&self.bzip2_level) {
            return Err(PatchError::InvalidOption {
                what: "bzip2_level",
                value: i64::from(self.bzip2_level),
                expected: "1..=9",
            });
        }
        Ok(())
    }
}

fn check_window_log(what: &'static str, v: u32) -> Result<(), PatchError> {
    if !(MIN_WINDOW_LOG..=MAX_WINDOW_LOG).contains(&v) {
        return Err(PatchError::InvalidOption {
            what,
            value: i64::from(v),
            expected: "10..=30",
        });
    }
    Ok(())
}

/// Limits and choices for applying a patch. Invalid values are reported as
/// [`PatchError::InvalidOption`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// The patch format, or `None` to detect it by its magic (v1 and BSDIFF40; a raw
    /// stream must be named). Default: `None`.
    pub format: Option<Format>,
    /// Largest zstd window log a v1 patch may require, 10..=30. A device sets this to what
    /// its RAM allows; a patch needing more is refused before any output is written.
    /// Default: 27 (128 MiB per stream, zstd's own default limit).
    pub max_window_log: u32,
    /// Largest v1 block size accepted, 4096..=64 MiB. Default: 64 MiB.
    pub max_block_size: u32,
    /// Largest destination accepted: a declared size above it is refused before any output
    /// is written, and a raw stream (which declares none) stops with an error there.
    /// Default: 16 GiB.
    pub max_output_size: u64,
    /// Largest BSDIFF40 patch [`apply`](crate::apply) reads into memory from a reader
    /// (BSDIFF40 needs random access to its three streams; [`apply_slice`](crate::apply_slice)
    /// needs no copy). Default: 1 GiB.
    pub max_buffered_patch: u64,
    /// The source's MD5 when the caller has just computed it from the same bytes it passes
    /// (as `fwdelta diff` has when it verifies its own patch): the v1 applier then checks the
    /// patch's declared source MD5 against it instead of hashing the source again. A caller
    /// that does not know it leaves `None`. Default: `None`.
    pub known_src_md5: Option<[u8; 16]>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            format: None,
            max_window_log: 27,
            max_block_size: MAX_BLOCK_SIZE,
            max_output_size: 16 << 30,
            max_buffered_patch: 1 << 30,
            known_src_md5: None,
        }
    }
}

impl ApplyOptions {
    /// Checks every field; the appliers call this first.
    pub fn validate(&self) -> Result<(), PatchError> {
        check_window_log("max_window_log", self.max_window_log)?;
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.max_block_size) {
            return Err(PatchError::InvalidOption {
                what: "max_block_size",
                value: i64::from(self.max_block_size),
                expected: "4096..=67108864",
            });
        }
        Ok(())
    }
}

/// What an encoder wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeSummary {
    /// The format written.
    pub format: Format,
    /// Bytes written.
    pub patch_size: u64,
    /// Steps in the edit script (after merging steps that produce nothing).
    pub controls: u64,
    /// Destination bytes produced from the source plus a delta.
    pub add_bytes: u64,
    /// Destination bytes stored literally.
    pub extra_bytes: u64,
    /// Compressed bytes of the control, add and extra streams (without block headers).
    pub stream_sizes: [u64; 3],
    /// v1 blocks (0 for the other formats).
    pub blocks: u64,
    /// v1 blocks whose add bytes are grouped by source context.
    pub grouped_blocks: u64,
}

/// What an applier produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplySummary {
    /// The format applied.
    pub format: Format,
    /// Bytes written to the output.
    pub dst_size: u64,
    /// MD5 of the bytes written.
    pub dst_md5: [u8; 16],
    /// Bytes of the patch consumed.
    pub patch_size: u64,
    /// The destination MD5 the patch declares (v1 only).
    pub declared_dst_md5: Option<[u8; 16]>,
}
