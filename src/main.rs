//! The `fwdelta` command line. (Skeleton.)
fn main() {}
