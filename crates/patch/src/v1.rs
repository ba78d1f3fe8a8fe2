//! fwdelta patch format v1 (byte layout in `docs/FORMAT.md`).

use std::io::{self, Read, Write};

use zstd::stream::raw::{DParameter, Decoder, Operation};
use zstd::zstd_safe::CParameter;

use crate::crc32::crc32;
use crate::hash::{md5_of, Digests};
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
/// Header flag: the add bytes of every block are split into zero runs and nonzero bytes,
/// kept in two streams (the body then has four streams; `docs/FORMAT.md`).
pub const FLAG_ZERO_RUNS: u16 = 1;

/// The fixed header of a v1 patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct V1Header {
    /// Format version (1).
    pub version: u16,
    /// Flag bits: [`FLAG_ZERO_RUNS`] or 0; other bits are refused.
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
        if header.flags & !FLAG_ZERO_RUNS != 0 {
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

    /// Whether the add bytes are split into zero runs and nonzero bytes.
    pub fn zero_runs(&self) -> bool {
        self.flags & FLAG_ZERO_RUNS != 0
    }

    /// The body's streams, in chunk order.
    fn streams(&self) -> &'static [Stream] {
        if self.zero_runs() {
            &STREAMS_ZERO_RUNS
        } else {
            &STREAMS_PLAIN
        }
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

/// Decodes the controls of a planned block, advancing the cursors, and gathers its add
/// bytes (destination minus source, with the context key of each) and its extra bytes,
/// each only when a buffer is given.
fn gather(
    src: &[u8],
    dst: &[u8],
    block: &Block,
    cursors: &mut (i64, usize),
    mut adds: Option<(&mut Vec<u8>, &mut Vec<u8>)>,
    mut extras: Option<&mut Vec<u8>>,
) {
    let (s, d) = cursors;
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
            if let Some((add_buf, keys)) = adds.as_mut() {
                let su = *s as usize;
                add_buf.extend(
                    dst[*d..*d + a]
                        .iter()
                        .zip(&src[su..su + a])
                        .map(|(x, y)| x.wrapping_sub(*y)),
                );
                keys.extend((su..su + a).map(|p| context(src, p)));
            }
        }
        if let Some(extra_buf) = extras.as_mut() {
            extra_buf.extend_from_slice(&dst[*d + a..*d + a + e]);
        }
        *d += a + e;
        *s = *s + a as i64 + seek;
    }
}

/// Picks the add-byte order of a block: the context grouping is tried on blocks with
/// enough add bytes, and kept if a quick independent compression says it is smaller.
/// Returns the order and, for the grouped order, the regrouped bytes.
fn choose_order(
    add_buf: &[u8],
    keys: &[u8],
    opts: &EncodeOptions,
) -> io::Result<(u64, Option<Vec<u8>>)> {
    if opts.context_grouping && add_buf.len() >= GROUPING_MIN_ADDS {
        let grouped = group_by_context(add_buf, keys);
        let estimate = |data: &[u8]| zstd::bulk::compress(data, 3).map(|v| v.len());
        if estimate(&grouped)? * 10 < estimate(add_buf)? * 9 {
            return Ok((ADD_ORDER_BY_CONTEXT, Some(grouped)));
        }
    }
    Ok((ADD_ORDER_PLAIN, None))
}

/// Splits add bytes into the zero-run stream (varint pairs: a run of zero bytes, then a
/// run of nonzero bytes) and the nonzero bytes themselves. Every pair but the first has a
/// nonempty zero run, and every pair but the last a nonempty nonzero run, so the pairs
/// take at most `adds.len() + 2` bytes.
fn split_zero_runs(adds: &[u8], runs: &mut Vec<u8>, literals: &mut Vec<u8>) {
    let mut i = 0;
    while i < adds.len() {
        let zeros = adds[i..].iter().take_while(|&&b| b == 0).count();
        i += zeros;
        let nonzero = adds[i..].iter().take_while(|&&b| b != 0).count();
        varint::put(runs, zeros as u64);
        varint::put(runs, nonzero as u64);
        literals.extend_from_slice(&adds[i..i + nonzero]);
        i += nonzero;
    }
}

/// The source and destination cursors at the start of each planned block.
fn block_starts(src: &[u8], dst: &[u8], blocks: &[Block]) -> Vec<(i64, usize)> {
    let mut cursors = (0i64, 0usize);
    let mut starts = Vec::with_capacity(blocks.len());
    for block in blocks {
        starts.push(cursors);
        gather(src, dst, block, &mut cursors, None, None);
    }
    starts
}

/// One stream's compressed chunks (one per block) and its total compressed size.
type StreamChunks = (Vec<Vec<u8>>, u64);

/// A piece of the encoder's work, to run on a thread of its own.
type Job<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// The compression of one stream.
type StreamJob<'a> = Job<'a, io::Result<StreamChunks>>;

/// Compresses one stream: `part(i, buf)` appends block `i`'s bytes to the empty `buf`.
/// The frame is flushed at every block end and finished with the last block.
fn compress_stream(
    opts: &EncodeOptions,
    pledged: u64,
    nblocks: usize,
    mut part: impl FnMut(usize, &mut Vec<u8>) -> io::Result<()>,
) -> io::Result<StreamChunks> {
    let mut enc = StreamEncoder::new(opts, pledged)?;
    let mut buf = Vec::new();
    let mut chunks = Vec::with_capacity(nblocks);
    for i in 0..nblocks {
        buf.clear();
        part(i, &mut buf)?;
        if i + 1 == nblocks {
            let (bytes, total) = enc.last_chunk(&buf)?;
            chunks.push(bytes);
            return Ok((chunks, total));
        }
        chunks.push(enc.chunk(&buf)?);
    }
    Ok((chunks, 0))
}

/// Runs the jobs, each on a thread of its own when `threads > 1`, and returns their results
/// in job order. A panic in a job is propagated.
fn run_jobs<T: Send>(jobs: Vec<Job<'_, T>>, threads: usize) -> Vec<T> {
    if threads <= 1 {
        return jobs.into_iter().map(|job| job()).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// A block's add bytes in their final form for a zero-run body.
struct SplitAdds {
    order: u64,
    runs: Vec<u8>,
    literals: Vec<u8>,
}

/// The add bytes of one block, in the order [`choose_order`] picks, split into zero runs and
/// nonzero bytes.
fn split_block(
    src: &[u8],
    dst: &[u8],
    block: &Block,
    start: (i64, usize),
    opts: &EncodeOptions,
    add_buf: &mut Vec<u8>,
    keys: &mut Vec<u8>,
) -> io::Result<SplitAdds> {
    add_buf.clear();
    keys.clear();
    let mut cursors = start;
    gather(src, dst, block, &mut cursors, Some((add_buf, keys)), None);
    let (order, grouped) = choose_order(add_buf, keys, opts)?;
    let mut b = SplitAdds {
        order,
        runs: Vec::new(),
        literals: Vec::new(),
    };
    split_zero_runs(
        grouped.as_deref().unwrap_or(add_buf),
        &mut b.runs,
        &mut b.literals,
    );
    Ok(b)
}

/// Some blocks' [`SplitAdds`], each with its block number.
type NumberedSplits = Vec<(usize, SplitAdds)>;

/// [`split_block`] for every block, in block order, on up to `opts.encode_threads()`
/// threads (thread `t` takes blocks `t`, `t + threads`, ...: neighbouring blocks cost about
/// the same, so the threads finish together). The result does not depend on the thread count.
fn split_blocks(
    src: &[u8],
    dst: &[u8],
    blocks: &[Block],
    starts: &[(i64, usize)],
    opts: &EncodeOptions,
) -> io::Result<Vec<SplitAdds>> {
    let threads = opts.encode_threads().min(blocks.len()).max(1);
    let jobs: Vec<Job<'_, io::Result<NumberedSplits>>> = (0..threads)
        .map(|first| -> Job<'_, _> {
            Box::new(move || {
                let (mut add_buf, mut keys) = (Vec::new(), Vec::new());
                (first..blocks.len())
                    .step_by(threads)
                    .map(|i| {
                        split_block(
                            src,
                            dst,
                            &blocks[i],
                            starts[i],
                            opts,
                            &mut add_buf,
                            &mut keys,
                        )
                        .map(|b| (i, b))
                    })
                    .collect()
            })
        })
        .collect();
    let parts = run_jobs(jobs, threads);
    // Back into block order.
    let mut split = Vec::with_capacity(blocks.len());
    for part in parts {
        split.extend(part?);
    }
    split.sort_unstable_by_key(|&(i, _)| i);
    Ok(split.into_iter().map(|(_, b)| b).collect())
}

/// Writes a v1 patch for a validated, empty-merged script.
pub(crate) fn encode<W: Write>(
    src: &[u8],
    dst: &[u8],
    digests: &Digests,
    controls: &[Control],
    opts: &EncodeOptions,
    out: W,
) -> Result<EncodeSummary, PatchError> {
    let mut out = out;
    let header = V1Header {
        version: VERSION,
        flags: if opts.zero_runs { FLAG_ZERO_RUNS } else { 0 },
        compression: COMPRESSION_ZSTD,
        zstd_level: opts.zstd_level as i8,
        window_log: opts.window_log as u8,
        block_size: opts.block_size,
        src_size: src.len() as u64,
        src_md5: digests.src_md5,
        dst_size: dst.len() as u64,
        dst_md5: digests.dst_md5,
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
    let starts = block_starts(src, dst, &blocks);
    // A zero-run body needs the sizes of its runs and nonzero bytes before compressing
    // (zstd is told each stream's size, which sizes its tables and window), so a first pass
    // splits the add bytes of every block. What it keeps is small next to the images: the
    // nonzero add bytes and their run lengths. Blocks are independent, so the pass runs on
    // the encoder's threads, each taking every `threads`-th block.
    let split: Vec<SplitAdds> = if header.zero_runs() {
        split_blocks(src, dst, &blocks, &starts, opts).map_err(zerr)?
    } else {
        Vec::new()
    };
    let ctrl_total: u64 = blocks.iter().map(|b| b.ctrl.len() as u64).sum();
    // Each stream is compressed on its own, in parallel when allowed: a stream's chunks depend
    // only on its own bytes, so the patch is the same whatever the thread count.
    let nblocks = blocks.len();
    let mut orders = vec![ADD_ORDER_PLAIN; nblocks];
    let results = {
        let (blocks, starts, split) = (&blocks, &starts, &split);
        let extras = move |i: usize, buf: &mut Vec<u8>| -> io::Result<()> {
            let mut cursors = starts[i];
            gather(src, dst, &blocks[i], &mut cursors, None, Some(buf));
            Ok(())
        };
        let mut jobs: Vec<StreamJob<'_>> = Vec::with_capacity(4);
        jobs.push(Box::new(move || {
            compress_stream(opts, ctrl_total, nblocks, |i, buf| {
                buf.extend_from_slice(&blocks[i].ctrl);
                Ok(())
            })
        }));
        if header.zero_runs() {
            let runs_total = split.iter().map(|b| b.runs.len() as u64).sum();
            let literals_total = split.iter().map(|b| b.literals.len() as u64).sum();
            jobs.push(Box::new(move || {
                compress_stream(opts, runs_total, nblocks, |i, buf| {
                    buf.extend_from_slice(&split[i].runs);
                    Ok(())
                })
            }));
            jobs.push(Box::new(move || {
                compress_stream(opts, literals_total, nblocks, |i, buf| {
                    buf.extend_from_slice(&split[i].literals);
                    Ok(())
                })
            }));
        } else {
            let orders = &mut orders;
            let add_total = summary.add_bytes;
            jobs.push(Box::new(move || {
                let (mut add_buf, mut keys) = (Vec::new(), Vec::new());
                compress_stream(opts, add_total, nblocks, |i, buf| {
                    add_buf.clear();
                    keys.clear();
                    let mut cursors = starts[i];
                    gather(
                        src,
                        dst,
                        &blocks[i],
                        &mut cursors,
                        Some((&mut add_buf, &mut keys)),
                        None,
                    );
                    let (order, grouped) = choose_order(&add_buf, &keys, opts)?;
                    orders[i] = order;
                    buf.extend_from_slice(grouped.as_deref().unwrap_or(&add_buf));
                    Ok(())
                })
            }));
        }
        let extra_total = summary.extra_bytes;
        jobs.push(Box::new(move || {
            compress_stream(opts, extra_total, nblocks, extras)
        }));
        run_jobs(jobs, opts.encode_threads())
    };
    let mut streams = Vec::with_capacity(results.len());
    let mut stream_totals = Vec::with_capacity(results.len());
    for r in results {
        let (chunks, total) = r.map_err(zerr)?;
        streams.push(chunks);
        stream_totals.push(total);
    }
    if header.zero_runs() {
        for (o, b) in orders.iter_mut().zip(&split) {
            *o = b.order;
        }
    }
    let mut head = Vec::with_capacity(9 * varint::MAX_LEN);
    for (bi, block) in blocks.iter().enumerate() {
        let order = orders[bi];
        if order == ADD_ORDER_BY_CONTEXT {
            summary.grouped_blocks += 1;
        }
        head.clear();
        varint::put(&mut head, block.span);
        varint::put(&mut head, block.ctrl.len() as u64);
        varint::put(&mut head, block.add);
        varint::put(&mut head, order);
        if header.zero_runs() {
            varint::put(&mut head, split[bi].runs.len() as u64);
        }
        for s in &streams {
            varint::put(&mut head, s[bi].len() as u64);
        }
        out.write_all(&head).map_err(PatchError::write)?;
        size += head.len() as u64;
        for s in &streams {
            out.write_all(&s[bi]).map_err(PatchError::write)?;
            size += s[bi].len() as u64;
        }
    }
    out.flush().map_err(PatchError::write)?;
    // Reported as control, add (runs and nonzero bytes together), extra.
    summary.stream_sizes = match stream_totals[..] {
        [c, r, l, e] => [c, r + l, e],
        [c, a, e] => [c, a, e],
        _ => [0; 3],
    };
    summary.patch_size = size;
    Ok(summary)
}

/// One stream of the body: its name in errors and what a truncation of it is called.
struct Stream {
    name: &'static str,
    chunk: &'static str,
}

const CONTROL: Stream = Stream {
    name: "control",
    chunk: "control chunk",
};
const EXTRA: Stream = Stream {
    name: "extra",
    chunk: "extra chunk",
};
/// Streams of a body without [`FLAG_ZERO_RUNS`].
const STREAMS_PLAIN: [Stream; 3] = [
    CONTROL,
    Stream {
        name: "add",
        chunk: "add chunk",
    },
    EXTRA,
];
/// Streams of a body with [`FLAG_ZERO_RUNS`].
const STREAMS_ZERO_RUNS: [Stream; 4] = [
    CONTROL,
    Stream {
        name: "zero-run",
        chunk: "zero-run chunk",
    },
    Stream {
        name: "nonzero add",
        chunk: "nonzero add chunk",
    },
    EXTRA,
];

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
        stream: &Stream,
    ) -> Result<(), PatchError> {
        let start = rd.pos;
        let name = stream.name;
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
            rd.read_exact_or(&mut inbuf[..n], stream.chunk)?;
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

/// Reads the zero-run pairs of a block and returns the number of zero add bytes. The pairs
/// must be whole and cover exactly `add_len` bytes.
fn zero_run_total(
    runs: &[u8],
    add_len: u64,
    bad: &dyn Fn(String) -> PatchError,
) -> Result<u64, PatchError> {
    let (mut pos, mut zeros, mut covered) = (0usize, 0u64, 0u64);
    while pos < runs.len() {
        let mut pair = [0u64; 2];
        for v in &mut pair {
            let (value, n) = varint::get(&runs[pos..]).map_err(|e| match e {
                varint::VarintError::Truncated => bad("zero runs end inside a pair".into()),
                varint::VarintError::Invalid(why) => bad(format!("zero runs: {why}")),
            })?;
            *v = value;
            pos += n;
        }
        covered = covered
            .checked_add(pair[0])
            .and_then(|c| c.checked_add(pair[1]))
            .filter(|&c| c <= add_len)
            .ok_or_else(|| bad(format!("zero runs cover more than the {add_len} add bytes")))?;
        zeros += pair[0];
    }
    if covered != add_len {
        return Err(bad(format!(
            "zero runs cover {covered} of the {add_len} add bytes"
        )));
    }
    Ok(zeros)
}

/// Rebuilds the add bytes in place: the nonzero bytes were decoded into the tail of
/// `adds` (from offset `zeros`), and the pairs of `runs` (checked by [`zero_run_total`])
/// say where they go. Each write lands at or before the nonzero bytes still to be read.
fn expand_zero_runs(runs: &[u8], adds: &mut [u8], zeros: usize) {
    let (mut pos, mut out, mut lit) = (0usize, 0usize, zeros);
    while pos < runs.len() {
        let (z, n1) = varint::get(&runs[pos..]).unwrap_or((0, runs.len()));
        let (n, n2) = varint::get(&runs[pos + n1..]).unwrap_or((0, runs.len()));
        pos += n1 + n2;
        let (z, n) = (z as usize, n as usize);
        adds[out..out + z].fill(0);
        out += z;
        adds.copy_within(lit..lit + n, out);
        out += n;
        lit += n;
    }
}

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
    let actual_md5 = opts.known_src_md5.unwrap_or_else(|| md5_of(src));
    if actual_md5 != header.src_md5 {
        return Err(PatchError::SourceMismatch {
            expected_md5: header.src_md5,
            actual_md5,
        });
    }
    let mut sink = Sink::new(out, header.dst_size, "output size");
    let block_size = u64::from(header.block_size);
    let streams = header.streams();
    let zero_runs = header.zero_runs();
    let mut decoders = streams
        .iter()
        .map(|_| StreamDecoder::new(header.window_log))
        .collect::<Result<Vec<_>, _>>()?;
    let mut inbuf = vec![0u8; 32 * 1024];
    let mut tmp = vec![0u8; 32 * 1024];
    let mut ctrl = Vec::new();
    let mut runs = Vec::new();
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
        let runs_len = if zero_runs {
            rd.read_varint("block header")?
        } else {
            0
        };
        let mut zlens = [0u64; 4];
        for z in zlens.iter_mut().take(streams.len()) {
            *z = rd.read_varint("block header")?;
        }
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
        if runs_len > add_len + 2 {
            return Err(bad(format!(
                "{runs_len} zero-run bytes for {add_len} add bytes (at most {})",
                add_len + 2
            )));
        }
        // All sizes are now at most the validated block size (the runs two bytes more).
        ctrl.resize(ctrl_len as usize, 0);
        adds.resize(add_len as usize, 0);
        extras.resize((span - add_len) as usize, 0);
        decoders[0].chunk(rd, zlens[0], &mut ctrl, &mut inbuf, &streams[0])?;
        if zero_runs {
            runs.resize(runs_len as usize, 0);
            decoders[1].chunk(rd, zlens[1], &mut runs, &mut inbuf, &streams[1])?;
            let zeros = zero_run_total(&runs, add_len, &bad)?;
            let literals = &mut adds[zeros as usize..];
            decoders[2].chunk(rd, zlens[2], literals, &mut inbuf, &streams[2])?;
            expand_zero_runs(&runs, &mut adds, zeros as usize);
            decoders[3].chunk(rd, zlens[3], &mut extras, &mut inbuf, &streams[3])?;
        } else {
            decoders[1].chunk(rd, zlens[1], &mut adds, &mut inbuf, &streams[1])?;
            decoders[2].chunk(rd, zlens[2], &mut extras, &mut inbuf, &streams[2])?;
        }
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
                        streams[k].name
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
        let nfields = if header.zero_runs() { 9 } else { 7 };
        let mut fields = [0u64; 9];
        for f in fields.iter_mut().take(nfields) {
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
        // Chunk sizes: control, add (the zero-run and nonzero chunks together), extra.
        let (span, ctrl, add, order) = (fields[0], fields[1], fields[2], fields[3]);
        let (runs, zc, za, ze) = if header.zero_runs() {
            (
                fields[4],
                fields[5],
                fields[6].checked_add(fields[7]),
                fields[8],
            )
        } else {
            (0, fields[4], Some(fields[5]), fields[6])
        };
        if order == ADD_ORDER_BY_CONTEXT {
            info.grouped_blocks += 1;
        }
        if span == 0
            || span > block_size
            || span > header.dst_size - covered
            || ctrl > block_size
            || add > span
            || runs > add + 2
            || order > ADD_ORDER_BY_CONTEXT
        {
            return Err(PatchError::corrupt(
                at,
                format!("block {}: invalid header", info.blocks),
            ));
        }
        info.block_header_bytes += pos as u64 - at;
        let z = za
            .and_then(|za| za.checked_add(zc))
            .and_then(|v| v.checked_add(ze));
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
        let (z0, z1, z2) = (zc, za.unwrap_or(0), ze);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bad(what: String) -> PatchError {
        PatchError::corrupt(0, what)
    }

    /// Splits, checks and expands `adds` as the encoder and the applier do.
    fn split_and_expand(adds: &[u8]) -> Vec<u8> {
        let (mut runs, mut literals) = (Vec::new(), Vec::new());
        split_zero_runs(adds, &mut runs, &mut literals);
        assert!(runs.len() <= adds.len() + 2, "{} run bytes", runs.len());
        assert!(literals.iter().all(|&b| b != 0));
        let zeros = zero_run_total(&runs, adds.len() as u64, &bad).unwrap() as usize;
        assert_eq!(zeros + literals.len(), adds.len());
        // The applier decodes the nonzero bytes into the tail, over stale bytes.
        let mut out = vec![0xAA; adds.len()];
        out[zeros..].copy_from_slice(&literals);
        expand_zero_runs(&runs, &mut out, zeros);
        out
    }

    #[test]
    fn zero_runs_round_trip_edge_cases() {
        let long_zeros = vec![0u8; 1000];
        let mut mixed = vec![0u8; 300];
        mixed.extend([1, 2, 3]);
        mixed.extend([0; 200]);
        mixed.push(9);
        let cases: [&[u8]; 8] = [
            &[],
            &[0],
            &[7],
            &[0, 0, 5, 0],
            &[5, 0, 0, 6, 7],
            &[1, 0, 1, 0, 1, 0, 1],
            &long_zeros,
            &mixed,
        ];
        for adds in cases {
            assert_eq!(split_and_expand(adds), adds);
        }
    }

    #[test]
    fn zero_runs_that_do_not_cover_the_adds_are_refused() {
        let mut runs = Vec::new();
        varint::put(&mut runs, 3);
        varint::put(&mut runs, 2);
        assert_eq!(zero_run_total(&runs, 5, &bad).unwrap(), 3);
        for add_len in [4, 6, 0] {
            let e = zero_run_total(&runs, add_len, &bad).unwrap_err();
            assert!(matches!(e, PatchError::Corrupt { .. }), "{e:?}");
        }
        // A pair cut in half, and a varint cut in half.
        let e = zero_run_total(&runs[..1], 3, &bad).unwrap_err();
        assert!(e.to_string().contains("inside a pair"), "{e}");
        let e = zero_run_total(&[0x80], 0, &bad).unwrap_err();
        assert!(matches!(e, PatchError::Corrupt { .. }), "{e:?}");
        // Sums that overflow u64 are refused, not wrapped.
        let mut huge = Vec::new();
        varint::put(&mut huge, u64::MAX);
        varint::put(&mut huge, u64::MAX);
        varint::put(&mut huge, 2);
        varint::put(&mut huge, 0);
        let e = zero_run_total(&huge, 1, &bad).unwrap_err();
        assert!(matches!(e, PatchError::Corrupt { .. }), "{e:?}");
    }

    #[test]
    fn header_accepts_the_zero_run_flag_only() {
        let mut h = V1Header {
            version: VERSION,
            flags: FLAG_ZERO_RUNS,
            compression: COMPRESSION_ZSTD,
            zstd_level: 19,
            window_log: 23,
            block_size: 1 << 20,
            src_size: 0,
            src_md5: [0; 16],
            dst_size: 0,
            dst_md5: [0; 16],
        };
        let parsed = V1Header::parse(&h.to_bytes()).unwrap();
        assert!(parsed.zero_runs());
        assert_eq!(parsed.streams().len(), 4);
        h.flags = 0;
        assert_eq!(V1Header::parse(&h.to_bytes()).unwrap().streams().len(), 3);
        for flags in [2, 3, 0x8000] {
            h.flags = flags;
            let e = V1Header::parse(&h.to_bytes()).unwrap_err();
            assert!(matches!(e, PatchError::Unsupported { .. }), "{e:?}");
        }
    }

    proptest! {
        #[test]
        fn zero_runs_round_trip(adds in proptest::collection::vec(
            prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..3000)) {
            prop_assert_eq!(split_and_expand(&adds), adds);
        }
    }
}
