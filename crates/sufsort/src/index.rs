//! The integer types the sorter works with: suffix indices (`u32`, `u64`) and text symbols.

use std::fmt::Debug;

/// A suffix index type. The top bit is reserved as a mark during sorting, so an index type of
/// `BITS` bits sorts texts of fewer than `2^(BITS-1)` bytes.
pub(crate) trait Idx: Sym + Default + crate::fast::AtomicView {
    /// Zero.
    const ZERO: Self;
    /// The mark bit (the top bit).
    const FLAG: Self;
    /// The largest text length this index type sorts.
    const MAX_LEN: u64;
    /// All ones: "no entry" in the sorter's caches (never a valid index or symbol).
    const NONE: Self;

    /// Converts from `usize`; the value must fit (checked in debug builds).
    fn from_usize(v: usize) -> Self;
    /// Converts to `usize` (every value the sorter stores is below the text length, a `usize`).
    fn to_usize(self) -> usize;
    /// Converts to `u64`.
    fn to_u64(self) -> u64;
    /// True if the mark bit is set.
    fn is_flagged(self) -> bool;
    /// The value with the mark bit set.
    fn flagged(self) -> Self;
    /// The value with the mark bit cleared.
    fn unflagged(self) -> Self;
}

macro_rules! impl_idx {
    ($t:ty) => {
        impl Idx for $t {
            const ZERO: Self = 0;
            const FLAG: Self = 1 << (<$t>::BITS - 1);
            const MAX_LEN: u64 = (1u64 << (<$t>::BITS - 1)) - 1;
            const NONE: Self = <$t>::MAX;

            #[inline(always)]
            fn from_usize(v: usize) -> Self {
                debug_assert!(v as u64 <= <$t>::MAX as u64);
                v as $t
            }
            #[inline(always)]
            fn to_usize(self) -> usize {
                self as usize
            }
            #[inline(always)]
            fn to_u64(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn is_flagged(self) -> bool {
                self & Self::FLAG != 0
            }
            #[inline(always)]
            fn flagged(self) -> Self {
                self | Self::FLAG
            }
            #[inline(always)]
            fn unflagged(self) -> Self {
                self & !Self::FLAG
            }
        }
    };
}

impl_idx!(u32);
impl_idx!(u64);

/// A text symbol: a byte at the top level, a name (an index) in the recursion.
pub(crate) trait Sym: Copy + Eq + Ord + Send + Sync + Debug + 'static {
    /// The symbol as a bucket number.
    fn sym(self) -> usize;
    /// The text as bytes, if its symbols are bytes.
    fn as_bytes(t: &[Self]) -> Option<&[u8]> {
        let _ = t;
        None
    }
}

impl Sym for u8 {
    #[inline(always)]
    fn sym(self) -> usize {
        self as usize
    }
    fn as_bytes(t: &[Self]) -> Option<&[u8]> {
        Some(t)
    }
}

impl Sym for u32 {
    #[inline(always)]
    fn sym(self) -> usize {
        self as usize
    }
}

impl Sym for u64 {
    #[inline(always)]
    fn sym(self) -> usize {
        self as usize
    }
}
