//! Suffix array construction over byte slices by induced sorting (SA-IS), with a linear-time
//! checker.
//!
//! The suffix array of a text lists the start offsets of all its suffixes in lexicographic
//! order. This crate builds it in linear time whatever the input: long runs of `0x00` or `0xFF`,
//! periodic tables and random data all sort at similar speed (runs and periodic data faster
//! than random), unlike comparison sorts, which go quadratic on runs.
//!
//! The text is taken as `&[u8]`, so a memory map of a firmware image works as is: the sorter
//! never copies it. The result takes 4 bytes per input byte (`u32` indices) up to
//! [`MAX_U32_LEN`], 8 bytes per input byte (`u64` indices) above; the reduced problems of the
//! recursion live inside that array, so the only other memory is about 1 MiB of buffers per
//! thread (the top level's tables of 2^16 buckets) and, in the recursion, two bit sets that
//! record which suffixes were sorted without recursing (at most two bits per input byte over
//! all levels; the peak memory that `examples/sa_time` reports rose from 4.00 to 4.04 bytes
//! per byte on a 62 MB shared library and to 4.10 on 64 MiB of random data).
//!
//! At the top level the LMS substrings are sorted by a radix step on their first two bytes
//! and a sort on keys of the bytes and types that follow (`keysort`), in place in the array;
//! the levels of the recursion use induced sorting throughout. The first of them takes its
//! symbol counts from that sort (each name is as frequent as its run of sorted LMS
//! positions is long) instead of counting its text. The scans that find the LMS
//! positions compute the suffix types 64 positions at a time: comparison masks of
//! neighbouring symbols (SSE2 on x86_64) and one addition, whose carries run down the runs of
//! equal symbols as the types do.
//!
//! Sorting uses the ambient rayon pool: choose the thread count with
//! `ThreadPool::install`. The induce passes are split into blocks whose induced entries are
//! placed in the sequential scan order, so the array is the same for every thread count (as
//! it must be: a suffix array is unique). The final passes over the bytes run, from two
//! threads on, in blocks that none of their own entries induce into: the threads read a
//! block's parts in parallel and then write them in parallel, once the buckets are cut
//! between the parts. The other passes are pipelined with two threads (one thread places
//! the entries while both read blocks ahead, with 1 MiB of read-ahead buffers for `u32`
//! indices), and run block-parallel with more.
//!
//! # Example
//! ```
//! let text = b"banana";
//! let sa = fwdelta_sufsort::suffix_array(text)?;
//! assert_eq!(sa, [5, 3, 1, 0, 4, 2]); // a, ana, anana, banana, na, nana
//! fwdelta_sufsort::verify(text, &sa)?;
//!
//! // `build` picks the index width from the length.
//! let sa = fwdelta_sufsort::build(text, &fwdelta_sufsort::SortOptions::default());
//! assert_eq!(sa.get(0), 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

/// Phase timings on stderr, with the `trace` feature (a development aid).
#[cfg(feature = "trace")]
macro_rules! trace {
    ($t:ident, $($a:tt)*) => {{
        // Process CPU time (utime + stime, in clock ticks) from /proc.
        let cpu = || -> u64 {
            let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        };
        let now = cpu();
        eprintln!(
            "{:8.3} ms wall {:6} ms cpu  {}",
            $t.0.elapsed().as_secs_f64() * 1e3,
            (now - $t.1) * 10,
            format!($($a)*)
        );
        $t = (std::time::Instant::now(), now);
    }};
}
#[cfg(not(feature = "trace"))]
macro_rules! trace {
    ($t:ident, $($a:tt)*) => {
        let _ = &$t;
    };
}

mod fast;
mod index;
mod induce;
mod keysort;
mod sais;
mod verify;

#[cfg(test)]
mod tests;

use index::Idx;

/// Hints the CPU to bring `slice[i]` into the cache, for searches over a suffix array that
/// know which entries (and text bytes) they will read next. Out-of-bounds `i` is harmless:
/// nothing is read. A no-op off x86-64.
#[inline(always)]
pub fn prefetch<T>(slice: &[T], i: usize) {
    fast::prefetch(slice, i);
}

/// The longest text [`suffix_array`] sorts with `u32` indices: `2^31 - 1` bytes (the sorter
/// uses the top bit of each index as a mark while it works). Longer texts need
/// [`suffix_array_u64`] (or [`build`], which picks the width).
pub const MAX_U32_LEN: u64 = <u32 as Idx>::MAX_LEN;

/// Why a suffix array could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SortError {
    /// The text is too long for `u32` indices.
    #[error("text of {len} bytes is too long for 32-bit suffix indices (at most {max}); use 64-bit indices")]
    TooLong {
        /// The text length.
        len: u64,
        /// The longest supported length.
        max: u64,
    },
}

/// Why [`verify`] rejected a suffix array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The array does not have one entry per text byte.
    #[error("suffix array has {sa_len} entries for a text of {text_len} bytes")]
    WrongLength {
        /// The text length.
        text_len: u64,
        /// The array length.
        sa_len: u64,
    },
    /// An entry is not an offset into the text.
    #[error("entry {index} is {value}, past the end of the {text_len}-byte text")]
    OutOfRange {
        /// The position of the entry in the array.
        index: u64,
        /// The entry.
        value: u64,
        /// The text length.
        text_len: u64,
    },
    /// A suffix appears twice.
    #[error("suffix {value} appears twice, at entries {first} and {second}")]
    Duplicate {
        /// The suffix offset.
        value: u64,
        /// Its first position in the array.
        first: u64,
        /// Its second position in the array.
        second: u64,
    },
    /// Two neighbouring suffixes are in the wrong order.
    #[error("entries {index} and the next are out of order: suffix {left} is not smaller than suffix {right}")]
    OutOfOrder {
        /// The position of the first of the two entries.
        index: u64,
        /// The suffix at `index`.
        left: u64,
        /// The suffix at `index + 1`.
        right: u64,
    },
}

/// Options for [`build`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SortOptions {
    /// Use 64-bit indices even when 32-bit ones would do (tests use it to exercise the
    /// 64-bit path on small inputs). Default: `false`.
    pub force_u64: bool,
}

impl SortOptions {
    /// The defaults: 32-bit indices whenever the text allows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`SortOptions::force_u64`].
    pub fn force_u64(mut self, yes: bool) -> Self {
        self.force_u64 = yes;
        self
    }
}

/// A suffix array with 32-bit or 64-bit indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuffixArray {
    /// 32-bit indices (texts up to [`MAX_U32_LEN`] bytes).
    U32(Vec<u32>),
    /// 64-bit indices.
    U64(Vec<u64>),
}

impl SuffixArray {
    /// The number of entries (the text length).
    pub fn len(&self) -> usize {
        match self {
            Self::U32(v) => v.len(),
            Self::U64(v) => v.len(),
        }
    }

    /// True for the suffix array of the empty text.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `i`: the offset of the `i`-th smallest suffix.
    ///
    /// # Panics
    /// If `i >= self.len()`, like slice indexing.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        match self {
            Self::U32(v) => u64::from(v[i]),
            Self::U64(v) => v[i],
        }
    }

    /// The entries as `u64`, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (a, b) = match self {
            Self::U32(v) => (Some(v.iter().map(|&x| u64::from(x))), None),
            Self::U64(v) => (None, Some(v.iter().copied())),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// The 32-bit entries, if this array has them.
    pub fn as_u32(&self) -> Option<&[u32]> {
        match self {
            Self::U32(v) => Some(v),
            Self::U64(_) => None,
        }
    }

    /// The 64-bit entries, if this array has them.
    pub fn as_u64(&self) -> Option<&[u64]> {
        match self {
            Self::U32(_) => None,
            Self::U64(v) => Some(v),
        }
    }

    /// Bytes per entry: 4 or 8.
    pub fn index_width(&self) -> usize {
        match self {
            Self::U32(_) => 4,
            Self::U64(_) => 8,
        }
    }

    /// Checks this array against `text` (see [`verify`]).
    pub fn verify(&self, text: &[u8]) -> Result<(), VerifyError> {
        match self {
            Self::U32(v) => verify(text, v),
            Self::U64(v) => verify_u64(text, v),
        }
    }
}

/// The suffix array of `text` with 32-bit indices.
///
/// Sorts with the ambient rayon pool (`rayon::current_num_threads()`); pick the thread count
/// with `ThreadPool::install`. The result does not depend on the thread count.
///
/// Memory: the returned array (4 bytes per text byte) plus small per-thread buffers and at
/// most two bits per text byte of bit sets (see the crate documentation); the text is only
/// read.
///
/// # Errors
/// [`SortError::TooLong`] if `text` is longer than [`MAX_U32_LEN`].
pub fn suffix_array(text: &[u8]) -> Result<Vec<u32>, SortError> {
    if text.len() as u64 > MAX_U32_LEN {
        return Err(SortError::TooLong {
            len: text.len() as u64,
            max: MAX_U32_LEN,
        });
    }
    Ok(sort::<u32>(text))
}

/// The suffix array of `text` with 64-bit indices (any length).
///
/// Takes 8 bytes per text byte; prefer [`build`], which uses 32-bit indices when it can.
pub fn suffix_array_u64(text: &[u8]) -> Vec<u64> {
    sort::<u64>(text)
}

/// The suffix array of `text`, with 32-bit indices up to [`MAX_U32_LEN`] bytes (unless
/// `opts.force_u64`), 64-bit ones beyond.
pub fn build(text: &[u8], opts: &SortOptions) -> SuffixArray {
    if opts.force_u64 || text.len() as u64 > MAX_U32_LEN {
        SuffixArray::U64(sort::<u64>(text))
    } else {
        SuffixArray::U32(sort::<u32>(text))
    }
}

/// Checks that `sa` is the suffix array of `text`, in linear time. Takes 4 extra bytes per
/// entry (8 above 4 GiB).
///
/// # Errors
/// The first defect found: a [`VerifyError::WrongLength`], an entry
/// [`VerifyError::OutOfRange`], a [`VerifyError::Duplicate`], or two neighbours
/// [`VerifyError::OutOfOrder`].
pub fn verify(text: &[u8], sa: &[u32]) -> Result<(), VerifyError> {
    verify::verify_impl(text, sa)
}

/// [`verify`] for 64-bit indices.
///
/// # Errors
/// As [`verify`].
pub fn verify_u64(text: &[u8], sa: &[u64]) -> Result<(), VerifyError> {
    verify::verify_impl(text, sa)
}

fn sort<I: Idx>(text: &[u8]) -> Vec<I> {
    debug_assert!(text.len() as u64 <= I::MAX_LEN);
    let mut sa = vec![I::ZERO; text.len()];
    sais::sais(text, &mut sa, 256, &sais::Ctx::ambient());
    sa
}
