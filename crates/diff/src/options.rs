//! Options of the matcher.

use std::num::NonZeroUsize;

use crate::DiffError;

/// Smallest accepted [`DiffOptions::block_size`].
pub const MIN_BLOCK_SIZE: usize = 4096;

/// Options of [`diff`](crate::diff) and [`SourceIndex`](crate::SourceIndex).
///
/// Every field has a documented default ([`DiffOptions::default`]); [`DiffOptions::validate`]
/// rejects invalid values with [`DiffError::InvalidOption`] instead of adjusting them. The edit
/// script depends on the data and on these options only, never on `threads`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiffOptions {
    /// Worker threads for suffix sorting and matching. Default `None`: one per core (rayon's
    /// default, which honours `RAYON_NUM_THREADS`). The output does not depend on it.
    pub threads: Option<NonZeroUsize>,
    /// Size in bytes of the destination blocks matched in parallel. Default 1 MiB; at least
    /// [`MIN_BLOCK_SIZE`]. Block boundaries are multiples of this size, so the output depends on
    /// it (slightly: each seam costs about one control) but not on the thread count.
    pub block_size: usize,
    /// Minimum advantage, in matching bytes, that a new exact match must have over continuing
    /// the current alignment before the matcher switches to it (bsdiff uses 8). Default 8; at
    /// least 1. Larger values give fewer, longer controls.
    pub switch_margin: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            threads: None,
            block_size: 1 << 20,
            switch_margin: 8,
        }
    }
}

impl DiffOptions {
    /// Sets [`threads`](Self::threads).
    #[must_use]
    pub fn threads(mut self, threads: Option<NonZeroUsize>) -> Self {
        self.threads = threads;
        self
    }

    /// Sets [`block_size`](Self::block_size).
    #[must_use]
    pub fn block_size(mut self, block_size: usize) -> Self {
        self.block_size = block_size;
        self
    }

    /// Sets [`switch_margin`](Self::switch_margin).
    #[must_use]
    pub fn switch_margin(mut self, switch_margin: usize) -> Self {
        self.switch_margin = switch_margin;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`DiffError::InvalidOption`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), DiffError> {
        if self.block_size < MIN_BLOCK_SIZE {
            return Err(DiffError::InvalidOption {
                option: "block_size",
                value: self.block_size as u64,
                reason: "must be at least 4096",
            });
        }
        if self.switch_margin == 0 || self.switch_margin > 1 << 16 {
            return Err(DiffError::InvalidOption {
                option: "switch_margin",
                value: self.switch_margin as u64,
                reason: "must be between 1 and 65536",
            });
        }
        Ok(())
    }

    pub(crate) fn pool(&self) -> Result<rayon::ThreadPool, DiffError> {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(t) = self.threads {
            b = b.num_threads(t.get());
        }
        b.build().map_err(|e| DiffError::ThreadPool {
            message: e.to_string(),
        })
    }
}
