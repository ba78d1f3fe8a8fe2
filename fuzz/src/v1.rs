//! fwdelta v1 patches built from fuzz choices, and a reference applier.
//!
//! The reference is written from the format's description (the patch crate's docs: a
//! 76-byte checksummed header; blocks of `span, ctrl_len, add_len, order, z0, z1, z2`
//! varints followed by three chunks of three zstd streams; controls as
//! `add, extra, zigzag(seek - extra)` varints; add bytes in step order or grouped stably by
//! the source byte before each position; with header flag 1 (zero runs) the add bytes are
//! carried as varint pairs `(zeros, nonzero)` covering them, in a stream of their own, plus
//! the bytes of the nonzero runs, so blocks are `span, ctrl_len, add_len, order, runs_len,
//! z0, z1, z2, z3`), deliberately in the most naive way, so that a disagreement with the
//! streaming applier points at one of the two.

use std::io::Write;

use zstd::stream::write::Encoder;
use zstd::zstd_safe::CParameter;

/// `\x89FWD\r\n\x1a\n`.
pub const MAGIC: [u8; 8] = [0x89, b'F', b'W', b'D', b'\r', b'\n', 0x1a, b'\n'];
/// Length of the fixed header.
pub const HEADER_LEN: usize = 76;

/// Every field of the fixed header, including the ones a valid header keeps at zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version (1).
    pub version: u16,
    /// Flags (0, or 1 = zero runs).
    pub flags: u16,
    /// Compression id (1 = zstd).
    pub compression: u8,
    /// zstd level (informational).
    pub zstd_level: u8,
    /// zstd window log, 10..=30.
    pub window_log: u8,
    /// Byte 15 (reserved, 0).
    pub reserved15: u8,
    /// Block size, 4096..=64 MiB.
    pub block_size: u32,
    /// Bytes 20..24 (reserved, 0).
    pub reserved20: u32,
    /// Source size.
    pub src_size: u64,
    /// Source MD5.
    pub src_md5: [u8; 16],
    /// Destination size.
    pub dst_size: u64,
    /// Destination MD5.
    pub dst_md5: [u8; 16],
}

impl Header {
    /// A valid header for `src`, with the destination facts to be filled in.
    pub fn for_source(src: &[u8], window_log: u8, block_size: u32) -> Self {
        Header {
            version: 1,
            flags: 0,
            compression: 1,
            zstd_level: 1,
            window_log,
            reserved15: 0,
            block_size,
            reserved20: 0,
            src_size: src.len() as u64,
            src_md5: crate::md5(src),
            dst_size: 0,
            dst_md5: [0; 16],
        }
    }

    /// The 76 header bytes, checksum included.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&self.version.to_le_bytes());
        h[10..12].copy_from_slice(&self.flags.to_le_bytes());
        h[12] = self.compression;
        h[13] = self.zstd_level;
        h[14] = self.window_log;
        h[15] = self.reserved15;
        h[16..20].copy_from_slice(&self.block_size.to_le_bytes());
        h[20..24].copy_from_slice(&self.reserved20.to_le_bytes());
        h[24..32].copy_from_slice(&self.src_size.to_le_bytes());
        h[32..48].copy_from_slice(&self.src_md5);
        h[48..56].copy_from_slice(&self.dst_size.to_le_bytes());
        h[56..72].copy_from_slice(&self.dst_md5);
        let crc = crc32(&h[..72]);
        h[72..].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Reads the fields of a 76-byte header without checking anything.
    pub fn from_bytes(h: &[u8; HEADER_LEN]) -> Self {
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let u64_at = |i: usize| u64::from(u32_at(i)) | (u64::from(u32_at(i + 4)) << 32);
        let md5_at = |i: usize| -> [u8; 16] { h[i..i + 16].try_into().unwrap_or([0; 16]) };
        Header {
            version: u16_at(8),
            flags: u16_at(10),
            compression: h[12],
            zstd_level: h[13],
            window_log: h[14],
            reserved15: h[15],
            block_size: u32_at(16),
            reserved20: u32_at(20),
            src_size: u64_at(24),
            src_md5: md5_at(32),
            dst_size: u64_at(48),
            dst_md5: md5_at(56),
        }
    }
}

/// Rewrites the first 76 bytes of `patch` (padding it if shorter) so that magic, version,
/// checksum and the source facts are right for `src`; the other fields keep the fuzzer's
/// values. This lets arbitrary bodies reach the block parser.
pub fn fix_header(patch: &[u8], src: &[u8]) -> Vec<u8> {
    let mut h = [0u8; HEADER_LEN];
    let n = patch.len().min(HEADER_LEN);
    h[..n].copy_from_slice(&patch[..n]);
    let mut header = Header::from_bytes(&h);
    header.version = 1;
    header.src_size = src.len() as u64;
    header.src_md5 = crate::md5(src);
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(patch.get(HEADER_LEN..).unwrap_or(&[]));
    out
}

/// CRC-32 (IEEE, reflected 0xEDB88320), bit by bit.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Appends an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Decodes a varint as the format requires: at most 10 bytes, no bits past 64, and no
/// redundant trailing zero byte (one encoding per value).
pub fn get_varint(input: &[u8]) -> Result<(u64, usize), &'static str> {
    let mut v: u128 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        v |= u128::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err("over-long varint");
            }
            return u64::try_from(v)
                .map(|v| (v, i + 1))
                .map_err(|_| "varint overflow");
        }
    }
    if input.len() < 10 {
        Err("truncated varint")
    } else {
        Err("varint overflow")
    }
}

/// Zigzag: 0, -1, 1, -2, ... to 0, 1, 2, 3, ...
pub fn zigzag(v: i64) -> u64 {
    if v >= 0 {
        (v as u64) << 1
    } else {
        ((!(v as u64)) << 1) | 1
    }
}

/// Inverse of [`zigzag`].
pub fn unzigzag(u: u64) -> i64 {
    if u & 1 == 0 {
        (u >> 1) as i64
    } else {
        !((u >> 1) as i64)
    }
}

/// The control bytes of one step, as the format stores them.
pub fn put_control(out: &mut Vec<u8>, add: u64, extra: u64, seek: i64) {
    put_varint(out, add);
    put_varint(out, extra);
    put_varint(out, zigzag(seek.wrapping_sub(extra as i64)));
}

/// One block: what its header declares and what its three chunks decode to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    /// Declared output span.
    pub span: u64,
    /// Declared decoded control bytes.
    pub ctrl_len: u64,
    /// Declared decoded add bytes (the extra bytes are `span - add_len`).
    pub add_len: u64,
    /// Add-byte order: 0 plain, 1 grouped by source context.
    pub order: u64,
    /// Declared decoded zero-run bytes (zero-run patches only).
    pub runs_len: u64,
    /// What the control chunk decodes to.
    pub ctrl: Vec<u8>,
    /// What the zero-run chunk decodes to (zero-run patches only).
    pub runs: Vec<u8>,
    /// What the add chunk decodes to: the add bytes, or in a zero-run patch the bytes of
    /// the nonzero runs.
    pub adds: Vec<u8>,
    /// What the extra chunk decodes to.
    pub extras: Vec<u8>,
    /// Added to the compressed lengths in the block header (desynchronises the reader):
    /// control, add, extra; or control, zero-run, add, extra.
    pub zlen_bump: [u64; 4],
}

impl Block {
    /// A block whose declared sizes agree with its contents.
    pub fn consistent(order: u64, ctrl: Vec<u8>, adds: Vec<u8>, extras: Vec<u8>) -> Self {
        Block {
            span: (adds.len() + extras.len()) as u64,
            ctrl_len: ctrl.len() as u64,
            add_len: adds.len() as u64,
            order,
            runs_len: 0,
            ctrl,
            runs: Vec::new(),
            adds,
            extras,
            zlen_bump: [0; 4],
        }
    }

    /// Turns the add bytes of a consistent block into zero runs and nonzero bytes: a pair
    /// for every maximal run of zeros and the nonzero run after it (the way the encoder
    /// splits them, though any pairs covering the bytes are valid).
    pub fn split_zero_runs(&mut self) {
        let (mut runs, mut literals) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < self.adds.len() {
            let z = self.adds[i..].iter().take_while(|&&b| b == 0).count();
            let n = self.adds[i + z..].iter().take_while(|&&b| b != 0).count();
            put_varint(&mut runs, z as u64);
            put_varint(&mut runs, n as u64);
            literals.extend_from_slice(&self.adds[i + z..i + z + n]);
            i += z + n;
        }
        self.runs_len = runs.len() as u64;
        self.runs = runs;
        self.adds = literals;
    }
}

/// The add bytes a zero-run block stands for, or why it is invalid: the pairs must be
/// whole varints, take at most `add_len + 2` bytes, and cover exactly `add_len` bytes, of
/// which the nonzero runs are the `literals`.
fn expand_runs(runs: &[u8], add_len: u64, literals: &[u8]) -> Result<Vec<u8>, String> {
    if runs.len() as u64 > add_len.saturating_add(2) {
        return Err("zero-run chunk longer than the add bytes allow".into());
    }
    let mut pairs = Vec::new();
    let mut pos = 0;
    while pos < runs.len() {
        let (z, n1) = get_varint(&runs[pos..]).map_err(String::from)?;
        pos += n1;
        if pos >= runs.len() {
            return Err("zero runs end inside a pair".into());
        }
        let (n, n2) = get_varint(&runs[pos..]).map_err(String::from)?;
        pos += n2;
        pairs.push((z, n));
    }
    let mut total: u128 = 0;
    let mut nonzero: u128 = 0;
    for &(z, n) in &pairs {
        total += u128::from(z) + u128::from(n);
        nonzero += u128::from(n);
    }
    if total != u128::from(add_len) {
        return Err("zero runs do not cover the add bytes".into());
    }
    if nonzero != literals.len() as u128 {
        return Err("add chunk length is not the nonzero runs' total".into());
    }
    let mut out = Vec::with_capacity(add_len as usize);
    let mut lit = literals.iter();
    for (z, n) in pairs {
        out.extend(std::iter::repeat_n(0u8, z as usize));
        out.extend(lit.by_ref().take(n as usize));
    }
    Ok(out)
}

/// How the zstd streams are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOpts {
    /// zstd level.
    pub level: i32,
    /// Window log given to the encoder.
    pub window_log: u32,
    /// Frame checksum.
    pub checksum: bool,
    /// Content size in the frame header.
    pub pledge: bool,
}

/// Writes a v1 patch: the header, then for each block its header and three chunks, each
/// stream one zstd frame flushed at every block end and finished at the last block.
pub fn build(header: &Header, blocks: &[Block], so: StreamOpts) -> std::io::Result<Vec<u8>> {
    let mut out = header.to_bytes().to_vec();
    if blocks.is_empty() {
        return Ok(out);
    }
    let zero_runs = header.flags & 1 != 0;
    let parts = |b: &Block| -> Vec<Vec<u8>> {
        if zero_runs {
            vec![
                b.ctrl.clone(),
                b.runs.clone(),
                b.adds.clone(),
                b.extras.clone(),
            ]
        } else {
            vec![b.ctrl.clone(), b.adds.clone(), b.extras.clone()]
        }
    };
    let nstreams = if zero_runs { 4 } else { 3 };
    let mut encoders = Vec::new();
    for k in 0..nstreams {
        let total: u64 = blocks.iter().map(|b| parts(b)[k].len() as u64).sum();
        let mut enc = Encoder::new(Vec::new(), so.level)?;
        enc.set_parameter(CParameter::WindowLog(so.window_log))?;
        enc.set_parameter(CParameter::ChecksumFlag(so.checksum))?;
        enc.set_parameter(CParameter::ContentSizeFlag(so.pledge))?;
        if so.pledge {
            enc.set_pledged_src_size(Some(total))?;
        }
        encoders.push(Some(enc));
    }
    for (i, b) in blocks.iter().enumerate() {
        let last = i + 1 == blocks.len();
        let mut chunks = vec![Vec::new(); nstreams];
        for (k, data) in parts(b).iter().enumerate() {
            let Some(mut enc) = encoders[k].take() else {
                continue;
            };
            enc.write_all(data)?;
            if last {
                chunks[k] = enc.finish()?;
            } else {
                enc.flush()?;
                chunks[k] = std::mem::take(enc.get_mut());
                encoders[k] = Some(enc);
            }
        }
        put_varint(&mut out, b.span);
        put_varint(&mut out, b.ctrl_len);
        put_varint(&mut out, b.add_len);
        put_varint(&mut out, b.order);
        if zero_runs {
            put_varint(&mut out, b.runs_len);
        }
        for (k, c) in chunks.iter().enumerate() {
            put_varint(&mut out, (c.len() as u64).saturating_add(b.zlen_bump[k]));
        }
        for c in &chunks {
            out.extend_from_slice(c);
        }
    }
    Ok(out)
}

/// The applier's limits the reference honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest window log.
    pub max_window_log: u32,
    /// Largest block size.
    pub max_block_size: u32,
    /// Largest destination.
    pub max_output_size: u64,
}

/// The source byte before position `p` (0 at the start): the context key of grouped adds.
fn context(src: &[u8], p: usize) -> u8 {
    if p == 0 {
        0
    } else {
        src[p - 1]
    }
}

/// Applies a patch described by `header` and `blocks` to `src`, the naive way: `Ok` with
/// the destination, or `Err` with the first rule broken. The destination MD5 is left to the
/// caller (who may want to declare the right one first).
pub fn reference_apply(
    src: &[u8],
    header: &Header,
    blocks: &[Block],
    limits: Limits,
) -> Result<Vec<u8>, String> {
    if header.version != 1 {
        return Err("version".into());
    }
    if header.flags > 1 || header.compression != 1 {
        return Err("flags or compression".into());
    }
    if header.reserved15 != 0 || header.reserved20 != 0 {
        return Err("reserved bytes".into());
    }
    if !(10..=30).contains(&header.window_log) {
        return Err("window log range".into());
    }
    if !(4096..=64 << 20).contains(&header.block_size) {
        return Err("block size range".into());
    }
    if u32::from(header.window_log) > limits.max_window_log
        || header.block_size > limits.max_block_size
        || header.dst_size > limits.max_output_size
    {
        return Err("limits".into());
    }
    if header.src_size != src.len() as u64 || header.src_md5 != crate::md5(src) {
        return Err("wrong source".into());
    }
    if blocks.iter().any(|b| b.zlen_bump != [0; 4]) {
        return Err("chunk lengths desynchronised".into());
    }
    let bs = u64::from(header.block_size);
    let mut out: Vec<u8> = Vec::new();
    let mut s: i64 = 0;
    let mut blocks = blocks.iter();
    while (out.len() as u64) < header.dst_size {
        let Some(b) = blocks.next() else {
            return Err("patch ends before the destination is complete".into());
        };
        let room = header.dst_size - out.len() as u64;
        if b.span == 0 || b.span > bs || b.span > room {
            return Err("span".into());
        }
        if b.ctrl_len > bs || b.add_len > b.span {
            return Err("block sizes".into());
        }
        let adds = if header.flags & 1 != 0 {
            if b.runs.len() as u64 != b.runs_len {
                return Err("zero-run chunk decodes to another length than declared".into());
            }
            expand_runs(&b.runs, b.add_len, &b.adds)?
        } else {
            b.adds.clone()
        };
        if b.ctrl.len() as u64 != b.ctrl_len
            || adds.len() as u64 != b.add_len
            || b.extras.len() as u64 != b.span - b.add_len
        {
            return Err("a chunk decodes to another length than declared".into());
        }
        if b.order > 1 {
            return Err("order".into());
        }
        // Walk the controls: (source start, add length, extra length) per step.
        let mut steps = Vec::new();
        let (mut cp, mut used_add, mut used_extra) = (0usize, 0u64, 0u64);
        while cp < b.ctrl.len() {
            let mut field = || -> Result<u64, String> {
                let (v, n) = get_varint(&b.ctrl[cp..]).map_err(String::from)?;
                cp += n;
                Ok(v)
            };
            let a = field()?;
            let e = field()?;
            let seek = unzigzag(field()?).wrapping_add(e as i64);
            if a > b.add_len - used_add || e > b.extras.len() as u64 - used_extra {
                return Err("control uses more bytes than the block has".into());
            }
            if a > 0
                && (s < 0
                    || (s as u64)
                        .checked_add(a)
                        .is_none_or(|end| end > src.len() as u64))
            {
                return Err("add range outside the source".into());
            }
            steps.push((s.max(0) as usize, a as usize, e as usize));
            used_add += a;
            used_extra += e;
            s = s
                .checked_add(a as i64)
                .and_then(|v| v.checked_add(seek))
                .ok_or("source cursor overflows")?;
        }
        if used_add != b.add_len || used_extra != b.extras.len() as u64 {
            return Err("controls leave bytes of the block unused".into());
        }
        // Delta of every add byte, in step order.
        let positions: Vec<usize> = steps.iter().flat_map(|&(s0, a, _)| s0..s0 + a).collect();
        let deltas: Vec<u8> = if b.order == 0 {
            adds.clone()
        } else {
            // The i-th add byte (in step order) is stored at its rank in a stable sort of
            // all the block's add bytes by context.
            let mut idx: Vec<usize> = (0..positions.len()).collect();
            idx.sort_by_key(|&i| context(src, positions[i]));
            let mut d = vec![0u8; positions.len()];
            for (rank, &i) in idx.iter().enumerate() {
                d[i] = adds[rank];
            }
            d
        };
        let (mut ai, mut ei) = (0usize, 0usize);
        for &(s0, a, e) in &steps {
            for k in 0..a {
                out.push(deltas[ai + k].wrapping_add(src[s0 + k]));
            }
            ai += a;
            out.extend_from_slice(&b.extras[ei..ei + e]);
            ei += e;
        }
    }
    if blocks.next().is_some() {
        return Err("blocks after the destination is complete".into());
    }
    Ok(out)
}
