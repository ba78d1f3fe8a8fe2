//! `patch_info`: the header parsers and `read_info` on arbitrary bytes.
//!
//! Input: `[mode u8] [rest]`. `mode % 3`: 0 = `rest` as is; 1 = `rest` with a fixed-up
//! v1 header ([`fix_header`](crate::v1::fix_header) for an empty source), so the block walk
//! is reached; 2 = `rest` behind a `BSDIFF40` magic.
//!
//! Properties:
//! - `read_info` never panics, and agrees with `detect_format` and with itself when the
//!   detected format is named;
//! - v1: an accepted header is one the format allows (checksum, version, flags, reserved
//!   bytes, ranges) and serialises back to the same 76 bytes; the reported structure adds up
//!   (header + block headers + chunks = patch size; add + extra bytes = destination size);
//!   a v1 patch that `read_info` rejects cannot be applied, and one that applies is
//!   described with its real destination size;
//! - BSDIFF40: header + three streams = patch size, destination size as stored;
//! - raw: step count and destination size as a naive walk finds them.

use fwdelta_patch::{apply_slice, detect_format, read_info, Format, PatchInfo};

use super::common::options;
use crate::bsdiff::offtin;
use crate::input::Input;
use crate::io::CheckedWriter;
use crate::v1::{crc32, fix_header, Header, HEADER_LEN, MAGIC};

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let rest = inp.rest();
    let patch = match mode % 3 {
        0 => rest.to_vec(),
        1 => fix_header(rest, &[]),
        _ => [&b"BSDIFF40"[..], rest].concat(),
    };
    let patch = &patch[..];
    let detected = detect_format(patch);
    let auto = read_info(patch, None);
    if let Ok(info) = &auto {
        assert_eq!(Some(info.format), detected);
        check_info(patch, info);
    }
    if let Some(f) = detected {
        let named = read_info(patch, Some(f));
        assert_eq!(
            format!("{auto:?}"),
            format!("{named:?}"),
            "read_info with the detected format named"
        );
    }
    for f in [Format::Fwdelta, Format::Bsdiff40] {
        if Some(f) != detected {
            assert!(
                read_info(patch, Some(f)).is_err(),
                "{f} accepted without its magic"
            );
        }
    }
    let raw = read_info(patch, Some(Format::Raw));
    match (&raw, walk_raw(patch)) {
        (Ok(info), Some((count, size))) => {
            assert_eq!(info.raw_controls, Some(count));
            assert_eq!(info.dst_size, Some(size));
        }
        (Err(_), None) => {}
        (r, w) => panic!("raw read_info {r:?} vs naive walk {w:?}"),
    }

    // v1: what read_info rejects does not apply; what applies, read_info describes.
    if detected == Some(Format::Fwdelta) {
        let mut w = CheckedWriter::new(u64::MAX);
        let applied = apply_slice(&[], patch, &mut w, &options(None));
        match (&auto, &applied) {
            (Err(i), Ok(s)) => panic!("read_info rejects ({i}) a patch that applies: {s:?}"),
            (Ok(info), Ok(s)) => assert_eq!(info.dst_size, Some(s.dst_size)),
            _ => {}
        }
    }
}

fn check_info(patch: &[u8], info: &PatchInfo) {
    assert_eq!(info.patch_size, patch.len() as u64);
    match info.format {
        Format::Fwdelta => {
            let h: [u8; HEADER_LEN] = patch[..HEADER_LEN].try_into().expect("76 bytes");
            assert_eq!(h[..8], MAGIC);
            let stored = u32::from_le_bytes([h[72], h[73], h[74], h[75]]);
            assert_eq!(
                stored,
                crc32(&h[..72]),
                "accepted a header with a bad checksum"
            );
            let f = Header::from_bytes(&h);
            assert_eq!((f.version, f.compression), (1, 1));
            assert!(f.flags <= 1, "accepted unknown header flags {:#x}", f.flags);
            assert_eq!((f.reserved15, f.reserved20), (0, 0));
            assert!((10..=30).contains(&f.window_log));
            assert!((4096..=64 << 20).contains(&f.block_size));
            let header = info.v1_header.expect("v1 header");
            assert_eq!(header.to_bytes(), h, "header does not serialise back");
            assert_eq!(
                (info.src_size, info.dst_size, info.src_md5, info.dst_md5),
                (
                    Some(f.src_size),
                    Some(f.dst_size),
                    Some(f.src_md5),
                    Some(f.dst_md5)
                )
            );
            let body = info.v1_body.expect("v1 body");
            let total = HEADER_LEN as u64
                + body.block_header_bytes
                + body.compressed_sizes.iter().sum::<u64>();
            assert_eq!(total, patch.len() as u64, "structure does not add up");
            assert_eq!(body.raw_sizes[1] + body.raw_sizes[2], f.dst_size);
            assert_eq!(body.blocks == 0, f.dst_size == 0);
            assert!(body.grouped_blocks <= body.blocks);
        }
        Format::Bsdiff40 => {
            let streams = info.bsdiff40_streams.expect("stream sizes");
            assert_eq!(32 + streams.iter().sum::<u64>(), patch.len() as u64);
            let stored = offtin(patch[24..32].try_into().expect("8 bytes"));
            assert_eq!(info.dst_size, u64::try_from(stored).ok());
            assert_eq!(
                Some(streams[0]),
                u64::try_from(offtin(patch[8..16].try_into().expect("8 bytes"))).ok()
            );
        }
        _ => {}
    }
}

/// Step count and destination size of a raw stream, or `None` if it does not end exactly
/// at a step boundary.
fn walk_raw(patch: &[u8]) -> Option<(u64, u64)> {
    let (mut p, mut count, mut size) = (patch, 0u64, 0u64);
    while !p.is_empty() {
        let rec = p.get(..24)?;
        let add = u64::from_le_bytes(rec[..8].try_into().ok()?);
        let extra = u64::from_le_bytes(rec[8..16].try_into().ok()?);
        let n = add.checked_add(extra)?;
        p = &p[24..];
        if n > p.len() as u64 {
            return None;
        }
        p = &p[n as usize..];
        size = size.checked_add(n)?;
        count += 1;
    }
    Some((count, size))
}
