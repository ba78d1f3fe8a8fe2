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
    /// For `j` in `0..64`, bit `j` of the first mask is `w[j] < w[j + 1]`, of the second
    /// `w[j] == w[j + 1]`. `w` holds at least 65 symbols.
    #[inline(always)]
    fn cmp_masks(w: &[Self]) -> (u64, u64) {
        scalar_cmp_masks(w)
    }
}

/// [`Sym::cmp_masks`] one comparison at a time.
#[inline(always)]
pub(crate) fn scalar_cmp_masks<C: Sym>(w: &[C]) -> (u64, u64) {
    let w = &w[..65];
    let (mut lt, mut eq) = (0u64, 0u64);
    for j in 0..64 {
        lt |= u64::from(w[j] < w[j + 1]) << j;
        eq |= u64::from(w[j] == w[j + 1]) << j;
    }
    (lt, eq)
}

impl Sym for u8 {
    #[inline(always)]
    fn sym(self) -> usize {
        self as usize
    }
    fn as_bytes(t: &[Self]) -> Option<&[u8]> {
        Some(t)
    }
    #[inline(always)]
    fn cmp_masks(w: &[Self]) -> (u64, u64) {
        crate::fast::byte_cmp_masks(w)
    }
}

impl Sym for u32 {
    #[inline(always)]
    fn sym(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn cmp_masks(w: &[Self]) -> (u64, u64) {
        crate::fast::u32_cmp_masks(w)
    }
}

impl Sym for u64 {
    #[inline(always)]
    fn sym(self) -> usize {
        self as usize
    }
}
