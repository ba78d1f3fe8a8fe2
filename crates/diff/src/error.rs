//! Errors of the matcher.

/// Why a diff could not be computed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiffError {
    /// An option is out of its documented range.
    #[error("invalid option {option} = {value}: {reason}")]
    InvalidOption {
        /// The field of [`DiffOptions`](crate::DiffOptions).
        option: &'static str,
        /// The rejected value.
        value: u64,
        /// The accepted range.
        reason: &'static str,
    },
    /// The worker thread pool could not be created.
    #[error("cannot start the worker threads: {message}")]
    ThreadPool {
        /// rayon's explanation.
        message: String,
    },
    /// The suffix sorter refused the source image.
    #[error("suffix sorting the source failed: {message}")]
    Sort {
        /// The sorter's explanation.
        message: String,
    },
}
