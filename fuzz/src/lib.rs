//! The fuzz campaigns of fwdelta.
//!
//! Each fuzz target (`fuzz_targets/<name>.rs`) is one line that calls
//! `targets::<name>::run(data)`; the checks live here so that the seed writer
//! (`examples/seeds.rs`), the artifact exporter (`examples/export.rs`) and the unit tests run
//! exactly what libFuzzer runs. Every target documents its input layout at the top of its
//! module, and every target checks a property, not only the absence of panics.
//!
//! Shared pieces:
//! - [`input::Input`]: the byte cursor that turns fuzz data into choices;
//! - [`alloc`]: a counting global allocator, to check that an applier's heap stays within
//!   what its validated sizes allow;
//! - [`io`]: a writer that refuses (panics) past the declared destination size, can fail on
//!   purpose, and hashes instead of storing; a reader that returns short reads;
//! - [`v1`], [`bsdiff`]: builders of structured patches and naive reference appliers
//!   written from the format descriptions (not from the appliers' code);
//! - [`firmware`]: firmware-like image pairs (code with shifted branches, relocated pointer
//!   tables, changed constants, erased-flash padding) generated from fuzz bytes.

pub mod alloc;
pub mod bsdiff;
pub mod firmware;
pub mod input;
pub mod io;
pub mod targets;
pub mod v1;

/// Every fuzz binary counts its heap (see [`alloc`]).
#[global_allocator]
static GLOBAL: alloc::Tracking = alloc::Tracking;

/// MD5 of `data` (the harness's own, independent of the patch crate's).
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(data).into()
}
