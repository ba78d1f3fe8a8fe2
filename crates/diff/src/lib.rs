//! The fwdelta matcher: turns a source and a destination image into a bsdiff-family edit script.
//!
//! The source is suffix-sorted once ([`SourceIndex`]); the destination is cut into fixed blocks
//! ([`DiffOptions::block_size`]) that are matched in parallel and joined in order, so the script
//! is the same for every thread count. Inside a block the matcher follows bsdiff's approximate
//! matching: find the longest exact match of the destination in the source, extend the
//! alignment forward and backward while at least half of the bytes agree, and emit
//! [`Control`]s whose `add` parts carry byte-wise differences (mostly zeros, which compress
//! well) and whose `extra` parts carry literal bytes. Unlike bsdiff 4.3 it stays near-linear on
//! long runs (erased flash, zero padding): suffix-array searches skip the prefix already known
//! to agree, and long matches that do not beat the current alignment are jumped over instead of
//! being searched again at every byte.
//!
//! ```
//! use fwdelta_diff::{diff, DiffOptions};
//!
//! let src = b"firmware v1: jump 0x1000, data 0xFFFFFFFF".repeat(20);
//! let mut dst = src.clone();
//! dst.splice(100..100, b"new code".iter().copied());
//! let controls = diff(&src, &dst, &DiffOptions::default())?;
//!
//! // The controls cover the destination exactly.
//! let covered: u64 = controls.iter().map(|c| c.add_len + c.extra_len).sum();
//! assert_eq!(covered, dst.len() as u64);
//! # Ok::<(), fwdelta_diff::DiffError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod matcher;
mod mmap;
mod options;
mod search;

use rayon::prelude::*;

pub use error::DiffError;
pub use fwdelta_patch::Control;
pub use mmap::{map_file, Mapped};
pub use options::{DiffOptions, MIN_BLOCK_SIZE};

use fwdelta_sufsort::{SortOptions, SuffixArray};
use matcher::{match_block, Op, Params};
use search::{Buckets, Seeds};

/// Receives progress reports, for a progress bar. Called from worker threads.
pub trait Progress: Sync {
    /// A stage starts: `name` is `"suffix-sort"` or `"match"`, `total` its amount of work in
    /// bytes.
    fn stage(&self, name: &str, total: u64);
    /// `n` more bytes of the current stage are done.
    fn advance(&self, n: u64);
}

/// A [`Progress`] that ignores every report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _name: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
}

/// The suffix array of one source image: built once, reusable for many destinations.
#[derive(Debug)]
pub struct SourceIndex<'a> {
    src: &'a [u8],
    sa: SuffixArray,
    buckets: Buckets,
    seeds: Seeds,
}

impl<'a> SourceIndex<'a> {
    /// Suffix-sorts `src` on a pool of [`DiffOptions::threads`] workers.
    ///
    /// # Errors
    /// [`DiffError::InvalidOption`], [`DiffError::ThreadPool`], or [`DiffError::Sort`] when the
    /// sorter refuses the image.
    pub fn new(src: &'a [u8], opts: &DiffOptions) -> Result<Self, DiffError> {
        Self::with_progress(src, opts, &NoProgress)
    }

    /// As [`SourceIndex::new`], reporting the `"suffix-sort"` stage to `progress`.
    ///
    /// # Errors
    /// As [`SourceIndex::new`].
    pub fn with_progress(
        src: &'a [u8],
        opts: &DiffOptions,
        progress: &dyn Progress,
    ) -> Result<Self, DiffError> {
        opts.validate()?;
        let pool = opts.pool()?;
        pool.install(|| Self::build(src, progress))
    }

    /// Sorts on the ambient rayon pool.
    fn build(src: &'a [u8], progress: &dyn Progress) -> Result<Self, DiffError> {
        Self::build_with(src, progress, &SortOptions::default())
    }

    fn build_with(
        src: &'a [u8],
        progress: &dyn Progress,
        sort: &SortOptions,
    ) -> Result<Self, DiffError> {
        progress.stage("suffix-sort", src.len() as u64);
        // The bucket tables and the seed set are two passes over the text: on a pool of two
        // or more threads they fill the gaps the suffix sort's sequential phases leave.
        let (sa, (buckets, seeds)) = rayon::join(
            || fwdelta_sufsort::build(src, sort),
            || rayon::join(|| Buckets::new(src), || Seeds::new(src)),
        );
        progress.advance(src.len() as u64);
        Ok(SourceIndex {
            src,
            sa,
            buckets,
            seeds,
        })
    }

    /// The source image.
    pub fn source(&self) -> &'a [u8] {
        self.src
    }

    /// Diffs `dst` against the indexed source on a pool of [`DiffOptions::threads`] workers.
    ///
    /// # Errors
    /// [`DiffError::InvalidOption`] or [`DiffError::ThreadPool`].
    pub fn diff(&self, dst: &[u8], opts: &DiffOptions) -> Result<Vec<Control>, DiffError> {
        self.diff_with_progress(dst, opts, &NoProgress)
    }

    /// As [`SourceIndex::diff`], reporting the `"match"` stage to `progress`.
    ///
    /// # Errors
    /// As [`SourceIndex::diff`].
    pub fn diff_with_progress(
        &self,
        dst: &[u8],
        opts: &DiffOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<Control>, DiffError> {
        opts.validate()?;
        let pool = opts.pool()?;
        Ok(pool.install(|| self.match_all(dst, opts, progress)))
    }

    /// Matches on the ambient rayon pool.
    fn match_all(&self, dst: &[u8], opts: &DiffOptions, progress: &dyn Progress) -> Vec<Control> {
        progress.stage("match", dst.len() as u64);
        let params = Params {
            switch_margin: opts.switch_margin,
            skip_certain_creeps: true,
        };
        let bs = opts.block_size;
        let blocks: Vec<Vec<Op>> = (0..dst.len().div_ceil(bs))
            .into_par_iter()
            .map(|b| {
                let start = b * bs;
                let end = dst.len().min(start + bs);
                let new = &dst[start..end];
                let ops = match &self.sa {
                    SuffixArray::U32(sa) => {
                        match_block(self.src, sa, &self.buckets, &self.seeds, new, start, params)
                    }
                    SuffixArray::U64(sa) => {
                        match_block(self.src, sa, &self.buckets, &self.seeds, new, start, params)
                    }
                };
                progress.advance((end - start) as u64);
                ops
            })
            .collect();
        to_controls(blocks.into_iter().flatten())
    }
}

/// Diffs `dst` against `src`: suffix sorting and matching on one pool of
/// [`DiffOptions::threads`] workers.
///
/// # Errors
/// [`DiffError::InvalidOption`], [`DiffError::ThreadPool`] or [`DiffError::Sort`].
pub fn diff(src: &[u8], dst: &[u8], opts: &DiffOptions) -> Result<Vec<Control>, DiffError> {
    diff_with_progress(src, dst, opts, &NoProgress)
}

/// As [`diff`], reporting the `"suffix-sort"` and `"match"` stages to `progress`.
///
/// # Errors
/// As [`diff`].
pub fn diff_with_progress(
    src: &[u8],
    dst: &[u8],
    opts: &DiffOptions,
    progress: &dyn Progress,
) -> Result<Vec<Control>, DiffError> {
    opts.validate()?;
    let pool = opts.pool()?;
    pool.install(|| {
        let index = SourceIndex::build(src, progress)?;
        Ok(index.match_all(dst, opts, progress))
    })
}

/// Joins ops into controls: drops empty ops, merges ops that continue each other, and turns
/// absolute source positions into relative seeks.
fn to_controls(ops: impl Iterator<Item = Op>) -> Vec<Control> {
    let mut merged: Vec<Op> = Vec::new();
    for op in ops {
        if op.add == 0 && op.extra == 0 {
            continue;
        }
        if let Some(p) = merged.last_mut() {
            if op.add == 0 {
                p.extra += op.extra;
                continue;
            }
            if p.extra == 0 && p.src + p.add == op.src {
                p.add += op.add;
                p.extra = op.extra;
                continue;
            }
        }
        merged.push(op);
    }
    let mut out: Vec<Control> = Vec::with_capacity(merged.len() + 1);
    let mut cursor = 0usize;
    for op in merged {
        if op.add > 0 {
            if op.src != cursor {
                let delta = op.src as i64 - cursor as i64;
                match out.last_mut() {
                    Some(c) => c.seek = delta,
                    None => out.push(Control {
                        add_len: 0,
                        extra_len: 0,
                        seek: delta,
                    }),
                }
            }
            cursor = op.src + op.add;
        }
        out.push(Control {
            add_len: op.add as u64,
            extra_len: op.extra as u64,
            seek: 0,
        });
    }
    out
}
