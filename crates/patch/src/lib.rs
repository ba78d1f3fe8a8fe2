//! fwdelta patch formats. (Skeleton: the patch-format work fills this in.)
#![forbid(unsafe_code)]

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
