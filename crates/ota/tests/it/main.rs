//! Integration tests of fwdelta-ota (one test binary; see the modules).

mod common;
mod parse;
mod sandbox;
mod validation;
mod wire;
