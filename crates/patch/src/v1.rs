//! fwdelta patch format v1 (byte layout in `docs/FORMAT.md`).

use std::io::{self, Read, Write};

use zstd::stream::raw::{DParameter, Decoder, Operation};
use zstd::zstd_safe::CParameter;

use crate::crc32::crc32;
use crate::hash::md5_of;
use crate::sink::{add_source, CountingReader, Sink};
use crate::varint;
use crate::{ApplyOptions, Control, EncodeOptions, EncodeSummary, Format, PatchError};

/// The magic number at the start of every fwdelta patch: `\x89FWD\r\n\x1a\n` (a high-bit
/// byte and line endings, as in PNG, so text-mode transfers are detected).
pub const MAGIC: [u8; 8] = [0x89, b'F', b'W', b'D', b'\r', b'\n', 0x1a, b'\n'];
/// The format version this library writes.
pub const VERSION: u16 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 76;
/// Compression id of zstd, the only one in v1.
pub const COMPRESSION_ZSTD: u8 = 1;

/// The fixed header of a v1 patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct V1Header {
    /// Format version (1).
    pub version: u16,
    /// Flag bits (none defined in v1; must be 0).
    pub flags: u16,
    /// Compression id (1 = zstd).
    pub compression: u8,
    /// zstd level the encoder used (informational).
    pub zstd_level: i8,
    /// Upper bound of the zstd window log of every stream: the applier needs up to
    /// `2^window_log` bytes per stream.
    pub window_log: u8,
    /// Largest output span of a block, and largest decoded control bytes of a block.
    pub block_size: u32,
    /// Source image size.
    pub src_size: u64,
    /// Source image MD5.
    pub src_md5: [u8; 16],
    /// Destination image size.
    pub dst_size: u64,
    /// Destination image MD5.
    pub dst_md5: [u8; 16],
}

impl V1Header {
    /// Serializes the header, checksum included.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&self.version.to_le_bytes());
        h[10..12].copy_from_slice(&self.flags.to_le_bytes());
        h[12] = self.compression;
        h[13] = self.zstd_level as u8;
        h[14] = self.window_log;
        h[15] = 0;
        h[16..20].copy_from_slice(&self.block_size.to_le_bytes());
        h[20..24].copy_from_slice(&0u32.to_le_bytes());
        h[24..32].copy_from_slice(&self.src_size.to_le_bytes());
        h[32..48].copy_from_slice(&self.src_md5);
        h[48..56].copy_from_slice(&self.dst_size.to_le_bytes());
        h[56..72].copy_from_slice(&self.dst_md5);
        let crc = crc32(&h[..72]);
        h[72..76].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Parses and checks a header: magic, version, checksum, then every field's range.
    /// Limits of `opts` are not applied here.
    pub fn parse(h: &[u8]) -> Result<V1Header, PatchError> {
        let magic_len = h.len().min(8);
        if h[..magic_len] != MAGIC[..magic_len] {
            return Err(PatchError::UnknownFormat {
                magic: h[..magic_len].to_vec(),
            });
        }
        if h.len() < HEADER_LEN {
            return Err(PatchError::Truncated {
                offset: h.len() as u64,
                what: "fwdelta header",
            });
        }
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let md5_at = |i: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&h[i..i + 16]);
            b
        };
        // The version comes first so that a future version with another header length
        // gets a clear "unsupported version", not a checksum error.
        let version = u16_at(8);
        if version != VERSION {
            return Err(PatchError::UnsupportedVersion { version });
        }
        let stored = u32_at(72);
        let actual = crc32(&h[..72]);
        if stored != actual {
            return Err(PatchError::HeaderChecksum {
                expected: stored,
                actual,
            });
        }
        let header = V1Header {
            version,
            flags: u16_at(10),
            compression: h[12],
            zstd_level: h[13] as i8,
            window_log: h[14],
            block_size: u32_at(16),
            src_size: u64_at(24),
            src_md5: md5_at(32),
            dst_size: u64_at(48),
            dst_md5: md5_at(56),
        };
        if header.flags != 0 {
            return Err(PatchError::Unsupported {
                what: "header flags",
                value: u64::from(header.flags),
            });
        }
        if header.compression != COMPRESSION_ZSTD {
            return Err(PatchError::Unsupported {
                what: "compression id",
                value: u64::from(header.compression),
            });
        }
        if h[15] != 0 || u32_at(20) != 0 {
            return Err(PatchError::corrupt(
                15,
                "reserved header bytes are not zero",
            ));
        }
        let wl = u32::from(header.window_log);
        if !(crate::MIN_WINDOW_LOG..=crate::MAX_WINDOW_LOG).contains(&wl) {
            return Err(PatchError::corrupt(
                14,
                format!("window log {wl} outside 10..=30"),
            ));
        }
        if !(crate::MIN_BLOCK_SIZE..=crate::MAX_BLOCK_SIZE).contains(&header.block_size) {
            return Err(PatchError::corrupt(
                16,
                format!("block size {} outside 4096..=67108864", header.block_size),
            ));
        }
        Ok(header)
    }

    fn check_limits(&self, opts: &ApplyOptions) -> Result<(), PatchError> {
        if u32::from(self.window_log) > opts.max_window_log {
            return Err(PatchError::LimitExceeded {
                what: "zstd window log of the patch",
                value: u64::from(self.window_log),
                limit: u64::from(opts.max_window_log),
            });
        }
        if self.block_size > opts.max_block_size {
            return Err(PatchError::LimitExceeded {
                what: "block size of the patch",
                value: u64::from(self.block_size),
                limit: u64::from(opts.max_block_size),
            });
        }
        if self.dst_size > opts.max_output_size {
            return Err(PatchError::LimitExceeded {
                what: "declared destination size",
                value: self.dst_size,
                limit: opts.max_output_size,
            });
        }
        Ok(())
    }
}

/// Largest encoding of one control (three varints).
const MAX_CONTROL_BYTES: usize = 3 * varint::MAX_LEN;

/// Writes one control: `add_len`, `extra_len`, then the change of the diagonal
/// (source cursor minus destination cursor), `seek - extra_len`, zigzag-mapped. Wrapping
/// arithmetic keeps the mapping a bijection for every `i64`.
fn put_control(out: &mut Vec<u8>, c: &Control) {
    varint::put(out, c.add_len);
    varint::put(out, c.extra_len);
    varint::put(out, varint::zigzag(c.seek.wrapping_sub(c.extra_len as i64)));
}

/// Recovers the seek from the stored diagonal change.
fn seek_from(stored: u64, extra_len: u64) -> i64 {
    varint::unzigzag(stored).wrapping_add(extra_len as i64)
}

/// Add-byte order of a block: as produced, or grouped by source context.
pub(crate) const ADD_ORDER_PLAIN: u64 = 0;
/// Add bytes stably grouped by the source byte before each one's source position (0 at
/// position 0): on x86 code the bytes of a changed call displacement share the context
/// `0xE8`, so grouping turns scattered changes into dense runs.
pub(crate) const ADD_ORDER_BY_CONTEXT: u64 = 1;

/// The context key of source position `p`.
#[inline]
fn context(src: &[u8], p: usize) -> u8 {
    if p == 0 {
        0
    } else {
        src[p - 1]
    }
}

/// Stable counting-sort of `bytes` by `keys`.
fn group_by_context(bytes: &[u8], keys: &[u8]) -> Vec<u8> {
    let mut next = [0usize; 256];
    for &k in keys {
        next[usize::from(k)] += 1;
    }
    let mut sum = 0;
    for n in next.iter_mut() {
        let c = *n;
        *n = sum;
        sum += c;
    }
    let mut out = vec![0u8; bytes.len()];
    for (&b, &k) in bytes.iter().zip(keys) {
        out[next[usize::from(k)]] = b;
        next[usize::from(k)] += 1;
    }
    out
}

/// Smallest add part of a block for which both orders are tried.
const GROUPING_MIN_ADDS: usize = 4096;

/// One planned block: its controls (already split at the block boundary) and totals.
struct Block {
    ctrl: Vec<u8>,
    span: u64,
    add: u64,
}

/// Splits a validated, empty-merged script into blocks of at most `block_size` output
/// bytes and at most `block_size` control bytes.
fn plan_blocks(controls: &[Control], block_size: u64) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut cur = Block {
        ctrl: Vec::new(),
        span: 0,
        add: 0,
    };
    let full =
        |b: &Block| b.span == block_size || b.ctrl.len() + MAX_CONTROL_BYTES > block_size as usize;
    for &c in controls {
        let mut c = c;
        loop {
            if full(&cur) {
                blocks.push(std::mem::replace(
                    &mut cur,
                    Block {
                        ctrl: Vec::new(),
                        span: 0,
                        add: 0,
                    },
                ));
            }
            let room = block_size - cur.span;
            if c.add_len + c.extra_len <= room {
                put_control(&mut cur.ctrl, &c);
                cur.span += c.add_len + c.extra_len;
                cur.add += c.add_len;
                break;
            }
            // Split: the first piece fills the block and does not seek.
            let first = if room <= c.add_len {
                Control {
                    add_len: room,
                    extra_len: 0,
                    seek: 0,
                }
            } else {
                Control {
                    add_len: c.add_len,
                    extra_len: room - c.add_len,
                    seek: 0,
                }
            };
            put_control(&mut cur.ctrl, &first);
            cur.span += room;
            cur.add += first.add_len;
            c.add_len -= first.add_len;
            c.extra_len -= first.extra_len;
        }
    }
    if cur.span > 0 || !cur.ctrl.is_empty() {
        blocks.push(cur);
    }
    blocks
}

/// One zstd stream of the body, flushed at every block end.
struct StreamEncoder {
    enc: zstd::stream::write::Encoder<'static, Vec<u8>>,
    total: u64,
}

impl StreamEncoder {
    fn new(opts: &EncodeOptions, pledged: u64) -> io::Result<Self> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), opts.zstd_level)?;
        enc.set_parameter(CParameter::WindowLog(opts.window_log))?;
        enc.set_parameter(CParameter::EnableLongDistanceMatching(opts.long_distance))?;
        enc.set_parameter(CParameter::ChecksumFlag(false))?;
        enc.set_parameter(CParameter::ContentSizeFlag(true))?;
        enc.set_pledged_src_size(Some(pledged))?;
        Ok(StreamEncoder { enc, total: 0 })
    }

    /// Compresses `data` and returns the bytes that complete this block's chunk.
    fn chunk(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        self.enc.write_all(data)?;
        self.enc.flush()?;
        let bytes = std::mem::take(self.enc.get_mut());
        self.total += bytes.len() as u64;
        Ok(bytes)
    }

    /// Compresses `data`, ends the frame, and returns the last chunk.
    fn last_chunk(mut self, data: &[u8]) -> io::Result<(Vec<u8>, u64)> {
        self.enc.write_all(data)?;
        let bytes = self.enc.finish()?;
        let total = self.total + bytes.len() as u64;
        Ok((bytes, total))
    }
}

/// Writes a v1 patch for a validated, empty-merged script.
pub(crate) fn encode<W: Write>(
    src: &[u8],
    dst: &[u8],
    controls: &[Control],
    opts: &EncodeOptions,
    out: W,
) -> Result<EncodeSummary, PatchError> {
    let mut out = out;
    let header = V1Header {
        version: VERSION,
        flags: 0,
        compression: COMPRESSION_ZSTD,
        zstd_level: opts.zstd_level as i8,
        window_log: opts.window_log as u8,
        block_size: opts.block_size,
        src_size: src.len() as u64,
        src_md5: md5_of(src),
        dst_size: dst.len() as u64,
        dst_md5: md5_of(dst),
    };
    out.write_all(&header.to_bytes())
        .map_err(PatchError::write)?;
    let mut size = HEADER_LEN as u64;
    let mut summary = EncodeSummary {
        format: Format::Fwdelta,
        patch_size: 0,
        controls: controls.len() as u64,
        add_bytes: controls.iter().map(|c| c.add_len).sum(),
        extra_bytes: controls.iter().map(|c| c.extra_len).sum(),
        stream_sizes: [0; 3],
        blocks: 0,
        grouped_blocks: 0,
    };
    let blocks = if dst.is_empty() {
        Vec::new()
    } else {
        plan_blocks(controls, u64::from(opts.block_size))
    };
    summary.blocks = blocks.len() as u64;
    let zerr = |e: io::Error| PatchError::Io {
        context: "compressing with zstd",
        source: e,
    };
    let ctrl_total: u64 = blocks.iter().map(|b| b.ctrl.len() as u64).sum();
    let mut encoders = [
        Some(StreamEncoder::new(opts, ctrl_total).map_err(zerr)?),
        Some(StreamEncoder::new(opts, summary.add_bytes).map_err(zerr)?),
        Some(StreamEncoder::new(opts, summary.extra_bytes).map_err(zerr)?),
    ];
    // Walk the script again, in step with the plan, to produce add and extra bytes.
    let (mut s, mut d) = (0i64, 0usize);
    let mut add_buf = Vec::new();
    let mut keys = Vec::new();
    let mut extra_buf = Vec::new();
    let mut head = Vec::with_capacity(7 * varint::MAX_LEN);
    let nblocks = blocks.len();
    for (bi, block) in blocks.iter().enumerate() {
        add_buf.clear();
        keys.clear();
        extra_buf.clear();
        let mut pos = 0;
        while pos < block.ctrl.len() {
            let mut field = || {
                let (v, n) = varint::get(&block.ctrl[pos..]).unwrap_or((0, 1));
                pos += n;
                v
            };
            let (a, e) = (field(), field());
            let seek = seek_from(field(), e);
            let (a, e) = (a as usize, e as usize);
            if a > 0 {
                let su = s as usize;
                add_buf.extend(
                    dst[d..d + a]
                        .iter()
                        .zip(&src[su..su + a])
                        .map(|(x, y)| x.wrapping_sub(*y)),
                );
                keys.extend((su..su + a).map(|p| context(src, p)));
            }
            extra_buf.extend_from_slice(&dst[d + a..d + a + e]);
            d += a + e;
            s = s + a as i64 + seek;
        }
        // Try the context grouping on blocks with enough add bytes; keep it if a quick
        // independent compression of the block says it is smaller.
        let mut order = ADD_ORDER_PLAIN;
        let grouped;
        let mut adds = &add_buf[..];
        if opts.context_grouping && add_buf.len() >= GROUPING_MIN_ADDS {
            grouped = group_by_context(&add_buf, &keys);
            let estimate =
                |data: &[u8]| zstd::bulk::compress(data, 3).map(|v| v.len()).map_err(zerr);
            if estimate(&grouped)? * 10 < estimate(&add_buf)? * 9 {
                order = ADD_ORDER_BY_CONTEXT;
                adds = &grouped;
                summary.grouped_blocks += 1;
            }
        }
        let parts = [&block.ctrl[..], adds, &extra_buf[..]];
        let mut chunks: [Vec<u8>; 3] = Default::default();
        for k in 0..3 {
            if bi + 1 == nblocks {
                let enc = encoders[k].take().expect("encoder used once");
                let (bytes, total) = enc.last_chunk(parts[k]).map_err(zerr)?;
                summary.stream_sizes[k] = total;
                chunks[k] = bytes;
            } else if let Some(enc) = encoders[k].as_mut() {
                chunks[k] = enc.chunk(parts[k]).map_err(zerr)?;
            }
        }
        head.clear();
        varint::put(&mut head, block.span);
        varint::put(&mut head, block.ctrl.len() as u64);
        varint::put(&mut head, block.add);
        varint::put(&mut head, order);
        for c in &chunks {
            varint::put(&mut head, c.len() as u64);
        }
        out.write_all(&head).map_err(PatchError::write)?;
        size += head.len() as u64;
        for c in &chunks {
            out.write_all(c).map_err(PatchError::write)?;
            size += c.len() as u64;
        }
    }
    out.flush().map_err(PatchError::write)?;
    summary.patch_size = size;
    Ok(summary)
}

const STREAM_NAMES: [&str; 3] = ["control", "add", "extra"];

/// Decodes the chunks of one stream into caller buffers.
struct StreamDecoder {
    dec: Decoder<'static>,
    /// zstd's hint after the last call: 0 once a frame is complete.
    hint: usize,
}

impl StreamDecoder {
    fn new(window_log: u8) -> Result<Self, PatchError> {
        let zerr = |e: io::Error| PatchError::Io {
            context: "setting up zstd",
            source: e,
        };
        let mut dec = Decoder::new().map_err(zerr)?;
        dec.set_parameter(DParameter::WindowLogMax(u32::from(window_log)))
            .map_err(zerr)?;
        Ok(StreamDecoder { dec, hint: 1 })
    }

    /// Reads `zlen` compressed bytes and decodes exactly `out.len()` bytes from them.
    fn chunk<R: Read>(
        &mut self,
        rd: &mut CountingReader<R>,
        zlen: u64,
        out: &mut [u8],
        inbuf: &mut [u8],
        k: usize,
    ) -> Result<(), PatchError> {
        let start = rd.pos;
        let name = STREAM_NAMES[k];
        let corrupt = |what: String| PatchError::corrupt(start, format!("{name} chunk: {what}"));
        let zerr = |e: io::Error| corrupt(format!("zstd: {e}"));
        // zstd reports an error after repeated calls that neither read nor write, so
        // this makes at most one such call per chunk (the final probe), and none for an
        // empty chunk that must decode to nothing.
        if zlen == 0 && out.is_empty() {
            return Ok(());
        }
        let mut produced = 0usize;
        let mut scratch = [0u8; 1];
        let mut left = zlen;
        while left > 0 {
            let n = left.min(inbuf.len() as u64) as usize;
            rd.read_exact_or(&mut inbuf[..n], STREAM_NAMES_TRUNC[k])?;
            left -= n as u64;
            let mut input = &inbuf[..n];
            while !input.is_empty() {
                let st = if produced < out.len() {
                    self.dec
                        .run_on_buffers(input, &mut out[produced..])
                        .map_err(zerr)?
                } else {
                    self.dec.run_on_buffers(input, &mut scratch).map_err(zerr)?
                };
                if produced == out.len() && st.bytes_written > 0 {
                    return Err(corrupt(
                        "decodes to more bytes than the block declares".into(),
                    ));
                }
                produced += st.bytes_written;
                self.hint = st.remaining;
                if st.bytes_read == 0 && st.bytes_written == 0 {
                    return Err(corrupt("zstd made no progress".into()));
                }
                input = &input[st.bytes_read..];
            }
        }
        // Drain what zstd still holds.
        while produced < out.len() {
            let st = self
                .dec
                .run_on_buffers(&[], &mut out[produced..])
                .map_err(zerr)?;
            if st.bytes_written == 0 {
                break;
            }
            produced += st.bytes_written;
            self.hint = st.remaining;
        }
        if produced == out.len() {
            let st = self.dec.run_on_buffers(&[], &mut scratch).map_err(zerr)?;
            if st.bytes_written > 0 {
                return Err(corrupt(
                    "decodes to more bytes than the block declares".into(),
                ));
            }
            // This call may be the one that consumes the end of the frame (returning 0). If
            // the frame had already ended, zstd reports the header size of a next frame
            // instead: keep the 0 seen before.
            if st.remaining == 0 {
                self.hint = 0;
            }
        }
        if produced < out.len() {
            return Err(corrupt(format!(
                "decodes to {produced} bytes, the block declares {}",
                out.len()
            )));
        }
        Ok(())
    }
}

const STREAM_NAMES_TRUNC: [&str; 3] = ["control chunk", "add chunk", "extra chunk"];

/// Walks the controls of a decoded block, checking each one (varints, lengths against
/// what the block holds, the add range against the source, cursor overflow) and calling
/// `step(src_start, add_len, add_offset, extra_len, extra_offset)`. Fails unless the
/// controls use exactly the block's add and extra bytes.
fn walk_block(
    ctrl: &[u8],
    s: &mut i64,
    src_len: usize,
    adds_len: usize,
    extras_len: usize,
    bad: &dyn Fn(String) -> PatchError,
    mut step: impl FnMut(usize, usize, usize, usize, usize) -> Result<(), PatchError>,
) -> Result<(), PatchError> {
    let (mut cp, mut ap, mut ep) = (0usize, 0usize, 0usize);
    while cp < ctrl.len() {
        let mut field = || -> Result<u64, PatchError> {
            match varint::get(&ctrl[cp..]) {
                Ok((v, n)) => {
                    cp += n;
                    Ok(v)
                }
                Err(varint::VarintError::Truncated) => {
                    Err(bad("control ends inside a varint".into()))
                }
                Err(varint::VarintError::Invalid(why)) => Err(bad(format!("control: {why}"))),
            }
        };
        let a = field()?;
        let e = field()?;
        let seek = seek_from(field()?, e);
        if a > (adds_len - ap) as u64 || e > (extras_len - ep) as u64 {
            return Err(bad(format!(
                "control wants {a} add and {e} extra bytes, the block has {} and {} left",
                adds_len - ap,
                extras_len - ep
            )));
        }
        let (a, e) = (a as usize, e as usize);
        let s0 = if a > 0 {
            match usize::try_from(*s).ok().filter(|&s0| s0 <= src_len && a <= src_len - s0) {
                Some(s0) => s0,
                None => {
                    return Err(bad(format!(
                        "add range at source offset {s} (length {a}) lies outside the {src_len}-byte source"
                    )))
                }
            }
        } else {
            0
        };
        step(s0, a, ap, e, ep)?;
        ap += a;
        ep += e;
        *s = s
            .checked_add(a as i64)
            .and_then(|v| v.checked_add(seek))
            .ok_or_else(|| bad("source cursor overflows".into()))?;
    }
    if ap != adds_len || ep != extras_len {
        return Err(bad(format!(
            "controls use {ap} of {adds_len} add bytes and {ep} of {extras_len} extra bytes"
        )));
    }
    Ok(())
}

/// Applies a v1 patch in one forward pass. Returns the header and the bytes written, their
/// MD5 and the patch bytes read; the caller compares the MD5 with the header.
pub(crate) fn apply<R: Read, W: Write>(
    src: &[u8],
    rd: &mut CountingReader<R>,
    header: &V1Header,
    out: W,
    opts: &ApplyOptions,
) -> Result<(u64, [u8; 16]), PatchError> {
    header.check_limits(opts)?;
    if header.src_size != src.len() as u64 {
        return Err(PatchError::SourceSizeMismatch {
            expected: header.src_size,
            actual: src.len() as u64,
        });
    }
    let actual_md5 = md5_of(src);
    if actual_md5 != header.src_md5 {
        return Err(PatchError::SourceMismatch {
            expected_md5: header.src_md5,
            actual_md5,
        });
    }
    let mut sink = Sink::new(out, header.dst_size, "output size");
    let block_size = u64::from(header.block_size);
    let mut decoders = [
        StreamDecoder::new(header.window_log)?,
        StreamDecoder::new(header.window_log)?,
        StreamDecoder::new(header.window_log)?,
    ];
    let mut inbuf = vec![0u8; 32 * 1024];
    let mut tmp = vec![0u8; 32 * 1024];
    let mut ctrl = Vec::new();
    let mut adds = Vec::new();
    let mut extras = Vec::new();
    let mut s: i64 = 0;
    let mut blocks = 0u64;
    while sink.written() < header.dst_size {
        let at = rd.pos;
        let span = rd.read_varint("block header")?;
        let ctrl_len = rd.read_varint("block header")?;
        let add_len = rd.read_varint("block header")?;
        let order = rd.read_varint("block header")?;
        let zlens = [
            rd.read_varint("block header")?,
            rd.read_varint("block header")?,
            rd.read_varint("block header")?,
        ];
        let bad = |what: String| PatchError::corrupt(at, format!("block {blocks}: {what}"));
        if span == 0 || span > block_size || span > sink.room() {
            return Err(bad(format!(
                "output span {span} is 0, above the block size {block_size}, or past the declared destination size"
            )));
        }
        if ctrl_len > block_size {
            return Err(bad(format!(
                "{ctrl_len} control bytes, above the block size {block_size}"
            )));
        }
        if add_len > span {
            return Err(bad(format!("{add_len} add bytes in a span of {span}")));
        }
        // All three sizes are now at most the validated block size.
        ctrl.resize(ctrl_len as usize, 0);
        adds.resize(add_len as usize, 0);
        extras.resize((span - add_len) as usize, 0);
        decoders[0].chunk(rd, zlens[0], &mut ctrl, &mut inbuf, 0)?;
        decoders[1].chunk(rd, zlens[1], &mut adds, &mut inbuf, 1)?;
        decoders[2].chunk(rd, zlens[2], &mut extras, &mut inbuf, 2)?;
        if order != ADD_ORDER_PLAIN && order != ADD_ORDER_BY_CONTEXT {
            return Err(bad(format!("unknown add order {order}")));
        }
        if order == ADD_ORDER_PLAIN {
            walk_block(
                &ctrl,
                &mut s,
                src.len(),
                adds.len(),
                extras.len(),
                &bad,
                |s0, a, ap, e, ep| {
                    if a > 0 {
                        let delta = &mut adds[ap..ap + a];
                        add_source(delta, &src[s0..s0 + a]);
                        sink.put(delta)?;
                    }
                    if e > 0 {
                        sink.put(&extras[ep..ep + e])?;
                    }
                    Ok(())
                },
            )?;
        } else {
            // Pass 1: validate the controls and count add bytes per context.
            let mut next = [0usize; 256];
            let mut s1 = s;
            walk_block(
                &ctrl,
                &mut s1,
                src.len(),
                adds.len(),
                extras.len(),
                &bad,
                |s0, a, _, _, _| {
                    for p in s0..s0 + a {
                        next[usize::from(context(src, p))] += 1;
                    }
                    Ok(())
                },
            )?;
            let mut sum = 0;
            for n in next.iter_mut() {
                let c = *n;
                *n = sum;
                sum += c;
            }
            // Pass 2: take each add byte from its context group, in order.
            walk_block(
                &ctrl,
                &mut s,
                src.len(),
                adds.len(),
                extras.len(),
                &bad,
                |s0, a, _, e, ep| {
                    let mut p = s0;
                    while p < s0 + a {
                        let n = (s0 + a - p).min(tmp.len());
                        for (i, out) in tmp[..n].iter_mut().enumerate() {
                            let k = usize::from(context(src, p + i));
                            *out = adds[next[k]].wrapping_add(src[p + i]);
                            next[k] += 1;
                        }
                        sink.put(&tmp[..n])?;
                        p += n;
                    }
                    if e > 0 {
                        sink.put(&extras[ep..ep + e])?;
                    }
                    Ok(())
                },
            )?;
        }
        blocks += 1;
    }
    if blocks > 0 {
        for (k, d) in decoders.iter().enumerate() {
            if d.hint != 0 {
                return Err(PatchError::corrupt(
                    rd.pos,
                    format!(
                        "the {} stream's zstd frame does not end with the last block",
                        STREAM_NAMES[k]
                    ),
                ));
            }
        }
    }
    let end = rd.pos;
    if rd.read_byte()?.is_some() {
        return Err(PatchError::corrupt(
            end,
            "trailing bytes after the last block",
        ));
    }
    sink.finish()
}

/// Structure of a v1 patch body, gathered without decompressing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct V1BodyInfo {
    /// Number of blocks.
    pub blocks: u64,
    /// Decoded bytes of the control, add and extra streams.
    pub raw_sizes: [u64; 3],
    /// Compressed bytes of the control, add and extra streams.
    pub compressed_sizes: [u64; 3],
    /// Bytes of block headers.
    pub block_header_bytes: u64,
    /// Blocks whose add bytes are grouped by source context.
    pub grouped_blocks: u64,
}

/// Walks the block headers of a v1 patch held in memory.
pub(crate) fn body_info(patch: &[u8], header: &V1Header) -> Result<V1BodyInfo, PatchError> {
    let mut info = V1BodyInfo::default();
    let mut pos = HEADER_LEN;
    let mut covered = 0u64;
    let block_size = u64::from(header.block_size);
    while covered < header.dst_size {
        let at = pos as u64;
        let mut fields = [0u64; 7];
        for f in &mut fields {
            match varint::get(&patch[pos..]) {
                Ok((v, n)) => {
                    *f = v;
                    pos += n;
                }
                Err(varint::VarintError::Truncated) => {
                    return Err(PatchError::Truncated {
                        offset: patch.len() as u64,
                        what: "block header",
                    })
                }
                Err(varint::VarintError::Invalid(why)) => return Err(PatchError::corrupt(at, why)),
            }
        }
        let [span, ctrl, add, order, z0, z1, z2] = fields;
        if order == ADD_ORDER_BY_CONTEXT {
            info.grouped_blocks += 1;
        }
        if span == 0
            || span > block_size
            || span > header.dst_size - covered
            || ctrl > block_size
            || add > span
            || order > ADD_ORDER_BY_CONTEXT
        {
            return Err(PatchError::corrupt(
                at,
                format!("block {}: invalid header", info.blocks),
            ));
        }
        info.block_header_bytes += pos as u64 - at;
        let z = z0.checked_add(z1).and_then(|v| v.checked_add(z2));
        let end = z.and_then(|z| (pos as u64).checked_add(z));
        match end {
            Some(e) if e <= patch.len() as u64 => pos = e as usize,
            _ => {
                return Err(PatchError::Truncated {
                    offset: patch.len() as u64,
                    what: "block chunks",
                })
            }
        }
        covered += span;
        info.blocks += 1;
        info.raw_sizes[0] += ctrl;
        info.raw_sizes[1] += add;
        info.raw_sizes[2] += span - add;
        info.compressed_sizes[0] += z0;
        info.compressed_sizes[1] += z1;
        info.compressed_sizes[2] += z2;
    }
    if pos != patch.len() {
        return Err(PatchError::corrupt(
            pos as u64,
            "trailing bytes after the last block",
        ));
    }
    Ok(info)
}
