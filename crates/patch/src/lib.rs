//! fwdelta patch formats: encode an edit script as a patch, apply a patch in one pass,
//! verify a patch against an expected image.
//!
//! Three formats:
//! - [`Format::Fwdelta`], the fwdelta format v1 (byte layout in `docs/FORMAT.md`): zstd,
//!   the control, add and extra streams compressed separately and cut into blocks so that
//!   the applier reads the patch forward once with bounded memory; source and destination
//!   sizes and MD5s in a checksummed header.
//! - [`Format::Bsdiff40`], bsdiff 4.x's format, for the classic `bspatch` (and imported from
//!   patches made by `bsdiff`).
//! - [`Format::Raw`], the uncompressed stream of the `bsdiff` Rust crate.
//!
//! This crate is what devices and verifiers link: it depends on zstd, bzip2, md-5 and
//! thiserror only, and every patch byte is treated as hostile (typed errors, no panics, no
//! allocation from an unvalidated size).
//!
//! # Example
//!
//! ```
//! use fwdelta_patch::{apply, encode, verify, ApplyOptions, Control, EncodeOptions, Expected, Format};
//!
//! let src = b"firmware v1: hello world".to_vec();
//! let dst = b"firmware v2: hello, world!".to_vec();
//! // An edit script (normally from the matcher): 10 bytes from the source plus a delta,
//! // then 16 literal bytes.
//! let controls = [Control { add_len: 10, extra_len: 16, seek: 0 }];
//!
//! let mut patch = Vec::new();
//! encode(Format::Fwdelta, &src, &dst, &controls, &EncodeOptions::default(), &mut patch)?;
//!
//! let mut rebuilt = Vec::new();
//! let summary = apply(&src, &patch[..], &mut rebuilt, &ApplyOptions::default())?;
//! assert_eq!(rebuilt, dst);
//! assert_eq!(summary.dst_size, dst.len() as u64);
//!
//! let expected = Expected { md5: fwdelta_patch::md5_of(&dst), size: dst.len() as u64 };
//! let report = verify(&src, &patch, expected, &ApplyOptions::default())?;
//! assert!(report.matches());
//! # Ok::<(), fwdelta_patch::PatchError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod bsdiff40;
mod controls;
mod crc32;
mod error;
mod hash;
mod options;
mod raw;
mod sink;
mod v1;
mod varint;

pub use api::{
    apply, apply_slice, detect_format, encode, encode_with_digests, read_info, verify,
    verify_reader, Expected, Mismatch, PatchInfo, Verification,
};
pub use bsdiff40::import_bsdiff40;
pub use controls::validate_controls;
pub use error::PatchError;
pub use hash::{md5_hex, md5_of, parse_md5_hex, Digests, Md5Writer};
pub use options::{
    ApplyOptions, ApplySummary, EncodeOptions, EncodeSummary, Format, MAX_BLOCK_SIZE,
    MAX_WINDOW_LOG, MIN_BLOCK_SIZE, MIN_WINDOW_LOG,
};
pub use v1::{V1BodyInfo, V1Header, HEADER_LEN as V1_HEADER_LEN, MAGIC as V1_MAGIC};

/// One step of a bsdiff-family edit script, in destination order.
///
/// Applying a step at source cursor `s` and destination cursor `d`:
/// 1. `dst[d .. d + add_len] = src[s .. s + add_len] + delta` (byte-wise wrapping add; the
///    delta bytes are `dst - src` and are stored by the encoder);
/// 2. `dst[d + add_len .. d + add_len + extra_len]` are literal bytes taken from `dst`;
/// 3. the source cursor becomes `s + add_len + seek` and the destination cursor
///    `d + add_len + extra_len`.
///
/// A script is valid for `(src, dst)` when every source range lies inside `src` and the
/// steps cover `dst` exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Control {
    /// Bytes produced from the source plus a delta.
    pub add_len: u64,
    /// Literal bytes copied from the destination into the patch.
    pub extra_len: u64,
    /// Signed move of the source cursor after the add and extra parts.
    pub seek: i64,
}
