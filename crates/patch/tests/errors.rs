//! Every error path: one test per error variant, truncation, bit flips, hostile sizes,
//! failing writers, and property tests that arbitrary bytes never panic.

mod common;

use std::io::{self, Write};

use common::{edit, firmware, naive_controls, Rng};
use fwdelta_patch::{
    apply, apply_slice, encode, encode_with_digests, md5_of, read_info, verify, ApplyOptions,
    Control, Digests, EncodeOptions, Expected, Format, Mismatch, PatchError, V1Header,
    V1_HEADER_LEN,
};
use proptest::prelude::*;

fn small_case() -> (Vec<u8>, Vec<u8>, Vec<Control>) {
    let mut rng = Rng(0xfeed);
    let src = firmware(&mut rng, 6000);
    let dst = edit(&mut rng, &src);
    let controls = naive_controls(&src, &dst);
    (src, dst, controls)
}

fn enc_opts() -> EncodeOptions {
    let mut o = EncodeOptions::default();
    o.zstd_level = 3;
    o.block_size = 4096;
    o
}

fn patch_of(format: Format) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (src, dst, controls) = small_case();
    let mut patch = Vec::new();
    encode(format, &src, &dst, &controls, &enc_opts(), &mut patch).unwrap();
    (src, dst, patch)
}

fn with_format(f: Format) -> ApplyOptions {
    let mut o = ApplyOptions::default();
    o.format = Some(f);
    o
}

/// Rewrites the v1 header of `patch` with `edit` applied, keeping the checksum valid.
fn rewrite_header(patch: &[u8], edit: impl FnOnce(&mut V1Header)) -> Vec<u8> {
    let mut h = V1Header::parse(&patch[..V1_HEADER_LEN]).unwrap();
    edit(&mut h);
    let mut out = h.to_bytes().to_vec();
    out.extend_from_slice(&patch[V1_HEADER_LEN..]);
    out
}

#[test]
fn every_prefix_of_a_v1_patch_is_an_error() {
    let (src, _, patch) = patch_of(Format::Fwdelta);
    for len in 0..patch.len() {
        let mut out = Vec::new();
        let r = apply(&src, &patch[..len], &mut out, &ApplyOptions::default());
        assert!(r.is_err(), "prefix of {len} bytes was accepted");
        if len < V1_HEADER_LEN {
            assert!(
                out.is_empty(),
                "output written before the header was complete"
            );
        }
        assert!(read_info(&patch[..len], None).is_err());
    }
    // The specific variant for a cut in the middle of the body.
    let r = apply(
        &src,
        &patch[..patch.len() - 3],
        io::sink(),
        &ApplyOptions::default(),
    );
    assert!(matches!(r, Err(PatchError::Truncated { .. })), "{r:?}");
}

#[test]
fn every_prefix_of_a_bsdiff40_patch_is_an_error() {
    let (src, _, patch) = patch_of(Format::Bsdiff40);
    for len in 0..patch.len() {
        let r = apply_slice(&src, &patch[..len], io::sink(), &ApplyOptions::default());
        assert!(r.is_err(), "prefix of {len} bytes was accepted");
    }
}

#[test]
fn raw_prefixes_never_panic_and_cut_records_are_truncated() {
    let (src, _, patch) = patch_of(Format::Raw);
    for len in 0..patch.len() {
        // A raw stream cut at a step boundary is a valid shorter stream; anything else errs.
        let _ = apply(&src, &patch[..len], io::sink(), &with_format(Format::Raw));
    }
    let r = apply(&src, &patch[..10], io::sink(), &with_format(Format::Raw));
    assert!(
        matches!(r, Err(PatchError::Truncated { offset: 10, .. })),
        "{r:?}"
    );
}

#[test]
fn flipped_header_bytes_are_refused_before_writing() {
    let (src, _, patch) = patch_of(Format::Fwdelta);
    for i in 0..V1_HEADER_LEN {
        let mut bad = patch.clone();
        bad[i] ^= 0x01;
        let mut out = Vec::new();
        let r = apply(&src, &bad[..], &mut out, &ApplyOptions::default());
        assert!(out.is_empty(), "byte {i}: output written");
        match (i, r) {
            (0..=7, Err(PatchError::UnknownFormat { .. })) => {}
            (8..=9, Err(PatchError::UnsupportedVersion { .. })) => {}
            (10.., Err(PatchError::HeaderChecksum { expected, actual })) => {
                assert_ne!(expected, actual)
            }
            (i, r) => panic!("byte {i}: unexpected {r:?}"),
        }
    }
}

#[test]
fn flipped_body_bytes_never_give_a_wrong_image() {
    let (src, dst, patch) = patch_of(Format::Fwdelta);
    let mut errors = 0;
    for i in V1_HEADER_LEN..patch.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = patch.clone();
            bad[i] ^= bit;
            let mut out = Vec::new();
            match apply(&src, &bad[..], &mut out, &ApplyOptions::default()) {
                Ok(_) => assert_eq!(out, dst, "byte {i}: accepted with a wrong image"),
                Err(_) => errors += 1,
            }
            assert!(out.len() <= dst.len(), "wrote past the declared size");
        }
    }
    assert!(
        errors > (patch.len() - V1_HEADER_LEN),
        "most flips must be detected ({errors})"
    );
}

#[test]
fn dest_mismatch_is_reported() {
    let (src, dst, patch) = patch_of(Format::Fwdelta);
    let bad = rewrite_header(&patch, |h| h.dst_md5[0] ^= 1);
    let r = apply(&src, &bad[..], io::sink(), &ApplyOptions::default());
    match r {
        Err(PatchError::DestMismatch {
            expected_md5,
            actual_md5,
            expected_size,
            actual_size,
        }) => {
            assert_eq!(actual_md5, md5_of(&dst));
            assert_ne!(expected_md5, actual_md5);
            assert_eq!(expected_size, actual_size);
        }
        other => panic!("{other:?}"),
    }
    // verify reports it as a normal result.
    let expected = Expected {
        md5: md5_of(&dst),
        size: dst.len() as u64,
    };
    let v = verify(&src, &bad, expected, &ApplyOptions::default()).unwrap();
    assert!(matches!(v.mismatch, Some(Mismatch::Header { .. })), "{v:?}");
    let other = Expected {
        md5: [7; 16],
        size: dst.len() as u64,
    };
    let v = verify(&src, &patch, other, &ApplyOptions::default()).unwrap();
    assert!(!v.matches());
    assert!(matches!(v.mismatch, Some(Mismatch::Md5 { .. })));
    let other = Expected {
        md5: md5_of(&dst),
        size: 1,
    };
    let v = verify(&src, &patch, other, &ApplyOptions::default()).unwrap();
    assert!(matches!(
        v.mismatch,
        Some(Mismatch::Size { expected: 1, .. })
    ));
    assert_eq!(v.actual_md5, md5_of(&dst));
}

#[test]
fn known_digests_give_the_same_patch_and_wrong_ones_never_verify() {
    let (src, dst, controls) = small_case();
    for threads in [0, 1, 2] {
        let d = Digests::of(&src, &dst, threads);
        assert_eq!(d.src_md5, md5_of(&src));
        assert_eq!(d.dst_md5, md5_of(&dst));
    }
    let digests = Digests::of(&src, &dst, 1);
    for format in [Format::Fwdelta, Format::Bsdiff40, Format::Raw] {
        let mut hashed = Vec::new();
        encode(format, &src, &dst, &controls, &enc_opts(), &mut hashed).unwrap();
        let mut known = Vec::new();
        encode_with_digests(
            format,
            &src,
            &dst,
            &digests,
            &controls,
            &enc_opts(),
            &mut known,
        )
        .unwrap();
        assert_eq!(hashed, known, "{format}");
    }
    // Digests that are not the images' own: the patch is refused or reports a mismatch.
    let patch_with = |edit: fn(&mut Digests)| {
        let mut wrong = digests;
        edit(&mut wrong);
        let mut patch = Vec::new();
        encode_with_digests(
            Format::Fwdelta,
            &src,
            &dst,
            &wrong,
            &controls,
            &enc_opts(),
            &mut patch,
        )
        .unwrap();
        patch
    };
    let patch = patch_with(|d| d.src_md5[0] ^= 1);
    let mut out = Vec::new();
    let r = apply(&src, &patch[..], &mut out, &ApplyOptions::default());
    assert!(matches!(r, Err(PatchError::SourceMismatch { .. })), "{r:?}");
    assert!(out.is_empty());
    let patch = patch_with(|d| d.dst_md5[15] ^= 0x80);
    let want = Expected {
        md5: md5_of(&dst),
        size: dst.len() as u64,
    };
    let r = verify(&src, &patch[..], want, &ApplyOptions::default());
    assert!(
        !matches!(&r, Ok(v) if v.matches()),
        "a patch whose header names another destination verified: {r:?}"
    );
    // The script is still checked.
    let mut bad = controls.clone();
    bad[0].add_len += 1;
    let r = encode_with_digests(
        Format::Fwdelta,
        &src,
        &dst,
        &digests,
        &bad,
        &enc_opts(),
        Vec::new(),
    );
    assert!(r.is_err());
}

#[test]
fn wrong_source_is_refused_before_writing() {
    let (src, _, patch) = patch_of(Format::Fwdelta);
    let mut out = Vec::new();
    let r = apply(&src[1..], &patch[..], &mut out, &ApplyOptions::default());
    assert!(
        matches!(r, Err(PatchError::SourceSizeMismatch { expected, actual }) if expected == src.len() as u64 && actual + 1 == expected)
    );
    let mut other = src.clone();
    other[3000] ^= 0xff;
    let r = apply(&other, &patch[..], &mut out, &ApplyOptions::default());
    match r {
        Err(PatchError::SourceMismatch {
            expected_md5,
            actual_md5,
        }) => {
            assert_eq!(expected_md5, md5_of(&src));
            assert_eq!(actual_md5, md5_of(&other));
        }
        other => panic!("{other:?}"),
    }
    assert!(out.is_empty());
    let msg = apply(&other, &patch[..], io::sink(), &ApplyOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("wrong source image"), "{msg}");
}

/// A source MD5 the caller vouches for replaces hashing the source: the declared one is
/// checked against it, so a patch whose header names another source is still refused, and
/// the right one applies as usual.
#[test]
fn known_source_md5_is_checked_against_the_header() {
    let (src, dst, patch) = patch_of(Format::Fwdelta);
    let known = |md5: [u8; 16]| {
        let mut o = ApplyOptions::default();
        o.known_src_md5 = Some(md5);
        o
    };
    let mut out = Vec::new();
    let summary = apply(&src, &patch[..], &mut out, &known(md5_of(&src))).unwrap();
    assert_eq!(out, dst);
    assert_eq!(summary.dst_md5, md5_of(&dst));
    let mut wrong = md5_of(&src);
    wrong[7] ^= 1;
    let mut out = Vec::new();
    match apply(&src, &patch[..], &mut out, &known(wrong)) {
        Err(PatchError::SourceMismatch {
            expected_md5,
            actual_md5,
        }) => {
            assert_eq!(expected_md5, md5_of(&src));
            assert_eq!(actual_md5, wrong);
        }
        other => panic!("{other:?}"),
    }
    assert!(out.is_empty());
}

#[test]
fn patch_of_another_format_is_refused() {
    let (src, _, bsd) = patch_of(Format::Bsdiff40);
    let r = apply(&src, &bsd[..], io::sink(), &with_format(Format::Fwdelta));
    assert!(
        matches!(
            r,
            Err(PatchError::FormatMismatch {
                requested: Format::Fwdelta,
                detected: Some(Format::Bsdiff40)
            })
        ),
        "{r:?}"
    );
    let (_, _, v1) = patch_of(Format::Fwdelta);
    let r = apply_slice(&src, &v1, io::sink(), &with_format(Format::Bsdiff40));
    assert!(matches!(r, Err(PatchError::FormatMismatch { .. })), "{r:?}");
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("not bsdiff40") && msg.contains("fwdelta"),
        "{msg}"
    );
    assert!(matches!(
        read_info(&v1, Some(Format::Bsdiff40)),
        Err(PatchError::FormatMismatch { .. })
    ));
    let (_, _, raw) = patch_of(Format::Raw);
    let r = apply(&src, &raw[..], io::sink(), &ApplyOptions::default());
    assert!(matches!(r, Err(PatchError::UnknownFormat { .. })), "{r:?}");
    let r = apply(&src, &b""[..], io::sink(), &ApplyOptions::default());
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn unsupported_version_and_flags() {
    let (src, _, patch) = patch_of(Format::Fwdelta);
    let mut v2 = patch.clone();
    v2[8] = 2;
    let r = apply(&src, &v2[..], io::sink(), &ApplyOptions::default());
    assert!(
        matches!(r, Err(PatchError::UnsupportedVersion { version: 2 })),
        "{r:?}"
    );
    let flagged = rewrite_header(&patch, |h| h.flags = 4);
    let r = apply(&src, &flagged[..], io::sink(), &ApplyOptions::default());
    assert!(
        matches!(
            r,
            Err(PatchError::Unsupported {
                what: "header flags",
                value: 4
            })
        ),
        "{r:?}"
    );
    let comp = rewrite_header(&patch, |h| h.compression = 9);
    let r = apply(&src, &comp[..], io::sink(), &ApplyOptions::default());
    assert!(
        matches!(r, Err(PatchError::Unsupported { value: 9, .. })),
        "{r:?}"
    );
}

#[test]
fn absurd_declared_sizes_hit_limits_without_allocating() {
    let (src, _, patch) = patch_of(Format::Fwdelta);
    let huge = rewrite_header(&patch, |h| h.dst_size = u64::MAX);
    let r = apply(&src, &huge[..], io::sink(), &ApplyOptions::default());
    assert!(
        matches!(
            r,
            Err(PatchError::LimitExceeded {
                value: u64::MAX,
                ..
            })
        ),
        "{r:?}"
    );
    // Within the limit, but the block claims a span beyond the block size.
    let mut body = rewrite_header(&patch, |_| {})[..V1_HEADER_LEN].to_vec();
    for v in [u64::MAX >> 1, 0, 0, 0, 0, 0, 0, 0, 0] {
        let mut x = v;
        while x >= 0x80 {
            body.push(x as u8 | 0x80);
            x >>= 7;
        }
        body.push(x as u8);
    }
    let r = apply(&src, &body[..], io::sink(), &ApplyOptions::default());
    assert!(matches!(r, Err(PatchError::Corrupt { .. })), "{r:?}");
    // Window and block size above the device's limits.
    let mut small = ApplyOptions::default();
    small.max_window_log = 20;
    let r = apply(&src, &patch[..], io::sink(), &small);
    assert!(
        matches!(
            r,
            Err(PatchError::LimitExceeded {
                value: 23,
                limit: 20,
                ..
            })
        ),
        "{r:?}"
    );
    let big_blocks = rewrite_header(&patch, |h| h.block_size = 64 << 20);
    let mut lim = ApplyOptions::default();
    lim.max_block_size = 1 << 20;
    let r = apply(&src, &big_blocks[..], io::sink(), &lim);
    assert!(matches!(r, Err(PatchError::LimitExceeded { .. })), "{r:?}");
    // BSDIFF40 with an absurd destination size.
    let (_, _, mut bsd) = patch_of(Format::Bsdiff40);
    bsd[24..32].copy_from_slice(&(i64::MAX as u64).to_le_bytes());
    let r = apply_slice(&src, &bsd, io::sink(), &ApplyOptions::default());
    assert!(matches!(r, Err(PatchError::LimitExceeded { .. })), "{r:?}");
    // Raw stream claiming a huge step.
    let mut raw = [0u8; 24];
    raw[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let r = apply(&src, &raw[..], io::sink(), &with_format(Format::Raw));
    assert!(matches!(r, Err(PatchError::LimitExceeded { .. })), "{r:?}");
}

#[test]
fn varint_overflow_in_a_block_header() {
    let (src, _, patch) = patch_of(Format::Fwdelta);
    let mut body = patch[..V1_HEADER_LEN].to_vec();
    body.extend_from_slice(&[0xff; 11]);
    let r = apply(&src, &body[..], io::sink(), &ApplyOptions::default());
    match r {
        Err(PatchError::Corrupt { offset, what }) => {
            assert_eq!(offset, V1_HEADER_LEN as u64);
            assert!(what.contains("overflows"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    let mut overlong = patch[..V1_HEADER_LEN].to_vec();
    overlong.extend_from_slice(&[0x81, 0x00]);
    let r = apply(&src, &overlong[..], io::sink(), &ApplyOptions::default());
    assert!(matches!(r, Err(PatchError::Corrupt { .. })), "{r:?}");
}

#[test]
fn trailing_bytes_are_corrupt() {
    let (src, _, mut patch) = patch_of(Format::Fwdelta);
    patch.push(0);
    let r = apply(&src, &patch[..], io::sink(), &ApplyOptions::default());
    assert!(matches!(r, Err(PatchError::Corrupt { .. })), "{r:?}");
}

struct FailingWriter {
    after: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.after == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.after);
        self.after -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn failing_writer_is_an_io_error() {
    for f in [Format::Fwdelta, Format::Bsdiff40, Format::Raw] {
        let (src, _, patch) = patch_of(f);
        let r = apply_slice(&src, &patch, FailingWriter { after: 100 }, &with_format(f));
        assert!(
            matches!(&r, Err(PatchError::Io { context: "writing output", source }) if source.to_string() == "disk full"),
            "{f}: {r:?}"
        );
        let (src, dst, controls) = small_case();
        let r = encode(
            f,
            &src,
            &dst,
            &controls,
            &enc_opts(),
            FailingWriter { after: 10 },
        );
        assert!(matches!(r, Err(PatchError::Io { .. })), "{f}: {r:?}");
    }
}

#[test]
fn invalid_scripts_and_options_are_refused() {
    let (src, dst, controls) = small_case();
    let mut short = controls.clone();
    short.pop();
    let r = encode(Format::Fwdelta, &src, &dst, &short, &enc_opts(), io::sink());
    assert!(
        matches!(r, Err(PatchError::InvalidControls { .. })),
        "{r:?}"
    );
    let outside = [Control {
        add_len: dst.len() as u64,
        extra_len: 0,
        seek: 0,
    }];
    let r = encode(
        Format::Fwdelta,
        &src[..10],
        &dst,
        &outside,
        &enc_opts(),
        io::sink(),
    );
    assert!(
        matches!(r, Err(PatchError::InvalidControls { index: 0, .. })),
        "{r:?}"
    );
    let mut o = enc_opts();
    o.zstd_level = 0;
    let r = encode(Format::Fwdelta, &src, &dst, &controls, &o, io::sink());
    assert!(
        matches!(
            r,
            Err(PatchError::InvalidOption {
                what: "zstd_level",
                ..
            })
        ),
        "{r:?}"
    );
    let mut o = enc_opts();
    o.block_size = 100;
    assert!(matches!(
        o.validate(),
        Err(PatchError::InvalidOption {
            what: "block_size",
            ..
        })
    ));
    let mut a = ApplyOptions::default();
    a.max_window_log = 31;
    let r = apply(&src, &b""[..], io::sink(), &a);
    assert!(
        matches!(
            r,
            Err(PatchError::InvalidOption {
                what: "max_window_log",
                ..
            })
        ),
        "{r:?}"
    );
    // The raw format cannot express a negative cursor.
    let neg = [
        Control {
            add_len: 0,
            extra_len: 1,
            seek: -5,
        },
        Control {
            add_len: 0,
            extra_len: (dst.len() - 1) as u64,
            seek: 0,
        },
    ];
    let r = encode(Format::Raw, &src, &dst, &neg, &enc_opts(), io::sink());
    assert!(
        matches!(r, Err(PatchError::InvalidControls { index: 0, .. })),
        "{r:?}"
    );
}

#[test]
fn hostile_add_range_in_bsdiff40() {
    // A BSDIFF40 patch whose control asks for source bytes past the end.
    let src = vec![1u8; 10];
    let dst = vec![1u8; 20];
    let mut patch = Vec::new();
    encode(
        Format::Bsdiff40,
        &dst,
        &dst,
        &[Control {
            add_len: 20,
            extra_len: 0,
            seek: 0,
        }],
        &enc_opts(),
        &mut patch,
    )
    .unwrap();
    let r = apply_slice(&src, &patch, io::sink(), &ApplyOptions::default());
    assert!(matches!(r, Err(PatchError::Corrupt { .. })), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), magic in 0usize..3) {
        let mut patch = bytes;
        match magic {
            0 => {}
            1 => {
                patch.splice(0..0, fwdelta_patch::V1_MAGIC);
            }
            _ => {
                patch.splice(0..0, *b"BSDIFF40");
            }
        }
        let src = vec![0u8; 64];
        let _ = apply(&src, &patch[..], io::sink(), &ApplyOptions::default());
        let _ = apply_slice(&src, &patch, io::sink(), &ApplyOptions::default());
        let _ = apply(&src, &patch[..], io::sink(), &with_format(Format::Raw));
        let _ = read_info(&patch, None);
        let _ = read_info(&patch, Some(Format::Raw));
    }

    #[test]
    fn mutated_patches_never_panic(pos in 0usize..100_000, val in any::<u8>(), cut in 0usize..100_000, fmt in 0usize..3) {
        let f = [Format::Fwdelta, Format::Bsdiff40, Format::Raw][fmt];
        let (src, dst, patch) = patch_of(f);
        let mut bad = patch.clone();
        let i = pos % bad.len();
        bad[i] = val;
        // Keep the v1 header valid so the mutation reaches the body.
        if f == Format::Fwdelta && i < V1_HEADER_LEN {
            bad = patch.clone();
        }
        bad.truncate(bad.len() - cut % 4);
        let mut out = Vec::new();
        if apply_slice(&src, &bad, &mut out, &with_format(f)).is_ok() && f == Format::Fwdelta {
            prop_assert_eq!(&out, &dst);
        }
        let _ = read_info(&bad, Some(f));
    }
}

struct FailingReader<'a> {
    data: &'a [u8],
}

impl io::Read for FailingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::other("network down"));
        }
        let n = buf.len().min(self.data.len()).min(50);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn failing_reader_is_an_io_error_and_verify_reader_works() {
    let (src, dst, patch) = patch_of(Format::Fwdelta);
    let r = apply(
        &src,
        FailingReader {
            data: &patch[..200],
        },
        io::sink(),
        &ApplyOptions::default(),
    );
    assert!(
        matches!(
            &r,
            Err(PatchError::Io {
                context: "reading patch",
                ..
            })
        ),
        "{r:?}"
    );
    let expected = Expected {
        md5: md5_of(&dst),
        size: dst.len() as u64,
    };
    let v =
        fwdelta_patch::verify_reader(&src, &patch[..], expected, &ApplyOptions::default()).unwrap();
    assert!(v.matches());
    assert_eq!(v.patch_size, patch.len() as u64);
}

/// The zero-run fields of a v1 block header: a declared zero-run length above the
/// `add_len + 2` bound, or one that does not match what the chunk decodes to, is refused
/// as corrupt before or while decoding the block, and nothing is written.
#[test]
fn zero_run_length_that_disagrees_with_the_block_is_refused() {
    fn get(b: &[u8]) -> (u64, usize) {
        let (mut v, mut i) = (0u64, 0);
        loop {
            v |= u64::from(b[i] & 0x7f) << (7 * i);
            i += 1;
            if b[i - 1] < 0x80 {
                return (v, i);
            }
        }
    }
    fn put(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let (src, _, patch) = patch_of(Format::Fwdelta);
    assert_eq!(patch[10], 1, "the default encoder writes zero runs");
    // The first block header: span, ctrl_len, add_len, order, runs_len, four chunk lengths.
    let mut fields = Vec::new();
    let mut pos = V1_HEADER_LEN;
    for _ in 0..9 {
        let (v, n) = get(&patch[pos..]);
        fields.push(v);
        pos += n;
    }
    let (add_len, runs_len) = (fields[2], fields[4]);
    assert!(runs_len > 0, "the test case has add bytes");
    for bad_runs in [add_len + 3, runs_len - 1, runs_len + 1] {
        let mut bad = patch[..V1_HEADER_LEN].to_vec();
        for (i, &f) in fields.iter().enumerate() {
            put(&mut bad, if i == 4 { bad_runs } else { f });
        }
        bad.extend_from_slice(&patch[pos..]);
        let mut out = Vec::new();
        let r = apply_slice(&src, &bad, &mut out, &ApplyOptions::default());
        assert!(
            matches!(r, Err(PatchError::Corrupt { .. })),
            "{bad_runs}: {r:?}"
        );
        assert!(out.is_empty(), "{bad_runs}: wrote {} bytes", out.len());
    }
}
