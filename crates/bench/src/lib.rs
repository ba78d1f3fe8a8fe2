//! fwdelta's benchmark harness: runs fwdelta and the anchor delta tools side by side on a
//! corpus of real firmware pairs and on generated pathological pairs, and reports patch size,
//! ratio, diff and apply time, peak RSS, and whether the round trip was exact.
//!
//! Every tool runs as its own process (fwdelta through its CLI, the Rust anchors through
//! `fwdelta-bench anchor ...`), under GNU time, so that the figures are what a user pays.
//! See `docs/BENCHMARKS.md` for the commands and a published run.
//!
//! ```
//! use fwdelta_bench::compare::median;
//! assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod anchor;
pub mod chart;
pub mod compare;
pub mod corpus;
pub mod gen;
pub mod measure;
pub mod report;
pub mod tools;
