//! The checks every applier target makes, whatever the patch.

use fwdelta_patch::{
    apply, apply_slice, verify, verify_reader, ApplyOptions, ApplySummary, Expected, Format,
    PatchError,
};

use crate::alloc::peak_during;
use crate::input::Input;
use crate::io::{CheckedWriter, ShortReader};

/// Largest destination the targets let an applier produce.
pub const MAX_OUTPUT: u64 = 4 << 20;
/// Largest v1 block size the targets accept.
pub const MAX_BLOCK: u32 = 1 << 20;
/// Largest zstd window log the targets accept (4 MiB per stream).
pub const MAX_WINDOW_LOG: u32 = 22;
/// Heap an applier may use beyond its block buffers: fixed read/write buffers (2 x 32 KiB
/// for v1, 64 KiB for the bsdiff formats), error messages, small vectors.
pub const HEAP_SLACK: usize = 256 << 10;

/// Small limits, so that "allocates no more than the validated sizes allow" is a tight check.
pub fn options(format: Option<Format>) -> ApplyOptions {
    let mut o = ApplyOptions::default();
    o.format = format;
    o.max_output_size = MAX_OUTPUT;
    o.max_block_size = MAX_BLOCK;
    o.max_window_log = MAX_WINDOW_LOG;
    o.max_buffered_patch = 1 << 20;
    o
}

/// How the patch is fed and the output taken.
#[derive(Debug, Clone, Copy)]
pub struct Drive {
    /// Largest read the patch reader returns.
    pub step: usize,
    /// Whether the reader returns `Interrupted` now and then.
    pub interrupt: bool,
    /// A writer failure after this many bytes.
    pub fail_after: Option<u64>,
    /// Largest write the output takes at once.
    pub max_write: usize,
}

impl Drive {
    /// Reads the choices from one byte (and two more for the failure point).
    pub fn read(inp: &mut Input) -> Drive {
        let b = inp.u8();
        let fail = inp.u16();
        Drive {
            step: [1, 2, 3, 7, 64, 1000, 4096, 1 << 16][usize::from(b & 7)],
            interrupt: b & 8 != 0,
            fail_after: (b & 0x10 != 0).then_some(u64::from(fail)),
            max_write: if b & 0x20 != 0 {
                usize::from(fail % 97) + 1
            } else {
                usize::MAX
            },
        }
    }
}

/// The destination size a patch declares, read from the bytes as the formats describe
/// (v1: bytes 48..56; BSDIFF40: bytes 24..32, sign-magnitude), if any.
pub fn declared_size(patch: &[u8], format: Option<Format>) -> Option<u64> {
    if format == Some(Format::Raw) {
        return None;
    }
    if patch.len() >= crate::v1::HEADER_LEN && patch[..8] == crate::v1::MAGIC {
        let h: [u8; 8] = patch[48..56].try_into().ok()?;
        return Some(u64::from_le_bytes(h));
    }
    if patch.len() >= 32 && &patch[..8] == b"BSDIFF40" {
        let h: [u8; 8] = patch[24..32].try_into().ok()?;
        return u64::try_from(crate::bsdiff::offtin(h)).ok();
    }
    None
}

/// The v1 block size a patch declares, if it has a v1 header and the limits accept it.
fn declared_block(patch: &[u8]) -> u64 {
    if patch.len() >= crate::v1::HEADER_LEN && patch[..8] == crate::v1::MAGIC {
        let b = u32::from_le_bytes([patch[16], patch[17], patch[18], patch[19]]);
        if b <= MAX_BLOCK {
            return u64::from(b);
        }
    }
    0
}

/// One applier call's result, with the output's size and MD5.
#[derive(Debug)]
pub struct Outcome {
    /// What the applier returned.
    pub result: Result<ApplySummary, PatchError>,
    /// Bytes written and their MD5.
    pub digest: (u64, [u8; 16]),
}

fn same_error(a: &PatchError, b: &PatchError) -> bool {
    a.to_string() == b.to_string()
}

/// Applies `patch` to `src` through every entry point and checks that they agree:
///
/// - `apply_slice` never writes past the declared destination size (nor the output limit),
///   and its heap stays within three validated blocks plus fixed buffers;
/// - on success the summary's size and MD5 are those of the bytes written (and, for v1,
///   the declared MD5);
/// - `apply` over a reader with short reads gives the same result (BSDIFF40 is buffered
///   there, so its heap may also hold the patch);
/// - `verify` and `verify_reader` agree with `apply`: a match on success, a mismatch (not
///   an error) when only the declared destination differs, the same error otherwise;
/// - a writer that fails makes the applier fail, never panic or succeed.
pub fn check_apply(src: &[u8], patch: &[u8], opts: &ApplyOptions, drive: Drive) -> Outcome {
    let declared = declared_size(patch, opts.format);
    let limit = declared.unwrap_or(u64::MAX).min(opts.max_output_size);
    let block = declared_block(patch) as usize;
    let bound = 3 * block + HEAP_SLACK;

    let mut w = CheckedWriter::new(limit).max_write(drive.max_write);
    let (result, peak) = peak_during(|| apply_slice(src, patch, &mut w, opts));
    assert!(
        peak <= bound,
        "apply_slice used {peak} heap bytes, above {bound} (block size {block})"
    );
    let digest = w.digest();
    if let Ok(s) = &result {
        assert_eq!((s.dst_size, s.dst_md5), digest, "summary vs bytes written");
        assert!(s.dst_size <= limit);
        if s.format == Format::Fwdelta {
            assert_eq!(s.declared_dst_md5, Some(s.dst_md5));
            assert_eq!(Some(s.dst_size), declared);
        }
        if s.format != Format::Raw {
            assert_eq!(s.patch_size, patch.len() as u64, "patch bytes consumed");
        }
    }

    // The same through a reader.
    let mut w2 = CheckedWriter::new(limit).max_write(drive.max_write);
    let rd = ShortReader::new(patch, drive.step, drive.interrupt);
    let (r2, peak2) = peak_during(|| apply(src, rd, &mut w2, opts));
    let buffered = if opts.format == Some(Format::Raw) {
        0
    } else {
        2 * patch.len()
    };
    assert!(
        peak2 <= bound + buffered,
        "apply used {peak2} heap bytes, above {}",
        bound + buffered
    );
    match (&result, &r2) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "apply_slice and apply disagree");
            assert_eq!(w2.digest(), digest);
        }
        (Err(a), Err(b)) => assert!(same_error(a, b), "apply_slice: {a}\napply: {b}"),
        (a, b) => panic!("apply_slice: {a:?}\napply: {b:?}"),
    }

    // verify and verify_reader.
    let expected = match &result {
        Ok(s) => Expected {
            md5: s.dst_md5,
            size: s.dst_size,
        },
        Err(_) => Expected {
            md5: [0; 16],
            size: 0,
        },
    };
    let v1 = verify(src, patch, expected, opts);
    let v2 = verify_reader(
        src,
        ShortReader::new(patch, drive.step, drive.interrupt),
        expected,
        opts,
    );
    for v in [&v1, &v2] {
        match (&result, v) {
            (Ok(_), Ok(v)) => assert!(v.matches(), "verify after a good apply: {:?}", v.mismatch),
            (
                Err(PatchError::DestMismatch {
                    actual_size,
                    actual_md5,
                    ..
                }),
                Ok(v),
            ) => {
                assert_eq!((v.actual_size, v.actual_md5), (*actual_size, *actual_md5));
                assert!(!v.matches());
            }
            (Err(a), Err(b)) => assert!(same_error(a, b), "apply: {a}\nverify: {b}"),
            (a, b) => panic!("apply: {a:?}\nverify: {b:?}"),
        }
    }

    // A failing writer.
    if let Some(k) = drive.fail_after {
        let mut w3 = CheckedWriter::new(limit).fail_after(Some(k));
        let r3 = apply_slice(src, patch, &mut w3, opts);
        match (&result, &r3) {
            (_, Err(_)) => {}
            (Ok(a), Ok(b)) => {
                assert!(
                    a.dst_size <= k,
                    "wrote {} bytes past a failed write",
                    a.dst_size
                );
                assert_eq!(a, b);
            }
            (Err(a), Ok(_)) => panic!("succeeded with a failing writer, failed without: {a}"),
        }
    }
    Outcome { result, digest }
}

/// Panics unless the applier's outcome is the reference's: the same bytes, or an error
/// from both.
pub fn compare_with_reference(outcome: &Outcome, reference: &Result<Vec<u8>, String>) {
    match (&outcome.result, reference) {
        (Ok(_), Ok(out)) => assert_eq!(
            outcome.digest,
            (out.len() as u64, crate::md5(out)),
            "applier and reference rebuilt different images"
        ),
        (Err(_), Err(_)) => {}
        (Ok(s), Err(why)) => panic!("applier accepted ({s:?}) what the reference rejects: {why}"),
        (Err(e), Ok(out)) => panic!(
            "applier rejected what the reference applies ({} bytes): {e}",
            out.len()
        ),
    }
}
