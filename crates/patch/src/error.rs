//! The one error type of this crate.

use std::io;

use crate::hash::md5_hex;

/// Everything that can go wrong while encoding, decoding, applying or verifying a patch.
///
/// Variants carry the facts (offsets, expected and actual values) so that a caller can
/// print a message a person can act on, or map them to exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The patch ended before a field or stream it declares.
    #[error("patch is truncated: it ends at byte {offset} but needs more data for {what}")]
    Truncated {
        /// Offset in the patch where more bytes were needed.
        offset: u64,
        /// The field or stream being read.
        what: &'static str,
    },
    /// The patch does not start with a known magic number.
    #[error(
        "unknown patch format (first bytes {}): expected an fwdelta v1 or BSDIFF40 patch; \
         raw bsdiff streams have no magic and must be named explicitly",
        hex_prefix(.magic)
    )]
    UnknownFormat {
        /// The first (up to 8) bytes of the patch.
        magic: Vec<u8>,
    },
    /// The caller asked for one format and the patch's magic says another.
    #[error("the patch is not {requested}: its magic says {}", .detected.map_or("unknown format".to_string(), |f| f.to_string()))]
    FormatMismatch {
        /// The format the caller asked for.
        requested: crate::Format,
        /// The format the magic identifies, if any.
        detected: Option<crate::Format>,
    },
    /// An fwdelta patch of a format version this library does not know.
    #[error("fwdelta patch format version {version} is not supported (this library reads version 1); upgrade fwdelta")]
    UnsupportedVersion {
        /// The version in the header.
        version: u16,
    },
    /// A header field names a feature (flag bit, compression method) this library lacks.
    #[error("unsupported patch feature: {what} = {value}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// The header checksum does not match the header bytes: the patch is damaged.
    #[error("patch header checksum mismatch (stored {expected:#010x}, computed {actual:#010x}): the patch file is damaged")]
    HeaderChecksum {
        /// Checksum stored in the header.
        expected: u32,
        /// Checksum computed over the header bytes.
        actual: u32,
    },
    /// The source image has a different size than the one the patch was made from.
    #[error("wrong source image: the patch was made from a {expected}-byte source, this one has {actual} bytes")]
    SourceSizeMismatch {
        /// Size recorded in the patch.
        expected: u64,
        /// Size of the given source.
        actual: u64,
    },
    /// The source image has the right size but a different MD5.
    #[error(
        "wrong source image: the patch was made from a source with MD5 {}, this one has MD5 {}",
        md5_hex(.expected_md5), md5_hex(.actual_md5)
    )]
    SourceMismatch {
        /// MD5 recorded in the patch.
        expected_md5: [u8; 16],
        /// MD5 of the given source.
        actual_md5: [u8; 16],
    },
    /// The rebuilt destination does not have the size or MD5 the patch declares.
    #[error(
        "rebuilt image does not match the patch header: expected {expected_size} bytes with MD5 {}, \
         got {actual_size} bytes with MD5 {}; the patch is corrupt or was built wrongly",
        md5_hex(.expected_md5), md5_hex(.actual_md5)
    )]
    DestMismatch {
        /// Size declared in the header.
        expected_size: u64,
        /// Bytes actually produced.
        actual_size: u64,
        /// MD5 declared in the header.
        expected_md5: [u8; 16],
        /// MD5 of the bytes produced.
        actual_md5: [u8; 16],
    },
    /// A field or stream of the patch is invalid.
    #[error("corrupt patch at byte {offset}: {what}")]
    Corrupt {
        /// Offset in the patch of the offending field (or of the stream containing it).
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A declared value exceeds a limit set in the options.
    #[error(
        "{what} is {value}, above the limit of {limit}; raise the limit if this patch is trusted"
    )]
    LimitExceeded {
        /// The quantity.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// The edit script given to an encoder does not describe the given source and destination.
    #[error("invalid edit script at control {index}: {what}")]
    InvalidControls {
        /// Index of the offending control.
        index: usize,
        /// What is wrong.
        what: String,
    },
    /// An options struct holds an invalid value.
    #[error("invalid option {what}: {value} ({expected})")]
    InvalidOption {
        /// The option.
        what: &'static str,
        /// Its value.
        value: i64,
        /// The accepted range.
        expected: &'static str,
    },
    /// An I/O error while reading the patch or writing the output.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl PatchError {
    pub(crate) fn corrupt(offset: u64, what: impl Into<String>) -> Self {
        PatchError::Corrupt {
            offset,
            what: what.into(),
        }
    }

    pub(crate) fn write(source: io::Error) -> Self {
        PatchError::Io {
            context: "writing output",
            source,
        }
    }

    pub(crate) fn read(source: io::Error) -> Self {
        PatchError::Io {
            context: "reading patch",
            source,
        }
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    if s.is_empty() {
        s.push_str("none: the patch is empty");
    }
    s
}
