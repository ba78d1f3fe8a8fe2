//! `roundtrip_firmware`: diff → encode → apply on firmware-like pairs generated from the
//! input ([`crate::firmware`]: shifted code with relocated calls and pointer tables,
//! changed constants, erased-flash padding that grows or shrinks).
//!
//! Input: `[opts u8] [generator bytes]`. `opts` bits 0-1: format (v1, BSDIFF40, raw, all);
//! bit 2: also diff with 2 threads, and through a reused [`SourceIndex`], and require the
//! same script; bits 3-4: diff block size 4096 << n (seams inside the images); bit 5: v1
//! context grouping; bit 6: the three-stream v1 body (no zero runs). Bit 2 also compresses
//! the v1 streams on 2 threads.
//!
//! Checks: those of [`roundtrip::check_cycle`](super::roundtrip::check_cycle) (exact
//! rebuild, verify, read_info, wrong source refused), and a thread-count-independent script.

use std::num::NonZeroUsize;

use fwdelta_diff::{diff, DiffOptions, SourceIndex};
use fwdelta_patch::{validate_controls, EncodeOptions};

use super::roundtrip::check_formats;
use crate::firmware::generate;
use crate::input::Input;

/// Largest image generated.
pub const MAX_IMAGE: usize = 96 << 10;

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let opts = inp.u8();
    let pair = generate(&mut inp, MAX_IMAGE);
    let d = DiffOptions::default()
        .threads(NonZeroUsize::new(1))
        .block_size(4096 << ((opts >> 3) & 3));
    let controls = diff(&pair.src, &pair.dst, &d).expect("diff with valid options");
    if let Err(e) = validate_controls(pair.src.len() as u64, pair.dst.len() as u64, &controls) {
        panic!("the matcher produced an invalid script: {e}");
    }
    if opts & 4 != 0 {
        let two = diff(
            &pair.src,
            &pair.dst,
            &d.clone().threads(NonZeroUsize::new(2)),
        )
        .expect("diff with 2 threads");
        assert!(two == controls, "the script depends on the thread count");
        let index = SourceIndex::new(&pair.src, &d).expect("index");
        let again = index.diff(&pair.dst, &d).expect("diff through an index");
        assert!(
            again == controls,
            "a reused SourceIndex gives another script"
        );
    }
    let mut eo = EncodeOptions::default();
    eo.zstd_level = 1;
    eo.window_log = 17;
    eo.block_size = 16 << 10;
    eo.context_grouping = opts & 0x20 != 0;
    eo.bzip2_level = 1;
    // Bit 6: the three-stream v1 body; bit 2 (the threads check above) also compresses the
    // v1 streams on 2 threads, which `check_cycle` compares with one thread.
    eo.zero_runs = opts & 0x40 == 0;
    eo.threads = if opts & 4 != 0 { 2 } else { 1 };
    check_formats(opts, &pair.src, &pair.dst, &controls, &eo);
}
